"""jacobench: cost, plan and run Jacobian chain products in forward, reverse and optimal order.

Example:
    >>> import jacobench
    >>> p = jacobench.plan((50, 5, 100, 10))
    >>> print(p.formula, p.macs)
    (J3 J2) J1 7500
"""

from __future__ import annotations

from .chain import Chain, Dense, mlp
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
from .matrix_free import (
    MATRIX_FREE_STRATEGIES,
    MatrixFreeNode,
    MatrixFreePlan,
    all_matrix_free_trees,
    format_matrix_free_tree,
    get_matrix_free_strategy,
    jacobian,
    matrix_free_forward_macs,
    matrix_free_macs,
    matrix_free_memory,
    matrix_free_reverse_macs,
    min_matrix_free_peak,
    optimal_matrix_free_tree,
    optimal_matrix_free_tree_within,
    plan_matrix_free,
)
from .planners import STRATEGIES, Plan, get_strategy, optimal_tree, plan
from .timing import DeviceProfile, calibrate, predict_seconds

__all__ = [
    "MATRIX_FREE_STRATEGIES",
    "STRATEGIES",
    "Chain",
    "Dense",
    "DeviceProfile",
    "JacobenchError",
    "MatrixFreeNode",
    "MatrixFreePlan",
    "Plan",
    "Tree",
    "all_brackets",
    "all_matrix_free_trees",
    "calibrate",
    "format_matrix_free_tree",
    "format_tree",
    "forward_macs",
    "get_matrix_free_strategy",
    "get_strategy",
    "jacobian",
    "matrix_free_forward_macs",
    "matrix_free_macs",
    "matrix_free_memory",
    "matrix_free_reverse_macs",
    "min_matrix_free_peak",
    "mlp",
    "multiply",
    "optimal_matrix_free_tree",
    "optimal_matrix_free_tree_within",
    "optimal_tree",
    "plan",
    "plan_matrix_free",
    "predict_seconds",
    "reverse_macs",
    "schedule",
    "tree_macs",
    "tree_memory",
]

__version__ = "0.1.0"
