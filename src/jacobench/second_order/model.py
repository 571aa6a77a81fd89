r"""Cost and memory of Hessian-vector products and Hessians of a scalar chain, and the optimal plan.

A chain :math:`f = f_L \circ \dots \circ f_1` with widths :math:`(d_0, \dots, d_L)` and
:math:`d_L = 1` is a scalar function of :math:`x \in \mathbb{R}^{d_0}`. Write :math:`h_k` for
the activation after layer :math:`k` (*interface* :math:`k`, width :math:`d_k`; :math:`h_0 = x`),
:math:`c_l = d_l d_{l-1}` for the multiply-adds (MACs) of one tangent or one adjoint through the
dense layer :math:`l` -- the counting convention of the first-order matrix-free engine -- and
:math:`S(i, j) = \sum_{l=i+1}^{j} c_l` for the segment of layers :math:`i+1 .. j`, :math:`S = S(0,
L)`. Element-wise work (activations and their first and second derivatives) is not counted. Unlike
the first-order model, the primal pass is counted (:math:`S`): with one vector it is a quarter of
the work.

**What JAX executes** (for dense layers :math:`z_l = W_l h_{l-1} + b_l`, :math:`h_l =
\varphi(z_l)`; checked against XLA's ``cost_analysis`` in the tests). A gradient is a primal pass
(:math:`W_l h_{l-1}`, :math:`S`) and an adjoint pass :math:`\bar a_{l-1} = W_l^T (\varphi'(z_l)
\odot \bar a_l)` (:math:`S`): :math:`2S`. A Hessian-vector product costs two gradients less one
layer, :math:`4S - c_1`, in every mode:

* ``fwd-over-rev`` (``jax.jvp(jax.grad(f))``): the primal and one tangent :math:`\dot z_l = W_l
  \dot h_{l-1}` forward (:math:`2S`), the adjoint and its tangent :math:`\dot{\bar a}_{l-1} =
  W_l^T(\varphi''(z_l) \dot z_l \bar a_l + \varphi'(z_l) \dot{\bar a}_l)` back (:math:`2S`). The
  gradient :math:`\bar a_0` itself is not returned, so XLA drops its last product: :math:`-c_1`.
* ``rev-over-fwd`` (``jax.grad`` of :math:`x \mapsto \langle \nabla f(x), v\rangle` made by
  ``jax.jvp``): primal and tangent forward (:math:`2S`); back through the tangent chain
  (:math:`S - c_1`: its last product is the derivative in :math:`v`, not asked for) and the primal
  chain (:math:`S`).
* ``rev-over-rev`` (``jax.grad`` of :math:`x \mapsto \langle \nabla f(x), v\rangle` made by
  ``jax.grad``): the gradient (:math:`2S - c_1`: :math:`\bar a_0` only feeds the scalar, whose
  value is not returned), then reverse mode through it: the adjoints of the adjoints run forward
  (:math:`W_l b_{l-1}`, :math:`S`), then back through the primal chain (:math:`S`).

A Hessian by a mode over the identity (``jax.vmap`` of the HVP over the :math:`n = d_0` columns of
:math:`I`) computes once what does not depend on the seed -- the primal pass and the gradient,
:math:`2S - c_1` -- and :math:`n` times the rest, :math:`2nS`: :math:`2nS + 2S - c_1`, in all
three modes. ``jax.hessian`` is ``jacfwd(jacrev(f))``, fwd-over-rev over the identity. The
identity seed's first product :math:`W_1 I` is paid, as in the first-order model.
``fwd-over-fwd`` (``jacfwd(jacfwd(f))``) pushes :math:`n` tangents, :math:`n` more, and their
:math:`n^2` second-order tangents (zero into layer 1, whose input is linear in :math:`x`):
:math:`S + 2nS + n^2 (S - c_1)`.

**The optimal Hessian** (Hessian chain bracketing, Naumann and co-authors). Split :math:`f = g
\circ h` at interface :math:`k`, :math:`h: \mathbb{R}^{d_0} \to \mathbb{R}^{d_k}`. Then

.. math:: \nabla^2 f = J_h^T \nabla^2 g\, J_h + \nabla^2(\bar a^T h),
   \qquad \bar a = \nabla g(h(x)).

Computed term by term this does not pay: :math:`\nabla^2(\bar a^T h)` is the Hessian of the scalar
chain :math:`(d_0, \dots, d_k, 1)`, as dear as a sweep through :math:`h` with :math:`d_0`
tangents (:math:`2 d_0 S(0, k)`), and :math:`J_h` and two products come on top. But the
fwd-over-rev sweep through :math:`h` computes both terms at once: its forward tangents at
interface :math:`k` *are* :math:`J_h` (:math:`d_0` columns), and the backward tangent recursion
:math:`\dot{\bar a}_{l-1} = W_l^T(\varphi'' \dot z_l \bar a_l + \varphi' \dot{\bar a}_l)` is linear
in its seed :math:`\dot{\bar a}_k`, which for :math:`f` is the tangent of :math:`\nabla g(h(x))`,
:math:`\nabla^2 g\, J_h`. Seeding the sweep there with :math:`\nabla^2 g\, J_h` (:math:`d_k^2 d_0`
MACs) instead of pushing the :math:`d_0` tangents on through :math:`g` replaces :math:`2 d_0 S(k,
L)` by :math:`2 d_k S(k, L) + d_k^2 d_0`. The same holds inside :math:`g` and inside :math:`h`
(the second-order term of :math:`h = h_2 \circ h_1` splits the same way, with :math:`\bar a^T h_2`
for :math:`g`), so a plan is a set of interfaces :math:`0 < k_1 < \dots < k_m < L` at which the
Hessian of the rest of the chain, :math:`H_k = \nabla^2 (f_L \circ \dots \circ f_{k+1})(h_k)`, is
formed as a :math:`d_k \times d_k` matrix:

* the top segment :math:`k_m .. L`: :math:`H_{k_m}` by :math:`d_{k_m}` tangents forward and back,
  :math:`2 d_{k_m} S(k_m, L)`;
* each lower segment :math:`i .. j` (:math:`i = k_{s-1}`, :math:`j = k_s`, :math:`k_0 = 0`):
  :math:`H_i` by :math:`d_i` tangents forward through it, the seed :math:`H_j J`, and back:
  :math:`2 d_i S(i, j) + d_j^2 d_i`;

plus the primal pass and gradient, :math:`2S - c_1`, once. With no split this is fwd-over-rev
over the identity, so the optimum never costs more than ``jax.hessian``.
:func:`jacobench.second_order.search.optimal_splits` finds the cheapest set by dynamic programming
over interfaces, :math:`O(L^2)`:
:math:`C(i) = \min(2 d_i S(i, L),\ \min_{i<j<L} C(j) + 2 d_i S(i, j) + d_j^2 d_i)`, total
:math:`2S - c_1 + C(0)`.

**Memory** (elements held at once; weights, :math:`x` and :math:`v` excluded, the result
included). Write :math:`A = \sum_{l=0}^{L} d_l`, and for a segment :math:`i .. j` its interior
:math:`\sum_{l=i+1}^{j-1} d_l` and widest interior width :math:`\max_{i<l<j} d_l` (0 for one layer).
An HVP holds every activation twice over -- the primal and its tangent (``fwd-over-rev``,
``rev-over-fwd``) or its adjoint (``rev-over-rev``) -- plus a working vector: :math:`2A +
\max_l d_l`. Under XLA the three modes hold the same (the benchmark measures it). A sweep of
:math:`t` tangents through a segment keeps a tangent block at every interior interface, plus one
working block at the widest and the :math:`t \times d_i` result: :math:`t\,(\text{interior} +
\text{widest}) + t d_i`; a seeded sweep also holds :math:`H_j` and the blocks :math:`J` and
:math:`H_j J`, :math:`d_j^2 + 2 t d_j`. The primal activations and the gradient, :math:`2A`, are
held throughout. ``fwd-over-fwd`` has no backward sweep, so it keeps no tangents: it holds the
blocks going into and out of a layer, :math:`n` tangents in two directions and their :math:`n^2`
second-order tangents (from layer 2 on), :math:`A + 2n P + n^2 P_2 + n^2` with :math:`P =
\max_l (d_{l-1} + d_l)` and :math:`P_2` the same over layers 2..L.

Example:
    The chain ``(4, 4, 1, 16, 16, 1)`` has :math:`c = (16, 4, 16, 256, 16)`, :math:`S = 308`. One
    HVP costs :math:`4 \cdot 308 - 16 = 1216` MACs. ``jax.hessian`` costs :math:`2 \cdot 4 \cdot
    308 + 2 \cdot 308 - 16 = 3064`. Splitting at the width-1 interface 2: :math:`H_2` by one
    tangent through layers 3..5, :math:`2 \cdot 1 \cdot 288 = 576`; :math:`H_0` by 4 tangents
    through layers 1..2, :math:`2 \cdot 4 \cdot 20 = 160`, plus the seed :math:`1 \cdot 1 \cdot 4
    = 4`; plus :math:`2S - c_1 = 600`: 1,340 MACs, 2.3 times fewer.

    >>> hvp_macs((4, 4, 1, 16, 16, 1)), hessian_macs((4, 4, 1, 16, 16, 1), "fwd-over-rev")
    (1216, 3064)
    >>> splits_macs((4, 4, 1, 16, 16, 1), (2,)), format_splits((2,), 5)
    (1340, 'hess(J2 J1, seed=hess(J5 J4 J3))')

    :func:`jacobench.second_order.search.optimal_splits` finds that split.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

from .._core import PlanStep, check_layers, span_label, validate_widths
from ..errors import JacobenchError

__all__ = [
    "HESSIAN_MODES",
    "HVP_MODES",
    "format_splits",
    "hessian_macs",
    "hessian_steps",
    "hvp_macs",
    "hvp_steps",
    "segment_macs",
    "splits_macs",
    "splits_peak",
    "splits_steps",
    "sweep_held",
    "validate_scalar_widths",
    "validate_splits",
]

HVP_MODES = ("fwd-over-rev", "rev-over-fwd", "rev-over-rev")
"""The Hessian-vector product modes, each a composition of ``jax.jvp`` / ``jax.grad``."""

HESSIAN_MODES = (*HVP_MODES, "fwd-over-fwd")
"""The Hessian strategies that ignore the chain's structure (each over an identity seed)."""


