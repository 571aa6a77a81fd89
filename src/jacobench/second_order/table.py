"""The second-order table of ``jacobench plan --hessian``: rows for JSON, lines for people.

Example:
    >>> rows, _ = hessian_section((4, 2, 1), np.dtype("float32"), None)
    >>> report = {"hessian": rows, "memory_budget_bytes": None, "widths": [4, 2, 1],
    ...           "dtype": "float32", "itemsize": 4}
    >>> print(format_hessian(report)[0])
    Second order (Hessian-vector products and Hessians): widths 4-2-1, float32 (4 bytes per element)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._text import compact_widths
from ..errors import JacobenchError
from ..units import format_bytes
from .plans import HVP_STRATEGIES, STRATEGIES, plan_hessian, plan_hvp

__all__ = ["finite", "format_hessian", "hessian_section"]


def finite(x: float) -> float | None:
    """``x``, or None where it is not finite (JSON has no infinity).

    Example:
        >>> finite(2.0), finite(float("inf"))
        (2.0, None)
    """
    return x if math.isfinite(x) else None


def hessian_section(
    widths: tuple[int, ...], dtype: np.dtype[Any], budget: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Second-order rows (HVP modes, then Hessian strategies, then the budget row) and error.

    The rows are the ``--json`` SECOND objects of ``jacobench plan --hessian`` (see
    :mod:`jacobench.cli`); the error says why no Hessian plan fits the budget (None otherwise).

    Example:
        >>> rows, error = hessian_section((4, 2, 1), np.dtype("float32"), None)
        >>> [(r["kind"], r["strategy"]) for r in rows][:2], error
        ([('hvp', 'fwd-over-rev'), ('hvp', 'rev-over-fwd')], None)
    """
    plans: list[tuple[str, str, Any]] = [
        ("hvp", mode, plan_hvp(widths, mode)) for mode in HVP_STRATEGIES
    ]
    plans += [("hessian", name, plan_hessian(widths, name)) for name in STRATEGIES]
    error = None
    if budget is not None:
        try:
            within = plan_hessian(widths, memory_budget=budget, dtype=dtype)
        except JacobenchError as err:  # widths, dtype and budget are valid: nothing fits
            error = str(err)
        else:
            plans.append(("hessian", "optimal_within_budget", within))
    rows = []
    for kind, label, p in plans:
        n_bytes = p.memory_bytes(dtype)
        rows.append(
            {
                "kind": kind,
                "strategy": label,
                "macs": p.macs,
                "peak_memory_elements": p.peak_elements,
                "peak_memory_bytes": n_bytes,
                "peak_memory_human": format_bytes(n_bytes),
                "speedup_vs_jax_hessian": (
                    finite(p.speedup_vs_jax_hessian) if kind == "hessian" else None
                ),
                "formula": p.formula,
                "fits_budget": None if budget is None else n_bytes <= budget,
            }
        )
    return rows, error


def format_hessian(report: dict[str, Any]) -> list[str]:
    """The human table of the second-order rows of a ``jacobench plan --hessian`` report."""
    rows, budget = report["hessian"], report["memory_budget_bytes"]
    lines = [
        f"Second order (Hessian-vector products and Hessians): widths "
        f"{compact_widths(report['widths'])}, {report['dtype']} ({report['itemsize']} bytes "
        "per element)"
    ]
    if budget is not None:
        lines.append(f"memory budget: {budget:,} bytes ({format_bytes(budget)})")
    header = ["kind", "strategy", "multiply-adds", "peak bytes", "peak memory", "vs jax.hessian"]
    if budget is not None:
        header.append("fits budget")
    cells = [header]
    for row in rows:
        speedup = row["speedup_vs_jax_hessian"]
        line = [
            row["kind"],
            row["strategy"].replace("_", " "),
            f"{row['macs']:,}",
            f"{row['peak_memory_bytes']:,}",
            row["peak_memory_human"],
            "" if row["kind"] == "hvp" else f"{speedup:.3g}x",
        ]
        if budget is not None:
            line.append("yes" if row["fits_budget"] else "no")
        cells.append(line)
    sizes = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines += [
        "  ".join(
            cell.ljust(size) if i < 2 else cell.rjust(size)
            for i, (cell, size) in enumerate(zip(line, sizes, strict=True))
        ).rstrip()
        for line in cells
    ]
    for row in rows:
        if row["kind"] == "hessian" and row["strategy"].startswith("optimal"):
            lines.append(f"{row['strategy'].replace('_', ' ')}: {row['formula']}")
    return lines
