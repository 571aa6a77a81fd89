"""Second order: Hessian-vector products and Hessians of scalar chains, costed, planned and run.

A :class:`~jacobench.chain.Chain` whose last width is 1 is a scalar function ``f``.
:func:`hvp` returns ``H v`` in one of three modes (``"fwd-over-rev"``, ``"rev-over-fwd"``,
``"rev-over-rev"``); :func:`hessian` returns ``H`` by a mode over an identity seed, by
``"fwd-over-fwd"``, by JAX's own ``"jax.hessian"``, or by the ``"optimal"`` plan, which forms the
Hessian of the rest of the chain at the cheapest interfaces (Hessian chain bracketing; see
:mod:`jacobench.second_order.model` for the derivation and the cost and memory model).
:func:`plan_hvp` and :func:`plan_hessian` cost them without running anything.

The verbs of the first-order engines, where a plan "tree" is the set of split interfaces:

===================================  ==============================================================
``STRATEGIES``, ``register``         the Hessian strategies (planners ``widths -> splits``)
``cost(widths, splits)``             multiply-adds of the Hessian formed at ``splits``
``memory(widths, splits)``           its peak elements (weights and ``x`` excluded)
``optimal(widths, max_peak=None)``   the cheapest splits, optionally within a memory limit
``min_peak(widths)``                 the least peak memory any set of splits reaches
``trees(n_layers)``                  every set of splits (for brute-force checks)
``format(splits, n_layers)``         the plan as a formula, ``hess(J2 J1, seed=hess(J4 J3))``
``plan(widths, strategy, ...)``      :func:`plan_hessian`: a frozen, printable :class:`HessianPlan`
===================================  ==============================================================

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
from .model import HESSIAN_MODES, HVP_MODES, format_splits, splits_macs, splits_peak
from .plans import (
    HVP_STRATEGIES,
    STRATEGIES,
    HessianPlan,
    HvpPlan,
    Planner,
    get_hvp_mode,
    get_strategy,
    plan_hessian,
    plan_hvp,
    register,
)
from .search import all_splits, min_peak, optimal_splits

# The verbs of jacobench.explicit and jacobench.matrix_free; a plan "tree" is a set of splits.
cost = splits_macs
memory = splits_peak
optimal = optimal_splits
trees = all_splits
format = format_splits
plan = plan_hessian

__all__ = [
    "HESSIAN_MODES",
    "HVP_MODES",
    "HVP_STRATEGIES",
    "STRATEGIES",
    "HessianPlan",
    "HvpPlan",
    "Planner",
    "cost",
    "format",
    "get_hvp_mode",
    "get_strategy",
    "hessian",
    "hvp",
    "memory",
    "min_peak",
    "optimal",
    "plan",
    "plan_hessian",
    "plan_hvp",
    "register",
    "trees",
]