def validate_scalar_widths(widths: object) -> tuple[int, ...]:
    """Check ``widths`` (as :func:`jacobench.cost.validate_widths`) and that ``d_L`` is 1.

    Raises:
        JacobenchError: For bad widths, or a last width that is not 1 (second order here is for
            scalar functions; the message says how to make one).

    Example:
        >>> validate_scalar_widths([3, 4, 1])
        (3, 4, 1)
        >>> validate_scalar_widths((3, 4, 2))
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: second order needs a scalar function, but the last width \
d_L is 2 (widths (3, 4, 2)), expected 1; sum the outputs or pick one, e.g. a last layer lambda h: \
h.sum(keepdims=True) or lambda h: h[:1]
    """
    d = validate_widths(widths)
    if d[-1] != 1:
        raise JacobenchError(
            f"second order needs a scalar function, but the last width d_L is {d[-1]} "
            f"(widths {d}), expected 1; sum the outputs or pick one, e.g. a last layer "
            "lambda h: h.sum(keepdims=True) or lambda h: h[:1]"
        )
    return d


def segment_macs(d: tuple[int, ...], i: int, j: int) -> int:
    """``S(i, j)``: MACs of one tangent or adjoint through layers ``i+1 .. j`` (trusted input)."""
    return sum(d[k] * d[k - 1] for k in range(i + 1, j + 1))


