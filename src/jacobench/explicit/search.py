r"""The explicit dynamic programs: the cheapest bracketing (budgeted or not) and the least peak.

The unbounded program is the matrix-chain recurrence

.. math:: C(lo, hi) = \min_{lo \le k < hi} C(lo, k) + C(k+1, hi) + d_{hi} d_k d_{lo-1},

filled one diagonal (span length) at a time with numpy. The table is kept by start and length,
``table[lo, m] = C(lo, lo + m - 1)``, so that for every span of one length the right factors
``C(lo, k)`` are a plain slice and the left factors ``C(k+1, hi)`` a strided view of the same
table: no index arrays, no copies, one table of ``(L + 2) (L + 1)`` entries (int64 where the
largest cost fits, exact Python ints otherwise) and no split table: the splits are recomputed
for the ``L - 1`` spans of the answer only. Ties go to the lowest split ``k``.

Example:
    >>> cheapest((50, 5, 100, 10)), least_peak((2, 1, 2, 6))
    (((3, 2), 1), 16)
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from .. import _tables as spans
from .._core import announce, lower_peak_first, pareto_front
from .._text import int_text
from .model import Tree, tree_from_key

__all__ = ["cheapest", "expected_seconds", "least_peak", "planning_seconds", "tree_within"]

SECONDS_PER_CANDIDATE = {"int64": 4e-9, "object": 2e-7, "peak": 1.2e-8, "pareto": 2e-6}
"""Rough cost of one candidate split (measured on a 2-core x86 machine), for the estimates."""


def expected_seconds(n_layers: int, kind: str) -> float:
    """About how long a dynamic program over ``n_layers`` takes: ``L^3 / 6`` candidates.

    ``kind`` is ``"int64"`` or ``"object"`` (the unbounded program, by the table's element
    type), ``"peak"`` (the least peak, int64) or ``"pareto"`` (the memory-budgeted program; a
    lower bound, its fronts grow with the chain).

    Example:
        >>> round(expected_seconds(1000, "int64"), 2)
        0.67
    """
    return SECONDS_PER_CANDIDATE[kind] * n_layers**3 / 6


def planning_seconds(widths: tuple[int, ...], budgeted: bool = False) -> float:
    """About how long :func:`jacobench.explicit.plan` takes for "optimal" on a cold cache.

    With ``budgeted``, the memory-budgeted program and the least peak are added (the fronts of
    the budgeted program grow with the chain: a lower bound).

    Example:
        >>> planning_seconds((3,) * 1001) < 2 < planning_seconds((3,) * 2001)
        True
    """
    n, big = len(widths) - 1, max(widths)
    seconds = expected_seconds(n, "object" if (n - 1) * big**3 >= 2**62 else "int64")
    if budgeted:
        peak = "object" if 3 * n * big**2 >= 2**62 else "peak"
        seconds += expected_seconds(n, "pareto") + expected_seconds(n, peak)
    return seconds


def _table_type(n: int, largest: int) -> type:
    """The smallest of int32, int64 and Python ints that holds every value the program forms."""
    if largest < 2**31:
        return np.int32
    return np.int64 if largest < 2**62 else object


def _announce(what: str, d: tuple[int, ...], kind: str, itemsize: int) -> None:
    """Announce a program over ``d`` with one span table of ``itemsize``-byte entries."""
    n = len(d) - 1
    memory = (n + 2) * (n + 1) * itemsize
    announce(f"{what} of {int_text(n)} layers", expected_seconds(n, kind), memory)


@lru_cache(maxsize=256)
def cheapest(d: tuple[int, ...], product: Any = None) -> Tree:
    """The cheapest bracketing of trusted widths (see :func:`jacobench.explicit.optimal`).

    ``product`` (hashable; ``product(m, k, n)`` on arrays) prices each product instead of
    ``m * k * n``, in floats: :class:`jacobench.timing.costs.ProductSeconds` for seconds.
    """
    n = len(d) - 1
    if n == 1:
        return 1
    dtype = _table_type(n, (n - 1) * max(d) ** 3)
    kind = "object" if dtype is object else "int64"
    _announce("planning the cheapest bracketing", d, kind, np.dtype(dtype).itemsize)
    w: np.ndarray = np.array(d, dtype=dtype)
    table = spans.new_table(n, dtype if product is None else np.float64)
    buffer: np.ndarray = np.empty(spans.CHUNK + n, dtype=table.dtype)  # one block's candidates
    for length in range(2, n + 1):
        for rows, right, left, dk, lo_hi in _diagonal(table, w, length):
            total = buffer[: right.size].reshape(right.shape)
            if product is None:
                np.multiply(dk, lo_hi[:, None], out=total)
            else:
                lo = np.arange(rows.start, rows.stop)
                total[...] = product(w[lo + length - 1][:, None], dk, w[lo - 1][:, None])
            total += right
            total += left
            table[rows, length] = total.min(axis=1)
    return _trace(table, w, n, product)


def _diagonal(table: np.ndarray, w: np.ndarray, length: int) -> Iterator[tuple[Any, ...]]:
    """For the spans of ``length`` layers, block by block: ``(rows, right, left, d_k, outer)``.

    ``rows`` is the slice of table rows (``lo``); ``right``/``left`` the factors' values (see
    :mod:`jacobench._tables`), ``d_k[r, c] = w[lo + c]`` and ``outer[r] = w[hi] * w[lo - 1]``.
    """
    n = len(w) - 1
    count = n - length + 1
    outer = w[length : length + count] * w[:count]
    for r0, r1 in spans.chunks(n, length):
        yield (
            slice(1 + r0, 1 + r1),
            spans.right(table, length, r0, r1),
            spans.left(table, length, r0, r1),
            spans.splits(w, length, r0, r1),
            outer[r0:r1],
        )


def _trace(table: np.ndarray, w: np.ndarray, n: int, product: Any = None) -> Tree:
    """Rebuild the answer from the cost table: recompute each of its splits (the lowest best k)."""
    key: list[int] = []
    stack = [(1, n)]
    while stack:
        lo, hi = stack.pop()
        if lo == hi:
            key.append(lo)
            continue
        key.append(0)
        ks = np.arange(lo, hi)
        priced = w[hi] * w[ks] * w[lo - 1] if product is None else product(w[hi], w[ks], w[lo - 1])
        total = table[lo, 1 : hi - lo + 1] + table[ks + 1, hi - ks] + priced
        k = lo + int(np.argmin(total))
        stack.append((lo, k))  # pre-order: the left factor k+1..hi first
        stack.append((k + 1, hi))
    return tree_from_key(key)


@lru_cache(maxsize=256)
def least_peak(d: tuple[int, ...]) -> int:
    """:func:`jacobench.explicit.min_peak` on trusted widths, one diagonal at a time."""
    n = len(d) - 1
    if n == 1:
        return 0
    dtype = _table_type(n, 3 * n * max(d) ** 2)
    kind = "object" if dtype is object else "peak"
    _announce("finding the least peak memory", d, kind, np.dtype(dtype).itemsize)
    w: np.ndarray = np.array(d, dtype=dtype)
    table = spans.new_table(n, dtype)
    for length in range(2, n + 1):
        for rows, peak_r, peak_l, dk, _ in _diagonal(table, w, length):
            lo = np.arange(rows.start, rows.stop)
            held_l = dk * w[lo + length - 1][:, None]
            held_l[:, -1] = 0  # a single layer k+1 == hi is an input: nothing held
            held_r = dk * w[lo - 1][:, None]
            held_r[:, 0] = 0
            both = held_l + held_r
            both += (w[lo + length - 1] * w[lo - 1])[:, None]
            right_first = np.maximum(np.maximum(peak_r, held_r + peak_l), both)
            left_first = np.maximum(np.maximum(peak_l, held_l + peak_r), both)
            table[rows, length] = np.minimum(right_first, left_first).min(axis=1)
    return int(table[1, n])


def tree_within(d: tuple[int, ...], max_peak: int, product: Any = None) -> Tree | None:
    """The cheapest bracketing within ``max_peak`` elements (trusted inputs); None if none fits.

    A dynamic program over spans keeping each span's Pareto front of (MACs, peak); see
    :func:`jacobench.explicit.optimal`. Plain Python: the fronts have no fixed size. ``product``
    prices the products instead of ``m * k * n``, as in :func:`cheapest`.
    """
    return _tree_within(d, max_peak, product)


@lru_cache(maxsize=256)
def _tree_within(d: tuple[int, ...], max_peak: int, product: Any = None) -> Tree | None:
    n = len(d) - 1
    _announce("planning the cheapest bracketing within the budget", d, "pareto", 0)
    Point = tuple[float, int, Any]  # (cost, peak, how): how = None (a layer) or (k, left, right)
    fronts: dict[tuple[int, int], list[Point]] = {(i, i): [(0, 0, None)] for i in range(1, n + 1)}
    for length in range(2, n + 1):
        for lo in range(1, n - length + 2):
            hi = lo + length - 1
            out = d[hi] * d[lo - 1]
            candidates: list[Point] = []
            if product is not None:  # all the splits' products at once
                priced = product(d[hi], np.array(d[lo:hi]), d[lo - 1])
            for k in range(lo, hi):
                held_l = 0 if k + 1 == hi else d[hi] * d[k]
                held_r = 0 if lo == k else d[k] * d[lo - 1]
                if held_l + held_r + out > max_peak:
                    continue
                mult = d[hi] * d[k] * d[lo - 1] if product is None else float(priced[k - lo])
                for right in fronts[lo, k]:
                    for left in fronts[k + 1, hi]:
                        peak, _ = lower_peak_first(left[1], held_l, right[1], held_r, out)
                        if peak <= max_peak:
                            candidates.append((left[0] + right[0] + mult, peak, (k, left, right)))
            fronts[lo, hi] = pareto_front(candidates, key=lambda p: (p[0], 0, p[1]))
    root = fronts[1, n]
    if not root:
        return None
    key: list[int] = []  # pre-order, as tree_key writes it; built without recursion
    stack: list[tuple[int, int, Point]] = [(1, n, root[0])]
    while stack:
        lo, hi, point = stack.pop()
        if point[2] is None:
            key.append(lo)
            continue
        k, left, right = point[2]
        key.append(0)
        stack.append((lo, k, right))
        stack.append((k + 1, hi, left))
    return tree_from_key(key)
