"""Matrix-free planners: the registry, the optimal dynamic programs and :func:`plan`.

A planner is a pure function ``widths -> Node`` that also takes ``layer_costs=None`` (see
:mod:`jacobench.matrix_free.model`). :data:`STRATEGIES` holds them by name; :func:`plan` looks one
up (case-insensitively), costs its tree and returns a frozen, printable :class:`MatrixFreePlan`.
Running a plan is :func:`jacobench.matrix_free.jacobian`'s job.

Example:
    >>> p = plan((1000, 1000, 10, 1000, 1000))
    >>> p.formula
    'jvp(J4 J3) @ vjp(J2 J1)'
    >>> p.macs, p.forward_macs, round(p.speedup_vs_forward, 1)
    (30200000, 2020000000, 66.9)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from ..explicit import cost as explicit_cost
from ..explicit import optimal as explicit_optimal
from .model import (
    Costs,
    LayerCosts,
    MacCosts,
    adjoint_pass_peak,
    analyse,
    analyse_all,
    costs_of,
    multiply_layout,
    pair,
    right_first,
    tangent_pass_peak,
)
from .model import forward_macs as _forward_macs
from .model import reverse_macs as _reverse_macs
from .search import cheapest, cheapest_within, least_peak, min_peak, optimal
from .tree import Node, Op, check_tree, format, leaf

__all__ = [
    "JAX_BASELINES",
    "STRATEGIES",
    "MatrixFreePlan",
    "Planner",
    "explicit_layer_macs",
    "fit",
    "get_strategy",
    "min_peak",
    "optimal",
    "plan",
    "register",
]


def _all_tangents(widths: tuple[int, ...], *, layer_costs: object = None) -> Node:
    return leaf("tangents", 1, len(widths) - 1)


def _all_adjoints(widths: tuple[int, ...], *, layer_costs: object = None) -> Node:
    return leaf("adjoints", 1, len(widths) - 1)


def _explicit(widths: tuple[int, ...], *, layer_costs: object = None) -> Node:
    """Each J_l by the cheaper of tangents and adjoints, then the explicit optimal bracketing."""
    costs = costs_of(widths, layer_costs)

    def layer(k: int) -> Node:
        by_tangents = costs.tangents(widths[k - 1], k, k)
        op: Op = "tangents" if by_tangents <= costs.adjoints(widths[k], k, k) else "adjoints"
        return leaf(op, k, k)

    # Build bottom-up without recursion over the bracketing (chains can be deep).
    root = explicit_optimal(widths)
    built: dict[int, Node] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        tree, ready = stack.pop()
        if not isinstance(tree, tuple):
            built[id(tree)] = layer(tree)
        elif ready:
            left, right = built[id(tree[0])], built[id(tree[1])]
            built[id(tree)] = Node("multiply", right.lo, left.hi, (left, right))
        else:
            stack.extend([(tree, True), (tree[0], False), (tree[1], False)])
    return built[id(root)]


Planner = Callable[..., Node]
"""A matrix-free planner: ``planner(widths, *, layer_costs=None) -> Node``."""

STRATEGIES: dict[str, Planner] = {
    "forward": _all_tangents,
    "reverse": _all_adjoints,
    "optimal": optimal,
    "explicit": _explicit,
    "jacfwd": _all_tangents,
    "jacrev": _all_adjoints,
}
"""Every registered matrix-free strategy, by lower-case name (extend it with :func:`register`).

``jacfwd`` and ``jacrev`` run JAX's own ``jax.jacfwd`` / ``jax.jacrev``; their model cost and memory
are forward's and reverse's. ``explicit`` materialises each layer Jacobian by the cheaper of
tangents and adjoints, then multiplies them in the explicit optimal bracketing
(:func:`jacobench.explicit.optimal`).
"""

JAX_BASELINES = ("jacfwd", "jacrev")
"""Strategies that hand the whole Jacobian to JAX's own ``jax.jacfwd`` / ``jax.jacrev``."""


def register(name: str, planner: Planner) -> Planner:
    """Register ``planner`` (``widths, *, layer_costs=None -> Node``) as strategy ``name``.

    Example:
        >>> def all_tangents(widths, *, layer_costs=None):
        ...     return Node("tangents", 1, len(widths) - 1)
        >>> register("Tangents", all_tangents) is all_tangents
        True
        >>> plan((2, 3, 4), "tangents").formula
        'jvp(J2 J1)'
        >>> del STRATEGIES["tangents"]
    """
    return _register(STRATEGIES, name, planner)


