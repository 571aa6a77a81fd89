"""Second order against depth: time and memory of every HVP mode and Hessian strategy.

Reads the rows of engine ``hessian`` in the ``hessian-depth`` sweep (see
:mod:`jacobench.bench.grid`). Strategies named ``hvp:<mode>`` are Hessian-vector products, the
others Hessians; a mode has one colour in both. Memory is drawn measured (solid) beside the model
(dashed), with one copy of the activations (``mem_activations_bytes``, what a gradient keeps)
dotted, and twice that: the HVP modes hold every activation twice over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from .common import byte_unit, legend_outside, note_figure, panel_label, split_panels

__all__ = ["MODE_STYLES", "hessian_depth_figure", "mode_of"]

MODE_STYLES: dict[str, tuple[str, str]] = {
    "fwd-over-rev": ("#0072B2", "o"),
    "rev-over-fwd": ("#E69F00", "v"),
    "rev-over-rev": ("#D55E00", "s"),
    "fwd-over-fwd": ("#CC79A7", "^"),
    "jax.hessian": ("#56B4E9", "<"),
    "optimal": ("#009E73", "D"),
}
"""Colour and marker of each mode and Hessian strategy (an HVP mode shares its mode's)."""

_OTHER = ("#888888", "x")


def mode_of(strategy: str) -> str:
    """The mode of a row's strategy: ``hvp:rev-over-rev`` is ``rev-over-rev``.

    Example:
        >>> mode_of("hvp:rev-over-rev"), mode_of("optimal")
        ('rev-over-rev', 'optimal')
    """
    return strategy.split(":", 1)[1] if strategy.startswith("hvp:") else strategy


def _order(strategies: Sequence[str]) -> list[str]:
    known = list(MODE_STYLES)
    return sorted(
        set(strategies), key=lambda s: (known.index(m) if (m := mode_of(s)) in known else 99, s)
    )


def hessian_depth_figure(df: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Time and memory against depth: HVP modes on the top row, Hessians on the bottom one.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = "Second order vs depth (engine hessian, hessian-depth sweep)"
    data = df[
        (df["engine"] == "hessian")
        & (df["sweep"] == "hessian-depth")
        & (df["status"] == "ok")
        & (df["time_median_s"] > 0)
    ]
    panels = split_panels(data, cols)
    if not panels:
        notes.append("hessian_depth: no measured rows of engine 'hessian' in sweep 'hessian-depth'")
        return note_figure(title, notes), notes
    fig = Figure(figsize=(12.5, 7.6 * len(panels)), layout="constrained")
    axes = fig.subplots(2 * len(panels), 2, squeeze=False)
    seen: dict[str, Line2D] = {}
    for p, (key, group) in enumerate(panels):
        hvp = group[group["strategy"].str.startswith("hvp:")]
        for r, (kind, rows) in enumerate((("HVP", hvp), ("Hessian", group.drop(hvp.index)))):
            ax_t, ax_m = axes[2 * p + r]
            _draw(ax_t, ax_m, rows, seen, notes, f"{panel_label(key)}: {kind}", acts=r == 0)
    handles: list[Any] = list(seen.values())
    handles += [
        Line2D([], [], color="0.3", ls="-", label="measured"),
        Line2D([], [], color="0.3", ls="--", label="model"),
        Line2D([], [], color="0.1", ls=":", lw=1.6, label="activations x1 (a gradient's)"),
        Line2D([], [], color="0.55", ls=":", lw=1.6, label="activations x2"),
    ]
    legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes


def _draw(
    ax_t: Any,
    ax_m: Any,
    rows: pd.DataFrame,
    seen: dict[str, Line2D],
    notes: list[str],
    label: str,
    *,
    acts: bool,
) -> None:
    """One row of panels: time on ``ax_t``, memory on ``ax_m`` (``acts``: the reference lines)."""
    if rows.empty:
        for ax in (ax_t, ax_m):
            ax.set_visible(False)
        notes.append(f"hessian_depth: no rows for {label}")
        return
    depths = sorted(rows["depth"].unique())
    memory = pd.concat([rows["mem_model_bytes"], rows["mem_measured_bytes"]])
    unit, scale = byte_unit(float(memory.max()))
    for name in _order(list(rows["strategy"])):
        mine = rows[rows["strategy"] == name].sort_values("depth")
        colour, marker = MODE_STYLES.get(mode_of(name), _OTHER)
        ax_t.plot(mine["depth"], mine["time_median_s"] * 1e3, color=colour, marker=marker)
        measured = mine[mine["mem_measured_bytes"] > 0]
        ax_m.plot(
            measured["depth"], measured["mem_measured_bytes"] / scale, color=colour, marker=marker
        )
        model = mine[mine["mem_model_bytes"] > 0]
        ax_m.plot(
            model["depth"], model["mem_model_bytes"] / scale, color=colour, marker=marker,
            mfc="none", ls="--", alpha=0.8,
        )  # fmt: skip
        seen.setdefault(
            mode_of(name), Line2D([], [], color=colour, marker=marker, label=mode_of(name))
        )
    if acts and "mem_activations_bytes" in rows and (rows["mem_activations_bytes"] > 0).any():
        per_depth = rows.groupby("depth")["mem_activations_bytes"].first().sort_index()
        xs, ys = list(per_depth.index), [float(v) / scale for v in per_depth.tolist()]
        ax_m.plot(xs, ys, color="0.1", ls=":", lw=1.6)
        ax_m.plot(xs, [2 * y for y in ys], color="0.55", ls=":", lw=1.6)
    ax_t.set_yscale("log")
    ax_t.set_ylabel("median time (ms)")
    ax_m.set_ylabel(f"peak memory ({unit})")
    if (memory > 0).any() and memory[memory > 0].max() / memory[memory > 0].min() >= 10:
        ax_m.set_yscale("log")
    for ax, what in ((ax_t, "time"), (ax_m, "memory")):
        ax.set_title(f"{label}: {what}", fontsize=10)
        ax.set_xlabel("depth L (layers)")
        if len(depths) > 1 and depths[-1] / max(depths[0], 1) >= 8:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(depths)
        ax.grid(True, which="major", alpha=0.3)
