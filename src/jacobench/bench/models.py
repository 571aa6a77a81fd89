"""Real models for the ``auto`` engine's benchmark: plain functions whose chain must be found.

Each model is an ordinary function -- written in ``jax.numpy`` or built from
`equinox <https://docs.kidger.site/equinox/>`_ modules -- that :func:`jacobench.jacobian` takes
as it is, given as ``apply(params, x)`` so that the benchmark can pass the weights to a jitted
function as arguments, as a training step would. Weights are drawn in float64 from a seed and
cast, so the float32 model that is timed and the float64 model that is its reference are the
same model.

* ``autoencoder-jnp`` and ``autoencoder-equinox``: encoder, narrow code, decoder (tanh); the
  Jacobian of the reconstruction with respect to the input.
* ``residual-mlp`` (equinox): residual blocks ``h + W2 tanh(W1 h)``, a narrow projection, an
  expansion, residual blocks again.
* ``no-cut`` (jax.numpy): ``x + W2 tanh(W1 x)``; ``x`` is needed at the very end, so the function
  has no cut point and the best plan is plain forward or reverse.

:data:`SIZES` gives the sizes of each benchmark grid. Equinox is imported only to build the
equinox models (it is in the ``bench`` extra).

Example:
    >>> import jax.numpy as jnp
    >>> apply, params = build("autoencoder-jnp", SIZES["tiny"]["autoencoder-jnp"], "float32")
    >>> apply(params, jnp.ones(64, jnp.float32)).shape
    (64,)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import JacobenchError

__all__ = ["LIBRARY", "MODELS", "SIZES", "build", "input_width", "model_function"]

MODELS = ("autoencoder-jnp", "autoencoder-equinox", "residual-mlp", "no-cut")
"""The benchmark's models, by name."""

LIBRARY = {
    "autoencoder-jnp": "jax.numpy",
    "autoencoder-equinox": "equinox",
    "residual-mlp": "equinox",
    "no-cut": "jax.numpy",
}
"""What each model is written in."""

_AUTOENCODER = {
    "tiny": (64, 40, 24, 4, 24, 40, 64),
    "default": (1024, 640, 384, 20, 384, 640, 1024),
    "full": (2048, 1280, 768, 32, 768, 1280, 2048),
    "large": (4096, 2560, 1536, 64, 1536, 2560, 4096),
}
_RESIDUAL = {  # (width, hidden width of a block, narrow width, blocks on each side)
    "tiny": (32, 64, 4, 1),
    "default": (512, 1024, 16, 2),
    "full": (1024, 2048, 32, 2),
    "large": (2048, 4096, 64, 2),
}
_NO_CUT = {"tiny": (32, 64), "default": (512, 1024), "full": (1024, 2048), "large": (2048, 4096)}

SIZES: dict[str, dict[str, tuple[int, ...]]] = {
    grid: {
        "autoencoder-jnp": _AUTOENCODER[grid],
        "autoencoder-equinox": _AUTOENCODER[grid],
        "residual-mlp": _RESIDUAL[grid],
        "no-cut": _NO_CUT[grid],
    }
    for grid in _AUTOENCODER
}
"""The sizes of every model in each grid: autoencoder widths, ``(width, hidden, narrow, blocks)``
of the residual MLP, ``(width, hidden)`` of the no-cut function."""


def input_width(name: str, size: tuple[int, ...]) -> int:
    """The length of the model's input vector.

    Example:
        >>> input_width("residual-mlp", SIZES["default"]["residual-mlp"])
        512
    """
    return size[0]


def build(
    name: str, size: tuple[int, ...], dtype: str, seed: int = 0
) -> tuple[Callable[[Any, Any], Any], Any]:
    """The model ``name`` of ``size`` with seeded weights of ``dtype``, as ``(apply, params)``.

    ``apply(params, x)`` is the model; ``params`` is a pytree of arrays (for equinox models, the
    module's arrays: ``eqx.partition``), so a jitted caller can take the weights as an argument.

    Raises:
        JacobenchError: For an unknown model name.
    """
    builders: dict[str, Callable[[tuple[int, ...], np.random.Generator], Any]] = {
        "autoencoder-jnp": _autoencoder_jnp,
        "autoencoder-equinox": _autoencoder_equinox,
        "residual-mlp": _residual_mlp,
        "no-cut": _no_cut,
    }
    if name not in builders:
        raise JacobenchError(f"unknown model {name!r}; valid options are {list(MODELS)}")
    apply, params = builders[name](size, np.random.default_rng(seed))
    return apply, _cast(params, dtype)