def get_strategy(name: str) -> Planner:
    """Look up a registered matrix-free strategy by name, case-insensitively.

    Raises:
        JacobenchError: For an unknown name; the message lists the valid options.

    Example:
        >>> get_strategy("JacFwd") is STRATEGIES["jacfwd"]
        True
    """
    return lookup(STRATEGIES, name)


@dataclass(frozen=True, repr=False)
class MatrixFreePlan(PlanSummary):
    """How to build the Jacobian of a chain from tangents and adjoints, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        strategy: The registered name that produced the plan, or ``"custom"`` for a given tree.
        tree: The plan (a :class:`~jacobench.matrix_free.Node`).
        macs: Multiply-adds of the plan (exact).
        peak_elements: Peak elements held while it runs (see :mod:`jacobench.matrix_free.model`).
        forward_macs: Forward mode's MACs on the same chain (``jax.jacfwd``).
        reverse_macs: Reverse mode's MACs on the same chain (``jax.jacrev``).
        budget_elements: The memory budget the plan was asked to fit, in elements (the budget in
            bytes over the dtype's itemsize, rounded down); ``None`` when none was given.
        layer_costs: The per-layer ``(tangent MACs, adjoint MACs)`` the plan was costed with;
            ``None`` for dense layers.
        objective: What ``"optimal"`` minimised: ``"macs"`` or ``"time"`` (predicted seconds on
            a device, see :mod:`jacobench.timing`).

    Example:
        >>> print(plan((6, 6, 1, 6, 6)))
        Widths:                6-6-1-6-6
        Strategy:              optimal
        Formula:               jvp(J4 J3) @ vjp(J2 J1)
        Multiply-adds:         120
        Forward multiply-adds: 504
        Reverse multiply-adds: 504
        Speedup vs forward:    4.2x
        Speedup vs reverse:    4.2x
        Peak elements:         48
        <BLANKLINE>
        step  action                                    multiply-adds  held elements
           1  vjp(J2 J1): 1 adjoint back through J2 J1             42             25
           2  jvp(J4 J3): 1 tangent through J4 J3                  42             30
           3  J4..J1 = J4 J3 @ J2 J1  (6x1 @ 1x6)                  36             48
    """

    widths: tuple[int, ...]
    strategy: str
    tree: Node
    macs: int
    peak_elements: int
    forward_macs: int
    reverse_macs: int
    budget_elements: int | None = None
    layer_costs: LayerCosts | None = None
    objective: str = "macs"

    @property
    def formula(self) -> str:
        """The plan as a formula, e.g. ``jvp(J4 J3) @ vjp(J2 J1)``."""
        return format(self.tree)

    def tree_repr(self) -> str:
        """``repr(self.tree)`` (written without recursion)."""
        return repr(self.tree)

    @property
    def steps(self) -> tuple[PlanStep, ...]:
        """The passes and products in evaluation order, with MACs and the elements held."""
        return _plan_steps(self.widths, self.tree, costs_of(self.widths, self.layer_costs))


def _plan_steps(d: tuple[int, ...], root: Node, costs: MacCosts) -> tuple[PlanStep, ...]:
    """Replay the tree in execution order: each step holds its own peak and every live result."""
    analysed = analyse_all(d, root, costs)
    rows: list[PlanStep] = []
    # (node, ready, elements held by results alive outside this subtree)
    stack: list[tuple[Node, bool, int]] = [(root, False, 0)]
    while stack:
        node, ready, outside = stack.pop()
        if not ready and node.children:
            stack.append((node, True, outside))
            if node.op == "multiply":
                left, right = node.children
                held_l, held_r, _ = multiply_layout(d, node)
                if right_first(d, node, analysed):
                    stack += [(left, False, outside + held_r), (right, False, outside)]
                else:
                    stack += [(right, False, outside + held_l), (left, False, outside)]
            else:
                stack.append((node.children[0], False, outside))
            continue
        rows.append(_step_row(d, node, analysed, outside))
    return tuple(rows)


