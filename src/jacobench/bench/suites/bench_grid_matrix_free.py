"""The matrix-free engine on the grid: jacobian() of an mlp chain with every strategy.

Per row: plan, guard the memory budget, check the Jacobian against jax.jacfwd of the same chain in
float64, read XLA's memory and flop figures, then time the compiled, blocking call (compile time is
recorded, never timed).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.bench import measure

from .conftest import DTYPE, SEED, check_then_time, xla_figures

STRATEGIES = (*jb.matrix_free.STRATEGIES, "optimal_time")
"""Every registered strategy, and ``optimal_time``: the plan with the least predicted seconds on
this device (the profile's)."""


def _point(d0: int, dtype: str) -> jax.Array:
    return jnp.asarray(np.random.default_rng(SEED + 1).standard_normal(d0), dtype=dtype)


@lru_cache(maxsize=2)
def _chain(widths: tuple[int, ...], dtype: str) -> jb.Chain:
    return jb.mlp(widths, activation="tanh", seed=SEED, dtype=dtype)


@lru_cache(maxsize=2)
def _reference(widths: tuple[int, ...]) -> np.ndarray:
    chain = _chain(widths, "float64")
    return np.asarray(jax.jit(jax.jacfwd(chain))(_point(widths[0], "float64")))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_matrix_free(benchmark, config, strategy, row, guard, model_seconds, fastest_plan):
    widths = config.widths
    info = {
        **row,
        "engine": "matrix_free",
        "backend": "jax",
        "device": measure.device_description("jax"),
        "strategy": strategy,
    }
    if strategy == "optimal_time":
        plan = fastest_plan(
            info,
            lambda prof: jb.plan_matrix_free(widths, objective="time", profile=prof, dtype=DTYPE),
        )
    else:
        plan = jb.plan_matrix_free(widths, strategy)
    itemsize = np.dtype(DTYPE).itemsize
    info = {
        **info,
        "plan_formula": plan.formula,
        "model_macs": plan.macs,
        "model_forward_macs": plan.forward_macs,
        "model_reverse_macs": plan.reverse_macs,
        "model_seconds": model_seconds(plan, "jax"),
        # The plan's peak plus the point x (the weights are constants of the compiled function).
        "mem_model_bytes": plan.memory_bytes(DTYPE) + widths[0] * itemsize,
    }
    guard(info, info["mem_model_bytes"])

    chain = _chain(widths, DTYPE)
    device = jax.devices()[0]
    x = jax.device_put(_point(widths[0], DTYPE), device)
    compiled, info["compile_s"] = measure.compile_jax(lambda v: jb.jacobian(chain, v, plan), x)
    call = lambda: jax.block_until_ready(compiled(x))  # noqa: E731
    info.update(xla_figures(compiled, call, device))
    # The reference is jax.jacfwd of the same chain in float64.
    check_then_time(benchmark, info, call, _reference(widths), f"{strategy} on {widths}")
