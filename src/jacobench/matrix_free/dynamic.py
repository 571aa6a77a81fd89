r"""The unbounded matrix-free dynamic program and the least peak, one span length at a time.

For each segment ``i..j`` (shortest first) the candidates are, in this order: tangents, adjoints,
then for every split ``k`` upwards multiply, push and pull (see
:mod:`jacobench.matrix_free.model`). The cheapest candidate by (MACs, nodes, peak) wins; among
equals, the first. All segments of one length are priced together with numpy, the factors' values
read as views of span tables (:mod:`jacobench._tables`), the MACs through the cost object's
methods, called with arrays (:class:`~jacobench.matrix_free.model.MacCosts`). Values are int64
where the largest the program can form fits, exact Python ints (object arrays) otherwise, or
whatever the cost object returns (floats, for a cost in seconds).

Nodes and peaks, the tie-breakers, are computed only for the segments whose cheapest MACs are
reached by more than one candidate.

Example:
    >>> from jacobench.matrix_free.model import costs_of
    >>> from jacobench.matrix_free.tree import format
    >>> d = (8, 8, 1, 8, 8)
    >>> format(cheapest(d, costs_of(d))), least_peak((4, 4, 4))
    ('jvp(J4 J3) @ vjp(J2 J1)', 32)
"""

from __future__ import annotations

import math
import numbers
from functools import lru_cache
from typing import Any

import numpy as np

from .._core import announce
from .._tables import CHUNK, chunks, left, new_table, right, splits
from .._text import int_text
from .model import Costs, pass_cost
from .tree import Node, leaf, split_node

__all__ = ["cheapest", "expected_seconds", "least_peak", "planning_seconds"]

SECONDS_PER_CANDIDATE = {"int64": 3e-8, "object": 1e-6, "peak": 2.5e-8, "pareto": 2e-5}
"""Rough cost of one candidate split (measured on a 2-core x86 machine), for the estimates."""

_OPS = ("multiply", "push", "pull")


def expected_seconds(n_layers: int, kind: str) -> float:
    """About how long a program over ``n_layers`` takes (``L^3 / 6`` splits); see the constants.

    Example:
        >>> expected_seconds(200, "int64") < 0.1
        True
    """
    return SECONDS_PER_CANDIDATE[kind] * n_layers**3 / 6


def planning_seconds(widths: tuple[int, ...], budgeted: bool = False) -> float:
    """About how long :func:`jacobench.matrix_free.plan` takes for "optimal" on a cold cache.

    With ``budgeted``, the memory-budgeted program and the least peak are added (a lower bound:
    the budgeted program's fronts grow with the chain). Dense layers are assumed.

    Example:
        >>> planning_seconds((3,) * 201) < 1 < planning_seconds((3,) * 1001)
        True
    """
    n, big = len(widths) - 1, max(widths)
    exact = 4 * n * big**3 < 2**62
    seconds = expected_seconds(n, "int64" if exact else "object")
    if budgeted:
        seconds += expected_seconds(n, "pareto") + expected_seconds(
            n, "peak" if exact else "object"
        )
    return seconds


def _announce(what: str, n: int, kind: str, tables: int) -> None:
    memory = tables * (n + 2) * (n + 1) * 8
    announce(f"{what} of {int_text(n)} layers", expected_seconds(n, kind), memory)


def _fits(bound: int) -> type:
    return np.int64 if bound < 2**62 else object


