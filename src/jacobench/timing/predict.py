r"""The time model: predicted seconds of a plan on a measured device.

A plan is turned into the operations its executor launches (:func:`operations`), and each
operation is costed with a :class:`~jacobench.timing.DeviceProfile`:

.. math::

    t(\text{op}) = \max\Big(\frac{F}{R},\ \frac{B}{W(B)},\ \Big[\frac{B}{V(S_{call})}\Big]\Big)
        + I\,\Big(\frac{1}{V(S)} - \frac{1}{V_0}\Big)_{+} + c_{op}, \qquad
    T = c_{call} + (a - 1)\,c_{arg} + \sum_{\text{ops}} t(\text{op})

where :math:`F` is the op's flops (a multiply-add is two), :math:`R` the measured rate of a product
of its shape (``m x k @ k x n``, interpolated on the calibration grid) or the element-wise
throughput, :math:`B` the bytes it reads and writes (a product: :math:`(mk + kn + mn)\,s` with
:math:`s` bytes per element), :math:`W(B)` the bandwidth at that size, :math:`c_{op}` the launch
overhead, :math:`c_{call}` the fixed cost of a call and :math:`c_{arg}` that of each of its
:math:`a` arguments after the first. Each number comes from the profile's micro-benchmarks only.

The calibration times each product on operands that stay in cache. A call's inputs need not:
on a 2-core CPU with a 32 MB cache a 32-layer chain of 1 MB weights reads each from memory (a
matrix-vector product 18 us a layer at 8 layers, 46-68 us at 16-48). So an op reading
:math:`I` bytes of the call's inputs (a weight, a given Jacobian) pays the slower read on top:
:math:`V(S)` is how fast matrix-vector products read their weights cycling over :math:`S` bytes
of them, :math:`V_0` over one weight
(:meth:`~jacobench.timing.BackendRates.weight_seconds_per_byte`) -- for a product, how fast
thin products with the weight on the same side read it (the left, ``W @ V``, or the right,
``A @ W``: out of cache the right pays about twice the left's extra, though in cache it is the
faster), and :math:`S` is the read's
reuse distance (:func:`reuse_distances`): the bytes of other inputs read since this one last was,
or, for its first read in a call, everything a call runs through (:func:`footprint`: the inputs
and the result). A weight read again at once (the primal's product, then the tangents') is
read from cache; nothing is added where :math:`S` fits the caches. The bracketed term is for
element-wise ops only: they stream their blocks no faster than the call reads its data,
:math:`V(S_{call})` at the call's whole footprint
(:meth:`~jacobench.timing.BackendRates.stream_seconds_per_byte`). The calibrated element-wise
rate puts scaling a ``512 x 512`` weight (``D W``, 2 MB moved) at about 17 us; scaling the
eight weights of a chain one after another takes 53-58 us each, about the rate at which such a
chain reads its weights.

**Explicit plans** (backend ``"numpy"`` or ``"jax"``): :func:`jacobench.multiply` runs one
product per step of the plan's schedule (:func:`jacobench.explicit.schedule`); the step multiplying
:math:`J_{hi..k+1}` by :math:`J_{k..lo}` is the shape :math:`(d_{hi}, d_k, d_{lo-1})`. The call
has the :math:`L` Jacobians as arguments. A single layer has no product: numpy hands :math:`J_1`
back, JAX copies it to the output (one element-wise op of :math:`2 d_1 d_0 s` bytes).

**Matrix-free plans** (backend ``"jax"``; chains of :class:`~jacobench.Dense` layers
:math:`\varphi(W_\ell h + b_\ell)` with ``tanh``, as :func:`jacobench.mlp` builds): the
operations of :mod:`jacobench.timing.executor`, which follows the executor step by step (for our
own strategies the dense fast path of :mod:`jacobench.matrix_free.dense`: one product per layer
and pass, the primal computed once or carried along a thin tangent block as ``W [h | V]``,
identity seeds without a product; for ``"jacfwd"`` / ``"jacrev"``, ``jax.vmap`` of
``jax.jvp`` / ``jax.vjp``), as read from the compiled HLO:

* the primal: per layer, the product :math:`(d_\ell, d_{\ell-1}, 1)` and one ``tanh`` op over
  :math:`d_\ell` elements (for jacfwd / jacrev: once for the whole plan, XLA merges the copies);
* tangents through layer :math:`\ell`: the product :math:`(d_\ell, d_{\ell-1}, t)` and one
  element-wise op on the :math:`d_\ell \times t` block (times :math:`\varphi'`,
  :math:`2 d_\ell t\,s` bytes); adjoints: one element-wise op on the :math:`a \times d_\ell`
  block, then the product :math:`(a, d_\ell, d_{\ell-1})` (no transpose); an identity seed is
  one element-wise op (the fast path: ``D W`` itself, no product; jacfwd: the seed block);
* a batched pass is a loop: once, an op that zeroes the result; per batch, three loop-control
  ops (no bytes) and, for a seed that is a child's result, one op slicing its batch out; the
  batches that do not fill a whole ``batch`` run once more after the loop, without loop control;
* a ``multiply`` node: the product :math:`(d_{hi}, d_k, d_{lo-1})`;
* the call has one argument, ``x``; reading the weights is in the products' bytes, writing the
  result in the last op's;
* ``points`` > 1 (``jax.vmap`` over points): a product of a weight with a block is one product
  over every point's block (the points join its free dimension: tangent columns, adjoint rows,
  the primal's column), a product of two blocks is a batched product (``repeat`` products of its
  shape, one launch), element-wise work covers every point; ``jax.jacfwd``'s identity seed and
  its first product, ``W1 I``, do not depend on the point and are made once.

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

    On the hourglass ``(1000, 1000, 10, 1000, 1000)`` the optimal matrix-free plan,
    ``jvp(J4 J3) @ vjp(J2 J1)``, launches 15 operations: its three big products
    ``(10, 1000, 1000)``, ``(1000, 1000, 11)`` (``W4 [x3 | V]``: the primal rides along) and
    ``(1000, 10, 1000)`` take 20 ms each, the primal product of the first layer
    ``(1000, 1000, 1)`` 2 ms (its 4 MB take only 0.4 ms), the rest 2 ms. Forward mode does
    2,020 million multiply-adds by the MAC model, but the executor forms its first factor,
    ``D W1``, without a product: about 2 s:

    >>> mf = jb.plan_matrix_free((1000, 1000, 10, 1000, 1000))
    >>> len(operations(mf)), round(predict_seconds(mf, device) * 1e3, 1)
    (15, 64.1)
    >>> fwd = jb.plan_matrix_free(mf.widths, "forward")
    >>> round(predict_seconds(fwd, device), 2)
    2.05
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from ..errors import JacobenchError
from ..explicit import Plan
from ..matrix_free import MatrixFreePlan
from .executor import Op, matrix_free_ops
from .profile import DeviceProfile

__all__ = [
    "CLEAR_GAP",
    "Op",
    "explain",
    "footprint",
    "operations",
    "predict_seconds",
    "reuse_distances",
]

CLEAR_GAP = 1.2
"""Plans predicted less than this factor apart are a near tie: the model's errors are larger. On
the 2-core CPU this project measures on, such plans' measured order often flips with the
machine's state (paired contests of one chain seconds apart read 0.89-1.18); on some chains it
holds across runs and the model, whose curves vary between calibrations, misses it (reverse mode
wins the matrix-free 32-512^k-32 for k <= 11 in 78-97% of 38 runs; ``scripts/depth_ties.py``).
Every chain whose plans the model put at least this far apart was won by its pick, within 2%, in
every benchmark run since the side curves. The report and ``jacobench plan`` count such chains
apart."""


def predict_seconds(
    plan: Plan | MatrixFreePlan,
    profile: DeviceProfile,
    backend: str = "jax",
    dtype: str = "float32",
    points: int = 1,
) -> float:
    """Predicted seconds of one call running ``plan`` on the device ``profile`` describes.

    Args:
        plan: A plan of either engine (:func:`jacobench.plan`, :func:`jacobench.plan_matrix_free`).
        profile: The device's :class:`~jacobench.timing.DeviceProfile` (see
            :func:`jacobench.calibrate`).
        backend: ``"numpy"`` or ``"jax"`` for an explicit plan; ``"jax"`` for a matrix-free one.
        dtype: ``"float32"`` or ``"float64"``, the element type of the arrays.
        points: For a matrix-free plan, the per-example Jacobians of this many points in one
            call (``jax.vmap`` of :func:`jacobench.jacobian`); see
            :func:`jacobench.timing.executor.matrix_free_ops`.

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
    return float(sum(seconds for _, seconds in explain(plan, profile, backend, dtype, points)))


