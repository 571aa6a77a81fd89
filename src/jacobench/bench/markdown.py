"""The Markdown of ``results/REPORT.md``: the models' fidelity figures and every section.

:func:`fidelity` computes the figures per engine/backend panel; :func:`render` writes the report
around them from the cleaned results table (:func:`jacobench.bench.report.load_results`). Nothing
is drawn, timed or written here; :func:`jacobench.bench.report.make_report` saves the text. The
time model's section is written by :mod:`jacobench.bench.markdown_time`, the second-order one by
:mod:`jacobench.bench.markdown_hessian`.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "status": "ok",
    ...     "sweep": "profiles", "profile": "p", "scale": "s", "widths": ["8-4-2", "16-4-2"],
    ...     "strategy": "forward", "d_0": [8, 16], "d_L": 2,
    ...     "model_macs": [1e6, 1e7], "time_median_s": [1e-3, 1e-2]})
    >>> figures = fidelity(frame, ["engine", "backend"], {("e", "b"): None})["e / b"]
    >>> figures["measured_rows"], figures["winner_decided"]
    (2, 0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._text import compact_widths, markdown_table
from . import speedups
from .markdown_hessian import hessian_section
from .markdown_time import time_section
from .plots.common import (
    FIT_MIN_MACS,
    SPEARMAN_MIN_MACS,
    WINNER_MIN_GAP,
    Fit,
    Panel,
    format_number,
    format_sci,
    format_seconds,
    panel_label,
    spearman,
    wide_by_strategy,
)
from .plots.winners import winners
from .tidy import UNSTABLE_IQR_RATIO

__all__ = ["CAPTIONS", "MAX_LISTED", "fidelity", "render"]

MAX_LISTED = 30
"""At most this many unstable or skipped rows are listed; the rest are counted."""

CAPTIONS = {
    "measured_vs_model.png": "Measured median time against model multiply-adds (log-log), "
    "with the fitted line per engine/backend.",
    "crossover.png": "Forward vs reverse time against d_0/d_L at fixed depth, with the two "
    "formulas scaled by the fitted seconds per multiply-add and the time model's predicted "
    "seconds.",
    "memory_depth.png": "Peak memory against depth: model (dashed) and measured (solid).",
    "speedup.png": "Measured speedup of the optimal plan per profile; the black tick is the "
    "model's predicted ratio.",
    "winner_map.png": "Cheapest strategy by the model and fastest measured, over the (d_0, d_L) "
    "grid.",
    "hessian_depth.png": "Second order against depth (engine hessian): time and peak memory of "
    "the HVP modes (top) and the Hessian strategies (bottom); memory measured solid, model "
    "dashed, one and two copies of the activations dotted.",
    "time_model.png": "Measured against predicted seconds (the time model, from the device "
    "profile's micro-benchmarks), log-log, with y = x and the ±30 % band.",
}
"""A caption for each plot, by file name, in the order the report shows them."""


# ---------------------------------------------------------------------------------------------
# Fidelity figures


def _winner_accuracy(data: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    keys = [*cols, "sweep", "profile", "scale", "widths"]
    fr = data[data["strategy"].isin(["forward", "reverse"])]
    if fr.empty:
        return pd.DataFrame(columns=[*cols, "decided", "correct"])
    wide = wide_by_strategy(fr, keys, ["forward", "reverse"])
    mf, mr = wide[("model_macs", "forward")], wide[("model_macs", "reverse")]
    tf, tr = wide[("time_median_s", "forward")], wide[("time_median_s", "reverse")]
    lo, hi = pd.concat([mf, mr], axis=1).min(axis=1), pd.concat([mf, mr], axis=1).max(axis=1)
    decided = (lo > 0) & (hi / lo >= WINNER_MIN_GAP) & tf.notna() & tr.notna()
    correct = decided & ((mf < mr) == (tf < tr))
    out = pd.DataFrame({"decided": decided, "correct": correct}).reset_index()
    return out[[*cols, "decided", "correct"]]


def fidelity(
    df: pd.DataFrame, cols: Sequence[str], fits: dict[Panel, Fit | None]
) -> dict[str, dict[str, Any]]:
    """The cost model's fidelity figures per panel (see :func:`jacobench.bench.report.make_report`).

    Args:
        df: The cleaned results table.
        cols: The panel columns.
        fits: The log-log fit of each panel (:func:`jacobench.bench.plots.fit_panels`).

    Returns:
        ``{panel label: figures}`` for every panel with measured rows.
    """
    data = df[(df["status"] == "ok") & (df["time_median_s"] > 0)]
    accuracy = _winner_accuracy(data, cols)
    wins = winners(df, cols)
    out: dict[str, dict[str, Any]] = {}
    for key, group in data.groupby(list(cols), sort=True) if not data.empty else []:
        key = key if isinstance(key, tuple) else (key,)
        fit = fits.get(key)
        big = group[group["model_macs"] >= SPEARMAN_MIN_MACS]
        pos = group[group["model_macs"] > 0]
        acc = accuracy
        for c, v in zip(cols, key, strict=True):
            acc = acc[acc[c] == v]
        decided = int(acc["decided"].sum())
        correct = int(acc["correct"].sum())
        grid = wins
        for c, v in zip(cols, key, strict=True):
            grid = grid[grid[c] == v]
        out[panel_label(key)] = {
            "measured_rows": len(group),
            "slope": fit.slope if fit else math.nan,
            "seconds_per_mac": fit.seconds_per_mac if fit else math.nan,
            "fit_rows": fit.n if fit else 0,
            "spearman": spearman(big["model_macs"], big["time_median_s"]),
            "spearman_rows": len(big),
            "spearman_all": spearman(pos["model_macs"], pos["time_median_s"]),
            "winner_decided": decided,
            "winner_correct": correct,
            "winner_accuracy": correct / decided if decided else math.nan,
            "map_cells": len(grid),
            "map_agree": int((grid["model"] == grid["measured"]).sum()),
            "map_confidently_wrong": int((grid["gap"] >= WINNER_MIN_GAP).sum()),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Markdown


def _capped(rows: list[Sequence[object]]) -> tuple[list[Sequence[object]], str]:
    if len(rows) <= MAX_LISTED:
        return rows, ""
    return rows[:MAX_LISTED], f"\n\n... and {len(rows) - MAX_LISTED} more (see the CSV)."


def _environment(meta: dict[str, Any] | None, source: str, df: pd.DataFrame) -> str:
    rows: list[tuple[str, object]] = []
    if meta is not None:
        for key in ("run_id", "timestamp_utc", "grid", "device", "cpu_model", "cpu_count"):
            if key in meta:
                rows.append((key, meta[key]))
        for name, version in (meta.get("versions") or {}).items():
            rows.append((f"version: {name}", version))
        for name, value in (meta.get("env") or {}).items():
            rows.append((f"env: {name}", value))
        git = meta.get("git") or {}
        if git:
            dirty = " (dirty)" if git.get("dirty") else ""
            rows.append(("git commit", f"{git.get('commit', '?')}{dirty}"))
    else:
        for col in ("run_id", "device", "dtype"):
            values = sorted({v for v in df[col] if v})
            rows.append((col, ", ".join(values) or "n/a"))
    return f"From {source}.\n\n" + markdown_table(["", "value"], rows)


def _fidelity_md(fidelity: dict[str, dict[str, Any]]) -> str:
    if not fidelity:
        return "No measured rows, so no fidelity figures."
    rows = []
    for label, f in fidelity.items():
        spm = f["seconds_per_mac"]
        rate = f"{1e-9 / spm:.3g}" if math.isfinite(spm) and spm > 0 else "n/a"
        acc = (
            f"{f['winner_correct']}/{f['winner_decided']} ({f['winner_accuracy']:.0%})"
            if f["winner_decided"]
            else "n/a (no case)"
        )
        rows.append(
            [
                label,
                f["measured_rows"],
                f"{format_number(f['slope'], '.3f')} (n = {f['fit_rows']})",
                format_number(spm, ".3g"),
                rate,
                f"{format_number(f['spearman'], '.3f')} (n = {f['spearman_rows']})",
                format_number(f["spearman_all"], ".3f"),
                acc,
                (
                    f"{f['map_agree']}/{f['map_cells']} ({f['map_confidently_wrong']} wrong "
                    f"by ≥ {WINNER_MIN_GAP:g}x)"
                    if f["map_cells"]
                    else "n/a"
                ),
            ]
        )
    headers = [
        "engine / backend",
        "measured rows",
        "fitted slope",
        "s per MAC",
        "GMAC/s",
        f"Spearman rho (≥ {format_sci(SPEARMAN_MIN_MACS)} MACs)",
        "Spearman rho (all)",
        f"fwd/rev winner right (gap ≥ {WINNER_MIN_GAP:g}x)",
        "winner map agrees",
    ]
    return (
        markdown_table(headers, rows)
        + "\n\n"
        + f"- *fitted slope*: least squares of log10(time) on log10(model MACs) over rows with "
        f"≥ {format_sci(FIT_MIN_MACS)} MACs; 1 means time is proportional to the model.\n"
        "- *s per MAC*: the same fit with the slope held at 1 (geometric mean of time / MACs); "
        "GMAC/s is its inverse.\n"
        "- *Spearman rho*: rank correlation of model MACs and median time, all strategies and "
        "sweeps of the engine/backend together.\n"
        f"- *fwd/rev winner right*: configurations where the model's forward and reverse "
        f"MACs differ by ≥ {WINNER_MIN_GAP:g}x, and the faster measured one is the one the model "
        "predicts.\n"
        "- *winner map agrees*: crossover grid cells where the fastest measured strategy is the "
        "one the model predicts cheapest; *wrong by ≥ 2x*: cells where the measured winner has "
        "at least that many times the model pick's MACs (see the winner map; an optimal plan "
        "that is forward or reverse itself is not timed against its twin).\n"
    )


def _speedups_md(table: pd.DataFrame, cols: Sequence[str]) -> str:
    if table.empty:
        return "No profiles rows with both an optimal and a baseline measurement."
    top = table.sort_values("measured", ascending=False).head(10)
    rows = [
        [
            panel_label(tuple(r[c] for c in cols)),
            r["profile"],
            r["scale"],
            compact_widths(r["widths"]),
            r["baseline"],
            f"{r['measured']:.3g}x",
            f"{r['predicted']:.3g}x",
        ]
        for _, r in top.iterrows()
    ]
    headers = ["engine / backend", "profile", "scale", "widths", "over", "measured", "predicted"]
    return (
        markdown_table(headers, rows)
        + "\n\nmeasured = t_baseline / t_optimal; predicted = MAC ratio."
    )


def _plans_md(df: pd.DataFrame) -> str:
    opt = df[(df["sweep"] == "profiles") & (df["strategy"] == "optimal")]
    if opt.empty:
        return "No optimal rows in the profiles sweep."
    opt = opt.drop_duplicates(["profile", "scale", "widths", "engine", "plan_formula"])
    opt = opt.sort_values(["profile", "model_macs", "engine"])
    rows = []
    for _, r in opt.iterrows():
        fwd, rev, macs = r["model_forward_macs"], r["model_reverse_macs"], r["model_macs"]
        best = min(fwd, rev)
        gain = f"{best / macs:.3g}x" if macs > 0 and math.isfinite(best) else "n/a"
        rows.append(
            [
                r["profile"],
                r["scale"],
                compact_widths(r["widths"]),
                r["engine"],
                f"`{r['plan_formula']}`" if r["plan_formula"] else "n/a",
                f"{int(macs):,}" if math.isfinite(macs) else "n/a",
                gain,
            ]
        )
    headers = ["profile", "scale", "widths", "engine", "optimal plan", "MACs", "vs best of fwd/rev"]
    return markdown_table(headers, rows)


def _auto_md(df: pd.DataFrame, cols: Sequence[str]) -> str:
    """The ``auto`` engine's models: jacobench.jacobian(f, x) beside jax.jacfwd and jax.jacrev."""
    auto = df[(df["engine"] == "auto") & (df["status"] == "ok")]
    if auto.empty:
        return "No rows of the auto engine (`jacobench bench --engine auto`)."
    rows = []
    keys = [*cols, "profile", "scale"]
    for key, group in auto.groupby(keys, sort=False, dropna=False):
        t = dict(zip(group["strategy"], group["time_median_s"], strict=False))
        if not {"auto", "jacfwd", "jacrev"} <= set(t):
            continue
        mine = group[group["strategy"] == "auto"].iloc[0]
        best = min(t["jacfwd"], t["jacrev"])
        measured = best / t["auto"]
        predicted = min(mine["model_forward_macs"], mine["model_reverse_macs"]) / mine["model_macs"]
        rows.append(
            [
                panel_label(tuple(key[: len(cols)])),
                mine["profile"],
                mine.get("library", ""),
                compact_widths(mine["widths"]),
                f"`{mine['plan_formula']}`",
                format_seconds(t["auto"]),
                format_seconds(t["jacfwd"]),
                format_seconds(t["jacrev"]),
                f"{measured:.3g}x",
                f"{predicted:.3g}x",
                f"{measured / predicted:.2f}",
            ]
        )
    if not rows:
        return "No model with all of auto, jacfwd and jacrev measured."
    headers = [
        "engine / backend",
        "model",
        "library",
        "discovered widths",
        "plan",
        "auto",
        "jax.jacfwd",
        "jax.jacrev",
        "measured",
        "predicted",
        "measured / predicted",
    ]
    return markdown_table(headers, rows) + (
        "\n\nmeasured = the faster of jax.jacfwd and jax.jacrev over auto (jacobench.jacobian "
        "on the plain function); predicted = their MAC ratio, with the per-segment costs counted "
        "from the jaxpr."
    )


