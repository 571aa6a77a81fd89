"""Time against the models: measured vs model multiply-adds, and the forward/reverse crossover.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "status": "ok", "sweep": "crossover",
    ...     "strategy": ["forward", "reverse"], "d_0": 4, "d_L": 64, "widths": "4-8-64",
    ...     "model_macs": [2048, 32768], "time_median_s": [1e-4, 1e-3]})
    >>> fig, notes = crossover_figure(frame, ["engine", "backend"], {})
    >>> notes
    ['crossover: e / b has no fitted s/MAC; formulas not drawn']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from .common import (
    FIT_COLOUR,
    FIT_MIN_MACS,
    SPEARMAN_MIN_MACS,
    Fit,
    Panel,
    format_number,
    format_ratio,
    format_sci,
    legend_outside,
    measured_rows,
    note_figure,
    panel_grid,
    panel_label,
    plain_log_axis,
    spearman,
    split_panels,
    strategy_handle,
    strategy_order,
    strategy_style,
    wide_by_strategy,
)

__all__ = ["crossover_figure", "measured_vs_model_figure"]

TIME_MODEL_COLOUR = "#117733"
"""The time model's marks in the crossover plot (the colour of ``optimal_time``)."""


# ---------------------------------------------------------------------------------------------
# 1. measured vs model


def measured_vs_model_figure(
    df: pd.DataFrame, cols: Sequence[str], fits: dict[Panel, Fit | None]
) -> tuple[Figure, list[str]]:
    """Median time against model multiply-adds, log-log, one panel per engine/backend.

    Each panel shows one colour per strategy, the log-space fit (solid) over rows with at least
    ``FIT_MIN_MACS`` multiply-adds (the rows below are shaded) and, dotted, the slope-1 line
    ``time = seconds_per_mac * MACs``; its title gives the slope, seconds per multiply-add and
    Spearman's rho over rows with at least ``SPEARMAN_MIN_MACS`` multiply-adds.

    Returns:
        The figure and notes about what was left out.

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "status": "ok",
        ...     "strategy": "forward", "model_macs": [1e6, 1e7, 1e8],
        ...     "time_median_s": [1e-3, 1e-2, 1e-1]})
        >>> from jacobench.bench.plots import fit_panels
        >>> fits = fit_panels(frame, ["engine", "backend"])
        >>> fig, notes = measured_vs_model_figure(frame, ["engine", "backend"], fits)
        >>> notes
        ['e / b: Spearman rho needs >= 3 rows with >= 1e7 MACs (has 2)']
    """
    notes: list[str] = []
    data = measured_rows(df)
    zero = data[data["model_macs"] <= 0]
    if len(zero):
        notes.append(
            f"{len(zero)} measured row(s) with 0 model MACs (L = 1) are not on the log axes"
        )
    data = data[data["model_macs"] > 0]
    panels = split_panels(data, cols)
    if not panels:
        return note_figure("Measured time vs model multiply-adds", ["no measured rows"]), [
            "measured_vs_model: no measured rows"
        ]
    fig, axes = panel_grid(len(panels))
    seen: dict[str, Line2D] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        for name in strategy_order(group["strategy"]):
            rows = group[group["strategy"] == name]
            colour, marker = strategy_style(name)
            ax.scatter(
                rows["model_macs"],
                rows["time_median_s"],
                c=colour,
                marker=marker,
                s=22,
                alpha=0.8,
                edgecolors="none",
            )
            seen.setdefault(name, strategy_handle(name))
        lo, hi = float(group["model_macs"].min()), float(group["model_macs"].max())
        fit = fits.get(key)
        sub = group[group["model_macs"] >= SPEARMAN_MIN_MACS]
        rho = spearman(sub["model_macs"], sub["time_median_s"])
        if len(sub) < 3:
            notes.append(
                f"{panel_label(key)}: Spearman rho needs >= 3 rows with "
                f">= {format_sci(SPEARMAN_MIN_MACS)} MACs (has {len(sub)})"
            )
        title = panel_label(key)
        if fit is not None:
            xs = np.geomspace(max(lo, fit.min_macs), hi, 50)
            ax.plot(xs, fit.predict(xs), color=FIT_COLOUR, lw=1.5, zorder=3)
            ax.plot(xs, fit.seconds_per_mac * xs, color=FIT_COLOUR, lw=1.0, ls=":", zorder=3)
            title += (
                f"\nslope {fit.slope:.2f} (n = {fit.n}), {fit.seconds_per_mac:.2g} s/MAC, "
                f"$\\rho$ = {format_number(rho, '.2f')} (n = {len(sub)})"
            )
        else:
            title += "\nno fit: < 2 distinct sizes above threshold"
            notes.append(
                f"{panel_label(key)}: too few rows >= {format_sci(FIT_MIN_MACS)} MACs to fit"
            )
        if lo < FIT_MIN_MACS:
            ax.axvspan(lo / 2, FIT_MIN_MACS, color="0.92", zorder=0, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo / 2, hi * 2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("model multiply-adds (MACs)")
        ax.set_ylabel("median time (s)")
        ax.grid(True, which="major", alpha=0.3)
    handles: list[Any] = list(seen.values())
    handles += [
        Line2D([], [], color=FIT_COLOUR, lw=1.5, label="log-log least-squares fit"),
        Line2D([], [], color=FIT_COLOUR, lw=1.0, ls=":", label="slope 1: t = (s/MAC) · MACs"),
        Patch(color="0.92", label=f"< {format_sci(FIT_MIN_MACS)} MACs: not fitted"),
    ]
    legend_outside(fig, handles)
    fig.suptitle(
        "Measured median time vs model multiply-adds "
        f"(fit over rows ≥ {format_sci(FIT_MIN_MACS)} MACs; $\\rho$ = Spearman over rows ≥ "
        f"{format_sci(SPEARMAN_MIN_MACS)} MACs)",
        fontsize=11,
    )
    return fig, notes


# ---------------------------------------------------------------------------------------------
# 2. crossover


def _log2_ratio_axis(ax: Axes) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(format_ratio))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _pair_forward_reverse(group: pd.DataFrame) -> pd.DataFrame:
    keys = ["d_0", "d_L", "widths"]
    wide = wide_by_strategy(group, keys, ["forward", "reverse"])
    out = pd.DataFrame(
        {
            "t_fwd": wide[("time_median_s", "forward")],
            "t_rev": wide[("time_median_s", "reverse")],
            "m_fwd": wide[("model_macs", "forward")],
            "m_rev": wide[("model_macs", "reverse")],
        }
    ).dropna()
    out = out.reset_index()
    out["ratio"] = out["d_0"] / out["d_L"]
    for name, column in (("forward", "s_fwd"), ("reverse", "s_rev")):  # the time model's
        rows = group[group["strategy"] == name]
        if "model_seconds" in rows:
            seconds = rows.groupby(keys)["model_seconds"].median()
            out[column] = [seconds.get(tuple(r), np.nan) for r in out[keys].itertuples(index=False)]
        else:
            out[column] = np.nan
    good = (out["m_fwd"] > 0) & (out["m_rev"] > 0) & (out["ratio"] > 0) & np.isfinite(out["ratio"])
    return out[good]


