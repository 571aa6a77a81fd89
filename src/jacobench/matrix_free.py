r"""Matrix-free Jacobians of a :class:`~jacobench.chain.Chain`: cost model, planner and executor.

Here the layer Jacobians :math:`J_\ell` (:math:`d_\ell \times d_{\ell-1}`) are not given as
matrices: a layer is a function, reached only through tangents (JVPs, ``jax.jvp``) and adjoints
(VJPs, ``jax.vjp``). A *segment* ``i..j`` is the product :math:`J_{j..i} = J_j \cdots J_i`
(shape :math:`d_j \times d_{i-1}`).

**Cost model** (multiply-adds, MACs; exact Python ints). Assumption: one tangent or one adjoint
through a dense layer :math:`\ell` costs :math:`c_\ell = d_\ell d_{\ell-1}` MACs; element-wise work
(activations, their derivatives, biases) is not counted. Write :math:`S(i, j) = \sum_{\ell=i}^{j}
c_\ell`. Then

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

:func:`optimal_matrix_free_tree` finds the cheapest plan by dynamic programming over segments,
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
:func:`optimal_matrix_free_tree_within` picks batch sizes from the powers of two below :math:`w`.
With a memory budget, :func:`plan_matrix_free` returns the cheapest plan, batches included, whose
peak fits (a Pareto dynamic program on MACs and peak memory).

Example:
    The hourglass ``(1000, 1000, 10, 1000, 1000)`` is cheapest as the two small factors
    :math:`J_{4..3}` (10 tangents) and :math:`J_{2..1}` (10 adjoints), then one product:

    >>> p = plan_matrix_free((1000, 1000, 10, 1000, 1000))
    >>> p.formula
    'jvp(J4 J3) @ vjp(J2 J1)'
    >>> p.macs, p.forward_macs, round(p.speedup_vs_forward, 1)
    (30200000, 2020000000, 66.9)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal, TypeAlias

from .chain import Chain
from .cost import tree_macs, validate_widths
from .errors import JacobenchError
from .planners import PlanSummary, _element_of, _no_fit_error, lookup, optimal_tree
from .units import parse_bytes, resolve_dtype

__all__ = [
    "MATRIX_FREE_STRATEGIES",
    "MatrixFreeNode",
    "MatrixFreePlan",
    "all_matrix_free_trees",
    "format_matrix_free_tree",
    "get_matrix_free_strategy",
    "jacobian",
    "matrix_free_forward_macs",
    "matrix_free_macs",
    "matrix_free_memory",
    "matrix_free_reverse_macs",
    "min_matrix_free_peak",
    "optimal_matrix_free_tree",
    "optimal_matrix_free_tree_within",
    "plan_matrix_free",
]

Op: TypeAlias = Literal["tangents", "adjoints", "multiply", "push", "pull"]


@dataclass(frozen=True)
class MatrixFreeNode:
    """One node of a matrix-free plan: how the segment ``lo..hi`` (:math:`J_{hi..lo}`) is made.

    Attributes:
        op: ``"tangents"`` or ``"adjoints"`` (leaves: identity seeds through ``lo..hi``);
            ``"multiply"`` (children ``(left, right)``, spans ``k+1..hi`` and ``lo..k``);
            ``"push"`` (child spans ``lo..k``; its columns are pushed as tangents through
            ``k+1..hi``); ``"pull"`` (child spans ``k+1..hi``; its rows are pulled as adjoints
            back through ``lo..k``).
        lo: First (lowest) layer of the segment.
        hi: Last (highest) layer of the segment.
        children: The sub-plans, as described for ``op``.
        batch: ``None`` (the whole block at once) or, for every op but ``"multiply"``, how many
            tangents (columns) or adjoints (rows) of the block to run at a time, ``1 <= batch <
            block width``; the last batch is smaller when it does not divide the width. Same
            MACs, less memory (see the module docstring).

    Example:
        >>> seed = MatrixFreeNode("adjoints", 1, 2)
        >>> format_matrix_free_tree(MatrixFreeNode("push", 1, 4, (seed,)))
        'jvp(J4 J3, seed=vjp(J2 J1))'
        >>> format_matrix_free_tree(MatrixFreeNode("tangents", 1, 4, batch=64))
        'jvp(J4 J3 J2 J1, batch=64)'
    """

    op: Op
    lo: int
    hi: int
    children: tuple[MatrixFreeNode, ...] = ()
    batch: int | None = None

    @property
    def split(self) -> int:
        """``k`` for a split node (the segment is ``lo..k`` then ``k+1..hi``); 0 for a leaf."""
        if self.op in ("multiply", "pull"):
            return self.children[-1].hi if self.op == "multiply" else self.children[0].lo - 1
        if self.op == "push":
            return self.children[0].hi
        return 0


def _leaf(op: Op, lo: int, hi: int, batch: int | None = None) -> MatrixFreeNode:
    return MatrixFreeNode(op, lo, hi, batch=batch)


def _node(
    op: str, lo: int, hi: int, k: int, left: Any, right: Any, batch: int | None = None
) -> MatrixFreeNode:
    """Build a split node from the children it uses (``left``: ``k+1..hi``, ``right``: lo..k)."""
    if op == "multiply":
        return MatrixFreeNode("multiply", lo, hi, (left, right))
    if op == "push":
        return MatrixFreeNode("push", lo, hi, (right,), batch)
    return MatrixFreeNode("pull", lo, hi, (left,), batch)


def _block_width(d: tuple[int, ...], node: MatrixFreeNode) -> int:
    """Tangents (tangents, push) or adjoints (adjoints, pull) the node runs; 0 for multiply."""
    if node.op in ("tangents", "push"):
        return d[node.lo - 1]
    if node.op in ("adjoints", "pull"):
        return d[node.hi]
    return 0


def _batch_sizes(width: int) -> tuple[int | None, ...]:
    """Batch sizes the planners try for a block of ``width``: whole, then powers of two below."""
    return (None, *(1 << p for p in range(width.bit_length()) if 1 << p < width))


def _n_batches(width: int, batch: int | None) -> int:
    return 1 if batch is None else -(-width // batch)


# --- cost model -------------------------------------------------------------------------------


def matrix_free_forward_macs(widths: Sequence[int]) -> int:
    r"""Multiply-adds of forward mode (``jax.jacfwd``): :math:`d_0 \sum_{l=1}^{L} d_l d_{l-1}`.

    Example:
        >>> matrix_free_forward_macs((50, 5, 100, 10))  # 50 * (5*50 + 100*5 + 10*100)
        87500
    """
    d = validate_widths(widths)
    return d[0] * _layer_sum(d, 1, len(d) - 1)


def matrix_free_reverse_macs(widths: Sequence[int]) -> int:
    r"""Multiply-adds of reverse mode (``jax.jacrev``): :math:`d_L \sum_{l=1}^{L} d_l d_{l-1}`.

    Example:
        >>> matrix_free_reverse_macs((50, 5, 100, 10))  # 10 * (5*50 + 100*5 + 10*100)
        17500
    """
    d = validate_widths(widths)
    return d[-1] * _layer_sum(d, 1, len(d) - 1)


def _layer_sum(d: tuple[int, ...], lo: int, hi: int) -> int:
    return sum(d[k] * d[k - 1] for k in range(lo, hi + 1))


def _tangent_pass(pair: int, t: int, batch: int | None, out: int, seed: int) -> int:
    """Peak of ``t`` tangents through a segment whose widest layer pair is ``pair`` elements.

    ``out`` is the segment's output width and ``seed`` its input width when the seed block is a
    child's result (0 for the identity). Unbatched, the seed is the first block of the pass.
    """
    if batch is None:
        return (1 + t) * pair
    return (1 + batch) * pair + t * (out + seed)


def _adjoint_pass(acts: int, pair: int, a: int, batch: int | None, out: int, seed: int) -> int:
    """Peak of ``a`` adjoints back through a segment holding ``acts`` activation elements.

    ``out`` is the segment's input width (the adjoints' output) and ``seed`` its output width when
    the seed block is a child's result (0 for the identity).
    """
    if batch is None:
        return acts + a * pair
    return acts + batch * pair + a * (out + seed)


def _pair(d: tuple[int, ...], lo: int, hi: int) -> int:
    return max(d[k - 1] + d[k] for k in range(lo, hi + 1))


def _multiply_peak(peak_l: int, held_l: int, peak_r: int, held_r: int, out: int) -> int:
    both = held_l + held_r + out
    right_first = max(peak_r, held_r + peak_l, both)
    left_first = max(peak_l, held_l + peak_r, both)
    return min(right_first, left_first)


def _right_first(widths: tuple[int, ...], node: MatrixFreeNode) -> bool:
    """For a multiply node: whether the right (lower-layer) factor is evaluated first."""
    left, right = node.children
    _, peak_l = _cost(widths, left)
    _, peak_r = _cost(widths, right)
    held_l = widths[left.hi] * widths[left.lo - 1]
    held_r = widths[right.hi] * widths[right.lo - 1]
    both = held_l + held_r + widths[node.hi] * widths[node.lo - 1]
    return max(peak_r, held_r + peak_l, both) <= max(peak_l, held_l + peak_r, both)


@lru_cache(maxsize=4096)
def _cost(d: tuple[int, ...], node: MatrixFreeNode) -> tuple[int, int]:
    """(MACs, peak memory) of a trusted node, straight from the definitions (no DP tables)."""
    lo, hi, b = node.lo, node.hi, node.batch
    if node.op == "tangents":
        t = d[lo - 1]
        return t * _layer_sum(d, lo, hi), _tangent_pass(_pair(d, lo, hi), t, b, d[hi], 0)
    if node.op == "adjoints":
        a, acts = d[hi], sum(d[lo - 1 : hi + 1])
        return a * _layer_sum(d, lo, hi), _adjoint_pass(acts, _pair(d, lo, hi), a, b, d[lo - 1], 0)
    k = node.split
    if node.op == "multiply":
        left, right = node.children
        macs_l, peak_l = _cost(d, left)
        macs_r, peak_r = _cost(d, right)
        peak = _multiply_peak(peak_l, d[hi] * d[k], peak_r, d[k] * d[lo - 1], d[hi] * d[lo - 1])
        return macs_l + macs_r + d[hi] * d[k] * d[lo - 1], peak
    macs_c, peak_c = _cost(d, node.children[0])
    if node.op == "push":
        t = d[lo - 1]
        peak = _tangent_pass(_pair(d, k + 1, hi), t, b, d[hi], d[k])
        return macs_c + t * _layer_sum(d, k + 1, hi), max(peak_c, peak)
    a, acts = d[hi], sum(d[lo - 1 : k + 1])
    peak = _adjoint_pass(acts, _pair(d, lo, k), a, b, d[lo - 1], d[k])
    return macs_c + a * _layer_sum(d, lo, k), max(peak_c, peak)


def validate_matrix_free_tree(tree: object, n_layers: int) -> MatrixFreeNode:
    """Check that ``tree`` is a well-formed plan for the layers ``1..n_layers``.

    Raises:
        JacobenchError: If a node is not a :class:`MatrixFreeNode`, has an unknown op, or its
            children's spans do not fit its own.

    Example:
        >>> validate_matrix_free_tree(MatrixFreeNode("tangents", 1, 2), 2).op
        'tangents'
    """
    if not isinstance(tree, MatrixFreeNode):
        raise JacobenchError(
            f"plan tree {tree!r} is not a MatrixFreeNode, expected e.g. "
            f"MatrixFreeNode('tangents', 1, {n_layers})"
        )
    if (tree.lo, tree.hi) != (1, n_layers):
        raise JacobenchError(f"plan tree spans layers {tree.lo}..{tree.hi}, expected 1..{n_layers}")
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, MatrixFreeNode):
            raise JacobenchError(f"plan tree holds {node!r}, expected a MatrixFreeNode")
        _check_node(node)
        stack.extend(node.children)
    return tree


def _check_node(node: MatrixFreeNode) -> None:
    lo, hi, kids = node.lo, node.hi, node.children
    spans = tuple((c.lo, c.hi) if isinstance(c, MatrixFreeNode) else c for c in kids)
    arity = {"tangents": 0, "adjoints": 0, "multiply": 2, "push": 1, "pull": 1}
    if node.op not in arity:
        raise JacobenchError(
            f"plan node {node!r} has op {node.op!r}; valid options are {sorted(arity)}"
        )
    ok = len(kids) == arity[node.op] and 1 <= lo <= hi
    if ok and node.op == "multiply":
        ok = spans[1][0] == lo and spans[0][1] == hi and spans[0][0] == spans[1][1] + 1
    elif ok and node.op == "push":
        ok = spans[0][0] == lo and spans[0][1] < hi
    elif ok and node.op == "pull":
        ok = spans[0][1] == hi and spans[0][0] > lo
    if not ok:
        raise JacobenchError(
            f"plan node {node.op} over layers {lo}..{hi} has children spanning {list(spans)}; "
            "expected none for tangents/adjoints, (k+1..hi, lo..k) for multiply, (lo..k,) "
            "for push and (k+1..hi,) for pull, with lo <= k < hi"
        )
    b = node.batch
    if b is None:
        return
    if node.op == "multiply":
        raise JacobenchError(
            f"plan node multiply over layers {lo}..{hi} has batch {b!r}; expected None "
            "(only tangents, adjoints, push and pull run in batches)"
        )
    if isinstance(b, bool) or not isinstance(b, int) or b < 1:
        raise JacobenchError(
            f"plan node {node.op} over layers {lo}..{hi} has batch {b!r}; expected None or a "
            "positive int"
        )


def _validate(d: tuple[int, ...], tree: object) -> MatrixFreeNode:
    """:func:`validate_matrix_free_tree`, then each batch below its node's block width."""
    checked = validate_matrix_free_tree(tree, len(d) - 1)
    stack = [checked]
    while stack:
        node = stack.pop()
        width = _block_width(d, node)
        if node.batch is not None and node.batch >= width:
            raise JacobenchError(
                f"plan node {node.op} over layers {node.lo}..{node.hi} has batch {node.batch}; "
                f"expected None or an int with 1 <= batch < {width} (its block width for "
                f"widths {d})"
            )
        stack.extend(node.children)
    return checked


