r"""The exact cost model of an explicit Jacobian chain product: MACs, memory, schedule, format.

A chain :math:`f = f_L \circ \dots \circ f_1` with widths :math:`d_0, \dots, d_L` has the Jacobian

.. math:: J = J_L J_{L-1} \cdots J_1, \qquad J_\ell \in \mathbb{R}^{d_\ell \times d_{\ell-1}}.

Everything here is a pure function of ``widths`` (a tuple of positive ints ``(d_0, ..., d_L)``,
``L >= 1``) and, where needed, a *bracketing*: no arrays, no clocks, no globals. Cost is counted in
multiply-adds (MACs): one ``(m x k) @ (k x n)`` product costs ``m * k * n``.

Bracketings are binary trees whose leaves are the layer indices ``1..L`` in product order (the
highest layer on the left): ``((4, 3), (2, 1))`` is :math:`(J_4 J_3)(J_2 J_1)`. A single layer is
the leaf ``1``.

The two classic modes are defined once, here:

* **forward** mode starts at :math:`J_1` and pushes the running product right to left,
  ``(L, (L-1, ... (2, 1)))``. It costs :math:`d_0 \sum_{\ell=2}^{L} d_\ell d_{\ell-1}` MACs.
* **reverse** mode starts at :math:`J_L` and pulls the running product left to right,
  ``(((L, L-1), ...), 1)``. It costs :math:`d_L \sum_{\ell=0}^{L-2} d_\ell d_{\ell+1}` MACs.

Memory is the peak number of elements held in products (intermediate ones and the final one) at
once while a bracketing is evaluated; the input Jacobians are excluded. During one product both of
its operands and its result are alive. Of the two subtrees of a product, the one that gives the
lower peak is evaluated first (ties: the right, lower-layer subtree first); :func:`schedule` gives
that order and the executors follow it, so the model describes what actually runs.

Example:
    The chain :math:`A B C` with :math:`A` 10x100, :math:`B` 100x5, :math:`C` 5x50 is
    ``widths = (50, 5, 100, 10)`` (``C`` is :math:`J_1`). Reverse, :math:`(AB)C`, costs
    ``10*100*5 + 10*5*50 = 7,500`` MACs; forward, :math:`A(BC)`, costs
    ``100*5*50 + 10*100*50 = 75,000``:

    >>> reverse_macs((50, 5, 100, 10)), forward_macs((50, 5, 100, 10))
    (7500, 75000)
    >>> cost((50, 5, 100, 10), ((3, 2), 1))
    7500
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import TypeAlias

from .._core import check_layers, lower_peak_first, validate_widths
from .._text import show
from ..errors import JacobenchError

__all__ = [
    "Span",
    "Step",
    "Tree",
    "analyse",
    "balanced_tree",
    "catalan",
    "cost",
    "format",
    "forward_macs",
    "forward_tree",
    "memory",
    "reverse_macs",
    "reverse_tree",
    "schedule",
    "tree_from_key",
    "tree_key",
    "tree_repr",
    "trees",
    "validate_tree",
]

Tree: TypeAlias = "int | tuple[Tree, Tree]"
"""A bracketing: a layer index ``1..L`` or a pair ``(left, right)``; left holds higher layers."""

Span: TypeAlias = tuple[int, int]
"""Layers ``lo..hi`` (inclusive): the product :math:`J_{hi} \\cdots J_{lo}`, shape
``(d_hi, d_{lo-1})``."""

Step: TypeAlias = tuple[Span, Span]
"""One product in a schedule: ``(left_span, right_span)``; the result's span is their union."""


def forward_macs(widths: Sequence[int]) -> int:
    r"""Multiply-adds of forward mode, :math:`d_0 \sum_{\ell=2}^{L} d_\ell d_{\ell-1}`.

    Args:
        widths: ``(d_0, ..., d_L)``.

    Returns:
        The exact count; 0 for a single layer.

    Example:
        >>> forward_macs((50, 5, 100, 10))  # 50 * (100*5 + 10*100)
        75000
    """
    d = validate_widths(widths)
    return d[0] * sum(d[k] * d[k - 1] for k in range(2, len(d)))


