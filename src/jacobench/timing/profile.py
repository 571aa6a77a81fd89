r"""Device profiles: what matrix products, memory traffic and launches cost on one machine.

A :class:`DeviceProfile` holds numbers that :func:`jacobench.timing.calibrate` measured by
micro-benchmarks on the current machine (never numbers fitted to benchmark rows), for each backend
(``"numpy"``: numpy on the host CPU; ``"jax"``: jitted JAX on its default device):

* ``call_overhead_s``: the fixed cost of one call (JAX: a blocking call of a compiled function of
  one argument; numpy: :func:`jacobench.multiply` on one tiny matrix), and ``arg_overhead_s`` for
  each further argument;
* ``op_overhead_s``: the cost of launching one more operation;
* ``bandwidth``: bytes moved per second by a streaming element-wise operation, at a few sizes of
  the bytes it moves (caches make small working sets faster);

and for each backend and dtype (float32, float64, at the matmul precision in force):

* the seconds of one product ``(m x k) @ (k x n)`` (its launch included, the call excluded) on a
  grid of shapes: each of ``m``, ``k``, ``n`` runs over ``sizes``, from 1 to a few thousand, so the
  grid goes from square to thin; shapes that would take too long are skipped (see below);
* element-wise throughput: elements per second of a fused multiply (``elementwise_per_s``) and of
  ``tanh`` (``transcendental_per_s``).

**Rate lookup.** A product's rate is :math:`R = 2mkn / (t - c_{op})` flop/s (a multiply-add is two
flops), where :math:`t` is its measured seconds. :meth:`DeviceProfile.matmul_seconds` interpolates
:math:`\log R` trilinearly in :math:`(\log m, \log k, \log n)` between the grid's points (clamped
at its ends: beyond the largest size the rate stays that of the largest) and returns
:math:`\max(2mkn / R,\ B / W(B))` with :math:`B = (mk + kn + mn)\,s` the bytes the product reads
and writes (:math:`s` bytes per element) and :math:`W(B)` the bandwidth at that size. At a grid
point it gives back the measured seconds less the launch, with one correction: a product never
takes longer than one at least as large in every dimension (it could be padded to it), so each
measured time is capped by the least time measured at any larger shape; this also undoes a
measurement that another process slowed down. A grid shape that calibration skipped because it
would take too long gets the rate of the largest measured shape no larger in any dimension (rates
grow with size and level off).

Example:
    A profile with round numbers: every product runs at 1 Gflop/s, memory moves 1 GB/s, a launch
    costs 1 microsecond:

    >>> p = DeviceProfile.uniform(flops=1e9, bandwidth=1e9, op_overhead_s=1e-6)
    >>> round(p.matmul_seconds(100, 100, 100), 9)  # 2e6 flop at 1e9 flop/s; 120 kB take less
    0.002
    >>> round(p.matmul_seconds(1000, 1000, 1), 9)  # a matrix-vector product is memory-bound
    0.004008
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import JacobenchError
from ..units import format_bytes

__all__ = ["BACKENDS", "DTYPES", "BackendRates", "DeviceProfile", "DtypeRates", "cpu_model"]

BACKENDS = ("numpy", "jax")
"""The backends a profile can describe."""

DTYPES = ("float32", "float64")
"""The dtypes calibration measures by default."""

FORMAT = 1
"""The version of the JSON layout :meth:`DeviceProfile.to_dict` writes."""

_ITEMSIZE = {"float32": 4, "float64": 8}


@dataclass(frozen=True)
class DtypeRates:
    """What one backend measured at one dtype.

    Attributes:
        dtype: ``"float32"`` or ``"float64"``.
        sizes: The grid's points along each of ``m``, ``k`` and ``n``, increasing, from 1.
        matmul: ``(m, k, n, seconds)`` of each measured product (launch included, call
            excluded); at least the smallest shape ``(1, 1, 1)``.
        elementwise_per_s: Elements per second of a fused element-wise multiply.
        transcendental_per_s: Elements per second of ``tanh``.
    """

    dtype: str
    sizes: tuple[int, ...]
    matmul: tuple[tuple[int, int, int, float], ...]
    elementwise_per_s: float
    transcendental_per_s: float

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return _ITEMSIZE[self.dtype]


@dataclass(frozen=True)
class BackendRates:
    """What one backend measured.

    Attributes:
        backend: ``"numpy"`` or ``"jax"``.
        call_overhead_s: Seconds of one call with one argument that does (almost) nothing.
        arg_overhead_s: Seconds each further argument adds to a call.
        op_overhead_s: Seconds each launched operation adds.
        bandwidth: ``(bytes moved, bytes per second)`` pairs, by increasing size.
        dtypes: One :class:`DtypeRates` per measured dtype.
        weights: ``(footprint, bytes per second)`` pairs, by increasing footprint: how fast a
            call reads its weights in matrix-vector products when it cycles through that many
            bytes of them (the first: one weight, read again and again; see
            :meth:`weight_seconds_per_byte`); one point beside an accelerator (see
            :func:`jacobench.calibrate`), none in profiles from before it was measured.
        left_weights: The same for products of :data:`~jacobench.timing.micro.SIDE_COLUMNS`
            columns with the weight on the left (``W @ V``, a tangent block), how fast they
            read it (bytes of weight per second of product); ``()``: read as :attr:`weights`.
        right_weights: The same with the weight on the right (``A @ W``, an adjoint block).
            Out of cache the two differ: on a 2-core CPU a thin product with the weight on the
            right pays about twice the extra time of one with it on the left, though in cache
            it is the faster one.
    """

    backend: str
    call_overhead_s: float
    arg_overhead_s: float
    op_overhead_s: float
    bandwidth: tuple[tuple[int, float], ...]
    dtypes: tuple[DtypeRates, ...]
    weights: tuple[tuple[int, float], ...] = ()
    left_weights: tuple[tuple[int, float], ...] = ()
    right_weights: tuple[tuple[int, float], ...] = ()

    def rates(self, dtype: str) -> DtypeRates:
        """The rates of ``dtype``; a :class:`JacobenchError` names the dtypes there are."""
        for rates in self.dtypes:
            if rates.dtype == dtype:
                return rates
        raise JacobenchError(
            f"the device profile has no {dtype} rates for backend {self.backend!r}; it has "
            f"{[r.dtype for r in self.dtypes]} (calibrate with dtypes=(..., {dtype!r}))"
        )

    def weight_seconds_per_byte(self, footprint: Any, side: str = "vector") -> Any:
        """Seconds a byte of weight costs beyond a read from cache, in a call of ``footprint``.

        ``footprint``: the bytes of the call's data (see :attr:`weights`); 0 where they fit the
        caches, or where the curve was not measured. The calibration times every product on
        operands that stay in cache; a call that streams more data than the caches hold reads
        each weight from memory again: ``1 / V(footprint) - 1 / V(first)``, log-log
        interpolated, clamped, never negative. ``side``: which reads -- ``"vector"`` (a
        matrix-vector product or an element-wise op: :attr:`weights`), ``"left"`` or
        ``"right"`` (a product with the weight on that side: :attr:`left_weights`,
        :attr:`right_weights`, or :attr:`weights` where those were not measured).

        Example:
            >>> r = BackendRates("jax", 0.0, 0.0, 0.0, ((1, 1e9),), (), ((1, 4e9), (100, 1e9)))
            >>> r.weight_seconds_per_byte(1), round(r.weight_seconds_per_byte(10**6), 15)
            (0.0, 7.5e-10)
            >>> import dataclasses
            >>> r = dataclasses.replace(r, right_weights=((1, 4e9), (100, 5e8)))
            >>> round(r.weight_seconds_per_byte(10**6, "right"), 15)  # 1/0.5e9 - 1/4e9
            1.75e-09
        """
        curve = self._curve(side)
        x = np.maximum(np.asarray(footprint, dtype=float), 1.0)
        if len(curve) < 2:
            return 0.0 if x.ndim == 0 else np.zeros_like(x)
        slower = _per_byte(curve, x) - 1.0 / curve[0][1]
        slower = np.where(x > curve[0][0], np.maximum(slower, 0.0), 0.0)
        return float(slower) if slower.ndim == 0 else slower

    def _curve(self, side: str) -> tuple[tuple[int, float], ...]:
        """The weight-read curve of ``side`` (see :meth:`weight_seconds_per_byte`)."""
        if side == "vector":
            return self.weights
        if side not in ("left", "right"):
            raise JacobenchError(f"side is {side!r}, expected 'vector', 'left' or 'right'")
        return (self.left_weights if side == "left" else self.right_weights) or self.weights

    def stream_seconds_per_byte(self, footprint: Any) -> Any:
        """Seconds a byte streamed by an element-wise op costs at least, in a call of ``footprint``.

        ``1 / V(footprint)`` from :attr:`weights` (log-log interpolated, clamped): a call that
        runs through ``footprint`` bytes moves an element-wise op's blocks no faster than it
        reads its weights. 0 where :attr:`weights` has fewer than two points (beside an
        accelerator, or not measured).

        Example:
            >>> r = BackendRates("jax", 0.0, 0.0, 0.0, ((1, 1e9),), (), ((1, 4e9), (100, 1e9)))
            >>> [round(r.stream_seconds_per_byte(b) * 1e12) for b in (1, 10, 10**6)]  # ps a byte
            [250, 500, 1000]
        """
        x = np.maximum(np.asarray(footprint, dtype=float), 1.0)
        if len(self.weights) < 2:
            return 0.0 if x.ndim == 0 else np.zeros_like(x)
        per_byte = _per_byte(self.weights, x)
        return float(per_byte) if per_byte.ndim == 0 else per_byte

    def bandwidth_at(self, n_bytes: Any) -> Any:
        """Bytes per second when ``n_bytes`` are moved (log-log interpolation, clamped)."""
        sizes = np.log([b for b, _ in self.bandwidth])
        rates = np.log([r for _, r in self.bandwidth])
        x = np.log(np.maximum(np.asarray(n_bytes, dtype=float), 1.0))
        return np.exp(np.interp(x, sizes, rates))


@dataclass(frozen=True)
class DeviceProfile:
    """Measured costs of one machine, for :func:`jacobench.predict_seconds` and the planners.

    Attributes:
        device: What was measured, e.g. ``"cpu: AMD EPYC (2 cores)"`` or
            ``"gpu: NVIDIA H200 (host: AMD EPYC, 16 cores)"``; profiles are reused only on the
            same device.
        platform: JAX's platform of the default device (``"cpu"``, ``"gpu"``, ``"tpu"``).
        jax_version: ``jax.__version__`` at calibration.
        jaxlib_version: ``jaxlib.__version__``.
        numpy_version: ``numpy.__version__``.
        date: When it was measured (ISO 8601, UTC).
        matmul_precision: JAX's default matmul precision in force (``"default"`` when unset).
        calibration_s: Seconds the calibration took.
        backends: One :class:`BackendRates` per measured backend.
    """

    device: str
    platform: str
    jax_version: str
    jaxlib_version: str
    numpy_version: str
    date: str
    matmul_precision: str
    calibration_s: float
    backends: tuple[BackendRates, ...] = field(repr=False)

    @property
    def slug(self) -> str:
        """The device as a file name: ``cpu-amd-epyc-2-cores``."""
        return slug(self.device)

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The dtypes every backend of the profile has rates for."""
        common = [r.dtype for r in self.backends[0].dtypes] if self.backends else []
        return tuple(t for t in common if all(t in _names(b) for b in self.backends))

    def rates(self, backend: str) -> BackendRates:
        """The rates of ``backend``; a :class:`JacobenchError` names the backends there are.

        Example:
            >>> DeviceProfile.uniform(flops=1e9, bandwidth=1e9).rates("cuda")
            Traceback (most recent call last):
            ...
            jacobench.errors.JacobenchError: backend 'cuda' is not in the device profile; it has \
['numpy', 'jax']
        """
        for rates in self.backends:
            if rates.backend == backend:
                return rates
        raise JacobenchError(
            f"backend {backend!r} is not in the device profile; it has "
            f"{[b.backend for b in self.backends]}"
        )

    def matmul_seconds(
        self, m: Any, k: Any, n: Any, dtype: str = "float32", backend: str = "jax"
    ) -> Any:
        """Seconds of the products ``(m x k) @ (k x n)``, launch overhead excluded.

        Args:
            m: Rows of the left factor: an int or an array of them.
            k: The inner dimension (ints or an array broadcasting with ``m``).
            n: Columns of the right factor (likewise).
            dtype: ``"float32"`` or ``"float64"``.
            backend: ``"numpy"`` or ``"jax"``.

        Returns:
            A float for int arguments, else an array of the broadcast shape; 0 where a
            dimension is 0.

        Example:
            >>> p = DeviceProfile.uniform(flops=1e9, bandwidth=1e12)
            >>> p.matmul_seconds(np.array([10, 100]), 100, 100).round(9).tolist()
            [0.0002, 0.002]
        """
        rates = self.rates(backend)
        table = rates.rates(dtype)
        shape = np.broadcast(np.asarray(m), np.asarray(k), np.asarray(n)).shape
        mkn = [np.broadcast_to(np.asarray(v, dtype=float), shape) for v in (m, k, n)]
        flops = 2.0 * mkn[0] * mkn[1] * mkn[2]
        moved = (mkn[0] * mkn[1] + mkn[1] * mkn[2] + mkn[0] * mkn[2]) * table.itemsize
        rate = _log_rate_lookup(table, rates.op_overhead_s, *mkn)
        seconds = np.maximum(flops / np.exp(rate), moved / rates.bandwidth_at(moved))
        seconds = np.where(flops > 0, seconds, 0.0)
        return float(seconds) if seconds.ndim == 0 else seconds

    def elementwise_seconds(
        self,
        elements: Any,
        n_bytes: Any,
        dtype: str = "float32",
        backend: str = "jax",
        *,
        transcendental: bool = False,
    ) -> Any:
        """Seconds of an element-wise operation, launch excluded.

        The slower of its arithmetic and its memory traffic:
        ``max(elements / rate, n_bytes / bandwidth(n_bytes))``.

        Example:
            >>> p = DeviceProfile.uniform(flops=1e9, bandwidth=1e9)
            >>> round(p.elementwise_seconds(1000, 8000), 12)  # 8 kB at 1 GB/s
            8e-06
        """
        rates = self.rates(backend)
        table = rates.rates(dtype)
        per_s = table.transcendental_per_s if transcendental else table.elementwise_per_s
        moved = np.asarray(n_bytes, dtype=float)
        seconds = np.maximum(np.asarray(elements, dtype=float) / per_s, 0.0)
        seconds = np.maximum(seconds, moved / rates.bandwidth_at(moved))
        return float(seconds) if seconds.ndim == 0 else seconds

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON data (see :meth:`from_dict`)."""
        return {
            "format": FORMAT,
            "device": self.device,
            "platform": self.platform,
            "jax_version": self.jax_version,
            "jaxlib_version": self.jaxlib_version,
            "numpy_version": self.numpy_version,
            "date": self.date,
            "matmul_precision": self.matmul_precision,
            "calibration_s": self.calibration_s,
            "dtypes": list(self.dtypes),
            "backends": [
                {
                    "backend": b.backend,
                    "call_overhead_s": b.call_overhead_s,
                    "arg_overhead_s": b.arg_overhead_s,
                    "op_overhead_s": b.op_overhead_s,
                    "bandwidth": [list(p) for p in b.bandwidth],
                    "weights": [list(p) for p in b.weights],
                    "left_weights": [list(p) for p in b.left_weights],
                    "right_weights": [list(p) for p in b.right_weights],
                    "dtypes": [
                        {
                            "dtype": r.dtype,
                            "sizes": list(r.sizes),
                            "matmul": [list(row) for row in r.matmul],
                            "elementwise_per_s": r.elementwise_per_s,
                            "transcendental_per_s": r.transcendental_per_s,
                        }
                        for r in b.dtypes
                    ],
                }
                for b in self.backends
            ],
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "profile") -> DeviceProfile:
        """Read a profile from :meth:`to_dict` data, checking every field.

        Raises:
            JacobenchError: If a field is missing or malformed, or a backend lacks a dtype the
                profile lists; the message names ``source`` and the field.
        """
        from ._json import Reader

        return Reader(source).profile(data)

    @classmethod
    def uniform(
        cls,
        *,
        flops: float,
        bandwidth: float,
        op_overhead_s: float = 0.0,
        call_overhead_s: float = 0.0,
        elementwise_per_s: float = 1e30,
        device: str = "synthetic",
    ) -> DeviceProfile:
        """A made-up profile with one rate everywhere: for examples, tests and what-ifs.

        Every product runs at ``flops`` flop/s, memory moves ``bandwidth`` bytes/s at every size,
        element-wise arithmetic at ``elementwise_per_s``; both backends, float32 and float64.

        Example:
            >>> p = DeviceProfile.uniform(flops=2e9, bandwidth=1e12)
            >>> round(p.matmul_seconds(1000, 1000, 1000), 9)
            1.0
        """
        sizes = (1, 4096)
        dtypes = tuple(
            DtypeRates(
                dtype=t,
                sizes=sizes,
                matmul=tuple(
                    (m, k, n, 2.0 * m * k * n / flops + op_overhead_s)
                    for m, k, n in itertools.product(sizes, repeat=3)
                ),
                elementwise_per_s=elementwise_per_s,
                transcendental_per_s=elementwise_per_s,
            )
            for t in DTYPES
        )
        backends = tuple(
            BackendRates(
                backend=name,
                call_overhead_s=call_overhead_s,
                arg_overhead_s=0.0,
                op_overhead_s=op_overhead_s,
                bandwidth=((1, bandwidth), (1 << 40, bandwidth)),
                dtypes=dtypes,
                weights=((1, bandwidth), (1 << 40, bandwidth)),  # read at one rate anywhere
                left_weights=((1, bandwidth), (1 << 40, bandwidth)),
                right_weights=((1, bandwidth), (1 << 40, bandwidth)),
            )
            for name in BACKENDS
        )
        return cls(
            device=device,
            platform="synthetic",
            jax_version="",
            jaxlib_version="",
            numpy_version="",
            date="",
            matmul_precision="default",
            calibration_s=0.0,
            backends=backends,
        )

    def __str__(self) -> str:
        lines = [
            f"Device:            {self.device}",
            f"Measured:          {self.date}, in {self.calibration_s:.1f} s",
            f"Versions:          jax {self.jax_version}, jaxlib {self.jaxlib_version}, "
            f"numpy {self.numpy_version}; matmul precision {self.matmul_precision}",
        ]
        for b in self.backends:
            peak_bw = max(r for _, r in b.bandwidth)
            lines.append(
                f"{b.backend + ':':<19}call {b.call_overhead_s * 1e6:.1f} us, "
                f"op {b.op_overhead_s * 1e6:.2f} us, bandwidth up to {peak_bw / 1e9:.1f} GB/s"
            )
            if b.weights:
                reads = ", ".join(f"{r / 1e9:.0f} over {format_bytes(f)}" for f, r in b.weights)
                lines.append(f"  weights read (GB/s): {reads}")
            for side, curve in (("left", b.left_weights), ("right", b.right_weights)):
                if curve:
                    reads = ", ".join(f"{r / 1e9:.0f} over {format_bytes(f)}" for f, r in curve)
                    lines.append(f"  ... by products, weight on the {side}: {reads}")
            for r in b.dtypes:
                m, k, n, t = max(r.matmul, key=lambda row: (min(row[:3]), row[0] * row[1] * row[2]))
                lines.append(
                    f"  {r.dtype + ':':<17}{len(r.matmul)} products measured, "
                    f"{2.0 * m * k * n / t / 1e9:.1f} Gflop/s at {m}x{k}x{n}; element-wise "
                    f"{r.elementwise_per_s / 1e9:.2f} G/s"
                )
        return "\n".join(lines)


def _per_byte(curve: tuple[tuple[int, float], ...], footprint: np.ndarray) -> np.ndarray:
    """``1 / V(footprint)`` on a ``(footprint, bytes per second)`` curve, log-log, clamped."""
    sizes = np.log([b for b, _ in curve])
    rates = np.log([r for _, r in curve])
    return np.asarray(1.0 / np.exp(np.interp(np.log(footprint), sizes, rates)))


def slug(text: str) -> str:
    """``text`` as a file name: lower case, runs of other characters as one ``-``.

    Example:
        >>> slug("gpu: NVIDIA H200 (host: AMD EPYC, 16 cores)")
        'gpu-nvidia-h200-host-amd-epyc-16-cores'
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def _names(backend: BackendRates) -> list[str]:
    return [r.dtype for r in backend.dtypes]


