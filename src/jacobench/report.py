"""Turn a results CSV into five PNG plots and a Markdown report; never times anything.

Reads only the CSV the benchmark harness writes (default ``results/latest.csv``) and, when it is
there, the run's sidecar JSON next to it (``<run_id>.json``) for the environment section. Writes
``plots/*.png`` and ``results/REPORT.md``. Uses pandas and matplotlib (no ``pyplot``, no display),
never JAX; ``import jacobench`` does not import this module.

Every output is first written to a temporary file beside its destination; only when all of them
have been drawn are they renamed into place, so a failure leaves the previous files untouched.

Command line::

    python -m jacobench.report [--csv PATH] [--plots-dir DIR] [--report PATH]

A bad CSV (missing file, missing required columns) prints one line to stderr and exits with
status 2.

Example:
    >>> make_report("no/such/results.csv")
    Traceback (most recent call last):
    ...
    jacobench.errors.JacobenchError: results CSV 'no/such/results.csv' does not exist; run \
`make bench` first or pass --csv PATH
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from . import plots as P
from .errors import JacobenchError

__all__ = [
    "PLOT_FILES",
    "REQUIRED_COLUMNS",
    "WINNER_MIN_GAP",
    "load_results",
    "main",
    "make_report",
]

REQUIRED_COLUMNS = (
    "engine",
    "backend",
    "sweep",
    "profile",
    "strategy",
    "widths",
    "depth",
    "d_0",
    "d_L",
    "model_macs",
    "model_forward_macs",
    "model_reverse_macs",
    "time_median_s",
    "status",
)
"""Columns without which no plot can be drawn; the others of the CSV contract are optional."""

_OPTIONAL_TEXT = ("run_id", "device", "dtype", "scale", "plan_formula", "mem_source", "skip_reason")
_OPTIONAL_NUMBERS = (
    "xla_flops",
    "time_min_s",
    "time_iqr_s",
    "rounds",
    "compile_s",
    "mem_model_bytes",
    "mem_measured_bytes",
    "max_abs_error",
)
_NUMBERS = (
    "depth",
    "d_0",
    "d_L",
    "model_macs",
    "model_forward_macs",
    "model_reverse_macs",
    "time_median_s",
    *_OPTIONAL_NUMBERS,
)

WINNER_MIN_GAP = P.WINNER_MIN_GAP
"""Forward/reverse winner accuracy counts configurations where the model predicts this gap."""

PLOT_FILES = (
    "measured_vs_model.png",
    "crossover.png",
    "memory_depth.png",
    "speedup.png",
    "winner_map.png",
)
"""The five PNG files written to the plots directory."""

_CAPTIONS = {
    "measured_vs_model.png": "Measured median time against model multiply-adds (log-log), "
    "with the fitted line per engine/backend.",
    "crossover.png": "Forward vs reverse time against d_0/d_L at fixed depth, with the two "
    "formulas scaled by the fitted seconds per multiply-add.",
    "memory_depth.png": "Peak memory against depth: model (dashed) and measured (solid).",
    "speedup.png": "Measured speedup of the optimal plan per profile; the black tick is the "
    "model's predicted ratio.",
    "winner_map.png": "Cheapest strategy by the model and fastest measured, over the (d_0, d_L) "
    "grid.",
}
_MAX_LISTED = 30
_DPI = 110


def load_results(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    r"""Read a results CSV, check its columns and give every column its type.

    Missing optional columns are added empty; numbers that do not parse become NaN;
    ``unstable`` becomes a bool; text columns get ``""`` for missing values.

    Args:
        csv_path: The CSV written by the benchmark harness.

    Returns:
        The table.

    Raises:
        JacobenchError: The file is missing, empty or unreadable, or lacks required columns
            (all of them are named).

    Example:
        >>> import io
        >>> load_results(io.StringIO("engine,backend\nexplicit,numpy\n"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: results CSV lacks required column(s) 'sweep', ...
    """
    where = f" {str(csv_path)!r}" if isinstance(csv_path, str | os.PathLike) else ""
    if where and not Path(csv_path).is_file():
        raise JacobenchError(
            f"results CSV{where} does not exist; run `make bench` first or pass --csv PATH"
        )
    text = ("widths", "scale", "unstable", *REQUIRED_COLUMNS[:5], *_OPTIONAL_TEXT)
    try:
        df = pd.read_csv(csv_path, dtype=dict.fromkeys(text, str))
    except pd.errors.EmptyDataError:
        raise JacobenchError(f"results CSV{where} is empty; expected a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise JacobenchError(f"results CSV{where} could not be parsed: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise JacobenchError(
            f"results CSV{where} lacks required column(s) "
            f"{', '.join(repr(c) for c in missing)}; expected the harness's columns "
            "(see jacobench.report.REQUIRED_COLUMNS)"
        )
    for col in _NUMBERS:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else math.nan
    for col in (*REQUIRED_COLUMNS[:6], "status", *_OPTIONAL_TEXT):
        df[col] = df[col].fillna("").astype(str).str.strip() if col in df else ""
    if "unstable" in df:
        flags = df["unstable"].fillna("").astype(str).str.strip().str.lower()
        df["unstable"] = flags.isin(["true", "1", "yes"])
    else:
        df["unstable"] = False
    return df


class _Staged:
    """Temporary files beside their destinations, renamed into place only on success."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def temp_for(self, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        self._pending.append((Path(name), final))
        return Path(name)

    def __enter__(self) -> _Staged:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            for tmp, final in self._pending:
                os.replace(tmp, final)
        else:
            for tmp, _ in self._pending:
                tmp.unlink(missing_ok=True)


def _save(fig: Figure, final: Path, staged: _Staged) -> None:
    fig.savefig(staged.temp_for(final), format="png", dpi=_DPI, bbox_inches="tight")


def _read_sidecar(csv_path: Path, df: pd.DataFrame) -> tuple[dict[str, Any] | None, str]:
    run_ids = sorted({r for r in df["run_id"] if r})
    if len(run_ids) != 1:
        why = "no run_id in the CSV" if not run_ids else f"several run_ids {run_ids}"
        return None, f"no sidecar JSON read: {why}"
    path = csv_path.parent / f"{run_ids[0]}.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"no sidecar JSON at {path}"
    except (OSError, ValueError) as exc:
        return None, f"sidecar JSON {path} unreadable: {exc}"
    if not isinstance(meta, dict):
        return None, f"sidecar JSON {path} is not an object"
    return meta, f"sidecar JSON {path}"


# ---------------------------------------------------------------------------------------------
# Fidelity figures


def _winner_accuracy(data: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    keys = [*cols, "sweep", "profile", "scale", "widths"]
    fr = data[data["strategy"].isin(["forward", "reverse"])]
    if fr.empty:
        return pd.DataFrame(columns=[*cols, "decided", "correct"])
    wide = P.wide_by_strategy(fr, keys, ["forward", "reverse"])
    mf, mr = wide[("model_macs", "forward")], wide[("model_macs", "reverse")]
    tf, tr = wide[("time_median_s", "forward")], wide[("time_median_s", "reverse")]
    lo, hi = pd.concat([mf, mr], axis=1).min(axis=1), pd.concat([mf, mr], axis=1).max(axis=1)
    decided = (lo > 0) & (hi / lo >= WINNER_MIN_GAP) & tf.notna() & tr.notna()
    correct = decided & ((mf < mr) == (tf < tr))
    out = pd.DataFrame({"decided": decided, "correct": correct}).reset_index()
    return out[[*cols, "decided", "correct"]]


def _fidelity(
    df: pd.DataFrame, cols: Sequence[str], fits: dict[P.Panel, P.Fit | None]
) -> dict[str, dict[str, Any]]:
    data = df[(df["status"] == "ok") & (df["time_median_s"] > 0)]
    accuracy = _winner_accuracy(data, cols)
    wins = P.winners(df, cols)
    out: dict[str, dict[str, Any]] = {}
    for key, group in data.groupby(list(cols), sort=True) if not data.empty else []:
        key = key if isinstance(key, tuple) else (key,)
        fit = fits.get(key)
        big = group[group["model_macs"] >= P.SPEARMAN_MIN_MACS]
        pos = group[group["model_macs"] > 0]
        acc = accuracy
        for c, v in zip(cols, key, strict=True):
            acc = acc[acc[c] == v]
        decided = int(acc["decided"].sum())
        correct = int(acc["correct"].sum())
        grid = wins
        for c, v in zip(cols, key, strict=True):
            grid = grid[grid[c] == v]
        out[P.panel_label(key)] = {
            "measured_rows": len(group),
            "slope": fit.slope if fit else math.nan,
            "seconds_per_mac": fit.seconds_per_mac if fit else math.nan,
            "fit_rows": fit.n if fit else 0,
            "spearman": P.spearman(big["model_macs"], big["time_median_s"]),
            "spearman_rows": len(big),
            "spearman_all": P.spearman(pos["model_macs"], pos["time_median_s"]),
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


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float, spec: str = ".3g") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _capped(rows: list[Sequence[object]]) -> tuple[list[Sequence[object]], str]:
    if len(rows) <= _MAX_LISTED:
        return rows, ""
    return rows[:_MAX_LISTED], f"\n\n... and {len(rows) - _MAX_LISTED} more (see the CSV)."


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
    return f"From {source}.\n\n" + _table(["", "value"], rows)


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
                f"{_num(f['slope'], '.3f')} (n = {f['fit_rows']})",
                _num(spm, ".3g"),
                rate,
                f"{_num(f['spearman'], '.3f')} (n = {f['spearman_rows']})",
                _num(f["spearman_all"], ".3f"),
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
        f"Spearman rho (≥ {P._sci(P.SPEARMAN_MIN_MACS)} MACs)",
        "Spearman rho (all)",
        f"fwd/rev winner right (gap ≥ {WINNER_MIN_GAP:g}x)",
        "winner map agrees",
    ]
    return (
        _table(headers, rows)
        + "\n\n"
        + f"- *fitted slope*: least squares of log10(time) on log10(model MACs) over rows with "
        f"≥ {P._sci(P.FIT_MIN_MACS)} MACs; 1 means time is proportional to the model.\n"
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
            P.panel_label(tuple(r[c] for c in cols)),
            r["profile"],
            r["scale"],
            r["widths"],
            r["baseline"],
            f"{r['measured']:.3g}x",
            f"{r['predicted']:.3g}x",
        ]
        for _, r in top.iterrows()
    ]
    headers = ["engine / backend", "profile", "scale", "widths", "over", "measured", "predicted"]
    return _table(headers, rows) + "\n\nmeasured = t_baseline / t_optimal; predicted = MAC ratio."


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
                r["widths"],
                r["engine"],
                f"`{r['plan_formula']}`" if r["plan_formula"] else "n/a",
                f"{int(macs):,}" if math.isfinite(macs) else "n/a",
                gain,
            ]
        )
    headers = ["profile", "scale", "widths", "engine", "optimal plan", "MACs", "vs best of fwd/rev"]
    return _table(headers, rows)


