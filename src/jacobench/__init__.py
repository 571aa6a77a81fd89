"""jacobench: cost, plan and run Jacobian chain products in forward, reverse and optimal order.

The top level holds what most users call; the two engines, :mod:`jacobench.explicit` (layer
Jacobians given as matrices) and :mod:`jacobench.matrix_free` (layers reached through JVPs and
VJPs), answer the same verbs (``STRATEGIES``, ``register``, ``cost``, ``memory``, ``optimal``,
``min_peak``, ``trees``, ``format``, ``plan``) in their own namespaces. Second order --
Hessian-vector products and Hessians of chains whose last width is 1 -- is
:mod:`jacobench.second_order` (:func:`hvp`, :func:`hessian`, :func:`plan_hvp`,
:func:`plan_hessian`).

Example:
    >>> import jacobench
    >>> p = jacobench.plan((50, 5, 100, 10))
    >>> print(p.formula, p.macs)
    (J3 J2) J1 7500
"""

from __future__ import annotations

from . import explicit, matrix_free, second_order
from .chain import Chain, Dense, mlp
from .errors import JacobenchError
from .explicit import Plan, forward_macs, multiply, plan, reverse_macs
from .functions import chain_of
from .matrix_free import MatrixFreePlan, jacobian
from .matrix_free import plan as plan_matrix_free
from .second_order import hessian, hvp, plan_hessian, plan_hvp
from .timing import DeviceProfile, calibrate, predict_seconds

__all__ = [
    "Chain",
    "Dense",
    "DeviceProfile",
    "JacobenchError",
    "MatrixFreePlan",
    "Plan",
    "calibrate",
    "chain_of",
    "explicit",
    "forward_macs",
    "hessian",
    "hvp",
    "jacobian",
    "matrix_free",
    "mlp",
    "multiply",
    "plan",
    "plan_hessian",
    "plan_hvp",
    "plan_matrix_free",
    "predict_seconds",
    "reverse_macs",
    "second_order",
]

__version__ = "0.1.0"
