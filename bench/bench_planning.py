"""How long planning takes: the O(L^3) dynamic program on long chains (not cached)."""

import numpy as np
import pytest

import jacobench as jb


@pytest.mark.parametrize("n_layers", [50, 100, 200])
def test_optimal_planning_time(benchmark, n_layers):
    rng = np.random.default_rng(n_layers)
    widths = tuple(int(w) for w in rng.integers(1, 4096, size=n_layers + 1))
    benchmark.extra_info.update(n_layers=n_layers, widths="-".join(map(str, widths)))
    tree = benchmark(jb.explicit.optimal, widths)
    assert jb.explicit.cost(widths, tree) <= min(jb.forward_macs(widths), jb.reverse_macs(widths))