def reverse_macs(widths: Sequence[int]) -> int:
    r"""Multiply-adds of reverse mode, :math:`d_L \sum_{\ell=0}^{L-2} d_\ell d_{\ell+1}`.

    Args:
        widths: ``(d_0, ..., d_L)``.

    Returns:
        The exact count; 0 for a single layer.

    Example:
        >>> reverse_macs((50, 5, 100, 10))  # 10 * (50*5 + 5*100)
        7500
    """
    d = validate_widths(widths)
    return d[-1] * sum(d[k] * d[k + 1] for k in range(len(d) - 2))


def forward_tree(n_layers: int) -> Tree:
    """The forward-mode bracketing ``(L, (L-1, ... (2, 1)))``.

    Example:
        >>> forward_tree(4)
        (4, (3, (2, 1)))
    """
    check_layers(n_layers)
    tree: Tree = 1
    for k in range(2, n_layers + 1):
        tree = (k, tree)
    return tree


def reverse_tree(n_layers: int) -> Tree:
    """The reverse-mode bracketing ``(((L, L-1), ...), 1)``.

    Example:
        >>> reverse_tree(4)
        (((4, 3), 2), 1)
    """
    check_layers(n_layers)
    tree: Tree = n_layers
    for k in range(n_layers - 1, 0, -1):
        tree = (tree, k)
    return tree


def balanced_tree(n_layers: int) -> Tree:
    """A balanced bracketing: each product splits its layers in half (the upper half larger).

    Example:
        >>> balanced_tree(4)
        ((4, 3), (2, 1))
        >>> balanced_tree(3)
        ((3, 2), 1)
    """
    check_layers(n_layers)
    built: dict[tuple[int, int], Tree] = {}
    stack: list[tuple[int, int, bool]] = [(1, n_layers, False)]
    while stack:
        lo, hi, ready = stack.pop()
        if lo == hi:
            built[(lo, hi)] = lo
            continue
        mid = (lo + hi - 1) // 2  # lower half lo..mid
        if ready:
            built[(lo, hi)] = (built.pop((mid + 1, hi)), built.pop((lo, mid)))
        else:
            stack.extend([(lo, hi, True), (mid + 1, hi, False), (lo, mid, False)])
    return built[(1, n_layers)]


def catalan(n: int) -> int:
    """The n-th Catalan number: ``catalan(L - 1)`` bracketings of L layers.

    Example:
        >>> [catalan(n) for n in range(6)]
        [1, 1, 2, 5, 14, 42]
    """
    c = 1
    for k in range(n):
        c = c * 2 * (2 * k + 1) // (k + 2)
    return c


def trees(n_layers: int) -> Iterator[Tree]:
    """Yield every bracketing of ``n_layers`` layers (``catalan(n_layers - 1)`` of them).

    Example:
        >>> list(trees(3))
        [((3, 2), 1), (3, (2, 1))]
    """
    check_layers(n_layers)
    return _brackets(1, n_layers)


def _brackets(lo: int, hi: int) -> Iterator[Tree]:
    if lo == hi:
        yield lo
        return
    for k in range(lo, hi):
        for left in _brackets(k + 1, hi):
            for right in _brackets(lo, k):
                yield (left, right)