@lru_cache(maxsize=64)
def _log_rates(table: DtypeRates, op_overhead_s: float) -> np.ndarray:
    """The dense grid of log rates (flop/s) that :meth:`DeviceProfile.matmul_seconds` reads.

    A product never takes longer than one at least as large in every dimension (it could be
    padded to it): each measured time is capped by the least time measured at a larger shape,
    which also undoes a measurement that another process slowed down. A shape that calibration
    skipped gets the rate of the largest measured shape that is no larger in any dimension.
    """
    index = {s: i for i, s in enumerate(table.sizes)}
    n = len(table.sizes)
    seconds = np.full((n, n, n), np.inf)
    flops = np.zeros((n, n, n))
    for m, k, nn in itertools.product(table.sizes, repeat=3):
        flops[index[m], index[k], index[nn]] = 2.0 * m * k * nn
    for m, k, nn, t in table.matmul:
        seconds[index[m], index[k], index[nn]] = t
    for axis in range(3):  # least time over every shape at least as large
        seconds = np.flip(np.minimum.accumulate(np.flip(seconds, axis), axis=axis), axis)
    known = np.isfinite(seconds)
    compute = np.maximum(seconds - op_overhead_s, np.maximum(1e-3 * seconds, 1e-12))
    grid = np.full((n, n, n), np.nan)
    grid[known] = np.log(flops[known] / compute[known])
    axes = np.indices((n, n, n)).reshape(3, -1).T
    for i, j, k in axes[~known.reshape(-1)]:  # skipped: the largest product that fits in it
        inside = known.copy()
        inside[i + 1 :, :, :] = inside[:, j + 1 :, :] = inside[:, :, k + 1 :] = False
        best = np.unravel_index(np.argmax(np.where(inside, flops, -1.0)), inside.shape)
        grid[i, j, k] = grid[best]
    grid.setflags(write=False)
    return grid


