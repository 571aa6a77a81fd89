r"""What the matrix-free executor launches for a plan: the operations :mod:`.predict` costs.

Two executors run a :class:`~jacobench.matrix_free.MatrixFreePlan`, and each has its lister:

* :class:`Dense` -- :func:`jacobench.jacobian` on a chain of :class:`~jacobench.Dense` layers
  takes the fast path of :mod:`jacobench.matrix_free.dense`, simulated here step by step in the
  executor's own order (children before parents, the lower-peak factor of a product first):

  - the primal: layer ``l``'s activation is made once, when a pass first needs it: the product
    ``(d_l, d_{l-1}, 1)`` and a ``tanh`` op over ``d_l`` elements -- unless a tangent pass makes
    it itself, fused: with ``t < FUSE_BELOW`` tangents and the activation not yet known, the
    pass forms ``W [h | V]``: a concatenation op, the product ``(d_l, d_{l-1}, t + 1)``, the
    ``tanh`` op and the slope op;
  - tangents through layer ``l``: the product ``(d_l, d_{l-1}, t)`` and one element-wise op on the
    ``d_l x t`` block (times the slope); with an identity seed the first layer forms ``D W`` (its
    batch of columns) by one element-wise op over ``d_l x t``: no product;
  - adjoints back through layer ``l``: one element-wise op on the ``a x d_l`` block, then the
    product ``(a, d_l, d_{l-1})``; with an identity seed the top layer forms the rows of ``D W``
    by one element-wise op over ``a x d_{l-1}``: no product;
  - in batches, the activations of the pass are made first; then a loop, as in :class:`Generic`
    (a batch of a child's result is sliced out by one op);
  - a ``multiply`` node: the product ``(d_hi, d_k, d_{lo-1})``.

* :class:`Generic` -- JAX's own ``jax.jacfwd`` / ``jax.jacrev`` (strategies ``"jacfwd"`` and
  ``"jacrev"``), and chains of other layers: ``jax.vmap`` of ``jax.jvp`` / ``jax.vjp``; see
  :mod:`.predict`.

When the executor changes, change its lister here; ``tests/test_timing.py`` checks, from the
compiled HLO, that the products listed are the products XLA runs.

Example:
    Forward on ``(6, 5, 4)``: ``J1`` itself is ``D W1`` (no product, but the primal of layer 1
    first); layer 2 carries its primal along the 6 tangents, ``W2 [x1 | V]``. ``jax.jacfwd``
    makes both primal products, then one product per layer:

    >>> import jacobench as jb
    >>> products = lambda p: [op.shape for op in matrix_free_ops(p) if op.kind == "matmul"]
    >>> products(jb.plan_matrix_free((6, 5, 4), "forward"))
    [(5, 6, 1), (4, 5, 7)]
    >>> products(jb.plan_matrix_free((6, 5, 4), "jacfwd"))
    [(5, 6, 1), (4, 5, 1), (5, 6, 6), (4, 5, 6)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ..matrix_free import JAX_BASELINES, MatrixFreePlan, Node
from ..matrix_free.dense import FUSE_BELOW
from ..matrix_free.model import execution_order

__all__ = ["Dense", "Generic", "Kind", "Op", "matrix_free_ops"]

Kind: TypeAlias = Literal["matmul", "elementwise", "tanh", "control"]


@dataclass(frozen=True)
class Op:
    """One operation the executor launches.

    Attributes:
        kind: ``"matmul"`` (shape ``(m, k, n)``), ``"elementwise"`` or ``"tanh"`` (shape: the
            block it writes), or ``"control"`` (loop bookkeeping: a launch, no bytes).
        shape: As above.
        moved: Elements read and written (times the itemsize: bytes); for a product,
            :math:`mk + kn + mn`.
        label: What it is, e.g. ``"tangents J4 J3: layer 3"``.
        repeat: How many products of ``shape`` the op makes at once: more than one for a product
            of two per-point blocks under ``jax.vmap`` (a batched product, one launch).
        reads: ``(input, elements)`` of each of the call's inputs the op reads: layer ``input``'s
            weight (matrix-free) or given Jacobian (explicit). Whether a read comes from cache or
            from memory depends on what was read since the same input last was (see
            :mod:`.predict`).
    """

    kind: Kind
    shape: tuple[int, ...]
    moved: int
    label: str
    repeat: int = 1
    reads: tuple[tuple[int, int], ...] = ()


def matrix_free_ops(plan: MatrixFreePlan, points: int = 1) -> list[Op]:
    """The operations the executor launches for ``plan`` (on a chain of dense ``tanh`` layers).

    ``points`` > 1: the operations of ``jax.vmap`` of the plan over that many points, where
    every product of a weight with a block becomes one product over all points' blocks (the
    points join the block's free dimension), a product of two blocks a batched product
    (:attr:`Op.repeat`), and element-wise work covers every point -- except what does not
    depend on the point: ``jax.jacfwd``'s identity seed and the first layer's product with it,
    ``W1 I``, which ``jax.vmap`` leaves unbatched and XLA makes once.

    Example:
        ``jvp(J4 J3) @ vjp(J2 J1)`` on ``(8, 6, 2, 6, 8)``: two primal products, the 2 adjoint
        rows through layer 1 (``(2, 6, 8)``), the primal of layer 3, ``W4 [x3 | V]`` with the 2
        tangents, the final product. Over 4 points, the adjoint rows are 8, the tangent columns
        and primal columns 4 times as many, and the final product is 4 products at once:

        >>> import jacobench as jb
        >>> p = jb.plan_matrix_free((8, 6, 2, 6, 8))
        >>> [op.shape for op in matrix_free_ops(p) if op.kind == "matmul"]
        [(6, 8, 1), (2, 6, 1), (2, 6, 8), (6, 2, 1), (8, 6, 3), (8, 2, 8)]
        >>> [(op.shape, op.repeat) for op in matrix_free_ops(p, 4) if op.kind == "matmul"][2:]
        [((8, 6, 8), 1), ((6, 2, 4), 1), ((8, 6, 12), 1), ((8, 2, 8), 4)]
    """
    lister = Generic if plan.strategy in JAX_BASELINES else Dense
    return lister(plan.widths, points).plan(plan.tree)


class Generic:
    """The operations of ``jax.vmap`` of ``jax.jvp`` / ``jax.vjp`` passes (see :mod:`.predict`)."""

    def __init__(self, widths: tuple[int, ...], points: int = 1) -> None:
        self.d = widths
        self.points = points
        self.ops: list[Op] = []

    def add(
        self,
        kind: Kind,
        shape: tuple[int, ...],
        moved: int,
        label: str,
        free: int | None = None,
        weight: tuple[int, int] | None = None,
        shared: bool = False,
    ) -> None:
        """Append one operation; for several points, the operation over all of them.

        ``free``: for a product, the dimension of ``shape`` the points join (0 for adjoint
        rows, 2 for tangent columns; None: both factors are per point, a batched product).
        ``weight``: ``(layer, elements)`` of the weight the op reads (:attr:`Op.reads`), once
        for all points. ``shared``: the op does not depend on the point (``jax.vmap`` leaves it
        unbatched), so it runs once whatever the points.
        """
        p, repeat = (1 if shared else self.points), 1
        if p > 1 and kind == "matmul":
            if free is None:
                repeat, moved = p, moved * p
            else:
                shape = tuple(s * p if i == free else s for i, s in enumerate(shape))
                m, k, n = shape
                moved = m * k + k * n + m * n
        elif p > 1 and kind in ("elementwise", "tanh"):
            shape, moved = (shape[0] * p, *shape[1:]), moved * p
        self.ops.append(Op(kind, shape, moved, label, repeat, () if weight is None else (weight,)))

    def plan(self, tree: Node) -> list[Op]:
        """The operations of the plan ``tree``, in order."""
        d = self.d
        for layer in range(1, len(d)):
            m, k = d[layer], d[layer - 1]
            self.add("matmul", (m, k, 1), m * k + k + m, f"primal layer {layer}", 2, (layer, m * k))
            self.add("tanh", (m,), 3 * m, f"primal layer {layer}: tanh")
        stack: list[tuple[Node, bool]] = [(tree, False)]
        while stack:  # children before parents, as the executor evaluates them
            node, ready = stack.pop()
            if not ready:
                stack.append((node, True))
                stack.extend((child, False) for child in node.children)
                continue
            self.node(node)
        return self.ops

    def node(self, node: Node) -> None:
        """The operations of one node (its children done)."""
        d, lo, hi = self.d, node.lo, node.hi
        if node.op == "multiply":
            m, k, n = d[hi], d[node.split], d[lo - 1]
            self.add("matmul", (m, k, n), m * k + k * n + m * n, f"product at J{node.split}")
        elif node.op == "tangents":
            self.tangents(lo, hi, d[lo - 1], node.batch, seeded=False)
        elif node.op == "push":
            self.tangents(node.split + 1, hi, d[lo - 1], node.batch, seeded=True)
        elif node.op == "adjoints":
            self.adjoints(lo, hi, d[hi], node.batch, seeded=False)
        else:
            self.adjoints(lo, node.split, d[hi], node.batch, seeded=True)

    def tangents(self, lo: int, hi: int, t: int, batch: int | None, seeded: bool) -> None:
        """``t`` tangents through ``lo..hi`` (``seeded``: a child's result, else the identity)."""
        d = self.d
        name = "tangents " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

        def one(b: int) -> None:
            if not seeded:  # the identity and W times it do not depend on x: made once
                self.add("elementwise", (d[lo - 1], b), d[lo - 1] * b, f"{name}: seed", shared=True)
            for layer in range(lo, hi + 1):
                m, k = d[layer], d[layer - 1]
                moved = m * k + k * b + m * b
                label, first = f"{name}: layer {layer}", layer == lo and not seeded
                self.add("matmul", (m, k, b), moved, label, 2, (layer, m * k), shared=first)
                self.add(
                    "elementwise", (m, b), 2 * m * b + m, f"{name}: layer {layer}, times tanh'"
                )

        self.batches(one, t, batch, rows=d[hi], seed_rows=d[lo - 1] if seeded else 0, name=name)

    def adjoints(self, lo: int, hi: int, a: int, batch: int | None, seeded: bool) -> None:
        """``a`` adjoints back through ``lo..hi`` (``seeded``: a child's result, else identity)."""
        d = self.d
        name = "adjoints " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

        def one(b: int) -> None:
            for layer in range(hi, lo - 1, -1):
                m, k = d[layer], d[layer - 1]
                self.add(
                    "elementwise", (b, m), 2 * b * m + m, f"{name}: layer {layer}, times tanh'"
                )
                moved = b * m + m * k + b * k
                self.add("matmul", (b, m, k), moved, f"{name}: layer {layer}", 0, (layer, m * k))

        self.batches(one, a, batch, rows=d[lo - 1], seed_rows=d[hi] if seeded else 0, name=name)

    def batches(
        self, one: Any, width: int, batch: int | None, rows: int, seed_rows: int, name: str
    ) -> None:
        """``one(b)`` for each batch, with the loop's own ops (see the module docstring)."""
        if batch is None or batch >= width:
            one(width)
            return
        self.add("elementwise", (rows, width), rows * width, f"{name}: zero the result")
        full, rest = divmod(width, batch)
        for size, count, looped in ((batch, full, True), (rest, 1 if rest else 0, False)):
            for _ in range(count):
                if looped:
                    for _ in range(3):
                        self.add("control", (), 0, f"{name}: loop control")
                if seed_rows:
                    self.add(
                        "elementwise", (seed_rows, size), 2 * seed_rows * size, f"{name}: slice"
                    )
                one(size)


class Dense(Generic):
    """The operations of the dense fast path, in the executor's order (see the module)."""

    def plan(self, tree: Node) -> list[Op]:
        """The operations of the plan ``tree``, in the executor's order."""
        self.top = 0  # the activations x_0 .. x_top are known
        order = execution_order(self.d, tree)  # as the executor runs it
        for node in order:
            self.node(node)
        return self.ops

    def primal(self, layer: int) -> None:
        """Layer ``layer``'s activation: its product and its ``tanh``."""
        m, k = self.d[layer], self.d[layer - 1]
        self.add("matmul", (m, k, 1), m * k + k + m, f"primal layer {layer}", 2, (layer, m * k))
        self.add("tanh", (m,), 3 * m, f"primal layer {layer}: tanh")

    def act(self, index: int) -> None:
        """Make the activations up to ``x_index``, as the executor's ``act`` does."""
        for layer in range(self.top + 1, index + 1):
            self.primal(layer)
        self.top = max(self.top, index)

    def tangents(self, lo: int, hi: int, t: int, batch: int | None, seeded: bool) -> None:
        """``t`` tangents through ``lo..hi`` (``seeded``: a child's result, else the identity)."""
        d = self.d
        name = "tangents " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))
        if batch is not None and batch < t:
            self.act(hi)  # made once, outside the loop
        else:
            self.act(lo - 1)

        def one(b: int) -> None:
            for layer in range(lo, hi + 1):
                m, k = d[layer], d[layer - 1]
                known = layer <= self.top
                if layer == lo and not seeded:  # D W (its columns): no product
                    if not known:
                        self.primal(layer)
                    label = f"{name}: layer {layer}, D W"
                    self.add("elementwise", (m, b), 2 * m * b + m, label, weight=(layer, m * b))
                elif not known and b < FUSE_BELOW:  # W [h | V]: the primal rides along
                    self.add("elementwise", (k, b + 1), k * (2 * b + 2), f"{name}: [h | V]")
                    moved = m * k + (k + m) * (b + 1)
                    self.add("matmul", (m, k, b + 1), moved, f"{name}: W [h|V]", 2, (layer, m * k))
                    self.add("tanh", (m,), 3 * m, f"primal layer {layer}: tanh")
                    self.add("elementwise", (m, b), 2 * m * b + m, f"{name}: layer {layer}, slope")
                else:
                    if not known:
                        self.primal(layer)
                    moved = m * k + k * b + m * b
                    self.add(
                        "matmul", (m, k, b), moved, f"{name}: layer {layer}", 2, (layer, m * k)
                    )
                    self.add("elementwise", (m, b), 2 * m * b + m, f"{name}: layer {layer}, slope")
                if layer == self.top + 1:  # a new activation: kept
                    self.top = layer

        self.batches(one, t, batch, rows=d[hi], seed_rows=d[lo - 1] if seeded else 0, name=name)

    def adjoints(self, lo: int, hi: int, a: int, batch: int | None, seeded: bool) -> None:
        """``a`` adjoints back through ``lo..hi`` (``seeded``: a child's result, else identity)."""
        d = self.d
        name = "adjoints " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))
        self.act(hi)

        def one(b: int) -> None:
            for layer in range(hi, lo - 1, -1):
                m, k = d[layer], d[layer - 1]
                if layer == hi and not seeded:  # rows of D W: no product
                    label = f"{name}: layer {layer}, D W"
                    self.add("elementwise", (b, k), 2 * b * k + b, label, weight=(layer, b * k))
                    continue
                self.add("elementwise", (b, m), 2 * b * m + m, f"{name}: layer {layer}, slope")
                moved = b * m + m * k + b * k
                self.add("matmul", (b, m, k), moved, f"{name}: layer {layer}", 0, (layer, m * k))

        self.batches(one, a, batch, rows=d[lo - 1], seed_rows=d[hi] if seeded else 0, name=name)