def validate_tree(tree: object, n_layers: int) -> Tree:
    """Check that ``tree`` brackets the layers ``n_layers .. 1`` in product order.

    The walk is iterative (trees may be thousands of layers deep) and visits each pair once: a
    pair that contains itself or appears twice is refused rather than walked for ever.

    Args:
        tree: A candidate bracketing.
        n_layers: L, the number of layers it must cover.

    Returns:
        The tree, with lists turned into tuples and integer leaves into ``int``.

    Raises:
        JacobenchError: If a node is not a pair, a leaf is not an integer, a node contains
            itself or appears twice, or the leaves are not exactly ``L, L-1, ..., 1`` from left
            to right.

    Example:
        >>> validate_tree([[4, 3], [2, 1]], 4)
        ((4, 3), (2, 1))
        >>> a = [2, 0]; a[1] = a
        >>> validate_tree(a, 2)
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: bracket [2, [2, [2, [2, [2, [2, [...]]]]]]] is not a \
bracketing of layers 2..1 (expected a nested pair such as (2, 1)): node [2, [2, [2, [2, [2, \
[2, [...]]]]]]] contains itself (a cycle)
    """
    check_layers(n_layers)

    def bad(why: str) -> JacobenchError:
        return JacobenchError(
            f"bracket {show(tree)} is not a bracketing of layers {n_layers}..1 "
            f"(expected a nested pair such as {forward_tree(min(n_layers, 3))!r}): {why}"
        )

    # Rebuild the tree bottom-up without recursion: chains can be thousands of layers deep.
    built: list[Tree] = []
    open_nodes: set[int] = set()  # ids of the pairs being rebuilt: meeting one again is a cycle
    seen: set[int] = set()  # ids of every pair met: a bracketing uses each once
    leaves: list[int] = []  # left to right
    expected = list(range(n_layers, 0, -1))
    stack: list[tuple[object, bool]] = [(tree, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, tuple | list):
            if ready:
                open_nodes.discard(id(node))
                right = built.pop()
                built.append((built.pop(), right))
                continue
            if len(node) != 2:
                raise bad(f"node {show(node)} has {len(node)} entries, expected 2")
            if id(node) in open_nodes:
                raise bad(f"node {show(node)} contains itself (a cycle)")
            if id(node) in seen:
                raise bad(f"node {show(node)} appears twice (a shared subtree)")
            open_nodes.add(id(node))
            seen.add(id(node))
            stack.extend([(node, True), (node[1], False), (node[0], False)])
        elif isinstance(node, bool) or not isinstance(node, numbers.Integral):
            raise bad(f"leaf {show(node)} is not a layer index")
        else:
            leaves.append(operator.index(node))
            built.append(leaves[-1])
    if leaves != expected:
        raise bad(f"its leaves read {show(leaves)}, expected {show(expected)}")
    return built[0]


def tree_key(tree: Tree) -> tuple[int, ...]:
    """A flat, hashable key of a bracketing: its nodes in pre-order, ``0`` for a product.

    Nested tuples thousands deep cannot be compared or hashed safely (CPython recurses), so plans
    and caches compare these keys instead. :func:`tree_from_key` inverts it.

    Example:
        >>> tree_key(((4, 3), (2, 1))), tree_key(1)
        ((0, 0, 4, 3, 0, 2, 1), (1,))
    """
    key: list[int] = []
    stack: list[Tree] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            key.append(0)
            stack.append(node[1])
            stack.append(node[0])
        else:
            key.append(node)
    return tuple(key)


def tree_from_key(key: Sequence[int]) -> Tree:
    """The bracketing whose :func:`tree_key` is ``key`` (trusted).

    Example:
        >>> tree_from_key((0, 0, 4, 3, 0, 2, 1))
        ((4, 3), (2, 1))
    """
    stack: list[Tree] = []
    for token in reversed(key):
        if token:
            stack.append(token)
        else:
            left = stack.pop()
            stack.append((left, stack.pop()))
    return stack[0]


def tree_repr(tree: Tree) -> str:
    """``repr(tree)``, written without recursion (the built-in fails beyond ~1,000 levels).

    Example:
        >>> tree_repr((4, (3, (2, 1)))) == repr((4, (3, (2, 1))))
        True
    """
    return _write(tree, str, "(", ", ", ")", ("(", ")"))


def _write(
    tree: Tree, leaf: Callable[[int], str], open_: str, sep: str, close: str, top: tuple[str, str]
) -> str:
    """Write a bracketing iteratively: ``open_ left sep right close`` (``top`` at the root)."""
    parts: list[str] = []
    stack: list[str | tuple[Tree, bool]] = [(tree, True)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node, is_top = item
        if not isinstance(node, tuple):
            parts.append(leaf(node))
            continue
        first, last = top if is_top else (open_, close)
        stack.extend([last, (node[1], False), sep, (node[0], False), first])
    return "".join(parts)


def format(tree: object) -> str:
    """Write a bracketing the way a person would (iteratively: trees may be deep).

    Raises:
        JacobenchError: If ``tree`` is not a bracketing of the layers ``L..1`` for some ``L``
            (see :func:`validate_tree`).

    Example:
        >>> format(((4, 3), (2, 1)))
        '(J4 J3) (J2 J1)'
        >>> format((4, (3, (2, 1))))
        'J4 (J3 (J2 J1))'
    """
    checked = validate_tree(tree, max(_count_leaves(tree), 1))
    return _write(checked, lambda leaf: f"J{leaf}", "(", " ", ")", ("", ""))


def _count_leaves(tree: object) -> int:
    """The non-pair entries of a nested structure, each container walked once (cycles end)."""
    count = 0
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple | list):
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node)
        else:
            count += 1
    return count


