"""Second order: Hessian-vector products and Hessians of scalar chains, costed, planned and run.

A :class:`~jacobench.chain.Chain` whose last width is 1 is a scalar function ``f``.
:func:`hvp` returns ``H v`` in one of three modes (``"fwd-over-rev"``, ``"rev-over-fwd"``,
``"rev-over-rev"``); :func:`hessian` returns ``H`` by a mode over an identity seed, by
``"fwd-over-fwd"``, by JAX's own ``"jax.hessian"``, or by the ``"optimal"`` plan, which forms the
Hessian of the rest of the chain at the cheapest interfaces (Hessian chain bracketing; see
:mod:`jacobench.second_order.model` for the derivation and the cost and memory model).
:func:`plan_hvp` and :func:`plan_hessian` cost them without running anything.

Example:
    >>> import jax, jax.numpy as jnp
    >>> import jacobench as jb
    >>> p = jb.plan_hessian((4, 4, 1, 16, 16, 1))
    >>> p.formula, p.macs, p.jax_hessian_macs
    ('hess(J2 J1, seed=hess(J5 J4 J3))', 1340, 3064)
    >>> net = jb.mlp((4, 4, 1, 16, 16, 1), final_activation="identity")
    >>> x = jnp.linspace(-1.0, 1.0, 4)
    >>> H = jb.hessian(net, x)
    >>> bool(jnp.allclose(H, jax.hessian(lambda y: net(y)[0])(x), atol=1e-5))
    True
    >>> bool(jnp.allclose(jb.hvp(net, x, jnp.ones(4)), H.sum(axis=1), atol=1e-5))
    True
"""

from __future__ import annotations

from .execute import hessian, hvp
from .model import HESSIAN_MODES, HVP_MODES, Step, optimal_splits
from .plans import (
    HVP_STRATEGIES,
    STRATEGIES,
    HessianPlan,
    HvpPlan,
    get_hvp_mode,
    get_strategy,
    plan_hessian,
    plan_hvp,
)

__all__ = [
    "HESSIAN_MODES",
    "HVP_MODES",
    "HVP_STRATEGIES",
    "STRATEGIES",
    "HessianPlan",
    "HvpPlan",
    "Step",
    "get_hvp_mode",
    "get_strategy",
    "hessian",
    "hvp",
    "optimal_splits",
    "plan_hessian",
    "plan_hvp",
]
