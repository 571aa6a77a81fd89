"""Second-order plans: one registry per kind, frozen printable plans, memory budgets.

:func:`plan_hvp` and :func:`plan_hessian` look a mode or strategy up (case-insensitively; an
unknown name gets the library's ``unknown strategy 'x'; valid options are [...]``), cost it with
:mod:`jacobench.second_order.model` and return a frozen plan that prints its steps. Running a plan
is :mod:`jacobench.second_order.execute`'s job.

Example:
    >>> p = plan_hessian((512, 512, 8, 512, 512, 512, 512, 1))
    >>> p.formula, p.splits, round(p.speedup_vs_jax_hessian, 2)
    ('hess(J2 J1, seed=hess(J7 J6 J5 J4 J3))', (2,), 3.78)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from .._core import (
    PlanStep,
    budget_in_elements,
    element_of,
    lookup,
    no_fit_error,
    ratio,
)
from .._core import (
    register as _register,
)
from ..units import resolve_dtype
from .model import (
    HVP_MODES,
    format_splits,
    hessian_steps,
    hvp_steps,
    splits_steps,
    validate_scalar_widths,
    validate_splits,
)
from .search import cheapest, cheapest_within, least_peak

__all__ = [
    "HVP_STRATEGIES",
    "STRATEGIES",
    "HessianPlan",
    "HvpPlan",
    "get_hvp_mode",
    "get_strategy",
    "plan_hessian",
    "plan_hvp",
    "register",
]

Planner = Callable[[tuple[int, ...]], tuple[int, ...] | None]
"""A Hessian strategy's planner: widths to split interfaces (``None``: it ignores the chain)."""


def _no_splits(widths: tuple[int, ...]) -> None:
    return None


STRATEGIES: dict[str, Planner] = {
    "optimal": cheapest,
    "fwd-over-rev": _no_splits,
    "rev-over-fwd": _no_splits,
    "rev-over-rev": _no_splits,
    "fwd-over-fwd": _no_splits,
    "jax.hessian": _no_splits,
}
"""Every registered Hessian strategy, by lower-case name.

``"optimal"`` forms the Hessian at the split interfaces its planner returns (by
:func:`jacobench.second_order.search.optimal_splits`); the others ignore the chain's structure.
``"jax.hessian"`` runs JAX's own ``jax.hessian``; its model is ``"fwd-over-rev"``'s, which is what
it executes.
"""

HVP_STRATEGIES: dict[str, str] = {mode: mode for mode in HVP_MODES}
"""Every registered Hessian-vector product mode, by lower-case name."""

_FORMULAS = {
    "fwd-over-rev": ("jvp(grad(f), v)", "jvp(grad(f), I)"),
    "rev-over-fwd": ("grad(jvp(f, v))", "grad(jvp(f, I))"),
    "rev-over-rev": ("grad(grad(f) . v)", "grad(grad(f) . I)"),
    "fwd-over-fwd": ("", "jvp(jvp(f, I), I)"),
    "jax.hessian": ("", "jax.hessian(f) = jvp(grad(f), I)"),
}


def register(name: str, planner: Planner) -> Planner:
    """Add a Hessian strategy: ``planner(widths)`` returns the split interfaces it forms H at.

    The plan is costed and run like ``"optimal"``'s (a planner returning ``None`` would ignore
    the chain's structure, which only the built-in modes can run).

    Example:
        >>> _ = register("narrowest", lambda d: (min(range(1, len(d) - 1), key=d.__getitem__),))
        >>> plan_hessian((8, 8, 2, 8, 1), "narrowest").splits
        (2,)
        >>> del STRATEGIES["narrowest"]
    """
    return _register(STRATEGIES, name, planner)


def get_strategy(name: str) -> Planner:
    """Look up a registered Hessian strategy by name, case-insensitively.

    Raises:
        JacobenchError: For an unknown name; the message lists the valid options.

    Example:
        >>> get_strategy("Optimal") is STRATEGIES["optimal"]
        True
        >>> get_strategy("newton")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: unknown strategy 'newton'; valid options are \
['fwd-over-fwd', 'fwd-over-rev', 'jax.hessian', 'optimal', 'rev-over-fwd', 'rev-over-rev']
    """
    return lookup(STRATEGIES, name)


