"""The planning core both engines share: widths, registries, budgets, Pareto fronts, plan text.

Internal: the engines (:mod:`jacobench.explicit`, :mod:`jacobench.matrix_free`) import from here,
and nothing else in the package imports underscore names across modules. What lives here is
written once for both engines:

* :func:`validate_widths`, the one check of a chain's widths;
* :func:`lower_peak_first`, the evaluation-order rule of a product node (the child that gives the
  lower peak runs first; ties: the right, lower-layer child), which the cost models, the planners
  and the executors all follow;
* :func:`lookup` and :func:`register`, the registry verbs;
* :func:`element_of` and :func:`no_fit_error`, how a byte budget becomes elements and how a plan
  that does not fit is reported;
* :func:`pareto_front`, the pruning of the memory-budgeted dynamic programs;
* :func:`announce`, the note a planning step expected to take long gives before it starts;
* :class:`PlanSummary`, what every plan shows and how it prints.

Example:
    >>> lower_peak_first(peak_l=10, held_l=4, peak_r=3, held_r=2, out=5)
    (11, False)
"""

from __future__ import annotations

import dataclasses
import numbers
import operator
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

from ._text import int_text, ratio, ratio_text, show
from .errors import JacobenchError, SlowPlanningWarning
from .units import format_bytes, parse_bytes, resolve_dtype

__all__ = [
    "ANNOUNCE_SECONDS",
    "PlanStep",
    "PlanSummary",
    "announce",
    "element_of",
    "lookup",
    "lower_peak_first",
    "no_fit_error",
    "pareto_front",
    "ratio",
    "register",
    "span_label",
    "validate_widths",
]

T = TypeVar("T")
P = TypeVar("P")

_FLOAT32 = np.dtype("float32")


def validate_widths(widths: object) -> tuple[int, ...]:
    """Check ``widths`` and return it as a tuple of Python ints.

    Args:
        widths: An ordered sequence ``(d_0, ..., d_L)`` of positive integers with ``L >= 1``: a
            tuple, list, range or other :class:`~collections.abc.Sequence`, or a one-dimensional
            array. Unordered containers (sets, dicts) are refused: their order is arbitrary.

    Returns:
        The widths as a tuple of ``int``.

    Raises:
        JacobenchError: If ``widths`` is not an ordered sequence, has fewer than two entries, or
            holds a value that is not a positive integer.

    Example:
        >>> validate_widths([3, 4, 5])
        (3, 4, 5)
        >>> validate_widths({3, 4})
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: widths must be a sequence of positive integers \
(d_0, ..., d_L), got {3, 4} of type set, whose order is arbitrary; pass a tuple or a list
    """
    items = _ordered_items(widths)
    if len(items) < 2:
        raise JacobenchError(
            f"widths must have at least two entries (d_0, ..., d_L with L >= 1), "
            f"got {show(items)} ({len(items)} entr{'y' if len(items) == 1 else 'ies'})"
        )
    out = []
    for i, w in enumerate(items):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral):
            if isinstance(w, float) and w.is_integer():
                reason = "a float; pass an int"
            else:
                reason = f"of type {type(w).__name__}"
            raise JacobenchError(
                f"widths[{i}] = {show(w)} is {reason}, expected a positive integer in widths "
                f"{show(items)}"
            )
        value = operator.index(w)
        if value <= 0:
            raise JacobenchError(
                f"widths[{i}] = {show(value)} is not positive, expected a positive integer "
                f"in widths {show(items)}"
            )
        out.append(value)
    return tuple(out)