def _interior(d: tuple[int, ...], i: int, j: int) -> tuple[int, int]:
    """(sum, max) of the widths strictly inside interfaces ``i .. j`` (0, 0 for one layer)."""
    inner = d[i + 1 : j]
    return sum(inner), max(inner, default=0)


def sweep_held(d: tuple[int, ...], i: int, j: int, seeded: bool) -> int:
    """Elements a sweep of ``d_i`` tangents through ``i .. j`` holds, the result included.

    Example:
        >>> sweep_held((4, 4, 1, 16, 16, 1), 2, 5, seeded=False)  # 1 * (32 + 16) + 1
        49
    """
    t = d[i]
    total, widest = _interior(d, i, j)
    held = t * (total + widest) + t * t
    return held + (d[j] * d[j] + 2 * t * d[j] if seeded else 0)


# --- Hessian-vector products --------------------------------------------------------------------


def hvp_macs(widths: Sequence[int], mode: str = "fwd-over-rev") -> int:
    """Multiply-adds of one Hessian-vector product, ``4 S - c_1`` in every mode.

    Example:
        >>> hvp_macs((3, 4, 1))  # S = 12 + 4 = 16; 4 * 16 - 12
        52
    """
    return sum(step.macs for step in hvp_steps(widths, mode))


def hvp_steps(widths: Sequence[int], mode: str) -> tuple[PlanStep, ...]:
    """The steps of one HVP in ``mode`` (one of :data:`HVP_MODES`), as JAX executes them.

    Example:
        >>> [step.macs for step in hvp_steps((3, 4, 1), "rev-over-rev")]
        [16, 4, 16, 16]
    """
    d = validate_scalar_widths(widths)
    if mode not in HVP_MODES:
        raise JacobenchError(f"unknown mode {mode!r}; valid options are {sorted(HVP_MODES)}")
    return _hvp_steps(d, mode)


