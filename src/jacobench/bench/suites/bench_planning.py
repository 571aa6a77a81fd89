"""How long planning takes: each engine's optimal dynamic program on long chains, never cached.

Run with ``make bench-planning``. Both planners cache by widths, so each round plans a chain it
has not seen (same length, new random widths in 1..4095). The targets of issue 10: explicit
L = 1,000 under 1 s; matrix-free L = 200 under 0.2 s and L = 1,000 under 10 s.
"""

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
