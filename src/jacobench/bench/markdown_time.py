"""The time-model section of ``results/REPORT.md``: "Fidelity of the time model".

:func:`_time_fidelity_md` tabulates the figures of :func:`jacobench.bench.plots.time_fidelity`
(predicted against measured seconds per engine / backend / device); :func:`_weight_reads_md` adds
how far JAX's weight-read curve moved over the run, and :func:`_spells_md` what the sentinel
(:mod:`jacobench.bench.sentinel`) saw; :func:`time_section` joins the three, for
:func:`jacobench.bench.markdown.render` to put under the section's heading. Nothing is computed,
drawn, timed or written here.

Example:
    >>> _worst_text({"worst_ratio": 1.15, "worst_row": "chain"}, "worst_ratio", "worst_row")
    '1.15x (chain)'
    >>> _time_fidelity_md({}).split(":")[0]
    'No rows with `model_seconds`'
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .._text import markdown_table
from ..units import format_bytes
from .plots.common import format_number, format_seconds
from .plots.time_model import CLEAR_GAP, TIME_MIN_S, WINNER_TOLERANCE, WITHIN
from .sentinel import SPELL

__all__ = ["time_section"]


def _worst_text(figures: dict[str, Any], ratio: str, where: str, note: str = "") -> str:
    """``"1.15x (chain; note)"`` from a panel's figures, or ``"n/a"`` where there is no ratio."""
    value = figures.get(ratio, math.nan)
    return f"{value:.2f}x ({figures[where]}{note})" if math.isfinite(value) else "n/a"


def _time_fidelity_md(figures: dict[str, dict[str, Any]]) -> str:
    if not figures:
        return (
            "No rows with `model_seconds`: the run had no device profile (see `jacobench "
            "calibrate` and `jacobench bench --profile`)."
        )
    rows = []
    for label, f in figures.items():
        winners = (
            f"{f['winner_right']}/{f['winner_configs']} "
            f"({f['winner_right'] / f['winner_configs']:.0%})"
            if f["winner_configs"]
            else "n/a"
        )
        gap = f.get("worst_gap", math.nan)
        apart_note = f"; predicted {gap:.2f}x apart" if math.isfinite(gap) else ""
        worst = _worst_text(f, "worst_ratio", "worst_row", apart_note)
        clear = _worst_text(f, "worst_ratio_clear", "worst_row_clear")
        if clear != "n/a":
            clear += f", of {f['clear_chains']} chains"
        apart = _worst_text(f, "worst_ratio_apart", "worst_row_apart")
        rows.append(
            [
                label,
                f"{f['rows']} of {f['rows_all']}",
                format_number(f["spearman"], ".3f"),
                format_number(f["median_abs_log10"], ".3f"),
                format_number(100 * f["within"], ".0f") + " %"
                if math.isfinite(f["within"])
                else "n/a",
                format_number(f["median_ratio"], ".2f"),
                winners,
                worst,
                clear,
                apart,
            ]
        )
    headers = [
        "engine / backend / device",
        f"rows ≥ {format_seconds(TIME_MIN_S)}",
        "Spearman rho",
        "median abs log10(measured / predicted)",
        f"within ±{WITHIN - 1:.0%}",
        "median measured / predicted",
        f"winner right (within {WINNER_TOLERANCE - 1:.0%})",
        "optimal_time vs best of fwd/rev/opt, worst (timed together)",
        f"the same, chains predicted ≥ {CLEAR_GAP:.1f}x apart",
        "the same, rows timed apart",
    ]
    return (
        markdown_table(headers, rows)
        + "\n\n"
        + "`model_seconds` is `jacobench.predict_seconds` of the row's plan on the run's device "
        "profile, measured by micro-benchmarks before the run (never fitted to these rows).\n\n"
        f"- The first five figures are over rows measured at ≥ {format_seconds(TIME_MIN_S)} "
        "(below, a call's fixed cost and timer noise dominate); a median abs log10 of 0.08 is "
        "a factor of about 1.2.\n"
        "- *winner right*: chains where the strategy with the least predicted seconds (of those "
        "the suite times, less `optimal_time` and JAX's `jacfwd`/`jacrev`) is measured within "
        f"{WINNER_TOLERANCE - 1:.0%} of the fastest, over all rows.\n"
        "- *optimal_time ... worst*: the largest ratio of `optimal_time`'s time to the fastest of "
        "forward, reverse and optimal on the same chain, and that chain: *timed together* from "
        "each `optimal_time` row's `contest_ratio` (its program and theirs timed in interleaved "
        "bursts; where a row has none, its median over theirs), *rows timed apart* from the "
        "rows' own medians, each measured at its own moment. *Predicted apart*: the predicted "
        "seconds of the fastest of those running another plan over `optimal_time`'s (close to 1: "
        "a tie the model cannot call, since its errors are larger); *chains predicted ≥ "
        f"{CLEAR_GAP:.1f}x apart*: the worst over chains where the model's pick is a clear one.\n"
    )


