r"""The five benchmark plots, and the statistics they show, drawn from a results table.

Everything here reads a :class:`pandas.DataFrame` in the harness's CSV format (as cleaned by
:func:`jacobench.report.load_results`) and returns numbers or :class:`matplotlib.figure.Figure`
objects; nothing is timed and nothing is written. Figures are built with the object-oriented
API (no ``pyplot``, so no global state and no display backend); :mod:`jacobench.report` saves them.

The fits:

* :func:`fit_loglog` fits ``log10(time) = a + slope * log10(model_macs)`` by least squares over
  rows with ``model_macs >= FIT_MIN_MACS`` (below that, fixed per-call overhead dominates and
  would flatten the slope). Its ``seconds_per_mac`` is the same fit with the slope held at 1
  (the geometric mean of ``time / model_macs``): the constant that turns a multiply-add formula
  into seconds, used to draw the forward and reverse formulas over the crossover points.
* :func:`spearman` is the rank correlation (Pearson on average ranks), computed with pandas.

Example:
    >>> fit = fit_loglog([1e6, 1e7, 1e8], [2e-5, 2e-4, 2e-3])
    >>> round(fit.slope, 6), f"{fit.seconds_per_mac:.1e}"
    (1.0, '2.0e-11')
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = [
    "FIT_MIN_MACS",
    "SPEARMAN_MIN_MACS",
    "WINNER_MIN_GAP",
    "Fit",
    "crossover_figure",
    "fit_loglog",
    "fit_panels",
    "measured_vs_model_figure",
    "memory_depth_figure",
    "note_figure",
    "panel_columns",
    "panel_label",
    "spearman",
    "speedup_figure",
    "speedups",
    "strategy_style",
    "wide_by_strategy",
    "winner_map_figure",
    "winners",
]

FIT_MIN_MACS = 1e6
"""Rows with fewer model multiply-adds are left out of the log-log fit (overhead dominates)."""

SPEARMAN_MIN_MACS = 1e7
"""Rows with fewer model multiply-adds are left out of the Spearman correlation."""

WINNER_MIN_GAP = 2.0
"""A model prediction counts as confident when the other candidate costs this many times more."""

SPEEDUP_BASELINES = ("forward", "reverse", "jacfwd", "jacrev")
"""What the optimal plan's speedup is measured against (those present in the data)."""

# Okabe-Ito colours (colour-blind safe); forward/jacfwd blues, reverse/jacrev reds.
_STYLES: dict[str, tuple[str, str]] = {
    "forward": ("#0072B2", "o"),
    "reverse": ("#D55E00", "s"),
    "optimal": ("#009E73", "D"),
    "balanced": ("#CC79A7", "^"),
    "explicit": ("#E69F00", "v"),
    "jacfwd": ("#56B4E9", "<"),
    "jacrev": ("#882255", ">"),
}
_SPARE_COLOURS = ("#999933", "#44AA99", "#332288", "#AA4499", "#117733", "#888888")
_SPARE_MARKERS = ("P", "X", "*", "h", "p", "8")
_ORDER = tuple(_STYLES)
JAX_BASELINES = ("jacfwd", "jacrev")
"""JAX's own Jacobian modes: baselines, not strategies of ours."""
_FIT_COLOUR = "0.15"

Panel = tuple[Hashable, ...]


class Fit(NamedTuple):
    """A least-squares fit of ``log10(time)`` against ``log10(model_macs)``.

    Attributes:
        slope: The fitted exponent: time grows as ``model_macs ** slope``.
        intercept: ``log10`` of the fitted time at one multiply-add.
        seconds_per_mac: The fit with the slope held at 1: seconds per multiply-add.
        n: Rows in the fit.
        min_macs: The threshold: rows with fewer model multiply-adds were left out.
    """

    slope: float
    intercept: float
    seconds_per_mac: float
    n: int
    min_macs: float

    def predict(self, macs: Any) -> Any:
        """Fitted seconds at ``macs`` multiply-adds (a number or an array).

        Example:
            >>> Fit(1.0, -9.0, 1e-9, 3, 1e6).predict([1e6, 1e7]).tolist()
            [0.001, 0.01]
        """
        return 10.0**self.intercept * np.asarray(macs, dtype=float) ** self.slope


