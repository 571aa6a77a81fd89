"""Shared set-up of the benchmark suites: the grid, the memory guard, the skipped-row record.

Options (``make bench`` passes them through ``jacobench bench``):
  --grid NAME            which grid of jacobench.bench.grid to run (default: "default")
  --memory-budget BYTES  skip configurations whose predicted memory exceeds this
                         (default: half the available memory)
  --skipped-json PATH    where to write the rows skipped by the memory guard
  --matmul-precision P   JAX's default matmul precision (default: "highest", true float32; on
                         GPUs JAX's own default multiplies float32 in TF32, which fails the
                         float32 accuracy check; pass "default" to time that)
  --profile PATH         the device profile (jacobench calibrate) for each row's model_seconds
                         and the optimal_time strategy; without it, or if it describes another
                         device, version or precision, model_seconds is NaN and optimal_time
                         rows are skipped (and recorded)
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from jacobench.bench import grid, harness, measure
from jacobench.timing import load, predict_seconds, stale_reason
from jacobench.units import format_bytes, parse_bytes

# Float64 references need x64; every timed array is given an explicit dtype.
jax.config.update("jax_enable_x64", True)

DTYPE = "float32"
SEED = 0


def pytest_addoption(parser):
    group = parser.getgroup("jacobench")
    group.addoption("--grid", default="default", help="benchmark grid (jacobench.bench.grid.GRIDS)")
    group.addoption("--memory-budget", default=None, help="bytes, e.g. 2GiB; default half of RAM")
    group.addoption("--skipped-json", default=None, help="write skipped rows here")
    group.addoption(
        "--matmul-precision",
        default="highest",
        choices=["default", "high", "highest"],
        help="jax_default_matmul_precision for the timed calls",
    )
    group.addoption("--profile", default=None, help="device profile JSON (jacobench calibrate)")


def pytest_configure(config):
    harness.die_with_harness()  # started by the harness: die with it, even if it is SIGKILLed
    config._jacobench_skipped = []
    precision = config.getoption("--matmul-precision")
    jax.config.update("jax_default_matmul_precision", None if precision == "default" else precision)


def pytest_generate_tests(metafunc):
    if "config" in metafunc.fixturenames:
        chosen = grid.configs(metafunc.config.getoption("--grid"))
        metafunc.parametrize("config", chosen, ids=[c.id for c in chosen])


def pytest_sessionfinish(session):
    path = session.config.getoption("--skipped-json")
    if path:
        Path(path).write_text(json.dumps(session.config._jacobench_skipped, indent=1))


@pytest.fixture(scope="session")
def memory_budget(pytestconfig):
    given = pytestconfig.getoption("--memory-budget")
    return measure.default_memory_budget() if given is None else parse_bytes(given)


@pytest.fixture
def row(config, pytestconfig):
    """The descriptive half of a result row; the suite adds its measurements."""
    w = config.widths
    return {
        "matmul_precision": pytestconfig.getoption("--matmul-precision"),
        "sweep": config.sweep,
        "profile": config.profile,
        "scale": config.scale,
        "widths": "-".join(map(str, w)),
        "depth": len(w) - 1,
        "d_0": w[0],
        "d_L": w[-1],
        "dtype": DTYPE,
    }


@pytest.fixture(scope="session")
def device_profile(pytestconfig):
    """The device profile of ``--profile`` if it describes this machine now; else None."""
    path = pytestconfig.getoption("--profile")
    if path is None:
        return None
    profile = load(path)
    why = stale_reason(profile, backends=("numpy", "jax"), dtypes=(DTYPE,))
    if why is not None:
        warnings.warn(f"not using the device profile {path}: {why}", stacklevel=1)
        return None
    return profile


@pytest.fixture
def model_seconds(device_profile):
    """``model_seconds(plan, backend)``: the plan's predicted seconds (NaN without a profile)."""

    def predict(plan, backend: str) -> float:
        if device_profile is None:
            return math.nan
        return predict_seconds(plan, device_profile, backend, DTYPE)

    return predict


@pytest.fixture
def fastest_plan(device_profile, pytestconfig):
    """``fastest_plan(info, make)``: ``make(profile)``, the time-optimal plan; without a
    profile, the row is skipped (and recorded)."""

    def plan_it(info: dict, make):
        if device_profile is None:
            reason = "no device profile for this machine (pass --profile; see jacobench calibrate)"
            pytestconfig._jacobench_skipped.append(
                {**info, "status": "skipped", "skip_reason": reason}
            )
            pytest.skip(reason)
        return make(device_profile)

    return plan_it


@pytest.fixture
def guard(pytestconfig, memory_budget):
    """Skip (and record) a row whose predicted memory exceeds the budget, before allocating.

    With ``max_macs``, a row whose ``info["model_macs"]`` exceeds it is skipped the same way (the
    second-order suite caps ``fwd-over-fwd``, quadratic in ``d_0``, per grid).
    """

    def check(info: dict, predicted_bytes: int, max_macs: int | None = None) -> None:
        reason = None
        if predicted_bytes > memory_budget:
            reason = (
                f"predicted memory {format_bytes(predicted_bytes)} exceeds the budget "
                f"{format_bytes(memory_budget)}"
            )
        elif max_macs is not None and info["model_macs"] > max_macs:
            reason = (
                f"model multiply-adds {info['model_macs']:,} exceed the grid's cap {max_macs:,}"
            )
        if reason is not None:
            pytestconfig._jacobench_skipped.append(
                {**info, "status": "skipped", "skip_reason": reason}
            )
            pytest.skip(reason)

    return check


def xla_figures(compiled, call, device) -> dict:
    """What XLA says of a compiled call: flops, memory analysis, and the device's peak delta."""
    return {
        "xla_flops": measure.xla_flops(compiled),
        "mem_measured_bytes": measure.xla_memory_bytes(compiled),
        "mem_source": "xla_memory_analysis",
        "mem_device_peak_bytes": measure.device_peak_bytes(call, device),
    }


def check_then_time(
    benchmark, info: dict, call, ref: np.ndarray, what: str, target_s: float = 0.4
) -> None:
    """Compare ``call()`` with the float64 reference, then time it (rounds calibrated).

    ``target_s`` is about how long all timed rounds of the row take together (at least 10).
    """
    out = np.asarray(call(), dtype=np.float64)
    error = float(np.max(np.abs(out - ref)))
    info["max_abs_error"] = error
    scale = max(1.0, float(np.max(np.abs(ref)))) * max(1, info["depth"])
    tolerance = (1e-4 if DTYPE == "float32" else 1e-10) * scale
    assert error <= tolerance, f"{what}: max abs error {error:.3g} vs the float64 reference"
    start = time.perf_counter()
    call()
    rounds, iterations = measure.choose_rounds(time.perf_counter() - start, target_s)
    benchmark.extra_info.update(info)
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