def matrix_free_macs(widths: Sequence[int], tree: MatrixFreeNode) -> int:
    """Multiply-adds of the plan ``tree`` on the chain ``widths``.

    Example:
        >>> t = MatrixFreeNode("adjoints", 1, 2)
        >>> matrix_free_macs((3, 4, 2), t)  # 2 adjoints through 4*3 + 2*4 MACs of layers
        40
    """
    d = validate_widths(widths)
    return _cost(d, _validate(d, tree))[0]


def matrix_free_memory(widths: Sequence[int], tree: MatrixFreeNode) -> int:
    """Peak elements held while the plan ``tree`` runs (weights and ``x`` excluded).

    Example:
        Reverse on ``(3, 4, 2)`` holds the activations ``3 + 4 + 2`` plus two adjoint blocks of
        at most ``2 * (4 + 3)`` elements:

        >>> matrix_free_memory((3, 4, 2), MatrixFreeNode("adjoints", 1, 2))
        23
    """
    d = validate_widths(widths)
    return _cost(d, _validate(d, tree))[1]


def format_matrix_free_tree(tree: MatrixFreeNode) -> str:
    """Write a plan as a formula: ``jvp(...)``, ``vjp(...)``, ``A @ B``, ``seed=`` for push/pull.

    ``jvp(J4 J3)`` means :math:`J_4 J_3` accumulated by tangents (identity seed),
    ``jvp(J4 J3, seed=B)`` the columns of ``B`` pushed through :math:`J_4 J_3`, and
    ``vjp(J2 J1, seed=A)`` the rows of ``A`` pulled back through :math:`J_2 J_1`; ``batch=b``
    means ``b`` tangents or adjoints at a time.

    Example:
        >>> left = MatrixFreeNode("tangents", 3, 4)
        >>> format_matrix_free_tree(MatrixFreeNode("pull", 1, 4, (left,)))
        'vjp(J2 J1, seed=jvp(J4 J3))'
    """

    def layers(lo: int, hi: int) -> str:
        return " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

    def fmt(node: MatrixFreeNode, top: bool) -> str:
        batch = "" if node.batch is None else f", batch={node.batch}"
        if node.op == "tangents":
            return f"jvp({layers(node.lo, node.hi)}{batch})"
        if node.op == "adjoints":
            return f"vjp({layers(node.lo, node.hi)}{batch})"
        k = node.split
        if node.op == "push":
            return f"jvp({layers(k + 1, node.hi)}, seed={fmt(node.children[0], True)}{batch})"
        if node.op == "pull":
            return f"vjp({layers(node.lo, k)}, seed={fmt(node.children[0], True)}{batch})"
        text = f"{fmt(node.children[0], False)} @ {fmt(node.children[1], False)}"
        return text if top else f"({text})"

    return fmt(tree, True)


