"""Peak memory against depth: the cost model's prediction beside what was measured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .common import (
    byte_unit,
    legend_outside,
    note_figure,
    panel_grid,
    panel_label,
    spans_decades,
    split_panels,
    strategy_order,
    strategy_style,
)

__all__ = ["memory_depth_figure"]


# ---------------------------------------------------------------------------------------------
# 3. memory against depth


def memory_depth_figure(df: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Peak memory against depth per strategy: model dashed, measured solid (source in title).

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = "Peak memory vs depth (depth sweep)"
    data = df[(df["sweep"] == "depth") & (df["status"] == "ok") & (df["depth"] > 0)]
    panels = split_panels(data, cols)
    if not panels:
        notes.append("memory_depth: no rows with sweep == 'depth'")
        return note_figure(title, notes), notes
    fig, axes = panel_grid(len(panels))
    seen: dict[str, Line2D] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        sources = sorted({s for s in group["mem_source"] if s})
        values = pd.concat([group["mem_model_bytes"], group["mem_measured_bytes"]])
        unit, scale = byte_unit(values.max())
        any_measured = False
        for name in strategy_order(group["strategy"]):
            rows = group[group["strategy"] == name].sort_values("depth")
            colour, marker = strategy_style(name)
            main = name in ("forward", "reverse")
            lw, alpha = (2.0, 1.0) if main else (1.2, 0.75)
            model = rows[rows["mem_model_bytes"] > 0]
            ax.plot(
                model["depth"],
                model["mem_model_bytes"] / scale,
                color=colour,
                marker=marker,
                mfc="none",
                ls="--",
                lw=lw,
                alpha=alpha,
            )
            measured = rows[rows["mem_measured_bytes"] > 0]
            if len(measured):
                any_measured = True
                ax.plot(
                    measured["depth"],
                    measured["mem_measured_bytes"] / scale,
                    color=colour,
                    marker=marker,
                    ls="-",
                    lw=lw,
                    alpha=alpha,
                )
            seen.setdefault(name, Line2D([], [], color=colour, marker=marker, lw=lw, label=name))
        if not any_measured:
            notes.append(f"memory_depth: {panel_label(key)} has no measured memory")
        source = ", ".join(sources) if sources else "none"
        ax.set_title(f"{panel_label(key)}\nmeasured by: {source}", fontsize=10)
        if spans_decades(values):
            ax.set_yscale("log", base=2)
            ax.yaxis.set_major_locator(LogLocator(base=2, numticks=12))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(bottom=0)
        depths = sorted(group["depth"].unique())
        if len(depths) > 1 and depths[-1] / max(depths[0], 1) >= 8:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(depths)
        ax.set_xlabel("depth L (layers)")
        ax.set_ylabel(f"peak memory ({unit})")
        ax.grid(True, which="major", alpha=0.3)
    handles: list[Any] = list(seen.values())
    handles += [
        Line2D([], [], color="0.3", ls="--", marker="o", mfc="none", label="model"),
        Line2D([], [], color="0.3", ls="-", marker="o", label="measured"),
    ]
    legend_outside(fig, handles)
    fig.suptitle(title + ": model (dashed) and measured (solid)", fontsize=11)
    return fig, notes
