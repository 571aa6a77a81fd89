"""How long planning takes: each engine's optimal dynamic program on long chains, never cached.

Run with ``make bench-planning``. The explicit planner keeps no cache; the matrix-free one
caches by widths, so each of its rounds plans a chain it has not seen (same length, new widths).
"""

import numpy as np
import pytest

import jacobench as jb


def random_widths(rng: np.random.Generator, n_layers: int) -> tuple[int, ...]:
    return tuple(int(w) for w in rng.integers(1, 4096, size=n_layers + 1))


@pytest.mark.parametrize("n_layers", [50, 100, 200])
def test_optimal_planning_time(benchmark, n_layers):
    widths = random_widths(np.random.default_rng(n_layers), n_layers)
    benchmark.extra_info.update(n_layers=n_layers, widths="-".join(map(str, widths)))
    tree = benchmark(jb.explicit.optimal, widths)
    assert jb.explicit.cost(widths, tree) <= min(jb.forward_macs(widths), jb.reverse_macs(widths))


@pytest.mark.parametrize("n_layers", [20, 50])
def test_matrix_free_planning_time(benchmark, n_layers):
    rng = np.random.default_rng(n_layers)
    planned = []

    def new_chain():
        planned.append(random_widths(rng, n_layers))
        return (planned[-1],), {}

    benchmark.extra_info.update(n_layers=n_layers)
    tree = benchmark.pedantic(jb.matrix_free.optimal, setup=new_chain, rounds=10)
    widths = planned[-1]  # the chain of the last round, whose plan is returned
    assert len(set(planned)) == len(planned)  # every round was a cache miss
    best_mode = min(jb.matrix_free.forward_macs(widths), jb.matrix_free.reverse_macs(widths))
    assert jb.matrix_free.cost(widths, tree) <= best_mode