# --- planners ---------------------------------------------------------------------------------


def all_matrix_free_trees(n_layers: int) -> Iterator[MatrixFreeNode]:
    """Yield every plan of the grammar for ``n_layers`` layers (for brute-force checks).

    The count grows fast (2, 10, 66, 522, ... for L = 1, 2, 3, 4); keep L small.

    Example:
        >>> [format_matrix_free_tree(t) for t in all_matrix_free_trees(1)]
        ['jvp(J1)', 'vjp(J1)']
    """
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise JacobenchError(f"number of layers must be a positive integer, got {n_layers!r}")
    return _all_trees(1, n_layers)


def _all_trees(lo: int, hi: int) -> Iterator[MatrixFreeNode]:
    yield _leaf("tangents", lo, hi)
    yield _leaf("adjoints", lo, hi)
    for k in range(lo, hi):
        rights = list(_all_trees(lo, k))
        lefts = list(_all_trees(k + 1, hi))
        for left in lefts:
            for right in rights:
                yield MatrixFreeNode("multiply", lo, hi, (left, right))
        for right in rights:
            yield MatrixFreeNode("push", lo, hi, (right,))
        for left in lefts:
            yield MatrixFreeNode("pull", lo, hi, (left,))


def optimal_matrix_free_tree(widths: Sequence[int]) -> MatrixFreeNode:
    """The cheapest matrix-free plan, by dynamic programming over segments, O(L^3).

    For each segment ``i..j`` (shortest first) it takes the cheapest of tangents, adjoints and,
    for every split ``k``, multiply / push / pull using the best plans of the two halves. Exact
    Python ints throughout. Ties on MACs go to the simpler plan (fewer nodes: ``jvp(J2 J1)``
    rather than the equally costly ``jvp(J2, seed=jvp(J1))``), then to the lower peak memory,
    then to the first candidate in the order tangents, adjoints, then by ``k`` upwards:
    multiply, push, pull.

    Args:
        widths: ``(d_0, ..., d_L)``.

    Returns:
        A plan with the fewest multiply-adds.

    Example:
        >>> format_matrix_free_tree(optimal_matrix_free_tree((8, 8, 1, 8, 8)))
        'jvp(J4 J3) @ vjp(J2 J1)'
        >>> format_matrix_free_tree(optimal_matrix_free_tree((2, 8, 8, 8)))
        'jvp(J3 J2 J1)'
    """
    d = validate_widths(widths)
    return _optimal(d)


