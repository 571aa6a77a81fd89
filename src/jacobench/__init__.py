"""jacobench: cost, plan and run Jacobian chain products in forward, reverse and optimal order.

The top level holds what most users call; the two engines, :mod:`jacobench.explicit` (layer
Jacobians given as matrices) and :mod:`jacobench.matrix_free` (layers reached through JVPs and
VJPs), answer the same verbs (``STRATEGIES``, ``register``, ``cost``, ``memory``, ``optimal``,
``min_peak``, ``trees``, ``format``, ``plan``) in their own namespaces.

Example:
    >>> import jacobench
    >>> p = jacobench.plan((50, 5, 100, 10))
    >>> print(p.formula, p.macs)
    (J3 J2) J1 7500
"""

from __future__ import annotations

from . import explicit, matrix_free
from .chain import Chain, Dense, mlp
from .errors import JacobenchError
from .explicit import Plan, forward_macs, multiply, plan, reverse_macs
from .matrix_free import MatrixFreePlan, jacobian
from .matrix_free import plan as plan_matrix_free
from .timing import DeviceProfile, calibrate, predict_seconds

__all__ = [
    "Chain",
    "Dense",
    "DeviceProfile",
    "JacobenchError",
    "MatrixFreePlan",
    "Plan",
    "calibrate",
    "explicit",
    "forward_macs",
    "jacobian",
    "matrix_free",
    "mlp",
    "multiply",
    "plan",
    "plan_matrix_free",
    "predict_seconds",
    "reverse_macs",
]

__version__ = "0.1.0"