def _ordered_items(widths: object) -> tuple[object, ...]:
    """The entries of an ordered sequence or a one-dimensional array; the error otherwise."""
    expected = "widths must be a sequence of positive integers (d_0, ..., d_L)"
    if isinstance(widths, str | bytes | bytearray):
        raise JacobenchError(f"{expected}, got {show(widths)}")
    if isinstance(widths, Sequence):
        return tuple(widths)
    if hasattr(widths, "__array__") and hasattr(widths, "ndim"):  # numpy, JAX, ... arrays
        if widths.ndim != 1:
            raise JacobenchError(
                f"{expected}, got an array of shape {tuple(getattr(widths, 'shape', ()))}; "
                "expected one dimension"
            )
        return tuple(np.asarray(widths).tolist())
    unordered = isinstance(widths, Mapping | set | frozenset) or (
        hasattr(widths, "__iter__") and hasattr(widths, "__contains__")
    )
    why = ", whose order is arbitrary" if unordered else ""
    raise JacobenchError(
        f"{expected}, got {show(widths)} of type {type(widths).__name__}{why}; pass a tuple or "
        "a list"
    )


def check_layers(n_layers: object) -> int:
    """``n_layers`` as an int, or the library's error for anything but a positive integer.

    Example:
        >>> check_layers(3)
        3
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, numbers.Integral) or n_layers < 1:
        raise JacobenchError(f"number of layers must be a positive integer, got {show(n_layers)}")
    return operator.index(n_layers)


def lower_peak_first(
    peak_l: int, held_l: int, peak_r: int, held_r: int, out: int
) -> tuple[int, bool]:
    """The evaluation-order rule of a product: its peak, and whether the right child runs first.

    A product of a left factor (peak ``peak_l`` while it is made, ``held_l`` elements once made)
    and a right factor (``peak_r``, ``held_r``) into ``out`` elements holds both factors and the
    result while it runs. Evaluated right first it peaks at ``max(peak_r, held_r + peak_l,
    held_l + held_r + out)``; left first, the mirror image. The lower wins; ties go to the right
    (lower-layer) child. Every cost model, planner and executor of both engines calls this.

    Example:
        Right first: ``max(3, 2 + 10, 4 + 2 + 5) = 12``; left first: ``max(10, 4 + 3, 11) = 11``:

        >>> lower_peak_first(10, 4, 3, 2, 5)
        (11, False)
    """
    both = held_l + held_r + out
    right_first = max(peak_r, held_r + peak_l, both)
    left_first = max(peak_l, held_l + peak_r, both)
    if right_first <= left_first:
        return right_first, True
    return left_first, False


def span_label(lo: int, hi: int) -> str:
    """The product of layers ``lo..hi`` as printed in a plan: ``J3 J2 J1``, or ``J9..J1`` if long.

    Example:
        >>> span_label(1, 3), span_label(1, 9)
        ('J3 J2 J1', 'J9..J1')
    """
    if hi - lo < 3:
        return " ".join(f"J{k}" for k in range(hi, lo - 1, -1))
    return f"J{hi}..J{lo}"


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
            f"unknown strategy {show(name)}; valid options are {sorted(registry)}"
        ) from None


def register(registry: MutableMapping[str, T], name: str, planner: T) -> T:
    """Add ``planner`` to ``registry`` under ``name`` (lower-cased); return the planner.

    Raises:
        JacobenchError: If ``name`` is not a non-empty string or ``planner`` is not callable.

    Example:
        >>> reg: dict[str, object] = {}
        >>> register(reg, "Mine", len) is len, sorted(reg)
        (True, ['mine'])
    """
    if not isinstance(name, str) or not name.strip():
        raise JacobenchError(f"strategy name must be a non-empty string, got {show(name)}")
    if not callable(planner):
        raise JacobenchError(
            f"planner for strategy {name!r} is {show(planner)}, expected a function widths -> tree"
        )
    registry[name.lower()] = planner
    return planner


def element_of(dtype: object) -> np.dtype[Any]:
    """The dtype that turns a byte budget into elements (float32 without a lookup).

    Example:
        >>> element_of("float64").itemsize
        8
    """
    return _FLOAT32 if isinstance(dtype, str) and dtype == "float32" else resolve_dtype(dtype)


def budget_in_elements(memory_budget: int | str, element: np.dtype[Any]) -> tuple[int, int]:
    """``(budget in bytes, budget in elements of element)`` for a user's budget.

    Example:
        >>> budget_in_elements("1KiB", np.dtype("float64"))
        (1024, 128)
    """
    budget_bytes = parse_bytes(memory_budget)
    return budget_bytes, budget_bytes // element.itemsize


def no_fit_error(
    what: str, widths: tuple[int, ...], budget_bytes: int, element: np.dtype[Any], need: int
) -> JacobenchError:
    """The error for a plan that does not fit a budget; both engines word it this way.

    Args:
        what: The subject, e.g. ``"no bracketing fits"`` or ``"strategy 'forward' does not fit"``.
        widths: The chain's widths.
        budget_bytes: The budget, in bytes.
        element: The element type the budget was read with.
        need: The smallest budget that fits, in bytes (printed rounded up).

    Example:
        >>> print(no_fit_error("no plan fits", (2, 2), 8, np.dtype("float32"), 16))
        no plan fits widths (2, 2) in the memory budget of 8 bytes (8 B) with float32 elements; \
