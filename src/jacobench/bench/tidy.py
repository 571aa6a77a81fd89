"""Turn pytest-benchmark's raw JSON into the tidy results CSV (pandas).

The raw JSON stays the record of every timing; the CSV is one row per (configuration, strategy),
with the timing summary, everything the suites put in ``extra_info``, and a row for each
configuration that was skipped or failed. A row that a spell of other work slowed, and that was
timed again (``retimed``), gets the second timing: its raw ``stats`` hold the first rounds, its
``extra_info`` the second. :data:`COLUMNS` is the schema; ``results/README.md``
says what each column means.

Example:
    >>> raw = {"benchmarks": [{"name": "t", "stats": {"median": 2.0, "min": 1.0, "iqr": 0.5,
    ...        "rounds": 5}, "extra_info": {"strategy": "forward", "model_macs": 8}}]}
    >>> frame = build_frame(raw, [], run_id="r1")
    >>> row = frame.iloc[0]
    >>> str(row.run_id), str(row.strategy), float(row.time_median_s), bool(row.unstable)
    ('r1', 'forward', 2.0, True)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ..errors import JacobenchError
from .files import temp_beside

__all__ = [
    "COLUMNS",
    "FLAG_COLUMNS",
    "NUMBER_COLUMNS",
    "REQUIRED_COLUMNS",
    "TEXT_COLUMNS",
    "UNSTABLE_IQR_RATIO",
    "Column",
    "build_frame",
    "load_json",
    "write_atomic",
]

UNSTABLE_IQR_RATIO = 0.10
"""A row is flagged unstable when its IQR exceeds this fraction of its median."""

CONTESTANTS = ("forward", "reverse", "optimal")
"""The strategies an ``optimal_time`` row's ``contest_ratio`` compares it with, timed together."""


class Column(NamedTuple):
    """How one guaranteed column of the results CSV is typed and used.

    Attributes:
        dtype: Its pandas dtype in :func:`build_frame`'s frame: ``"string"`` (text),
            ``"Int64"`` or ``"float64"`` (numbers) or ``"boolean"`` (a flag).
        required: Whether the report needs it: a CSV without it cannot be plotted.
    """

    dtype: str
    required: bool = False


COLUMNS: dict[str, Column] = {
    "run_id": Column("string"),
    "engine": Column("string", required=True),
    "backend": Column("string", required=True),
    "device": Column("string"),
    "dtype": Column("string"),
    "sweep": Column("string", required=True),
    "profile": Column("string", required=True),
    "scale": Column("string"),
    "widths": Column("string", required=True),
    "depth": Column("Int64", required=True),
    "d_0": Column("Int64", required=True),
    "d_L": Column("Int64", required=True),
    "batch": Column("Int64"),
    "strategy": Column("string", required=True),
    "plan_formula": Column("string"),
    "model_macs": Column("Int64", required=True),
    "model_forward_macs": Column("Int64", required=True),
    "model_reverse_macs": Column("Int64", required=True),
    "model_seconds": Column("float64"),
    "xla_flops": Column("float64"),
    "time_median_s": Column("float64", required=True),
    "time_min_s": Column("float64"),
    "time_iqr_s": Column("float64"),
    "rounds": Column("Int64"),
    "unstable": Column("boolean"),
    "sentinel_ratio": Column("float64"),
    "spell_wait_s": Column("float64"),
    "retimed": Column("boolean"),
    "time_first_median_s": Column("float64"),
    "compile_s": Column("float64"),
    "same_program_as": Column("string"),
    "contest_ratio": Column("float64"),
    "contest_winner": Column("string"),
    "contest_bursts": Column("Int64"),
    "mem_model_bytes": Column("Int64"),
    "mem_measured_bytes": Column("float64"),
    "mem_source": Column("string"),
    "mem_device_peak_bytes": Column("float64"),
    "max_abs_error": Column("float64"),
    "status": Column("string", required=True),
    "skip_reason": Column("string"),
    "matmul_precision": Column("string"),
    "test": Column("string"),
}
"""The CSV's guaranteed columns, in order: the one definition of its schema.

Every extra_info key of the suites that is not here follows them. What each column means is in
``results/README.md``, whose table lists exactly these names and types (a test checks it).
"""