def fit_loglog(
    macs: Iterable[float], seconds: Iterable[float], min_macs: float = FIT_MIN_MACS
) -> Fit | None:
    """Fit ``log10(seconds) = intercept + slope * log10(macs)`` over rows with ``macs >= min_macs``.

    Rows with a non-positive or missing time are left out as well.

    Args:
        macs: Model multiply-adds per row.
        seconds: Measured median seconds per row.
        min_macs: Rows below this many multiply-adds are left out.

    Returns:
        The fit, or ``None`` when fewer than two distinct ``macs`` remain.

    Example:
        Time that grows as the square root of the work: the slope is 0.5.

        >>> fit = fit_loglog([1e6, 1e8, 1e10, 10], [1e-3, 1e-2, 1e-1, 5.0])
        >>> fit.slope, fit.n
        (0.5, 3)
    """
    x = np.asarray(list(macs), dtype=float)
    y = np.asarray(list(seconds), dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x >= min_macs) & (x > 0) & (y > 0)
    lx, ly = np.log10(x[keep]), np.log10(y[keep])
    if len(np.unique(lx)) < 2:
        return None
    slope, intercept = np.polyfit(lx, ly, 1)
    seconds_per_mac = 10.0 ** float(np.mean(ly - lx))
    return Fit(
        round(float(slope), 12), float(intercept), seconds_per_mac, int(keep.sum()), min_macs
    )