class _Spans:
    """Widths, activation sums and the peak and pair tables, by start ``i`` and length ``m``."""

    def __init__(self, d: tuple[int, ...]) -> None:
        n = self.n = len(d) - 1
        big = max(d)
        self.ptype = _fits(sum(d) + 2 * big * (big + 1) + 3 * n * big * big)
        self.wp: np.ndarray = np.array(d, dtype=self.ptype)  # widths for peaks
        self.acts: np.ndarray = np.zeros(n + 2, dtype=self.ptype)  # acts[l] = d_0 + ... + d_{l-1}
        self.acts[1:] = np.cumsum(self.wp)
        self.peak = new_table(n, self.ptype)
        self.pair = new_table(n, self.ptype)  # pair[i, m]: widest d_{l-1} + d_l over i..i+m-1
        edge = self.wp[:-1] + self.wp[1:]  # edge[l - 1] = d_{l-1} + d_l
        self.pair[1 : n + 1, 1] = edge
        for m in range(2, n + 1):
            self.pair[1 : n - m + 2, m] = np.maximum(self.pair[1 : n - m + 2, m - 1], edge[m - 1 :])

    def least(self, length: int) -> None:
        """The least peak of every span of ``length`` layers, batches included."""
        for r0, r1 in chunks(self.n, length):
            i = np.arange(1 + r0, 1 + r1)
            j = i + length - 1
            di, dj, pair = self.wp[i - 1], self.wp[j], self.pair[i, length]
            act = self.acts[j + 1] - self.acts[i - 1]
            tangents = _batched((1 + di) * pair, 2 * pair + di * dj, di)
            best = np.minimum(tangents, _batched(act + dj * pair, act + pair + dj * di, dj))
            if length > 1:
                i, j = i[:, None], j[:, None]
                di, dj = di[:, None], dj[:, None]
                dk = splits(self.wp, length, r0, r1)
                acts_k = splits(self.acts[1:], length, r0, r1) - self.acts[i - 1]
                p_l, p_r = left(self.peak, length, r0, r1), right(self.peak, length, r0, r1)
                q_l, q_r = left(self.pair, length, r0, r1), right(self.pair, length, r0, r1)
                mult = _lower_peak_first(p_l, dj * dk, p_r, dk * di, dj * di)
                push = _batched((1 + di) * q_l, 2 * q_l + di * (dj + dk), di)
                pull = _batched(acts_k + dj * q_r, acts_k + q_r + dj * (di + dk), dj)
                for candidate in (mult, np.maximum(p_r, push), np.maximum(p_l, pull)):
                    best = np.minimum(best, candidate.min(axis=1))
            self.peak[1 + r0 : 1 + r1, length] = best


def _batched(whole: Any, one_at_a_time: Any, width: Any) -> Any:
    """A pass's least peak: whole, or one at a time (the least batch) where the block has two+."""
    return np.where(width > 1, np.minimum(whole, one_at_a_time), whole)


class _Program(_Spans):
    """The unbounded program's tables: MACs, nodes and choices besides the spans' own."""

    def __init__(self, d: tuple[int, ...], costs: Costs) -> None:
        super().__init__(d)
        n, big = self.n, max(d)
        samples = (
            costs.tangents(big, 1, n),
            costs.adjoints(big, 1, n),
            costs.multiply(big, big, big),
        )
        if all(isinstance(x, numbers.Integral) for x in samples):
            self.mtype: Any = _fits(2 * max(samples[:2]) + samples[2])
        else:
            self.mtype = np.float64
        wtype = self.mtype if self.mtype is not np.float64 else _fits(big)
        self.w = np.array(d, dtype=wtype)  # widths passed to the cost object
        self.costs = costs
        self.macs = new_table(n, self.mtype)
        self.nodes = new_table(n, np.int64)
        self.how = new_table(n, np.int64)  # 0 tangents, 1 adjoints, 2 + 3c + s: split k = i + c
        self.index = np.arange(n + 1)
        self.buffer = np.empty(5 * CHUNK + 3 * n + 2, dtype=self.mtype)  # a block's candidates

    def candidates(self, length: int, r0: int, r1: int) -> tuple[Any, Any]:
        """MACs of every candidate of the block's spans, one row per span, and the leaves' peaks.

        Columns: ``0`` tangents, ``1`` adjoints, then the splits ``k = i + c`` by multiply, by
        push and by pull, each a block of ``length - 1`` columns (:func:`_code` turns a column
        into the order in which ties are broken, the code :attr:`how` stores).
        """
        i = np.arange(1 + r0, 1 + r1)
        j = i + length - 1
        width = length - 1
        out = self.buffer[: len(i) * (2 + 3 * width)].reshape(len(i), 2 + 3 * width)
        out[:, 0] = self.costs.tangents(self.w[i - 1], i, j)
        out[:, 1] = self.costs.adjoints(self.w[j], i, j)
        if width:
            i, j = i[:, None], j[:, None]
            di, dj = self.w[i - 1], self.w[j]
            ks = splits(self.index, length, r0, r1)
            m_l, m_r = left(self.macs, length, r0, r1), right(self.macs, length, r0, r1)
            mult = out[:, 2 : 2 + width]
            np.add(self.costs.multiply(dj, splits(self.w, length, r0, r1), di), m_l, out=mult)
            mult += m_r
            pushed = pass_cost(self.costs, "tangents", di, ks + 1, j, seeded=True)
            pulled = pass_cost(self.costs, "adjoints", dj, i, ks, seeded=True)
            np.add(pushed, m_r, out=out[:, 2 + width : 2 + 2 * width])
            np.add(pulled, m_l, out=out[:, 2 + 2 * width :])
        return out, self._leaf_peaks(i.ravel(), j.ravel())

    def fill(self, length: int) -> None:
        """Price and choose every span of ``length`` layers."""
        for r0, r1 in chunks(self.n, length):
            macs, leaf_peaks = self.candidates(length, r0, r1)
            rows = np.arange(r1 - r0)
            first = macs.argmin(axis=1)
            last = macs.shape[1] - 1 - macs[:, ::-1].argmin(axis=1)
            best = macs[rows, first]
            code = _code(first, length - 1)
            tied = np.flatnonzero(first != last)
            if len(tied):
                code[tied] = self._tie_break(length, r0, r1, tied, macs, best)
            self._store(length, r0, r1, best, code, leaf_peaks)

    def _tie_break(self, length: int, r0: int, r1: int, tied: Any, macs: Any, best: Any) -> Any:
        """The winner among the cheapest candidates of the rows ``tied``.

        Fewest nodes wins, then the lowest peak, then the first. A leaf (one node) beats every
        split (two or more), so rows where a leaf is among the cheapest are settled by the leaves
        alone; only the others look at the splits.
        """
        lowest = best[tied]
        tangents, adjoints = macs[tied, 0] == lowest, macs[tied, 1] == lowest
        first = np.where(tangents, 0, 1)
        both = np.flatnonzero(tangents & adjoints)
        if len(both):
            i = 1 + r0 + tied[both]
            peak_t, peak_a = self._leaf_peaks(i, i + length - 1)
            first[both] = np.where(peak_a < peak_t, 1, 0)
        split = np.flatnonzero(~(tangents | adjoints))
        if len(split):
            first[split] = 2 + self._split_tie_break(length, r0, r1, tied[split], macs, best)
        return first

    def _split_tie_break(
        self, length: int, r0: int, r1: int, rows: Any, macs: Any, best: Any
    ) -> Any:
        """Among the cheapest splits of the rows ``rows``: fewest nodes, lowest peak, first."""
        width = length - 1  # the splits, in code order (interleaved): k = i, by multiply, ...
        mask = macs[rows, 2:].reshape(-1, 3, width).transpose(0, 2, 1).reshape(-1, 3 * width)
        mask = mask == best[rows, None]
        nodes = np.empty(mask.shape, dtype=np.int64)
        n_l = left(self.nodes, length, r0, r1)[rows]
        n_r = right(self.nodes, length, r0, r1)[rows]
        np.add(n_l, n_r + 1, out=nodes[:, 0::3])
        np.add(n_r, 1, out=nodes[:, 1::3])
        np.add(n_l, 1, out=nodes[:, 2::3])
        first, still = _first_lowest(mask, nodes)
        if len(still):
            at = rows[still]
            mask = mask[still] & (nodes[still] == nodes[still, first[still]][:, None])
            peaks = np.empty(mask.shape, dtype=self.ptype)
            for s, values in enumerate(self.split_peaks(length, r0, r1, at)):
                peaks[:, s::3] = values
            first[still] = _first_lowest(mask, peaks)[0]
        return first

    def _leaf_peaks(self, i: Any, j: Any) -> tuple[Any, Any]:
        pair = self.pair[i, j - i + 1]
        return (1 + self.wp[i - 1]) * pair, self.acts[j + 1] - self.acts[i - 1] + self.wp[j] * pair

    def split_peaks(self, length: int, r0: int, r1: int, rows: Any) -> list[Any]:
        """Peaks of multiply, push and pull at every split of the block rows ``rows``."""
        i = (1 + r0 + rows)[:, None]
        views = [
            view(table, length, r0, r1)[rows]
            for table in (self.peak, self.pair)
            for view in (left, right)
        ]
        k = splits(np.arange(self.n + 1), length, r0, r1)[rows]
        return self._split_peaks(i, i + length - 1, k, *views)

    def _split_peaks(
        self, i: Any, j: Any, k: Any, p_l: Any, p_r: Any, q_l: Any, q_r: Any
    ) -> list[Any]:
        """Peaks of multiply, push and pull from their factors' (element-wise)."""
        di, dj, dk = self.wp[i - 1], self.wp[j], self.wp[k]
        return [
            _lower_peak_first(p_l, dj * dk, p_r, dk * di, dj * di),
            np.maximum(p_r, (1 + di) * q_l),
            np.maximum(p_l, self.acts[k + 1] - self.acts[i - 1] + dj * q_r),
        ]

    def _store(self, length: int, r0: int, r1: int, best: Any, pos: Any, leaf_peaks: Any) -> None:
        """Write the winners' MACs, nodes, peak and choice."""
        i = np.arange(1 + r0, 1 + r1)
        self.macs[i, length] = best
        self.how[i, length] = pos
        nodes = np.ones(len(i), dtype=np.int64)
        peak = np.where(pos == 0, leaf_peaks[0], leaf_peaks[1])
        won = np.flatnonzero(pos >= 2)
        if len(won):
            c, s = np.divmod(pos[won] - 2, 3)
            iw = i[won]
            j, k = iw + length - 1, iw + c
            n_l, n_r, *factors = [
                table[at]
                for table in (self.nodes, self.peak, self.pair)
                for at in ((k + 1, j - k), (iw, c + 1))
            ]
            nodes[won] = np.choose(s, [n_l + n_r + 1, n_r + 1, n_l + 1])
            peak[won] = np.choose(s, self._split_peaks(iw, j, k, *factors))
        self.nodes[i, length] = nodes
        self.peak[i, length] = peak

    def trace(self) -> Node:
        """The winning plan of ``1..n``, rebuilt from the choices without recursion."""
        built: dict[tuple[int, int], Node] = {}
        stack: list[tuple[int, int, bool]] = [(1, self.n, False)]
        while stack:
            i, j, ready = stack.pop()
            pos = int(self.how[i, j - i + 1])
            if pos < 2:
                built[i, j] = leaf("tangents" if pos == 0 else "adjoints", i, j)
                continue
            c, s = divmod(pos - 2, 3)
            k = i + c
            if ready:
                left_node = built.pop((k + 1, j)) if s != 1 else None
                right_node = built.pop((i, k)) if s != 2 else None
                built[i, j] = split_node(_OPS[s], i, j, k, left_node, right_node)
                continue
            stack.append((i, j, True))
            if s != 1:
                stack.append((k + 1, j, False))
            if s != 2:
                stack.append((i, k, False))
        return built[1, self.n]


