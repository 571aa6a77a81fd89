r"""Find the chain inside a traced function: its cut points, and the segments between them.

The function is seen as a jaxpr of one input ``x`` (a vector) and one output (a vector), as
:mod:`jacobench.functions.api` traces it. An equation *depends on x* when one of its inputs does;
the others (weights, constants, literals and whatever is computed from them alone) are the
*prelude*, evaluated once, whose values the segments read as constants.

A **cut point** is a place in the sequence of dependent equations where a single array carries
everything the later equations need from the earlier ones: exactly one value computed from x (or
x itself) is defined before it and used after it. Splitting the dependent equations at the cut
points gives segments :math:`f = f_L \circ \dots \circ f_1`; the widths :math:`d_\ell` are the
sizes of the cut values. Equations that hold jaxprs (``jit``, ``custom_jvp``/``custom_vjp``,
``scan``, ``while``, ``cond``, ...) are single equations here, so they stay whole inside one
segment; a primitive the walker does not know is just an equation. A function with no cut point
is one segment.

Not every cut point is kept: between two cut points with no products (``dot_general``,
``conv_general_dilated``) between them only the narrower matters to a plan (``W @ h``, ``+ b``,
``tanh`` leave three cut points of one width, and the layer becomes one segment), so of each run
of cut points with no product between them only the narrowest is kept (ties: the last), besides
the input and the output; and at most ``max_segments`` segments are kept (the narrowest cut
points), so planning stays fast on deep models.

Example:
    >>> import jax, jax.numpy as jnp
    >>> W1, W2 = jnp.ones((2, 5), jnp.float32), jnp.ones((5, 2), jnp.float32)
    >>> closed = jax.make_jaxpr(lambda x: W2 @ jnp.tanh(W1 @ x))(jnp.ones(5, jnp.float32))
    >>> d = discover(closed)
    >>> d.widths
    (5, 2, 5)
    >>> for s in d.segments:
    ...     print(s.describe())
    J1: f32[5] -> f32[2]: dot_general, tanh (10 multiply-adds per tangent, 10 per adjoint, 2 elementwise)
    J2: f32[2] -> f32[5]: dot_general (10 multiply-adds per tangent, 10 per adjoint)
"""  # noqa: E501

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .costs import Count, count_eqn

__all__ = ["MAX_SEGMENTS", "Discovery", "Segment", "discover"]

MAX_SEGMENTS = 32
"""The most segments :func:`discover` keeps by default (planning is cubic in their number)."""


@dataclass(frozen=True, eq=False)
class Segment:
    r"""One segment :math:`f_\ell` of a discovered chain.

    Attributes:
        index: :math:`\ell` (1-based).
        in_shape: Shape of the cut value going in (its size is :math:`d_{\ell-1}`).
        out_shape: Shape of the cut value coming out (its size is :math:`d_\ell`).
        dtype: The dtype of the value coming out, e.g. ``"float32"``.
        primitives: The primitives of its equations in order of first use (nested jaxprs count
            as their outer primitive, e.g. ``"scan"``), with ``xN`` for repeats.
        count: Its work per tangent and adjoint (:class:`~jacobench.functions.costs.Count`).
        jaxpr: The segment as a jaxpr: constants (``constvars``) and the cut value in, the next
            cut value out.
        constants: For each ``constvar``, its position in the prelude's outputs.
    """

    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: str
    primitives: tuple[str, ...]
    count: Count
    jaxpr: Any = field(repr=False)
    constants: tuple[int, ...] = field(repr=False)

    @property
    def in_width(self) -> int:
        r""":math:`d_{\ell-1}`."""
        return math.prod(self.in_shape)

    @property
    def out_width(self) -> int:
        r""":math:`d_\ell`."""
        return math.prod(self.out_shape)

    def describe(self) -> str:
        """One line: shapes, primitives and multiply-adds per tangent and per adjoint."""
        short = _short_dtype(self.dtype)
        arrow = f"{short}{list(self.in_shape)} -> {short}{list(self.out_shape)}".replace(" ", "")
        arrow = arrow.replace("->", " -> ")
        prims = ", ".join(self.primitives) or "nothing (identity)"
        c = self.count
        extra = f", {c.elementwise:,} elementwise" if c.elementwise else ""
        return (
            f"J{self.index}: {arrow}: {prims} ({c.tangent_macs:,} multiply-adds per tangent, "
            f"{c.adjoint_macs:,} per adjoint{extra})"
        )


def _short_dtype(dtype: str) -> str:
    for long, short in (("float", "f"), ("bfloat", "bf"), ("complex", "c")):
        if dtype.startswith(long):
            return short + dtype[len(long) :]
    return dtype