def model_function(name: str, size: tuple[int, ...], dtype: str, seed: int = 0) -> Any:
    """The model as a function of ``x`` alone (its weights closed over)."""
    apply, params = build(name, size, dtype, seed)
    return functools.partial(apply, params)


def _dense(rng: np.random.Generator, d_in: int, d_out: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((d_out, d_in)) / np.sqrt(d_in), 0.1 * rng.standard_normal(d_out)


def _cast(params: Any, dtype: str) -> Any:
    """Every array leaf of ``params`` as a JAX array of ``dtype``."""
    import jax
    import jax.numpy as jnp

    def cast(leaf: Any) -> Any:
        return jnp.asarray(leaf, dtype) if isinstance(leaf, np.ndarray | jax.Array) else leaf

    return jax.tree_util.tree_map(cast, params)


def _autoencoder_apply(params: Any, x: Any) -> Any:
    import jax.numpy as jnp

    for w, b in params:
        x = jnp.tanh(w @ x + b)
    return x


def _autoencoder_jnp(widths: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, Any]:
    return _autoencoder_apply, [_dense(rng, a, b) for a, b in itertools.pairwise(widths)]


def _no_cut_apply(params: Any, x: Any) -> Any:
    import jax.numpy as jnp

    (w1, b1), (w2, b2) = params
    return x + w2 @ jnp.tanh(w1 @ x + b1) + b2


def _no_cut(size: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, Any]:
    width, hidden = size
    return _no_cut_apply, [_dense(rng, width, hidden), _dense(rng, hidden, width)]


def _equinox(module: Any) -> tuple[Any, Any]:
    """``(apply, arrays)`` of an equinox module: its arrays, and the rest closed over."""
    import equinox as eqx

    arrays, static = eqx.partition(module, eqx.is_array)

    def apply(params: Any, x: Any) -> Any:
        return eqx.combine(params, static)(x)

    return apply, arrays


def _linear(rng: np.random.Generator, d_in: int, d_out: int) -> Any:
    """An ``equinox.nn.Linear`` whose weight and bias are drawn like :func:`_dense`'s."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    weight, bias = _dense(rng, d_in, d_out)
    layer = eqx.nn.Linear(d_in, d_out, key=jax.random.key(0))
    return eqx.tree_at(
        lambda m: (m.weight, m.bias), layer, (jnp.asarray(weight), jnp.asarray(bias))
    )


def _autoencoder_equinox(widths: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, Any]:
    import equinox as eqx
    import jax.numpy as jnp

    layers: list[Any] = []
    for a, b in itertools.pairwise(widths):
        layers += [_linear(rng, a, b), eqx.nn.Lambda(jnp.tanh)]
    return _equinox(eqx.nn.Sequential(layers))


@functools.cache
def _residual_classes() -> tuple[type, type]:
    """The residual MLP's equinox module classes (defined once, when first needed)."""
    import equinox as eqx
    import jax.numpy as jnp

    class Block(eqx.Module):
        """``h + outer(tanh(inner(h)))``."""

        inner: Any
        outer: Any

        def __call__(self, h: Any) -> Any:
            return h + self.outer(jnp.tanh(self.inner(h)))

    class ResidualMLP(eqx.Module):
        """Residual blocks, a narrow projection (tanh), an expansion, residual blocks."""

        down: tuple[Any, ...]
        project: Any
        expand: Any
        up: tuple[Any, ...]

        def __call__(self, x: Any) -> Any:
            for block in self.down:
                x = block(x)
            x = self.expand(jnp.tanh(self.project(x)))
            for block in self.up:
                x = block(x)
            return x

    return Block, ResidualMLP


def _residual_mlp(size: tuple[int, ...], rng: np.random.Generator) -> tuple[Any, Any]:
    block, residual_mlp = _residual_classes()
    width, hidden, narrow, n_blocks = size

    def blocks() -> tuple[Any, ...]:
        return tuple(
            block(_linear(rng, width, hidden), _linear(rng, hidden, width)) for _ in range(n_blocks)
        )

    down = blocks()
    project, expand = _linear(rng, width, narrow), _linear(rng, narrow, width)
    return _equinox(residual_mlp(down, project, expand, blocks()))
