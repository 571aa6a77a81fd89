r"""What one tangent and one adjoint through a piece of a jaxpr cost, counted from its equations.

A segment of a function is not a dense layer, so its cost is read off its equations instead of
assumed to be :math:`d_\ell d_{\ell-1}`:

* **multiply-adds** (``primal_macs``, ``tangent_macs``, ``adjoint_macs``): a ``dot_general``
  costs (output elements) x (contracted size); a ``conv_general_dilated`` costs (output elements)
  x (kernel elements per output feature). One tangent (JVP) repeats that work once for every
  operand that depends on the input, and so does one adjoint (VJP), with the transposed products:
  ``W @ h`` costs its multiply-adds once more, ``h @ h.T`` twice. Products of constants only
  (weights times weights) cost nothing extra.
* **elementwise** work: every other equation that depends on the input counts its output
  elements once (the linearised ``tanh`` is one multiply per element; a ``reshape`` or ``slice``
  moves as many). Without it a function with no products would cost nothing either way, and its
  plan could not tell ``jax.jacfwd`` from ``jax.jacrev``.

Nested jaxprs are counted by recursion: ``jit`` (``pjit``), ``remat``, ``custom_jvp_call`` and
``custom_vjp_call`` (their primal function; a custom rule is not looked into) once; a ``scan``
``length`` times; a ``cond`` as the most expensive of its branches; a ``while`` loop **once**
(its trip count is not known when the function is traced); any other primitive that holds jaxprs
once each, as if all its inputs depended on the input. Which values depend on the input is
followed into every nested jaxpr (through a loop's carry to a fixed point).

Example:
    >>> import jax, jax.numpy as jnp
    >>> W = jnp.ones((4, 3))
    >>> closed = jax.make_jaxpr(lambda h: jnp.tanh(W @ h))(jnp.ones(3))
    >>> c = count_jaxpr(closed.jaxpr, [True])
    >>> c.primal_macs, c.tangent_macs, c.elementwise   # W @ h: 12; tanh: 4 elements
    (12, 12, 4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Count", "count_eqn", "count_jaxpr", "eqn_macs"]

_CALLS = {
    "jit": "jaxpr",
    "pjit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat2": "jaxpr",
    "checkpoint": "jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
}
"""Call-like primitives: the parameter holding the jaxpr whose inputs are the equation's."""


@dataclass(frozen=True)
class Count:
    """The work of a piece of a jaxpr for one primal pass, one tangent and one adjoint.

    Attributes:
        primal_macs: Multiply-adds of its products (``dot_general``, ``conv_general_dilated``).
        tangent_macs: Multiply-adds one tangent adds (JVP).
        adjoint_macs: Multiply-adds one adjoint adds (VJP).
        elementwise: Output elements of its other input-dependent equations.
        custom_vjp: Whether it holds a ``custom_vjp`` function (JAX cannot push tangents through
            one: such a piece can only be differentiated by adjoints).
    """

    primal_macs: int = 0
    tangent_macs: int = 0
    adjoint_macs: int = 0
    elementwise: int = 0
    custom_vjp: bool = False

    def __add__(self, other: Count) -> Count:
        return Count(
            self.primal_macs + other.primal_macs,
            self.tangent_macs + other.tangent_macs,
            self.adjoint_macs + other.adjoint_macs,
            self.elementwise + other.elementwise,
            self.custom_vjp or other.custom_vjp,
        )

    def times(self, n: int) -> Count:
        """The count of ``n`` repetitions (a ``scan`` of length ``n``)."""
        return Count(
            n * self.primal_macs,
            n * self.tangent_macs,
            n * self.adjoint_macs,
            n * self.elementwise,
            self.custom_vjp,
        )

    @property
    def tangent_cost(self) -> int:
        """What the planner charges for one tangent: ``tangent_macs + elementwise``."""
        return self.tangent_macs + self.elementwise

    @property
    def adjoint_cost(self) -> int:
        """What the planner charges for one adjoint: ``adjoint_macs + elementwise``."""
        return self.adjoint_macs + self.elementwise


def _size(atom: Any) -> int:
    return int(math.prod(getattr(atom.aval, "shape", ())))