def analyse(widths: tuple[int, ...], tree: Tree) -> tuple[int, int, tuple[Step, ...]]:
    """MACs, peak memory and the memory-ordered schedule of ``tree`` (trusted inputs)."""
    d = widths
    # Post-order walk without recursion: (node, visited) pairs.
    info: dict[int, tuple[Span, int, int, int]] = {}  # id -> (span, macs, peak, held)
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, visited = stack.pop()
        if not isinstance(node, tuple):
            info[id(node)] = ((node, node), 0, 0, 0)
            continue
        if not visited:
            stack.append((node, True))
            stack.append((node[1], False))
            stack.append((node[0], False))
            continue
        (lo_l, hi_l), macs_l, peak_l, held_l = info[id(node[0])]
        (lo_r, _), macs_r, peak_r, held_r = info[id(node[1])]
        out = d[hi_l] * d[lo_r - 1]
        macs = macs_l + macs_r + d[hi_l] * d[lo_l - 1] * d[lo_r - 1]
        peak, _ = lower_peak_first(peak_l, held_l, peak_r, held_r, out)
        info[id(node)] = ((lo_r, hi_l), macs, peak, out)
    # Emit the steps in evaluation order (each node after its children; cheaper child first).
    steps: list[Step] = []
    order: list[tuple[Tree, bool]] = [(tree, False)]
    while order:
        node, visited = order.pop()
        if not isinstance(node, tuple):
            continue
        left, right = node
        if visited:
            steps.append((info[id(left)][0], info[id(right)][0]))
            continue
        _, _, peak_l, held_l = info[id(left)]
        _, _, peak_r, held_r = info[id(right)]
        _, right_first = lower_peak_first(peak_l, held_l, peak_r, held_r, info[id(node)][3])
        first, second = (right, left) if right_first else (left, right)
        order.append((node, True))
        order.append((second, False))
        order.append((first, False))
    _, macs, peak, _ = info[id(tree)]
    return macs, peak, tuple(steps)


def cost(widths: Sequence[int], tree: object) -> int:
    """Multiply-adds to evaluate ``tree`` on the chain ``widths``.

    Example:
        >>> cost((50, 5, 100, 10), (3, (2, 1)))
        75000
    """
    d = validate_widths(widths)
    return analyse(d, validate_tree(tree, len(d) - 1))[0]


def memory(widths: Sequence[int], tree: object) -> int:
    """Peak elements held in products while ``tree`` is evaluated (inputs excluded).

    Example:
        Forward on ``(2, 3, 4, 5)``: ``J2 J1`` (4x2) is made, then ``J3 (J2 J1)`` (5x2) is made
        while it is alive, so the peak is ``8 + 10 = 18``:

        >>> memory((2, 3, 4, 5), (3, (2, 1)))
        18
    """
    d = validate_widths(widths)
    return analyse(d, validate_tree(tree, len(d) - 1))[1]


def schedule(widths: Sequence[int], tree: object) -> tuple[Step, ...]:
    """The products of ``tree`` in the order they are evaluated.

    Each step is ``(left_span, right_span)``; it multiplies the product over ``left_span``
    (higher layers) by the product over ``right_span`` (lower layers).

    Example:
        >>> schedule((2, 3, 4, 5, 6), ((4, 3), (2, 1)))
        (((2, 2), (1, 1)), ((4, 4), (3, 3)), ((3, 4), (1, 2)))
    """
    d = validate_widths(widths)
    return analyse(d, validate_tree(tree, len(d) - 1))[2]