def _weight_reads_md(meta: dict[str, Any] | None) -> str:
    """How far JAX's weight-read curve moved between calibration and the end of the run.

    Example:
        >>> text = _weight_reads_md({"weight_reads": {"footprints": [1048576, 16777216],
        ...     "at_calibration": [8.5e10, 5.0e10], "after_run": [7.5e10, 1.9e10]}})
        >>> text.split(": ")[1].split(". ")[0]
        '1 MiB 85 → 75, 16 MiB 50 → 19'
    """
    reads = (meta or {}).get("weight_reads")
    if not isinstance(reads, dict) or not reads.get("footprints"):
        return ""
    pairs = ", ".join(
        f"{format_bytes(int(f))} {then / 1e9:.0f} → {now / 1e9:.0f}"
        for f, then, now in zip(
            reads["footprints"], reads["at_calibration"], reads["after_run"], strict=True
        )
    )
    return (
        "\n\nJAX's weight reads (GB/s; see `jacobench calibrate`) at calibration, then measured "
        f"again after the rows: {pairs}. Rows that read their weights from a cache other programs "
        "share can only be as well predicted as this curve holds still."
    )


def _spells_md(df: pd.DataFrame) -> str:
    """What the sentinel saw (:mod:`jacobench.bench.sentinel`): spells waited out, rows timed again.

    Example:
        >>> frame = pd.DataFrame({"status": "ok", "sentinel_ratio": [1.0, 1.1, 1.6],
        ...     "spell_wait_s": [0.0, 2.5, 10.0], "retimed": [False, True, False],
        ...     "time_median_s": 1.0, "time_first_median_s": [math.nan, 1.4, math.nan]})
        >>> print(_spells_md(frame).strip())  # doctest: +NORMALIZE_WHITESPACE
        Spells of other work on the machine (the sentinel, `jacobench.bench.sentinel`): of 3
        timed rows, 2 waited for one to pass (12.5 s in all), 1 was timed again after one began
        during its rounds (its first timing 1.40x the second at the median), and 1 stands in a
        spell that the waiting budget did not outlast (`sentinel_ratio` ≥ 1.3).
    """
    ok = df[df["status"] == "ok"]
    if "sentinel_ratio" not in ok or ok["sentinel_ratio"].isna().all():
        return ""
    waited = ok["spell_wait_s"].fillna(0.0)
    again = ok[ok["retimed"].fillna(False).astype(bool)]
    slower = (again["time_first_median_s"] / again["time_median_s"]).median()
    stood = int((ok["sentinel_ratio"] >= SPELL).sum())

    def rows(n: int, verb: tuple[str, str]) -> str:
        return f"{n} {verb[0] if n == 1 else verb[1]}"

    first = f" ({'its' if len(again) == 1 else 'their'} first timing {slower:.2f}x the second "
    return (
        "\n\nSpells of other work on the machine (the sentinel, `jacobench.bench.sentinel`): of "
        f"{len(ok)} timed rows, {rows(int((waited > 0).sum()), ('waited', 'waited'))} for one "
        f"to pass ({waited.sum():.1f} s in all), "
        f"{rows(len(again), ('was', 'were'))} timed again after one began during "
        f"{'its' if len(again) == 1 else 'their'} rounds"
        + (first + "at the median)" if len(again) else "")
        + f", and {rows(stood, ('stands', 'stand'))} in a spell that the waiting budget did "
        f"not outlast (`sentinel_ratio` ≥ {SPELL:g})."
    )


def time_section(
    figures: dict[str, dict[str, Any]], meta: dict[str, Any] | None, df: pd.DataFrame
) -> str:
    """The section's text: the fidelity table, the weight reads, the spells.

    Args:
        figures: :func:`jacobench.bench.plots.time_fidelity` per panel (empty: no profile).
        meta: The run's sidecar, if any.
        df: The cleaned results table.
    """
    return _time_fidelity_md(figures) + _weight_reads_md(meta) + _spells_md(df)