@lru_cache(maxsize=256)
def _optimal(d: tuple[int, ...]) -> MatrixFreeNode:
    n = len(d) - 1
    prefix = [0] * (n + 1)  # prefix[l] = S(1, l)
    for k in range(1, n + 1):
        prefix[k] = prefix[k - 1] + d[k] * d[k - 1]
    acts = [0] * (n + 2)  # acts[l] = d_0 + ... + d_{l-1}
    for k in range(n + 1):
        acts[k + 1] = acts[k] + d[k]
    # pair[i][j] = max_{l=i..j} (d_{l-1} + d_l)
    pair = [[0] * (n + 1) for _ in range(n + 2)]
    for i in range(1, n + 1):
        m = 0
        for j in range(i, n + 1):
            m = max(m, d[j - 1] + d[j])
            pair[i][j] = m
    # best[i][j] = (macs, nodes, peak, op, k); candidates compare on (macs, nodes, peak)
    best: list[list[tuple[int, int, int, str, int]]] = [
        [(0, 0, 0, "", 0)] * (n + 1) for _ in range(n + 2)
    ]
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj = d[i - 1], d[j]
            s = prefix[j] - prefix[i - 1]
            out = dj * di
            choice = (di * s, 1, (1 + di) * pair[i][j], "tangents", 0)
            cand = (dj * s, 1, acts[j + 1] - acts[i - 1] + dj * pair[i][j], "adjoints", 0)
            if cand[:3] < choice[:3]:
                choice = cand
            for k in range(i, j):
                macs_l, nodes_l, peak_l, _, _ = best[k + 1][j]
                macs_r, nodes_r, peak_r, _, _ = best[i][k]
                dk = d[k]
                cand = (
                    macs_l + macs_r + dj * dk * di,
                    nodes_l + nodes_r + 1,
                    _multiply_peak(peak_l, dj * dk, peak_r, dk * di, out),
                    "multiply",
                    k,
                )
                if cand[:3] < choice[:3]:
                    choice = cand
                cand = (
                    macs_r + di * (prefix[j] - prefix[k]),
                    nodes_r + 1,
                    max(peak_r, (1 + di) * pair[k + 1][j]),
                    "push",
                    k,
                )
                if cand[:3] < choice[:3]:
                    choice = cand
                cand = (
                    macs_l + dj * (prefix[k] - prefix[i - 1]),
                    nodes_l + 1,
                    max(peak_l, acts[k + 1] - acts[i - 1] + dj * pair[i][k]),
                    "pull",
                    k,
                )
                if cand[:3] < choice[:3]:
                    choice = cand
            best[i][j] = choice

    def build(i: int, j: int) -> MatrixFreeNode:
        _, _, _, op, k = best[i][j]
        if op in ("tangents", "adjoints"):
            return _leaf(op, i, j)  # type: ignore[arg-type]
        left = build(k + 1, j) if op != "push" else None
        right = build(i, k) if op != "pull" else None
        return _node(op, i, j, k, left, right)

    return build(1, n)


def _tables(d: tuple[int, ...]) -> tuple[list[int], list[int], list[list[int]]]:
    """``prefix[l] = S(1, l)``, ``acts[l] = d_0 + ... + d_{l-1}``, ``pair[i][j]``: widest pair."""
    n = len(d) - 1
    prefix = [0] * (n + 1)
    for k in range(1, n + 1):
        prefix[k] = prefix[k - 1] + d[k] * d[k - 1]
    acts = [0] * (n + 2)
    for k in range(n + 1):
        acts[k + 1] = acts[k] + d[k]
    pair = [[0] * (n + 1) for _ in range(n + 2)]
    for i in range(1, n + 1):
        m = 0
        for j in range(i, n + 1):
            m = max(m, d[j - 1] + d[j])
            pair[i][j] = m
    return prefix, acts, pair


def min_matrix_free_peak(widths: Sequence[int]) -> int:
    """The least peak memory (elements) of any matrix-free plan of ``widths``, batches included.

    Every node's peak is monotone in its children's peaks, so the least peak of each segment is
    found by a dynamic program over segments, like :func:`jacobench.planners.min_peak_memory`.

    Example:
        Forward on ``(4, 4, 4)`` holds ``(1 + 4) * 8 = 40`` elements; one tangent at a time, it
        holds ``(1 + 1) * 8`` plus the ``4 x 4`` result, 32:

        >>> plan_matrix_free((4, 4, 4), "forward").peak_memory, min_matrix_free_peak((4, 4, 4))
        (40, 32)
    """
    return _min_peak(validate_widths(widths))


@lru_cache(maxsize=256)
def _min_peak(d: tuple[int, ...]) -> int:
    n = len(d) - 1
    _, acts, pair = _tables(d)
    best: dict[tuple[int, int], int] = {}
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj = d[i - 1], d[j]
            act = acts[j + 1] - acts[i - 1]
            peak = min(_tangent_pass(pair[i][j], di, b, dj, 0) for b in _batch_sizes(di))
            for b in _batch_sizes(dj):
                peak = min(peak, _adjoint_pass(act, pair[i][j], dj, b, di, 0))
            for k in range(i, j):
                dk, peak_l, peak_r = d[k], best[k + 1, j], best[i, k]
                peak = min(peak, _multiply_peak(peak_l, dj * dk, peak_r, dk * di, dj * di))
                push = min(_tangent_pass(pair[k + 1][j], di, b, dj, dk) for b in _batch_sizes(di))
                pull = min(
                    _adjoint_pass(acts[k + 1] - acts[i - 1], pair[i][k], dj, b, di, dk)
                    for b in _batch_sizes(dj)
                )
                peak = min(peak, max(peak_r, push), max(peak_l, pull))
            best[i, j] = peak
    return best[1, n]


