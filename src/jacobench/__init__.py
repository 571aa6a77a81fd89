"""jacobench: cost, plan and run Jacobian chain products in forward, reverse and optimal order.

Example:
    >>> import jacobench
    >>> p = jacobench.plan((50, 5, 100, 10))
    >>> print(p.formula, p.macs)
    (J3 J2) J1 7500
"""

from __future__ import annotations

from .cost import (
    Tree,
    all_brackets,
    format_tree,
    forward_macs,
    reverse_macs,
    schedule,
    tree_macs,
    tree_memory,
)
from .errors import JacobenchError
from .explicit import multiply
from .planners import STRATEGIES, Plan, get_strategy, optimal_tree, plan

__all__ = [
    "STRATEGIES",
    "JacobenchError",
    "Plan",
    "Tree",
    "all_brackets",
    "format_tree",
    "forward_macs",
    "get_strategy",
    "multiply",
    "optimal_tree",
    "plan",
    "reverse_macs",
    "schedule",
    "tree_macs",
    "tree_memory",
]

__version__ = "0.1.0"