def get_hvp_mode(name: str) -> str:
    """Look up a registered HVP mode by name, case-insensitively; returns its canonical name.

    Example:
        >>> get_hvp_mode("Rev-Over-Rev")
        'rev-over-rev'
    """
    return lookup(HVP_STRATEGIES, name)


class _Summary:
    """What both second-order plans show: memory in bytes, and the steps printed."""

    widths: tuple[int, ...]
    strategy: str
    macs: int
    peak_elements: int
    budget_elements: int | None
    steps: tuple[PlanStep, ...]

    @property
    def formula(self) -> str:  # pragma: no cover - every subclass defines it
        """The plan written as a formula."""
        raise NotImplementedError

    @property
    def n_layers(self) -> int:
        """L, the number of layers."""
        return len(self.widths) - 1

    def memory_bytes(self, dtype: object = "float32") -> int:
        """Peak memory in bytes for elements of ``dtype`` (a numeric numpy dtype or its name)."""
        return self.peak_elements * resolve_dtype(dtype).itemsize

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("Widths", "-".join(map(str, self.widths))),
            ("Strategy", self.strategy),
            ("Formula", self.formula),
            ("Multiply-adds", f"{self.macs:,}"),
            ("Peak elements", f"{self.peak_elements:,}"),
        ]
        if self.budget_elements is not None:
            rows.append(("Budget elements", f"{self.budget_elements:,}"))
        return rows

    def __str__(self) -> str:
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        head = [f"{k + ':':<{width + 1}} {v}" for k, v in rows]
        cells = [("step", "action", "multiply-adds", "held elements")]
        cells += [
            (str(i), s.action, f"{s.macs:,}", f"{s.held:,}") for i, s in enumerate(self.steps, 1)
        ]
        w = [max(len(row[c]) for row in cells) for c in range(4)]
        table = [
            f"{a:>{w[0]}}  {b:<{w[1]}}  {c:>{w[2]}}  {d:>{w[3]}}".rstrip() for a, b, c, d in cells
        ]
        return "\n".join([*head, "", *table])


@dataclass(frozen=True)
class HvpPlan(_Summary):
    """One Hessian-vector product of a scalar chain, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)`` with ``d_L = 1``.
        strategy: The mode, one of :data:`HVP_STRATEGIES`.
        macs: Multiply-adds (see :mod:`jacobench.second_order.model`).
        peak_elements: Peak elements held (weights, ``x`` and ``v`` excluded).
        gradient_macs: Multiply-adds of one gradient, ``2 S``, for comparison.
        steps: The steps, in order.
        budget_elements: Always ``None`` (no budget planning for one vector).
    """

    widths: tuple[int, ...]
    strategy: str
    macs: int
    peak_elements: int
    gradient_macs: int
    steps: tuple[PlanStep, ...]
    budget_elements: int | None = None

    @property
    def formula(self) -> str:
        """The mode as a composition of JAX transforms, e.g. ``jvp(grad(f), v)``."""
        return _FORMULAS[self.strategy][0]

    @property
    def gradients(self) -> float:
        """The HVP's multiply-adds in gradients (about 2)."""
        return self.macs / self.gradient_macs


