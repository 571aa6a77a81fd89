"""Trace a function of arrays or pytrees as a function of one flat vector, checked and cached.

:func:`trace` flattens ``x`` with ``jax.flatten_util.ravel_pytree``, traces
``v -> ravel(f(unravel(v)))`` to a jaxpr with ``jax.make_jaxpr`` (on an abstract value of ``x``'s
shape and dtype, so it works the same eagerly, under ``jax.jit`` and under ``jax.vmap``), and
finds its chain (:func:`jacobench.functions.discover.discover`). The result is cached per
function and input structure, shapes and dtypes, as long as the function lives and its traced
constants are arrays (not values of an enclosing trace): a jitted caller discovers once per trace.

Bad input is reported here, never from inside the walker: a leaf of ``x`` that is not a real
floating array, a function JAX cannot trace (the original error attached as ``__cause__``), an
output leaf that is not a floating array.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import JacobenchError
from .discover import MAX_SEGMENTS, Discovery, discover

__all__ = ["Traced", "check_inputs", "function_name", "ravel", "trace"]


@dataclass(frozen=True, eq=False)
class Traced:
    """A function traced on the flat input, with what it takes to rebuild pytrees.

    Attributes:
        name: The function's name.
        discovery: Its chain (``None`` when the input or the output is empty).
        dtype: The dtype of the flat input (``x``'s leaves promoted together).
        in_tree: The pytree structure of ``x``.
        in_shapes: The shapes of ``x``'s leaves.
        out_tree: The pytree structure of ``f(x)``.
        out_shapes: The shapes of the output's leaves.
        out_dtypes: The dtypes of the output's leaves.
        plans: Plans already made for this trace, by request (see :mod:`.api`).
    """

    name: str
    discovery: Discovery | None
    dtype: Any
    in_tree: Any
    in_shapes: tuple[tuple[int, ...], ...]
    out_tree: Any
    out_shapes: tuple[tuple[int, ...], ...]
    out_dtypes: tuple[Any, ...]
    plans: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def n_in(self) -> int:
        """Elements of ``x``."""
        return sum(math.prod(s) for s in self.in_shapes)

    @property
    def n_out(self) -> int:
        """Elements of ``f(x)``."""
        return sum(math.prod(s) for s in self.out_shapes)

    def unflatten(self, jac: Any) -> Any:
        """Turn the ``(n_out, n_in)`` Jacobian into the pytree ``jax.jacfwd(f)(x)`` returns.

        For every output leaf, a pytree like ``x`` whose leaves have shape
        ``out_leaf.shape + x_leaf.shape`` and the output leaf's dtype.
        """
        import jax
        import jax.numpy as jnp

        rows = _offsets(self.out_shapes)
        cols = _offsets(self.in_shapes)
        per_output = []
        for (r0, r1), o_shape, o_dtype in zip(rows, self.out_shapes, self.out_dtypes, strict=True):
            blocks = [
                jnp.reshape(jac[r0:r1, c0:c1], o_shape + i_shape).astype(o_dtype)
                for (c0, c1), i_shape in zip(cols, self.in_shapes, strict=True)
            ]
            per_output.append(jax.tree_util.tree_unflatten(self.in_tree, blocks))
        return jax.tree_util.tree_unflatten(self.out_tree, per_output)


def _offsets(shapes: tuple[tuple[int, ...], ...]) -> list[tuple[int, int]]:
    out, start = [], 0
    for shape in shapes:
        out.append((start, start + math.prod(shape)))
        start += math.prod(shape)
    return out


def function_name(f: Any) -> str:
    """A readable name for ``f``: its ``__name__``, or its type's.

    Example:
        >>> function_name(abs), function_name(lambda x: x)
        ('abs', '<lambda>')
    """
    name = getattr(f, "__name__", None)
    return name if isinstance(name, str) else type(f).__name__


def check_inputs(x: Any) -> tuple[Any, list[Any]]:
    """Check that ``x`` is a pytree of real floating arrays; return its structure and leaves.

    Raises:
        JacobenchError: For a leaf that is not an array, of an integer, boolean or complex
            dtype, or for ``x`` without leaves.

    Example:
        >>> import numpy as np
        >>> check_inputs({"w": np.ones(2, dtype=np.int32)})
        Traceback (most recent call last):
        ...
        jacobench.errors.JacobenchError: x['w'] has dtype int32, expected a floating dtype \
(Jacobians need real floating inputs); convert it, e.g. x.astype(jnp.float32)
    """
    import jax
    import jax.numpy as jnp
    from jax.extend.core import valid_jaxtype

    with_path, tree = jax.tree_util.tree_flatten_with_path(x)
    if not with_path:
        raise JacobenchError(f"x is {x!r} with no array leaves, expected an array or a pytree")
    for path, leaf in with_path:
        where = "x" + jax.tree_util.keystr(path)
        if not valid_jaxtype(leaf):
            raise JacobenchError(
                f"{where} is {type(leaf).__name__}, expected a floating array or a Python float"
            )
        dtype = jnp.result_type(leaf)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            raise JacobenchError(
                f"{where} has dtype {dtype}, expected a real floating dtype (jax.jacfwd needs "
                "real inputs too); split a complex input into its real and imaginary parts"
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise JacobenchError(
                f"{where} has dtype {dtype}, expected a floating dtype (Jacobians need real "
                "floating inputs); convert it, e.g. x.astype(jnp.float32)"
            )
    return tree, [leaf for _, leaf in with_path]


_CACHE: OrderedDict[Any, tuple[Any, Traced]] = OrderedDict()
_CACHE_SIZE = 128
_LOCK = threading.Lock()


def trace(f: Callable[..., Any], x: Any, max_segments: int = MAX_SEGMENTS) -> Traced:
    """Trace ``f`` at ``x``'s shapes and dtypes and discover its chain (cached).

    Args:
        f: A JAX-traceable function of one argument (an array or a pytree of arrays).
        x: The argument (its values are not used, only its structure, shapes and dtypes).
        max_segments: The most segments to keep (see :func:`~.discover.discover`).

    Returns:
        The :class:`Traced` function.

    Raises:
        JacobenchError: For bad inputs (:func:`check_inputs`), a function JAX cannot trace, or
            an output that is not a pytree of floating arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> t = trace(lambda p: {"y": p["a"] * p["b"].sum()}, {"a": jnp.ones(2), "b": jnp.ones(3)})
        >>> t.n_in, t.n_out, t.discovery.widths
        (5, 2, (5, 2))
    """
    import jax
    import jax.numpy as jnp

    tree, leaves = check_inputs(x)
    avals = tuple(
        (tuple(jnp.shape(leaf)), str(jnp.result_type(leaf)), isinstance(leaf, float))
        for leaf in leaves
    )
    config: Any = jax.config  # untyped in some jax releases
    key = (id(f), tree, avals, max_segments, bool(config.jax_enable_x64))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is f:
            _CACHE.move_to_end(key)
            return hit[1]
    traced = _trace(f, x, tree, max_segments)
    if traced.discovery is not None and _holds_tracers(traced.discovery.consts):
        return traced  # values of an enclosing trace: good for this trace only
    try:
        ref = weakref.ref(f, lambda _: _drop(key))
    except TypeError:
        return traced  # not weakly referenceable: no cache
    with _LOCK:
        _CACHE[key] = (ref, traced)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return traced


def _drop(key: Any) -> None:
    with _LOCK:
        _CACHE.pop(key, None)


def _holds_tracers(values: tuple[Any, ...]) -> bool:
    import jax

    return any(isinstance(v, jax.core.Tracer) for v in values)


def _trace(f: Callable[..., Any], x: Any, tree: Any, max_segments: int) -> Traced:
    import jax
    import jax.numpy as jnp

    name = function_name(f)
    flat, unravel = ravel(x)
    in_shapes = tuple(tuple(jnp.shape(leaf)) for leaf in jax.tree_util.tree_leaves(x))
    found: dict[str, Any] = {}

    def flat_f(v: Any) -> Any:
        out = f(unravel(v))
        found["tree"], found["shapes"], found["dtypes"] = _check_outputs(name, out)
        return ravel(out)[0]

    struct: Any = jax.ShapeDtypeStruct  # untyped in some jax releases
    spec = struct(flat.shape, flat.dtype)
    try:
        closed = jax.make_jaxpr(flat_f)(spec)
    except JacobenchError:
        raise
    except Exception as err:  # anything from tracing user code: say so once, here
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise JacobenchError(
            f"{name} could not be traced by JAX at x of shapes {list(in_shapes)} and dtype "
            f"{flat.dtype}: {type(err).__name__}: {first} (jacobian traces f once with abstract "
            "values, as jax.jit does: Python control flow on x needs jax.lax.cond, "
            "jax.lax.while_loop or jnp.where)"
        ) from err
    n_in, n_out = int(flat.size), sum(math.prod(s) for s in found["shapes"])
    discovery = discover(closed, max_segments) if n_in and n_out else None
    return Traced(
        name=name,
        discovery=discovery,
        dtype=flat.dtype,
        in_tree=tree,
        in_shapes=in_shapes,
        out_tree=found["tree"],
        out_shapes=found["shapes"],
        out_dtypes=found["dtypes"],
    )


def ravel(x: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``jax.flatten_util.ravel_pytree``, without its ``split`` for a single array.

    Example:
        >>> import jax.numpy as jnp
        >>> flat, unravel = ravel(jnp.ones((2, 3)))
        >>> flat.shape, unravel(flat).shape
        ((6,), (2, 3))
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    if not jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x)):
        flat, unravel = ravel_pytree(x)
        return flat, unravel
    leaf = jnp.asarray(x)
    return jnp.ravel(leaf), lambda v: jnp.reshape(v, leaf.shape)


def _check_outputs(name: str, out: Any) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
    """The output's structure, leaf shapes and dtypes; an error for a leaf that is no array."""
    import jax
    import jax.numpy as jnp
    from jax.extend.core import valid_jaxtype

    with_path, tree = jax.tree_util.tree_flatten_with_path(out)
    shapes, dtypes = [], []
    for path, leaf in with_path:
        where = f"{name}(x){jax.tree_util.keystr(path)}"
        if not valid_jaxtype(leaf):
            raise JacobenchError(
                f"{where} is {type(leaf).__name__}, expected an array: jacobian needs a function "
                "whose outputs are floating arrays (or pytrees of them)"
            )
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise JacobenchError(
                f"{where} has dtype {dtype}, expected a real floating dtype (the Jacobian of "
                "an integer, boolean or complex output is not what jacobian computes)"
            )
        shapes.append(tuple(jnp.shape(leaf)))
        dtypes.append(dtype)
    return tree, tuple(shapes), tuple(dtypes)