def optimal_matrix_free_tree_within(widths: Sequence[int], max_peak: int) -> MatrixFreeNode:
    """The cheapest matrix-free plan, batches included, whose peak memory is at most ``max_peak``.

    A dynamic program over segments that keeps, for each segment, the Pareto front of
    (MACs, peak memory) over its plans, dropping every point over ``max_peak``. A node's MACs add
    its children's; its peak (the formulas of the module docstring) is monotone in each child's
    peak, and a child's result size is fixed by its span; so a child plan beaten on both counts
    never helps, and the front is exact. Each tangent or adjoint block may run whole or in batches
    of a power of two below its width. Among equally cheap plans the one with the fewest steps wins
    (a node counts one step, a batched node one per batch: fewer, larger batches), then the one
    with the lower peak.

    Args:
        widths: ``(d_0, ..., d_L)``.
        max_peak: The budget, in elements (see the module docstring for what is counted).

    Returns:
        A plan with ``matrix_free_memory <= max_peak`` and the fewest MACs among those.

    Raises:
        JacobenchError: If no plan fits; the message gives the least peak that does.

    Example:
        Forward on ``(4, 4, 4)`` (128 MACs) peaks at ``(1 + 4) * 8 = 40`` elements; two tangents
        at a time it holds ``(1 + 2) * 8`` plus the ``4 x 4`` result, 40 again; one at a time,
        32. Reverse one adjoint at a time costs the same and holds 36, so within 36:

        >>> format_matrix_free_tree(optimal_matrix_free_tree_within((4, 4, 4), 36))
        'jvp(J2 J1, batch=1)'
    """
    d = validate_widths(widths)
    if isinstance(max_peak, bool) or not isinstance(max_peak, int) or max_peak < 0:
        raise JacobenchError(f"max_peak must be a non-negative int (elements), got {max_peak!r}")
    tree = _optimal_within(d, max_peak)
    if tree is None:
        raise JacobenchError(
            f"no matrix-free plan of widths {d} fits in {max_peak:,} elements; the least peak "
            f"memory any plan reaches is {_min_peak(d):,} elements"
        )
    return tree


# A point of a Pareto front: (macs, steps, peak, how); how = (op, k, batch, left, right), where
# left and right are the children's points (None where the op has no such child).
_Point: TypeAlias = tuple[int, int, int, tuple[Any, ...]]


@lru_cache(maxsize=256)
def _optimal_within(d: tuple[int, ...], max_peak: int) -> MatrixFreeNode | None:
    """:func:`optimal_matrix_free_tree_within` on trusted inputs; None when nothing fits."""
    n = len(d) - 1
    prefix, acts, pair = _tables(d)
    fronts: dict[tuple[int, int], list[_Point]] = {}
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj = d[i - 1], d[j]
            s = prefix[j] - prefix[i - 1]
            cands: list[_Point] = []
            for b in _batch_sizes(di):
                peak = _tangent_pass(pair[i][j], di, b, dj, 0)
                cands.append((di * s, _n_batches(di, b), peak, ("tangents", 0, b, None, None)))
            for b in _batch_sizes(dj):
                peak = _adjoint_pass(acts[j + 1] - acts[i - 1], pair[i][j], dj, b, di, 0)
                cands.append((dj * s, _n_batches(dj, b), peak, ("adjoints", 0, b, None, None)))
            for k in range(i, j):
                lefts, rights, dk = fronts[k + 1, j], fronts[i, k], d[k]
                if dj * dk + dk * di + dj * di <= max_peak:
                    mult = dj * dk * di
                    for left in lefts:
                        for right in rights:
                            peak = _multiply_peak(left[2], dj * dk, right[2], dk * di, dj * di)
                            steps = left[1] + right[1] + 1
                            how: tuple[Any, ...] = ("multiply", k, None, left, right)
                            cands.append((left[0] + right[0] + mult, steps, peak, how))
                macs = di * (prefix[j] - prefix[k])
                for b in _batch_sizes(di):
                    peak = _tangent_pass(pair[k + 1][j], di, b, dj, dk)
                    for right in rights if peak <= max_peak else ():
                        steps = right[1] + _n_batches(di, b)
                        how = ("push", k, b, None, right)
                        cands.append((right[0] + macs, steps, max(right[2], peak), how))
                macs = dj * (prefix[k] - prefix[i - 1])
                for b in _batch_sizes(dj):
                    peak = _adjoint_pass(acts[k + 1] - acts[i - 1], pair[i][k], dj, b, di, dk)
                    for left in lefts if peak <= max_peak else ():
                        steps = left[1] + _n_batches(dj, b)
                        how = ("pull", k, b, left, None)
                        cands.append((left[0] + macs, steps, max(left[2], peak), how))
            cands = [p for p in cands if p[2] <= max_peak]
            cands.sort(key=lambda p: (p[0], p[1], p[2]))
            front: list[_Point] = []
            for point in cands:  # cheapest first: keep each one that lowers the peak
                if not front or point[2] < front[-1][2]:
                    front.append(point)
            fronts[i, j] = front

    def build(point: _Point, i: int, j: int) -> MatrixFreeNode:
        op, k, b, left, right = point[3]
        if op in ("tangents", "adjoints"):
            return _leaf(op, i, j, b)
        tree_l = build(left, k + 1, j) if left is not None else None
        tree_r = build(right, i, k) if right is not None else None
        return _node(op, i, j, k, tree_l, tree_r, b)

    root = fronts[1, n]
    return build(root[0], 1, n) if root else None


def _forward(widths: tuple[int, ...]) -> MatrixFreeNode:
    return _leaf("tangents", 1, len(widths) - 1)