@dataclass(frozen=True)
class HessianPlan(_Summary):
    """How to form the Hessian of a scalar chain, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)`` with ``d_L = 1``.
        strategy: The registered name, or ``"custom"`` for given split interfaces.
        splits: The interfaces at which the Hessian of the rest of the chain is formed (for
            ``"optimal"`` and ``"custom"``; ``()`` is fwd-over-rev over the identity), or
            ``None`` for the strategies that ignore the chain's structure.
        macs: Multiply-adds (see :mod:`jacobench.second_order.model`).
        peak_elements: Peak elements held (weights and ``x`` excluded, the Hessian included).
        jax_hessian_macs: Multiply-adds of ``jax.hessian`` (fwd-over-rev over the identity).
        steps: The steps, in order.
        budget_elements: The memory budget the plan was asked to fit, in elements (bytes over the
            dtype's itemsize, rounded down); ``None`` when none was given.
    """

    widths: tuple[int, ...]
    strategy: str
    splits: tuple[int, ...] | None
    macs: int
    peak_elements: int
    jax_hessian_macs: int
    steps: tuple[PlanStep, ...]
    budget_elements: int | None = None

    @property
    def formula(self) -> str:
        """The plan as a formula: ``hess(J2 J1, seed=hess(J5 J4 J3))`` forms ``H_2`` first."""
        if self.splits is None:
            return _FORMULAS[self.strategy][1]
        return format_splits(self.splits, self.n_layers)

    @property
    def tree(self) -> tuple[int, ...] | None:
        """The plan's structure, as in the first-order plans: here its :attr:`splits`."""
        return self.splits

    @property
    def speedup_vs_jax_hessian(self) -> float:
        """``jax.hessian``'s multiply-adds over this plan's."""
        return ratio(self.jax_hessian_macs, self.macs)

    def _rows(self) -> list[tuple[str, str]]:
        rows = super()._rows()
        rows.insert(4, ("jax.hessian multiply-adds", f"{self.jax_hessian_macs:,}"))
        rows.insert(5, ("Speedup vs jax.hessian", f"{self.speedup_vs_jax_hessian:.3g}x"))
        return rows


def plan_hvp(widths: Sequence[int], mode: str = "fwd-over-rev") -> HvpPlan:
    """Plan one Hessian-vector product of the scalar chain ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)`` with ``d_L = 1``.
        mode: ``"fwd-over-rev"``, ``"rev-over-fwd"`` or ``"rev-over-rev"`` (any case).

    Returns:
        A frozen, cached :class:`HvpPlan`.

    Raises:
        JacobenchError: For bad widths, a last width that is not 1, or an unknown mode.

    Example:
        >>> print(plan_hvp((3, 4, 1)))
        Widths:        3-4-1
        Strategy:      fwd-over-rev
        Formula:       jvp(grad(f), v)
        Multiply-adds: 52
        Peak elements: 20
        <BLANKLINE>
        step  action                                             multiply-adds  held elements
           1  forward: primal and 1 tangent through J1 J2, kept             32             16
           2  back: adjoint and its tangent through J2 J1 -> Hv             20             20
    """
    d = validate_scalar_widths(widths)
    return _plan_hvp(d, get_hvp_mode(mode))


@lru_cache(maxsize=512)
def _plan_hvp(d: tuple[int, ...], mode: str) -> HvpPlan:
    steps = hvp_steps(d, mode)
    s = sum(d[k] * d[k - 1] for k in range(1, len(d)))
    return HvpPlan(
        widths=d,
        strategy=mode,
        macs=sum(step.macs for step in steps),
        peak_elements=max(step.held for step in steps),
        gradient_macs=2 * s,
        steps=steps,
    )


