"""Run a matrix-free plan: the Jacobian of a chain from JVPs and VJPs of its layers.

Planning is :func:`jacobench.matrix_free.plan`'s job; :func:`jacobian` checks its inputs and runs
the plan's tree, holding each activation once and evaluating the factors of a product in the
order the shared rule (:func:`jacobench._core.lower_peak_first`) gives, as the memory model
assumes. A pass through a run of :class:`~jacobench.chain.Dense` layers takes the fast path of
:mod:`jacobench.matrix_free.dense` (one product per layer, identity seeds without a product, the
activations of the forward sweep reused); any other layer is reached through ``jax.jvp`` /
``jax.vjp``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core import check_objective, element_of
from ..chain import Chain, check_point
from ..errors import JacobenchError
from . import dense
from .model import execution_order
from .planner import JAX_BASELINES, MatrixFreePlan, _time_costs, fit, plan
from .tree import Node

__all__ = ["jacobian"]


def jacobian(
    chain: Chain | Callable[..., Any],
    x: Any,
    strategy: str | MatrixFreePlan = "optimal",
    *,
    memory_budget: int | str | None = None,
    objective: str = "macs",
    profile: Any = None,
) -> Any:
    """The ``(d_L, d_0)`` Jacobian of ``chain`` at ``x``, built by a matrix-free plan.

    Only JVPs and VJPs of the layers are used (``jax.jvp`` / ``jax.vjp``, vmapped over the seed
    columns or rows; for :class:`~jacobench.chain.Dense` layers, the products they amount to,
    see :mod:`jacobench.matrix_free.dense`); the activations ``x_0 .. x_L`` are computed once,
    as far as the plan needs them. Works eagerly, inside ``jax.jit`` (the plan is made once, at
    trace time, from the chain's static widths, and cached) and under ``jax.vmap`` over ``x``.

    Any other JAX-traceable function ``f`` is taken too: its chain is discovered, planned and run
    on the flattened input, and the result has the structure of ``jax.jacfwd(f)(x)`` (see
    :func:`jacobench.functions.function_jacobian`).

    Args:
        chain: The :class:`~jacobench.chain.Chain`, or any JAX-traceable function ``f``.
        x: A ``(d_0,)`` vector of a floating dtype (for ``f``: an array or a pytree of them).
        strategy: A name in :data:`~jacobench.matrix_free.STRATEGIES` (any case): ``"optimal"``
            (default),
            ``"forward"``, ``"reverse"``, ``"explicit"``, or JAX's own ``"jacfwd"`` /
            ``"jacrev"``; or a :class:`MatrixFreePlan` for the chain's widths.
        memory_budget: ``None``, or the most bytes the plan may hold at once, as in
            :func:`plan` (elements of ``x``'s dtype): ``"optimal"`` becomes the
            cheapest plan that fits (tangents or adjoints in batches where needed); any other
            strategy, or a given plan, must fit.
        objective: What ``"optimal"`` minimises, as in :func:`plan`: ``"macs"`` (default) or
            ``"time"``, the seconds predicted on ``profile`` in ``x``'s dtype for a
            :class:`~jacobench.Chain` of dense layers (a given plan is run as it is).
        profile: The :class:`~jacobench.DeviceProfile` for ``objective="time"``; ``None``: this
            machine's saved profile, measured first if there is none.

    Returns:
        The Jacobian as a JAX array of the chain's output dtype.

    Raises:
        JacobenchError: For an unknown strategy or objective (``"time"`` for a function that is
            not a :class:`~jacobench.Chain`), a plan for other widths, ``x`` of the wrong rank,
            size or dtype, a chain whose layers do not produce its stated widths, or a plan that
            does not fit the budget.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jacobench.chain import mlp
        >>> from jacobench.matrix_free import plan
        >>> net = mlp((4, 4, 1, 4, 4), seed=0)
        >>> x = jnp.linspace(-1.0, 1.0, 4)
        >>> J = jacobian(net, x)                      # jvp(J4 J3) @ vjp(J2 J1)
        >>> J.shape, bool(jnp.allclose(J, jax.jacfwd(net)(x), atol=1e-6))
        ((4, 4), True)


        Within 1,800 bytes (450 float32 elements) a ``(16, 16, 16)`` chain's 16 tangents (peak
        ``17 * 32 = 544``) run 4 at a time (``5 * 32 + 16 * 16 = 416``):

        >>> net = mlp((16, 16, 16), seed=0)
        >>> x = jnp.linspace(-1.0, 1.0, 16, dtype=jnp.float32)
        >>> plan(net.widths, memory_budget=1800).formula
        'jvp(J2 J1, batch=4)'
        >>> J = jacobian(net, x, memory_budget=1800)
        >>> bool(jnp.allclose(J, jax.jacfwd(net)(x), atol=1e-6))
        True
    """
    import jax

    if check_objective(objective) != "macs" and not isinstance(chain, Chain):
        raise JacobenchError(
            f"objective {objective!r} predicts seconds for a jacobench.Chain of dense layers, "
            f"got {type(chain).__name__}; use objective='macs' for other functions"
        )
    if not isinstance(chain, Chain) and callable(chain):
        from ..functions import function_jacobian

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
        chosen = plan(chain.widths, strategy)  # checks the strategy before x
    x = check_point(chain, x)
    chain.check_shapes(x.dtype)
    if objective == "time" and not isinstance(strategy, MatrixFreePlan):
        element = element_of(x.dtype)
        chosen = plan(chain.widths, strategy, dtype=element, objective="time", profile=profile)
    if memory_budget is not None:
        replan = not isinstance(strategy, MatrixFreePlan)
        timed = (
            _time_costs(chain.widths, "time", profile, element_of(x.dtype), None)
            if (objective == "time" and replan)
            else None
        )
        chosen = fit(chosen, memory_budget, element_of(x.dtype), replan=replan, timed=timed)
    if chosen.strategy in JAX_BASELINES:
        mode = jax.jacfwd if chosen.strategy == "jacfwd" else jax.jacrev
        return mode(chain)(x)
    return _Runner(chain, x).run(chosen.tree)


class _Runner:
    """Evaluates a trusted plan tree on a chain at one point, holding activations once."""

    def __init__(self, chain: Chain, x: Any) -> None:
        self.chain = chain
        self.d = chain.widths
        self.acts: list[Any] = [x]  # x_0 .. x_top, computed in order as the plan needs them

    def act(self, index: int) -> Any:
        """The activation ``x_index``, computed from the highest one known below it."""
        while len(self.acts) <= index:
            self.acts.append(self.chain.layers[len(self.acts) - 1](self.acts[-1]))
        return self.acts[index]

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

        if dense.is_dense(self.chain.layers[lo - 1 : hi]):
            return self.dense_tangents(lo, hi, seed, batch)
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

        if dense.is_dense(self.chain.layers[lo - 1 : hi]):
            return self.dense_adjoints(lo, hi, seed, batch)
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

    def dense_tangents(self, lo: int, hi: int, seed: Any | None, batch: int | None) -> Any:
        """:meth:`tangents` through dense layers: one product per layer (see :mod:`.dense`)."""
        import jax

        layers = self.chain.layers[lo - 1 : hi]
        h = self.act(lo - 1)
        seed = None if seed is None else seed.astype(h.dtype)
        t = self.d[lo - 1] if seed is None else seed.shape[1]
        if batch is None:  # the pass makes the activations it needs and keeps them
            known = [self.acts[k] if k < len(self.acts) else None for k in range(lo, hi + 1)]
            block, outs = dense.push(layers, h, dense.Eye(0, t) if seed is None else seed, known)
            for k, out in zip(range(lo, hi + 1), outs, strict=True):
                if k == len(self.acts):  # a new activation: keep it (the list stays in order)
                    self.acts.append(out)
            return block
        self.act(hi)  # every batch reuses the activations: make them once, outside the loop
        known = [self.acts[k] for k in range(lo, hi + 1)]

        def columns(start: Any, size: int) -> Any:
            cols: Any
            if seed is None:
                cols = dense.Eye(start, size)
            else:
                cols = jax.lax.dynamic_slice_in_dim(seed, start, size, axis=1)
            return dense.push(layers, h, cols, known)[0]

        return _in_batches(columns, t, batch, axis=1)

    def dense_adjoints(self, lo: int, hi: int, seed: Any | None, batch: int | None) -> Any:
        """:meth:`adjoints` through dense layers, from the activations held (see :mod:`.dense`)."""
        import jax

        layers = self.chain.layers[lo - 1 : hi]
        self.act(hi)
        acts = [self.acts[k] for k in range(lo - 1, hi + 1)]
        seed = None if seed is None else seed.astype(acts[-1].dtype)
        a = self.d[hi] if seed is None else seed.shape[0]
        if batch is None:
            return dense.pull(layers, acts, dense.Eye(0, a) if seed is None else seed)

        def rows(start: Any, size: int) -> Any:
            block: Any
            if seed is None:
                block = dense.Eye(start, size)
            else:
                block = jax.lax.dynamic_slice_in_dim(seed, start, size, axis=0)
            return dense.pull(layers, acts, block)

        return _in_batches(rows, a, batch, axis=0)

    def run(self, root: Node) -> Any:
        """Evaluate the plan ``root`` in :func:`execution_order`, without recursion."""
        results: dict[int, Any] = {}
        for node in execution_order(self.d, root):
            if node.op == "tangents":
                results[id(node)] = self.tangents(node.lo, node.hi, None, node.batch)
            elif node.op == "adjoints":
                results[id(node)] = self.adjoints(node.lo, node.hi, None, node.batch)
            elif node.op == "push":
                seed = results.pop(id(node.children[0]))
                results[id(node)] = self.tangents(node.split + 1, node.hi, seed, node.batch)
            elif node.op == "pull":
                seed = results.pop(id(node.children[0]))
                results[id(node)] = self.adjoints(node.lo, node.split, seed, node.batch)
            else:
                left, right = node.children
                results[id(node)] = results.pop(id(left)) @ results.pop(id(right))
        return results.pop(id(root))


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