the smallest budget that fits is 16 bytes (16 B)
    """
    return JacobenchError(
        f"{what} widths {show(widths)} in the memory budget of {int_text(budget_bytes)} bytes "
        f"({format_bytes(budget_bytes)}) with {element.name} elements; the smallest budget that "
        f"fits is {int_text(need)} bytes ({format_bytes(need, round_up=True)})"
    )


OBJECTIVES = ("macs", "time")
"""What the planners minimise: multiply-adds (the default, the lecture's formulas) or the seconds
:mod:`jacobench.timing` predicts for a device."""

TIME_MARGIN = 0.05
"""``objective="time"`` keeps the multiply-add optimal plan (else plain forward or reverse mode)
unless the time-optimal one is predicted more than this fraction faster. The time model is good to
about 20% per row, so a plan it predicts a hair faster (often a tie: the same products in another
order, or an identity seed the executor never multiplies) is no reason to leave the plan with the
fewest multiply-adds or one of the two modes, which the benchmark measures the more reliably.
Where a mode makes as few multiply-adds as the optimal plan, both are the plan with the fewest,
and the faster predicted of them is kept (:func:`fastest_of`)."""

PlanT = TypeVar("PlanT")
CostedT = TypeVar("CostedT", bound="_Costed")


class _Costed(Protocol):
    @property
    def macs(self) -> int: ...


def fewest_macs(optimal: Sequence[CostedT], modes: Sequence[CostedT]) -> list[CostedT]:
    """``optimal`` (the multiply-add optimal plan, or nothing), and the modes that tie it in MACs.

    Example:
        >>> from types import SimpleNamespace as Plan
        >>> opt, fwd, rev = Plan(macs=8), Plan(macs=8), Plan(macs=9)
        >>> fewest_macs([opt], [fwd, rev]) == [opt, fwd], fewest_macs([], [fwd, rev])
        (True, [])
    """
    if not optimal:
        return []
    return [*optimal, *(m for m in modes if m.macs == optimal[0].macs)]


def fastest_of(
    plain: Sequence[PlanT],
    modes: Sequence[PlanT],
    fastest: PlanT,
    seconds: Callable[[PlanT], float],
) -> PlanT:
    """The first plan within :data:`TIME_MARGIN` of the least seconds of them all, else ``fastest``.

    ``fastest`` is the planner's own (its dynamic program prices products, not every term of
    :func:`jacobench.predict_seconds`, so another candidate may be predicted faster still).
    Tried in order: ``plain`` (the plans with the fewest multiply-adds, where there are any: see
    :func:`fewest_macs`), the faster first, then ``modes`` (forward and reverse mode), the faster
    first. Each plan is priced once.

    Example:
        >>> times = {"fewest MACs": 1.2, "forward": 1.1, "reverse": 1.04, "fastest": 1.0}
        >>> fastest_of(["fewest MACs"], ["forward", "reverse"], "fastest", times.get)
        'reverse'
        >>> fastest_of(["fewest MACs"], ["forward"], "fastest", times.get)
        'fastest'
        >>> times = {"fewest MACs": 1.0, "forward": 0.9, "reverse": 1.0, "fastest": 1.0}
        >>> fastest_of(["fewest MACs"], ["forward", "reverse"], "fastest", times.get)
        'forward'
        >>> times = {"fewest MACs": 1.0, "forward": 0.97, "reverse": 1.0, "fastest": 1.0}
        >>> fastest_of(["fewest MACs"], ["forward", "reverse"], "fastest", times.get)
        'fewest MACs'
        >>> fastest_of(["fewest MACs", "forward"], ["forward", "reverse"], "fastest", times.get)
        'forward'
    """
    priced: dict[int, float] = {}

    def time(plan: PlanT) -> float:
        if id(plan) not in priced:
            priced[id(plan)] = seconds(plan)
        return priced[id(plan)]

    limit = (1 + TIME_MARGIN) * min(time(p) for p in [fastest, *plain, *modes])
    for candidate in [*sorted(plain, key=time), *sorted(modes, key=time)]:
        if time(candidate) <= limit:
            return candidate
    return fastest


def check_objective(objective: object) -> str:
    """``objective`` if it is one of :data:`OBJECTIVES`, else a :class:`JacobenchError`.

    Example:
        >>> check_objective("seconds")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: unknown objective 'seconds'; valid options are \
