r"""The matrix-free cost and memory model: multiply-adds and peak elements of a plan tree.

Here the layer Jacobians :math:`J_\ell` (:math:`d_\ell \times d_{\ell-1}`) are not given as
matrices: a layer is a function, reached only through tangents (JVPs, ``jax.jvp``) and adjoints
(VJPs, ``jax.vjp``). A *segment* ``i..j`` is the product :math:`J_{j..i} = J_j \cdots J_i`
(shape :math:`d_j \times d_{i-1}`).

**Cost model** (multiply-adds, MACs; exact Python ints). Assumption: one tangent or one adjoint
through a dense layer :math:`\ell` costs :math:`c_\ell = d_\ell d_{\ell-1}` MACs; element-wise work
(activations, their derivatives, biases) is not counted. A layer that is not dense gives its own
costs, ``layer_costs[l - 1] = (tangent MACs, adjoint MACs)`` of one tangent and one adjoint through
it (Naumann's per-stage costs); the formulas below then use the tangent costs for tangents and the
adjoint costs for adjoints. Write :math:`S(i, j) = \sum_{\ell=i}^{j} c_\ell`. Then

* **forward** mode pushes the :math:`d_0` columns of an identity through the whole chain:
  :math:`d_0\,S(1, L)` MACs (the identity seed's first product is paid, unlike the explicit
  formulas of :mod:`jacobench.cost`); ``jax.jacfwd`` does the same work;
* **reverse** mode pulls the :math:`d_L` rows of an identity back through it:
  :math:`d_L\,S(1, L)` MACs; ``jax.jacrev`` does the same work.

**Plans** (the matrix-free Jacobian chain problem). A plan is a tree of
:class:`MatrixFreeNode`\ s; segment ``i..j`` is accumulated by one of

* ``tangents``: :math:`d_{i-1}` tangents through ``i..j``, cost :math:`d_{i-1} S(i, j)`;
* ``adjoints``: :math:`d_j` adjoints through ``i..j``, cost :math:`d_j S(i, j)`;
* a split after layer ``k`` (``i <= k < j``), then either
  (a) ``multiply``: accumulate both factors and multiply them, :math:`d_j d_k d_{i-1}` more;
  (b) ``push``: accumulate :math:`J_{k..i}` and push its :math:`d_{i-1}` columns as tangents
  through ``k+1..j``, :math:`d_{i-1} S(k+1, j)` more;
  (c) ``pull``: accumulate :math:`J_{j..k+1}` and pull its :math:`d_j` rows as adjoints back
  through ``i..k``, :math:`d_j S(i, k)` more.

:func:`jacobench.matrix_free.optimal` finds the cheapest plan by dynamic programming over segments,
:math:`O(L^3)`.

**Memory model** (elements; weights and the input ``x`` excluded). A tangent pass through layer
``l`` with ``t`` tangents holds the activation going in and out and the tangent block going in and
out, :math:`(1 + t)(d_{l-1} + d_l)`; a pass's peak is the largest over its layers. An adjoint
pass through ``i..j`` with ``a`` adjoints holds every activation of the segment,
:math:`\sum_{l=i-1}^{j} d_l`, for the backward pass, plus the adjoint block going in and out, at
most :math:`a \max_l (d_{l-1} + d_l)`. The result of a node is held until its parent uses it
(:math:`d_j d_{i-1}` elements). ``push`` and ``pull`` peak at the larger of their child's peak and
their pass's peak (the seed block is the pass's first block). ``multiply`` holds both factors and
the result while it runs; of its two children the one giving the lower peak is evaluated first
(ties: the right one), exactly as in :mod:`jacobench.cost`, and the executor follows that order.

**Batches** (trading memory for time). A ``tangents``, ``adjoints``, ``push`` or ``pull`` node may
run its block of :math:`w` tangents (:math:`w = d_{i-1}`) or adjoints (:math:`w = d_j`) in batches
of :math:`b < w` (the last batch smaller), one batch after another. The MACs are the same: the
same :math:`w` passes are made, and the activations are computed once and reused by every batch
(nothing of the primal is recomputed). The peak memory uses :math:`b` instead of :math:`w` for the
working block, plus the whole result block, which is held while its batches are written into it,
plus, for ``push`` and ``pull``, the whole seed block: a batched tangent pass peaks at
:math:`(1 + b) \max_l (d_{l-1} + d_l) + w\,(d_j + d_k)` (:math:`d_k` only with a seed), a batched
adjoint pass at :math:`\sum_l d_l + b \max_l (d_{l-1} + d_l) + w\,(d_{i-1} + d_k)`.
:func:`jacobench.matrix_free.optimal` with ``max_peak`` picks batch sizes from the powers of two
below :math:`w`. With a memory budget, :func:`jacobench.matrix_free.plan` returns the cheapest
plan, batches included, whose
peak fits (a Pareto dynamic program on MACs and peak memory).

Example:
    The hourglass ``(1000, 1000, 10, 1000, 1000)`` is cheapest as the two small factors
    :math:`J_{4..3}` (10 tangents) and :math:`J_{2..1}` (10 adjoints), then one product:

    >>> tree = Node("multiply", 1, 4, (Node("tangents", 3, 4), Node("adjoints", 1, 2)))
    >>> cost((1000, 1000, 10, 1000, 1000), tree), forward_macs((1000, 1000, 10, 1000, 1000))
    (30200000, 2020000000)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Protocol

import numpy as np

from .._core import lower_peak_first, validate_widths
from .._text import show
from ..errors import JacobenchError
from .tree import Node, check_tree

__all__ = [
    "Costs",
    "LayerCosts",
    "MacCosts",
    "adjoint_pass_peak",
    "analyse",
    "analyse_all",
    "cost",
    "costs_of",
    "execution_order",
    "forward_macs",
    "memory",
    "pair",
    "pass_cost",
    "reverse_macs",
    "tangent_pass_peak",
]

LayerCosts = tuple[tuple[int, int], ...]
"""Per-layer ``(tangent MACs, adjoint MACs)`` of one tangent and one adjoint, layer 1 first."""


class Costs(Protocol):
    """What the planners minimise, priced node by node.

    :class:`MacCosts` gives multiply-adds, :class:`jacobench.timing.costs.PassSeconds` predicted
    seconds; ``batch`` is the block's batch size (``None``: whole), which MACs ignore and seconds
    do not; ``seeded`` says that the block's seed is a child's result (``push``, ``pull``), not
    the identity, which an executor may treat more cheaply. The planners pass ``batch`` and
    ``seeded`` only to a cost object whose ``prices_passes`` is true (see :func:`pass_cost`); any
    other needs only ``tangents(w, lo, hi)``, ``adjoints(w, lo, hi)`` and ``multiply(m, k, n)``.
    Each method takes ints, or integer arrays broadcast together (the vectorised dynamic
    program's), and returns a number or an array of them.
    """

    def tangents(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """Cost of ``w`` tangents through layers ``lo..hi``."""
        ...

    def adjoints(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """Cost of ``w`` adjoints back through layers ``lo..hi``."""
        ...

    def multiply(self, m: Any, k: Any, n: Any) -> Any:
        """Cost of an ``(m x k) @ (k x n)`` product."""
        ...

    def __hash__(self) -> int:  # the planners cache their plans by cost object
        ...


@dataclass(frozen=True)
class MacCosts:
    """The cost object the planners minimise: multiply-adds of passes and products.

    Every matrix-free planner prices a candidate through three methods, so another objective
    (predicted seconds, say) plugs in by providing the same three. Each method takes Python ints
    and returns an int, or takes numpy integer arrays (broadcast together, as the vectorised
    dynamic program passes them: ``w`` of dtype int64 or object, ``lo``/``hi`` index arrays)
    and returns an array: int64 for int64 widths, exact Python ints in an object array for
    object widths.

    Attributes:
        tangent_prefix: ``tangent_prefix[l]``: MACs of one tangent through layers ``1..l``.
        adjoint_prefix: ``adjoint_prefix[l]``: MACs of one adjoint through layers ``1..l``.

    Example:
        >>> c = costs_of((3, 4, 2))
        >>> c.tangents(3, 1, 2), c.adjoints(2, 1, 2), c.multiply(2, 4, 3)
        (60, 40, 24)
        >>> c.tangents(np.array([3, 4]), np.array([1, 2]), 2).tolist()
        [60, 32]
    """

    tangent_prefix: tuple[int, ...]
    adjoint_prefix: tuple[int, ...]

    def tangents(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """MACs of ``w`` tangents through layers ``lo..hi`` (batches and seeds: the same)."""
        if _scalars(w, lo, hi):
            return w * (self.tangent_prefix[hi] - self.tangent_prefix[lo - 1])
        upto, before = self._arrays(w, "_tangent_arrays")
        return w * (upto[hi] - before[lo])

    def adjoints(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """MACs of ``w`` adjoints back through layers ``lo..hi`` (batches and seeds: the same)."""
        if _scalars(w, lo, hi):
            return w * (self.adjoint_prefix[hi] - self.adjoint_prefix[lo - 1])
        upto, before = self._arrays(w, "_adjoint_arrays")
        return w * (upto[hi] - before[lo])

    def multiply(self, m: Any, k: Any, n: Any) -> Any:
        """MACs of an ``(m x k) @ (k x n)`` product."""
        return m * n * k  # exact either way; with arrays, m * n is the small outer factor

    def _arrays(self, w: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The prefix sums ``upto[l]`` (layers ``1..l``) and ``before[l]`` (``1..l-1``).

        As arrays whose dtype suits ``w``: exact Python ints for object widths or huge sums.
        """
        exact = isinstance(w, np.ndarray) and w.dtype == object
        tables: dict[bool, tuple[np.ndarray, np.ndarray]] = getattr(self, name)
        return tables[exact]

    @cached_property
    def _tangent_arrays(self) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
        return _prefix_arrays(self.tangent_prefix)

    @cached_property
    def _adjoint_arrays(self) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
        return _prefix_arrays(self.adjoint_prefix)


def pass_cost(
    costs: Any,
    kind: str,
    w: Any,
    lo: Any,
    hi: Any,
    batch: int | None = None,
    *,
    seeded: bool = False,
) -> Any:
    """``costs.tangents`` or ``costs.adjoints`` (``kind``) of one pass, as the planners ask it.

    ``batch`` and ``seeded`` reach only a cost object that prices them (``prices_passes``);
    multiply-adds are the same either way.

    Example:
        >>> pass_cost(costs_of((3, 4, 2)), "tangents", 3, 1, 2, 1, seeded=True)
        60
    """
    method = getattr(costs, kind)
    if getattr(costs, "prices_passes", False):
        return method(w, lo, hi, batch, seeded=seeded)
    return method(w, lo, hi)


def _scalars(*values: Any) -> bool:
    return not any(isinstance(x, np.ndarray) for x in values)


def _prefix_arrays(prefix: tuple[int, ...]) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """``{exact: (upto, before)}`` arrays of a prefix sum (``before[l] = upto[l - 1]``)."""
    out = {}
    for exact in (False, True):
        dtype = object if exact or prefix[-1] >= 2**62 else np.int64
        upto = np.array(prefix, dtype=dtype)
        before = np.zeros(len(prefix) + 1, dtype=dtype)
        before[1:] = upto
        out[exact] = (upto, before)
    return out


def costs_of(widths: tuple[int, ...], layer_costs: object = None) -> MacCosts:
    """The :class:`MacCosts` of a chain: dense layers, or the given per-layer costs.

    Args:
        widths: ``(d_0, ..., d_L)`` (trusted).
        layer_costs: ``None`` (dense: ``d_l d_{l-1}`` each way) or ``L`` pairs
            ``(tangent MACs, adjoint MACs)`` of non-negative ints, layer 1 first.

    Raises:
        JacobenchError: If ``layer_costs`` is not ``L`` pairs of non-negative ints.

    Example:
        >>> costs_of((3, 4, 2), ((1, 2), (3, 4))).adjoint_prefix
        (0, 2, 6)
    """
    return _costs_of(widths, _check_layer_costs(widths, layer_costs))


def _check_layer_costs(widths: tuple[int, ...], layer_costs: object) -> LayerCosts | None:
    if layer_costs is None:
        return None
    n = len(widths) - 1
    bad = JacobenchError(
        f"layer_costs must be {n} pairs (tangent MACs, adjoint MACs) of non-negative ints, one "
        f"per layer of widths {show(widths)}, got {show(layer_costs)}"
    )
    if not isinstance(layer_costs, Sequence | np.ndarray) or isinstance(layer_costs, str):
        raise bad
    try:
        pairs = tuple(tuple(p) for p in layer_costs)
    except TypeError:
        raise bad from None
    if len(pairs) != n:
        raise bad
    for pair_ in pairs:
        if len(pair_) != 2 or any(
            isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 0 for c in pair_
        ):
            raise bad
    return tuple((int(t), int(a)) for t, a in pairs)


@lru_cache(maxsize=256)
def _costs_of(d: tuple[int, ...], layer_costs: LayerCosts | None) -> MacCosts:
    n = len(d) - 1
    tangent, adjoint = [0] * (n + 1), [0] * (n + 1)
    for k in range(1, n + 1):
        t, a = (d[k] * d[k - 1],) * 2 if layer_costs is None else layer_costs[k - 1]
        tangent[k] = tangent[k - 1] + t
        adjoint[k] = adjoint[k - 1] + a
    return MacCosts(tuple(tangent), tuple(adjoint))


def forward_macs(widths: Sequence[int], layer_costs: object = None) -> int:
    r"""Multiply-adds of forward mode (``jax.jacfwd``): :math:`d_0 \sum_{l=1}^{L} d_l d_{l-1}`.

    Example:
        >>> forward_macs((50, 5, 100, 10))  # 50 * (5*50 + 100*5 + 10*100)
        87500
    """
    d = validate_widths(widths)
    macs: int = costs_of(d, layer_costs).tangents(d[0], 1, len(d) - 1)
    return macs


def reverse_macs(widths: Sequence[int], layer_costs: object = None) -> int:
    r"""Multiply-adds of reverse mode (``jax.jacrev``): :math:`d_L \sum_{l=1}^{L} d_l d_{l-1}`.

    Example:
        >>> reverse_macs((50, 5, 100, 10))  # 10 * (5*50 + 100*5 + 10*100)
        17500
    """
    d = validate_widths(widths)
    macs: int = costs_of(d, layer_costs).adjoints(d[-1], 1, len(d) - 1)
    return macs


def tangent_pass_peak(pair: int, t: int, batch: int | None, out: int, seed: int) -> int:
    """Peak of ``t`` tangents through a segment whose widest layer pair is ``pair`` elements.

    ``out`` is the segment's output width and ``seed`` its input width when the seed block is a
    child's result (0 for the identity). Unbatched, the seed is the first block of the pass.
    """
    if batch is None:
        return (1 + t) * pair
    return (1 + batch) * pair + t * (out + seed)


def adjoint_pass_peak(acts: int, pair: int, a: int, batch: int | None, out: int, seed: int) -> int:
    """Peak of ``a`` adjoints back through a segment holding ``acts`` activation elements.

    ``out`` is the segment's input width (the adjoints' output) and ``seed`` its output width when
    the seed block is a child's result (0 for the identity).
    """
    if batch is None:
        return acts + a * pair
    return acts + batch * pair + a * (out + seed)


def pair(d: tuple[int, ...], lo: int, hi: int) -> int:
    """The widest layer pair ``max(d_{l-1} + d_l)`` over layers ``lo..hi``."""
    return max(d[k - 1] + d[k] for k in range(lo, hi + 1))


def analyse(d: tuple[int, ...], node: Node, costs: MacCosts) -> tuple[int, int]:
    """(MACs, peak elements) of a trusted plan, straight from the definitions, without recursion.

    Example:
        >>> analyse((3, 4, 2), Node("adjoints", 1, 2), costs_of((3, 4, 2)))
        (40, 23)
    """
    return analyse_all(d, node, costs)[id(node)]


def analyse_all(d: tuple[int, ...], node: Node, costs: MacCosts) -> dict[int, tuple[int, int]]:
    """(MACs, peak) of every node of a trusted plan, by ``id(node)``, in one post-order walk.

    Example:
        >>> t = Node("push", 1, 2, (Node("tangents", 1, 1),))
        >>> sorted(analyse_all((3, 4, 2), t, costs_of((3, 4, 2))).values())
        [(36, 28), (60, 28)]
    """
    done: dict[int, tuple[int, int]] = {}
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        item, ready = stack.pop()
        if not ready and item.children:
            stack.append((item, True))
            stack.extend((child, False) for child in item.children)
            continue
        done[id(item)] = _node_cost(d, item, costs, [done[id(c)] for c in item.children])
    return done


def multiply_layout(d: tuple[int, ...], node: Node) -> tuple[int, int, int]:
    """``(held_l, held_r, out)``: result sizes of a multiply node's two factors and its own."""
    k = node.split
    return d[node.hi] * d[k], d[k] * d[node.lo - 1], d[node.hi] * d[node.lo - 1]


def _node_cost(
    d: tuple[int, ...], node: Node, costs: MacCosts, kids: list[tuple[int, int]]
) -> tuple[int, int]:
    """(MACs, peak) of one node from its children's."""
    lo, hi, b = node.lo, node.hi, node.batch
    if node.op == "tangents":
        t = d[lo - 1]
        return costs.tangents(t, lo, hi), tangent_pass_peak(pair(d, lo, hi), t, b, d[hi], 0)
    if node.op == "adjoints":
        a, acts = d[hi], sum(d[lo - 1 : hi + 1])
        peak = adjoint_pass_peak(acts, pair(d, lo, hi), a, b, d[lo - 1], 0)
        return costs.adjoints(a, lo, hi), peak
    k = node.split
    if node.op == "multiply":
        (macs_l, peak_l), (macs_r, peak_r) = kids
        held_l, held_r, out = multiply_layout(d, node)
        peak, _ = lower_peak_first(peak_l, held_l, peak_r, held_r, out)
        return macs_l + macs_r + costs.multiply(d[hi], d[k], d[lo - 1]), peak
    macs_c, peak_c = kids[0]
    if node.op == "push":
        t = d[lo - 1]
        peak = tangent_pass_peak(pair(d, k + 1, hi), t, b, d[hi], d[k])
        return macs_c + costs.tangents(t, k + 1, hi), max(peak_c, peak)
    a, acts = d[hi], sum(d[lo - 1 : k + 1])
    peak = adjoint_pass_peak(acts, pair(d, lo, k), a, b, d[lo - 1], d[k])
    return macs_c + costs.adjoints(a, lo, k), max(peak_c, peak)


def right_first(d: tuple[int, ...], node: Node, analysed: dict[int, tuple[int, int]]) -> bool:
    """For a multiply node: whether the right (lower-layer) factor runs first (the shared rule).

    ``analysed`` is :func:`analyse_all` of a tree holding ``node`` (peaks do not depend on the
    cost object).
    """
    left, right = node.children
    held_l, held_r, out = multiply_layout(d, node)
    peak_l, peak_r = analysed[id(left)][1], analysed[id(right)][1]
    return lower_peak_first(peak_l, held_l, peak_r, held_r, out)[1]


def execution_order(d: tuple[int, ...], root: Node) -> list[Node]:
    """The nodes of a trusted plan in the order they run, for the executor and the time model.

    Children come before their parent, and of a product's two factors the one
    :func:`right_first` says first.

    Example:
        >>> t = Node("multiply", 1, 2, (Node("tangents", 2, 2), Node("adjoints", 1, 1)))
        >>> [n.op for n in execution_order((3, 1, 3), t)]
        ['adjoints', 'tangents', 'multiply']
    """
    analysed = analyse_all(d, root, costs_of(d))  # the peaks decide the order
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if ready or not node.children:
            order.append(node)
            continue
        stack.append((node, True))
        if node.op == "multiply":
            left, right = node.children
            first, second = (right, left) if right_first(d, node, analysed) else (left, right)
            stack += [(second, False), (first, False)]
        else:
            stack.append((node.children[0], False))
    return order


def cost(widths: Sequence[int], tree: Node, layer_costs: object = None) -> int:
    """Multiply-adds of the plan ``tree`` on the chain ``widths``.

    Example:
        >>> t = Node("adjoints", 1, 2)
        >>> cost((3, 4, 2), t)  # 2 adjoints through 4*3 + 2*4 MACs of layers
        40
        >>> cost((3, 4, 2), t, layer_costs=((1, 5), (1, 7)))  # 2 adjoints through 5 + 7 MACs
        24
    """
    d = validate_widths(widths)
    return analyse(d, check_tree(d, tree), costs_of(d, layer_costs))[0]


def memory(widths: Sequence[int], tree: Node) -> int:
    """Peak elements held while the plan ``tree`` runs (weights and ``x`` excluded).

    Example:
        Reverse on ``(3, 4, 2)`` holds the activations ``3 + 4 + 2`` plus two adjoint blocks of
        at most ``2 * (4 + 3)`` elements:

        >>> memory((3, 4, 2), Node("adjoints", 1, 2))
        23
    """
    d = validate_widths(widths)
    return analyse(d, check_tree(d, tree), costs_of(d))[1]