@lru_cache(maxsize=256)
def _hvp_steps(d: tuple[int, ...], mode: str) -> tuple[PlanStep, ...]:
    n_layers, s, c1, acts = len(d) - 1, segment_macs(d, 0, len(d) - 1), d[0] * d[1], sum(d)
    up, down = f"through {_label(1, n_layers, True)}", f"through {_label(1, n_layers, False)}"
    peak = 2 * acts + max(d)
    if mode == "rev-over-rev":
        return (
            PlanStep(f"forward: primal {up}, kept", s, acts),
            PlanStep(f"back: gradient {down}, kept", s - c1, 2 * acts),
            PlanStep(f"forward: adjoints of its adjoints {up}", s, peak),
            PlanStep(f"back: adjoint of the primal chain {down} -> Hv", s, peak),
        )
    back = "adjoint and its tangent" if mode == "fwd-over-rev" else "adjoints of both chains"
    return (
        PlanStep(f"forward: primal and 1 tangent {up}, kept", 2 * s, 2 * acts),
        PlanStep(f"back: {back} {down} -> Hv", 2 * s - c1, peak),
    )


# --- Hessians by a mode over the identity ------------------------------------------------------


def hessian_macs(widths: Sequence[int], mode: str) -> int:
    """Multiply-adds of the Hessian by ``mode`` (one of :data:`HESSIAN_MODES`) over the identity.

    Example:
        >>> hessian_macs((3, 4, 1), "fwd-over-rev")  # 2 * 3 * 16 + 2 * 16 - 12
        116
        >>> hessian_macs((3, 4, 1), "fwd-over-fwd")  # 16 + 2 * 3 * 16 + 9 * (16 - 12)
        148
    """
    return sum(step.macs for step in hessian_steps(widths, mode))


