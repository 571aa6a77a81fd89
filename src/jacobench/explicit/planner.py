"""Planners for explicit Jacobian chains: one registry, one signature, one frozen plan.

A planner is a pure function ``widths -> Tree``. :data:`STRATEGIES` holds them by name;
:func:`plan` looks one up (case-insensitively), costs the tree it returns with
:mod:`jacobench.explicit.model` and hands back a frozen, printable :class:`Plan`. Executing a plan
is :func:`jacobench.explicit.multiply`'s job, not this module's.

With a ``memory_budget``, ``"optimal"`` is the cheapest bracketing whose peak memory (as the model
defines it, evaluation order included) fits the budget; any other strategy either fits or is
refused.

Example:
    >>> p = plan((50, 5, 100, 10), "optimal")
    >>> p.tree, p.macs, p.speedup_vs_forward
    (((3, 2), 1), 7500, 10.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from .._core import (
    PlanStep,
    PlanSummary,
    budget_in_elements,
    check_objective,
    element_of,
    fastest_of,
    fewest_macs,
    lookup,
    no_fit_error,
    span_label,
    validate_widths,
)
from .._core import register as _register
from .._text import int_text
from ..errors import JacobenchError
from .model import (
    Step,
    Tree,
    analyse,
    balanced_tree,
    format,
    forward_macs,
    forward_tree,
    reverse_macs,
    reverse_tree,
    tree_from_key,
    tree_key,
    tree_repr,
    validate_tree,
)
from .search import cheapest, least_peak, tree_within

__all__ = [
    "STRATEGIES",
    "Plan",
    "Planner",
    "get_strategy",
    "min_peak",
    "optimal",
    "plan",
    "register",
]

Planner = Callable[[tuple[int, ...]], Tree]
"""An explicit planner: a pure function ``widths -> bracketing``."""

ProductCost = Callable[[Any, Any, Any], Any]
"""The cost of products ``(m x k) @ (k x n)`` from arrays of ``m``, ``k``, ``n`` (the planner's
objective; hashable): :class:`jacobench.timing.costs.ProductSeconds` for predicted seconds."""


def optimal(widths: Sequence[int], max_peak: int | None = None) -> Tree:
    """The cheapest bracketing, optionally within a peak-memory limit of ``max_peak`` elements.

    Without a limit: the O(L^3) matrix-chain dynamic program,
    ``cost[lo, hi] = min_k cost[lo, k] + cost[k+1, hi] + d_hi * d_k * d_{lo-1}``, filled one
    diagonal at a time with numpy (int64 where the largest possible cost fits, exact Python ints
    otherwise). Among equally cheap splits the lowest ``k`` wins.

    With ``max_peak``: a dynamic program over spans that keeps, for each span, the Pareto front of
    (multiply-adds, peak memory) over its bracketings, dropping any point over ``max_peak``. A
    product's cost adds its children's; its peak (see :mod:`jacobench.explicit.model`) is
    monotone in each child's peak, and a child's result size is fixed by its span; so a child
    bracketing that is beaten on both counts never helps, and the front is exact. Among equally
    cheap fits the one with the lower peak wins, then the lower split.

    Args:
        widths: ``(d_0, ..., d_L)``.
        max_peak: ``None``, or the most elements the products may hold at once (inputs
            excluded).

    Returns:
        A bracketing with the fewest multiply-adds (among those within ``max_peak``).

    Raises:
        JacobenchError: For bad widths or ``max_peak``, or if no bracketing fits (the message
            gives the least peak that does).

    Example:
        >>> optimal((50, 5, 100, 10))  # (J3 J2) J1: 7,500 MACs instead of 75,000
        ((3, 2), 1)

        On ``(2, 1, 2, 6)`` reverse is cheapest: ``J3 J2`` (6x1, 12 MACs), then times ``J1``
        (6x2, 12 MACs) while ``J3 J2`` is held: 24 MACs, peak ``6 + 12 = 18`` elements. Forward
        makes ``J2 J1`` (2x2, 4 MACs), then ``J3 (J2 J1)`` (6x2, 24 MACs): 28 MACs, peak
        ``4 + 12 = 16``. Within 16 elements only forward fits:

        >>> optimal((2, 1, 2, 6)), optimal((2, 1, 2, 6), max_peak=16)
        (((3, 2), 1), (3, (2, 1)))
    """
    d = validate_widths(widths)
    if max_peak is None:
        return cheapest(d)
    if isinstance(max_peak, bool) or not isinstance(max_peak, int) or max_peak < 0:
        raise JacobenchError(f"max_peak must be a non-negative int (elements), got {max_peak!r}")
    tree = tree_within(d, max_peak)
    if tree is None:
        raise JacobenchError(
            f"no bracketing of widths {d} fits in {int_text(max_peak)} elements; the least peak "
            f"memory any bracketing reaches is {int_text(least_peak(d))} elements"
        )
    return tree


def min_peak(widths: Sequence[int]) -> int:
    """The least peak memory (elements) that any bracketing of ``widths`` reaches.

    A product's peak depends on its children only through their peaks (monotonically) and the
    sizes of their results (fixed by the spans), so the least peak of each span is found by an
    O(L^3) dynamic program over spans, like the matrix-chain one.

    Example:
        On ``(2, 1, 2, 6)`` reverse peaks at 18 elements and forward at 16 (see
        :func:`optimal`):

        >>> min_peak((2, 1, 2, 6))
        16
    """
    return least_peak(validate_widths(widths))


def _forward_bracketing(widths: tuple[int, ...]) -> Tree:
    return forward_tree(len(widths) - 1)


def _reverse_bracketing(widths: tuple[int, ...]) -> Tree:
    return reverse_tree(len(widths) - 1)


def _balanced_bracketing(widths: tuple[int, ...]) -> Tree:
    return balanced_tree(len(widths) - 1)


STRATEGIES: dict[str, Planner] = {
    "forward": _forward_bracketing,
    "reverse": _reverse_bracketing,
    "optimal": optimal,
    "balanced": _balanced_bracketing,
}
"""Every registered explicit strategy, by lower-case name (extend it with :func:`register`)."""


def register(name: str, planner: Planner) -> Planner:
    """Register ``planner`` (``widths -> bracketing``) as strategy ``name`` (any case).

    Example:
        >>> register("all-forward", lambda w: optimal(w))  # doctest: +ELLIPSIS
        <function <lambda> at ...>
        >>> plan((50, 5, 100, 10), "ALL-forward").macs
        7500
        >>> del STRATEGIES["all-forward"]
    """
    return _register(STRATEGIES, name, planner)


def get_strategy(name: str) -> Planner:
    """Look up a registered strategy by name, case-insensitively.

    Raises:
        JacobenchError: For an unknown name; the message lists the valid options.

    Example:
        >>> get_strategy("Forward") is STRATEGIES["forward"]
        True
    """
    return lookup(STRATEGIES, name)


@dataclass(frozen=True, repr=False)
class Plan(PlanSummary):
    """How to evaluate one explicit Jacobian chain, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        strategy: The registered name that produced the plan, or ``"custom"`` for a given tree.
        tree: The bracketing.
        macs: Multiply-adds of ``tree``.
        peak_elements: Peak elements held in products during evaluation (inputs excluded).
        forward_macs: Multiply-adds of forward mode on the same widths.
        reverse_macs: Multiply-adds of reverse mode on the same widths.
        schedule: The products in evaluation order (see
            :func:`jacobench.explicit.model.schedule`).
        budget_elements: The memory budget the plan was asked to fit, in elements (the budget in
            bytes over the dtype's itemsize, rounded down), like ``peak_elements``; ``None`` when
            none was given.
        objective: What ``"optimal"`` minimised: ``"macs"`` or ``"time"`` (predicted seconds on
            a device, see :mod:`jacobench.timing`).

    Example:
        >>> print(plan((50, 5, 100, 10)))
        Widths:                50-5-100-10
        Strategy:              optimal
        Formula:               (J3 J2) J1
        Multiply-adds:         7,500
        Forward multiply-adds: 75,000
        Reverse multiply-adds: 7,500
        Speedup vs forward:    10x
        Speedup vs reverse:    1x
        Peak elements:         550
        <BLANKLINE>
        step  action                                multiply-adds  held elements
           1  J3 J2 = J3 @ J2  (10x100 @ 100x5)             5,000             50
           2  J3 J2 J1 = J3 J2 @ J1  (10x5 @ 5x50)          2,500            550
    """

    widths: tuple[int, ...]
    strategy: str
    tree: Tree
    macs: int
    peak_elements: int
    forward_macs: int
    reverse_macs: int
    schedule: tuple[Step, ...] = field(repr=False, compare=False)
    budget_elements: int | None = None
    objective: str = "macs"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", tree_key(self.tree))

    def _identity(self) -> tuple[object, ...]:
        key: tuple[int, ...] = self.__dict__["_key"]
        return (
            self.widths,
            self.strategy,
            key,
            self.macs,
            self.peak_elements,
            self.budget_elements,
        )

    def __eq__(self, other: object) -> bool:
        """Plans are equal when their fields are; trees compare by their flat keys."""
        if not isinstance(other, Plan) or type(other) is not type(self):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def formula(self) -> str:
        """The bracketing as a person writes it, e.g. ``(J4 J3) (J2 J1)``."""
        return format(self.tree)

    def tree_repr(self) -> str:
        """``repr(self.tree)``, written without recursion."""
        return tree_repr(self.tree)

    @property
    def steps(self) -> tuple[PlanStep, ...]:
        """The products in evaluation order, with their MACs and the elements held meanwhile."""
        return _plan_steps(self.widths, self.schedule)


def _plan_steps(d: tuple[int, ...], schedule: tuple[Step, ...]) -> tuple[PlanStep, ...]:
    """Replay ``schedule``: each product holds its operands, its result and every other result."""
    held: dict[tuple[int, int], int] = {}
    total = 0  # elements in held
    rows = []
    for (lo_l, hi_l), (lo_r, hi_r) in schedule:
        size_l = held.pop((lo_l, hi_l), 0)
        size_r = held.pop((lo_r, hi_r), 0)
        out = d[hi_l] * d[lo_r - 1]
        total -= size_l + size_r
        alive = total + size_l + size_r + out
        held[(lo_r, hi_l)] = out
        total += out
        shapes = " @ ".join(
            f"{int_text(d[hi], grouped=False)}x{int_text(d[lo - 1], grouped=False)}"
            for lo, hi in ((lo_l, hi_l), (lo_r, hi_r))
        )
        action = (
            f"{span_label(lo_r, hi_l)} = {span_label(lo_l, hi_l)} @ {span_label(lo_r, hi_r)}"
            f"  ({shapes})"
        )
        rows.append(PlanStep(action, d[hi_l] * d[lo_l - 1] * d[lo_r - 1], alive))
    return tuple(rows)


def plan(
    widths: Sequence[int],
    strategy: str | Tree = "optimal",
    *,
    memory_budget: int | str | None = None,
    dtype: object = "float32",
    objective: str = "macs",
    profile: Any = None,
    backend: str = "jax",
) -> Plan:
    """Plan the explicit product ``J_L ... J_1`` for ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)``, positive integers, ``L >= 1``.
        strategy: A registered name (``"forward"``, ``"reverse"``, ``"optimal"``; any case) or a
            bracketing tree such as ``((4, 3), (2, 1))``.
        memory_budget: ``None`` (no limit), or the most bytes the products may hold at once: an
            ``int`` or a string such as ``"2GiB"``, ``"512MiB"``, ``"1.5GB"`` (see
            :func:`jacobench.units.parse_bytes`). ``"optimal"`` then gives the cheapest
            bracketing that fits (:func:`optimal` with ``max_peak``); any other strategy must fit.
        dtype: The element type that turns the budget into elements (default ``"float32"``).
        objective: What ``"optimal"`` minimises: ``"macs"`` (multiply-adds, the default) or
            ``"time"``: the seconds :func:`jacobench.predict_seconds` predicts for ``backend``
            on ``profile`` in ``dtype`` (within the memory budget too); each product costs its
            predicted seconds instead of ``m k n``. Other strategies are what they are.
        profile: The :class:`~jacobench.DeviceProfile` for ``objective="time"``; ``None``: this
            machine's saved profile, measured first if there is none
            (:func:`jacobench.timing.load_or_calibrate`).
        backend: ``"jax"`` or ``"numpy"``, the backend whose seconds ``objective="time"``
            minimises.

    Returns:
        A frozen :class:`Plan`. Plans are cached: the same request returns the same object.

    Raises:
        JacobenchError: For bad widths, an unknown strategy or objective, a tree that does not
            bracket ``1..L``, a malformed budget or dtype, a plan that does not fit the budget
            (the message gives the smallest budget that would fit), or, for
            ``objective="time"``, a profile without ``backend`` or ``dtype``.

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

        By predicted time on a made-up device whose arithmetic is free and whose memory moves
        1 GB/s, a product costs the bytes it reads and writes: on ``(2, 10, 100, 10)``, the
        fewest multiply-adds, ``J3 (J2 J1)`` (4,000 MACs), move ``1,220 + 1,220`` elements, while
        ``(J3 J2) J1`` (10,200 MACs) moves ``2,100 + 140``:

        >>> from jacobench.timing import DeviceProfile
        >>> memory_bound = DeviceProfile.uniform(flops=1e30, bandwidth=1e9)
        >>> plan((2, 10, 100, 10)).formula
        'J3 (J2 J1)'
        >>> fastest = plan((2, 10, 100, 10), objective="time", profile=memory_bound)
        >>> fastest.formula, fastest.macs, fastest.objective
        ('(J3 J2) J1', 10200, 'time')
    """
    d = validate_widths(widths)
    element = element_of(dtype)
    priced = _product_costs(objective, profile, backend, element)
    if isinstance(strategy, str):
        get_strategy(strategy)
        name = strategy.lower()
        base = _plan_fastest(d, priced) if priced and name == "optimal" else _plan_named(d, name)
    else:
        base = _plan_tree(d, validate_tree(strategy, len(d) - 1), "custom")
    if memory_budget is None:
        return base
    budget_bytes, budget = budget_in_elements(memory_budget, element)
    found = _plan_within(base, budget, priced)
    if found is not None:
        return found
    if base.strategy == "optimal":
        what, need = "no bracketing fits", least_peak(d) * element.itemsize
    else:
        what, need = f"strategy {base.strategy!r} does not fit", base.memory_bytes(element)
    raise no_fit_error(what, d, budget_bytes, element, need)


@lru_cache(maxsize=512)
def _plan_named(widths: tuple[int, ...], name: str) -> Plan:
    return _plan_tree(widths, STRATEGIES[name](widths), name)


def _plan_tree(widths: tuple[int, ...], tree: Tree, name: str) -> Plan:
    """The plan of a trusted tree, cached on its flat key (deep tuples cannot be cache keys)."""
    return _plan_keyed(widths, tree_key(tree), name)


@lru_cache(maxsize=512)
def _plan_keyed(widths: tuple[int, ...], key: tuple[int, ...], name: str) -> Plan:
    tree = tree_from_key(key)
    macs, peak, schedule = analyse(widths, tree)
    return Plan(
        widths=widths,
        strategy=name,
        tree=tree,
        macs=macs,
        peak_elements=peak,
        forward_macs=forward_macs(widths),
        reverse_macs=reverse_macs(widths),
        schedule=schedule,
    )


@lru_cache(maxsize=512)
def _plan_within(base: Plan, budget: int, priced: ProductCost | None = None) -> Plan | None:
    """``base`` within ``budget`` elements; for "optimal", the cheapest fit; None if none fits.

    With ``priced`` (a product cost), the cheapest in those costs (predicted seconds).
    """
    if base.peak_elements <= budget:
        return replace(base, budget_elements=budget)
    if base.strategy != "optimal":
        return None
    tree = tree_within(base.widths, budget, priced)
    if tree is None:
        return None
    planned = _plan_tree(base.widths, tree, "optimal")
    if priced is None:
        return replace(planned, budget_elements=budget)
    fewest = tree_within(base.widths, budget, None)
    optimal = [] if fewest is None else [_plan_tree(base.widths, fewest, "optimal")]
    modes = [p for p in _modes(base.widths) if p.peak_elements <= budget]
    chosen = fastest_of(fewest_macs(optimal, modes), modes, planned, _seconds_of(priced))
    chosen = _plan_tree(base.widths, chosen.tree, "optimal")
    return replace(chosen, budget_elements=budget, objective="time")


def _product_costs(objective: str, profile: Any, backend: str, element: Any) -> ProductCost | None:
    """The products' predicted seconds for ``objective="time"``; None for multiply-adds."""
    if check_objective(objective) == "macs":
        return None
    if backend not in ("jax", "numpy"):
        raise JacobenchError(
            f"backend {backend!r} cannot run an explicit plan; valid options are ['jax', 'numpy']"
        )
    from ..timing.costs import ProductSeconds, resolve_profile

    return ProductSeconds(resolve_profile(profile, backend, element.name), element.name, backend)


@lru_cache(maxsize=128)
def _plan_fastest(widths: tuple[int, ...], priced: ProductCost) -> Plan:
    """The bracketing with the least predicted seconds (``priced``: the products' seconds).

    The multiply-add optimal bracketing (else forward or reverse mode), unless this one is
    predicted more than :data:`~jacobench._core.TIME_MARGIN` faster.
    """
    fastest = _plan_tree(widths, cheapest(widths, priced), "optimal")
    modes = _modes(widths)
    plain = fewest_macs([_plan_named(widths, "optimal")], modes)
    chosen = fastest_of(plain, modes, fastest, _seconds_of(priced))
    return replace(_plan_tree(widths, chosen.tree, "optimal"), objective="time")


def _modes(widths: tuple[int, ...]) -> list[Plan]:
    """Forward and reverse mode."""
    return [_plan_named(widths, "forward"), _plan_named(widths, "reverse")]


def _seconds_of(priced: ProductCost) -> Callable[[Plan], float]:
    """A plan's predicted seconds on the device and backend of ``priced``."""
    from ..timing.predict import predict_seconds

    profile, backend, dtype = priced.profile, priced.backend, priced.dtype  # type: ignore[attr-defined]
    return lambda p: predict_seconds(p, profile, backend, dtype)