def _unstable_md(df: pd.DataFrame, cols: Sequence[str]) -> str:
    bad = df[df["unstable"] & (df["status"] == "ok")]
    if bad.empty:
        return "None: every measured row has IQR / median ≤ 10 %."
    rows: list[Sequence[object]] = [
        [
            P.panel_label(tuple(r[c] for c in cols)),
            r["sweep"],
            r["profile"],
            r["widths"],
            r["strategy"],
            P._fmt_seconds(r["time_median_s"]),
            _num(100 * r["time_iqr_s"] / r["time_median_s"], ".0f") + " %",
        ]
        for _, r in bad.iterrows()
    ]
    shown, more = _capped(rows)
    headers = ["engine / backend", "sweep", "profile", "widths", "strategy", "median", "IQR/median"]
    return _table(headers, shown) + more


def _skipped_md(df: pd.DataFrame, cols: Sequence[str]) -> str:
    skipped = df[df["status"] != "ok"]
    if skipped.empty:
        return "None."
    rows: list[Sequence[object]] = [
        [
            P.panel_label(tuple(r[c] for c in cols)),
            r["sweep"],
            r["profile"],
            r["widths"],
            r["strategy"],
            r["status"] or "(empty)",
            r["skip_reason"] or "(no reason given)",
        ]
        for _, r in skipped.iterrows()
    ]
    shown, more = _capped(rows)
    headers = ["engine / backend", "sweep", "profile", "widths", "strategy", "status", "reason"]
    return _table(headers, shown) + more