def _step_row(
    d: tuple[int, ...], node: Node, analysed: dict[int, tuple[int, int]], outside: int
) -> PlanStep:
    """One node's own work: its pass or product, its MACs, and what is held while it runs."""
    lo, hi, k = node.lo, node.hi, node.split
    batch = "" if node.batch is None else f", {node.batch} at a time"
    kids = [analysed[id(c)] for c in node.children]
    macs, peak = analysed[id(node)]
    own = macs - sum(m for m, _ in kids)
    if node.op == "multiply":
        held_l, held_r, out = multiply_layout(d, node)
        shapes = f"{_num(d[hi])}x{_num(d[k])} @ {_num(d[k])}x{_num(d[lo - 1])}"
        action = f"{span_label(lo, hi)} = {span_label(k + 1, hi)} @ {span_label(lo, k)}  ({shapes})"
        return PlanStep(action, own, outside + held_l + held_r + out)
    if node.op in ("tangents", "push"):
        w, span = d[lo - 1], (lo, hi) if node.op == "tangents" else (k + 1, hi)
        what = f"{_num(w)} tangent{'s' * (w != 1)} through {span_label(*span)}"
        head = f"jvp({span_label(*span)})" if node.op == "tangents" else "push"
    else:
        w, span = d[hi], (lo, hi) if node.op == "adjoints" else (lo, k)
        what = f"{_num(w)} adjoint{'s' * (w != 1)} back through {span_label(*span)}"
        head = f"vjp({span_label(*span)})" if node.op == "adjoints" else "pull"
    own_peak = peak if not kids else _pass_peak(d, node)
    return PlanStep(f"{head}: {what}{batch}", own, outside + own_peak)


def _num(value: int) -> str:
    return int_text(value, grouped=False)


def _pass_peak(d: tuple[int, ...], node: Node) -> int:
    """The peak of a push or pull node's own pass (its seed block included)."""
    lo, hi, k, b = node.lo, node.hi, node.split, node.batch
    if node.op == "push":
        return tangent_pass_peak(pair(d, k + 1, hi), d[lo - 1], b, d[hi], d[k])
    acts = sum(d[lo - 1 : k + 1])
    return adjoint_pass_peak(acts, pair(d, lo, k), d[hi], b, d[lo - 1], d[k])


