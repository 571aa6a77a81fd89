"""``chain_of`` and the Jacobian of any JAX function: discover its chain, plan it, run it.

:func:`function_jacobian` is what :func:`jacobench.jacobian` does with a plain callable: trace it
on the flattened input (:mod:`.trace`), plan the discovered chain (:func:`plan_chain`, the one
place where per-segment costs meet the planner), run the plan with the matrix-free executor on
the flat problem and reshape the ``(n_out, n_in)`` result into the pytree ``jax.jacfwd(f)(x)``
returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..chain import Chain
from ..errors import JacobenchError
from ..matrix_free import MatrixFreePlan, get_strategy
from ..matrix_free import jacobian as chain_jacobian
from ..matrix_free import plan as plan_matrix_free
from .discover import MAX_SEGMENTS, Discovery, Segment
from .trace import Traced, ravel, trace

__all__ = ["FunctionChain", "chain_of", "function_jacobian", "plan_chain"]

_JAX_MODES = ("jacfwd", "jacrev")


class FunctionChain(Chain):
    """The chain found inside a function: a :class:`~jacobench.chain.Chain` of its segments.

    Its layers are functions of flat vectors that evaluate the segment's equations (the
    constants they read evaluated once, when the chain is built); ``widths`` are the sizes of
    the cut values. Build one with :func:`chain_of`.

    Attributes:
        segments: The :class:`~jacobench.functions.discover.Segment` s, first to last.
        dtype: The dtype of the flat input the function was traced with.
    """

    __slots__ = ("dtype", "segments")

    def __init__(self, discovery: Discovery, name: str, dtype: Any) -> None:
        super().__init__(discovery.layers(), discovery.widths, name)
        self.segments: tuple[Segment, ...] = discovery.segments
        self.dtype = np.dtype(dtype)

    @property
    def layer_costs(self) -> tuple[tuple[int, int], ...]:
        """``(tangent, adjoint)`` cost of each segment: its multiply-adds plus elementwise work."""
        return tuple((s.count.tangent_cost, s.count.adjoint_cost) for s in self.segments)

    def describe(self) -> str:
        """The chain in words: its widths, then one line per segment."""
        head = f"{self.name}: {self.n_layers} segment{'s' * (self.n_layers != 1)}, widths "
        return "\n".join(
            [head + "-".join(map(str, self.widths))] + [s.describe() for s in self.segments]
        )

    def plan(
        self,
        strategy: str = "optimal",
        *,
        memory_budget: int | str | None = None,
    ) -> MatrixFreePlan:
        """The matrix-free plan :func:`jacobench.jacobian` runs on this chain.

        Args:
            strategy: A name in :data:`jacobench.matrix_free.STRATEGIES` (any case).
            memory_budget: ``None`` or the most bytes the plan may hold (in this chain's dtype).
        """
        return plan_chain(self, strategy, memory_budget=memory_budget)

    def check_shapes(self, dtype: Any = "float32") -> None:
        """Check that ``dtype`` is the dtype the function was traced with (shapes are known).

        Raises:
            JacobenchError: For another dtype (call :func:`chain_of` again with such an x).
        """
        if np.dtype(dtype) != self.dtype:
            raise JacobenchError(
                f"x has dtype {np.dtype(dtype)}, expected {self.dtype}: the chain of "
                f"{self.name!r} was discovered for {self.dtype} inputs; call chain_of again "
                f"with an x of dtype {np.dtype(dtype)}"
            )

    def __repr__(self) -> str:
        return f"FunctionChain(name={self.name!r}, widths={self.widths})"


def chain_of(f: Callable[..., Any], x: Any, *, max_segments: int = MAX_SEGMENTS) -> FunctionChain:
    """The chain of segments inside ``f``, found from its jaxpr at ``x``.

    ``f`` is traced once on the flattened input (``jax.flatten_util.ravel_pytree``); the cut
    points are the places where a single array carries everything the rest of the function needs
    from what came before (weights and other constants do not count), and the widths are their
    sizes. Nested jaxprs (``jit``, ``custom_jvp``, ``scan``, ``while``, ``cond``, ...) stay whole
    inside a segment; a function with no cut point is one segment.

    Args:
        f: A JAX-traceable function of one argument, an array or a pytree of floating arrays.
        x: An example argument (only its structure, shapes and dtypes matter).
        max_segments: The most segments to keep; the narrowest cut points win.

    Returns:
        A :class:`FunctionChain`: ``widths``, ``layers`` (functions of flat vectors),
        ``segments`` (with their primitives and costs), ``layer_costs``, ``describe()`` and
        ``plan()``.

    Raises:
        JacobenchError: For inputs that are not real floating arrays, a function JAX cannot
            trace, or outputs that are not floating arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> W1, W2 = jnp.ones((3, 8), jnp.float32), jnp.ones((8, 3), jnp.float32)
        >>> def squeeze(x):
        ...     return jnp.tanh(W2 @ jnp.tanh(W1 @ x))
        >>> chain = chain_of(squeeze, jnp.ones(8, jnp.float32))
        >>> chain.widths
        (8, 3, 8)
        >>> print(chain.describe())
        squeeze: 2 segments, widths 8-3-8
        J1: f32[8] -> f32[3]: dot_general, tanh (24 multiply-adds per tangent, 24 per adjoint, 3 elementwise)
        J2: f32[3] -> f32[8]: dot_general, tanh (24 multiply-adds per tangent, 24 per adjoint, 8 elementwise)
    """  # noqa: E501
    traced = _trace(f, x, max_segments)
    if traced.discovery is None:
        raise JacobenchError(
            f"{traced.name} has {traced.n_in} inputs and {traced.n_out} outputs; a chain needs "
            "at least one of each"
        )
    return FunctionChain(traced.discovery, traced.name, traced.dtype)


def _trace(f: Any, x: Any, max_segments: int) -> Traced:
    if not callable(f):
        raise JacobenchError(
            f"f is {type(f).__name__}, expected a JAX-traceable function or a jacobench.Chain"
        )
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        raise JacobenchError(f"max_segments must be a positive int, got {max_segments!r}")
    return trace(f, x, max_segments)


def plan_chain(
    chain: FunctionChain,
    strategy: str = "optimal",
    *,
    memory_budget: int | str | None = None,
) -> MatrixFreePlan:
    """Plan a discovered chain: the one place its per-segment costs reach the planner.

    The planner gets :attr:`FunctionChain.layer_costs`, except that a segment holding a
    ``custom_vjp`` function (which JAX cannot push tangents through) is given a tangent cost
    above what reverse mode costs on the whole chain, so that no optimal plan pushes tangents
    through it.

    Example:
        >>> import jax.numpy as jnp
        >>> W = jnp.ones((1, 6))
        >>> chain = chain_of(lambda x: W.T @ (W @ x), jnp.ones(6))
        >>> plan_chain(chain).formula          # one adjoint through J1, pushed through J2
        'jvp(J2, seed=vjp(J1))'
    """
    return plan_matrix_free(
        chain.widths,
        strategy,
        memory_budget=memory_budget,
        dtype=chain.dtype,
        layer_costs=_planning_costs(chain),
    )


def _planning_costs(chain: FunctionChain) -> tuple[tuple[int, int], ...]:
    costs = chain.layer_costs
    if not any(s.count.custom_vjp for s in chain.segments):
        return costs
    never = chain.widths[-1] * sum(a for _, a in costs) + 1  # more than all of reverse mode
    return tuple(
        (never if s.count.custom_vjp else t, a)
        for s, (t, a) in zip(chain.segments, costs, strict=True)
    )


def function_jacobian(
    f: Callable[..., Any],
    x: Any,
    strategy: str | MatrixFreePlan = "optimal",
    *,
    memory_budget: int | str | None = None,
) -> Any:
    """The Jacobian of any JAX function, shaped like ``jax.jacfwd(f)(x)``.

    This is :func:`jacobench.jacobian` for a callable that is not a
    :class:`~jacobench.chain.Chain`; see it for the arguments.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda p: {"y": jnp.tanh(p["w"] * p["b"].sum())}
        >>> p = {"w": jnp.arange(3.0), "b": jnp.ones(2)}
        >>> J = function_jacobian(f, p)
        >>> jax.tree_util.tree_map(jnp.shape, J)
        {'y': {'b': (3, 2), 'w': (3, 3)}}
    """
    import jax
    import jax.numpy as jnp

    if isinstance(strategy, str):
        get_strategy(strategy)  # an unknown name fails before any tracing
    traced = _trace(f, x, MAX_SEGMENTS)
    if traced.discovery is None:  # no inputs or no outputs: nothing to plan
        return traced.unflatten(jnp.zeros((traced.n_out, traced.n_in), traced.dtype))
    chain = FunctionChain(traced.discovery, traced.name, traced.dtype)
    if isinstance(strategy, MatrixFreePlan):
        plan, budget = strategy, memory_budget  # checked against the chain by the executor
    else:
        key = (strategy.lower(), memory_budget)
        if key not in traced.plans:
            traced.plans[key] = plan_chain(chain, strategy, memory_budget=memory_budget)
        plan, budget = traced.plans[key], None
    _check_tangents(chain, plan)
    if plan.strategy in _JAX_MODES:
        mode = jax.jacfwd if plan.strategy == "jacfwd" else jax.jacrev
        return mode(f)(x)
    flat, _ = ravel(x)
    return traced.unflatten(chain_jacobian(chain, flat, plan, memory_budget=budget))


def _check_tangents(chain: FunctionChain, plan: MatrixFreePlan) -> None:
    """Refuse a plan that pushes tangents through a segment holding a ``custom_vjp`` function.

    JAX differentiates a ``custom_vjp`` function by adjoints only (``jax.jvp`` of one fails).
    """
    blocked = [s.index for s in chain.segments if s.count.custom_vjp]
    if not blocked:
        return
    spans = [(1, chain.n_layers)] if plan.strategy == "jacfwd" else []
    stack = [plan.tree]
    while stack:
        node = stack.pop()
        if node.op == "tangents":
            spans.append((node.lo, node.hi))
        elif node.op == "push":
            spans.append((node.split + 1, node.hi))
        stack.extend(node.children)
    for lo, hi in spans:
        for index in blocked:
            if lo <= index <= hi:
                raise JacobenchError(
                    f"plan {plan.formula if plan.strategy != 'jacfwd' else 'jacfwd'} pushes "
                    f"tangents through J{index} of {chain.name!r}, which holds a custom_vjp "
                    "function: JAX differentiates those by adjoints only; use strategy "
                    "'reverse' or 'optimal'"
                )
