"""The second-order engine on the grid: hvp() and hessian() of scalar mlp chains (d_L = 1).

Per row: plan, guard the memory budget and the grid's multiply-add cap, check the result against
JAX in float64 (``jax.jvp(jax.grad(f))`` for an HVP, ``jax.hessian(f)`` for a Hessian, of the same
chain in float64), read XLA's memory and flop figures, then time the compiled, blocking call
(compile time is recorded, never timed). The chains come from
:data:`jacobench.bench.grid.HESSIAN_GRIDS`, by the run's grid name.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.bench import grid, measure

from .conftest import DTYPE, SEED, check_then_time, xla_figures

CASES = [
    *(("hvp", mode) for mode in jb.second_order.HVP_STRATEGIES),
    *(("hessian", name) for name in jb.second_order.STRATEGIES),
]


def pytest_generate_tests(metafunc):
    if "scalar_config" in metafunc.fixturenames:
        chosen = grid.hessian_configs(metafunc.config.getoption("--grid"))
        metafunc.parametrize("scalar_config", chosen, ids=[c.id for c in chosen])


def _point(d0: int, dtype: str, seed: int) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(d0), dtype=dtype)


@lru_cache(maxsize=2)
def _chain(widths: tuple[int, ...], dtype: str) -> jb.Chain:
    return jb.mlp(widths, activation="tanh", seed=SEED, dtype=dtype, final_activation="identity")


@lru_cache(maxsize=4)
def _reference(widths: tuple[int, ...], kind: str) -> np.ndarray:
    chain = _chain(widths, "float64")
    x, v = _point(widths[0], "float64", SEED + 1), _point(widths[0], "float64", SEED + 2)
    f = lambda y: chain(y)[0]  # noqa: E731
    if kind == "hvp":
        return np.asarray(jax.jit(lambda a, b: jax.jvp(jax.grad(f), (a,), (b,))[1])(x, v))
    return np.asarray(jax.jit(jax.hessian(f))(x))


@pytest.mark.parametrize(("kind", "strategy"), CASES, ids=[f"{k}:{s}" for k, s in CASES])
def test_hessian(benchmark, scalar_config, kind, strategy, pytestconfig, guard):
    widths = scalar_config.widths
    itemsize = np.dtype(DTYPE).itemsize
    d0 = widths[0]
    plan = jb.plan_hvp(widths, strategy) if kind == "hvp" else jb.plan_hessian(widths, strategy)
    info = {
        "matmul_precision": pytestconfig.getoption("--matmul-precision"),
        "sweep": scalar_config.sweep,
        "profile": scalar_config.profile,
        "scale": scalar_config.scale,
        "widths": "-".join(map(str, widths)),
        "depth": len(widths) - 1,
        "d_0": d0,
        "d_L": widths[-1],
        "dtype": DTYPE,
        "engine": "hessian",
        "backend": "jax",
        "device": measure.device_description("jax"),
        "strategy": f"hvp:{strategy}" if kind == "hvp" else strategy,
        "kind": kind,
        "plan_formula": plan.formula,
        "model_macs": plan.macs,
        "model_forward_macs": None,
        "model_reverse_macs": None,
        "model_gradient_macs": jb.plan_hvp(widths).gradient_macs,
        "model_jax_hessian_macs": jb.plan_hessian(widths, "jax.hessian").macs,
        # One copy of every activation, x_0 .. x_L: what a gradient keeps for its backward pass.
        "mem_activations_bytes": sum(widths) * itemsize,
        # The plan's peak plus the inputs (x; and v for an HVP); the weights are constants.
        "mem_model_bytes": plan.memory_bytes(DTYPE) + (2 if kind == "hvp" else 1) * d0 * itemsize,
    }
    max_macs = grid.HESSIAN_MAX_MACS.get(pytestconfig.getoption("--grid"))
    guard(info, info["mem_model_bytes"], max_macs=max_macs)

    chain = _chain(widths, DTYPE)
    device = jax.devices()[0]
    x = jax.device_put(_point(d0, DTYPE, SEED + 1), device)
    if kind == "hvp":
        v = jax.device_put(_point(d0, DTYPE, SEED + 2), device)
        compiled, info["compile_s"] = measure.compile_jax(
            lambda a, b: jb.hvp(chain, a, b, strategy), x, v
        )
        call = lambda: jax.block_until_ready(compiled(x, v))  # noqa: E731
    else:
        compiled, info["compile_s"] = measure.compile_jax(lambda a: jb.hessian(chain, a, plan), x)
        call = lambda: jax.block_until_ready(compiled(x))  # noqa: E731
    info.update(xla_figures(compiled, call, device))
    what = f"{kind} {strategy} on {widths}"
    # Half the other suites' timing per row: the default grid's second-order rows stay well under
    # a minute on two CPU cores (at least 10 rounds each all the same).
    check_then_time(benchmark, info, call, _reference(widths, kind), what, target_s=0.2)