def explain(
    plan: Plan | MatrixFreePlan,
    profile: DeviceProfile,
    backend: str = "jax",
    dtype: str = "float32",
    points: int = 1,
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
    ops = operations(plan, backend, points)
    rates = profile.rates(backend)
    rates.rates(dtype)  # the dtype must be there
    size = np.dtype(dtype).itemsize
    seconds = np.full(len(ops), rates.op_overhead_s)
    products = [i for i, op in enumerate(ops) if op.kind == "matmul"]
    if products:
        m, k, n = np.array([ops[i].shape for i in products]).T
        repeat = np.array([ops[i].repeat for i in products])
        seconds[products] += repeat * profile.matmul_seconds(m, k, n, dtype, backend)
    whole = footprint(plan, points)
    for kind in ("elementwise", "tanh"):
        chosen = [i for i, op in enumerate(ops) if op.kind == kind]
        if chosen:
            elements = np.array([int(np.prod(ops[i].shape)) for i in chosen])
            moved = np.array([ops[i].moved for i in chosen]) * size
            alone = profile.elementwise_seconds(
                elements, moved, dtype, backend, transcendental=kind == "tanh"
            )
            streamed = moved * rates.stream_seconds_per_byte(whole * size)
            seconds[chosen] += np.maximum(alone, streamed)
    for i, read, far in _reads(ops, whole):
        side = _side(ops[i], read)
        seconds[i] += read * size * rates.weight_seconds_per_byte(far * size, side)
    n_args = plan.n_layers if isinstance(plan, Plan) else 1
    call = rates.call_overhead_s + (n_args - 1) * rates.arg_overhead_s
    out = list(zip(ops, (float(s) for s in seconds), strict=True))
    out.append((Op("control", (), 0, "call"), call))
    return out


def reuse_distances(ops: list[Op], whole: int) -> tuple[np.ndarray, np.ndarray]:
    """Per op, the elements of the call's inputs it reads and how far back they were last read.

    The distance of a read is the elements of other inputs read since the same input last was
    (each counted once); an input's first read in the call comes after everything the previous
    call ran through, ``whole`` elements (:func:`footprint`). An op reading two inputs (an
    explicit product of two given Jacobians) gets the read-weighted mean distance.

    Example:
        Reverse mode on ``(6, 5, 4)``: the primal reads ``W1`` (30) and ``W2`` (20); the
        adjoints take rows of ``D W2`` (20, read just before: distance 0) and read ``W1`` again,
        after ``W2``'s 20:

        >>> import jacobench as jb
        >>> ops = operations(jb.plan_matrix_free((6, 5, 4), "reverse"))
        >>> reads, far = reuse_distances(ops, 74)
        >>> [(int(r), int(d)) for r, d in zip(reads, far, strict=True) if r]
        [(30, 74), (20, 74), (20, 0), (30, 20)]
    """
    reads = np.zeros(len(ops))
    distances = np.zeros(len(ops))
    for i, elements, far in _reads(ops, whole):
        distances[i] += elements * far
        reads[i] += elements
    return reads, np.divide(distances, reads, out=np.zeros(len(ops)), where=reads > 0)


def _reads(ops: list[Op], whole: int) -> list[tuple[int, int, int]]:
    """``(op index, elements, distance)`` of every read of a call's input, in order."""
    out = []
    slots = sum(len(op.reads) for op in ops)
    tree = [0] * (slots + 1)  # a Fenwick tree: elements of each input's latest read, by slot

    def add(slot: int, value: int) -> None:
        while slot <= slots:
            tree[slot] += value
            slot += slot & -slot

    def upto(slot: int) -> int:
        total = 0
        while slot > 0:
            total += tree[slot]
            slot -= slot & -slot
        return total

    latest: dict[int, tuple[int, int]] = {}  # input -> (slot, elements) of its latest read
    slot = 0
    for i, op in enumerate(ops):
        for source, elements in op.reads:
            slot += 1
            if source in latest:
                before, held = latest[source]
                far = upto(slot - 1) - upto(before)  # reads of other inputs since, each once
                add(before, -held)
            else:
                far = whole
            latest[source] = (slot, elements)
            add(slot, elements)
            out.append((i, elements, far))
    return out


def _side(op: Op, elements: int) -> str:
    """Which weight-read curve a read of ``elements`` by ``op`` follows.

    A product (not a matrix-vector one) reads its weight on the ``"left"`` (``m x k``, as a
    tangent pass) or the ``"right"`` (``k x n``, as an adjoint pass); a read matching both
    sizes counts as the left one. Everything else reads as a matrix-vector product does.
    """
    if op.kind != "matmul":
        return "vector"
    m, k, n = op.shape
    if min(m, n) == 1:
        return "vector"
    return "left" if elements == m * k else "right"


def footprint(plan: Plan | MatrixFreePlan, points: int = 1) -> int:
    """Elements a call runs through: its inputs (layer Jacobians or weights) and its result.

    The result is the Jacobians of ``points`` points. Between two reads of an input, in
    successive calls, all of this passes through the caches; where it does not fit, the input
    is read from memory again (:attr:`Op.reads`, :func:`reuse_distances`).

    Example:
        >>> import jacobench as jb
        >>> footprint(jb.plan((3, 4, 2))), footprint(jb.plan_matrix_free((3, 4, 2)), points=5)
        (26, 50)
    """
    d = plan.widths
    return sum(a * b for a, b in pairwise(d)) + points * d[0] * d[-1]


def operations(plan: Plan | MatrixFreePlan, backend: str = "jax", points: int = 1) -> list[Op]:
    """The operations the executor launches for ``plan`` on ``backend``, in order.

    ``points``: for a matrix-free plan, ``jax.vmap`` of it over that many points.

    Raises:
        JacobenchError: For a backend the plan cannot run on, or ``points`` that is not a
            positive int (or is not 1 for an explicit plan, which has no points).

    Example:
        >>> import jacobench as jb
        >>> for op in operations(jb.plan_matrix_free((3, 4), "jacfwd")):
        ...     print(f"{op.kind:<12} {op.shape!s:<12} {op.label}")
        matmul       (4, 3, 1)    primal layer 1
        tanh         (4,)         primal layer 1: tanh
        elementwise  (3, 3)       tangents J1: seed
        matmul       (4, 3, 3)    tangents J1: layer 1
        elementwise  (4, 3)       tangents J1: layer 1, times tanh'
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise JacobenchError(f"points is {points!r}, expected a positive int")
    if isinstance(plan, Plan):
        if points != 1:
            raise JacobenchError(
                f"points is {points}, expected 1: an explicit plan multiplies given Jacobians"
            )
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
        return matrix_free_ops(plan, points)
    raise JacobenchError(
        f"plan is {type(plan).__name__}, expected a jacobench.Plan or jacobench.MatrixFreePlan"
    )


def _explicit_ops(plan: Plan, backend: str) -> list[Op]:
    d = plan.widths
    if not plan.schedule:
        if backend == "numpy":
            return []
        copy = d[1] * d[0]
        reads = ((1, copy),)
        return [Op("elementwise", (d[1], d[0]), 2 * copy, "copy J1 to the output", 1, reads)]
    ops = []
    for (lo_l, hi), (lo, k) in plan.schedule:
        m, kk, n = d[hi], d[k], d[lo - 1]
        given: tuple[tuple[int, int], ...] = ((hi, m * kk),) if hi == lo_l else ()  # given J_l
        given += ((lo, kk * n),) if k == lo else ()
        moved = m * kk + kk * n + m * n
        ops.append(Op("matmul", (m, kk, n), moved, _product(hi, lo_l, k, lo), 1, given))
    return ops


def _product(hi: int, lo_l: int, k: int, lo: int) -> str:
    def name(a: int, b: int) -> str:
        return f"J{a}" if a == b else f"J{a}..{b}"

    return f"product {name(hi, lo_l)} @ {name(k, lo)}"
