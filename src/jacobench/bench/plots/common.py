r"""What the plots and the report share: thresholds, fits, panels, styles and formats.

Internal to :mod:`jacobench.bench`: the figure modules (:mod:`.timing`, :mod:`.memory`,
:mod:`.winners`), :mod:`jacobench.bench.markdown` and :mod:`jacobench.bench.report` import from
here, and from nowhere else in the plotting code. Everything reads a :class:`pandas.DataFrame` in
the harness's CSV format (as cleaned by :func:`jacobench.bench.report.load_results`); nothing is
timed and nothing is written. Figures use matplotlib's object-oriented API (no ``pyplot``, so no
global state and no display backend).

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
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = [
    "FIT_COLOUR",
    "FIT_MIN_MACS",
    "JAX_BASELINES",
    "SPEARMAN_MIN_MACS",
    "SPEEDUP_BASELINES",
    "STRATEGY_ORDER",
    "WINNER_MIN_GAP",
    "Fit",
    "Panel",
    "byte_unit",
    "fit_loglog",
    "fit_panels",
    "format_number",
    "format_ratio",
    "format_sci",
    "format_seconds",
    "legend_outside",
    "measured_rows",
    "note_figure",
    "panel_columns",
    "panel_grid",
    "panel_label",
    "plain_log_axis",
    "spans_decades",
    "spearman",
    "split_panels",
    "strategy_handle",
    "strategy_order",
    "strategy_style",
    "wide_by_strategy",
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
    "optimal_time": ("#117733", "*"),
}
_SPARE_COLOURS = ("#999933", "#44AA99", "#332288", "#AA4499", "#661100", "#888888")
_SPARE_MARKERS = ("P", "X", "*", "h", "p", "8")
STRATEGY_ORDER = tuple(_STYLES)
"""Known strategies in the order legends list them and model ties are broken."""

JAX_BASELINES = ("jacfwd", "jacrev")
"""JAX's own Jacobian modes: baselines, not strategies of ours."""

FIT_COLOUR = "0.15"
"""The colour of fitted lines."""

Panel = tuple[Hashable, ...]
"""A panel's key: its values of the panel columns (engine, backend, ...)."""


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


def strategy_order(names: Iterable[str]) -> list[str]:
    """The distinct names, known strategies first in :data:`STRATEGY_ORDER`, others sorted.

    Example:
        >>> strategy_order(["zeta", "optimal", "forward", "optimal"])
        ['forward', 'optimal', 'zeta']
    """
    unique = set(names)
    known = [s for s in STRATEGY_ORDER if s in unique]
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


def split_panels(df: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Panel, pd.DataFrame]]:
    """The table split by the panel columns ``cols``: ``(key, rows)`` pairs, sorted by key."""
    if df.empty:
        return []
    return [
        (key if isinstance(key, tuple) else (key,), group)
        for key, group in df.groupby(list(cols), sort=True)
    ]


def measured_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that were measured: status ``ok`` and a positive median time."""
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
        for key, group in split_panels(measured_rows(df), cols)
    }


# ---------------------------------------------------------------------------------------------
# Figure helpers and formats


def panel_grid(
    n: int, *, ncols: int = 3, size: tuple[float, float] = (4.6, 3.8)
) -> tuple[Figure, Any]:
    """A figure with ``n`` axes in rows of ``ncols`` (of ``size`` inches each); spare axes hidden.

    Example:
        >>> fig, axes = panel_grid(4)
        >>> len(axes), sum(ax.get_visible() for ax in axes)
        (6, 4)
    """
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


def legend_outside(fig: Figure, handles: Sequence[Any]) -> None:
    """One legend for the whole figure, to the right of the panels (none without handles)."""
    if handles:
        fig.legend(handles=list(handles), loc="outside right center", frameon=False)


def strategy_handle(name: str, label: str | None = None, **kw: Any) -> Line2D:
    """A legend entry with the strategy's colour and marker."""
    colour, marker = strategy_style(name)
    return Line2D([], [], color=colour, marker=marker, linestyle="none", label=label or name, **kw)


def format_seconds(s: float) -> str:
    """Seconds with a unit, three significant digits.

    Example:
        >>> format_seconds(0.00123), format_seconds(2.0), format_seconds(float("nan"))
        ('1.23 ms', '2 s', 'n/a')
    """
    if not math.isfinite(s):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("ps", 1e-12)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.2g} s"


def byte_unit(largest: float) -> tuple[str, int]:
    """The binary unit, and its size in bytes, to show values up to ``largest`` bytes.

    Example:
        >>> byte_unit(3 * 2**20)
        ('MiB', 1048576)
    """
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if largest >= scale:
            return unit, scale
    return "bytes", 1


def format_ratio(value: float, _pos: object = None) -> str:
    """A ratio as ``4`` or ``1/4`` (a matplotlib tick formatter; ``_pos`` is unused).

    Example:
        >>> format_ratio(4.0), format_ratio(0.25)
        ('4', '1/4')
    """
    if value <= 0:
        return ""
    if value >= 1:
        return f"{value:g}"
    return f"1/{1 / value:g}"


def format_number(value: float | None, spec: str = ".3g") -> str:
    """``value`` in the format ``spec``; ``"n/a"`` for None, NaN and infinities.

    Example:
        >>> format_number(0.98765), format_number(0.98765, ".2f"), format_number(None)
        ('0.988', '0.99', 'n/a')
    """
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def format_sci(value: float) -> str:
    """One significant digit in scientific notation, without the exponent's sign and zeros.

    Example:
        >>> format_sci(1e6), format_sci(2.5e-7)
        ('1e6', '2e-7')
    """
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def plain_log_axis(axis: Any) -> None:
    """Label a log axis 0.1, 0.2, 0.5, 1, 2, 5, ... instead of powers of ten."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def spans_decades(values: Iterable[float], decades: float = 1.0) -> bool:
    """Whether the positive, finite ``values`` span at least ``decades`` powers of ten.

    Example:
        >>> spans_decades([1, 5, 20]), spans_decades([1, 5, 9])
        (True, False)
    """
    v = np.asarray([x for x in values if x > 0 and math.isfinite(x)], dtype=float)
    return len(v) > 1 and math.log10(v.max() / v.min()) >= decades
