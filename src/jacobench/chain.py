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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._core import validate_widths
from .errors import JacobenchError

__all__ = ["ACTIVATIONS", "Chain", "Dense", "mlp"]

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
        JacobenchError: For bad widths, a layer count that is not ``len(widths) - 1`` or a layer
            that is not callable. Whether the layers really produce the stated widths is checked
            (cheaply, with ``jax.eval_shape``) when a Jacobian is first taken.

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
                    f"layers[{i}] is {layer!r} of type {type(layer).__name__}, expected a "
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
        """Check, without computing anything, that every layer produces its stated width.

        Each layer is traced once with :func:`jax.eval_shape` on an abstract input; the result is
        remembered per input dtype, so repeated calls are free.

        Args:
            dtype: The dtype of the input ``x``.

        Raises:
            JacobenchError: If a layer fails on its stated input shape or returns another shape.

        Example:
            >>> Chain([lambda h: h[:2]], widths=(3, 1)).check_shapes()
            Traceback (most recent call last):
            ...
            jacobench.errors.JacobenchError: layers[0] maps shape (3,) to shape (2,), expected (1,) from widths (3, 1)
        """  # noqa: E501
        import jax

        key = str(np.dtype(dtype))
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


def _check_activation(name: object) -> None:
    if name not in ACTIVATIONS:
        raise JacobenchError(
            f"unknown activation {name!r}; valid options are {sorted(ACTIVATIONS)}"
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
) -> Chain:
    """A dense network ``f_l(h) = phi(W_l h + b_l)`` with seeded random weights.

    ``W_l`` has independent normal entries scaled by ``1/sqrt(d_{l-1})`` and ``b_l`` entries of
    standard deviation 0.1, so activations stay of order one in deep chains. The same arguments
    always give the same weights (drawn with :func:`numpy.random.default_rng`, then cast).

    Args:
        widths: ``(d_0, ..., d_L)``.
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"`` or ``"identity"`` (used on every layer).
        seed: Seed of the weight generator.
        dtype: Weight dtype, e.g. ``jnp.float32`` (the default) or ``jnp.float64``.

    Returns:
        A :class:`Chain` of :class:`Dense` layers, named like ``mlp(3-4-2, tanh)``.

    Raises:
        JacobenchError: For bad widths or an unknown activation.

    Example:
        >>> import jax.numpy as jnp
        >>> net = mlp((3, 4, 2), activation="relu", seed=1)
        >>> net.name, net.layers[0].weight.shape, net(jnp.ones(3)).shape
        ('mlp(3-4-2, relu)', (4, 3), (2,))
    """
    import jax.numpy as jnp

    d = validate_widths(widths)
    _check_activation(activation)
    rng = np.random.default_rng(seed)
    layers = []
    for d_in, d_out in itertools.pairwise(d):
        weight = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
        bias = 0.1 * rng.standard_normal(d_out)
        layers.append(
            Dense(jnp.asarray(weight, dtype=dtype), jnp.asarray(bias, dtype=dtype), activation)
        )
    return Chain(layers, d, name=f"mlp({'-'.join(map(str, d))}, {activation})")
