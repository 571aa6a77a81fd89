"""The matrix-free engine: layers are functions, reached only through tangents and adjoints.

The verbs, the same in :mod:`jacobench.explicit`:

==================================  ===============================================================
``STRATEGIES``, ``register``        the registry of planners (``widths -> Node``), by name
``cost(widths, tree)``              multiply-adds of a plan tree (``layer_costs=`` for non-dense)
``memory(widths, tree)``            its peak elements (weights and ``x`` excluded)
``optimal(widths, max_peak=None)``  the cheapest plan, optionally within a memory limit
``min_peak(widths)``                the least peak memory any plan reaches, batches included
``trees(n_layers)``                 every plan of the grammar (for brute-force checks)
``format(tree)``                    a plan as a formula, e.g. ``jvp(J4 J3) @ vjp(J2 J1)``
``plan(widths, strategy, ...)``     a frozen, printable :class:`MatrixFreePlan`
==================================  ===============================================================

:func:`jacobian` runs a plan on a :class:`~jacobench.Chain`; :class:`Node` is a plan tree's node.

Example:
    >>> from jacobench import matrix_free
    >>> tree = matrix_free.optimal((1000, 1000, 10, 1000, 1000))
    >>> matrix_free.format(tree), matrix_free.cost((1000, 1000, 10, 1000, 1000), tree)
    ('jvp(J4 J3) @ vjp(J2 J1)', 30200000)
"""

from .execute import jacobian
from .model import LayerCosts, MacCosts, cost, costs_of, forward_macs, memory, reverse_macs
from .planner import (
    JAX_BASELINES,
    STRATEGIES,
    MatrixFreePlan,
    Planner,
    explicit_layer_macs,
    get_strategy,
    min_peak,
    optimal,
    plan,
    register,
)
from .tree import MatrixFreeNode, Node, format, trees, validate

__all__ = [
    "JAX_BASELINES",
    "STRATEGIES",
    "LayerCosts",
    "MacCosts",
    "MatrixFreeNode",
    "MatrixFreePlan",
    "Node",
    "Planner",
    "cost",
    "costs_of",
    "explicit_layer_macs",
    "format",
    "forward_macs",
    "get_strategy",
    "jacobian",
    "memory",
    "min_peak",
    "optimal",
    "plan",
    "register",
    "reverse_macs",
    "trees",
    "validate",
]
