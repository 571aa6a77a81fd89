"""Jacobians of any JAX function: find the chain inside it, cost its segments, plan and run it.

* :mod:`.discover`: the jaxpr walker (cut points, segments, the prelude of constants);
* :mod:`.costs`: multiply-adds of one tangent and one adjoint through a piece of a jaxpr;
* :mod:`.trace`: flattening, checking and tracing a function of pytrees, cached per trace;
* :mod:`.api`: :func:`chain_of`, :class:`FunctionChain` and :func:`function_jacobian` (what
  :func:`jacobench.jacobian` does with a plain function).

Example:
    >>> import jax, jax.numpy as jnp
    >>> import jacobench as jb
    >>> W = jnp.linspace(-1.0, 1.0, 12).reshape(2, 6)
    >>> f = lambda x: jnp.tanh(W.T @ jnp.tanh(W @ x))     # 6 -> 2 -> 6
    >>> jb.chain_of(f, jnp.ones(6)).widths
    (6, 2, 6)
    >>> x = jnp.linspace(0.0, 1.0, 6)
    >>> bool(jnp.allclose(jb.jacobian(f, x), jax.jacfwd(f)(x), atol=1e-6))
    True
"""

from __future__ import annotations

from .api import FunctionChain, chain_of, function_jacobian, plan_chain
from .costs import Count, count_jaxpr
from .discover import MAX_SEGMENTS, Discovery, Segment, discover

__all__ = [
    "MAX_SEGMENTS",
    "Count",
    "Discovery",
    "FunctionChain",
    "Segment",
    "chain_of",
    "count_jaxpr",
    "discover",
    "function_jacobian",
    "plan_chain",
]