@dataclass(frozen=True, eq=False)
class Discovery:
    """The chain found in a jaxpr: its segments and the prelude of constants they read.

    Attributes:
        segments: The segments, first to last.
        prelude: A jaxpr from the traced function's constants to every constant a segment reads.
        consts: The traced function's constant values (inputs of the prelude).
    """

    segments: tuple[Segment, ...]
    prelude: Any = field(repr=False)
    consts: tuple[Any, ...] = field(repr=False)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(d_0, ..., d_L)``."""
        return (self.segments[0].in_width, *(s.out_width for s in self.segments))

    def constants(self) -> list[Any]:
        """Evaluate the prelude: the values of every constant the segments read."""
        import jax

        return list(jax.core.eval_jaxpr(self.prelude, list(self.consts)))

    def layers(self) -> tuple[Callable[[Any], Any], ...]:
        """The segments as functions from a flat ``(d_{l-1},)`` to a flat ``(d_l,)`` vector.

        The prelude is evaluated once, here; every layer closes over the values it reads.
        """
        values = self.constants()
        return tuple(_layer(s, [values[i] for i in s.constants]) for s in self.segments)


def _layer(segment: Segment, consts: list[Any]) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    jaxpr, shape = segment.jaxpr, segment.in_shape

    def layer(h: Any) -> Any:
        (out,) = jax.core.eval_jaxpr(jaxpr, consts, jnp.reshape(h, shape))
        return jnp.reshape(out, (-1,))

    layer.__name__ = f"segment_{segment.index}"
    return layer


def discover(closed: Any, max_segments: int = MAX_SEGMENTS) -> Discovery:
    """Split a traced function of one vector into segments at its cut points.

    Args:
        closed: A ``ClosedJaxpr`` with one input and one output variable (e.g. from
            ``jax.make_jaxpr`` of a function of a vector that returns a vector).
        max_segments: The most segments to keep (the narrowest cut points win), at least 1.

    Returns:
        The :class:`Discovery`.

    Example:
        ``sin(x) * x.sum()`` needs ``x`` and ``sin(x)`` together: no cut point, one segment.

        >>> import jax, jax.numpy as jnp
        >>> closed = jax.make_jaxpr(lambda x: jnp.sin(x) * x.sum())(jnp.ones(3))
        >>> discover(closed).widths
        (3, 3)
    """
    from jax.extend.core import Jaxpr

    jaxpr = closed.jaxpr
    (x,), (out,) = jaxpr.invars, jaxpr.outvars
    eqns = _live_eqns(jaxpr)
    dep: set[Any] = {x}
    chain: list[Any] = []  # the equations that depend on x, in order
    prelude: list[Any] = []
    counts: list[Count] = []
    for eqn in eqns:
        din = [_is_var(v) and v in dep for v in eqn.invars]
        if any(din):
            chain.append(eqn)
            counts.append(count_eqn(eqn, din)[0])
            dep.update(v for v in eqn.outvars if not _is_drop(v))
        else:
            prelude.append(eqn)
    cuts = _keep(_cut_points(chain, x, out, dep), counts, max_segments)

    needed: dict[Any, int] = {}  # constant variable -> its position among the prelude's outputs
    segments = []
    for index, ((lo, v_in), (hi, v_out)) in enumerate(itertools.pairwise(cuts), 1):
        body = chain[lo:hi]
        consts = _constants_read(body, v_out, dep)
        for v in consts:
            needed.setdefault(v, len(needed))
        seg_jaxpr = Jaxpr(
            consts, [v_in], [v_out], body, _effects(body), _debug(f"segment {index}", 1, 1)
        )
        segments.append(
            Segment(
                index=index,
                in_shape=tuple(v_in.aval.shape),
                out_shape=tuple(v_out.aval.shape),
                dtype=str(v_out.aval.dtype),
                primitives=_primitive_names(body),
                count=sum(counts[lo:hi], Count()),
                jaxpr=seg_jaxpr,
                constants=tuple(needed[v] for v in consts),
            )
        )
    pre = Jaxpr(
        list(jaxpr.constvars),
        [],
        list(needed),
        prelude,
        _effects(prelude),
        _debug("prelude", 0, len(needed)),
    )
    return Discovery(tuple(segments), pre, tuple(closed.consts))


def _is_var(atom: Any) -> bool:
    from jax.extend.core import Literal

    return not isinstance(atom, Literal)


def _is_drop(atom: Any) -> bool:
    from jax.extend.core import DropVar

    return isinstance(atom, DropVar)


def _live_eqns(jaxpr: Any) -> list[Any]:
    """The equations the output needs, plus any with side effects, in order."""
    needed = {v for v in jaxpr.outvars if _is_var(v)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if eqn.effects or any(v in needed for v in eqn.outvars if not _is_drop(v)):
            kept.append(eqn)
            needed.update(v for v in eqn.invars if _is_var(v))
    kept.reverse()
    return kept


def _cut_points(chain: list[Any], x: Any, out: Any, dep: set[Any]) -> list[tuple[int, Any]]:
    """Every ``(p, v)``: before ``chain[p]``, ``v`` is the one live value computed from x.

    The first is ``(0, x)`` and the last ``(len(chain), out)``, whatever is live there.
    """
    m = len(chain)
    last_use: dict[Any, int] = {}
    for i, eqn in enumerate(chain):
        for v in eqn.invars:
            if _is_var(v) and v in dep:
                last_use[v] = i
    if _is_var(out) and out in dep:
        last_use[out] = m
    starts: list[list[Any]] = [[] for _ in range(m + 1)]  # live from p on ...
    ends: list[list[Any]] = [[] for _ in range(m + 1)]  # ... to p, both included
    if x in last_use:
        starts[0].append(x)
        ends[last_use[x]].append(x)
    for i, eqn in enumerate(chain):
        for v in eqn.outvars:
            if not _is_drop(v) and v in last_use:
                starts[i + 1].append(v)
                ends[last_use[v]].append(v)
    live: set[Any] = set()
    cuts = [(0, x)]
    for p in range(m + 1):
        live.update(starts[p])
        if 0 < p < m and len(live) == 1:
            (v,) = live
            if v is not x and v is not out and _carries(v) and v is not cuts[-1][1]:
                cuts.append((p, v))
        live.difference_update(ends[p])
    cuts.append((m, out))
    return cuts


def _carries(v: Any) -> bool:
    """Whether ``v`` can be a cut value: a non-empty array of a floating dtype."""
    import jax.numpy as jnp

    aval = v.aval
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None or math.prod(shape) == 0:
        return False
    return bool(jnp.issubdtype(dtype, jnp.floating))


def _keep(
    cuts: list[tuple[int, Any]], counts: list[Count], max_segments: int
) -> list[tuple[int, Any]]:
    """The cut points worth planning (the first and the last are always kept).

    Of each run of cut points with no products between them, the narrowest (ties: the last);
    of a run that reaches the input or the output, only one narrower than that end. Then at most
    ``max_segments - 1`` of them, the narrowest.
    """

    def width(c: tuple[int, Any]) -> int:
        return math.prod(c[1].aval.shape)

    def products(a: int, b: int) -> bool:
        return any(c.tangent_macs or c.primal_macs for c in counts[a:b])

    inner = cuts[1:-1]
    runs: list[list[tuple[int, Any]]] = []
    bound = cuts[0][0]
    for cut in inner:
        if not runs or products(bound, cut[0]):
            runs.append([])
        runs[-1].append(cut)
        bound = cut[0]
    kept = []
    for i, run in enumerate(runs):
        best = min(reversed(run), key=width)  # ties: the last
        ends = []
        if i == 0 and not products(cuts[0][0], run[0][0]):
            ends.append(width(cuts[0]))
        if i == len(runs) - 1 and not products(run[-1][0], cuts[-1][0]):
            ends.append(width(cuts[-1]))
        if not ends or width(best) < min(ends):
            kept.append(best)
    room = max(max_segments, 1) - 1
    if len(kept) > room:
        kept = sorted(_narrowest(kept, room, width), key=lambda c: c[0])
    return [cuts[0], *kept, cuts[-1]]


def _narrowest(
    cuts: list[tuple[int, Any]], n: int, width: Callable[[tuple[int, Any]], int]
) -> list[tuple[int, Any]]:
    """The ``n`` narrowest cut points; among equally wide ones, evenly spread ones."""
    chosen: list[tuple[int, Any]] = []
    for w in sorted({width(c) for c in cuts}):
        group = [c for c in cuts if width(c) == w]
        need = n - len(chosen)
        if need <= 0:
            break
        if len(group) <= need:
            chosen.extend(group)
        else:
            chosen.extend(group[(2 * i + 1) * len(group) // (2 * need)] for i in range(need))
    return chosen


def _constants_read(body: list[Any], out: Any, dep: set[Any]) -> list[Any]:
    """The variables not computed from x that ``body`` (or its output) reads, in order."""
    seen: dict[Any, None] = {}
    for eqn in body:
        for v in eqn.invars:
            if _is_var(v) and v not in dep:
                seen.setdefault(v, None)
    if _is_var(out) and out not in dep:
        seen.setdefault(out, None)
    return list(seen)


def _debug(what: str, n_in: int, n_out: int) -> Any:
    from jax.extend.core import DebugInfo

    names = tuple(f"in{i}" for i in range(n_in))
    return DebugInfo("jacobench", what, names, tuple(f"out{i}" for i in range(n_out)))


def _effects(eqns: Sequence[Any]) -> Any:
    effects: set[Any] = set()
    for eqn in eqns:
        effects.update(eqn.effects)
    return effects


def _primitive_names(body: list[Any]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for eqn in body:
        counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
    return tuple(name if n == 1 else f"{name} x{n}" for name, n in counts.items())