def hessian_steps(widths: Sequence[int], mode: str) -> tuple[PlanStep, ...]:
    """The steps of the Hessian by ``mode`` over the identity (see the module docstring).

    Example:
        >>> [step.macs for step in hessian_steps((3, 4, 1), "rev-over-fwd")]
        [16, 48, 4, 48]
    """
    d = validate_scalar_widths(widths)
    if mode not in HESSIAN_MODES:
        raise JacobenchError(f"unknown mode {mode!r}; valid options are {sorted(HESSIAN_MODES)}")
    return _hessian_steps(d, mode)


@lru_cache(maxsize=256)
def _hessian_steps(d: tuple[int, ...], mode: str) -> tuple[PlanStep, ...]:
    n_layers, n = len(d) - 1, d[0]
    s, c1, acts = segment_macs(d, 0, n_layers), d[0] * d[1], sum(d)
    up, down = f"through {_label(1, n_layers, True)}", f"through {_label(1, n_layers, False)}"
    interior, widest = _interior(d, 0, n_layers)
    primal = PlanStep(f"forward: primal {up}, kept", s, acts)
    tangents = _count(n, "tangent")
    if mode == "fwd-over-fwd":  # forward only: the working blocks of a layer, nothing kept
        pair = max(d[k - 1] + d[k] for k in range(1, n_layers + 1))
        pair2 = max((d[k - 1] + d[k] for k in range(2, n_layers + 1)), default=0)
        first = acts + 2 * n * pair
        return (
            primal,
            PlanStep(f"forward: {tangents} (identity) {up}", n * s, acts + n * pair),
            PlanStep(f"forward: {tangents} more (identity) {up}", n * s, first),
            PlanStep(
                f"forward: {n * n} second-order tangents {up} -> H",
                n * n * (s - c1),
                first + n * n * pair2 + n * n,
            ),
        )
    held = 2 * acts + n * (interior + widest) + n * n
    if mode == "rev-over-fwd":  # the tangent chain's adjoint does not depend on the seed: once
        return (
            primal,
            PlanStep(f"forward: {tangents} (identity) {up}, kept", n * s, acts + n * interior),
            PlanStep(f"back: adjoint of the tangent chain {down}", s - c1, 2 * acts + n * interior),
            PlanStep(f"back: {_count(n, 'adjoint')} of the primal chain {down} -> H", n * s, held),
        )
    if mode == "rev-over-rev":
        forward = f"forward: {_count(n, 'adjoint')} of the gradient's adjoints (identity) {up}"
        backward = f"back: {_count(n, 'adjoint')} of the primal chain {down} -> H"
    else:
        forward = f"forward: {tangents} (identity) {up}, kept"
        backward = f"back: {_count(n, 'adjoint-tangent')} {down} -> H"
    return (
        primal,
        PlanStep(f"back: gradient {down}, kept", s - c1, 2 * acts),
        PlanStep(forward, n * s, 2 * acts + n * interior),
        PlanStep(backward, n * s, held),
    )


# --- split plans (the optimal Hessian) ---------------------------------------------------------


def validate_splits(splits: object, n_layers: int) -> tuple[int, ...]:
    """Check a set of split interfaces: increasing ints strictly between 0 and ``n_layers``.

    Example:
        >>> validate_splits([2, 4], 5)
        (2, 4)
    """
    what = (
        f"splits must be increasing interfaces k with 0 < k < {n_layers} (the number of layers), "
        f"e.g. (2,), got {splits!r}"
    )
    if isinstance(splits, str | bytes):
        raise JacobenchError(what)
    try:
        items: tuple[object, ...] = tuple(splits)  # type: ignore[arg-type]
    except TypeError:
        raise JacobenchError(what) from None
    ks = [k for k in items if isinstance(k, int) and not isinstance(k, bool) and 0 < k < n_layers]
    if len(ks) != len(items) or any(a >= b for a, b in pairwise(ks)):
        raise JacobenchError(what)
    return tuple(ks)


