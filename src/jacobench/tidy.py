"""Turn pytest-benchmark's raw JSON into the tidy results CSV (pandas).

The raw JSON stays the record of every timing; the CSV is one row per (configuration, strategy),
with the timing summary, everything the suites put in ``extra_info``, and a row for each
configuration the memory guard skipped. ``results/README.md`` documents every column.

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
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import JacobenchError

__all__ = ["COLUMNS", "UNSTABLE_IQR_RATIO", "build_frame", "load_json", "write_atomic"]

UNSTABLE_IQR_RATIO = 0.10
"""A row is flagged unstable when its IQR exceeds this fraction of its median."""

COLUMNS: dict[str, str] = {
    "run_id": "string",
    "engine": "string",
    "backend": "string",
    "device": "string",
    "dtype": "string",
    "sweep": "string",
    "profile": "string",
    "scale": "string",
    "widths": "string",
    "depth": "Int64",
    "d_0": "Int64",
    "d_L": "Int64",
    "strategy": "string",
    "plan_formula": "string",
    "model_macs": "Int64",
    "model_forward_macs": "Int64",
    "model_reverse_macs": "Int64",
    "xla_flops": "float64",
    "time_median_s": "float64",
    "time_min_s": "float64",
    "time_iqr_s": "float64",
    "rounds": "Int64",
    "unstable": "boolean",
    "compile_s": "float64",
    "mem_model_bytes": "Int64",
    "mem_measured_bytes": "float64",
    "mem_source": "string",
    "max_abs_error": "float64",
    "status": "string",
    "skip_reason": "string",
}
"""The guaranteed columns, in order, with their pandas dtypes; extra_info keys follow them."""


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file (pytest-benchmark writes NaN as a bare token; Python reads it)."""
    with open(path) as fh:
        return json.load(fh)


def build_frame(
    raw: Mapping[str, Any], skipped: Iterable[Mapping[str, Any]], run_id: str
) -> pd.DataFrame:
    """One tidy row per benchmark, plus one per skipped configuration.

    Args:
        raw: pytest-benchmark's JSON document (``--benchmark-json``).
        skipped: Rows the memory guard skipped (``status == "skipped"`` with a reason).
        run_id: The run's id, put in every row.

    Returns:
        A frame with the :data:`COLUMNS` first (typed; missing values are NA), then every other
        ``extra_info`` key.
    """
    rows: list[dict[str, Any]] = []
    for bench in raw.get("benchmarks", []):
        stats = bench.get("stats") or {}
        median = _num(stats.get("median"))
        iqr = _num(stats.get("iqr"))
        rows.append(
            {
                **dict(bench.get("extra_info") or {}),
                "run_id": run_id,
                "time_median_s": median,
                "time_min_s": _num(stats.get("min")),
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
        rows.append({**dict(skip), "run_id": run_id, "status": "skipped"})
    frame = pd.DataFrame(rows)
    for column, dtype in COLUMNS.items():
        if column not in frame:
            frame[column] = math.nan if dtype == "float64" else pd.NA
        try:
            frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise JacobenchError(f"column {column!r} cannot be read as {dtype}: {exc}") from None
    frame["skip_reason"] = frame["skip_reason"].fillna("")
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame[list(COLUMNS) + extra]


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A reader (or an interrupted run) sees either the old file or the new one, never half of one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