def plan_hessian(
    widths: Sequence[int],
    strategy: str | Sequence[int] = "optimal",
    *,
    memory_budget: int | str | None = None,
    dtype: object = "float32",
) -> HessianPlan:
    """Plan the Hessian of the scalar chain ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)`` with ``d_L = 1``.
        strategy: A name in :data:`STRATEGIES` (any case), or the split interfaces themselves,
            e.g. ``(2,)`` (a ``"custom"`` plan).
        memory_budget: ``None`` (no limit), or the most bytes the plan may hold at once: an
            ``int`` or a string such as ``"2GiB"`` (see :func:`jacobench.units.parse_bytes`).
            ``"optimal"`` then gives the cheapest split plan that fits; any other strategy must
            fit as it is.
        dtype: The element type that turns the budget into elements (default ``"float32"``).

    Returns:
        A frozen :class:`HessianPlan`; the same request returns the same object.

    Raises:
        JacobenchError: For bad widths, a last width that is not 1, an unknown strategy, bad
            splits, a malformed budget or dtype, or a plan that does not fit the budget (the
            message gives the smallest budget that would fit).

    Example:
        >>> print(plan_hessian((4, 4, 1, 16, 16, 1)))
        Widths:                    4-4-1-16-16-1
        Strategy:                  optimal
        Formula:                   hess(J2 J1, seed=hess(J5 J4 J3))
        Multiply-adds:             1,340
        jax.hessian multiply-adds: 3,064
        Speedup vs jax.hessian:    2.29x
        Peak elements:             141
        <BLANKLINE>
        step  action                                   multiply-adds  held elements
           1  forward: primal through J1..J5, kept               308             42
           2  back: gradient through J5..J1, kept                292             84
           3  H2 = hess(J5 J4 J3): 1 tangent                     576            133
           4  H0 = hess(J2 J1, seed=H2 J): 4 tangents            164            141

        On ``(8, 2, 16, 2, 16, 1)`` the cheapest plan (976 MACs) forms ``H_1`` and peaks at 194
        elements; forming ``H_3`` too costs 8 more MACs and holds 190, so it is the cheapest
        plan within 190 float32 elements (760 bytes); nothing fits 700 bytes:

        >>> p = plan_hessian((8, 2, 16, 2, 16, 1), memory_budget=760)
        >>> p.splits, p.macs, p.peak_elements, p.budget_elements
        ((1, 3), 984, 190, 190)
        >>> plan_hessian((8, 2, 16, 2, 16, 1), memory_budget="700B")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: no Hessian plan fits widths (8, 2, 16, 2, 16, 1) in the \
memory budget of 700 bytes (700 B) with float32 elements; the smallest budget that fits is 760 \
bytes (760 B)
    """
    d = validate_scalar_widths(widths)
    element = element_of(dtype)
    if isinstance(strategy, str):
        get_strategy(strategy)
        base = _plan_named(d, strategy.lower())
    else:
        base = _plan_splits(d, validate_splits(strategy, len(d) - 1), "custom")
    if memory_budget is None:
        return base
    budget_bytes, budget = budget_in_elements(memory_budget, element)
    found = _plan_within(base, budget)
    if found is not None:
        return found
    if base.strategy == "optimal":
        what, need = "no Hessian plan fits", least_peak(d) * element.itemsize
    else:
        what, need = f"strategy {base.strategy!r} does not fit", base.memory_bytes(element)
    raise no_fit_error(what, d, budget_bytes, element, need)


@lru_cache(maxsize=512)
def _plan_named(d: tuple[int, ...], name: str) -> HessianPlan:
    splits = STRATEGIES[name](d)
    if splits is not None:
        return _plan_splits(d, validate_splits(splits, len(d) - 1), name)
    steps = hessian_steps(d, "fwd-over-rev" if name == "jax.hessian" else name)
    return _plan(d, name, None, steps)


@lru_cache(maxsize=512)
def _plan_splits(d: tuple[int, ...], splits: tuple[int, ...], name: str) -> HessianPlan:
    return _plan(d, name, splits, splits_steps(d, splits))


def _plan(
    d: tuple[int, ...], name: str, splits: tuple[int, ...] | None, steps: tuple[PlanStep, ...]
) -> HessianPlan:
    return HessianPlan(
        widths=d,
        strategy=name,
        splits=splits,
        macs=sum(step.macs for step in steps),
        peak_elements=max(step.held for step in steps),
        jax_hessian_macs=sum(step.macs for step in hessian_steps(d, "fwd-over-rev")),
        steps=steps,
    )


@lru_cache(maxsize=512)
def _plan_within(base: HessianPlan, budget: int) -> HessianPlan | None:
    """``base`` within ``budget`` elements; for "optimal", the cheapest fit; None if none fits."""
    if base.peak_elements <= budget:
        return replace(base, budget_elements=budget)
    if base.strategy != "optimal":
        return None
    splits = cheapest_within(base.widths, budget)
    if splits is None:
        return None
    return replace(_plan_splits(base.widths, splits, "optimal"), budget_elements=budget)
