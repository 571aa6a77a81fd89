"""The benchmark tooling: time both engines over a grid of chains, tidy the results, plot them.

``jacobench bench`` (or ``python -m jacobench.bench.harness``) runs the job; ``jacobench plot``
(``python -m jacobench.bench.report``) redraws the plots and the report from a results CSV. Both
write relative to the current directory, so an installed wheel runs them anywhere. They need the
``bench`` extra: ``pip install 'jacobench[bench]'`` (pandas, matplotlib, pytest,
pytest-benchmark, equinox). Importing this package imports none of those; each module imports
what it needs when it is imported itself.

Modules:

* :mod:`~jacobench.bench.grid`: the grids of chains to measure, as pure data.
* :mod:`~jacobench.bench.measure`: inputs, references, compiling, memory and rounds for a row.
* :mod:`~jacobench.bench.models`: the real models (jax.numpy and equinox) of the ``auto`` engine.
* ``suites/``: the pytest-benchmark suites (one per engine, plus planning time) and their
  ``conftest.py`` and ``pytest.ini``; they ship inside the package.
* :mod:`~jacobench.bench.harness`: the job: runs the suites, writes ``results/``, then the plots.
* :mod:`~jacobench.bench.tidy`: pytest-benchmark's JSON to the results CSV; the CSV's columns.
* :mod:`~jacobench.bench.plots`: the statistics and the seven figures (matplotlib).
* :mod:`~jacobench.bench.markdown` and :mod:`~jacobench.bench.report`: ``results/REPORT.md`` and
  the ``jacobench plot`` command.

Example:
    >>> missing_requirements(["json", "no_such_module_here"])
    ['no_such_module_here']
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

__all__ = ["INSTALL_HINT", "REQUIREMENTS", "missing_requirements"]

REQUIREMENTS = ("pandas", "matplotlib", "pytest", "pytest_benchmark", "equinox")
"""The modules the ``bench`` extra brings in (import names)."""

INSTALL_HINT = "pip install 'jacobench[bench]'"
"""How to install what the benchmark tooling needs."""


def missing_requirements(modules: Iterable[str] = REQUIREMENTS) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (without importing any of them)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]