def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (average) ranks.

    Args:
        x: One variable.
        y: The other, paired with ``x``.

    Returns:
        A number in ``[-1, 1]``; NaN with fewer than three complete pairs or a constant variable.

    Example:
        >>> spearman([1, 10, 100, 1000], [0.1, 0.3, 0.2, 0.9])
        0.8
    """
    frame = pd.DataFrame({"x": list(x), "y": list(y)}, dtype=float).dropna()
    if len(frame) < 3 or frame["x"].nunique() < 2 or frame["y"].nunique() < 2:
        return math.nan
    return round(float(frame["x"].rank().corr(frame["y"].rank())), 12)


def strategy_style(name: str) -> tuple[str, str]:
    """The colour and marker of a strategy, fixed for known names, stable for others.

    Example:
        >>> strategy_style("forward")
        ('#0072B2', 'o')
    """
    if name in _STYLES:
        return _STYLES[name]
    k = sum(name.encode()) % len(_SPARE_COLOURS)
    return _SPARE_COLOURS[k], _SPARE_MARKERS[k]


def _strategy_order(names: Iterable[str]) -> list[str]:
    unique = set(names)
    known = [s for s in _ORDER if s in unique]
    return known + sorted(unique - set(known))


def panel_columns(df: pd.DataFrame) -> list[str]:
    """The columns that split the table into panels.

    Engine and backend, plus device and dtype when the table holds more than one of them (their
    timings are not comparable).

    Example:
        >>> frame = pd.DataFrame({"engine": ["explicit"], "backend": ["numpy"],
        ...                       "device": ["cpu"], "dtype": ["float32"]})
        >>> panel_columns(frame)
        ['engine', 'backend']
    """
    cols = ["engine", "backend"]
    cols += [c for c in ("device", "dtype") if c in df and df[c].nunique() > 1]
    return cols


def panel_label(key: Panel) -> str:
    """A panel's title from its key.

    Example:
        >>> panel_label(("explicit", "numpy"))
        'explicit / numpy'
    """
    return " / ".join(str(k) for k in key)


def _panels(df: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Panel, pd.DataFrame]]:
    if df.empty:
        return []
    return [
        (key if isinstance(key, tuple) else (key,), group)
        for key, group in df.groupby(list(cols), sort=True)
    ]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & (df["time_median_s"] > 0)]


def wide_by_strategy(
    data: pd.DataFrame, keys: Sequence[str], strategies: Sequence[str]
) -> pd.DataFrame:
    """Median time and model MACs per configuration, one column pair per strategy.

    Columns are ``(value, strategy)`` for value in ``time_median_s``, ``model_macs`` and every
    strategy asked for, present even when that strategy has no rows (then all NaN).

    Example:
        >>> frame = pd.DataFrame({"widths": ["2-3", "2-3"], "strategy": ["forward", "reverse"],
        ...                       "time_median_s": [1.0, 2.0], "model_macs": [6, 6]})
        >>> wide_by_strategy(frame, ["widths"], ["forward", "jacrev"]).columns.tolist()
        [('time_median_s', 'forward'), ('model_macs', 'forward'), \
('time_median_s', 'jacrev'), ('model_macs', 'jacrev')]
    """
    columns: dict[tuple[str, str], pd.Series] = {}
    for name in strategies:
        rows = data[data["strategy"] == name]
        med = rows.groupby(list(keys))[["time_median_s", "model_macs"]].median()
        for value in ("time_median_s", "model_macs"):
            columns[(value, name)] = med[value]
    return pd.DataFrame(columns)


def fit_panels(df: pd.DataFrame, cols: Sequence[str]) -> dict[Panel, Fit | None]:
    """:func:`fit_loglog` over each panel's measured rows (all sweeps).

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "status": "ok",
        ...                       "model_macs": [1e6, 1e7], "time_median_s": [1e-3, 1e-2]})
        >>> fit_panels(frame, ["engine", "backend"])[("e", "b")].slope
        1.0
    """
    return {
        key: fit_loglog(group["model_macs"], group["time_median_s"])
        for key, group in _panels(_ok(df), cols)
    }


# ---------------------------------------------------------------------------------------------
# Figure helpers


def _grid(n: int, *, ncols: int = 3, size: tuple[float, float] = (4.6, 3.8)) -> tuple[Figure, Any]:
    ncols = max(1, min(n, ncols))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols + 1.8, size[1] * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def note_figure(title: str, notes: Sequence[str]) -> Figure:
    """A small figure that says why a plot has no data (so a stale PNG is never left behind).

    Example:
        >>> note_figure("Crossover", ["no crossover rows"]).get_size_inches().tolist()
        [7.0, 2.0]
    """
    fig = Figure(figsize=(7.0, 2.0))
    fig.text(0.5, 0.7, title, ha="center", fontsize=13, weight="bold")
    fig.text(0.5, 0.45, "\n".join(notes) or "no data", ha="center", va="top", wrap=True)
    return fig


def _legend_outside(fig: Figure, handles: Sequence[Any]) -> None:
    if handles:
        fig.legend(handles=list(handles), loc="outside right center", frameon=False)


def _strategy_handle(name: str, label: str | None = None, **kw: Any) -> Line2D:
    colour, marker = strategy_style(name)
    return Line2D([], [], color=colour, marker=marker, linestyle="none", label=label or name, **kw)


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("ps", 1e-12)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.2g} s"


def _byte_unit(largest: float) -> tuple[str, int]:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if largest >= scale:
            return unit, scale
    return "bytes", 1


def _fmt_ratio(value: float, _pos: object = None) -> str:
    if value <= 0:
        return ""
    if value >= 1:
        return f"{value:g}"
    return f"1/{1 / value:g}"


def _num(value: float, spec: str = ".2f") -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


def _sci(value: float) -> str:
    """``1e6`` rather than ``1e+06``."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _plain_log_axis(axis: Any) -> None:
    """Label a log axis 0.1, 0.2, 0.5, 1, 2, 5, ... instead of powers of ten."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _spans_decades(values: Iterable[float], decades: float = 1.0) -> bool:
    v = np.asarray([x for x in values if x > 0 and math.isfinite(x)], dtype=float)
    return len(v) > 1 and math.log10(v.max() / v.min()) >= decades


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
        >>> fits = fit_panels(frame, ["engine", "backend"])
        >>> fig, notes = measured_vs_model_figure(frame, ["engine", "backend"], fits)
        >>> notes
        ['e / b: Spearman rho needs >= 3 rows with >= 1e7 MACs (has 2)']
    """
    notes: list[str] = []
    data = _ok(df)
    zero = data[data["model_macs"] <= 0]
    if len(zero):
        notes.append(
            f"{len(zero)} measured row(s) with 0 model MACs (L = 1) are not on the log axes"
        )
    data = data[data["model_macs"] > 0]
    panels = _panels(data, cols)
    if not panels:
        return note_figure("Measured time vs model multiply-adds", ["no measured rows"]), [
            "measured_vs_model: no measured rows"
        ]
    fig, axes = _grid(len(panels))
    seen: dict[str, Line2D] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        for name in _strategy_order(group["strategy"]):
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
            seen.setdefault(name, _strategy_handle(name))
        lo, hi = float(group["model_macs"].min()), float(group["model_macs"].max())
        fit = fits.get(key)
        sub = group[group["model_macs"] >= SPEARMAN_MIN_MACS]
        rho = spearman(sub["model_macs"], sub["time_median_s"])
        if len(sub) < 3:
            notes.append(
                f"{panel_label(key)}: Spearman rho needs >= 3 rows with "
                f">= {_sci(SPEARMAN_MIN_MACS)} MACs (has {len(sub)})"
            )
        title = panel_label(key)
        if fit is not None:
            xs = np.geomspace(max(lo, fit.min_macs), hi, 50)
            ax.plot(xs, fit.predict(xs), color=_FIT_COLOUR, lw=1.5, zorder=3)
            ax.plot(xs, fit.seconds_per_mac * xs, color=_FIT_COLOUR, lw=1.0, ls=":", zorder=3)
            title += (
                f"\nslope {fit.slope:.2f} (n = {fit.n}), {fit.seconds_per_mac:.2g} s/MAC, "
                f"$\\rho$ = {_num(rho)} (n = {len(sub)})"
            )
        else:
            title += "\nno fit: < 2 distinct sizes above threshold"
            notes.append(f"{panel_label(key)}: too few rows >= {_sci(FIT_MIN_MACS)} MACs to fit")
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
        Line2D([], [], color=_FIT_COLOUR, lw=1.5, label="log-log least-squares fit"),
        Line2D([], [], color=_FIT_COLOUR, lw=1.0, ls=":", label="slope 1: t = (s/MAC) · MACs"),
        Patch(color="0.92", label=f"< {_sci(FIT_MIN_MACS)} MACs: not fitted"),
    ]
    _legend_outside(fig, handles)
    fig.suptitle(
        "Measured median time vs model multiply-adds "
        f"(fit over rows ≥ {_sci(FIT_MIN_MACS)} MACs; $\\rho$ = Spearman over rows ≥ "
        f"{_sci(SPEARMAN_MIN_MACS)} MACs)",
        fontsize=11,
    )
    return fig, notes


