"""Planners for explicit Jacobian chains: one registry, one signature, one frozen plan.

A planner is a pure function ``widths -> Tree``. :data:`STRATEGIES` holds them by name;
:func:`plan` looks one up (case-insensitively), costs the tree it returns with :mod:`jacobench.cost`
and hands back a frozen, printable :class:`Plan`. Executing a plan is :func:`jacobench.multiply`'s
job, not this module's.

With a ``memory_budget``, ``"optimal"`` is the cheapest bracketing whose peak memory (as
:mod:`jacobench.cost` defines it, evaluation order included) fits the budget; any other strategy
either fits or is refused.

Example:
    >>> p = plan((50, 5, 100, 10), "optimal")
    >>> p.bracket, p.macs, p.speedup_vs_forward
    (((3, 2), 1), 7500, 10.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

from .cost import (
    Step,
    Tree,
    _analyse,
    balanced_tree,
    format_tree,
    forward_macs,
    forward_tree,
    reverse_macs,
    reverse_tree,
    validate_tree,
    validate_widths,
)
from .errors import JacobenchError
from .units import format_bytes, parse_bytes, resolve_dtype

T = TypeVar("T")

__all__ = [
    "STRATEGIES",
    "Plan",
    "get_strategy",
    "min_peak_memory",
    "optimal_tree",
    "optimal_tree_within",
    "plan",
]

Planner = Callable[[tuple[int, ...]], Tree]

_FLOAT32 = np.dtype("float32")


def optimal_tree(widths: Sequence[int]) -> Tree:
    """The cheapest bracketing, by the O(L^3) matrix-chain dynamic program.

    ``cost[lo, hi] = min_k cost[lo, k] + cost[k+1, hi] + d_hi * d_k * d_{lo-1}``, filled one
    diagonal at a time with numpy (int64 where the largest possible cost fits, exact Python ints
    otherwise). Among equally cheap splits the lowest ``k`` wins.

    Args:
        widths: ``(d_0, ..., d_L)``.

    Returns:
        A bracketing with the fewest multiply-adds.

    Example:
        >>> optimal_tree((50, 5, 100, 10))  # (J3 J2) J1: 7,500 MACs instead of 75,000
        ((3, 2), 1)
    """
    d_tuple = validate_widths(widths)
    n = len(d_tuple) - 1
    if n == 1:
        return 1
    big = max(d_tuple)
    dtype: type = np.int64 if (n - 1) * big**3 < 2**62 else object
    d: np.ndarray = np.array(d_tuple, dtype=dtype)
    cost: np.ndarray = np.zeros((n + 2, n + 2), dtype=dtype)
    split = np.zeros((n + 2, n + 2), dtype=np.int64)
    for length in range(2, n + 1):
        lo = np.arange(1, n - length + 2)  # spans lo..hi of this length
        hi = lo + length - 1
        ks = lo[:, None] + np.arange(length - 1)[None, :]  # split after k: (lo..k), (k+1..hi)
        total = (
            cost[lo[:, None], ks]
            + cost[ks + 1, hi[:, None]]
            + d[hi][:, None] * d[ks] * d[lo - 1][:, None]
        )
        best = np.argmin(total, axis=1)
        rows = np.arange(len(lo))
        cost[lo, hi] = total[rows, best]
        split[lo, hi] = ks[rows, best]

    return _build_tree(split, n)


def _build_tree(split: np.ndarray, n: int) -> Tree:
    """Turn the DP's split table into a tree, without recursion (chains may be deep)."""
    results: dict[tuple[int, int], Tree] = {}
    stack: list[tuple[int, int, bool]] = [(1, n, False)]
    while stack:
        lo, hi, ready = stack.pop()
        if lo == hi:
            results[(lo, hi)] = lo
            continue
        k = int(split[lo, hi])
        if ready:
            results[(lo, hi)] = (results.pop((k + 1, hi)), results.pop((lo, k)))
            continue
        stack.extend([(lo, hi, True), (k + 1, hi, False), (lo, k, False)])
    return results[(1, n)]


def _node_peak(peak_l: int, held_l: int, peak_r: int, held_r: int, out: int) -> int:
    """Peak of a product node from its children's, the better child first (as cost._analyse)."""
    both = held_l + held_r + out
    return min(max(peak_r, held_r + peak_l, both), max(peak_l, held_l + peak_r, both))