def splits_macs(widths: Sequence[int], splits: Sequence[int]) -> int:
    """Multiply-adds of the Hessian formed at the interfaces ``splits`` (see the module docstring).

    Example:
        >>> splits_macs((4, 4, 1, 16, 16, 1), ()) == hessian_macs((4, 4, 1, 16, 16, 1), "fwd-over-rev")
        True
    """  # noqa: E501
    return sum(step.macs for step in splits_steps(widths, splits))


def splits_peak(widths: Sequence[int], splits: Sequence[int]) -> int:
    """Peak elements held by the Hessian formed at the interfaces ``splits``.

    Example:
        On ``(4, 4, 1, 16, 16, 1)`` split at 2 the primal activations and the gradient hold
        ``2A = 84``; forming ``H_2`` one tangent holds ``1 * (32 + 16) + 1 = 49`` more; forming
        ``H_0`` four tangents hold ``4 * (4 + 4) + 16`` and the seed ``1 + 2 * 4``, 57 more:

        >>> splits_peak((4, 4, 1, 16, 16, 1), (2,))
        141
    """
    return max(step.held for step in splits_steps(widths, splits))


def splits_steps(widths: Sequence[int], splits: Sequence[int]) -> tuple[PlanStep, ...]:
    """The steps of the Hessian formed at the interfaces ``splits``, in order.

    Example:
        >>> [step.macs for step in splits_steps((4, 4, 1, 16, 16, 1), (2,))]
        [308, 292, 576, 164]
    """
    d = validate_scalar_widths(widths)
    return _splits_steps(d, validate_splits(splits, len(d) - 1))


@lru_cache(maxsize=1024)
def _splits_steps(d: tuple[int, ...], splits: tuple[int, ...]) -> tuple[PlanStep, ...]:
    n_layers = len(d) - 1
    s, acts = segment_macs(d, 0, n_layers), sum(d)
    steps = [
        PlanStep(f"forward: primal through {_label(1, n_layers, True)}, kept", s, acts),
        PlanStep(
            f"back: gradient through {_label(1, n_layers, False)}, kept", s - d[0] * d[1], 2 * acts
        ),
    ]
    ks = (0, *splits, n_layers)
    for i, j in reversed(list(pairwise(ks))):
        t, seeded = d[i], j < n_layers
        macs = 2 * t * segment_macs(d, i, j) + (d[j] * d[j] * t if seeded else 0)
        seed = f", seed=H{j} J" if seeded else ""
        action = f"H{i} = hess({_label(i + 1, j, False)}{seed}): {_count(t, 'tangent')}"
        steps.append(PlanStep(action, macs, 2 * acts + sweep_held(d, i, j, seeded)))
    return tuple(steps)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _label(lo: int, hi: int, up: bool) -> str:
    """Layers ``lo..hi`` as a product, ``J3 J2 J1`` (or ``J9..J1``), or upwards ``J1 J2 J3``."""
    if not up:
        return span_label(lo, hi)
    return " ".join(f"J{k}" for k in range(lo, hi + 1)) if hi - lo < 3 else f"J{lo}..J{hi}"


def format_splits(splits: Sequence[int], n_layers: int) -> str:
    """The Hessian formed at ``splits`` as a formula; the innermost ``hess`` is formed first.

    Example:
        >>> format_splits((2,), 5)
        'hess(J2 J1, seed=hess(J5 J4 J3))'
        >>> format_splits((), 3)
        'hess(J3 J2 J1)'
    """
    ks = (0, *validate_splits(splits, check_layers(n_layers)), n_layers)
    text = ""
    for i, j in reversed(list(pairwise(ks))):
        layers = " ".join(f"J{k}" for k in range(j, i, -1))
        text = f"hess({layers}{', seed=' + text if text else ''})"
    return text
