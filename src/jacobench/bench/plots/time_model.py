"""How well predicted seconds hold: the time model's fidelity figures and ``time_model.png``.

Every row of the results has ``model_seconds``, the seconds :func:`jacobench.predict_seconds`
predicts for its plan on the run's device profile (measured by micro-benchmarks before the run,
never fitted to these rows). Per engine / backend / device, over the rows measured at
``TIME_MIN_S`` or more (below, a call's fixed cost and timer noise dominate):

* Spearman's rho of ``model_seconds`` and the median time;
* the median of ``|log10(measured / predicted)|`` (0.08 is about a factor 1.2);
* the share of rows within ``WITHIN`` (±30 %): ``1/1.3 <= measured / predicted <= 1.3``;
* winner accuracy: the configurations where the strategy the model predicts fastest is measured
  within ``WINNER_TOLERANCE`` (10 %) of the fastest (``optimal_time`` and JAX's ``jacfwd`` /
  ``jacrev`` are left out of the contest: the former is the model's own pick, the latter are
  ``forward`` and ``reverse`` by other hands);
* ``optimal_time``'s worst row: the largest ratio of its time to the fastest of ``forward``,
  ``reverse`` and ``optimal`` on the same chain, with how far apart the model predicted its plan
  and the next-best other one (a tie the model cannot call is not a confident pick gone wrong),
  and the same worst over the chains the model separates by ``CLEAR_GAP`` (1.2x) or more.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "device": "cpu", "status": "ok",
    ...     "sweep": "profiles", "widths": ["4-4", "8-8", "16-16"], "strategy": "forward",
    ...     "model_seconds": [1e-3, 2e-3, 4e-3], "time_median_s": [1.1e-3, 2e-3, 5e-3]})
    >>> figures = time_fidelity(frame, ["engine", "backend"])["e / b / cpu"]
    >>> figures["rows"], figures["spearman"], figures["within"]
    (3, 1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..._text import compact_widths
from ...timing.predict import CLEAR_GAP
from ..tidy import CONTESTANTS
from .common import (
    JAX_BASELINES,
    format_number,
    format_seconds,
    legend_outside,
    measured_rows,
    note_figure,
    panel_grid,
    panel_label,
    spearman,
    split_panels,
    strategy_handle,
    strategy_order,
    strategy_style,
)

__all__ = [
    "CLEAR_GAP",
    "TIME_MIN_S",
    "WINNER_TOLERANCE",
    "WITHIN",
    "time_fidelity",
    "time_model_figure",
]

TIME_MIN_S = 1e-3
"""Rows measured faster than this are left out of the time model's figures."""

WITHIN = 1.3
"""A prediction is within the band when ``1 / WITHIN <= measured / predicted <= WITHIN``."""

WINNER_TOLERANCE = 1.10
"""The model's pick counts as the winner when it is measured within this factor of the fastest."""

_CONTEST_EXCLUDED = ("optimal_time", *JAX_BASELINES)


def _predicted_rows(df: pd.DataFrame) -> pd.DataFrame:
    data = measured_rows(df)
    if "model_seconds" not in data:
        return data.iloc[0:0]
    return data[data["model_seconds"] > 0]


def _keys(cols: Sequence[str], df: pd.DataFrame) -> list[str]:
    """The panel columns, with the device always in them (predictions are per device)."""
    return [*cols, "device"] if "device" in df and "device" not in cols else list(cols)