def crossover_figure(
    df: pd.DataFrame, cols: Sequence[str], fits: dict[Panel, Fit | None]
) -> tuple[Figure, list[str]]:
    """Forward and reverse time against ``d_0/d_L`` on the crossover sweep, with the formulas.

    Top row: the slice of the ``(d_0, d_L)`` grid with the widest range of ``d_0/d_L`` (equal
    ``d_0 d_L``); measured forward and reverse times as points, the two multiply-add formulas
    times the panel's fitted seconds per multiply-add as dashed lines and, where the rows have
    ``model_seconds``, the time model's predicted seconds as solid lines (nothing fitted).
    Bottom row: every grid point's measured ``t_forward / t_reverse`` with the MAC ratio and the
    time model's ratio beside it; the crossover is where the ratio crosses 1.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    data = measured_rows(df[df["sweep"] == "crossover"])
    panels = [(k, _pair_forward_reverse(g)) for k, g in split_panels(data, cols)]
    for key, pairs in panels:
        if pairs.empty:
            notes.append(f"crossover: {panel_label(key)} has no forward/reverse pairs; skipped")
    panels = [(k, p) for k, p in panels if not p.empty]
    title = r"Forward vs reverse at fixed depth: time against $d_0/d_L$"
    if not panels:
        notes.append("crossover: no measured forward/reverse rows with sweep == 'crossover'")
        return note_figure(title, notes), notes
    n = len(panels)
    fig = Figure(figsize=(4.8 * n + 2.2, 7.6), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False, sharex="col")
    fwd_c, fwd_m = strategy_style("forward")
    rev_c, rev_m = strategy_style("reverse")
    for j, (key, pairs) in enumerate(panels):
        top, bottom = axes[0, j], axes[1, j]
        product = np.round(np.log2(pairs["d_0"] * pairs["d_L"]), 6)
        spread = pairs.groupby(product)["ratio"].agg(lambda r: r.max() / r.min())
        best = spread[spread == spread.max()].index.max()
        sl = pairs[product == best].sort_values("ratio")
        top.plot(sl["ratio"], sl["t_fwd"], color=fwd_c, marker=fwd_m, ls="none", ms=6)
        top.plot(sl["ratio"], sl["t_rev"], color=rev_c, marker=rev_m, ls="none", ms=6)
        fit = fits.get(key)
        if fit is not None:
            spm = fit.seconds_per_mac
            top.plot(sl["ratio"], spm * sl["m_fwd"], color=fwd_c, ls="--", lw=1.3)
            top.plot(sl["ratio"], spm * sl["m_rev"], color=rev_c, ls="--", lw=1.3)
            scale = f"$\\times$ {spm:.2g} s/MAC"
        else:
            scale = "(no fit: formulas not drawn)"
            notes.append(f"crossover: {panel_label(key)} has no fitted s/MAC; formulas not drawn")
        timed = sl[sl["s_fwd"].notna() & sl["s_rev"].notna()]
        if not timed.empty:
            top.plot(timed["ratio"], timed["s_fwd"], color=fwd_c, ls="-", lw=1.1, alpha=0.8)
            top.plot(timed["ratio"], timed["s_rev"], color=rev_c, ls="-", lw=1.1, alpha=0.8)
        top.set_yscale("log")
        top.axvline(1.0, color="0.6", lw=0.8, ls=":")
        top.set_title(
            f"{panel_label(key)}\nslice $d_0 d_L$ = {2**best:g}; formulas {scale}", fontsize=10
        )
        top.set_ylabel("median time (s)")
        top.grid(True, which="major", alpha=0.3)

        bottom.plot(pairs["ratio"], pairs["t_fwd"] / pairs["t_rev"], "o", color="0.2", ms=5)
        bottom.plot(
            pairs["ratio"],
            pairs["m_fwd"] / pairs["m_rev"],
            "D",
            mfc="none",
            mec="#CC79A7",
            ms=8,
            mew=1.3,
        )
        both = pairs[pairs["s_fwd"].notna() & pairs["s_rev"].notna()]
        bottom.plot(
            both["ratio"],
            both["s_fwd"] / both["s_rev"],
            "x",
            color=TIME_MODEL_COLOUR,
            ms=7,
            mew=1.3,
        )
        bottom.axhline(1.0, color="0.6", lw=0.8, ls=":")
        bottom.axvline(1.0, color="0.6", lw=0.8, ls=":")
        bottom.set_yscale("log")
        plain_log_axis(bottom.yaxis)
        _log2_ratio_axis(bottom)
        bottom.set_xlabel(r"$d_0 / d_L$  (input width / output width)")
        bottom.set_ylabel(r"$t_\mathrm{forward} / t_\mathrm{reverse}$  (> 1: reverse faster)")
        bottom.set_title(f"all {len(pairs)} grid points", fontsize=10)
        bottom.grid(True, which="major", alpha=0.3)
    handles = [
        strategy_handle("forward", "forward, measured"),
        strategy_handle("reverse", "reverse, measured"),
        Line2D(
            [],
            [],
            color=fwd_c,
            ls="--",
            label=r"forward formula $d_0 \, \sum \, d_\ell \, d_{\ell-1}$ $\times$ s/MAC",
        ),
        Line2D(
            [],
            [],
            color=rev_c,
            ls="--",
            label=r"reverse formula $d_L \, \sum \, d_\ell \, d_{\ell+1}$ $\times$ s/MAC",
        ),
        Line2D([], [], color=fwd_c, ls="-", label="forward, time model (predicted seconds)"),
        Line2D([], [], color=rev_c, ls="-", label="reverse, time model (predicted seconds)"),
        Line2D([], [], marker="o", color="0.2", ls="none", label="measured ratio"),
        Line2D(
            [], [], marker="D", mfc="none", mec="#CC79A7", ls="none", label="model ratio (MACs)"
        ),
        Line2D([], [], marker="x", color=TIME_MODEL_COLOUR, ls="none", label="time model ratio"),
    ]
    legend_outside(fig, handles)
    fig.suptitle(title + " (crossover sweep)", fontsize=11)
    return fig, notes