def _reverse(widths: tuple[int, ...]) -> MatrixFreeNode:
    return _leaf("adjoints", 1, len(widths) - 1)


def _explicit(widths: tuple[int, ...]) -> MatrixFreeNode:
    """Each J_l by min(d_{l-1}, d_l) tangents or adjoints, then the explicit optimal bracketing."""

    def build(tree: Any) -> MatrixFreeNode:
        if not isinstance(tree, tuple):
            op: Op = "tangents" if widths[tree - 1] <= widths[tree] else "adjoints"
            return _leaf(op, tree, tree)
        left, right = build(tree[0]), build(tree[1])
        return MatrixFreeNode("multiply", right.lo, left.hi, (left, right))

    return build(optimal_tree(widths))


Planner = Callable[[tuple[int, ...]], MatrixFreeNode]

MATRIX_FREE_STRATEGIES: dict[str, Planner] = {
    "forward": _forward,
    "reverse": _reverse,
    "optimal": optimal_matrix_free_tree,
    "explicit": _explicit,
    "jacfwd": _forward,
    "jacrev": _reverse,
}
"""Every registered matrix-free strategy, by lower-case name.

``jacfwd`` and ``jacrev`` run JAX's own ``jax.jacfwd`` / ``jax.jacrev``; their model cost and memory
are forward's and reverse's. ``explicit`` materialises each layer Jacobian by the cheaper of
tangents and adjoints, then multiplies them in the explicit optimal bracketing
(:func:`jacobench.optimal_tree`).
"""

_JAX_BASELINES = ("jacfwd", "jacrev")


def get_matrix_free_strategy(name: str) -> Planner:
    """Look up a registered matrix-free strategy by name, case-insensitively.

    Raises:
        JacobenchError: For an unknown name; the message lists the valid options.

    Example:
        >>> get_matrix_free_strategy("JacFwd") is MATRIX_FREE_STRATEGIES["jacfwd"]
        True
    """
    return lookup(MATRIX_FREE_STRATEGIES, name)


@dataclass(frozen=True)
class MatrixFreePlan(PlanSummary):
    """How to build the Jacobian of a chain from tangents and adjoints, and what it costs.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        strategy: The registered name that produced the plan, or ``"custom"`` for a given tree.
        tree: The plan (a :class:`MatrixFreeNode`).
        macs: Multiply-adds of the plan (exact).
        peak_memory: Peak elements held while it runs (see the module docstring).
        forward_macs: :func:`matrix_free_forward_macs` of the widths.
        reverse_macs: :func:`matrix_free_reverse_macs` of the widths.
        memory_budget: The memory budget the plan was asked to fit, in elements (the budget in
            bytes over the dtype's itemsize, rounded down); ``None`` when none was given.
    """

    widths: tuple[int, ...]
    strategy: str
    tree: MatrixFreeNode
    macs: int
    peak_memory: int
    forward_macs: int
    reverse_macs: int
    memory_budget: int | None = None
    _FORMULA_LABEL = "Formula"

    @property
    def formula(self) -> str:
        """The plan as a formula, e.g. ``jvp(J4 J3) @ vjp(J2 J1)``."""
        return format_matrix_free_tree(self.tree)


def plan_matrix_free(
    widths: Sequence[int],
    strategy: str | MatrixFreeNode = "optimal",
    *,
    memory_budget: int | str | None = None,
    dtype: object = "float32",
) -> MatrixFreePlan:
    """Plan the matrix-free Jacobian of a chain with widths ``widths``.

    Args:
        widths: ``(d_0, ..., d_L)``, positive integers, ``L >= 1``.
        strategy: A name in :data:`MATRIX_FREE_STRATEGIES` (any case) or a plan tree.
        memory_budget: ``None`` (no limit), or the most bytes the plan may hold at once (weights
            and ``x`` excluded): an ``int`` or a string such as ``"2GiB"`` (see
            :func:`jacobench.units.parse_bytes`). ``"optimal"`` then gives the cheapest plan that
            fits, running tangent or adjoint blocks in batches where that is what fits
            (:func:`optimal_matrix_free_tree_within`); any other strategy must fit as it is.
        dtype: The element type that turns the budget into elements (default ``"float32"``).

    Returns:
        A frozen :class:`MatrixFreePlan`; plans are cached, the same request returns the same
        object.

    Raises:
        JacobenchError: For bad widths, an unknown strategy, a malformed tree, a malformed budget
            or dtype, or a plan that does not fit the budget (the message gives the smallest
            budget that would fit).

    Example:
        >>> print(plan_matrix_free((6, 6, 1, 6, 6)))
        Widths:                 6-6-1-6-6
        Strategy:               optimal
        Formula:                jvp(J4 J3) @ vjp(J2 J1)
        Multiply-adds:          120
        Forward multiply-adds:  504
        Reverse multiply-adds:  504
        Speedup vs forward:     4.2x
        Speedup vs reverse:     4.2x
        Peak memory (elements): 48

        Forward on ``(256, 256, 256)`` peaks at ``(1 + 256) * 512`` float32 elements, 514 KiB;
        within 300 KiB the cheapest plan pushes the same tangents 16 at a time, holding
        ``(1 + 16) * 512`` plus the ``256 x 256`` result:

        >>> p = plan_matrix_free((256, 256, 256), memory_budget="300KiB")
        >>> p.formula, p.macs == p.forward_macs, p.peak_memory, p.memory_budget
        ('jvp(J2 J1, batch=16)', True, 74240, 76800)
        >>> plan_matrix_free((256, 256, 256), memory_budget="200KiB")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: no matrix-free plan fits widths (256, 256, 256) in the \
memory budget of 204,800 bytes (200 KiB) with float32 elements; the smallest budget that fits is \
266,240 bytes (260 KiB)
    """
    d = validate_widths(widths)
    element = _element_of(dtype)
    if isinstance(strategy, str):
        get_matrix_free_strategy(strategy)
        base = _plan_named(d, strategy.lower())
    else:
        base = _plan_tree(d, _validate(d, strategy), "custom")
    if memory_budget is None:
        return base
    return _fit(base, memory_budget, element, replan=True)