def _lower_peak_first(peak_l: Any, held_l: Any, peak_r: Any, held_r: Any, out: Any) -> Any:
    """:func:`jacobench._core.lower_peak_first`'s peak, element-wise."""
    both = held_l + held_r + out
    right_first = np.maximum(np.maximum(peak_r, held_r + peak_l), both)
    left_first = np.maximum(np.maximum(peak_l, held_l + peak_r), both)
    return np.minimum(right_first, left_first)


def _code(column: Any, width: int) -> Any:
    """The choice code of a candidate column (``0``, ``1`` leaves; ``2 + 3c + s`` splits).

    The split ``c`` is by multiply (``s = 0``), push (1) or pull (2).

    Example:
        >>> _code(np.array([0, 1, 2, 3, 4, 5, 6, 7]), 2).tolist()
        [0, 1, 2, 5, 3, 6, 4, 7]
    """
    if width == 0:
        return column
    s, c = np.divmod(np.maximum(column - 2, 0), width)
    return np.where(column < 2, column, 2 + 3 * c + s)


def _first_lowest(mask: Any, values: Any) -> tuple[Any, Any]:
    """Per row, the first entry of ``mask`` with the lowest value; rows where that is not unique."""
    masked = np.where(mask, values, _above(values))
    first = masked.argmin(axis=1)
    last = masked.shape[1] - 1 - masked[:, ::-1].argmin(axis=1)
    return first, np.flatnonzero(first != last)


def _above(value: Any) -> Any:
    """A value above every entry of ``value``'s type: the int64 maximum, or infinity."""
    return np.iinfo(np.int64).max if value.dtype == np.int64 else math.inf


@lru_cache(maxsize=256)
def cheapest(d: tuple[int, ...], costs: Costs) -> Node:
    """The cheapest plan of trusted widths (see :func:`jacobench.matrix_free.optimal`)."""
    program = _Program(d, costs)
    kind = "object" if object in (program.mtype, program.ptype) else "int64"
    _announce("planning the cheapest matrix-free plan", program.n, kind, tables=5)
    for length in range(1, program.n + 1):
        program.fill(length)
    return program.trace()


@lru_cache(maxsize=256)
def least_peak(d: tuple[int, ...]) -> int:
    """:func:`jacobench.matrix_free.min_peak` on trusted widths."""
    spans = _Spans(d)
    kind = "peak" if spans.ptype is np.int64 else "object"
    _announce("finding the least peak memory", spans.n, kind, tables=2)
    for length in range(1, spans.n + 1):
        spans.least(length)
    return int(spans.peak[1, spans.n])
