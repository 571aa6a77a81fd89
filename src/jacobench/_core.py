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
* :class:`PlanSummary`, what every plan shows and how it prints.

Example:
    >>> lower_peak_first(peak_l=10, held_l=4, peak_r=3, held_r=2, out=5)
    (11, False)
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .errors import JacobenchError
from .units import format_bytes, parse_bytes, resolve_dtype

__all__ = [
    "PlanStep",
    "PlanSummary",
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
        widths: A sequence ``(d_0, ..., d_L)`` of positive integers with ``L >= 1``.

    Returns:
        The widths as a tuple of ``int``.

    Raises:
        JacobenchError: If ``widths`` is not a sequence, has fewer than two entries, or holds a
            value that is not a positive integer.

    Example:
        >>> validate_widths([3, 4, 5])
        (3, 4, 5)
    """
    not_a_sequence = JacobenchError(
        f"widths must be a sequence of positive integers (d_0, ..., d_L), got {widths!r}"
    )
    if isinstance(widths, str | bytes):
        raise not_a_sequence
    try:
        items: tuple[object, ...] = tuple(widths)  # type: ignore[arg-type]
    except TypeError:
        raise not_a_sequence from None
    if len(items) < 2:
        raise JacobenchError(
            f"widths must have at least two entries (d_0, ..., d_L with L >= 1), "
            f"got {items!r} ({len(items)} entr{'y' if len(items) == 1 else 'ies'})"
        )
    out = []
    for i, w in enumerate(items):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral):
            if isinstance(w, float) and w.is_integer():
                reason = "a float; pass an int"
            else:
                reason = f"of type {type(w).__name__}"
            raise JacobenchError(
                f"widths[{i}] = {w!r} is {reason}, expected a positive integer in widths {items!r}"
            )
        value = operator.index(w)
        if value <= 0:
            raise JacobenchError(
                f"widths[{i}] = {value} is not positive, expected a positive integer "
                f"in widths {items!r}"
            )
        out.append(value)
    return tuple(out)


def check_layers(n_layers: object) -> int:
    """``n_layers`` as an int, or the library's error for anything but a positive integer.

    Example:
        >>> check_layers(3)
        3
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, numbers.Integral) or n_layers < 1:
        raise JacobenchError(f"number of layers must be a positive integer, got {n_layers!r}")
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
            f"unknown strategy {name!r}; valid options are {sorted(registry)}"
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
        raise JacobenchError(f"strategy name must be a non-empty string, got {name!r}")
    if not callable(planner):
        raise JacobenchError(
            f"planner for strategy {name!r} is {planner!r}, expected a function widths -> tree"
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
        f"{what} widths {widths} in the memory budget of {budget_bytes:,} bytes "
        f"({format_bytes(budget_bytes)}) with {element.name} elements; "
        f"the smallest budget that fits is {need:,} bytes ({format_bytes(need, round_up=True)})"
    )


OBJECTIVES = ("macs", "time")
"""What the planners minimise: multiply-adds (the default, the lecture's formulas) or the seconds
:mod:`jacobench.timing` predicts for a device."""


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


def ratio(num: int, den: int) -> float:
    """``num / den`` for exact ints, with ``0 / 0 = 1`` and ``x / 0 = inf``.

    Example:
        >>> ratio(75000, 7500), ratio(0, 0)
        (10.0, 1.0)
    """
    if den == 0:
        return 1.0 if num == 0 else float("inf")
    return num / den


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
            ("Widths", "-".join(map(str, self.widths))),
            ("Strategy", self.strategy),
            ("Formula", self.formula),
            ("Multiply-adds", f"{self.macs:,}"),
            ("Forward multiply-adds", f"{self.forward_macs:,}"),
            ("Reverse multiply-adds", f"{self.reverse_macs:,}"),
            ("Speedup vs forward", f"{self.speedup_vs_forward:.3g}x"),
            ("Speedup vs reverse", f"{self.speedup_vs_reverse:.3g}x"),
            ("Peak elements", f"{self.peak_elements:,}"),
        ]
        if self.budget_elements is not None:
            rows.append(("Budget elements", f"{self.budget_elements:,}"))
        width = max(len(k) for k, _ in rows)
        head = [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
        return "\n".join(head + _step_table(self.steps))


def _step_table(steps: Sequence[PlanStep]) -> list[str]:
    """The schedule as aligned text rows (none for a plan without steps)."""
    if not steps:
        return []
    cells = [("step", "action", "multiply-adds", "held elements")]
    cells += [(str(i), s.action, f"{s.macs:,}", f"{s.held:,}") for i, s in enumerate(steps, 1)]
    w = [max(len(row[c]) for row in cells) for c in range(4)]
    lines = [f"{a:>{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}  {d:>{w[3]}}".rstrip() for a, b, c, d in cells]
    return ["", *lines]
