"""Planners for explicit Jacobian chains: one registry, one signature, one frozen plan.

A planner is a pure function ``widths -> Tree``. :data:`STRATEGIES` holds them by name;
:func:`plan` looks one up (case-insensitively), costs the tree it returns with :mod:`jacobench.cost`
and hands back a frozen, printable :class:`Plan`. Executing a plan is :func:`jacobench.multiply`'s
job, not this module's.

Example:
    >>> p = plan((50, 5, 100, 10), "optimal")
    >>> p.bracket, p.macs, p.speedup_vs_forward
    (((3, 2), 1), 7500, 10.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

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

__all__ = ["STRATEGIES", "Plan", "get_strategy", "optimal_tree", "plan"]

Planner = Callable[[tuple[int, ...]], Tree]


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
    key = name.lower() if isinstance(name, str) else name
    try:
        return STRATEGIES[key]
    except (KeyError, TypeError):
        raise JacobenchError(
            f"unknown strategy {name!r}; valid options are {sorted(STRATEGIES)}"
        ) from None


@dataclass(frozen=True)
class Plan:
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
    """

    widths: tuple[int, ...]
    strategy: str
    bracket: Tree
    macs: int
    peak_memory: int
    forward_macs: int
    reverse_macs: int
    steps: tuple[Step, ...] = field(repr=False, compare=False)

    @property
    def n_layers(self) -> int:
        """L, the number of layers."""
        return len(self.widths) - 1

    @property
    def formula(self) -> str:
        """The bracketing as a person writes it, e.g. ``(J4 J3) (J2 J1)``."""
        return format_tree(self.bracket)

    @property
    def speedup_vs_forward(self) -> float:
        """Forward-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return _ratio(self.forward_macs, self.macs)

    @property
    def speedup_vs_reverse(self) -> float:
        """Reverse-mode MACs over this plan's MACs (1.0 when both are zero)."""
        return _ratio(self.reverse_macs, self.macs)

    def memory_bytes(self, dtype: object = "float32") -> int:
        """Peak memory in bytes for elements of ``dtype`` (anything ``numpy.dtype`` accepts)."""
        itemsize: int = np.dtype(dtype).itemsize  # type: ignore[call-overload]
        return self.peak_memory * itemsize

    def __str__(self) -> str:
        rows = [
            ("Widths", "-".join(map(str, self.widths))),
            ("Strategy", self.strategy),
            ("Bracketing", self.formula),
            ("Multiply-adds", f"{self.macs:,}"),
            ("Forward multiply-adds", f"{self.forward_macs:,}"),
            ("Reverse multiply-adds", f"{self.reverse_macs:,}"),
            ("Speedup vs forward", f"{self.speedup_vs_forward:.3g}x"),
            ("Speedup vs reverse", f"{self.speedup_vs_reverse:.3g}x"),
            ("Peak memory (elements)", f"{self.peak_memory:,}"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)


def _ratio(num: int, den: int) -> float:
    if den == 0:
        return 1.0 if num == 0 else float("inf")
    return num / den


def plan(widths: Sequence[int], strategy: str | Tree = "optimal") -> Plan:
    """Plan the explicit product ``J_L ... J_1`` for ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)``, positive integers, ``L >= 1``.
        strategy: A registered name (``"forward"``, ``"reverse"``, ``"optimal"``; any case) or a
            bracketing tree such as ``((4, 3), (2, 1))``.

    Returns:
        A frozen :class:`Plan`. Plans are cached: the same request returns the same object.

    Raises:
        JacobenchError: For bad widths, an unknown strategy or a tree that does not bracket
            ``1..L``.

    Example:
        >>> p = plan((50, 5, 100, 10), "forward")
        >>> p.formula, p.macs, p.speedup_vs_reverse
        ('J3 (J2 J1)', 75000, 0.1)
    """
    d = validate_widths(widths)
    if isinstance(strategy, str):
        get_strategy(strategy)
        return _plan_named(d, strategy.lower())
    return _plan_tree(d, validate_tree(strategy, len(d) - 1), "custom")


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