def plan(
    widths: Sequence[int],
    strategy: str | Node = "optimal",
    *,
    memory_budget: int | str | None = None,
    dtype: object = "float32",
    layer_costs: object = None,
    objective: str = "macs",
    profile: Any = None,
) -> MatrixFreePlan:
    """Plan the matrix-free Jacobian of a chain with widths ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)``, positive integers, ``L >= 1``.
        strategy: A name in :data:`STRATEGIES` (any case) or a plan tree.
        memory_budget: ``None`` (no limit), or the most bytes the plan may hold at once (weights
            and ``x`` excluded): an ``int`` or a string such as ``"2GiB"`` (see
            :func:`jacobench.units.parse_bytes`). ``"optimal"`` then gives the cheapest plan that
            fits, running tangent or adjoint blocks in batches where that is what fits
            (:func:`optimal` with ``max_peak``); any other strategy must fit as it is.
        dtype: The element type that turns the budget into elements (default ``"float32"``).
        layer_costs: ``None`` (dense layers, ``d_l d_{l-1}`` MACs per tangent or adjoint), or
            ``L`` pairs ``(tangent MACs, adjoint MACs)`` for layers that are not dense.
        objective: What ``"optimal"`` minimises: ``"macs"`` (multiply-adds, the default) or
            ``"time"``: the seconds :func:`jacobench.predict_seconds` predicts on ``profile``
            for a chain of dense layers in ``dtype`` (within the memory budget too). Other
            strategies are what they are.
        profile: The :class:`~jacobench.DeviceProfile` for ``objective="time"``; ``None``: this
            machine's saved profile, measured first if there is none
            (:func:`jacobench.timing.load_or_calibrate`).

    Returns:
        A frozen :class:`MatrixFreePlan`; plans are cached, the same request returns the same
        object.

    Raises:
        JacobenchError: For bad widths, an unknown strategy or objective, a malformed tree,
            malformed ``layer_costs``, budget or dtype, or a plan that does not fit the budget
            (the message gives the smallest budget that would fit); for ``objective="time"``
            with ``layer_costs`` or a profile without JAX rates in ``dtype``.

    Example:
        Forward on ``(256, 256, 256)`` peaks at ``(1 + 256) * 512`` float32 elements, 514 KiB;
        within 300 KiB the cheapest plan pushes the same tangents 16 at a time, holding
        ``(1 + 16) * 512`` plus the ``256 x 256`` result:

        >>> p = plan((256, 256, 256), memory_budget="300KiB")
        >>> p.formula, p.macs == p.forward_macs, p.peak_elements, p.budget_elements
        ('jvp(J2 J1, batch=16)', True, 74240, 76800)
        >>> plan((256, 256, 256), memory_budget="200KiB")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: no matrix-free plan fits widths (256, 256, 256) in the \
memory budget of 204,800 bytes (200 KiB) with float32 elements; the smallest budget that fits is \
266,240 bytes (260 KiB)

        A segment that is cheap to pull back through changes the plan:

        >>> plan((4, 4, 4)).formula, plan((4, 4, 4), layer_costs=((16, 1), (16, 1))).formula
        ('jvp(J2 J1)', 'vjp(J2 J1)')

        By predicted time the planner sees what the executor does beyond the multiply-adds: an
        identity seed costs it no product (the first factor is ``D W`` itself). On
        ``(64, 64, 512, 64)`` forward and reverse mode tie at 4,456,448 MACs; reverse mode's
        identity seed, at the wide end, skips the big product ``(64, 512, 64)``:

        >>> from jacobench.timing import DeviceProfile
        >>> device = DeviceProfile.uniform(flops=1e9, bandwidth=1e10, op_overhead_s=1e-6)
        >>> plan((64, 64, 512, 64)).formula
        'jvp(J3 J2 J1)'
        >>> plan((64, 64, 512, 64), objective="time", profile=device).formula
        'vjp(J3 J2 J1)'
    """
    d = validate_widths(widths)
    element = element_of(dtype)
    costs = costs_of(d, layer_costs)
    layer = _as_layer_costs(costs, layer_costs)
    timed = _time_costs(d, objective, profile, element, layer)
    if isinstance(strategy, str):
        get_strategy(strategy)
        name = strategy.lower()
        base = (
            _plan_fastest(d, timed) if timed and name == "optimal" else _plan_named(d, name, layer)
        )
    else:
        base = _plan_tree(d, check_tree(d, strategy), "custom", layer)
    if memory_budget is None:
        return base
    return fit(base, memory_budget, element, replan=True, timed=timed)


def _time_costs(
    d: tuple[int, ...], objective: str, profile: Any, element: Any, layer: LayerCosts | None
) -> Costs | None:
    """The seconds cost object for ``objective="time"``; None for multiply-adds."""
    if check_objective(objective) == "macs":
        return None
    if layer is not None:
        raise JacobenchError(
            "objective 'time' predicts seconds for dense layers; layer_costs must be None, got "
            f"{layer!r}"
        )
    from ..timing.costs import PassSeconds, resolve_profile

    return PassSeconds(d, resolve_profile(profile, "jax", element.name), element.name)


@lru_cache(maxsize=128)
def _plan_fastest(widths: tuple[int, ...], timed: Costs) -> MatrixFreePlan:
    """The plan with the least predicted seconds (``timed``: a seconds cost object).

    The multiply-add optimal plan (else forward or reverse mode), unless this one is predicted
    more than :data:`~jacobench._core.TIME_MARGIN` faster.
    """
    fastest = _plan_tree(widths, cheapest(widths, timed), "optimal", None)
    modes = _modes(widths)
    plain = fewest_macs([_plan_named(widths, "optimal", None)], modes)
    chosen = fastest_of(plain, modes, fastest, _seconds_of(timed))
    return replace(_plan_tree(widths, chosen.tree, "optimal", None), objective="time")


def _modes(widths: tuple[int, ...]) -> list[MatrixFreePlan]:
    """Forward and reverse mode."""
    return [_plan_named(widths, "forward", None), _plan_named(widths, "reverse", None)]


def _seconds_of(timed: Costs) -> Callable[[MatrixFreePlan], float]:
    """A plan's predicted seconds on the device of ``timed`` (a seconds cost object)."""
    from ..timing.predict import predict_seconds

    profile, dtype = timed.profile, timed.dtype  # type: ignore[attr-defined]
    return lambda p: predict_seconds(p, profile, "jax", dtype)