def _fit(
    base: MatrixFreePlan, memory_budget: int | str, element: Any, *, replan: bool
) -> MatrixFreePlan:
    """``base`` within the budget; with ``replan``, an "optimal" base becomes the cheapest fit."""
    budget_bytes = parse_bytes(memory_budget)
    found = _plan_within(base, budget_bytes // element.itemsize, replan)
    if found is not None:
        return found
    if replan and base.strategy == "optimal":
        what, need = "no matrix-free plan fits", _min_peak(base.widths) * element.itemsize
    else:
        what, need = f"strategy {base.strategy!r} does not fit", base.memory_bytes(element)
    raise _no_fit_error(what, base.widths, budget_bytes, element, need)


@lru_cache(maxsize=512)
def _plan_within(base: MatrixFreePlan, budget: int, replan: bool) -> MatrixFreePlan | None:
    """``base`` within ``budget`` elements, or (``replan``, "optimal") the cheapest fit; or None."""
    if base.peak_memory <= budget:
        return replace(base, memory_budget=budget)
    if not replan or base.strategy != "optimal":
        return None
    tree = _optimal_within(base.widths, budget)
    if tree is None:
        return None
    return replace(_plan_tree(base.widths, tree, "optimal"), memory_budget=budget)


@lru_cache(maxsize=512)
def _plan_named(widths: tuple[int, ...], name: str) -> MatrixFreePlan:
    return _plan_tree(widths, MATRIX_FREE_STRATEGIES[name](widths), name)


@lru_cache(maxsize=512)
def _plan_tree(widths: tuple[int, ...], tree: MatrixFreeNode, name: str) -> MatrixFreePlan:
    macs, peak = _cost(widths, tree)
    return MatrixFreePlan(
        widths=widths,
        strategy=name,
        tree=tree,
        macs=macs,
        peak_memory=peak,
        forward_macs=matrix_free_forward_macs(widths),
        reverse_macs=matrix_free_reverse_macs(widths),
    )


def explicit_layer_macs(widths: Sequence[int]) -> int:
    """MACs of the ``explicit`` strategy: each layer by min(d_{l-1}, d_l) passes, then the product.

    Example:
        >>> explicit_layer_macs((50, 5, 100, 10))  # 5*250 + 5*500 + 10*1000 + 7,500
        21250
    """
    d = validate_widths(widths)
    layers = sum(min(d[k - 1], d[k]) * d[k] * d[k - 1] for k in range(1, len(d)))
    return layers + tree_macs(d, optimal_tree(d))


# --- executor ---------------------------------------------------------------------------------


def jacobian(
    chain: Chain | Callable[..., Any],
    x: Any,
    strategy: str | MatrixFreePlan = "optimal",
    *,
    memory_budget: int | str | None = None,
) -> Any:
    """The ``(d_L, d_0)`` Jacobian of ``chain`` at ``x``, built by a matrix-free plan.

    Only JVPs and VJPs of the layers are used (``jax.jvp`` / ``jax.vjp``, vmapped over the seed
    columns or rows); the activations ``x_0 .. x_L`` are computed once, as far as the plan needs
    them. Works eagerly, inside ``jax.jit`` (the plan is made once, at trace time, from the
    chain's static widths, and cached) and under ``jax.vmap`` over ``x``.

    Any other JAX-traceable function ``f`` is taken too: its chain is discovered, planned and run
    on the flattened input, and the result has the structure of ``jax.jacfwd(f)(x)`` (see
    :func:`jacobench.functions.function_jacobian`).

    Args:
        chain: The :class:`~jacobench.chain.Chain`, or any JAX-traceable function ``f``.
        x: A ``(d_0,)`` vector of a floating dtype (for ``f``: an array or a pytree of them).
        strategy: A name in :data:`MATRIX_FREE_STRATEGIES` (any case): ``"optimal"`` (default),
            ``"forward"``, ``"reverse"``, ``"explicit"``, or JAX's own ``"jacfwd"`` /
            ``"jacrev"``; or a :class:`MatrixFreePlan` for the chain's widths.
        memory_budget: ``None``, or the most bytes the plan may hold at once, as in
            :func:`plan_matrix_free` (elements of ``x``'s dtype): ``"optimal"`` becomes the
            cheapest plan that fits (tangents or adjoints in batches where needed); any other
            strategy, or a given plan, must fit.

    Returns:
        The Jacobian as a JAX array of the chain's output dtype.

    Raises:
        JacobenchError: For an unknown strategy, a plan for other widths, ``x`` of the wrong
            rank, size or dtype, a chain whose layers do not produce its stated widths, or a
            plan that does not fit the budget.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jacobench.chain import mlp
        >>> net = mlp((4, 4, 1, 4, 4), seed=0)
        >>> x = jnp.linspace(-1.0, 1.0, 4)
        >>> J = jacobian(net, x)                      # jvp(J4 J3) @ vjp(J2 J1)
        >>> J.shape, bool(jnp.allclose(J, jax.jacfwd(net)(x), atol=1e-6))
        ((4, 4), True)


        Within 1,800 bytes (450 float32 elements) a ``(16, 16, 16)`` chain's 16 tangents (peak
        ``17 * 32 = 544``) run 4 at a time (``5 * 32 + 16 * 16 = 416``):

        >>> net = mlp((16, 16, 16), seed=0)
        >>> x = jnp.linspace(-1.0, 1.0, 16, dtype=jnp.float32)
        >>> plan_matrix_free(net.widths, memory_budget=1800).formula
        'jvp(J2 J1, batch=4)'
        >>> J = jacobian(net, x, memory_budget=1800)
        >>> bool(jnp.allclose(J, jax.jacfwd(net)(x), atol=1e-6))
        True
    """
    import jax
    import jax.numpy as jnp

    if not isinstance(chain, Chain) and callable(chain):
        from .functions import function_jacobian

        return function_jacobian(chain, x, strategy, memory_budget=memory_budget)
    if not isinstance(chain, Chain):
        raise JacobenchError(
            f"chain is {type(chain).__name__}, expected a jacobench.Chain or a JAX-traceable "
            "function"
        )
    if isinstance(strategy, MatrixFreePlan):
        chosen = strategy
        if chosen.widths != chain.widths:
            raise JacobenchError(
                f"plan is for widths {chosen.widths}, expected the chain's widths {chain.widths}"
            )
    else:
        chosen = plan_matrix_free(chain.widths, strategy)
    x = jnp.asarray(x)
    d0 = chain.widths[0]
    if x.ndim != 1:
        raise JacobenchError(
            f"x has shape {tuple(x.shape)} (rank {x.ndim}), expected a vector of shape ({d0},); "
            "use jax.vmap for a batch of inputs"
        )
    if x.shape[0] != d0:
        raise JacobenchError(
            f"x has shape {tuple(x.shape)}, expected ({d0},) from the chain's widths {chain.widths}"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise JacobenchError(
            f"x has dtype {x.dtype}, expected a floating dtype (Jacobians need real inputs); "
            "convert it, e.g. x.astype(jnp.float32)"
        )
    chain.check_shapes(x.dtype)
    if memory_budget is not None:
        replan = not isinstance(strategy, MatrixFreePlan)
        chosen = _fit(chosen, memory_budget, resolve_dtype(x.dtype), replan=replan)
    if chosen.strategy in _JAX_BASELINES:
        mode = jax.jacfwd if chosen.strategy == "jacfwd" else jax.jacrev
        return mode(chain)(x)
    return _Runner(chain, x).run(chosen.tree)


class _Runner:
    """Evaluates a trusted plan tree on a chain at one point, holding activations once."""

    def __init__(self, chain: Chain, x: Any) -> None:
        self.chain = chain
        self.d = chain.widths
        self.acts: dict[int, Any] = {0: x}

    def act(self, index: int) -> Any:
        """The activation ``x_index``, computed from the highest one known below it."""
        known = max(k for k in self.acts if k <= index)
        h = self.acts[known]
        for k in range(known + 1, index + 1):
            h = self.chain.layers[k - 1](h)
            self.acts[k] = h
        return h

    def segment(self, lo: int, hi: int) -> Callable[[Any], Any]:
        layers = self.chain.layers[lo - 1 : hi]

        def f(h: Any) -> Any:
            for layer in layers:
                h = layer(h)
            return h

        return f

    def tangents(self, lo: int, hi: int, seed: Any | None, batch: int | None = None) -> Any:
        """Push the columns of ``seed`` (identity: None) through ``lo..hi``, ``batch`` at a time."""
        import jax
        import jax.numpy as jnp

        x0 = self.act(lo - 1)
        f = self.segment(lo, hi)
        seed = None if seed is None else seed.astype(x0.dtype)
        t = self.d[lo - 1] if seed is None else seed.shape[1]  # how many tangents

        def push(v: Any) -> Any:
            return jax.jvp(f, (x0,), (v,))[1]

        def block(start: Any, size: int) -> Any:  # columns start .. start + size - 1
            if batch is None:
                cols = jnp.eye(t, dtype=x0.dtype) if seed is None else seed
            elif seed is None:
                cols = (jnp.arange(t)[:, None] == start + jnp.arange(size)).astype(x0.dtype)
            else:
                cols = jax.lax.dynamic_slice_in_dim(seed, start, size, axis=1)
            return jax.vmap(push, in_axes=1, out_axes=1)(cols)

        return block(0, t) if batch is None else _in_batches(block, t, batch, axis=1)

    def adjoints(self, lo: int, hi: int, seed: Any | None, batch: int | None = None) -> Any:
        """Pull the rows of ``seed`` (identity: None) back through ``lo..hi``, ``batch`` a time."""
        import jax
        import jax.numpy as jnp

        out, pullback = jax.vjp(self.segment(lo, hi), self.act(lo - 1))
        seed = None if seed is None else seed.astype(out.dtype)
        a = self.d[hi] if seed is None else seed.shape[0]  # how many adjoints

        def block(start: Any, size: int) -> Any:  # rows start .. start + size - 1
            if batch is None:
                rows = jnp.eye(a, dtype=out.dtype) if seed is None else seed
            elif seed is None:
                rows = (start + jnp.arange(size)[:, None] == jnp.arange(a)).astype(out.dtype)
            else:
                rows = jax.lax.dynamic_slice_in_dim(seed, start, size, axis=0)
            return jax.vmap(lambda w: pullback(w)[0])(rows)

        return block(0, a) if batch is None else _in_batches(block, a, batch, axis=0)

    def run(self, node: MatrixFreeNode) -> Any:
        if node.op == "tangents":
            return self.tangents(node.lo, node.hi, None, node.batch)
        if node.op == "adjoints":
            return self.adjoints(node.lo, node.hi, None, node.batch)
        k = node.split
        if node.op == "push":
            return self.tangents(k + 1, node.hi, self.run(node.children[0]), node.batch)
        if node.op == "pull":
            return self.adjoints(node.lo, k, self.run(node.children[0]), node.batch)
        left, right = node.children
        if _right_first(self.d, node):
            b = self.run(right)
            a = self.run(left)
        else:
            a = self.run(left)
            b = self.run(right)
        return a @ b


def _in_batches(block: Callable[[Any, int], Any], width: int, batch: int, axis: int) -> Any:
    """Build a result ``batch`` columns (``axis=1``) or rows (``axis=0``) at a time, in place.

    ``block(start, size)`` makes columns or rows ``start .. start + size - 1`` of the ``width``.
    A ``jax.lax.fori_loop`` (not a vmap, whose batches XLA may run side by side) keeps one batch's
    working memory alive at a time and writes each batch into the result with
    ``dynamic_update_slice`` (no stacking, no transpose); the last, smaller batch runs after it.
    """
    import jax
    import jax.numpy as jnp

    spec = jax.eval_shape(lambda: block(0, batch))
    shape = (spec.shape[0], width) if axis == 1 else (width, spec.shape[1])

    def write(out: Any, start: Any, size: int) -> Any:
        index = (0, start) if axis == 1 else (start, 0)
        return jax.lax.dynamic_update_slice(out, block(start, size), index)

    full = width // batch
    out = jax.lax.fori_loop(
        0, full, lambda i, out: write(out, i * batch, batch), jnp.zeros(shape, spec.dtype)
    )
    if full * batch < width:
        out = write(out, full * batch, width - full * batch)
    return out