['macs', 'time']
    """
    if objective not in OBJECTIVES:
        raise JacobenchError(
            f"unknown objective {objective!r}; valid options are {list(OBJECTIVES)}"
        )
    return str(objective)


def pareto_front(points: Iterable[P], key: Callable[[P], tuple[float, int, int]]) -> list[P]:
    """The points no other point beats on both cost and peak, cheapest first.

    ``key(point)`` is ``(cost, tie_break, peak)`` (the cost in MACs or seconds): points are sorted
    on it, and each one is kept only if its peak is below every cheaper point's. The
    memory-budgeted planners of both engines keep one such front per segment.

    Example:
        >>> pareto_front([(5, 0, 9), (3, 0, 9), (7, 0, 2), (4, 0, 9)], key=lambda p: p)
        [(3, 0, 9), (7, 0, 2)]
    """
    front: list[P] = []
    last_peak: int | None = None
    for point in sorted(points, key=key):
        peak = key(point)[2]
        if last_peak is None or peak < last_peak:
            front.append(point)
            last_peak = peak
    return front


ANNOUNCE_SECONDS = 1.0
"""A planning step expected to take longer than this many seconds says so before it starts."""


def announce(what: str, seconds: float, memory_bytes: int = 0) -> None:
    """Warn (:class:`~jacobench.errors.SlowPlanningWarning`) that a step will take a while.

    Called by a planner before a step whose estimate exceeds :data:`ANNOUNCE_SECONDS`; the
    ``jacobench`` command prints the note as one line on stderr.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     announce("planning 5,000 layers", 90.0, 200 * 2**20)
        >>> print(caught[0].message)
        planning 5,000 layers: expected to take about 1.5 min and 200 MiB of memory
    """
    if seconds <= ANNOUNCE_SECONDS:
        return
    memory = f" and {format_bytes(memory_bytes)} of memory" if memory_bytes >= 2**20 else ""
    warnings.warn(
        f"{what}: expected to take about {duration_text(seconds)}{memory}",
        SlowPlanningWarning,
        stacklevel=3,
    )


def duration_text(seconds: float) -> str:
    """A rough duration: ``3 s``, ``2 min``, ``1.5 h``, ``12 days``.

    Example:
        >>> duration_text(2.4), duration_text(90), duration_text(5400), duration_text(1e6)
        ('2 s', '1.5 min', '1.5 h', '12 days')
    """
    for unit, size, above in (("days", 86400.0, 2.0), ("h", 3600.0, 1.5), ("min", 60.0, 1.5)):
        if seconds >= above * size:
            value = seconds / size
            return f"{value:.2g} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{max(seconds, 1.0):.0f} s"


class PlanStep(NamedTuple):
    """One row of a plan's printed schedule.

    Attributes:
        action: What the step does, e.g. ``"J3 J2 = J3 @ J2"`` or ``"jvp(J2 J1): 50 tangents"``.
        macs: Its multiply-adds.
        held: Elements held while it runs (everything alive, the step's own work included).
    """

    action: str
    macs: int
    held: int


class PlanSummary:
    """What every plan shows, for both engines: speedups, memory in bytes, a printed schedule.

    A subclass is a frozen dataclass with ``widths``, ``strategy``, ``tree``, ``macs``,
    ``peak_elements``, ``forward_macs``, ``reverse_macs`` and ``budget_elements``, a ``formula``
    property and a ``steps`` sequence of :class:`PlanStep` in evaluation order.
    """

    widths: tuple[int, ...]
    strategy: str
    macs: int
    peak_elements: int
    forward_macs: int
    reverse_macs: int
    budget_elements: int | None

    @property
    def formula(self) -> str:  # pragma: no cover - every subclass defines it
        """The plan written as a formula."""
        raise NotImplementedError

    @property
    def steps(self) -> Sequence[PlanStep]:  # pragma: no cover - every subclass defines it
        """The schedule, one :class:`PlanStep` per step, in evaluation order."""
        raise NotImplementedError

    @property
    def n_layers(self) -> int:
        """L, the number of layers."""
        return len(self.widths) - 1

    @property
    def speedup_vs_forward(self) -> float:
        """Forward-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return ratio(self.forward_macs, self.macs)

    @property
    def speedup_vs_reverse(self) -> float:
        """Reverse-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return ratio(self.reverse_macs, self.macs)

    def memory_bytes(self, dtype: object = "float32") -> int:
        """Peak memory in bytes for elements of ``dtype`` (a numeric numpy dtype or its name)."""
        return self.peak_elements * resolve_dtype(dtype).itemsize

    def __str__(self) -> str:
        rows = [
            ("Widths", "-".join(int_text(w, grouped=False) for w in self.widths)),
            ("Strategy", self.strategy),
            ("Formula", self.formula),
            ("Multiply-adds", int_text(self.macs)),
            ("Forward multiply-adds", int_text(self.forward_macs)),
            ("Reverse multiply-adds", int_text(self.reverse_macs)),
            ("Speedup vs forward", f"{ratio_text(self.forward_macs, self.macs)}x"),
            ("Speedup vs reverse", f"{ratio_text(self.reverse_macs, self.macs)}x"),
            ("Peak elements", int_text(self.peak_elements)),
        ]
        if self.budget_elements is not None:
            rows.append(("Budget elements", int_text(self.budget_elements)))
        width = max(len(k) for k, _ in rows)
        head = [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
        return "\n".join(head + _step_table(self.steps))

    def tree_repr(self) -> str:  # pragma: no cover - every subclass defines it
        """``repr(self.tree)``, written without recursion."""
        raise NotImplementedError

    def __repr__(self) -> str:
        """The dataclass ``repr``, for trees of any depth and ints of any size."""
        shown = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "tree":
                text = self.tree_repr()
            elif f.name == "widths":
                text = _tuple_text(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                text = int_text(value, grouped=False)
            else:
                text = repr(value)
            shown.append(f"{f.name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _tuple_text(values: tuple[int, ...]) -> str:
    inner = ", ".join(int_text(v, grouped=False) for v in values)
    return f"({inner},)" if len(values) == 1 else f"({inner})"


def _step_table(steps: Sequence[PlanStep]) -> list[str]:
    """The schedule as aligned text rows (none for a plan without steps)."""
    if not steps:
        return []
    cells = [("step", "action", "multiply-adds", "held elements")]
    cells += [
        (str(i), s.action, int_text(s.macs), int_text(s.held)) for i, s in enumerate(steps, 1)
    ]
    w = [max(len(row[c]) for row in cells) for c in range(4)]
    lines = [f"{a:>{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}  {d:>{w[3]}}".rstrip() for a, b, c, d in cells]
    return ["", *lines]
