"""The explicit engine: the layer Jacobians are given as matrices; their product is planned.

The verbs, the same in :mod:`jacobench.matrix_free`:

==================================  ===============================================================
``STRATEGIES``, ``register``        the registry of planners (``widths -> tree``), by name
``cost(widths, tree)``              multiply-adds of a bracketing
``memory(widths, tree)``            its peak elements held in products
``optimal(widths, max_peak=None)``  the cheapest bracketing, optionally within a memory limit
``min_peak(widths)``                the least peak memory any bracketing reaches
``trees(n_layers)``                 every bracketing (for brute-force checks)
``format(tree)``                    a bracketing as a person writes it
``plan(widths, strategy, ...)``     a frozen, printable :class:`Plan`
==================================  ===============================================================

:func:`multiply` runs a plan on the matrices; :func:`schedule` lists its products in order.

Example:
    >>> from jacobench import explicit
    >>> tree = explicit.optimal((50, 5, 100, 10))
    >>> explicit.format(tree), explicit.cost((50, 5, 100, 10), tree)
    ('(J3 J2) J1', 7500)
    >>> explicit.plan((50, 5, 100, 10)).macs == explicit.cost((50, 5, 100, 10), tree)
    True
"""

from .execute import multiply
from .model import (
    Tree,
    cost,
    format,
    forward_macs,
    memory,
    reverse_macs,
    schedule,
    trees,
    validate_tree,
)
from .planner import STRATEGIES, Plan, Planner, get_strategy, min_peak, optimal, plan, register

__all__ = [
    "STRATEGIES",
    "Plan",
    "Planner",
    "Tree",
    "cost",
    "format",
    "forward_macs",
    "get_strategy",
    "memory",
    "min_peak",
    "multiply",
    "optimal",
    "plan",
    "register",
    "reverse_macs",
    "schedule",
    "trees",
    "validate_tree",
]
