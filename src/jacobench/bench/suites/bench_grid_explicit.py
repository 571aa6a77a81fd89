"""The explicit engine on the grid: multiply() with several bracketings, numpy and JAX.

Per row: plan, guard the memory budget and the time limit, check the product against the float64
reference, measure memory in a pass of its own, then time a blocking call (JAX: compiled
beforehand, not timed; a bracketing that another strategy of the row's chain and backend already
ran, ``optimal`` that is ``forward`` say, reuses that program and its timing, numpy rows too).
numpy rows above ``--numpy-max-macs`` are skipped and recorded (beside an accelerator, its host
CPU would take seconds a row).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import numpy as np
import pytest

import jacobench as jb
from jacobench.bench import measure

from .conftest import (
    DTYPE,
    SEED,
    check_then_time,
    compile_once,
    numpy_max_macs,
    record_row,
    xla_figures,
)

STRATEGIES = ("forward", "reverse", "optimal", "balanced", "optimal_time")
"""``optimal_time``: the plan with the least predicted seconds on this device (the profile's)."""
BACKENDS = ("numpy", "jax")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_explicit(
    benchmark, config, strategy, backend, row, guard, watch, pytestconfig,
    model_seconds, fastest_plan,
):  # fmt: skip
    widths = config.widths
    info = {
        **row,
        "engine": "explicit",
        "backend": backend,
        "device": measure.device_description(backend),
        "strategy": strategy,
    }
    if strategy == "optimal_time":
        plan = fastest_plan(
            info,
            lambda prof: jb.plan(
                widths, objective="time", profile=prof, backend=backend, dtype=DTYPE
            ),
        )
    else:
        plan = jb.plan(widths, strategy)
    itemsize = np.dtype(DTYPE).itemsize
    input_bytes = sum(widths[k] * widths[k + 1] for k in range(len(widths) - 1)) * itemsize
    info = {
        **info,
        "plan_formula": plan.formula,
        "model_macs": plan.macs,
        "model_forward_macs": plan.forward_macs,
        "model_reverse_macs": plan.reverse_macs,
        "model_seconds": model_seconds(plan, backend),
        # What the process holds: the products the model counts plus the input Jacobians.
        "mem_model_bytes": plan.memory_bytes(DTYPE) + input_bytes,
    }
    guard(info, info["mem_model_bytes"])
    limit = numpy_max_macs(pytestconfig)
    if backend == "numpy" and plan.macs > limit:
        reason = f"numpy row of {plan.macs:,} MACs skipped (--numpy-max-macs {limit:g})"
        record_row(pytestconfig, info, "skipped", reason)
        pytest.skip(reason)
    with watch(info):
        _measure(benchmark, info, widths, plan, backend, config, pytestconfig)


@lru_cache(maxsize=1)
def _on_device(widths: tuple[int, ...]) -> list[jax.Array]:
    """The chain's Jacobians on JAX's device, once for all its rows (their programs are kept for
    optimal_time's contest, with their arguments)."""
    device = jax.devices()[0]
    return [jax.device_put(m, device) for m in measure.random_jacobians(widths, DTYPE, SEED)]


def _measure(benchmark, info, widths, plan, backend, config, pytestconfig):
    mats = measure.random_jacobians(widths, DTYPE, SEED)
    ref = measure.reference_product(widths, SEED)
    if backend == "numpy":
        call = lambda: jb.multiply(mats, plan)  # noqa: E731
        # Nothing to compile; a bracketing another strategy of the chain already timed (optimal
        # that is reverse, say) is checked, then takes that row's timing, as JAX twins do.
        made = compile_once((config.id, "numpy", plan.tree), info["strategy"], lambda: (None, 0))
        program = made["program"]
        info["same_program_as"] = made["same_program_as"]
        info["compile_s"] = float("nan")
        info["xla_flops"] = float("nan")
        # Memory pass: the inputs are copied inside the traced region so they count, as in XLA's
        # argument bytes.
        info["mem_measured_bytes"] = measure.tracemalloc_peak(
            lambda: jb.multiply([m.copy() for m in mats], plan)
        )
        info["mem_source"] = "tracemalloc"
    else:
        device = jax.devices()[0]
        args = _on_device(widths)
        made = compile_once(
            (config.id, "jax", plan.tree),
            info["strategy"],
            lambda: measure.compile_jax(lambda ms: jb.multiply(ms, plan), args),
        )
        compiled, program = made["compiled"], made["program"]
        info.update(compile_s=made["compile_s"], same_program_as=made["same_program_as"])
        call = lambda: jax.block_until_ready(compiled(args))  # noqa: E731
        info.update(xla_figures(compiled, call, device))
    what = f"{info['strategy']}/{backend} on {widths}"
    check_then_time(benchmark, info, call, ref, what, program, pytestconfig)
