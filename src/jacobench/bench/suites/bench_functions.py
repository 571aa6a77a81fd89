"""The ``auto`` engine: jacobench.jacobian on plain functions, beside jax.jacfwd and jax.jacrev.

The models (:mod:`jacobench.bench.models`: autoencoders in jax.numpy and in equinox, a residual
MLP with a narrow projection, a function with no cut point) are ordinary functions of one
vector; ``auto`` discovers each one's chain, plans it with per-segment costs and runs the plan,
``jacfwd`` and ``jacrev`` are JAX's own. Per row: discover and plan (timed once, recorded as
``discovery_s``), guard the memory budget, check the Jacobian against ``jax.jacfwd`` of the
float64 model, read XLA's figures, then time the compiled, blocking call (compile time is
recorded, never timed); the weights are arguments of the compiled call, so each compile traces
and discovers the model once, as a jitted training step would. The sizes follow ``--grid``
(:data:`jacobench.bench.models.SIZES`).
"""

from __future__ import annotations

import time
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.bench import measure, models

from .conftest import DTYPE, SEED, check_then_time, xla_figures

STRATEGIES = ("auto", "jacfwd", "jacrev")
"""``auto``: jacobench.jacobian(f, x) (the optimal plan); the others: JAX's own."""

_PLAN_STRATEGY = {"auto": "optimal", "jacfwd": "forward", "jacrev": "reverse"}


def pytest_generate_tests(metafunc):
    if "model" in metafunc.fixturenames:
        grid = metafunc.config.getoption("--grid")
        sizes = models.SIZES.get(grid, models.SIZES["default"])
        chosen = [(name, sizes[name]) for name in models.MODELS]
        metafunc.parametrize("model", chosen, ids=list(models.MODELS))


def _point(n: int, dtype: str) -> jax.Array:
    return jnp.asarray(np.random.default_rng(SEED + 1).uniform(-1.0, 1.0, n), dtype=dtype)


@lru_cache(maxsize=2)
def _model(name: str, size: tuple[int, ...], dtype: str):
    return models.build(name, size, dtype, seed=SEED)


@lru_cache(maxsize=2)
def _reference(name: str, size: tuple[int, ...]) -> np.ndarray:
    apply, params = _model(name, size, "float64")
    x = _point(models.input_width(name, size), "float64")
    return np.asarray(jax.jit(lambda p, v: jax.jacfwd(lambda u: apply(p, u))(v))(params, x))


def _run(apply, strategy: str):
    """``(params, x) -> J``: the weights are arguments of the compiled call, as in a train step."""
    if strategy == "jacfwd":
        return lambda p, v: jax.jacfwd(lambda u: apply(p, u))(v)
    if strategy == "jacrev":
        return lambda p, v: jax.jacrev(lambda u: apply(p, u))(v)
    return lambda p, v: jb.jacobian(lambda u: apply(p, u), v)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_auto(benchmark, model, strategy, pytestconfig, guard, watch):
    name, size = model
    apply, params = _model(name, size, DTYPE)
    n = models.input_width(name, size)
    device = jax.devices()[0]
    x, params = jax.device_put(_point(n, DTYPE), device), jax.device_put(params, device)
    start = time.perf_counter()
    chain = jb.chain_of(lambda v: apply(params, v), x)  # a new function: not cached
    plan = chain.plan(_PLAN_STRATEGY[strategy])
    discovery_s = time.perf_counter() - start
    w = chain.widths
    info = {
        "matmul_precision": pytestconfig.getoption("--matmul-precision"),
        "sweep": "models",
        "profile": name,
        "scale": "-".join(map(str, size)),
        "widths": "-".join(map(str, w)),
        "depth": len(w) - 1,
        "d_0": w[0],
        "d_L": w[-1],
        "dtype": DTYPE,
        "engine": "auto",
        "backend": "jax",
        "device": measure.device_description("jax"),
        "strategy": strategy,
        "library": models.LIBRARY[name],
        "plan_formula": plan.formula,
        "model_macs": plan.macs,
        "model_forward_macs": plan.forward_macs,
        "model_reverse_macs": plan.reverse_macs,
        "predicted_speedup": min(plan.forward_macs, plan.reverse_macs) / plan.macs,
        "discovery_s": discovery_s,
        # The plan's peak over the cut values plus x (inside a segment nothing is counted).
        "mem_model_bytes": plan.memory_bytes(DTYPE) + n * np.dtype(DTYPE).itemsize,
    }
    guard(info, info["mem_model_bytes"])
    with watch(info):  # out of memory or stopped: recorded as skipped, and the run goes on
        compiled, info["compile_s"] = measure.compile_jax(_run(apply, strategy), params, x)
        call = lambda: jax.block_until_ready(compiled(params, x))  # noqa: E731
        info.update(xla_figures(compiled, call, device))
        check_then_time(benchmark, info, call, _reference(name, size), f"{strategy} on {name}")