# ---------------------------------------------------------------------------------------------
# 2. crossover


def _log2_ratio_axis(ax: Axes) -> None:
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_ratio))
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
    good = (out["m_fwd"] > 0) & (out["m_rev"] > 0) & (out["ratio"] > 0) & np.isfinite(out["ratio"])
    return out[good]


def crossover_figure(
    df: pd.DataFrame, cols: Sequence[str], fits: dict[Panel, Fit | None]
) -> tuple[Figure, list[str]]:
    """Forward and reverse time against ``d_0/d_L`` on the crossover sweep, with the formulas.

    Top row: the slice of the ``(d_0, d_L)`` grid with the widest range of ``d_0/d_L`` (equal
    ``d_0 d_L``); measured forward and reverse times as points and the two multiply-add formulas
    times the panel's fitted seconds per multiply-add as dashed lines. Bottom row: every grid
    point's measured ``t_forward / t_reverse`` with the model's ratio beside it; the crossover is
    where the ratio crosses 1.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    data = _ok(df[df["sweep"] == "crossover"])
    panels = [(k, _pair_forward_reverse(g)) for k, g in _panels(data, cols)]
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
        bottom.axhline(1.0, color="0.6", lw=0.8, ls=":")
        bottom.axvline(1.0, color="0.6", lw=0.8, ls=":")
        bottom.set_yscale("log")
        _plain_log_axis(bottom.yaxis)
        _log2_ratio_axis(bottom)
        bottom.set_xlabel(r"$d_0 / d_L$  (input width / output width)")
        bottom.set_ylabel(r"$t_\mathrm{forward} / t_\mathrm{reverse}$  (> 1: reverse faster)")
        bottom.set_title(f"all {len(pairs)} grid points", fontsize=10)
        bottom.grid(True, which="major", alpha=0.3)
    handles = [
        _strategy_handle("forward", "forward, measured"),
        _strategy_handle("reverse", "reverse, measured"),
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
        Line2D([], [], marker="o", color="0.2", ls="none", label="measured ratio"),
        Line2D(
            [], [], marker="D", mfc="none", mec="#CC79A7", ls="none", label="model ratio (MACs)"
        ),
    ]
    _legend_outside(fig, handles)
    fig.suptitle(title + " (crossover sweep)", fontsize=11)
    return fig, notes


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
    panels = _panels(data, cols)
    if not panels:
        notes.append("memory_depth: no rows with sweep == 'depth'")
        return note_figure(title, notes), notes
    fig, axes = _grid(len(panels))
    seen: dict[str, Line2D] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        sources = sorted({s for s in group["mem_source"] if s})
        values = pd.concat([group["mem_model_bytes"], group["mem_measured_bytes"]])
        unit, scale = _byte_unit(values.max())
        any_measured = False
        for name in _strategy_order(group["strategy"]):
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
        if _spans_decades(values):
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
    _legend_outside(fig, handles)
    fig.suptitle(title + ": model (dashed) and measured (solid)", fontsize=11)
    return fig, notes


# ---------------------------------------------------------------------------------------------
# 4. speedup


def speedups(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Measured and predicted speedup of ``optimal`` over each baseline, per configuration.

    One row per (panel, profile, scale, widths, baseline) of the profiles sweep where both the
    optimal row and the baseline row were measured: ``measured = t_baseline / t_optimal`` and
    ``predicted = macs_baseline / macs_optimal``.

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "sweep": "profiles",
        ...     "profile": "funnel", "scale": "s", "widths": "8-4-2", "status": "ok",
        ...     "strategy": ["optimal", "forward"], "model_macs": [16, 96],
        ...     "time_median_s": [1.0, 4.0]})
        >>> speedups(frame, ["engine", "backend"])[["baseline", "measured", "predicted"]]
          baseline  measured  predicted
        0  forward       4.0        6.0
    """
    keys = [*cols, "profile", "scale", "widths"]
    data = _ok(df[df["sweep"] == "profiles"])
    if data.empty:
        return pd.DataFrame(columns=[*keys, "baseline", "measured", "predicted", "opt_macs"])
    wide = wide_by_strategy(data, keys, ["optimal", *SPEEDUP_BASELINES])
    rows = []
    for base in SPEEDUP_BASELINES:
        predicted = wide[("model_macs", base)] / wide[("model_macs", "optimal")]
        part = pd.DataFrame(
            {
                "baseline": base,
                "measured": wide[("time_median_s", base)] / wide[("time_median_s", "optimal")],
                "predicted": predicted.where(np.isfinite(predicted) & (predicted > 0)),
                "opt_macs": wide[("model_macs", "optimal")],
            }
        )
        rows.append(part.dropna(subset=["measured"]).reset_index())
    if not rows:
        return pd.DataFrame(columns=[*keys, "baseline", "measured", "predicted", "opt_macs"])
    return pd.concat(rows, ignore_index=True)