def _render(
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
) -> str:
    measured = int((df["status"] == "ok").sum())
    plots = "\n\n".join(
        f"### {name}\n\n{_CAPTIONS[name]}\n\n"
        f"![{name}]({Path(os.path.relpath(path, report_path.parent)).as_posix()})"
        for name, path in plot_paths.items()
    )
    parts = [
        "# jacobench benchmark report",
        f"Generated by `python -m jacobench.report` from `{csv_path}`: {len(df)} rows, "
        f"{measured} measured, {len(df) - measured} skipped. Do not edit; rerun `make plots`.",
        "## Environment",
        _environment(meta, meta_source, df),
        "## Fidelity of the cost model",
        _fidelity_md(fidelity),
        "## Largest speedups of the optimal plan",
        _speedups_md(speedup_table, cols),
        "## Optimal plan per profile",
        _plans_md(df),
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


def make_report(
    csv_path: str | os.PathLike[str] = "results/latest.csv",
    plots_dir: str | os.PathLike[str] = "plots",
    report_path: str | os.PathLike[str] = "results/REPORT.md",
) -> dict[str, Any]:
    """Draw the five plots and write the Markdown report for one results CSV.

    Args:
        csv_path: The harness's CSV.
        plots_dir: Where the PNG files go (created if missing).
        report_path: Where the Markdown report goes; it links the plots by relative paths.

    Returns:
        ``{"report": Path, "plots": {file name: Path}, "fidelity": {engine/backend: figures},
        "notes": [str]}``; the figures are ``slope``, ``seconds_per_mac``, ``fit_rows``,
        ``spearman`` (rows with >= 1e7 MACs), ``spearman_rows``, ``spearman_all``,
        ``winner_decided``, ``winner_correct``, ``winner_accuracy``, ``map_cells``,
        ``map_agree`` and ``measured_rows``.

    Raises:
        JacobenchError: The CSV is missing, unreadable or lacks required columns.

    Example:
        ``make_report("results/latest.csv")["fidelity"]["explicit / numpy"]["slope"]`` is the
        fitted exponent of time against model multiply-adds (see the module example for errors).
    """
    csv_file = Path(csv_path)
    df = load_results(csv_file)
    cols = P.panel_columns(df)
    notes: list[str] = []
    not_ok = df[(df["status"] == "ok") & ~(df["time_median_s"] > 0)]
    if len(not_ok):
        notes.append(f"{len(not_ok)} row(s) marked ok have no positive time_median_s; left out")
    odd = sorted(set(df["status"]) - {"ok", "skipped"})
    if odd:
        notes.append(f"rows with status {odd} are treated as skipped")
    meta, meta_source = _read_sidecar(csv_file, df)
    fits = P.fit_panels(df, cols)
    speedup_table = P.speedups(df, cols)
    makers = {
        "measured_vs_model.png": lambda: P.measured_vs_model_figure(df, cols, fits),
        "crossover.png": lambda: P.crossover_figure(df, cols, fits),
        "memory_depth.png": lambda: P.memory_depth_figure(df, cols),
        "speedup.png": lambda: P.speedup_figure(speedup_table, cols),
        "winner_map.png": lambda: P.winner_map_figure(P.winners(df, cols), cols),
    }
    plot_paths = {name: Path(plots_dir) / name for name in PLOT_FILES}
    report_file = Path(report_path)
    with _Staged() as staged:
        for name in PLOT_FILES:
            fig, plot_notes = makers[name]()
            notes += plot_notes
            _save(fig, plot_paths[name], staged)
        fidelity = _fidelity(df, cols, fits)
        text = _render(
            csv_path=csv_file,
            report_path=report_file,
            plot_paths=plot_paths,
            df=df,
            cols=cols,
            meta=meta,
            meta_source=meta_source,
            fidelity=fidelity,
            speedup_table=speedup_table,
            notes=notes,
        )
        staged.temp_for(report_file).write_text(text, encoding="utf-8")
    return {"report": report_file, "plots": plot_paths, "fidelity": fidelity, "notes": notes}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m jacobench.report [--csv PATH] [--plots-dir DIR] [--report PATH]``.

    Returns:
        0 on success; 2 for a bad CSV (one line on stderr, no traceback); 1 if writing failed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m jacobench.report",
        description="Draw the benchmark plots and write the Markdown report from a results CSV.",
    )
    parser.add_argument("--csv", default="results/latest.csv", help="results CSV to read")
    parser.add_argument("--plots-dir", default="plots", help="directory for the PNG files")
    parser.add_argument("--report", default="results/REPORT.md", help="Markdown report to write")
    args = parser.parse_args(argv)
    try:
        out = make_report(args.csv, args.plots_dir, args.report)
    except JacobenchError as exc:
        print(f"jacobench.report: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"jacobench.report: error: could not write outputs: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(out['plots'])} plots to {args.plots_dir}/ and {out['report']}")
    for note in out["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
