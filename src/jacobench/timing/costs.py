r"""Predicted seconds as the planners' objective: cost objects for both engines' dynamic programs.

The explicit planner's dynamic program prices each product ``m x k @ k x n`` with
:class:`ProductSeconds` (``matmul_seconds(m, k, n) + op overhead``) instead of ``m k n``; the
matrix-free planner prices passes and products through :class:`PassSeconds`, which answers the
same three questions as :class:`jacobench.matrix_free.MacCosts` (``tangents(w, lo, hi)``,
``adjoints(w, lo, hi)``, ``multiply(m, k, n)``) in seconds, by the operations of
:mod:`jacobench.timing.predict`. What every plan of a chain pays alike (the primal pass, the call)
is left out: it does not change which plan is fastest, so a plan's cost under these objects is its
predicted time less that constant.

Example:
    >>> from jacobench.timing import DeviceProfile
    >>> device = DeviceProfile.uniform(flops=1e9, bandwidth=1e18, op_overhead_s=1e-6)
    >>> round(ProductSeconds(device)(100, 100, 100) * 1e3, 6)  # 2 Mflop at 1 Gflop/s, 1 launch
    2.001
    >>> costs = PassSeconds((3, 4, 2), device)
    >>> round(costs.tangents(3, 1, 2) * 1e6, 6)  # seed, 2 products (72 + 48 flops), 2 ops
    5.12
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import JacobenchError
from .profile import DeviceProfile


def resolve_profile(profile: object, backend: str, dtype: str) -> DeviceProfile:
    """``profile``, or (``None``) this machine's saved profile, measured first if need be.

    Raises:
        JacobenchError: If ``profile`` is neither ``None`` nor a
            :class:`~jacobench.timing.DeviceProfile`, or lacks ``backend`` or ``dtype``.
    """
    if profile is None:
        from .store import default_profile

        profile = default_profile(backend, dtype)
    if not isinstance(profile, DeviceProfile):
        raise JacobenchError(
            f"profile is {type(profile).__name__}, expected a jacobench.DeviceProfile (from "
            "jacobench.calibrate() or jacobench.timing.load(path)) or None for this machine's"
        )
    profile.rates(backend).rates(dtype)
    return profile


__all__ = ["PassSeconds", "ProductSeconds", "resolve_profile"]


@dataclass(frozen=True)
class ProductSeconds:
    """Predicted seconds of products ``(m x k) @ (k x n)``, launch included (vectorised).

    Attributes:
        profile: The device.
        dtype: ``"float32"`` or ``"float64"``.
        backend: ``"numpy"`` or ``"jax"``.
    """

    profile: DeviceProfile
    dtype: str = "float32"
    backend: str = "jax"

    def __post_init__(self) -> None:
        self.profile.rates(self.backend).rates(self.dtype)  # both must be there

    def __call__(self, m: Any, k: Any, n: Any) -> Any:
        """Seconds of each product (arrays broadcast)."""
        launch = self.profile.rates(self.backend).op_overhead_s
        return self.profile.matmul_seconds(m, k, n, self.dtype, self.backend) + launch


@dataclass(frozen=True)
class PassSeconds:
    """Seconds of matrix-free passes and products on a chain of dense layers (JAX).

    Each method gives what :mod:`jacobench.timing.predict` charges for the operations of one
    node of a plan: ``tangents(w, lo, hi, batch)``: ``w`` tangents through layers ``lo..hi``
    with an identity seed; ``adjoints(w, lo, hi, batch)``: ``w`` adjoints back through them;
    ``multiply(m, k, n)``: one product. ``batch`` runs the block that many at a time, with the
    loop's own operations. Like :class:`jacobench.matrix_free.MacCosts`, the methods take ints
    and return a float, or take integer arrays (broadcast together, as the vectorised dynamic
    program passes them) and return a float array.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        profile: The device.
        dtype: ``"float32"`` or ``"float64"``.
    """

    widths: tuple[int, ...]
    profile: DeviceProfile
    dtype: str = "float32"
    _tables: dict[tuple[str, int], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self.profile.rates("jax").rates(self.dtype)

    @cached_property
    def _launch(self) -> float:
        return float(self.profile.rates("jax").op_overhead_s)

    @cached_property
    def _size(self) -> int:
        return int(np.dtype(self.dtype).itemsize)

    def _prefix(self, kind: str, b: int) -> np.ndarray:
        """Prefix sums over layers of one pass of block width ``b`` (0 at index 0)."""
        key = (kind, b)
        table = self._tables.get(key)
        if table is None:
            d = np.asarray(self.widths, dtype=float)
            out, inn = d[1:], d[:-1]
            p = self.profile
            if kind == "tangents":
                product = p.matmul_seconds(out, inn, b, self.dtype)
                block = (out, np.full_like(out, b))
            else:
                product = p.matmul_seconds(b, out, inn, self.dtype)
                block = (np.full_like(out, b), out)
            elements = block[0] * block[1]
            moved = (2 * elements + out) * self._size
            ew = p.elementwise_seconds(elements, moved, self.dtype)
            per_layer = product + ew + 2 * self._launch
            table = np.concatenate([[0.0], np.cumsum(per_layer)])
            if kind == "tangents":  # the identity seed block, by the pass's first layer
                seed = d[:-1] * b
                seeds = p.elementwise_seconds(seed, seed * self._size, self.dtype) + self._launch
                table = np.stack([table, np.concatenate([[0.0], seeds])])
            else:
                table = np.stack([table, np.zeros_like(table)])
            self._tables[key] = table
        return table

    def _pass(self, kind: str, w: int, lo: int, hi: int, batch: int | None, rows: int) -> float:
        """One pass of ``w`` (ints), ``batch`` at a time."""

        def one(b: int) -> float:
            t = self._prefix(kind, b)
            return float(t[0, hi] - t[0, lo - 1] + t[1, lo])

        if batch is None or batch >= w:
            return one(w)
        full, rest = divmod(w, batch)
        zero = self._elementwise(rows * w, rows * w) + self._launch
        looped = full * (one(batch) + 3 * self._launch)
        return zero + looped + (one(rest) if rest else 0.0)

    def _passes(self, kind: str, w: Any, lo: Any, hi: Any, batch: Any, rows: Any) -> Any:
        """:meth:`_pass` over arrays (a whole block at a time, per distinct ``w``)."""
        w, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (w, lo, hi)))
        rows = np.broadcast_to(np.asarray(rows, dtype=np.int64), w.shape)
        out = np.empty(w.shape)
        if batch is not None:
            for idx in np.ndindex(w.shape):
                out[idx] = self._pass(kind, int(w[idx]), int(lo[idx]), int(hi[idx]), batch, 0)
            return out
        for value in np.unique(w):
            at = w == value
            t = self._prefix(kind, int(value))
            out[at] = t[0, hi[at]] - t[0, lo[at] - 1] + t[1, lo[at]]
        return out

    def _elementwise(self, elements: int, moved: int) -> float:
        return float(self.profile.elementwise_seconds(elements, moved * self._size, self.dtype))

    def tangents(self, w: Any, lo: Any, hi: Any, batch: int | None = None) -> Any:
        """Seconds of ``w`` tangents through layers ``lo..hi`` (``batch`` at a time)."""
        if _scalars(w, lo, hi):
            return self._pass("tangents", int(w), int(lo), int(hi), batch, self.widths[int(hi)])
        rows = np.asarray(self.widths)[np.asarray(hi)]
        return self._passes("tangents", w, lo, hi, batch, rows)

    def adjoints(self, w: Any, lo: Any, hi: Any, batch: int | None = None) -> Any:
        """Seconds of ``w`` adjoints back through layers ``lo..hi`` (``batch`` at a time)."""
        if _scalars(w, lo, hi):
            rows = self.widths[int(lo) - 1]
            return self._pass("adjoints", int(w), int(lo), int(hi), batch, rows)
        rows = np.asarray(self.widths)[np.asarray(lo) - 1]
        return self._passes("adjoints", w, lo, hi, batch, rows)

    def multiply(self, m: Any, k: Any, n: Any) -> Any:
        """Seconds of ``(m x k) @ (k x n)`` products (ints, or arrays broadcast together)."""
        seconds = self.profile.matmul_seconds(m, k, n, self.dtype) + self._launch
        return float(seconds) if _scalars(m, k, n) else seconds


def _scalars(*values: Any) -> bool:
    return not any(isinstance(x, np.ndarray) for x in values)
