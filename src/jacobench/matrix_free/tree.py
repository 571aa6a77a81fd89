r"""Matrix-free plans as trees of :class:`Node`: the node type, validation, formatting, enumeration.

A plan for layers ``1..L`` is a tree of nodes, each saying how its segment ``lo..hi``
(:math:`J_{hi} \cdots J_{lo}`) is made: by tangents, by adjoints, or by a split that multiplies,
pushes or pulls (see :mod:`jacobench.matrix_free.model` for what each costs).

Example:
    >>> format(Node("multiply", 1, 4, (Node("tangents", 3, 4), Node("adjoints", 1, 2))))
    'jvp(J4 J3) @ vjp(J2 J1)'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .._core import check_layers
from .._text import show
from ..errors import JacobenchError

__all__ = [
    "MatrixFreeNode",
    "Node",
    "Op",
    "batch_sizes",
    "block_width",
    "check_tree",
    "format",
    "leaf",
    "n_batches",
    "split_node",
    "trees",
    "validate",
]

Op: TypeAlias = Literal["tangents", "adjoints", "multiply", "push", "pull"]


@dataclass(frozen=True, repr=False)
class Node:
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
        >>> seed = Node("adjoints", 1, 2)
        >>> format(Node("push", 1, 4, (seed,)))
        'jvp(J4 J3, seed=vjp(J2 J1))'
        >>> format(Node("tangents", 1, 4, batch=64))
        'jvp(J4 J3 J2 J1, batch=64)'
    """

    op: Op
    lo: int
    hi: int
    children: tuple[Node, ...] = ()
    batch: int | None = None

    def key(self) -> tuple[object, ...]:
        """A flat key of the whole tree: ``(op, lo, hi, batch, number of children)`` in pre-order.

        Equality and hashing use it, so trees of any depth compare and hash without recursion.

        Example:
            >>> Node("push", 1, 2, (Node("tangents", 1, 1),)).key()
            ('push', 1, 2, None, 1, 'tangents', 1, 1, None, 0)
        """
        cached: tuple[object, ...] | None = self.__dict__.get("_key")
        if cached is not None:
            return cached
        items: list[object] = []
        seen: set[int] = set()
        stack: list[object] = [self]
        while stack:
            node = stack.pop()
            if not isinstance(node, Node):
                items.append(node)
                continue
            if id(node) in seen:
                raise JacobenchError(
                    f"plan node {node.op} over layers {node.lo}..{node.hi} "
                    "appears twice in its tree (a cycle or a shared subtree)"
                )
            seen.add(id(node))
            kids = node.children if isinstance(node.children, tuple) else (node.children,)
            items.extend((node.op, node.lo, node.hi, node.batch, len(kids)))
            stack.extend(reversed(kids))
        key = tuple(items)
        object.__setattr__(self, "_key", key)
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return self is other or self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        """The dataclass ``repr``, written without recursion (trees may be deep)."""
        parts: list[str] = []
        stack: list[object] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                parts.append(item)
            elif not isinstance(item, Node):
                parts.append(show(item))
            else:
                kids = item.children
                parts.append(f"Node(op={item.op!r}, lo={item.lo!r}, hi={item.hi!r}, children=")
                stack.append(f", batch={item.batch!r})")
                if not isinstance(kids, tuple):
                    stack.append(show(kids))
                    continue
                stack.append(",)" if len(kids) == 1 else ")")
                for i, child in enumerate(reversed(kids)):
                    stack.append(child)
                    if i < len(kids) - 1:
                        stack.append(", ")
                stack.append("(")
        return "".join(parts)

    @property
    def split(self) -> int:
        """``k`` for a split node (the segment is ``lo..k`` then ``k+1..hi``); 0 for a leaf."""
        if self.op in ("multiply", "pull"):
            return self.children[-1].hi if self.op == "multiply" else self.children[0].lo - 1
        if self.op == "push":
            return self.children[0].hi
        return 0


def leaf(op: Op, lo: int, hi: int, batch: int | None = None) -> Node:
    """A ``tangents`` or ``adjoints`` node over ``lo..hi``."""
    return Node(op, lo, hi, batch=batch)


def split_node(
    op: str, lo: int, hi: int, k: int, left: Any, right: Any, batch: int | None = None
) -> Node:
    """Build a split node from the children it uses (``left``: ``k+1..hi``, ``right``: lo..k)."""
    if op == "multiply":
        return Node("multiply", lo, hi, (left, right))
    if op == "push":
        return Node("push", lo, hi, (right,), batch)
    return Node("pull", lo, hi, (left,), batch)


def block_width(d: tuple[int, ...], node: Node) -> int:
    """Tangents (tangents, push) or adjoints (adjoints, pull) the node runs; 0 for multiply."""
    if node.op in ("tangents", "push"):
        return d[node.lo - 1]
    if node.op in ("adjoints", "pull"):
        return d[node.hi]
    return 0


def batch_sizes(width: int) -> tuple[int | None, ...]:
    """Batch sizes the planners try for a block of ``width``: whole, then powers of two below."""
    return (None, *(1 << p for p in range(width.bit_length()) if 1 << p < width))


def n_batches(width: int, batch: int | None) -> int:
    """How many batches a block of ``width`` runs in (1 when unbatched)."""
    return 1 if batch is None else -(-width // batch)


MatrixFreeNode = Node
"""The name :class:`Node` had before the engines shared one vocabulary."""


def validate(tree: object, n_layers: int) -> Node:
    """Check that ``tree`` is a well-formed plan for the layers ``1..n_layers``.

    The walk is iterative (plans may be thousands of layers deep) and visits each node once: a
    node met twice (a cycle, or one object used in two places) is refused.

    Raises:
        JacobenchError: If a node is not a :class:`Node`, has an unknown op, children that are
            not a tuple of nodes or whose spans do not fit its own, or appears twice.

    Example:
        >>> validate(Node("tangents", 1, 2), 2).op
        'tangents'
    """
    if not isinstance(tree, Node):
        raise JacobenchError(
            f"plan tree {show(tree)} is not a Node, expected e.g. Node('tangents', 1, {n_layers})"
        )
    if (tree.lo, tree.hi) != (1, n_layers):
        raise JacobenchError(
            f"plan tree spans layers {show(tree.lo)}..{show(tree.hi)}, expected 1..{n_layers}"
        )
    _check_nodes(tree)
    return tree


def _check_nodes(tree: Node) -> None:
    """Check every node of ``tree`` (each once: a node met twice is refused), iteratively."""
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Node):
            raise JacobenchError(f"plan tree holds {show(node)}, expected a Node")
        if id(node) in seen:
            raise JacobenchError(
                f"plan node {node.op} over layers {node.lo}..{node.hi} appears twice in the tree "
                "(a cycle or a shared subtree); each node must be used once"
            )
        seen.add(id(node))
        _check_node(node)
        stack.extend(node.children)


def _check_node(node: Node) -> None:
    lo, hi, kids = node.lo, node.hi, node.children
    arity = {"tangents": 0, "adjoints": 0, "multiply": 2, "push": 1, "pull": 1}
    if not isinstance(node.op, str) or node.op not in arity:
        raise JacobenchError(
            f"plan node {show(node)} has op {show(node.op)}; valid options are {sorted(arity)}"
        )
    for name in ("lo", "hi"):
        value = getattr(node, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise JacobenchError(
                f"plan node {node.op} has {name} = {show(value)}, expected a layer index (an int)"
            )
    if not isinstance(kids, tuple) or not all(isinstance(c, Node) for c in kids):
        raise JacobenchError(
            f"plan node {node.op} over layers {lo}..{hi} has children {show(kids)}, expected a "
            "tuple of Nodes"
        )
    spans = tuple((c.lo, c.hi) for c in kids)
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


def check_tree(d: tuple[int, ...], tree: object) -> Node:
    """:func:`validate`, then each batch below its node's block width."""
    checked = validate(tree, len(d) - 1)
    stack = [checked]
    while stack:
        node = stack.pop()
        width = block_width(d, node)
        if node.batch is not None and node.batch >= width:
            raise JacobenchError(
                f"plan node {node.op} over layers {node.lo}..{node.hi} has batch {node.batch}; "
                f"expected None or an int with 1 <= batch < {width} (its block width for "
                f"widths {d})"
            )
        stack.extend(node.children)
    return checked


def format(tree: object) -> str:
    """Write a plan as a formula: ``jvp(...)``, ``vjp(...)``, ``A @ B``, ``seed=`` for push/pull.

    ``jvp(J4 J3)`` means :math:`J_4 J_3` accumulated by tangents (identity seed),
    ``jvp(J4 J3, seed=B)`` the columns of ``B`` pushed through :math:`J_4 J_3`, and
    ``vjp(J2 J1, seed=A)`` the rows of ``A`` pulled back through :math:`J_2 J_1`; ``batch=b``
    means ``b`` tangents or adjoints at a time.

    Raises:
        JacobenchError: If ``tree`` is not a well-formed plan (see :func:`validate`).

    Example:
        >>> left = Node("tangents", 3, 4)
        >>> format(Node("pull", 1, 4, (left,)))
        'vjp(J2 J1, seed=jvp(J4 J3))'
    """
    if not isinstance(tree, Node):
        raise JacobenchError(f"plan tree {show(tree)} is not a Node")
    _check_nodes(tree)

    def layers(lo: int, hi: int) -> str:
        return " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

    parts: list[str] = []
    stack: list[tuple[Node, bool] | str] = [(tree, True)]  # (node, at the top of a formula)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node, top = item
        batch = "" if node.batch is None else f", batch={node.batch}"
        if node.op in ("tangents", "adjoints"):
            name = "jvp" if node.op == "tangents" else "vjp"
            parts.append(f"{name}({layers(node.lo, node.hi)}{batch})")
        elif node.op in ("push", "pull"):
            k = node.split
            span = layers(k + 1, node.hi) if node.op == "push" else layers(node.lo, k)
            parts.append(f"{'jvp' if node.op == 'push' else 'vjp'}({span}, seed=")
            stack.extend([f"{batch})", (node.children[0], True)])
        else:
            left, right = node.children
            stack.extend(
                ["" if top else ")", (right, False), " @ ", (left, False), "" if top else "("]
            )
    return "".join(parts)


def trees(n_layers: int) -> Iterator[Node]:
    """Yield every plan of the grammar for ``n_layers`` layers (for brute-force checks).

    The count grows fast (2, 10, 66, 522, ... for L = 1, 2, 3, 4); keep L small.

    Example:
        >>> [format(t) for t in trees(1)]
        ['jvp(J1)', 'vjp(J1)']
    """
    return _all_trees(1, check_layers(n_layers))


def _all_trees(lo: int, hi: int) -> Iterator[Node]:
    yield leaf("tangents", lo, hi)
    yield leaf("adjoints", lo, hi)
    for k in range(lo, hi):
        rights = list(_all_trees(lo, k))
        lefts = list(_all_trees(k + 1, hi))
        for left in lefts:
            for right in rights:
                yield Node("multiply", lo, hi, (left, right))
        for right in rights:
            yield Node("push", lo, hi, (right,))
        for left in lefts:
            yield Node("pull", lo, hi, (left,))
