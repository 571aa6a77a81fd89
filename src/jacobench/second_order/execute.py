r"""Run second-order plans: Hessian-vector products and Hessians of a scalar :class:`Chain`.

The HVP modes are JAX's own compositions of ``jax.jvp`` and ``jax.grad`` of the whole chain; a
Hessian by a mode maps the HVP over the columns of an identity with ``jax.vmap`` (so what does not
depend on the seed -- the primal pass and the gradient -- runs once). The optimal Hessian forms
:math:`H_k`, the Hessian of the rest of the chain at interface :math:`k`, at the plan's split
interfaces, from the top down: the top one by fwd-over-rev over the identity, each lower one by
fwd-over-rev through its segment whose seed at the interface above, :math:`\bar a_j`, carries the
tangent :math:`H_j \dot h_j` (a ``jax.custom_jvp``); see :mod:`jacobench.second_order.model`.
A plan without splits is fwd-over-rev over the identity, ``jax.hessian``'s own plan, and runs as
``jax.hessian``.

Everything runs eagerly, under ``jax.jit`` (plans are made at trace time from the static widths,
and cached) and under ``jax.vmap`` over ``x`` (and ``v``).

Example:
    >>> import jax.numpy as jnp
    >>> from jacobench.chain import mlp
    >>> net = mlp((3, 4, 1), seed=0)
    >>> x = jnp.array([0.1, -0.2, 0.3])
    >>> H = hessian(net, x)
    >>> bool(jnp.allclose(hvp(net, x, jnp.array([1.0, 0.0, 0.0])), H[:, 0], atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from ..chain import Chain, check_point
from ..errors import JacobenchError
from ..units import resolve_dtype
from .plans import HessianPlan, plan_hessian, plan_hvp

__all__ = ["hessian", "hvp"]


def hvp(chain: Chain, x: Any, v: Any, mode: str = "fwd-over-rev") -> Any:
    r"""The Hessian-vector product :math:`\nabla^2 f(x)\, v` of a scalar chain.

    Args:
        chain: A :class:`~jacobench.chain.Chain` whose last width is 1.
        x: A ``(d_0,)`` vector of a floating dtype.
        v: A ``(d_0,)`` vector of the same dtype.
        mode: ``"fwd-over-rev"`` (``jax.jvp`` of ``jax.grad``, the default), ``"rev-over-fwd"``
            (``jax.grad`` of a ``jax.jvp``) or ``"rev-over-rev"`` (``jax.grad`` of
            :math:`\langle \nabla f, v\rangle`); any case. All cost about two gradients (see
            :func:`jacobench.second_order.plan_hvp`).

    Returns:
        :math:`H v`, a ``(d_0,)`` array.

    Raises:
        JacobenchError: For a chain whose last width is not 1, an unknown mode, or ``x`` or
            ``v`` of the wrong shape or dtype.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jacobench.chain import mlp
        >>> net = mlp((3, 4, 1), seed=0)
        >>> x, v = jnp.array([0.1, -0.2, 0.3]), jnp.array([1.0, 2.0, 0.5])
        >>> hv = hvp(net, x, v, "rev-over-rev")
        >>> ref = jax.jvp(jax.grad(lambda y: net(y)[0]), (x,), (v,))[1]
        >>> bool(jnp.allclose(hv, ref, atol=1e-5))
        True
    """
    plan = plan_hvp(_widths_of(chain), mode)
    x = check_point(chain, x, "derivatives")
    v = _check_v(chain, x, v)
    chain.check_shapes(x.dtype)
    return _HVP[plan.strategy](_scalar(chain), x, v)


def hessian(
    chain: Chain,
    x: Any,
    strategy: str | tuple[int, ...] | HessianPlan = "optimal",
    *,
    memory_budget: int | str | None = None,
) -> Any:
    """The ``(d_0, d_0)`` Hessian of a scalar chain at ``x``.

    Args:
        chain: A :class:`~jacobench.chain.Chain` whose last width is 1.
        x: A ``(d_0,)`` vector of a floating dtype.
        strategy: A name in :data:`jacobench.second_order.STRATEGIES` (any case): ``"optimal"``
            (the default: the Hessian formed at the cheapest split interfaces),
            ``"fwd-over-rev"``, ``"rev-over-fwd"``, ``"rev-over-rev"`` (each mapped over an
            identity seed), ``"fwd-over-fwd"``, or ``"jax.hessian"`` (JAX's own); or a tuple of
            split interfaces, or a :class:`HessianPlan` for the chain's widths.
        memory_budget: ``None``, or the most bytes the plan may hold at once, as in
            :func:`jacobench.second_order.plan_hessian` (elements of ``x``'s dtype):
            ``"optimal"`` becomes the cheapest split plan that fits; anything else must fit.

    Returns:
        The Hessian, a ``(d_0, d_0)`` array.

    Raises:
        JacobenchError: For a chain whose last width is not 1, an unknown strategy, a plan for
            other widths, ``x`` of the wrong shape or dtype, or a plan that does not fit.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jacobench.chain import mlp
        >>> net = mlp((4, 4, 1, 16, 16, 1), seed=0)
        >>> x = jnp.linspace(-1.0, 1.0, 4)
        >>> H = jax.jit(lambda y: hessian(net, y))(x)     # split at the width-1 interface 2
        >>> bool(jnp.allclose(H, jax.hessian(lambda y: net(y)[0])(x), atol=1e-5))
        True
    """
    widths = _widths_of(chain)
    if isinstance(strategy, HessianPlan):
        if strategy.widths != widths:
            raise JacobenchError(
                f"plan is for widths {strategy.widths}, expected the chain's widths {widths}"
            )
        chosen = strategy
    else:
        chosen = plan_hessian(widths, strategy)
    x = check_point(chain, x, "derivatives")
    chain.check_shapes(x.dtype)
    if memory_budget is not None:
        # A given plan must fit as it is (its splits, not a new search); a name is replanned.
        again = strategy if not isinstance(strategy, HessianPlan) else chosen.splits
        if again is None:
            again = chosen.strategy
        plan_hessian(widths, again, memory_budget=memory_budget, dtype=resolve_dtype(x.dtype))
        if not isinstance(strategy, HessianPlan):
            chosen = plan_hessian(
                widths, strategy, memory_budget=memory_budget, dtype=resolve_dtype(x.dtype)
            )
    f = _scalar(chain)
    if chosen.strategy == "jax.hessian" or chosen.splits == ():  # no split: jax.hessian's plan
        import jax

        return jax.hessian(f)(x)
    if chosen.strategy == "fwd-over-fwd":
        import jax

        return jax.jacfwd(jax.jacfwd(f))(x)
    if chosen.splits is not None:
        return _split_hessian(chain, x, chosen.splits)
    mode = _HVP[chosen.strategy]
    return _over_identity(lambda t: mode(f, x, t), x)


# --- checks -------------------------------------------------------------------------------------


def _widths_of(chain: object) -> tuple[int, ...]:
    if not isinstance(chain, Chain):
        raise JacobenchError(
            f"chain is {type(chain).__name__}, expected a jacobench.Chain (wrap your layer "
            "functions with jacobench.Chain(layers, widths))"
        )
    return chain.widths


def _check_v(chain: Chain, x: Any, v: Any) -> Any:
    import jax.numpy as jnp

    v = jnp.asarray(v)
    if tuple(v.shape) != tuple(x.shape):
        raise JacobenchError(
            f"v has shape {tuple(v.shape)}, expected {tuple(x.shape)} like x (the chain's input "
            f"width d_0 = {chain.widths[0]}); use jax.vmap for a batch of vectors"
        )
    if v.dtype != x.dtype:
        raise JacobenchError(
            f"v has dtype {v.dtype}, expected x's dtype {x.dtype}; convert it, e.g. "
            f"v.astype(x.dtype)"
        )
    return v


# --- the modes ----------------------------------------------------------------------------------


def _scalar(chain: Chain) -> Callable[[Any], Any]:
    def f(y: Any) -> Any:
        return chain(y)[0]

    return f


def _fwd_over_rev(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    import jax

    return jax.jvp(jax.grad(f), (x,), (v,))[1]


def _rev_over_fwd(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    import jax

    return jax.grad(lambda y: jax.jvp(f, (y,), (v,))[1])(x)


def _rev_over_rev(f: Callable[[Any], Any], x: Any, v: Any) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda y: jnp.vdot(jax.grad(f)(y), v))(x)


_HVP: dict[str, Callable[[Callable[[Any], Any], Any, Any], Any]] = {
    "fwd-over-rev": _fwd_over_rev,
    "rev-over-fwd": _rev_over_fwd,
    "rev-over-rev": _rev_over_rev,
}


def _over_identity(column: Callable[[Any], Any], x: Any) -> Any:
    """``column(e_i)`` for every column of the identity, side by side (``jax.vmap``)."""
    import jax
    import jax.numpy as jnp

    return jax.vmap(column, in_axes=1, out_axes=1)(jnp.eye(x.shape[0], dtype=x.dtype))


# --- the optimal Hessian ------------------------------------------------------------------------


def _segment(chain: Chain, i: int, j: int) -> Callable[[Any], Any]:
    """Layers ``i+1 .. j``: interface ``i`` to interface ``j``."""
    layers = chain.layers[i:j]

    def f(h: Any) -> Any:
        for layer in layers:
            h = layer(h)
        return h

    return f


def _split_hessian(chain: Chain, x: Any, splits: tuple[int, ...]) -> Any:
    """The Hessian formed at the interfaces ``splits`` (trusted), from the top down."""
    import jax
    import jax.numpy as jnp

    ks = (0, *splits, chain.n_layers)
    acts = [x]
    for i, j in pairwise(ks[:-1]):  # the primal at every split interface
        acts.append(_segment(chain, i, j)(acts[-1]))

    def with_primal(grad_fn: Callable[[Any], Any], h: Any) -> tuple[Any, Any]:
        """(the gradient at h, its Jacobian: the Hessian), one tangent per identity column."""
        eye = jnp.eye(h.shape[0], dtype=h.dtype)

        def push(t: Any) -> tuple[Any, Any]:
            return jax.jvp(grad_fn, (h,), (t,))

        return jax.vmap(push, in_axes=1, out_axes=(None, 1))(eye)

    top = _segment(chain, ks[-2], ks[-1])
    adjoint, hess = with_primal(jax.grad(lambda h: top(h)[0]), acts[-1])
    for s in range(len(ks) - 2, 0, -1):
        adjoint, hess = with_primal(
            _seeded_gradient(_segment(chain, ks[s - 1], ks[s]), adjoint, hess), acts[s - 1]
        )
    return hess


def _seeded_gradient(seg: Callable[[Any], Any], adjoint: Any, hess: Any) -> Callable[[Any], Any]:
    """``h -> J_seg(h)^T a(seg(h))``, where ``a`` has the value ``adjoint`` and tangent ``hess``.

    ``a`` stands for the gradient of the rest of the chain at the segment's output; its value is
    known and its derivative is the Hessian ``hess`` formed above, so a tangent ``t`` of the
    segment's output becomes the seed tangent ``hess @ t`` of the backward sweep.
    """
    import jax

    @jax.custom_jvp
    def rest_gradient(y: Any) -> Any:
        return adjoint

    @rest_gradient.defjvp
    def _(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
        return adjoint, hess @ tangents[0]

    def grad_fn(h: Any) -> Any:
        out, pullback = jax.vjp(seg, h)
        return pullback(rest_gradient(out))[0]

    return grad_fn