def time_fidelity(df: pd.DataFrame, cols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The time model's fidelity figures per engine / backend / device (see the module).

    Args:
        df: The cleaned results table.
        cols: The panel columns.

    Returns:
        ``{panel label: figures}`` with ``rows`` (measured and predicted, >= ``TIME_MIN_S``),
        ``rows_all``, ``spearman``, ``median_abs_log10``, ``within``, ``median_ratio``
        (measured / predicted), ``winner_configs``, ``winner_right``, ``worst_ratio`` and
        ``worst_row`` (``optimal_time`` against the fastest of forward, reverse and optimal,
        timed together in its row's contest where it has one), ``worst_gap`` (for that chain,
        the predicted seconds of the fastest other plan of the contest over ``optimal_time``'s;
        ``inf`` where they are all its plan), ``worst_ratio_clear`` and ``worst_row_clear``
        (the worst over chains with a gap of at least ``CLEAR_GAP``), ``clear_chains`` (how
        many) and ``worst_ratio_apart`` and ``worst_row_apart`` (the worst from the rows'
        separate medians), for every panel with predicted rows.
    """
    data = _predicted_rows(df)
    keys = _keys(cols, df)
    out: dict[str, dict[str, Any]] = {}
    for key, group in split_panels(data, keys):
        big = group[group["time_median_s"] >= TIME_MIN_S]
        ratio = big["time_median_s"] / big["model_seconds"]
        err = np.abs(np.log10(ratio))
        configs, right = _winners(group)
        worst, where, gap, _ = _worst_optimal_time(group)
        clear, clear_where, _, clear_chains = _worst_optimal_time(group, min_gap=CLEAR_GAP)
        apart, apart_where, _, _ = _worst_optimal_time(group, paired=False)
        out[panel_label(key)] = {
            "rows": len(big),
            "rows_all": len(group),
            "spearman": spearman(big["model_seconds"], big["time_median_s"]),
            "spearman_all": spearman(group["model_seconds"], group["time_median_s"]),
            "median_abs_log10": float(np.median(err)) if len(big) else math.nan,
            "within": float(np.mean((ratio >= 1 / WITHIN) & (ratio <= WITHIN)))
            if len(big)
            else math.nan,
            "median_ratio": float(np.median(ratio)) if len(big) else math.nan,
            "winner_configs": configs,
            "winner_right": right,
            "worst_ratio": worst,
            "worst_row": where,
            "worst_gap": gap,
            "worst_ratio_clear": clear,
            "worst_row_clear": clear_where,
            "clear_chains": clear_chains,
            "worst_ratio_apart": apart,
            "worst_row_apart": apart_where,
        }
    return out


def _winners(group: pd.DataFrame) -> tuple[int, int]:
    """Configurations with two or more contestants, and those the model's pick wins."""
    contest = group[~group["strategy"].isin(_CONTEST_EXCLUDED)]
    configs = right = 0
    for _, rows in contest.groupby(["sweep", "widths"]):
        if rows["strategy"].nunique() < 2:
            continue
        configs += 1
        pick = rows.loc[rows["model_seconds"].idxmin()]
        right += int(pick["time_median_s"] <= WINNER_TOLERANCE * rows["time_median_s"].min())
    return configs, right


def _worst_optimal_time(
    group: pd.DataFrame, paired: bool = True, min_gap: float = 0.0
) -> tuple[float, str, float, int]:
    """The largest t(optimal_time) / min t(forward, reverse, optimal), its chain and predicted gap.

    ``paired``: a row's ``contest_ratio`` where it has one (the programs timed in interleaved
    bursts, see ``results/README.md``), else the ratio of the rows' separate medians.
    ``min_gap``: only chains whose predicted gap (:func:`_predicted_gap`) is at least this.
    Returns the ratio, ``"sweep widths"``, that chain's gap and how many chains were looked at.
    """
    worst, where, worst_gap, chains = math.nan, "", math.nan, 0
    for (sweep, widths), rows in group.groupby(["sweep", "widths"]):
        mine_rows = rows[rows["strategy"] == "optimal_time"]
        rivals = rows[rows["strategy"].isin(CONTESTANTS)]
        if mine_rows.empty or rivals.empty:
            continue
        gap = _predicted_gap(rivals, mine_rows.iloc[0])
        if gap < min_gap:
            continue
        chains += 1
        r = float(mine_rows["time_median_s"].min() / rivals["time_median_s"].min())
        if paired and "contest_ratio" in rows:
            contest = mine_rows["contest_ratio"].dropna()
            if not contest.empty:
                r = float(contest.max())
        if math.isnan(worst) or r > worst:
            worst, where, worst_gap = r, f"{sweep} {compact_widths(widths)}", gap
    return worst, where, worst_gap, chains


def _predicted_gap(rivals: pd.DataFrame, mine: pd.Series) -> float:
    """Predicted seconds of the fastest rival running another plan than ``mine``, over ``mine``'s.

    Rivals run another plan where their ``plan_formula`` differs (where the table has none,
    their ``model_seconds``); ``inf`` when none does.

    Example:
        >>> rivals = pd.DataFrame({"plan_formula": ["F", "R", "R"],
        ...     "model_seconds": [1.1e-3, 1e-3, 1e-3]})
        >>> round(_predicted_gap(rivals, rivals.iloc[1]), 3)
        1.1
    """
    if "plan_formula" in rivals and isinstance(mine.get("plan_formula"), str):
        others = rivals[rivals["plan_formula"] != mine["plan_formula"]]
    else:
        others = rivals[rivals["model_seconds"] != mine["model_seconds"]]
    if others.empty or not mine["model_seconds"] > 0:
        return math.inf
    return float(others["model_seconds"].min() / mine["model_seconds"])


def time_model_figure(df: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Measured against predicted seconds, log-log, one panel per engine / backend / device.

    Each panel shows ``y = x`` and the ``±30 %`` band around it, one colour per strategy, and
    in its title Spearman's rho, the median ``|log10(measured / predicted)|`` and the share in
    the band over rows measured at ``TIME_MIN_S`` or more (the faster rows are drawn faded).

    Returns:
        The figure and notes about what was left out.

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "status": "ok",
        ...     "strategy": "forward", "model_seconds": [1e-3, 1e-2], "sweep": "profiles",
        ...     "widths": ["2-2", "4-4"], "time_median_s": [1e-3, 2e-2]})
        >>> fig, notes = time_model_figure(frame, ["engine", "backend"])
        >>> notes
        []
    """
    notes: list[str] = []
    data = _predicted_rows(df)
    missing = len(measured_rows(df)) - len(data)
    if missing:
        notes.append(f"time_model: {missing} measured row(s) have no model_seconds; not drawn")
    title = "Measured against predicted seconds (the time model)"
    panels = split_panels(data, _keys(cols, df))
    if not panels:
        notes.append("time_model: no rows with model_seconds (was the run given a profile?)")
        return note_figure(title, notes), notes
    figures = time_fidelity(df, cols)
    fig, axes = panel_grid(len(panels))
    seen: dict[str, Line2D] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        lo = float(min(group["model_seconds"].min(), group["time_median_s"].min())) / 1.5
        hi = float(max(group["model_seconds"].max(), group["time_median_s"].max())) * 1.5
        xs = np.geomspace(lo, hi, 20)
        ax.fill_between(xs, xs / WITHIN, xs * WITHIN, color="0.88", lw=0, zorder=0)
        ax.plot(xs, xs, color="0.3", lw=1.0, zorder=1)
        for name in strategy_order(group["strategy"]):
            rows = group[group["strategy"] == name]
            colour, marker = strategy_style(name)
            big = rows["time_median_s"] >= TIME_MIN_S
            for subset, alpha in ((rows[big], 0.85), (rows[~big], 0.3)):
                ax.scatter(
                    subset["model_seconds"],
                    subset["time_median_s"],
                    c=colour,
                    marker=marker,
                    s=26 if name == "optimal_time" else 20,
                    alpha=alpha,
                    edgecolors="none",
                    zorder=2,
                )
            seen.setdefault(name, strategy_handle(name))
        f = figures[panel_label(key)]
        ax.axvline(TIME_MIN_S, color="0.6", lw=0.7, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(
            f"{panel_label(key)}\n$\\rho$ = {format_number(f['spearman'], '.3f')}, "
            f"median |log10| = {format_number(f['median_abs_log10'], '.3f')}, "
            f"{format_number(100 * f['within'], '.0f')}% within ±30% "
            f"(n = {f['rows']} ≥ {format_seconds(TIME_MIN_S)})",
            fontsize=9,
        )
        ax.set_xlabel("predicted seconds (model_seconds)")
        ax.set_ylabel("measured median seconds")
        ax.grid(True, which="major", alpha=0.3)
    handles: list[Any] = list(seen.values())
    handles += [
        Line2D([], [], color="0.3", lw=1.0, label="measured = predicted"),
        Patch(color="0.88", label="within ±30 %"),
        Line2D(
            [], [], color="0.6", lw=0.7, ls=":", label=f"{format_seconds(TIME_MIN_S)}: faded below"
        ),
    ]
    legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes
