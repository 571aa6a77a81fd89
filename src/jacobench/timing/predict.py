r"""The time model: predicted seconds of a plan on a measured device.

A plan is turned into the operations its executor launches (:func:`operations`), and each
operation is costed with a :class:`~jacobench.timing.DeviceProfile`:

.. math::

    t(\text{op}) = \max\Big(\frac{F}{R},\ \frac{B}{W(B)}\Big) + c_{op}, \qquad
    T = c_{call} + (a - 1)\,c_{arg} + \sum_{\text{ops}} t(\text{op})

where :math:`F` is the op's flops (a multiply-add is two), :math:`R` the measured rate of a product
of its shape (``m x k @ k x n``, interpolated on the calibration grid) or the element-wise
throughput, :math:`B` the bytes it reads and writes (a product: :math:`(mk + kn + mn)\,s` with
:math:`s` bytes per element), :math:`W(B)` the bandwidth at that size, :math:`c_{op}` the launch
overhead, :math:`c_{call}` the fixed cost of a call and :math:`c_{arg}` that of each of its
:math:`a` arguments after the first. Each number comes from the profile's micro-benchmarks only.

**Explicit plans** (backend ``"numpy"`` or ``"jax"``): :func:`jacobench.multiply` runs one
product per step of the plan's schedule (:func:`jacobench.explicit.schedule`); the step multiplying
:math:`J_{hi..k+1}` by :math:`J_{k..lo}` is the shape :math:`(d_{hi}, d_k, d_{lo-1})`. The call
has the :math:`L` Jacobians as arguments. A single layer has no product: numpy hands :math:`J_1`
back, JAX copies it to the output (one element-wise op of :math:`2 d_1 d_0 s` bytes).

**Matrix-free plans** (backend ``"jax"``; chains of :class:`~jacobench.Dense` layers
:math:`\varphi(W_\ell h + b_\ell)` with ``tanh``, as :func:`jacobench.mlp` builds). What XLA
runs for ``jax.jit(lambda x: jacobian(chain, x, plan))``, read from the compiled HLO:

* the primal, once for the whole plan (XLA merges the passes' copies): per layer, the product
  :math:`(d_\ell, d_{\ell-1}, 1)` and one ``tanh`` op over :math:`d_\ell` elements;
* a tangent pass of :math:`t` tangents through layers ``lo..hi``, in batches of :math:`b`
  (:math:`b = t` when unbatched): per batch, an identity seed is one op writing its
  :math:`d_{lo-1} \times b` block; then per layer :math:`\ell` the product
  :math:`(d_\ell, d_{\ell-1}, b)` (:math:`W_\ell` times the tangent block; ``jax.vmap`` of
  ``jax.jvp`` makes it one product) and one element-wise op on the :math:`d_\ell \times b` block
  (times :math:`\varphi'`, :math:`2 d_\ell b\,s` bytes);
* an adjoint pass of :math:`a` adjoints back through ``lo..hi``, batches of :math:`b`: per
  batch, per layer :math:`\ell` from ``hi`` down, one element-wise op on the :math:`b \times
  d_\ell` block (times :math:`\varphi'`; an identity seed is folded into it), then the product
  :math:`(b, d_\ell, d_{\ell-1})` (the block times :math:`W_\ell`, no transpose);
* a batched pass is a loop: once, an op that zeroes the result; per batch, three loop-control
  ops (no bytes) and, for a seed that is a child's result, one op slicing its batch out; the last
  element-wise op writes the batch into the result; the batches that do not fill a whole
  ``batch`` run once more after the loop, without loop control;
* a ``multiply`` node: the product :math:`(d_{hi}, d_k, d_{lo-1})`;
* the call has one argument, ``x``; reading the weights is in the products' bytes, writing the
  result in the last op's.

``"jacfwd"`` and ``"jacrev"`` run the same operations as ``"forward"`` and ``"reverse"``.

Example:
    The chain ``(50, 5, 100, 10)`` planned ``(J3 J2) J1`` on a made-up device doing 1 Gflop/s,
    10 GB/s, 1 microsecond a launch and 10 a call: the products ``(10, 100, 5)`` (10,000 flops,
    10 us; 6,200 bytes, 0.62 us) and ``(10, 5, 50)`` (5,000 flops, 5 us; 3,200 bytes, 0.32 us)
    cost ``10 + 1 + 5 + 1`` us, and the call 10 us more:

    >>> import jacobench as jb
    >>> from jacobench.timing import DeviceProfile
    >>> device = DeviceProfile.uniform(
    ...     flops=1e9, bandwidth=1e10, op_overhead_s=1e-6, call_overhead_s=1e-5
    ... )
    >>> p = jb.plan((50, 5, 100, 10))
    >>> [op.shape for op in operations(p, "numpy")]
    [(10, 100, 5), (10, 5, 50)]
    >>> round(predict_seconds(p, device, backend="numpy") * 1e6, 3)
    27.0

    On the hourglass ``(1000, 1000, 10, 1000, 1000)`` the optimal matrix-free plan launches the
    4 primal products and ``tanh`` ops, 10 adjoints through ``J2 J1`` (2 element-wise ops, 2
    products), 10 tangents through ``J4 J3`` (a seed, 2 products, 2 element-wise ops) and one
    product: 18 ops. Its three big products ``(10, 1000, 1000)``, ``(1000, 1000, 10)`` and
    ``(1000, 10, 1000)`` take 20 ms each, the primal products of the wide layers
    ``(1000, 1000, 1)`` 2 ms each (2 Mflop; their 4 MB take only 0.4 ms), the rest 0.5 ms;
    forward mode does 2,020 million multiply-adds, about 4 s:

    >>> mf = jb.plan_matrix_free((1000, 1000, 10, 1000, 1000))
    >>> len(operations(mf)), round(predict_seconds(mf, device) * 1e3, 1)
    (18, 64.5)
    >>> fwd = jb.plan_matrix_free(mf.widths, "forward")
    >>> round(predict_seconds(fwd, device), 2)
    4.05
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np

from ..errors import JacobenchError
from ..explicit import Plan
from ..matrix_free import MatrixFreePlan, Node
from .profile import DeviceProfile

__all__ = ["Op", "explain", "operations", "predict_seconds"]

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
    """

    kind: Kind
    shape: tuple[int, ...]
    moved: int
    label: str


def predict_seconds(
    plan: Plan | MatrixFreePlan,
    profile: DeviceProfile,
    backend: str = "jax",
    dtype: str = "float32",
) -> float:
    """Predicted seconds of one call running ``plan`` on the device ``profile`` describes.

    Args:
        plan: A plan of either engine (:func:`jacobench.plan`, :func:`jacobench.plan_matrix_free`).
        profile: The device's :class:`~jacobench.timing.DeviceProfile` (see
            :func:`jacobench.calibrate`).
        backend: ``"numpy"`` or ``"jax"`` for an explicit plan; ``"jax"`` for a matrix-free one.
        dtype: ``"float32"`` or ``"float64"``, the element type of the arrays.

    Returns:
        Seconds, by the formula of :mod:`jacobench.timing.predict`.

    Raises:
        JacobenchError: For a backend the plan cannot run on, or a backend or dtype the profile
            does not hold.

    Example:
        >>> import jacobench as jb
        >>> from jacobench.timing import DeviceProfile
        >>> device = DeviceProfile.uniform(flops=1e9, bandwidth=1e12)
        >>> round(predict_seconds(jb.plan((1000, 1000, 1000)), device), 9)  # one 1000^3 product
        2.0
        >>> predict_seconds(jb.plan_matrix_free((3, 4)), device, backend="numpy")
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: backend 'numpy' cannot run a matrix-free plan; it runs \
on backend 'jax' only
    """
    return float(sum(seconds for _, seconds in explain(plan, profile, backend, dtype)))


def explain(
    plan: Plan | MatrixFreePlan,
    profile: DeviceProfile,
    backend: str = "jax",
    dtype: str = "float32",
) -> list[tuple[Op, float]]:
    """Each operation of ``plan`` with its predicted seconds (launch included), then the call.

    The call's fixed cost comes last, as ``Op("control", (), 0, "call")``.

    Example:
        >>> import jacobench as jb
        >>> from jacobench.timing import DeviceProfile
        >>> device = DeviceProfile.uniform(flops=1e9, bandwidth=1e12, call_overhead_s=1e-5)
        >>> [(op.label, round(s, 12)) for op, s in explain(jb.plan((10, 10, 10)), device)]
        [('product J2 @ J1', 2e-06), ('call', 1e-05)]
    """
    ops = operations(plan, backend)
    rates = profile.rates(backend)
    rates.rates(dtype)  # the dtype must be there
    size = np.dtype(dtype).itemsize
    seconds = np.full(len(ops), rates.op_overhead_s)
    products = [i for i, op in enumerate(ops) if op.kind == "matmul"]
    if products:
        m, k, n = np.array([ops[i].shape for i in products]).T
        seconds[products] += profile.matmul_seconds(m, k, n, dtype, backend)
    for kind in ("elementwise", "tanh"):
        chosen = [i for i, op in enumerate(ops) if op.kind == kind]
        if chosen:
            elements = np.array([int(np.prod(ops[i].shape)) for i in chosen])
            moved = np.array([ops[i].moved for i in chosen]) * size
            seconds[chosen] += profile.elementwise_seconds(
                elements, moved, dtype, backend, transcendental=kind == "tanh"
            )
    n_args = plan.n_layers if isinstance(plan, Plan) else 1
    call = rates.call_overhead_s + (n_args - 1) * rates.arg_overhead_s
    out = list(zip(ops, (float(s) for s in seconds), strict=True))
    out.append((Op("control", (), 0, "call"), call))
    return out


def operations(plan: Plan | MatrixFreePlan, backend: str = "jax") -> list[Op]:
    """The operations the executor launches for ``plan`` on ``backend``, in order.

    Raises:
        JacobenchError: For a backend the plan cannot run on.

    Example:
        >>> import jacobench as jb
        >>> for op in operations(jb.plan_matrix_free((3, 4), "forward")):
        ...     print(f"{op.kind:<12} {op.shape!s:<12} {op.label}")
        matmul       (4, 3, 1)    primal layer 1
        tanh         (4,)         primal layer 1: tanh
        elementwise  (3, 3)       tangents J1: seed
        matmul       (4, 3, 3)    tangents J1: layer 1
        elementwise  (4, 3)       tangents J1: layer 1, times tanh'
    """
    if isinstance(plan, Plan):
        if backend not in ("numpy", "jax"):
            raise JacobenchError(
                f"backend {backend!r} cannot run an explicit plan; valid options are "
                "['jax', 'numpy']"
            )
        return _explicit_ops(plan, backend)
    if isinstance(plan, MatrixFreePlan):
        if backend != "jax":
            raise JacobenchError(
                f"backend {backend!r} cannot run a matrix-free plan; it runs on backend 'jax' only"
            )
        return _MatrixFree(plan.widths).plan(plan.tree)
    raise JacobenchError(
        f"plan is {type(plan).__name__}, expected a jacobench.Plan or jacobench.MatrixFreePlan"
    )


def _explicit_ops(plan: Plan, backend: str) -> list[Op]:
    d = plan.widths
    if not plan.schedule:
        if backend == "numpy":
            return []
        return [Op("elementwise", (d[1], d[0]), 2 * d[1] * d[0], "copy J1 to the output")]
    ops = []
    for (lo_l, hi), (lo, k) in plan.schedule:
        m, kk, n = d[hi], d[k], d[lo - 1]
        ops.append(Op("matmul", (m, kk, n), m * kk + kk * n + m * n, _product(hi, lo_l, k, lo)))
    return ops


def _product(hi: int, lo_l: int, k: int, lo: int) -> str:
    def name(a: int, b: int) -> str:
        return f"J{a}" if a == b else f"J{a}..{b}"

    return f"product {name(hi, lo_l)} @ {name(k, lo)}"


class _MatrixFree:
    """Lists the operations of a matrix-free plan (see the module docstring)."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        self.d = widths
        self.ops: list[Op] = []

    def add(self, kind: Kind, shape: tuple[int, ...], moved: int, label: str) -> None:
        self.ops.append(Op(kind, shape, moved, label))

    def plan(self, tree: Node) -> list[Op]:
        d = self.d
        for layer in range(1, len(d)):
            m, k = d[layer], d[layer - 1]
            self.add("matmul", (m, k, 1), m * k + k + m, f"primal layer {layer}")
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
        d = self.d
        name = "tangents " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

        def one(b: int) -> None:
            if not seeded:
                self.add("elementwise", (d[lo - 1], b), d[lo - 1] * b, f"{name}: seed")
            for layer in range(lo, hi + 1):
                m, k = d[layer], d[layer - 1]
                self.add("matmul", (m, k, b), m * k + k * b + m * b, f"{name}: layer {layer}")
                self.add(
                    "elementwise", (m, b), 2 * m * b + m, f"{name}: layer {layer}, times tanh'"
                )

        self.batches(one, t, batch, rows=d[hi], seed_rows=d[lo - 1] if seeded else 0, name=name)

    def adjoints(self, lo: int, hi: int, a: int, batch: int | None, seeded: bool) -> None:
        d = self.d
        name = "adjoints " + " ".join(f"J{k}" for k in range(hi, lo - 1, -1))

        def one(b: int) -> None:
            for layer in range(hi, lo - 1, -1):
                m, k = d[layer], d[layer - 1]
                self.add(
                    "elementwise", (b, m), 2 * b * m + m, f"{name}: layer {layer}, times tanh'"
                )
                self.add("matmul", (b, m, k), b * m + m * k + b * k, f"{name}: layer {layer}")

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
