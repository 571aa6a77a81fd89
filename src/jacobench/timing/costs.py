r"""Predicted seconds as the planners' objective: cost objects for both engines' dynamic programs.

The explicit planner's dynamic program prices each product ``m x k @ k x n`` with
:class:`ProductSeconds` (``matmul_seconds(m, k, n) + op overhead``) instead of ``m k n``; the
matrix-free planner prices passes and products through :class:`PassSeconds`, which answers the
same three questions as :class:`jacobench.matrix_free.MacCosts` (``tangents(w, lo, hi)``,
``adjoints(w, lo, hi)``, ``multiply(m, k, n)``) in seconds, by the operations of
:mod:`jacobench.timing.predict`. What every plan of a chain pays alike (the primal pass, the call)
is left out: it does not change which plan is fastest, so a plan's cost under these objects is its
predicted time less that constant. So is the time of reading weights back from memory
(:func:`jacobench.timing.predict.reuse_distances`), which depends on the whole schedule, not on
one pass: the planners choose between the program's plan, the one with the fewest multiply-adds
and forward and reverse mode by :func:`jacobench.predict_seconds`, which counts it.

Example:
    >>> from jacobench.timing import DeviceProfile
    >>> device = DeviceProfile.uniform(flops=1e9, bandwidth=1e18, op_overhead_s=1e-6)
    >>> round(ProductSeconds(device)(100, 100, 100) * 1e3, 6)  # 2 Mflop at 1 Gflop/s, 1 launch
    2.001
    >>> costs = PassSeconds((3, 4, 2), device)
    >>> round(costs.tangents(3, 1, 2) * 1e6, 6)  # D W1 (1 op), then a product (48 flops), 2 ops
    3.048
    >>> round(costs.tangents(3, 1, 2, seeded=True) * 1e6, 6)  # 72 + 48 flops, 4 ops
    4.12
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

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
    node of a plan, as the executor's dense fast path runs it (:mod:`jacobench.timing.executor`):
    ``tangents(w, lo, hi, batch, seeded=...)``: ``w`` tangents through layers ``lo..hi``;
    ``adjoints(...)``: ``w`` adjoints back through them; ``multiply(m, k, n)``: one product.
    An identity seed (``seeded=False``) forms the first factor, ``D W``, without a product;
    ``batch`` runs the block that many at a time, with the loop's own operations. The primal is
    left out (every plan makes each activation once), and so is what carrying it along a thin
    tangent block (``W [h | V]``) saves: at most one matrix-vector product per layer.
    Like :class:`jacobench.matrix_free.MacCosts`, the methods take ints
    and return a float, or take integer arrays (broadcast together, as the vectorised dynamic
    program passes them) and return a float array.

    Attributes:
        widths: ``(d_0, ..., d_L)``.
        profile: The device.
        dtype: ``"float32"`` or ``"float64"``.
    """

    prices_passes: ClassVar[bool] = True  # the planners pass batch= and seeded= (model.pass_cost)
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

    def _table(self, kind: str, b: int) -> np.ndarray:
        """Three rows over layers ``l`` (index ``l``; 0 unused), for blocks of width ``b``.

        The prefix sums of a layer's full cost, the full cost, and the cost of the layer where
        an identity seed enters (``D W``, no product).
        """
        key = (kind, b)
        table = self._tables.get(key)
        if table is None:
            d = np.asarray(self.widths, dtype=float)
            out, inn = d[1:], d[:-1]
            p, launch = self.profile, self._launch
            if kind == "tangents":
                product = p.matmul_seconds(out, inn, b, self.dtype)
                elements, eye = out * b, out * b  # D W: the d_l x b block of W, scaled
            else:
                product = p.matmul_seconds(b, out, inn, self.dtype)
                elements, eye = b * out, b * inn  # rows of D W: b x d_{l-1}
            slope = p.elementwise_seconds(elements, (2 * elements + out) * self._size, self.dtype)
            full = product + slope + 2 * launch
            first = p.elementwise_seconds(eye, (2 * eye + out) * self._size, self.dtype) + launch
            table = np.zeros((3, len(d)))
            table[0, 1:] = np.cumsum(full)
            table[1, 1:] = full
            table[2, 1:] = first
            self._tables[key] = table
        return table

    def _pass(self, kind: str, w: int, lo: int, hi: int, batch: int | None, seeded: bool) -> float:
        """One pass of ``w`` (ints), ``batch`` at a time (see the class)."""
        d = self.widths
        eye = lo if kind == "tangents" else hi  # the layer an identity seed enters at

        def one(b: int) -> float:
            t = self._table(kind, b)
            seconds = float(t[0, hi] - t[0, lo - 1])
            if not seeded:
                seconds += float(t[2, eye] - t[1, eye])
            elif batch is not None and batch < w:  # a batch of the seed, sliced out
                rows = d[lo - 1] if kind == "tangents" else d[hi]
                seconds += self._elementwise(rows * b, 2 * rows * b) + self._launch
            return seconds

        if batch is None or batch >= w:
            return one(w)
        rows = d[hi] if kind == "tangents" else d[lo - 1]
        full, rest = divmod(w, batch)
        zero = self._elementwise(rows * w, rows * w) + self._launch
        looped = full * (one(batch) + 3 * self._launch)
        return zero + looped + (one(rest) if rest else 0.0)

    def _passes(self, kind: str, w: Any, lo: Any, hi: Any, batch: int | None, seeded: bool) -> Any:
        """:meth:`_pass` over arrays (a whole block at a time, per distinct ``w``)."""
        w, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=np.int64) for v in (w, lo, hi)))
        out = np.empty(w.shape)
        if batch is not None:
            for idx in np.ndindex(w.shape):
                args = (int(w[idx]), int(lo[idx]), int(hi[idx]))
                out[idx] = self._pass(kind, *args, batch, seeded)
            return out
        eye = lo if kind == "tangents" else hi
        for value in np.unique(w):
            at = w == value
            t = self._table(kind, int(value))
            out[at] = t[0, hi[at]] - t[0, lo[at] - 1]
            if not seeded:
                out[at] += t[2, eye[at]] - t[1, eye[at]]
        return out

    def _elementwise(self, elements: int, moved: int) -> float:
        return float(self.profile.elementwise_seconds(elements, moved * self._size, self.dtype))

    def tangents(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """Seconds of ``w`` tangents through layers ``lo..hi`` (``batch`` at a time)."""
        if _scalars(w, lo, hi):
            return self._pass("tangents", int(w), int(lo), int(hi), batch, seeded)
        return self._passes("tangents", w, lo, hi, batch, seeded)

    def adjoints(
        self, w: Any, lo: Any, hi: Any, batch: int | None = None, *, seeded: bool = False
    ) -> Any:
        """Seconds of ``w`` adjoints back through layers ``lo..hi`` (``batch`` at a time)."""
        if _scalars(w, lo, hi):
            return self._pass("adjoints", int(w), int(lo), int(hi), batch, seeded)
        return self._passes("adjoints", w, lo, hi, batch, seeded)

    def multiply(self, m: Any, k: Any, n: Any) -> Any:
        """Seconds of ``(m x k) @ (k x n)`` products (ints, or arrays broadcast together)."""
        seconds = self.profile.matmul_seconds(m, k, n, self.dtype) + self._launch
        return float(seconds) if _scalars(m, k, n) else seconds


def _scalars(*values: Any) -> bool:
    return not any(isinstance(x, np.ndarray) for x in values)