def _unstable_md(df: pd.DataFrame, cols: Sequence[str]) -> str:
    bad = df[df["unstable"] & (df["status"] == "ok")]
    if bad.empty:
        return f"None: every measured row has IQR / median ≤ {UNSTABLE_IQR_RATIO:.0%}."
    rows: list[Sequence[object]] = [
        [
            panel_label(tuple(r[c] for c in cols)),
            r["sweep"],
            r["profile"],
            compact_widths(r["widths"]),
            r["strategy"],
            format_seconds(r["time_median_s"]),
            format_number(100 * r["time_iqr_s"] / r["time_median_s"], ".0f") + " %",
        ]
        for _, r in bad.iterrows()
    ]
    shown, more = _capped(rows)
    headers = ["engine / backend", "sweep", "profile", "widths", "strategy", "median", "IQR/median"]
    return markdown_table(headers, shown) + more


def _skipped_md(df: pd.DataFrame, cols: Sequence[str]) -> str:
    skipped = df[df["status"] != "ok"]
    if skipped.empty:
        return "None."
    rows: list[Sequence[object]] = [
        [
            panel_label(tuple(r[c] for c in cols)),
            r["sweep"],
            r["profile"],
            compact_widths(r["widths"]),
            r["strategy"],
            r["status"] or "(empty)",
            r["skip_reason"] or "(no reason given)",
        ]
        for _, r in skipped.iterrows()
    ]
    shown, more = _capped(rows)
    headers = ["engine / backend", "sweep", "profile", "widths", "strategy", "status", "reason"]
    return markdown_table(headers, shown) + more


