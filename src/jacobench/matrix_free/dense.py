r"""The executor's fast path for :class:`~jacobench.chain.Dense` layers: one product per layer.

A dense layer :math:`h \mapsto \varphi(W h + b)` has the Jacobian :math:`D W` with
:math:`D = \operatorname{diag}(\varphi'(W h + b))`, and for every activation of
:data:`~jacobench.chain.ACTIVATIONS` the slope :math:`\varphi'` is a function of the layer's output
:math:`\varphi(W h + b)` alone (``tanh``: :math:`(1 + y)(1 - y)`, ``sigmoid``: :math:`y (1 - y)`,
``relu``: :math:`[y > 0]`, ``identity``: 1), exactly as JAX's own derivative rules compute it. So
a pass through a run of dense layers needs no ``jax.jvp`` / ``jax.vjp`` machinery:

* **tangents** (a block ``V`` of ``t`` columns): where the output activation is not yet known and
  the block is thin (``t < FUSE_BELOW``), one product :math:`W [h \mid V]` per layer reads
  :math:`W` once for the primal and the tangents together; its first column gives the output
  activation, the others are scaled row-wise by the slope. A thin product is bound by reading
  :math:`W`, so the primal's column is nearly free; a wide one is bound by its multiply-adds, and
  there the extra column (which also breaks the product's tiling) costs more than a separate
  matrix-vector product, so the primal gets its own. Where the output activation is already known
  (the forward sweep made it), only :math:`W V` is formed;
* **adjoints** (a block ``A`` of ``a`` rows): :math:`(A D) W` per layer, from the activations the
  forward sweep holds -- nothing of the primal is recomputed;
* **identity seeds** (the columns or rows of an identity, whole or a batch of them) cost no product
  at all: the first factor is :math:`D W` itself (a slice of its columns or rows), formed by
  scaling :math:`W`. The cost model still counts that product (:mod:`jacobench.matrix_free.model`),
  so the executed multiply-adds never exceed the model's.

Blocks keep the orientation the next product wants: tangents as ``(d_out, t)`` columns, adjoints
as ``(a, d_in)`` rows, so no transpose is formed, and under :func:`jax.vmap` over points every
product becomes one large matrix product (the point axis joins the free dimensions).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from jacobench.chain import mlp
    >>> net = mlp((3, 4, 2), seed=0)
    >>> x = jnp.linspace(-1.0, 1.0, 3)
    >>> block, outs = push(net.layers, x, Eye(0, 3), [None, None])
    >>> bool(jnp.allclose(block, jax.jacfwd(net)(x), atol=1e-6))
    True
    >>> rows = pull(net.layers, [x, *outs], Eye(0, 2))
    >>> bool(jnp.allclose(rows, block, atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..chain import Dense, _activation_fn

__all__ = ["FUSE_BELOW", "Eye", "is_dense", "pull", "push"]

FUSE_BELOW = 16
"""A tangent block narrower than this takes the primal along in its product (``W [h | V]``).

Measured on a 2-core AVX-512 CPU with float32 hourglass and profile chains: fusing is 5-15% faster
for blocks of 10-15 columns, a wash at 24 and 5-20% slower at 16, 32, 64 and 256.
"""

_SLOPE_FROM_OUTPUT = frozenset({"identity", "relu", "sigmoid", "tanh"})
"""Activations whose slope this module derives from the layer's output."""


def is_dense(layers: Sequence[object]) -> bool:
    """Whether every layer is a :class:`~jacobench.chain.Dense` layer this module can run.

    Example:
        >>> from jacobench.chain import mlp
        >>> is_dense(mlp((2, 3, 1)).layers), is_dense([abs])
        (True, False)
    """
    return all(type(layer) is Dense and layer.activation in _SLOPE_FROM_OUTPUT for layer in layers)


@dataclass(frozen=True)
class Eye:
    """Columns (tangent seeds) or rows (adjoint seeds) ``start .. start + size - 1`` of an identity.

    Attributes:
        start: The first column or row (an int, or a traced int inside a loop over batches).
        size: How many.
    """

    start: Any
    size: int

    def take(self, matrix: Any, axis: int) -> Any:
        """This seed's columns (``axis=1``) or rows (``axis=0``) of ``matrix``."""
        import jax

        if isinstance(self.start, int) and self.start == 0 and self.size == matrix.shape[axis]:
            return matrix
        return jax.lax.dynamic_slice_in_dim(matrix, self.start, self.size, axis=axis)


def _scale(activation: str, out: Any, block: Any, axis: int) -> Any:
    """``block`` times the slope of ``activation`` at the layer output ``out``.

    ``axis=0`` scales rows (``diag(slope) @ block``), ``axis=1`` columns (``block @ diag(slope)``).
    """
    import jax.numpy as jnp

    y = out[:, None] if axis == 0 else out[None, :]
    if activation == "identity":
        return block
    if activation == "relu":
        return jnp.where(y > 0, block, jnp.zeros((), block.dtype))
    if activation == "sigmoid":
        return block * (y * (1 - y))
    return block * ((1 + y) * (1 - y))  # tanh


def push(
    layers: Sequence[Any], h: Any, seed: Any, known: Sequence[Any | None]
) -> tuple[Any, list[Any]]:
    """Push tangents through dense ``layers``: one product per layer.

    Args:
        layers: Dense layers, the first one first (see :func:`is_dense`).
        h: The activation going into the first layer.
        seed: The tangents: a ``(d_in, t)`` block, or an :class:`Eye` (identity columns).
        known: For each layer, its output activation when it is already known, else ``None``.

    Returns:
        The ``(d_out, t)`` tangent block and every layer's output activation.
    """
    import jax.numpy as jnp

    block, outs = seed, []
    for layer, out in zip(layers, known, strict=True):
        weight, act = layer.weight, layer.activation
        if isinstance(block, Eye):  # D W, or a slice of its columns: no product
            out = layer(h) if out is None else out
            block = _scale(act, out, block.take(weight, axis=1), axis=0)
        elif out is None and block.shape[1] < FUSE_BELOW:  # W [h | V]: one read of W
            both = weight @ jnp.concatenate([h[:, None].astype(block.dtype), block], axis=1)
            out = _activation_fn(act)(both[:, 0] + layer.bias)
            block = _scale(act, out, both[:, 1:], axis=0)
        else:
            out = layer(h) if out is None else out
            block = _scale(act, out, weight @ block, axis=0)
        outs.append(out)
        h = out
    return block, outs


def pull(layers: Sequence[Any], acts: Sequence[Any], seed: Any) -> Any:
    """Pull adjoints back through dense ``layers`` from the activations the forward sweep holds.

    Args:
        layers: Dense layers, the first one first (see :func:`is_dense`).
        acts: The activations: ``acts[0]`` goes into the first layer, ``acts[i]`` comes out of
            ``layers[i - 1]``.
        seed: The adjoints: an ``(a, d_out)`` block, or an :class:`Eye` (identity rows).

    Returns:
        The ``(a, d_in)`` adjoint block.
    """
    block = seed
    for layer, out in zip(reversed(layers), reversed(acts[1:]), strict=True):
        weight, act = layer.weight, layer.activation
        if isinstance(block, Eye):  # rows of D W: no product
            block = _scale(act, block.take(out, axis=0), block.take(weight, axis=0), axis=0)
        else:
            block = _scale(act, out, block, axis=1) @ weight
    return block