def eqn_macs(eqn: Any) -> int:
    """Multiply-adds of one ``dot_general`` or ``conv_general_dilated`` equation; 0 otherwise.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> eqn, = jax.make_jaxpr(jnp.matmul)(jnp.ones((5, 3)), jnp.ones((3, 2))).jaxpr.eqns
        >>> eqn_macs(eqn)   # 5 x 2 outputs, 3 each
        30
    """
    name = eqn.primitive.name
    if name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return _size(eqn.outvars[0]) * int(math.prod(lhs[i] for i in contract))
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
        return _size(eqn.outvars[0]) * (int(math.prod(rhs)) // max(int(out_features), 1))
    return 0


def _is_var(atom: Any) -> bool:
    from jax.extend.core import Literal

    return not isinstance(atom, Literal)


def _open(jaxpr: Any) -> Any:
    """The open jaxpr of a ``ClosedJaxpr`` (or the jaxpr itself)."""
    return getattr(jaxpr, "jaxpr", jaxpr)


def count_jaxpr(jaxpr: Any, dependent: Sequence[bool]) -> Count:
    """Count the work of ``jaxpr`` when the inputs flagged in ``dependent`` depend on x.

    Args:
        jaxpr: A ``jax.extend.core.Jaxpr`` or ``ClosedJaxpr`` (its constants never depend on x).
        dependent: One flag per input variable.

    Returns:
        The :class:`Count`.

    Example:
        ``h @ h.T`` has both operands depending on ``h``: one tangent costs its 16 multiply-adds
        twice.

        >>> import jax, jax.numpy as jnp
        >>> closed = jax.make_jaxpr(lambda h: h @ h.T)(jnp.ones((2, 4)))
        >>> count_jaxpr(closed, [True]).tangent_macs
        32
    """
    return _count(_open(jaxpr), list(dependent))[0]


def _count(jaxpr: Any, dependent: list[bool]) -> tuple[Count, list[bool]]:
    """The count of an open jaxpr, and which of its outputs depend on x."""
    dep = {v for v, d in zip(jaxpr.invars, dependent, strict=True) if d}
    total = Count()
    for eqn in jaxpr.eqns:
        din = [_is_var(v) and v in dep for v in eqn.invars]
        if not any(din):  # constants only: no tangent or adjoint work, primal products only
            total += Count(primal_macs=_count_eqn(eqn, din)[0].primal_macs)
            continue
        count, dout = _count_eqn(eqn, din)
        total += count
        dep.update(v for v, d in zip(eqn.outvars, dout, strict=True) if d)
    return total, [_is_var(v) and v in dep for v in jaxpr.outvars]


def count_eqn(eqn: Any, dependent: Sequence[bool]) -> tuple[Count, list[bool]]:
    """Count one equation whose inputs flagged in ``dependent`` depend on x.

    Returns:
        Its :class:`Count`, and which of its outputs depend on x.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> eqn, = jax.make_jaxpr(jnp.matmul)(jnp.ones((5, 3)), jnp.ones(3)).jaxpr.eqns
        >>> count_eqn(eqn, [False, True])
        (Count(primal_macs=15, tangent_macs=15, adjoint_macs=15, elementwise=0, \
custom_vjp=False), [True])
    """
    return _count_eqn(eqn, list(dependent))


def _count_eqn(eqn: Any, din: list[bool]) -> tuple[Count, list[bool]]:
    name = eqn.primitive.name
    outs = len(eqn.outvars)
    if name in ("dot_general", "conv_general_dilated"):
        macs = eqn_macs(eqn)
        linear = macs * sum(din[:2])
        return Count(macs, linear, linear), [any(din)] * outs
    if name in _CALLS and _CALLS[name] in eqn.params:
        sub = _open(eqn.params[_CALLS[name]])
        if len(sub.invars) == len(din):
            count, dout = _count(sub, din)
            flag = Count(custom_vjp=name.startswith("custom_vjp"))
            return count + flag, dout
    if name == "scan":
        return _scan(eqn, din)
    if name == "while":
        return _while(eqn, din)
    if name == "cond":
        return _cond(eqn, din)
    return _other(eqn, din)


def _scan(eqn: Any, din: list[bool]) -> tuple[Count, list[bool]]:
    body = _open(eqn.params["jaxpr"])
    n_consts, n_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    consts, carry, xs = (
        din[:n_consts],
        din[n_consts : n_consts + n_carry],
        din[n_consts + n_carry :],
    )
    while True:  # a carry depends on x if its start or any trip's update does: a fixed point
        count, dout = _count(body, consts + carry + xs)
        grown = [c or d for c, d in zip(carry, dout[:n_carry], strict=True)]
        if grown == carry:
            return count.times(int(eqn.params["length"])), dout
        carry = grown


def _while(eqn: Any, din: list[bool]) -> tuple[Count, list[bool]]:
    cond, body = _open(eqn.params["cond_jaxpr"]), _open(eqn.params["body_jaxpr"])
    n_cond, n_body = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
    cond_consts, body_consts = din[:n_cond], din[n_cond : n_cond + n_body]
    carry = din[n_cond + n_body :]
    while True:
        count, dout = _count(body, body_consts + carry)
        grown = [c or d for c, d in zip(carry, dout, strict=True)]
        if grown == carry:
            return count + _count(cond, cond_consts + carry)[0], carry  # one trip
        carry = grown


def _cond(eqn: Any, din: list[bool]) -> tuple[Count, list[bool]]:
    counted = [_count(_open(branch), din[1:]) for branch in eqn.params["branches"]]
    worst = max((c for c, _ in counted), key=lambda c: (c.tangent_cost, c.primal_macs))
    flags = [any(col) for col in zip(*(d for _, d in counted), strict=True)]
    return Count(
        max(c.primal_macs for c, _ in counted),
        worst.tangent_macs,
        worst.adjoint_macs,
        worst.elementwise,
        any(c.custom_vjp for c, _ in counted),
    ), flags


def _other(eqn: Any, din: list[bool]) -> tuple[Count, list[bool]]:
    """Any other primitive: its own output elements, plus its nested jaxprs counted once each."""
    from jax.extend.core import jaxprs_in_params

    total = Count(elementwise=sum(_size(v) for v in eqn.outvars if _floating(v)))
    for sub in jaxprs_in_params(eqn.params):
        total += _count(sub, [True] * len(sub.invars))[0]
    return total, [True] * len(eqn.outvars)


def _floating(atom: Any) -> bool:
    import jax.numpy as jnp

    dtype = getattr(atom.aval, "dtype", None)
    return dtype is not None and bool(jnp.issubdtype(dtype, jnp.inexact))