def min_peak_memory(widths: Sequence[int]) -> int:
    """The least peak memory (elements) that any bracketing of ``widths`` reaches.

    A product's peak depends on its children only through their peaks (monotonically) and the
    sizes of their results (fixed by the spans), so the least peak of each span is found by an
    O(L^3) dynamic program over spans, like the matrix-chain one.

    Example:
        On ``(2, 1, 2, 6)`` reverse peaks at 18 elements and forward at 16 (see
        :func:`optimal_tree_within`):

        >>> min_peak_memory((2, 1, 2, 6))
        16
    """
    d = validate_widths(widths)
    n = len(d) - 1
    best: dict[tuple[int, int], int] = {(i, i): 0 for i in range(1, n + 1)}
    for length in range(2, n + 1):
        for lo in range(1, n - length + 2):
            hi = lo + length - 1
            out = d[hi] * d[lo - 1]
            best[lo, hi] = min(
                _node_peak(
                    best[k + 1, hi],
                    0 if k + 1 == hi else d[hi] * d[k],
                    best[lo, k],
                    0 if lo == k else d[k] * d[lo - 1],
                    out,
                )
                for k in range(lo, hi)
            )
    return best[1, n]


def optimal_tree_within(widths: Sequence[int], max_peak: int) -> Tree:
    """The cheapest bracketing whose peak memory is at most ``max_peak`` elements.

    A dynamic program over spans that keeps, for each span, the Pareto front of
    (multiply-adds, peak memory) over its bracketings, dropping any point over ``max_peak``. A
    product's cost adds its children's; its peak (see :mod:`jacobench.cost`) is monotone in each
    child's peak, and a child's result size is fixed by its span; so a child bracketing that is
    beaten on both counts never helps, and the front is exact. Among equally cheap fits the one
    with the lower peak wins, then the lower split.

    Args:
        widths: ``(d_0, ..., d_L)``.
        max_peak: The budget, in elements held in products at once (inputs excluded).

    Returns:
        A bracketing with ``tree_memory <= max_peak`` and the fewest multiply-adds among those.

    Raises:
        JacobenchError: If no bracketing fits; the message gives the least peak that does.

    Example:
        On ``(2, 1, 2, 6)`` reverse is cheapest: ``J3 J2`` (6x1, 12 MACs), then times ``J1``
        (6x2, 12 MACs) while ``J3 J2`` is held: 24 MACs, peak ``6 + 12 = 18`` elements. Forward
        makes ``J2 J1`` (2x2, 4 MACs), then ``J3 (J2 J1)`` (6x2, 24 MACs): 28 MACs, peak
        ``4 + 12 = 16``. Within 16 elements only forward fits:

        >>> optimal_tree((2, 1, 2, 6)), optimal_tree_within((2, 1, 2, 6), 16)
        (((3, 2), 1), (3, (2, 1)))
    """
    d = validate_widths(widths)
    if isinstance(max_peak, bool) or not isinstance(max_peak, int) or max_peak < 0:
        raise JacobenchError(f"max_peak must be a non-negative int (elements), got {max_peak!r}")
    tree = _tree_within(d, max_peak)
    if tree is None:
        raise JacobenchError(
            f"no bracketing of widths {d} fits in {max_peak:,} elements; the least peak memory "
            f"any bracketing reaches is {min_peak_memory(d):,} elements"
        )
    return tree


def _tree_within(d: tuple[int, ...], max_peak: int) -> Tree | None:
    """:func:`optimal_tree_within` on trusted inputs; None when nothing fits."""
    n = len(d) - 1
    Point = tuple[int, int, Tree]  # (macs, peak, tree)
    fronts: dict[tuple[int, int], list[Point]] = {(i, i): [(0, 0, i)] for i in range(1, n + 1)}
    for length in range(2, n + 1):
        for lo in range(1, n - length + 2):
            hi = lo + length - 1
            out = d[hi] * d[lo - 1]
            candidates: list[Point] = []
            for k in range(lo, hi):
                held_l = 0 if k + 1 == hi else d[hi] * d[k]
                held_r = 0 if lo == k else d[k] * d[lo - 1]
                if held_l + held_r + out > max_peak:
                    continue
                mult = d[hi] * d[k] * d[lo - 1]
                for macs_r, peak_r, tree_r in fronts[lo, k]:
                    for macs_l, peak_l, tree_l in fronts[k + 1, hi]:
                        peak = _node_peak(peak_l, held_l, peak_r, held_r, out)
                        if peak <= max_peak:
                            candidates.append((macs_l + macs_r + mult, peak, (tree_l, tree_r)))
            candidates.sort(key=lambda point: (point[0], point[1]))
            front: list[Point] = []
            for point in candidates:  # cheapest first: keep each one that lowers the peak
                if not front or point[1] < front[-1][1]:
                    front.append(point)
            fronts[lo, hi] = front
    root = fronts[1, n]
    return root[0][2] if root else None


def _forward(widths: tuple[int, ...]) -> Tree:
    return forward_tree(len(widths) - 1)


def _reverse(widths: tuple[int, ...]) -> Tree:
    return reverse_tree(len(widths) - 1)