def render(
    *,
    csv_path: Path,
    report_path: Path,
    plot_paths: dict[str, Path],
    df: pd.DataFrame,
    cols: Sequence[str],
    meta: dict[str, Any] | None,
    meta_source: str,
    fidelity: dict[str, dict[str, Any]],
    speedup_table: pd.DataFrame,
    notes: Sequence[str],
    time_fidelity: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The whole Markdown report; plots are linked relative to ``report_path``'s folder."""
    measured = int((df["status"] == "ok").sum())
    plots = "\n\n".join(
        f"### {name}\n\n{CAPTIONS[name]}\n\n"
        f"![{name}]({Path(os.path.relpath(path, report_path.parent)).as_posix()})"
        for name, path in plot_paths.items()
    )
    parts = [
        "# jacobench benchmark report",
        f"Generated by `python -m jacobench.bench.report` from `{csv_path}`: {len(df)} rows, "
        f"{measured} measured, {len(df) - measured} skipped. Do not edit; rerun `make plots` "
        "or `jacobench plot`.",
        "## Environment",
        _environment(meta, meta_source, df),
        "## Fidelity of the cost model",
        _fidelity_md(fidelity),
        "## Fidelity of the time model",
        time_section(time_fidelity or {}, meta, df),
        "## Largest speedups of the optimal plan",
        _speedups_md(speedup_table, cols),
        "## Matrix-free: optimal against the faster of jax.jacfwd / jax.jacrev",
        speedups.format_table(speedups.table(df), markdown=True)
        + "\n\nmeasured = min(t_jacfwd, t_jacrev) / t_optimal; predicted = MAC ratio; "
        "fraction = measured / predicted; work = the multiply-adds the faster mode's program "
        "runs over the optimal plan's (`jacobench.bench.speedups.executed_macs`) and of work = "
        "measured / work (jacfwd's first product, the first layer times the identity, is the "
        "same for every point, so `jax.vmap` leaves it unbatched and it runs once for the batch: "
        "vmapped jacfwd runs less than its MAC count); "
        "by time = min(t_jacfwd, t_jacrev) / t_optimal_time, "
        "the plan of least predicted seconds (on chains whose modes tie in multiply-adds the "
        "optimal plan may take the slower one); batch > 1: per-example Jacobians of that many "
        "points in one call (`jax.vmap`).",
        "## Optimal plan per profile",
        _plans_md(df),
        "## Any function: the auto engine's models",
        _auto_md(df, cols),
        "## Second order: Hessian-vector products and Hessians",
        hessian_section(df),
        "## Plots",
        plots,
        "## Unstable rows",
        _unstable_md(df, cols),
        "## Skipped rows",
        _skipped_md(df, cols),
        "## Notes",
        "\n".join(f"- {n}" for n in notes) if notes else "None.",
    ]
    return "\n\n".join(parts) + "\n"