def speedup_figure(table: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Bars of the measured speedup of ``optimal`` per profile, the predicted ratio beside each.

    Uses the largest scale (most optimal-plan MACs) of each profile. Bars start at 1x, so a bar
    pointing down means the optimal plan was slower.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = "Speedup of the optimal plan (profiles sweep, largest scale of each profile)"
    if table.empty:
        notes.append("speedup: no profiles rows with both an optimal and a baseline measurement")
        return note_figure(title, notes), notes
    panels = _panels(table, cols)
    fig, axes = _grid(len(panels), ncols=2, size=(6.2, 4.2))
    seen: dict[str, Any] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        size = group["opt_macs"].fillna(-1.0)
        largest = group.loc[size.groupby(group["profile"]).idxmax(), ["profile", "scale"]]
        group = group.merge(largest, on=["profile", "scale"])
        profiles = sorted(group["profile"].unique())
        bases = [b for b in SPEEDUP_BASELINES if b in set(group["baseline"])]
        width = 0.8 / len(bases)
        for i, base in enumerate(bases):
            rows = group[group["baseline"] == base].set_index("profile").reindex(profiles)
            x = np.arange(len(profiles)) + (i - (len(bases) - 1) / 2) * width
            colour, _ = strategy_style(base)
            measured = rows["measured"].to_numpy(dtype=float)
            ax.bar(x, measured - 1.0, bottom=1.0, width=width * 0.9, color=colour)
            ax.plot(
                x,
                rows["predicted"].to_numpy(dtype=float),
                ls="none",
                marker="_",
                ms=max(4.0, 60 * width),
                mew=2.2,
                color="black",
            )
            seen.setdefault(base, Patch(color=colour, label=f"vs {base}, measured"))
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis)
        ax.axhline(1.0, color="0.3", lw=0.8)
        scales = group.drop_duplicates("profile").set_index("profile")["scale"]
        ax.set_xticks(range(len(profiles)))
        ax.set_xticklabels([f"{p}\n({scales[p]})" for p in profiles])
        ax.set_ylabel(r"speedup ($\times$) = $t_\mathrm{baseline} / t_\mathrm{optimal}$")
        ax.set_xlabel("width profile (scale)")
        ax.set_title(panel_label(key), fontsize=10)
        ax.grid(True, axis="y", which="major", alpha=0.3)
        lo = np.nanmin(group[["measured", "predicted"]].to_numpy(dtype=float))
        hi = np.nanmax(group[["measured", "predicted"]].to_numpy(dtype=float))
        ax.set_ylim(min(lo, 1.0) / 1.5, max(hi, 1.0) * 1.5)
    handles: list[Any] = list(seen.values())
    handles.append(
        Line2D(
            [],
            [],
            ls="none",
            marker="_",
            ms=14,
            mew=2.2,
            color="black",
            label="predicted\n(model MAC ratio)",
        )
    )
    _legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes


# ---------------------------------------------------------------------------------------------
# 5. winner map


def winners(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Per crossover grid point: the strategy the model predicts cheapest and the fastest measured.

    Only strategies measured at that grid point compete, and not JAX's own ``jacfwd`` /
    ``jacrev``: they are baselines that run the same tangents or adjoints as ``forward`` /
    ``reverse`` (equal model cost), so a race between twins would only map noise; the speedup
    plot compares against them. Where the optimal plan *is* forward or
    reverse (the same non-empty ``plan_formula``), its row is dropped: it is the same computation,
    and letting two timings of it compete would only pick noise. Model ties go to the first name
    in the order forward, reverse, optimal, balanced, ... so ``optimal`` wins the model map only
    where a mixed bracketing is strictly cheaper.

    Returns:
        One row per grid point: the panel columns, ``d_0``, ``d_L``, ``model`` and ``measured``
        (strategy names) and ``gap``: the measured winner's model MACs over the model pick's
        (1 when they agree; ``>= WINNER_MIN_GAP`` means the model was confidently wrong).

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "sweep": "crossover",
        ...     "d_0": 4, "d_L": 64, "status": "ok", "strategy": ["forward", "reverse", "optimal"],
        ...     "plan_formula": ["J2 J1", "J2 J1", "J2 J1"],
        ...     "model_macs": [90, 10, 10], "time_median_s": [3.0, 2.0, 1.0]})
        >>> winners(frame, ["engine", "backend"])[["model", "measured", "gap"]].values.tolist()
        [['reverse', 'reverse', 1.0]]
    """
    keys = [*cols, "d_0", "d_L"]
    data = _ok(df[df["sweep"] == "crossover"])
    data = data[~data["strategy"].isin(JAX_BASELINES)]
    if data.empty:
        return pd.DataFrame(columns=[*keys, "model", "measured", "gap"])
    if "plan_formula" in data:
        classic = data[data["strategy"].isin(["forward", "reverse"]) & (data["plan_formula"] != "")]
        same = data.merge(classic[[*keys, "plan_formula"]], on=[*keys, "plan_formula"])
        same = same[same["strategy"] == "optimal"].drop_duplicates(keys)[keys]
        flag = data[keys].merge(same.assign(_same=True), on=keys, how="left")["_same"]
        data = data[~((data["strategy"] == "optimal") & flag.fillna(False).to_numpy(dtype=bool))]
    rank = {name: i for i, name in enumerate(_ORDER)}
    data = data.assign(_rank=data["strategy"].map(lambda s: rank.get(s, len(rank))))
    model = data.sort_values(["model_macs", "_rank", "strategy"]).groupby(keys).head(1)
    fastest = data.sort_values(["time_median_s", "_rank"]).groupby(keys).head(1)
    out = model[[*keys, "strategy", "model_macs"]].rename(
        columns={"strategy": "model", "model_macs": "_m_model"}
    )
    out = out.merge(
        fastest[[*keys, "strategy", "model_macs"]].rename(
            columns={"strategy": "measured", "model_macs": "_m_measured"}
        ),
        on=keys,
    )
    out["gap"] = out["_m_measured"] / out["_m_model"]
    out = out.drop(columns=["_m_model", "_m_measured"])
    return out.sort_values(keys).reset_index(drop=True)


def winner_map_figure(table: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Two maps over the crossover grid per engine/backend: model-cheapest and measured-fastest.

    Cells where the two disagree are crossed out on the measured map.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = r"Winner map over the crossover grid ($d_0$, $d_L$)"
    if table.empty:
        notes.append("winner_map: no measured rows with sweep == 'crossover'")
        return note_figure(title, notes), notes
    panels = _panels(table, cols)
    n = len(panels)
    fig = Figure(figsize=(8.4 + 1.8, 3.9 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False)
    names = _strategy_order(pd.concat([table["model"], table["measured"]]))
    code = {name: i for i, name in enumerate(names)}
    colours = [strategy_style(name)[0] for name in names]
    cmap = ListedColormap(colours).with_extremes(bad="white")
    for i, (key, group) in enumerate(panels):
        d0s = sorted(group["d_0"].unique())
        dls = sorted(group["d_L"].unique())
        agree = int((group["model"] == group["measured"]).sum())
        wrong = int((group["gap"] >= WINNER_MIN_GAP).sum())
        for j, column in enumerate(("model", "measured")):
            ax = axes[i, j]
            grid = np.full((len(dls), len(d0s)), np.nan)
            for _, row in group.iterrows():
                grid[dls.index(row["d_L"]), d0s.index(row["d_0"])] = code[row[column]]
            ax.imshow(
                np.ma.masked_invalid(grid),
                cmap=cmap,
                vmin=-0.5,
                vmax=len(names) - 0.5,
                origin="lower",
                aspect="auto",
            )
            if column == "measured":
                for _, row in group[group["model"] != group["measured"]].iterrows():
                    sure = row["gap"] >= WINNER_MIN_GAP
                    ax.plot(
                        d0s.index(row["d_0"]),
                        dls.index(row["d_L"]),
                        marker="x" if sure else "o",
                        mfc="none",
                        color="black",
                        ms=10 if sure else 7,
                        mew=2 if sure else 1.2,
                    )
            same = [(d0s.index(v), dls.index(v)) for v in d0s if v in dls]
            if len(same) > 1:
                ax.plot(*zip(*same, strict=True), color="white", lw=1.0, ls="--")
            ax.set_xticks(range(len(d0s)), [f"{v:g}" for v in d0s])
            ax.set_yticks(range(len(dls)), [f"{v:g}" for v in dls])
            ax.set_xlabel(r"$d_0$ (input width)")
            ax.set_ylabel(r"$d_L$ (output width)")
            what = "model predicts cheapest" if column == "model" else "measured fastest"
            extra = (
                f"\nsame as model in {agree}/{len(group)} cells, "
                f"model ≥ {WINNER_MIN_GAP:g}$\\times$ wrong in {wrong}"
                if column == "measured"
                else "\n(ties: forward, reverse before optimal)"
            )
            ax.set_title(f"{panel_label(key)}: {what}{extra}", fontsize=10)
    handles: list[Any] = [Patch(color=colours[code[name]], label=name) for name in names]
    handles.append(
        Line2D(
            [],
            [],
            marker="x",
            color="black",
            ls="none",
            mew=2,
            label=f"≠ model; model predicted\nthis ≥ {WINNER_MIN_GAP:g}$\\times$ more MACs",
        )
    )
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            mfc="none",
            color="black",
            ls="none",
            label=f"≠ model; model gap < {WINNER_MIN_GAP:g}$\\times$",
        )
    )
    handles.append(Line2D([], [], color="0.5", ls="--", label=r"$d_0 = d_L$"))
    _legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes
