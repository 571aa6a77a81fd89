"""The optimal Hessian's search: the cheapest split interfaces, within a memory limit or not.

The cost and memory of a set of splits are :func:`jacobench.second_order.model.splits_macs` and
:func:`~jacobench.second_order.model.splits_peak` (the derivation is in that module's docstring).
:func:`optimal_splits` finds the cheapest set by dynamic programming over interfaces, from the
top down; :func:`all_splits` enumerates every set, for brute-force checks.

Example:
    >>> optimal_splits((4, 4, 1, 16, 16, 1)), len(list(all_splits(5)))
    ((2,), 16)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import combinations

from .._core import check_layers, pareto_front
from ..errors import JacobenchError
from .model import segment_macs, sweep_held, validate_scalar_widths

__all__ = ["all_splits", "cheapest", "cheapest_within", "least_peak", "min_peak", "optimal_splits"]


def all_splits(n_layers: int) -> Iterator[tuple[int, ...]]:
    """Every set of split interfaces for ``n_layers`` layers (``2**(L-1)`` sets; keep L small).

    Example:
        >>> list(all_splits(3))
        [(), (1,), (2,), (1, 2)]
    """
    inner = range(1, check_layers(n_layers))
    for size in range(n_layers):
        yield from combinations(inner, size)


def optimal_splits(widths: Sequence[int], max_peak: int | None = None) -> tuple[int, ...]:
    """The cheapest set of split interfaces, by dynamic programming over interfaces.

    Without ``max_peak``, ``C(i)`` (the MACs of the sweeps that form ``H_i``) is filled from the
    top interface down, O(L^2); ties go to fewer splits, then to the lower peak, then to the
    lowest split. With ``max_peak`` (elements), each interface keeps the Pareto front of (MACs,
    peak) of its plans, dropping every point over the budget; a segment's peak depends on the
    plan above it only through that plan's peak (monotonically), so the front is exact.

    Args:
        widths: ``(d_0, ..., d_L)`` with ``d_L = 1``.
        max_peak: ``None``, or the most elements the plan may hold at once.

    Returns:
        The split interfaces, increasing; ``()`` is ``jax.hessian``'s fwd-over-rev.

    Raises:
        JacobenchError: For bad widths, or when no plan fits ``max_peak`` (the message gives the
            least peak any plan reaches).

    Example:
        >>> optimal_splits((512, 512, 8, 512, 512, 512, 512, 1))
        (2,)
        >>> optimal_splits((4, 4, 4, 1))
        ()
    """
    d = validate_scalar_widths(widths)
    if max_peak is None:
        return cheapest(d)
    if isinstance(max_peak, bool) or not isinstance(max_peak, int) or max_peak < 0:
        raise JacobenchError(f"max_peak must be a non-negative int (elements), got {max_peak!r}")
    found = cheapest_within(d, max_peak)
    if found is None:
        raise JacobenchError(
            f"no Hessian plan of widths {d} fits in {max_peak:,} elements; the least peak memory "
            f"any plan reaches is {least_peak(d):,} elements"
        )
    return found


def min_peak(widths: Sequence[int]) -> int:
    """The least peak memory (elements) that any split plan of ``widths`` reaches.

    Example:
        >>> from jacobench.second_order.model import splits_peak
        >>> min_peak((4, 4, 1, 16, 16, 1)) == splits_peak((4, 4, 1, 16, 16, 1), (2,))
        True
    """
    return least_peak(validate_scalar_widths(widths))


def _pareto(
    d: tuple[int, ...], max_peak: int | None
) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """The Pareto front at interface 0: (macs, splits count, peak, splits), cheapest first."""
    n_layers = len(d) - 1
    base = 2 * sum(d)
    Point = tuple[int, int, int, tuple[int, ...]]
    fronts: dict[int, list[Point]] = {}
    for i in range(n_layers - 1, -1, -1):
        t = d[i]
        cands: list[Point] = [
            (2 * t * segment_macs(d, i, n_layers), 0, base + sweep_held(d, i, n_layers, False), ())
        ]
        for j in range(i + 1, n_layers):
            macs = 2 * t * segment_macs(d, i, j) + d[j] * d[j] * t
            held = base + sweep_held(d, i, j, seeded=True)
            for m, count, peak, splits in fronts[j]:
                cands.append((m + macs, count + 1, max(peak, held), (j, *splits)))
        if max_peak is not None:
            cands = [p for p in cands if p[2] <= max_peak]
        fronts[i] = pareto_front(cands, key=lambda p: (p[0], p[1], p[2]))
    return fronts[0]


@lru_cache(maxsize=256)
def cheapest(d: tuple[int, ...]) -> tuple[int, ...]:
    """:func:`optimal_splits` on trusted widths, without a limit (cached)."""
    n_layers = len(d) - 1
    base = 2 * sum(d)
    # best[i] = (macs of the sweeps forming H_i, number of splits, peak, splits)
    best: dict[int, tuple[int, int, int, tuple[int, ...]]] = {}
    for i in range(n_layers - 1, -1, -1):
        t = d[i]
        choice: tuple[int, int, int, tuple[int, ...]] = (
            2 * t * segment_macs(d, i, n_layers),
            0,
            base + sweep_held(d, i, n_layers, False),
            (),
        )
        for j in range(i + 1, n_layers):
            m, count, peak, splits = best[j]
            held = base + sweep_held(d, i, j, seeded=True)
            cand = (m + 2 * t * segment_macs(d, i, j) + d[j] * d[j] * t, count + 1, max(peak, held))
            if cand < choice[:3]:
                choice = (*cand, (j, *splits))
        best[i] = choice
    return best[0][3]


@lru_cache(maxsize=256)
def cheapest_within(d: tuple[int, ...], max_peak: int) -> tuple[int, ...] | None:
    """:func:`optimal_splits` on trusted widths within ``max_peak``; None when nothing fits."""
    front = _pareto(d, max_peak)
    return front[0][3] if front else None


@lru_cache(maxsize=256)
def least_peak(d: tuple[int, ...]) -> int:
    """:func:`min_peak` on trusted widths (cached)."""
    return _pareto(d, None)[-1][2]