def _balanced(widths: tuple[int, ...]) -> Tree:
    return balanced_tree(len(widths) - 1)


STRATEGIES: dict[str, Planner] = {
    "forward": _forward,
    "reverse": _reverse,
    "optimal": optimal_tree,
    "balanced": _balanced,
}
"""Every registered explicit strategy, by lower-case name."""


def get_strategy(name: str) -> Planner:
    """Look up a registered strategy by name, case-insensitively.

    Raises:
        JacobenchError: For an unknown name; the message lists the valid options.

    Example:
        >>> get_strategy("Forward") is STRATEGIES["forward"]
        True
    """
    return lookup(STRATEGIES, name)


def lookup(registry: Mapping[str, T], name: str) -> T:
    """``registry[name.lower()]``, or the library's error listing the valid names.

    Example:
        >>> lookup({"a": 1}, "A")
        1
    """
    key = name.lower() if isinstance(name, str) else name
    try:
        return registry[key]
    except (KeyError, TypeError):
        raise JacobenchError(
            f"unknown strategy {name!r}; valid options are {sorted(registry)}"
        ) from None


class PlanSummary:
    """What every plan shows, for both engines: speedups, memory in bytes, a printed table.

    A subclass is a frozen dataclass with ``widths``, ``strategy``, ``macs``, ``peak_memory``,
    ``forward_macs``, ``reverse_macs`` and ``memory_budget``, and a ``formula`` property.
    """

    _FORMULA_LABEL = "Bracketing"
    widths: tuple[int, ...]
    strategy: str
    macs: int
    peak_memory: int
    forward_macs: int
    reverse_macs: int
    memory_budget: int | None

    @property
    def formula(self) -> str:  # pragma: no cover - every subclass defines it
        """The plan written as a formula."""
        raise NotImplementedError

    @property
    def n_layers(self) -> int:
        """L, the number of layers."""
        return len(self.widths) - 1

    @property
    def speedup_vs_forward(self) -> float:
        """Forward-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return _ratio(self.forward_macs, self.macs)

    @property
    def speedup_vs_reverse(self) -> float:
        """Reverse-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return _ratio(self.reverse_macs, self.macs)

    def memory_bytes(self, dtype: object = "float32") -> int:
        """Peak memory in bytes for elements of ``dtype`` (a numeric numpy dtype or its name)."""
        return self.peak_memory * resolve_dtype(dtype).itemsize

    def __str__(self) -> str:
        rows = [
            ("Widths", "-".join(map(str, self.widths))),
            ("Strategy", self.strategy),
            (self._FORMULA_LABEL, self.formula),
            ("Multiply-adds", f"{self.macs:,}"),
            ("Forward multiply-adds", f"{self.forward_macs:,}"),
            ("Reverse multiply-adds", f"{self.reverse_macs:,}"),
            ("Speedup vs forward", f"{self.speedup_vs_forward:.3g}x"),
            ("Speedup vs reverse", f"{self.speedup_vs_reverse:.3g}x"),
            ("Peak memory (elements)", f"{self.peak_memory:,}"),
        ]
        if self.memory_budget is not None:
            rows.append(("Memory budget (elements)", f"{self.memory_budget:,}"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)


@dataclass(frozen=True)
class Plan(PlanSummary):
    """How to evaluate one explicit Jacobian chain, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        strategy: The registered name that produced the plan, or ``"custom"`` for a given tree.
        bracket: The bracketing tree.
        macs: Multiply-adds of ``bracket``.
        peak_memory: Peak elements held in products during evaluation (inputs excluded).
        forward_macs: Multiply-adds of forward mode on the same widths.
        reverse_macs: Multiply-adds of reverse mode on the same widths.
        steps: The products in evaluation order (see :func:`jacobench.cost.schedule`).
        memory_budget: The memory budget the plan was asked to fit, in elements (the budget in
            bytes over the dtype's itemsize, rounded down), like ``peak_memory``; ``None`` when
            none was given.
    """

    widths: tuple[int, ...]
    strategy: str
    bracket: Tree
    macs: int
    peak_memory: int
    forward_macs: int
    reverse_macs: int
    steps: tuple[Step, ...] = field(repr=False, compare=False)
    memory_budget: int | None = None

    @property
    def formula(self) -> str:
        """The bracketing as a person writes it, e.g. ``(J4 J3) (J2 J1)``."""
        return format_tree(self.bracket)


def _ratio(num: int, den: int) -> float:
    if den == 0:
        return 1.0 if num == 0 else float("inf")
    return num / den


def plan(
    widths: Sequence[int],
    strategy: str | Tree = "optimal",
    *,
    memory_budget: int | str | None = None,
    dtype: object = "float32",
) -> Plan:
    """Plan the explicit product ``J_L ... J_1`` for ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)``, positive integers, ``L >= 1``.
        strategy: A registered name (``"forward"``, ``"reverse"``, ``"optimal"``; any case) or a
            bracketing tree such as ``((4, 3), (2, 1))``.
        memory_budget: ``None`` (no limit), or the most bytes the products may hold at once: an
            ``int`` or a string such as ``"2GiB"``, ``"512MiB"``, ``"1.5GB"`` (see
            :func:`jacobench.units.parse_bytes`). ``"optimal"`` then gives the cheapest
            bracketing that fits (:func:`optimal_tree_within`); any other strategy must fit.
        dtype: The element type that turns the budget into elements (default ``"float32"``).

    Returns:
        A frozen :class:`Plan`. Plans are cached: the same request returns the same object.

    Raises:
        JacobenchError: For bad widths, an unknown strategy, a tree that does not bracket
            ``1..L``, a malformed budget or dtype, or a plan that does not fit the budget (the
            message gives the smallest budget that would fit).

    Example:
        >>> p = plan((50, 5, 100, 10), "forward")
        >>> p.formula, p.macs, p.speedup_vs_reverse
        ('J3 (J2 J1)', 75000, 0.1)

        On ``(2, 1, 2, 6)`` the cheapest plan peaks at 18 elements (72 bytes of float32); within
        64 bytes, forward (4 more MACs, 16 elements) is the cheapest that fits:

        >>> plan((2, 1, 2, 6)).formula, plan((2, 1, 2, 6), memory_budget=64).formula
        ('(J3 J2) J1', 'J3 (J2 J1)')
        >>> try:
        ...     plan((2, 1, 2, 6), memory_budget="64B", dtype="float64")
        ... except JacobenchError as err:
        ...     print(str(err).split("; ")[1])
        the smallest budget that fits is 128 bytes (128 B)
    """
    d = validate_widths(widths)
    element = _element_of(dtype)
    if isinstance(strategy, str):
        get_strategy(strategy)
        base = _plan_named(d, strategy.lower())
    else:
        base = _plan_tree(d, validate_tree(strategy, len(d) - 1), "custom")
    if memory_budget is None:
        return base
    budget_bytes = parse_bytes(memory_budget)
    found = _plan_within(base, budget_bytes // element.itemsize)
    if found is not None:
        return found
    if base.strategy == "optimal":
        what, need = "no bracketing fits", min_peak_memory(d) * element.itemsize
    else:
        what, need = f"strategy {base.strategy!r} does not fit", base.memory_bytes(element)
    raise _no_fit_error(what, d, budget_bytes, element, need)


def _element_of(dtype: object) -> np.dtype[Any]:
    """The dtype that turns a byte budget into elements (float32 without a lookup)."""
    return _FLOAT32 if isinstance(dtype, str) and dtype == "float32" else resolve_dtype(dtype)


def _no_fit_error(
    what: str, widths: tuple[int, ...], budget_bytes: int, element: np.dtype[Any], need: int
) -> JacobenchError:
    """The error for a plan that does not fit a budget; both engines word it this way.

    Args:
        what: The subject, e.g. ``"no bracketing fits"`` or ``"strategy 'forward' does not fit"``.
        widths: The chain's widths.
        budget_bytes: The budget, in bytes.
        element: The element type the budget was read with.
        need: The smallest budget that fits, in bytes (printed rounded up).
    """
    return JacobenchError(
        f"{what} widths {widths} in the memory budget of {budget_bytes:,} bytes "
        f"({format_bytes(budget_bytes)}) with {element.name} elements; "
        f"the smallest budget that fits is {need:,} bytes ({format_bytes(need, round_up=True)})"
    )


@lru_cache(maxsize=512)
def _plan_named(widths: tuple[int, ...], name: str) -> Plan:
    return _plan_tree(widths, STRATEGIES[name](widths), name)


@lru_cache(maxsize=512)
def _plan_tree(widths: tuple[int, ...], tree: Tree, name: str) -> Plan:
    macs, peak, steps = _analyse(widths, tree)
    return Plan(
        widths=widths,
        strategy=name,
        bracket=tree,
        macs=macs,
        peak_memory=peak,
        forward_macs=forward_macs(widths),
        reverse_macs=reverse_macs(widths),
        steps=steps,
    )


@lru_cache(maxsize=512)
def _plan_within(base: Plan, budget: int) -> Plan | None:
    """``base`` within ``budget`` elements; for "optimal", the cheapest fit; None if none fits."""
    if base.peak_memory <= budget:
        return replace(base, memory_budget=budget)
    if base.strategy != "optimal":
        return None
    tree = _tree_within(base.widths, budget)
    if tree is None:
        return None
    return replace(_plan_tree(base.widths, tree, "optimal"), memory_budget=budget)
