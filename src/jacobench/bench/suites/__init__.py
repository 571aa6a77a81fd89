"""The pytest-benchmark suites, run by :mod:`jacobench.bench.harness` (with ``pytest.ini`` here).

* ``bench_grid_explicit.py``: ``multiply`` with every explicit strategy, numpy and JAX.
* ``bench_grid_matrix_free.py``: ``jacobian`` of ``mlp`` chains with every matrix-free strategy.
* ``bench_planning.py``: how long the planners take on long chains (``make bench-planning``).
* ``conftest.py``: the grid, the memory guard, the skipped-row record, check-then-time.
"""
