"""The seven benchmark plots, drawn from a results table; :mod:`jacobench.bench.report` saves them.

Each figure function takes the cleaned results table (:func:`jacobench.bench.report.load_results`)
and the panel columns (:func:`panel_columns`: engine and backend, plus device and dtype when the
table holds several) and returns a :class:`matplotlib.figure.Figure` and notes about what was left
out. Nothing is timed and nothing is written here.

Modules:

* :mod:`.common`: what the plots and the report share: thresholds, the log-log fit, Spearman's
  rho, panels, strategy colours and markers, number formats.
* :mod:`.timing`: ``measured_vs_model.png`` and ``crossover.png``.
* :mod:`.memory`: ``memory_depth.png``.
* :mod:`.winners`: ``speedup.png`` and ``winner_map.png``, with their tables.
* :mod:`.second_order`: ``hessian_depth.png``, time and memory of the second-order modes
  against depth.
* :mod:`.time_model`: ``time_model.png`` and the time model's fidelity figures.

Example:
    >>> fit_loglog([1e6, 1e7, 1e8], [2e-5, 2e-4, 2e-3]).slope
    1.0
"""

from __future__ import annotations

from .common import (
    FIT_MIN_MACS,
    SPEARMAN_MIN_MACS,
    WINNER_MIN_GAP,
    Fit,
    fit_loglog,
    fit_panels,
    panel_columns,
    panel_label,
    spearman,
    wide_by_strategy,
)
from .memory import memory_depth_figure
from .second_order import hessian_depth_figure
from .time_model import time_fidelity, time_model_figure
from .timing import crossover_figure, measured_vs_model_figure
from .winners import speedup_figure, speedups, winner_map_figure, winners

__all__ = [
    "FIT_MIN_MACS",
    "SPEARMAN_MIN_MACS",
    "WINNER_MIN_GAP",
    "Fit",
    "crossover_figure",
    "fit_loglog",
    "fit_panels",
    "hessian_depth_figure",
    "measured_vs_model_figure",
    "memory_depth_figure",
    "panel_columns",
    "panel_label",
    "spearman",
    "speedup_figure",
    "speedups",
    "time_fidelity",
    "time_model_figure",
    "wide_by_strategy",
    "winner_map_figure",
    "winners",
]
