"""How long planning takes: each engine's optimal dynamic program on long chains, never cached,
and discovering plus planning the chain inside a plain 100-layer function.

Run with ``make bench-planning``. Both planners cache by widths, so each round plans a chain it
has not seen (same length, new random widths in 1..4095). The targets of issue 10: explicit
L = 1,000 under 1 s; matrix-free L = 200 under 0.2 s and L = 1,000 under 10 s.
"""

import itertools
import warnings

import numpy as np
import pytest

import jacobench as jb
from jacobench.errors import SlowPlanningWarning

ROUNDS = {20: 10, 50: 10, 100: 10, 200: 5, 1000: 2}


def random_widths(rng: np.random.Generator, n_layers: int) -> tuple[int, ...]:
    return tuple(int(w) for w in rng.integers(1, 4096, size=n_layers + 1))


def time_new_chains(benchmark, planner, n_layers):
    """Benchmark ``planner`` on a new chain of ``n_layers`` each round; the last chain and tree."""
    rng = np.random.default_rng(n_layers)
    planned = []

    def new_chain():
        planned.append(random_widths(rng, n_layers))
        return (planned[-1],), {}

    benchmark.extra_info.update(n_layers=n_layers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPlanningWarning)  # the point here is the time
        tree = benchmark.pedantic(planner, setup=new_chain, rounds=ROUNDS[n_layers])
    assert len(set(planned)) == len(planned)  # every round was a cache miss
    return planned[-1], tree


@pytest.mark.parametrize("n_layers", [50, 100, 200, 1000])
def test_optimal_planning_time(benchmark, n_layers):
    widths, tree = time_new_chains(benchmark, jb.explicit.optimal, n_layers)
    assert jb.explicit.cost(widths, tree) <= min(jb.forward_macs(widths), jb.reverse_macs(widths))


@pytest.mark.parametrize("n_layers", [20, 50, 200, 1000])
def test_matrix_free_planning_time(benchmark, n_layers):
    widths, tree = time_new_chains(benchmark, jb.matrix_free.optimal, n_layers)
    best_mode = min(jb.matrix_free.forward_macs(widths), jb.matrix_free.reverse_macs(widths))
    assert jb.matrix_free.cost(widths, tree) <= best_mode


def _hundred_layer_functions(n_layers: int, seed: int):
    """``new()`` makes a new plain tanh network of ``n_layers`` random widths per call.

    New widths also mean new shapes for JAX, whose own tracing caches then miss as well.
    """
    import jax.numpy as jnp

    rng = np.random.default_rng((n_layers, seed))

    def new():
        widths = (64, *(int(w) for w in rng.integers(8, 256, size=n_layers - 1)), 64)
        weights = [
            (jnp.asarray(rng.standard_normal((b, a)), jnp.float32), jnp.zeros(b, jnp.float32))
            for a, b in itertools.pairwise(widths)
        ]

        def f(x):
            for w, b in weights:
                x = jnp.tanh(w @ x + b)
            return x

        return f, widths

    return new


@pytest.mark.parametrize("n_layers", [100])
def test_discovery_time(benchmark, n_layers):
    """Discover the chain in the jaxpr of a plain n_layers function and plan it (no caches).

    What jacobench.jacobian(f, x) adds when a jitted caller is traced, beyond tracing f to a
    jaxpr once (which jax.jacfwd pays too; test_trace_discovery_time includes it). Each round is
    a new function with new widths, so no cache is hit; discovery keeps at most MAX_SEGMENTS
    segments (the narrowest cut points).
    """
    import jax
    import jax.numpy as jnp

    from jacobench.functions import FunctionChain, discover, plan_chain

    new, x, planned = _hundred_layer_functions(n_layers, 0), jnp.ones(64, jnp.float32), []

    def traced():
        f, widths = new()
        planned.append(widths)
        return (jax.make_jaxpr(f)(x),), {}

    def discover_and_plan(closed):
        chain = FunctionChain(discover(closed), "f", "float32")
        return chain, plan_chain(chain)

    benchmark.extra_info.update(n_layers=n_layers, max_segments=jb.functions.MAX_SEGMENTS)
    chain, plan = benchmark.pedantic(discover_and_plan, setup=traced, rounds=10)
    assert len(set(planned)) == len(planned)  # every round a new chain
    assert chain.widths[0] == 64 and chain.n_layers == min(n_layers, jb.functions.MAX_SEGMENTS)
    assert plan.macs <= min(plan.forward_macs, plan.reverse_macs)


@pytest.mark.parametrize("n_layers", [100])
def test_trace_discovery_time(benchmark, n_layers):
    """jb.chain_of(f, x).plan() on a new n_layers function: tracing f included (no caches)."""
    import jax.numpy as jnp

    new, x = _hundred_layer_functions(n_layers, 1), jnp.ones(64, jnp.float32)

    def discover_and_plan(f):
        chain = jb.chain_of(f, x)
        return chain, chain.plan()

    benchmark.extra_info.update(n_layers=n_layers)
    chain, _ = benchmark.pedantic(discover_and_plan, setup=lambda: ((new()[0],), {}), rounds=10)
    assert chain.widths[0] == 64
