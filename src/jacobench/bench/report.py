"""Turn a results CSV into seven PNG plots and a Markdown report; never times anything.

Reads only the CSV the benchmark harness writes (default ``results/latest.csv``) and, when it is
there, the run's sidecar JSON next to it (``<run_id>.json``) for the environment section. Writes
``plots/*.png`` (drawn by :mod:`jacobench.bench.plots`) and ``results/REPORT.md`` (written by
:mod:`jacobench.bench.markdown`), relative to the current directory by default. Uses pandas and
matplotlib (no ``pyplot``, no display), never JAX; ``import jacobench`` does not import this
module. The columns it reads, and their types, are those of :data:`jacobench.bench.tidy.COLUMNS`.

Every output is first written to a temporary file beside its destination; only when all of them
have been drawn are they renamed into place, so a failure leaves the previous files untouched.
The files get the usual mode (``0o666`` less the umask), and the temporary files a killed run left
behind are removed by the next one (:mod:`jacobench.bench.files`).

Command line::

    jacobench plot [--csv PATH] [--plots-dir DIR] [--report PATH]
    python -m jacobench.bench.report [--csv PATH] [--plots-dir DIR] [--report PATH]

A CSV it cannot trust (missing, empty, missing required columns, a row with the wrong number of
fields, a number that does not parse, a last row cut off) prints one line to stderr, naming the
line, and exits with status 2; Ctrl-C prints one line and exits with status 130.

Example:
    >>> make_report("no/such/results.csv")
    Traceback (most recent call last):
    ...
    jacobench.errors.JacobenchError: results CSV 'no/such/results.csv' does not exist; run \
`make bench` first or pass --csv PATH
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pandas as pd
from matplotlib.figure import Figure

from ..errors import JacobenchError
from . import files, markdown
from . import plots as P
from .tidy import FLAG_COLUMNS, NUMBER_COLUMNS, REQUIRED_COLUMNS, TEXT_COLUMNS

__all__ = ["PLOT_FILES", "REQUIRES", "load_results", "main", "make_report"]

REQUIRES = ("pandas", "matplotlib")
"""The modules this command needs (from the ``bench`` extra)."""

PLOT_FILES = (
    "measured_vs_model.png",
    "crossover.png",
    "memory_depth.png",
    "speedup.png",
    "winner_map.png",
    "hessian_depth.png",
    "time_model.png",
)
"""The seven PNG files written to the plots directory."""

_DPI = 110


def load_results(csv_path: str | os.PathLike[str] | TextIO) -> pd.DataFrame:
    r"""Read a results CSV, check it and its columns, and give every column its type.

    The columns are those of :data:`jacobench.bench.tidy.COLUMNS`: a missing required one is an
    error, a missing optional one is added empty. A CSV that cannot be trusted is refused, with
    its line: a row with more or fewer fields than the header (which would shift or drop
    columns), a number column holding something that is not a number, a flag that is not
    true/false, or a last row cut off (the harness ends every row with a newline). Empty cells
    are missing values: NaN for numbers, ``""`` for text, false for flags. Other columns are kept
    as read.

    Args:
        csv_path: The CSV written by the benchmark harness (a path, or an open text file).

    Returns:
        The table.

    Raises:
        JacobenchError: The file is missing, empty or unreadable, lacks required columns (all of
            them are named) or holds a row it cannot trust (its line is named).

    Example:
        >>> load_results(io.StringIO("engine,backend\nexplicit,numpy\n"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: results CSV lacks required column(s) 'sweep', ...
        >>> load_results(io.StringIO("a,b\n1,2,3\n"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: results CSV line 2 has 3 fields, expected 2 (one per ...
    """
    where = f" {str(csv_path)!r}" if isinstance(csv_path, str | os.PathLike) else ""
    text = _read_text(csv_path, where)
    lines = _check_rows(text, where)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=dict.fromkeys((*TEXT_COLUMNS, *FLAG_COLUMNS), str),
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        raise JacobenchError(f"results CSV{where} is empty; expected a header row") from None
    except pd.errors.ParserError as exc:
        raise JacobenchError(f"results CSV{where} could not be parsed: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise JacobenchError(
            f"results CSV{where} lacks required column(s) "
            f"{', '.join(repr(c) for c in missing)}; expected the harness's columns "
            "(see jacobench.bench.tidy.COLUMNS)"
        )
    for col in NUMBER_COLUMNS:
        if col not in df:
            df[col] = math.nan
            continue
        raw = df[col]
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = numbers.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise JacobenchError(
                f"results CSV{where} line {lines[row]}: {col} = {str(raw.iloc[row])!r} is not a "
                "number; the file is corrupt"
            )
        df[col] = numbers
    for col in TEXT_COLUMNS:
        df[col] = df[col].fillna("").astype(str).str.strip() if col in df else ""
    for col in FLAG_COLUMNS:
        if col not in df:
            df[col] = False
            continue
        flags = df[col].fillna("").astype(str).str.strip().str.lower()
        bad = ~flags.isin(["true", "false", "1", "0", "yes", "no", ""])
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise JacobenchError(
                f"results CSV{where} line {lines[row]}: {col} = {df[col].iloc[row]!r} is not "
                "true or false; the file is corrupt"
            )
        df[col] = flags.isin(["true", "1", "yes"])
    return df


def _read_text(csv_path: str | os.PathLike[str] | TextIO, where: str) -> str:
    """The CSV's text (from a path or an open file)."""
    if not isinstance(csv_path, str | os.PathLike):
        return csv_path.read()
    if not Path(csv_path).is_file():
        raise JacobenchError(
            f"results CSV{where} does not exist; run `make bench` first or pass --csv PATH"
        )
    try:
        return Path(csv_path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise JacobenchError(f"results CSV{where} could not be parsed: {exc}") from None


def _check_rows(text: str, where: str) -> list[int]:
    """Check every row's field count and the last row's end; each data row's (last) line."""
    if not text.strip():
        raise JacobenchError(f"results CSV{where} is empty; expected a header row")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        lines = []
        for row in reader:
            if not row:  # a blank line
                continue
            if len(row) != len(header):
                raise JacobenchError(
                    f"results CSV{where} line {reader.line_num} has {len(row)} fields, expected "
                    f"{len(header)} (one per header column); the file is corrupt"
                )
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise JacobenchError(
            f"results CSV{where} line {reader.line_num} could not be parsed: {exc}"
        ) from None
    if not text.endswith(("\n", "\r")):
        last = lines[-1] if lines else 1
        raise JacobenchError(
            f"results CSV{where} line {last} is cut off (the file does not end with a newline, "
            "as the harness writes it); the file is corrupt or still being written"
        )
    return lines


class _Staged:
    """Temporary files beside their destinations, renamed into place only on success.

    Each temporary file is locked until the rename (a killed run's leftovers are swept by the
    next run) and has the usual mode, which the rename keeps.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[int, Path, Path]] = []

    def temp_for(self, final: Path) -> Path:
        fd, tmp = files.temp_beside(final)
        self._pending.append((fd, tmp, final))
        return tmp

    def __enter__(self) -> _Staged:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                for _, tmp, final in self._pending:
                    os.replace(tmp, final)
        finally:
            for fd, tmp, _ in self._pending:
                tmp.unlink(missing_ok=True)  # gone after a rename; a leftover otherwise
                os.close(fd)


def _save(fig: Figure, final: Path, staged: _Staged) -> None:
    fig.savefig(staged.temp_for(final), format="png", dpi=_DPI, bbox_inches="tight")


def _sweep(plots_dir: Path, report_file: Path) -> list[Path]:
    """Remove the temporary files killed runs left beside the plots and the report."""
    names = [*PLOT_FILES, report_file.name]
    patterns = [rf"\.{re.escape(name)}\..+\.tmp" for name in names]
    return files.sweep(plots_dir, patterns) + files.sweep(report_file.parent, patterns)


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


def make_report(
    csv_path: str | os.PathLike[str] = "results/latest.csv",
    plots_dir: str | os.PathLike[str] = "plots",
    report_path: str | os.PathLike[str] = "results/REPORT.md",
) -> dict[str, Any]:
    """Draw the seven plots and write the Markdown report for one results CSV.

    Args:
        csv_path: The harness's CSV.
        plots_dir: Where the PNG files go (created if missing).
        report_path: Where the Markdown report goes; it links the plots by relative paths.

    Returns:
        ``{"report": Path, "plots": {file name: Path}, "fidelity": {engine/backend: figures},
        "time_fidelity": {engine/backend/device: figures}, "notes": [str]}``; the time model's
        figures are those of :func:`jacobench.bench.plots.time_fidelity`; the cost model's are
        ``slope``, ``seconds_per_mac``, ``fit_rows``, ``spearman`` (rows with >= 1e7 MACs),
        ``spearman_rows``, ``spearman_all``,
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
        "hessian_depth.png": lambda: P.hessian_depth_figure(df, cols),
        "time_model.png": lambda: P.time_model_figure(df, cols),
    }
    plot_paths = {name: Path(plots_dir) / name for name in PLOT_FILES}
    report_file = Path(report_path)
    swept = _sweep(Path(plots_dir), report_file)
    if swept:
        notes.append(f"removed {len(swept)} leftover temporary file(s) of a killed run")
    with _Staged() as staged:
        for name in PLOT_FILES:
            fig, plot_notes = makers[name]()
            notes += plot_notes
            _save(fig, plot_paths[name], staged)
        fidelity = markdown.fidelity(df, cols, fits)
        time_fidelity = P.time_fidelity(df, cols)
        text = markdown.render(
            csv_path=csv_file,
            report_path=report_file,
            plot_paths=plot_paths,
            df=df,
            cols=cols,
            meta=meta,
            meta_source=meta_source,
            fidelity=fidelity,
            time_fidelity=time_fidelity,
            speedup_table=speedup_table,
            notes=notes,
        )
        staged.temp_for(report_file).write_text(text, encoding="utf-8")
    return {
        "report": report_file,
        "plots": plot_paths,
        "fidelity": fidelity,
        "time_fidelity": time_fidelity,
        "notes": notes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``jacobench plot [--csv PATH] [--plots-dir DIR] [--report PATH]``.

    Returns:
        0 on success; 2 for a bad CSV (one line on stderr, no traceback); 1 if writing failed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m jacobench.bench.report",
        description="Draw the benchmark plots and write the Markdown report from a results CSV.",
    )
    parser.add_argument("--csv", default="results/latest.csv", help="results CSV to read")
    parser.add_argument("--plots-dir", default="plots", help="directory for the PNG files")
    parser.add_argument("--report", default="results/REPORT.md", help="Markdown report to write")
    args = parser.parse_args(argv)
    try:
        out = make_report(args.csv, args.plots_dir, args.report)
    except JacobenchError as exc:
        print(f"jacobench.bench.report: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jacobench.bench.report: interrupted; earlier outputs are intact", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"jacobench.bench.report: error: could not write outputs: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(out['plots'])} plots to {args.plots_dir}/ and {out['report']}")
    for note in out["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
