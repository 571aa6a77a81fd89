r"""Layered functions whose Jacobians are reached only through JVPs and VJPs.

A :class:`Chain` is :math:`f = f_L \circ \dots \circ f_1` given as a list of layer functions, layer
:math:`\ell` mapping a vector of width :math:`d_{\ell-1}` to a vector of width :math:`d_\ell`, with
its widths ``(d_0, ..., d_L)``. The layers are arbitrary JAX-traceable functions; nothing here
looks inside them. :func:`mlp` builds the usual test subject, a dense network
:math:`f_\ell(h) = \varphi(W_\ell h + b_\ell)` with seeded random weights, out of :class:`Dense`
layers.

Nothing here imports JAX until a network is built or run.

Example:
    >>> import jax.numpy as jnp
    >>> c = Chain([lambda h: 2.0 * h[:2], lambda h: h.sum(keepdims=True)], widths=(3, 2, 1))
    >>> c.n_layers, c.widths
    (2, (3, 2, 1))
    >>> c(jnp.array([1.0, 2.0, 3.0])).tolist()
    [6.0]
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._core import validate_widths
from ._text import show
from .errors import JacobenchError
from .units import resolve_dtype

__all__ = ["ACTIVATIONS", "Chain", "Dense", "check_point", "mlp"]

ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh")
"""The activation names :class:`Dense` and :func:`mlp` accept."""


class Chain:
    """A chain of layer functions ``f_L o ... o f_1`` with stated widths ``(d_0, ..., d_L)``.

    Args:
        layers: ``[f_1, ..., f_L]``, the first layer first; ``f_l`` maps a ``(d_{l-1},)`` array to
            a ``(d_l,)`` array and must be traceable by JAX.
        widths: ``(d_0, ..., d_L)``, positive integers.
        name: An optional label (used in ``repr`` and by benchmarks).

    Raises:
        JacobenchError: For bad widths, layers that are not a sequence, a layer count that is not
            ``len(widths) - 1`` or a layer that is not callable. Whether the layers really
            produce the stated widths, as floating arrays, is checked (cheaply, with
            ``jax.eval_shape``) when a Jacobian is first taken.

    Example:
        >>> Chain([abs], widths=(3, 3), name="abs")
        Chain(name='abs', widths=(3, 3))
    """

    __slots__ = ("__weakref__", "_checked", "layers", "name", "widths")

    def __init__(
        self,
        layers: Sequence[Callable[[Any], Any]],
        widths: Sequence[int],
        name: str | None = None,
    ) -> None:
        self.widths: tuple[int, ...] = validate_widths(widths)
        if not isinstance(layers, Sequence) or isinstance(layers, str):
            raise JacobenchError(
                f"layers must be a list [f_1, ..., f_L] of functions, got {show(layers)} of type "
                f"{type(layers).__name__}"
            )
        self.layers: tuple[Callable[[Any], Any], ...] = tuple(layers)
        self.name = name
        if len(self.layers) != len(self.widths) - 1:
            raise JacobenchError(
                f"got {len(self.layers)} layers, expected {len(self.widths) - 1} "
                f"(one per consecutive pair) from widths {self.widths}"
            )
        for i, layer in enumerate(self.layers):
            if not callable(layer):
                raise JacobenchError(
                    f"layers[{i}] is {show(layer)} of type {type(layer).__name__}, expected a "
                    f"function from shape ({self.widths[i]},) to ({self.widths[i + 1]},)"
                )
        self._checked: set[str] = set()  # input dtypes whose shapes check_shapes has verified

    @property
    def n_layers(self) -> int:
        """L, the number of layers."""
        return len(self.layers)

    def __call__(self, x: Any) -> Any:
        """Apply ``f_L(... f_1(x))`` to a ``(d_0,)`` vector."""
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self) -> str:
        return f"Chain(name={self.name!r}, widths={self.widths})"

    def check_shapes(self, dtype: Any = "float32") -> None:
        """Check, without computing anything, that every layer gives its stated width, as floats.

        Each layer is traced once with :func:`jax.eval_shape` on an abstract input; the result is
        remembered per input dtype, so repeated calls are free.

        Args:
            dtype: The dtype of the input ``x``.

        Raises:
            JacobenchError: If a layer fails on its stated input shape, returns another shape, or
                returns an array that is not floating (an integer output has no derivative:
                ``jax.jvp`` would give ``float0`` tangents and ``jax.vjp`` zeros).

        Example:
            >>> Chain([lambda h: h[:2]], widths=(3, 1)).check_shapes()
            Traceback (most recent call last):
            ...
            jacobench.errors.JacobenchError: layers[0] maps shape (3,) to shape (2,), expected (1,) from widths (3, 1)
            >>> import jax.numpy as jnp
            >>> Chain([lambda h: jnp.round(h).astype(jnp.int32)], widths=(3, 3)).check_shapes()
            Traceback (most recent call last):
            ...
            jacobench.errors.JacobenchError: layers[0] returns dtype int32, expected a floating dtype: an integer output has no derivative, so the chain has no Jacobian (widths (3, 3))
        """  # noqa: E501
        import jax
        import jax.numpy as jnp

        key = str(resolve_dtype(dtype))
        if key in self._checked:
            return
        struct: Any = jax.ShapeDtypeStruct  # untyped in some jax releases
        arg = struct((self.widths[0],), dtype)
        for i, layer in enumerate(self.layers):
            try:
                out = jax.eval_shape(layer, arg)
            except Exception as err:  # any failure inside user code: add context once, here
                raise JacobenchError(
                    f"layers[{i}] failed on an input of shape {tuple(arg.shape)} and dtype "
                    f"{arg.dtype} (widths {self.widths}): {type(err).__name__}: {err}"
                ) from err
            expected = (self.widths[i + 1],)
            if not hasattr(out, "shape") or tuple(out.shape) != expected:
                got = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
                raise JacobenchError(
                    f"layers[{i}] maps shape {tuple(arg.shape)} to shape {got}, expected "
                    f"{expected} from widths {self.widths}"
                )
            if not jnp.issubdtype(out.dtype, jnp.floating):
                raise JacobenchError(
                    f"layers[{i}] returns dtype {out.dtype}, expected a floating dtype: an "
                    "integer output has no derivative, so the chain has no Jacobian (widths "
                    f"{show(self.widths)})"
                )
            arg = struct(out.shape, out.dtype)
        self._checked.add(key)


@dataclass(frozen=True, eq=False)
class Dense:
    """A dense layer ``h -> phi(weight @ h + bias)``.

    Attributes:
        weight: A ``(d_out, d_in)`` array.
        bias: A ``(d_out,)`` array.
        activation: One of :data:`ACTIVATIONS`.

    Example:
        >>> import jax.numpy as jnp
        >>> Dense(jnp.eye(2), jnp.array([0.0, -5.0]), "relu")(jnp.array([1.0, 2.0])).tolist()
        [1.0, 0.0]
    """

    weight: Any
    bias: Any
    activation: str = "tanh"

    def __post_init__(self) -> None:
        _check_activation(self.activation)

    def __call__(self, h: Any) -> Any:
        """Apply the layer to a ``(d_in,)`` vector."""
        return _activation_fn(self.activation)(self.weight @ h + self.bias)


def _check_activation(name: object, what: str = "activation") -> None:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise JacobenchError(
            f"unknown {what} {show(name)}; valid options are {sorted(ACTIVATIONS)}"
        )


def _activation_fn(name: str) -> Callable[[Any], Any]:
    import jax

    table: dict[str, Callable[[Any], Any]] = {
        "identity": lambda z: z,
        "relu": jax.nn.relu,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jax.numpy.tanh,
    }
    return table[name]


def mlp(
    widths: Sequence[int],
    activation: str = "tanh",
    seed: int = 0,
    dtype: Any = "float32",
    final_activation: str | None = None,
) -> Chain:
    """A dense network ``f_l(h) = phi(W_l h + b_l)`` with seeded random weights.

    ``W_l`` has independent normal entries scaled by ``1/sqrt(d_{l-1})`` and ``b_l`` entries of
    standard deviation 0.1, so activations stay of order one in deep chains. The same arguments
    always give the same weights (drawn with :func:`numpy.random.default_rng`, then cast).

    Args:
        widths: ``(d_0, ..., d_L)``.
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"`` or ``"identity"`` (used on every layer
            but the last, and on the last too unless ``final_activation`` says otherwise).
        seed: Seed of the weight generator.
        dtype: Weight dtype, e.g. ``jnp.float32`` (the default) or ``jnp.float64``.
        final_activation: The last layer's activation, one of the same names; ``None`` (the
            default) means ``activation``. ``mlp((d0, d1, d2, d3, 1), final_activation="identity")``
            is the scalar function ``f = w_4^T h_3 + b_4`` of a network with a linear read-out.

    Returns:
        A :class:`Chain` of :class:`Dense` layers, named like ``mlp(3-4-2, tanh)``, or like
        ``mlp(3-4-1, tanh, final identity)`` when the last layer's activation differs.

    Raises:
        JacobenchError: For bad widths, an unknown activation, a seed that is not a non-negative
            integer or a dtype that is not floating.

    Example:
        >>> import jax.numpy as jnp
        >>> net = mlp((3, 4, 2), activation="relu", seed=1)
        >>> net.name, net.layers[0].weight.shape, net(jnp.ones(3)).shape
        ('mlp(3-4-2, relu)', (4, 3), (2,))
        >>> scalar = mlp((3, 4, 1), final_activation="identity")
        >>> scalar.name, [layer.activation for layer in scalar.layers]
        ('mlp(3-4-1, tanh, final identity)', ['tanh', 'identity'])
    """
    import jax.numpy as jnp

    d = validate_widths(widths)
    _check_activation(activation)
    final = activation if final_activation is None else final_activation
    _check_activation(final, "final_activation")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise JacobenchError(f"seed must be a non-negative integer, got {show(seed)}")
    element = resolve_dtype(dtype)
    if not jnp.issubdtype(element, jnp.floating):
        raise JacobenchError(
            f"dtype {show(dtype)} is not floating; expected a floating dtype for the weights, "
            "e.g. 'float32', 'float64' or 'bfloat16'"
        )
    rng = np.random.default_rng(int(seed))
    layers = []
    for k, (d_in, d_out) in enumerate(itertools.pairwise(d), start=1):
        weight = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
        bias = 0.1 * rng.standard_normal(d_out)
        layers.append(
            Dense(
                jnp.asarray(weight, dtype=element),
                jnp.asarray(bias, dtype=element),
                final if k == len(d) - 1 else activation,
            )
        )
    label = activation if final == activation else f"{activation}, final {final}"
    return Chain(layers, d, name=f"mlp({'-'.join(map(str, d))}, {label})")


def check_point(chain: Chain, x: Any, needs: str = "Jacobians") -> Any:
    """``x`` as a JAX vector of shape ``(d_0,)`` and a floating dtype, or the library's error.

    Args:
        chain: The chain ``x`` goes into.
        x: The point.
        needs: What needs real inputs, for the message (``"Jacobians"``, ``"derivatives"``).

    Raises:
        JacobenchError: If ``x`` is not array-like, not a vector, of the wrong size, or not
            floating.

    Example:
        >>> check_point(Chain([abs], widths=(3, 3)), [1.0, 2.0, 3.0]).shape
        (3,)
    """
    import jax.numpy as jnp

    d0 = chain.widths[0]
    try:
        x = jnp.asarray(x)
    except (TypeError, ValueError) as err:
        raise JacobenchError(
            f"x is {show(x)} of type {type(x).__name__}, expected a vector of shape ({d0},) of a "
            f"floating dtype ({type(err).__name__}: {err})"
        ) from None
    if x.ndim != 1:
        raise JacobenchError(
            f"x has shape {tuple(x.shape)} (rank {x.ndim}), expected a vector of shape ({d0},); "
            "use jax.vmap for a batch of inputs"
        )
    if x.shape[0] != d0:
        raise JacobenchError(
            f"x has shape {tuple(x.shape)}, expected ({d0},) from the chain's widths {chain.widths}"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise JacobenchError(
            f"x has dtype {x.dtype}, expected a floating dtype ({needs} need real inputs); "
            "convert it, e.g. x.astype(jnp.float32)"
        )
    return x