def _log_rate_lookup(table: DtypeRates, op_overhead_s: float, *mkn: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of the log rate at ``(m, k, n)`` in log-size space."""
    grid = _log_rates(table, op_overhead_s)
    axis = np.log(np.asarray(table.sizes, dtype=float))
    lows, fracs = [], []
    for v in mkn:
        x = np.clip(np.log(np.maximum(v, 1.0)), axis[0], axis[-1])
        lo = np.clip(np.searchsorted(axis, x, side="right") - 1, 0, len(axis) - 2)
        lows.append(lo)
        fracs.append((x - axis[lo]) / (axis[lo + 1] - axis[lo]))
    out = np.zeros(np.shape(mkn[0]))
    for corner in itertools.product((0, 1), repeat=3):
        weight = np.ones_like(out)
        for c, f in zip(corner, fracs, strict=True):
            weight = weight * (f if c else 1.0 - f)
        out = out + weight * grid[lows[0] + corner[0], lows[1] + corner[1], lows[2] + corner[2]]
    return out


def device_fields() -> dict[str, str]:
    """The identity of this machine as a profile records it (imports JAX).

    Returns:
        ``device``, ``platform``, ``jax_version``, ``jaxlib_version``, ``numpy_version`` and
        ``matmul_precision``.
    """
    import jax
    import jaxlib

    dev = jax.devices()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    host = f"{cpu_model()}, {cores} cores"
    if dev.platform == "cpu":
        device = f"cpu: {host}"
    else:
        device = f"{dev.platform}: {dev.device_kind} (host: {host})"
    precision = getattr(jax.config, "jax_default_matmul_precision", None)
    return {
        "device": device,
        "platform": dev.platform,
        "jax_version": jax.__version__,
        "jaxlib_version": str(getattr(jaxlib, "__version__", "")),
        "numpy_version": np.__version__,
        "matmul_precision": "default" if precision is None else str(precision),
    }


def cpu_model() -> str:
    """The CPU's model name, as the OS reports it.

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