def _as_layer_costs(costs: MacCosts, layer_costs: object) -> LayerCosts | None:
    """The validated per-layer costs as a hashable tuple (None for dense layers)."""
    if layer_costs is None:
        return None
    t, a = costs.tangent_prefix, costs.adjoint_prefix
    return tuple((t[k] - t[k - 1], a[k] - a[k - 1]) for k in range(1, len(t)))


def fit(
    base: MatrixFreePlan,
    memory_budget: int | str,
    element: Any,
    *,
    replan: bool,
    timed: Costs | None = None,
) -> MatrixFreePlan:
    """``base`` within the budget; with ``replan``, an "optimal" base becomes the cheapest fit.

    ``timed`` (a seconds cost object) makes "cheapest" mean the least predicted seconds.

    Raises:
        JacobenchError: If it does not fit (the message gives the smallest budget that would).

    Example:
        >>> fit(plan((4, 4, 4)), 160, element_of("float32"), replan=True).formula
        'jvp(J2 J1)'
    """
    budget_bytes, budget = budget_in_elements(memory_budget, element)
    found = _plan_within(base, budget, replan, timed)
    if found is not None:
        return found
    if replan and base.strategy == "optimal":
        what, need = "no matrix-free plan fits", least_peak(base.widths) * element.itemsize
    else:
        what, need = f"strategy {base.strategy!r} does not fit", base.memory_bytes(element)
    raise no_fit_error(what, base.widths, budget_bytes, element, need)


@lru_cache(maxsize=512)
def _plan_within(
    base: MatrixFreePlan, budget: int, replan: bool, timed: Costs | None = None
) -> MatrixFreePlan | None:
    """``base`` within ``budget`` elements, or (``replan``, "optimal") the cheapest fit; or None.

    With ``timed``, the cheapest in predicted seconds.
    """
    if base.peak_elements <= budget:
        return replace(base, budget_elements=budget)
    if not replan or base.strategy != "optimal":
        return None
    macs = costs_of(base.widths, base.layer_costs)
    tree = cheapest_within(base.widths, budget, timed if timed is not None else macs)
    if tree is None:
        return None
    planned = _plan_tree(base.widths, tree, "optimal", base.layer_costs)
    if timed is None:
        return replace(planned, budget_elements=budget)
    fewest = cheapest_within(base.widths, budget, macs)
    optimal = [] if fewest is None else [_plan_tree(base.widths, fewest, "optimal", None)]
    modes = [p for p in _modes(base.widths) if p.peak_elements <= budget]
    chosen = fastest_of(fewest_macs(optimal, modes), modes, planned, _seconds_of(timed))
    chosen = _plan_tree(base.widths, chosen.tree, "optimal", None)
    return replace(chosen, budget_elements=budget, objective="time")


@lru_cache(maxsize=512)
def _plan_named(widths: tuple[int, ...], name: str, layer: LayerCosts | None) -> MatrixFreePlan:
    return _plan_tree(widths, STRATEGIES[name](widths, layer_costs=layer), name, layer)


@lru_cache(maxsize=512)
def _plan_tree(
    widths: tuple[int, ...], tree: Node, name: str, layer: LayerCosts | None
) -> MatrixFreePlan:
    macs, peak = analyse(widths, tree, costs_of(widths, layer))
    return MatrixFreePlan(
        widths=widths,
        strategy=name,
        tree=tree,
        macs=macs,
        peak_elements=peak,
        forward_macs=_forward_macs(widths, layer),
        reverse_macs=_reverse_macs(widths, layer),
        layer_costs=layer,
    )


def explicit_layer_macs(widths: Sequence[int]) -> int:
    """MACs of the ``explicit`` strategy: each layer by min(d_{l-1}, d_l) passes, then the product.

    Example:
        >>> explicit_layer_macs((50, 5, 100, 10))  # 5*250 + 5*500 + 10*1000 + 7,500
        21250
    """
    d = validate_widths(widths)
    layers = sum(min(d[k - 1], d[k]) * d[k] * d[k - 1] for k in range(1, len(d)))
    return layers + explicit_cost(d, explicit_optimal(d))