REQUIRED_COLUMNS = tuple(name for name, c in COLUMNS.items() if c.required)
"""The columns the report cannot do without."""

TEXT_COLUMNS = tuple(name for name, c in COLUMNS.items() if c.dtype == "string")
"""The columns that hold text."""

NUMBER_COLUMNS = tuple(name for name, c in COLUMNS.items() if c.dtype in ("Int64", "float64"))
"""The columns that hold numbers (integers or floats; missing values are NaN in the report)."""

FLAG_COLUMNS = tuple(name for name, c in COLUMNS.items() if c.dtype == "boolean")
"""The columns that hold a yes/no flag."""


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file (pytest-benchmark writes NaN as a bare token; Python reads it)."""
    with open(path) as fh:
        return json.load(fh)


def build_frame(
    raw: Mapping[str, Any], skipped: Iterable[Mapping[str, Any]], run_id: str
) -> pd.DataFrame:
    """One tidy row per benchmark, plus one per row that was skipped or failed.

    Args:
        raw: pytest-benchmark's JSON document (``--benchmark-json``).
        skipped: Rows that were not timed: ``status`` "skipped" (memory budget, time limit, out
            of memory, stopped) or "failed", with the reason in ``skip_reason``.
        run_id: The run's id, put in every row.

    Returns:
        A frame with the :data:`COLUMNS` first (typed; missing values are NA), then every other
        ``extra_info`` key.

    Raises:
        JacobenchError: A value that cannot be read as its column's type (the column is named).
    """
    rows: list[dict[str, Any]] = []
    for bench in raw.get("benchmarks", []):
        info = dict(bench.get("extra_info") or {})
        stats = bench.get("stats") or {}
        if info.get("retimed"):  # timed again after a spell: the suites kept that timing here
            stats = {key: info.get(f"time_{key}_s") for key in ("median", "min", "iqr")}
            stats["rounds"] = info.get("rounds")
        median = _float_or_nan(stats.get("median"))
        iqr = _float_or_nan(stats.get("iqr"))
        rows.append(
            {
                **info,
                "run_id": run_id,
                "time_median_s": median,
                "time_min_s": _float_or_nan(stats.get("min")),
                "time_iqr_s": iqr,
                "rounds": stats.get("rounds"),
                "unstable": bool(median > 0 and iqr / median > UNSTABLE_IQR_RATIO)
                if not (math.isnan(median) or math.isnan(iqr))
                else pd.NA,
                "status": "ok",
                "skip_reason": "",
                "test": bench.get("name", ""),
            }
        )
    for skip in skipped:
        rows.append({**dict(skip), "run_id": run_id, "status": skip.get("status", "skipped")})
    frame = pd.DataFrame(rows)
    for column, (dtype, _) in COLUMNS.items():
        if column not in frame:
            frame[column] = math.nan if dtype == "float64" else pd.NA
        try:
            frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise JacobenchError(f"column {column!r} cannot be read as {dtype}: {exc}") from None
    frame["skip_reason"] = frame["skip_reason"].fillna("")
    frame["same_program_as"] = frame["same_program_as"].fillna("")
    frame["batch"] = frame["batch"].fillna(1)  # rows of suites without batches: one point
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[list(COLUMNS) + extra]


def _float_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A reader (or an interrupted run) sees either the old file or the new one, never half of one.
    The file gets the usual mode (``0o666`` less the umask); the temporary file is locked while
    it is written, so a later run can tell a killed writer's leftover from a live one's
    (:func:`jacobench.bench.files.sweep`).
    """
    target = Path(path)
    fd, tmp = temp_beside(target)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return target
