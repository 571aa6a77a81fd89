"""The matrix-free dynamic programs: the cheapest plan (within a memory limit or not), least peak.

Each candidate is priced through a cost object (:class:`~jacobench.matrix_free.model.MacCosts`:
``tangents(w, lo, hi)``, ``adjoints(w, lo, hi)``, ``multiply(m, k, n)``) and its memory through
the model's pass formulas and the shared evaluation-order rule.

Example:
    >>> from jacobench.matrix_free.tree import format
    >>> format(optimal((8, 8, 1, 8, 8)))
    'jvp(J4 J3) @ vjp(J2 J1)'
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeAlias

from .._core import lower_peak_first, pareto_front, validate_widths
from .._text import int_text, show
from ..errors import JacobenchError
from .dynamic import _announce, cheapest, least_peak
from .model import Costs, adjoint_pass_peak, costs_of, pass_cost, tangent_pass_peak
from .tree import Node, batch_sizes, leaf, n_batches, split_node

__all__ = ["cheapest", "cheapest_within", "least_peak", "min_peak", "optimal"]


def _tables(d: tuple[int, ...]) -> tuple[list[int], list[list[int]]]:
    """``acts[l] = d_0 + ... + d_{l-1}`` and ``pair[i][j]``: the widest layer pair of ``i..j``."""
    n = len(d) - 1
    acts = [0] * (n + 2)
    for k in range(n + 1):
        acts[k + 1] = acts[k] + d[k]
    pair = [[0] * (n + 1) for _ in range(n + 2)]
    for i in range(1, n + 1):
        m = 0
        for j in range(i, n + 1):
            m = max(m, d[j - 1] + d[j])
            pair[i][j] = m
    return acts, pair


def min_peak(widths: Sequence[int]) -> int:
    """The least peak memory (elements) of any matrix-free plan of ``widths``, batches included.

    Every node's peak is monotone in its children's peaks, so the least peak of each segment is
    found by a dynamic program over segments, like :func:`jacobench.explicit.min_peak`.

    Example:
        Forward on ``(4, 4, 4)`` holds ``(1 + 4) * 8 = 40`` elements; one tangent at a time, it
        holds ``(1 + 1) * 8`` plus the ``4 x 4`` result, 32:

        >>> from jacobench.matrix_free import Node, memory
        >>> memory((4, 4, 4), Node("tangents", 1, 2)), min_peak((4, 4, 4))
        (40, 32)
    """
    return least_peak(validate_widths(widths))


# A point of a Pareto front: (macs, steps, peak, how); how = (op, k, batch, left, right), where
# left and right are the children's points (None where the op has no such child).
_Point: TypeAlias = tuple[float, int, int, tuple[Any, ...]]


@lru_cache(maxsize=256)
def cheapest_within(d: tuple[int, ...], max_peak: int, costs: Costs) -> Node | None:
    """:func:`optimal` with ``max_peak`` on trusted inputs; None when nothing fits."""
    n = len(d) - 1
    _announce("planning the cheapest matrix-free plan within the budget", n, "pareto", tables=0)
    acts, pair = _tables(d)
    fronts: dict[tuple[int, int], list[_Point]] = {}
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj = d[i - 1], d[j]
            cands: list[_Point] = []
            for b in batch_sizes(di):
                peak = tangent_pass_peak(pair[i][j], di, b, dj, 0)
                cands.append(
                    (
                        pass_cost(costs, "tangents", di, i, j, b),
                        n_batches(di, b),
                        peak,
                        ("tangents", 0, b, None, None),
                    )
                )
            for b in batch_sizes(dj):
                peak = adjoint_pass_peak(acts[j + 1] - acts[i - 1], pair[i][j], dj, b, di, 0)
                cands.append(
                    (
                        pass_cost(costs, "adjoints", dj, i, j, b),
                        n_batches(dj, b),
                        peak,
                        ("adjoints", 0, b, None, None),
                    )
                )
            for k in range(i, j):
                lefts, rights, dk = fronts[k + 1, j], fronts[i, k], d[k]
                if dj * dk + dk * di + dj * di <= max_peak:
                    mult = costs.multiply(dj, dk, di)
                    for left in lefts:
                        for right in rights:
                            peak = lower_peak_first(left[2], dj * dk, right[2], dk * di, dj * di)[0]
                            steps = left[1] + right[1] + 1
                            how: tuple[Any, ...] = ("multiply", k, None, left, right)
                            cands.append((left[0] + right[0] + mult, steps, peak, how))
                for b in batch_sizes(di):
                    macs = pass_cost(costs, "tangents", di, k + 1, j, b, seeded=True)
                    peak = tangent_pass_peak(pair[k + 1][j], di, b, dj, dk)
                    for right in rights if peak <= max_peak else ():
                        steps = right[1] + n_batches(di, b)
                        how = ("push", k, b, None, right)
                        cands.append((right[0] + macs, steps, max(right[2], peak), how))
                for b in batch_sizes(dj):
                    macs = pass_cost(costs, "adjoints", dj, i, k, b, seeded=True)
                    peak = adjoint_pass_peak(acts[k + 1] - acts[i - 1], pair[i][k], dj, b, di, dk)
                    for left in lefts if peak <= max_peak else ():
                        steps = left[1] + n_batches(dj, b)
                        how = ("pull", k, b, left, None)
                        cands.append((left[0] + macs, steps, max(left[2], peak), how))
            fits = (p for p in cands if p[2] <= max_peak)
            fronts[i, j] = pareto_front(fits, key=lambda p: (p[0], p[1], p[2]))

    root = fronts[1, n]
    if not root:
        return None
    built: dict[tuple[int, int], Node] = {}  # post-order, without recursion
    stack: list[tuple[_Point, int, int, bool]] = [(root[0], 1, n, False)]
    while stack:
        point, i, j, ready = stack.pop()
        op, k, b, left, right = point[3]
        if op in ("tangents", "adjoints"):
            built[i, j] = leaf(op, i, j, b)
        elif ready:
            tree_l = built.pop((k + 1, j)) if left is not None else None
            tree_r = built.pop((i, k)) if right is not None else None
            built[i, j] = split_node(op, i, j, k, tree_l, tree_r, b)
        else:
            stack.append((point, i, j, True))
            if left is not None:
                stack.append((left, k + 1, j, False))
            if right is not None:
                stack.append((right, i, k, False))
    return built[1, n]


def optimal(
    widths: Sequence[int], max_peak: int | None = None, *, layer_costs: object = None
) -> Node:
    """The cheapest matrix-free plan, optionally within ``max_peak`` elements, O(L^3).

    Without a limit: for each segment ``i..j`` (shortest first) the cheapest of tangents, adjoints
    and, for every split ``k``, multiply / push / pull using the best plans of the two halves.
    Priced with numpy one segment length at a time (:mod:`jacobench.matrix_free.dynamic`),
    exactly: int64 where the largest value fits, Python ints otherwise. Ties on MACs go to the
    simpler plan (fewer nodes: ``jvp(J2 J1)`` rather than the equally costly
    ``jvp(J2, seed=jvp(J1))``), then to the lower peak memory, then to the first candidate in the
    order tangents, adjoints, then by ``k`` upwards: multiply, push, pull.

    With ``max_peak``: a dynamic program over segments that keeps, for each segment, the Pareto
    front of (MACs, peak memory) over its plans, dropping every point over ``max_peak``. A node's
    MACs add its children's; its peak (the formulas of :mod:`jacobench.matrix_free.model`) is
    monotone in each child's peak, and a child's result size is fixed by its span; so a child plan
    beaten on both counts never helps, and the front is exact. Each tangent or adjoint block may
    run whole or in batches of a power of two below its width. Among equally cheap plans the one
    with the fewest steps wins (a node counts one step, a batched node one per batch: fewer,
    larger batches), then the one with the lower peak.

    Args:
        widths: ``(d_0, ..., d_L)``.
        max_peak: ``None``, or the budget in elements (see the model for what is counted).
        layer_costs: ``None`` (dense layers) or per-layer ``(tangent MACs, adjoint MACs)``.

    Returns:
        A plan with the fewest multiply-adds (among those within ``max_peak``).

    Raises:
        JacobenchError: For bad widths, ``max_peak`` or ``layer_costs``, or if no plan fits (the
            message gives the least peak that does).

    Example:
        >>> from jacobench.matrix_free.tree import format
        >>> format(optimal((8, 8, 1, 8, 8)))
        'jvp(J4 J3) @ vjp(J2 J1)'
        >>> format(optimal((2, 8, 8, 8)))
        'jvp(J3 J2 J1)'

        Forward on ``(4, 4, 4)`` (128 MACs) peaks at ``(1 + 4) * 8 = 40`` elements; two tangents
        at a time it holds ``(1 + 2) * 8`` plus the ``4 x 4`` result, 40 again; one at a time,
        32. Reverse one adjoint at a time costs the same and holds 36, so within 36:

        >>> format(optimal((4, 4, 4), max_peak=36))
        'jvp(J2 J1, batch=1)'
    """
    d = validate_widths(widths)
    costs = costs_of(d, layer_costs)
    if max_peak is None:
        return cheapest(d, costs)
    if isinstance(max_peak, bool) or not isinstance(max_peak, int) or max_peak < 0:
        raise JacobenchError(f"max_peak must be a non-negative int (elements), got {max_peak!r}")
    tree = cheapest_within(d, max_peak, costs)
    if tree is None:
        raise JacobenchError(
            f"no matrix-free plan of widths {show(d)} fits in {int_text(max_peak)} elements; the "
            f"least peak memory any plan reaches is {int_text(least_peak(d))} elements"
        )
    return tree
