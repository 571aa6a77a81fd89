r"""Span tables for the vectorised dynamic programs of both engines.

A dynamic program over the spans ``lo..hi`` of a chain of ``n`` layers keeps one value per span.
Here the values live in a table indexed by start and length, ``table[lo, m]`` for the span
``lo..lo+m-1`` (shape ``(n + 2, n + 1)``), and are filled one length at a time. For every span of
one length and every split ``k`` (``lo <= k < hi``) the program needs the value of the right
factor ``lo..k`` and of the left factor ``k+1..hi``; in this layout both are *views*:

* the right factors ``table[lo, c + 1]`` (``c = k - lo``) are a plain slice, :func:`right`;
* the left factors ``table[lo + c + 1, m - 1 - c]`` lie on anti-diagonals, a strided view,
  :func:`left`.

So a length's candidates cost no index arrays and no copies. :func:`chunks` cuts a length's spans
into blocks of about :data:`CHUNK` candidates, so temporaries stay in cache.

Example:
    >>> import numpy as np
    >>> t = np.arange(30).reshape(6, 5)  # n = 4 layers
    >>> right(t, 3, 0, 2).tolist()  # spans 1..3 and 2..4: table[1, 1:3], table[2, 1:3]
    [[6, 7], [11, 12]]
    >>> left(t, 3, 0, 2).tolist()  # table[2, 2], table[3, 1]; table[3, 2], table[4, 1]
    [[12, 16], [17, 21]]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

__all__ = ["CHUNK", "chunks", "left", "new_table", "right", "splits"]

CHUNK = 1 << 16
"""Candidates per block: large enough to amortise numpy's per-call cost, small enough for cache."""


def new_table(n: int, dtype: object) -> np.ndarray:
    """A zeroed ``(n + 2, n + 1)`` table for ``n`` layers.

    Example:
        >>> new_table(3, np.int64).shape
        (5, 4)
    """
    table: np.ndarray = np.zeros((n + 2, n + 1), dtype=dtype)  # type: ignore[call-overload]
    return table


def chunks(n: int, length: int) -> Iterator[tuple[int, int]]:
    """Blocks ``(r0, r1)`` of the spans of ``length`` layers: starts ``lo = 1 + r0 .. r1``.

    Example:
        >>> list(chunks(5, 2))
        [(0, 4)]
    """
    count, width = n - length + 1, max(length - 1, 1)
    step = max(1, CHUNK // width)
    for r0 in range(0, count, step):
        yield r0, min(count, r0 + step)


def right(table: np.ndarray, length: int, r0: int, r1: int) -> np.ndarray:
    """``[r, c] -> table[lo, c + 1]``: the right factors ``lo..k`` (``lo = 1 + r0 + r``)."""
    return table[1 + r0 : 1 + r1, 1:length]


def left(table: np.ndarray, length: int, r0: int, r1: int) -> np.ndarray:
    """``[r, c] -> table[lo + c + 1, length - 1 - c]``: the left factors ``k+1..hi``, read-only.

    The last element read is ``table[r1 + length - 1, 1]``, inside the ``(n + 2, n + 1)`` table
    because ``r1 <= n - length + 1``.
    """
    n = table.shape[1] - 1
    if not (0 <= r0 < r1 <= n - length + 1 and table.shape[0] >= n + 2 and length >= 2):
        raise IndexError(f"spans {r0}..{r1} of length {length} are outside a table for {n} layers")
    step_row, step_col = table.strides
    return as_strided(
        table[2 + r0 :, length - 1 :],
        shape=(r1 - r0, length - 1),
        strides=(step_row, step_row - step_col),
        writeable=False,
    )


def splits(values: np.ndarray, length: int, r0: int, r1: int) -> np.ndarray:
    """``[r, c] -> values[k]`` with ``k = lo + c`` for the spans of a block (a view).

    ``values`` has one entry per width, ``values[l]`` for ``l = 0..n``.

    Example:
        >>> splits(np.arange(6), 3, 0, 2).tolist()
        [[1, 2], [2, 3]]
    """
    n = len(values) - 1
    return sliding_window_view(values[1:n], length - 1)[r0:r1]
