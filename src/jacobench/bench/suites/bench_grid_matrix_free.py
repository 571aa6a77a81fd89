"""The matrix-free engine on the grid: jacobian() of an mlp chain with every strategy.

Per row: plan, guard the memory budget and the time limit, check the Jacobian against
jax.jacfwd of the same chain in float64, read XLA's memory and flop figures, then time the
compiled, blocking call (compile time is recorded, never timed).

A config with ``batch > 1`` computes the per-example Jacobians of that many points in one call:
``jax.vmap`` of ``jacobian`` (JAX's own ``jacfwd`` / ``jacrev`` rows are vmapped alike), and its
``model_*`` columns count the work of the whole batch. The weights are arguments of the compiled
program, not constants baked into it (smaller programs, faster compiles, and a persistent cache
that works), and rows whose programs are the same (``optimal`` that is ``forward``, say) compile
it once and time it once (the twin row is checked, then takes the first row's timing). Beside an
accelerator, a chain's programs are compiled ahead, all at once on the host's cores, before its
first row (``--compile-threads``; each row still records its own program's ``compile_s``).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.bench import measure

from .conftest import (
    DTYPE,
    SEED,
    check_then_time,
    compile_ahead,
    compile_once,
    compile_threads,
    xla_figures,
)

STRATEGIES = (*jb.matrix_free.STRATEGIES, "optimal_time")
"""Every registered strategy, and ``optimal_time``: the plan with the least predicted seconds on
this device (the profile's)."""
BATCHED = True  # this suite runs the grid's batched configs


def _points(d0: int, batch: int, dtype: str) -> jax.Array:
    rng = np.random.default_rng(SEED + 1)
    shape = (d0,) if batch == 1 else (batch, d0)
    return jnp.asarray(rng.standard_normal(shape), dtype=dtype)


@lru_cache(maxsize=2)
def _params(widths: tuple[int, ...], dtype: str) -> tuple[tuple[jax.Array, jax.Array], ...]:
    net = jb.mlp(widths, activation="tanh", seed=SEED, dtype=dtype)
    return tuple((layer.weight, layer.bias) for layer in net.layers)


def _jacobian_fn(widths, batch, strategy):
    """``(params, x) -> J``: the chain rebuilt from its weights, then one plan (vmapped)."""

    def one(params, x):
        chain = jb.Chain([jb.Dense(w, b, "tanh") for w, b in params], widths)
        return jb.jacobian(chain, x, strategy)

    if batch == 1:
        return one
    return lambda params, xs: jax.vmap(one, in_axes=(None, 0))(params, xs)


def _ahead_jobs(config) -> dict:
    """Every strategy's program of ``config`` but ``optimal_time``'s, by :func:`compile_once` key,
    as functions that lower them (for :func:`compile_ahead`)."""
    widths, batch = config.widths, config.batch
    params, xs = _params(widths, DTYPE), _points(widths[0], batch, DTYPE)
    jobs = {}
    for strategy in jb.matrix_free.STRATEGIES:
        plan = jb.plan_matrix_free(widths, strategy)
        program = strategy if strategy in jb.matrix_free.JAX_BASELINES else plan.tree
        fn = _jacobian_fn(widths, batch, plan)
        jobs.setdefault((config.id, program), lambda fn=fn: jax.jit(fn).lower(params, xs))
    return jobs


@lru_cache(maxsize=2)
def _reference(widths: tuple[int, ...], batch: int) -> jax.Array:
    """The float64 Jacobians, left on JAX's device (the rows are compared there)."""
    params, xs = _params(widths, "float64"), _points(widths[0], batch, "float64")
    with jax.default_matmul_precision("highest"):
        return jax.jit(_jacobian_fn(widths, batch, "jacfwd"))(params, xs)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_matrix_free(
    benchmark, config, strategy, row, guard, watch, pytestconfig, model_seconds, fastest_plan
):  # fmt: skip
    widths, batch = config.widths, config.batch
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
        "model_macs": batch * plan.macs,
        "model_forward_macs": batch * plan.forward_macs,
        "model_reverse_macs": batch * plan.reverse_macs,
        "model_seconds": model_seconds(plan, "jax", batch),  # a batch: vmap over its points
        # Every point's working set at once, plus the points (the weights are not counted).
        "mem_model_bytes": batch * (plan.memory_bytes(DTYPE) + widths[0] * itemsize),
    }
    guard(info, info["mem_model_bytes"])
    threads = compile_threads(pytestconfig)
    if threads > 1:  # beside an accelerator: all of this chain's programs at once
        compile_ahead(config.id, _ahead_jobs(config), threads)

    with watch(info):
        device = jax.devices()[0]
        params = jax.device_put(_params(widths, DTYPE), device)
        xs = jax.device_put(_points(widths[0], batch, DTYPE), device)
        fn = _jacobian_fn(widths, batch, plan)
        program = strategy if strategy in jb.matrix_free.JAX_BASELINES else plan.tree
        made = compile_once(
            (config.id, program), strategy, lambda: measure.compile_jax(fn, params, xs)
        )
        compiled = made["compiled"]
        info.update(compile_s=made["compile_s"], same_program_as=made["same_program_as"])
        call = lambda: jax.block_until_ready(compiled(params, xs))  # noqa: E731
        info.update(xla_figures(compiled, call, device))
        # The reference is jax.jacfwd of the same chain in float64 (vmapped for a batch).
        what = f"{strategy} on {widths} (batch {batch})"
        ref = _reference(widths, batch)
        check_then_time(benchmark, info, call, ref, what, made["program"], pytestconfig)
