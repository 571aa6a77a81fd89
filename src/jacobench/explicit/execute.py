"""Execute a plan on explicit layer Jacobians (numpy or JAX arrays).

Planning is :func:`jacobench.explicit.plan`'s job; :func:`multiply` only checks shapes and runs
the plan's
steps in order, freeing each operand as soon as it has been used, so the peak memory it reaches is
the plan's ``peak_elements``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

from .._text import show
from ..errors import JacobenchError
from .model import Span, Tree
from .planner import Plan, plan

__all__ = ["multiply"]


def multiply(jacobians: Sequence[Any], strategy: Plan | str | Tree = "optimal") -> Any:
    """Evaluate ``J_L ... J_1`` from the list ``[J_1, ..., J_L]`` following a plan.

    Works on numpy arrays and on JAX arrays (also inside ``jax.jit``, where shapes are static):
    each product is ``a @ b``, so the result has the inputs' array type.

    Args:
        jacobians: ``[J_1, ..., J_L]`` with ``J_l`` of shape ``(d_l, d_{l-1})``: the *first*
            layer comes first, as in a network's layer list.
        strategy: A :class:`Plan` from :func:`plan`, or anything ``plan`` accepts (a
            strategy name or a bracketing tree), planned here from the Jacobians' shapes.

    Returns:
        The ``(d_L, d_0)`` product.

    Raises:
        JacobenchError: If ``jacobians`` is not a list, a Jacobian is not a two-dimensional
            numeric array (ragged nested lists and strings are refused), the shapes do not
            chain, or they disagree with the plan's widths.

    Example:
        >>> import numpy as np
        >>> j1, j2 = np.ones((4, 3)), np.full((5, 4), 2.0)
        >>> multiply([j1, j2], "forward")[0]
        array([8., 8., 8.])
    """
    if isinstance(jacobians, str | bytes | Mapping | Set) or not hasattr(jacobians, "__iter__"):
        raise JacobenchError(
            f"jacobians is {show(jacobians)} of type {type(jacobians).__name__}, expected a list "
            "[J_1, ..., J_L] of matrices"
        )
    mats = [_as_matrix(j, i) for i, j in enumerate(jacobians)]
    if not mats:
        raise JacobenchError("jacobians is empty, expected [J_1, ..., J_L] with L >= 1")
    chosen = strategy if isinstance(strategy, Plan) else plan(_widths_from_shapes(mats), strategy)
    _check_shapes(mats, chosen.widths)
    return _run(mats, chosen)


_NUMERIC_KINDS = frozenset("biufc")
_ML_FLOATS = ("bfloat16", "float8")  # ml_dtypes' floats, of numpy kind "V"


def _as_matrix(j: Any, index: int) -> Any:
    if hasattr(j, "shape") and hasattr(j, "ndim") and hasattr(j, "dtype"):
        arr = j
    else:
        try:
            arr = np.asarray(j)
        except (TypeError, ValueError) as err:  # e.g. a ragged nested list
            raise JacobenchError(
                f"jacobians[{index}] = {show(j)} is not a matrix: {err}; expected a rank-2 "
                f"array (d_{index + 1}, d_{index})"
            ) from None
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in _NUMERIC_KINDS and not dtype.name.startswith(_ML_FLOATS):
        raise JacobenchError(
            f"jacobians[{index}] has dtype {dtype}, expected a numeric array (float, complex, int)"
        )
    if arr.ndim != 2:
        raise JacobenchError(
            f"jacobians[{index}] has shape {tuple(arr.shape)} (rank {arr.ndim}), "
            f"expected a rank-2 matrix (d_{index + 1}, d_{index})"
        )
    return arr


def _widths_from_shapes(mats: Sequence[Any]) -> tuple[int, ...]:
    widths = [int(mats[0].shape[1])]
    for i, m in enumerate(mats):
        rows, cols = (int(s) for s in m.shape)
        if cols != widths[-1]:
            raise JacobenchError(
                f"jacobians[{i}] has shape {(rows, cols)}, expected {widths[-1]} columns "
                f"to chain with jacobians[{i - 1}] of shape {tuple(mats[i - 1].shape)}"
            )
        widths.append(rows)
    return tuple(widths)


def _check_shapes(mats: Sequence[Any], widths: tuple[int, ...]) -> None:
    if len(mats) != len(widths) - 1:
        raise JacobenchError(
            f"got {len(mats)} jacobians, expected {len(widths) - 1} from widths {widths}"
        )
    for i, m in enumerate(mats):
        expected = (widths[i + 1], widths[i])
        if tuple(m.shape) != expected:
            raise JacobenchError(
                f"jacobians[{i}] has shape {tuple(m.shape)}, expected {expected} "
                f"from widths {widths}"
            )


def _run(mats: Sequence[Any], chosen: Plan) -> Any:
    held: dict[Span, Any] = {}

    def take(span: Span) -> Any:
        lo, hi = span
        return mats[lo - 1] if lo == hi else held.pop(span)

    for left, right in chosen.schedule:
        a = take(left)
        b = take(right)
        out = a @ b
        del a, b  # let the operands go before the next product, as the memory model assumes
        held[(right[0], left[1])] = out
    if not chosen.schedule:
        return mats[0]
    return held.pop((1, chosen.n_layers))
