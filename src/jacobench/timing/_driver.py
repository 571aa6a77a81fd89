"""The measurement machinery of :func:`~jacobench.timing.micro.calibrate`, shared by its backends.

:class:`_Meter` times calls by the house rules (the median of a few repeats, each looped to last
20 microseconds or more; the least of a few medians for fixed costs) and keeps the progress line;
:class:`_Backend` drives one backend through a calibration: its overheads and bandwidth, then per
dtype the element-wise rates and the grid of products (those that look disturbed measured again,
:func:`_suspects`), the weight-read curves, and, once every backend has run, the larger products
again (:data:`AGAIN_S`, combined by :func:`_combined`). Its subclasses, numpy's and JAX's, are in
:mod:`jacobench.timing._backends`; the tuning constants of the measurement (:data:`STATISTIC`,
:data:`LONG_REPEATS`, :data:`AGAIN_S`, :data:`SPELL`) live here and are read when used.

Example:
    >>> meter = _Meter(lambda fraction, message: None, steps=1, quick=True)
    >>> 0 < meter.seconds(lambda: sum(range(100))) < 0.1
    True
    >>> _combined(1.0, 4.0)  # a spell slowed the second timing: the first stands
    1.0
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .profile import BackendRates, DtypeRates

_BANDWIDTH_BYTES = (1 << 16, 1 << 20, 1 << 23, 1 << 26, 1 << 28)
_QUICK_BANDWIDTH_BYTES = (1 << 16, 1 << 22)
_WEIGHT_SIDE = 512
"""Weights of the cycles :meth:`_Backend.weights` times: ``512 x 512`` float32, 1 MiB each."""
_WEIGHT_FOOTPRINTS = (1 << 20, 1 << 22, 1 << 24, 1 << 25, 1 << 26)
_QUICK_WEIGHT_FOOTPRINTS = (1 << 20, 1 << 22)
_WEIGHT_PRODUCTS = 64
"""Matrix-vector products per timed call (the weights cycled through as often as it takes)."""
SIDE_COLUMNS = 32
"""Columns (rows) of the thin block the side cycles of :meth:`_Backend.side_weights` multiply."""
_SIDE_PRODUCTS = 16
"""Thin products per timed call, at least (every weight of the cycle once)."""
_ELEMENTWISE_N = 1 << 18

Progress = Callable[[float, str], None]

STATISTIC: Callable[[list[float]], float] = statistics.median
"""How the repeats of one measurement become one figure (the median; experiments may swap in
``min``)."""

AGAIN_S = 2e-5
"""Products measured at this many seconds or more are measured again once every backend has run
(:meth:`_Backend.finish`: numpy's some 20 s after its first timings, JAX's some 5 s after); the two
figures are combined by :func:`_combined`.

Other processes only ever add time, and on a shared machine they come in spells of seconds. The
grid measures its products smallest first, so the large ones, which decide the time of every row
of a millisecond or more, are measured within a few seconds of each other: a spell then slows all
of them alike, where the check on neighbours (:func:`_suspects`) sees nothing amiss. One such
calibration put JAX's ``1024^3`` product at 14.7 ms where three others measured 10.1 ms, and the
1024-wide rows of that run ran at 0.68-0.75x their prediction (fresh clone fc28, 2026-11-28);
another put numpy's at 21.7 ms (10.6-12.8 in five others), its second timing, 2 s later, also slow
(fc33): numpy's whole calibration takes a few seconds, so its second timings wait for JAX's."""

SPELL = 1.3
"""Two timings of one product further apart than this factor: the slower one was disturbed.

In three quiet calibrations of this project's 2-core VM (2026-11-28), the second timing of JAX's
products was 0.91-0.99x the first at the median, 0.60-0.89x at the 10th percentile: the faster of
the two is biased low (the fresh clone that kept it saw its matrix-free rows run 1.16x their
prediction at the median, against 1.06-1.09x before, the rows themselves as fast as then)."""

LONG_REPEATS = 3
"""Repeats of a measurement whose call takes 3 ms or more (shorter ones get 9, 5 when quick)."""


def _warm(call: Callable[[], Any]) -> float:
    """A warm-up call of ``call``, then the seconds of one more."""
    call()
    t0 = time.perf_counter()
    call()
    return max(time.perf_counter() - t0, 1e-7)


def _loops(once: float) -> int:
    """Calls per repeat: calls under 20 microseconds are looped to last that long."""
    return max(1, min(200, int(2e-5 / once)))


def _per_call(call: Callable[[], Any], inner: int) -> float:
    """Seconds per call of ``inner`` calls in a row."""
    t0 = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - t0) / inner


class _Meter:
    """Counts finished steps for the progress line; times calls by the house rules."""

    def __init__(self, report: Progress, steps: int, quick: bool) -> None:
        self.report, self.steps, self.done = report, steps, 0
        self.repeats = 5 if quick else 9

    def step(self, message: str) -> None:
        self.report(min(self.done / self.steps, 0.99), message)
        self.done += 1

    def seconds(self, call: Callable[[], Any]) -> float:
        """Median seconds of ``call()`` over a few repeats, after a warm-up call.

        A repeat is one call (calls under 20 microseconds are looped to last that long, so the
        clock's own cost stays small): a short repeat is seldom interrupted by other processes,
        and the median ignores the repeats that were.
        """
        once = _warm(call)
        inner = _loops(once)
        repeats = self.repeats if once < 0.003 else LONG_REPEATS
        return STATISTIC([_per_call(call, inner) for _ in range(repeats)])

    def difference(self, longer: Callable[[], Any], shorter: Callable[[], Any]) -> float:
        """Median over repeats of ``longer()``'s seconds less ``shorter()``'s, timed in turn.

        Each repeat times one, then the other (looped like :meth:`seconds`), so that both see
        the machine in the same state: a difference of two medians taken apart doubles their
        noise, and where a CPU's products run at two speeds for a while it can be off by a whole
        product.
        """
        calls = (longer, shorter)
        loops = [_loops(_warm(call)) for call in calls]
        samples = []
        for _ in range(self.repeats):
            more, less = (_per_call(call, inner) for call, inner in zip(calls, loops, strict=True))
            samples.append(more - less)
        return STATISTIC(samples)

    def floor(self, *calls: Callable[[], Any], tries: int = 3) -> list[float]:
        """:meth:`seconds` of each call, tried ``tries`` times in turn; the least of each.

        For fixed costs and streaming rates: other processes only ever add time, so the least
        of a few medians taken apart in time is the one they disturbed least.
        """
        best = [math.inf] * len(calls)
        for _ in range(tries):
            for i, call in enumerate(calls):
                best[i] = min(best[i], self.seconds(call))
        return best


class _Backend:
    """Shared driver: overheads and bandwidth once, then rates per dtype."""

    name = ""
    compiled: dict[tuple[int, int, int, int], Any]  # (m, k, n, chain length): program
    repeats: dict[tuple[int, int, int], int]  # (m, k, n): chain length

    def __init__(self, meter: _Meter, quick: bool) -> None:
        self.meter, self.quick = meter, quick
        self.fixed = self.per_arg = self.per_op = 0.0  # fixed cost of a call, per argument, op
        self.accelerator = False  # JAX's device is not the host CPU
        self.loop_s: float | None = None  # an in-XLA loop's own cost per trip
        self.bandwidth: list[tuple[int, float]] = []
        self.kept: dict[str, tuple[_Operands, dict[Any, Any], dict[Any, int]]] = {}  # by dtype
        self.release()

    def run(
        self,
        dtypes: Sequence[str],
        grid: tuple[int, ...],
        shapes: list[tuple[int, int, int]],
        cap: float,
    ) -> BackendRates:
        self.meter.step(f"{self.name}: call and op overheads, bandwidth")
        call, per_arg, per_op = self.overheads()
        self.per_op = per_op
        points = self.bandwidth
        for n_bytes in _QUICK_BANDWIDTH_BYTES if self.quick else _BANDWIDTH_BYTES:
            seconds = self.stream(n_bytes // 8)
            points.append((n_bytes, n_bytes / max(seconds - per_op, 0.5 * seconds, 1e-9)))
        first = []
        for dtype in dtypes:
            with self.dtype_context(dtype):
                first.append(self.rates(dtype, grid, shapes, cap, per_op, points[-1][1]))
            self.kept[dtype] = (self.operands, self.compiled, self.repeats)
            self.release()
        weights = self.weights()
        left, right = self.side_weights()
        return BackendRates(
            backend=self.name,
            call_overhead_s=call,
            arg_overhead_s=per_arg,
            op_overhead_s=per_op,
            bandwidth=tuple(points),
            dtypes=tuple(first),
            weights=weights,
            left_weights=left,
            right_weights=right,
        )

    def weights(self) -> tuple[tuple[int, float], ...]:
        """How fast matrix-vector products read their weights, by the footprint they cycle over.

        Each call runs :data:`_WEIGHT_PRODUCTS` products ``h = tanh(W h)``, cycling through
        ``footprint`` bytes of distinct ``512 x 512`` weights (1 MiB: one weight, always in
        cache); a weight is read again only after all the others, as a chain's weights are from
        one call to the next. Bytes per second of weight, per product (the call's fixed cost
        taken off).

        Beside an accelerator only the first point is measured (so no weight costs extra): a
        1 MiB matrix-vector product there takes the time of its launch, not of its reads, and
        differences between footprints would be launch noise, which the model would multiply by
        the size of every weight.
        """
        (points,) = self._curves("weights", _WEIGHT_PRODUCTS, lambda n, r: (self.cycle(n, r),))
        return points

    def side_weights(
        self,
    ) -> tuple[tuple[tuple[int, float], ...], tuple[tuple[int, float], ...]]:
        """How fast thin products read their weights, by footprint: weight on the left, right.

        As :meth:`weights`, with :data:`SIDE_COLUMNS`-wide blocks: ``V = tanh(W V)`` (the
        weight on the left, as a tangent pass has it) and ``A = tanh(A W)`` (on the right, as an
        adjoint pass), at least :data:`_SIDE_PRODUCTS` products a call, the two timed in turn
        at each footprint. Bytes of weight per second of product, the call's fixed cost taken
        off; one point beside an accelerator.
        """
        left, right = self._curves("products' weights", _SIDE_PRODUCTS, self.side_cycles)
        return left, right

    def _curves(
        self, what: str, products: int, cycles: Callable[[int, int], tuple[float, ...]]
    ) -> list[tuple[tuple[int, float], ...]]:
        """Curves of bytes of weight read per second, by footprint, from ``cycles(n, rounds)``.

        ``cycles`` times calls cycling ``rounds`` times through ``n`` distinct ``512 x 512``
        weights (at least ``products`` products a call), one seconds figure per curve; each
        loses the call's fixed cost and becomes bytes per second of weight per product. Only
        the first footprint beside an accelerator.
        """
        one = _WEIGHT_SIDE * _WEIGHT_SIDE * 4
        footprints = _QUICK_WEIGHT_FOOTPRINTS if self.quick else _WEIGHT_FOOTPRINTS
        curves: list[list[tuple[int, float]]] = []
        for footprint in footprints[:1] if self.accelerator else footprints:
            self.meter.step(f"{self.name}: {what} read over {footprint >> 20} MiB")
            n = footprint // one
            rounds = max(1, products // n)
            timed = cycles(n, rounds)
            curves = curves or [[] for _ in timed]
            for points, seconds in zip(curves, timed, strict=True):
                seconds -= self.fixed + (n - 1) * self.per_arg
                points.append((footprint, one / max(seconds / (n * rounds), 1e-9)))
        return [tuple(points) for points in curves]

    def cycle(self, n: int, rounds: int) -> float:
        """Seconds of one call cycling ``rounds`` times through ``n`` distinct weights.

        Each step is ``h = tanh(W h)``; the call takes the weights and ``h`` as arguments.
        """
        raise NotImplementedError

    def side_cycles(self, n: int, rounds: int) -> tuple[float, float]:
        """As :meth:`cycle` with thin blocks: seconds of ``V = tanh(W V)``, of ``A = tanh(A W)``."""
        raise NotImplementedError

    def rates(
        self,
        dtype: str,
        grid: tuple[int, ...],
        shapes: list[tuple[int, int, int]],
        cap: float,
        per_op: float,
        bandwidth: float,
    ) -> DtypeRates:
        self.meter.step(f"{self.name} {dtype}: element-wise")
        fma, tanh = (
            _ELEMENTWISE_N / max(seconds - per_op, 0.5 * seconds, 1e-9)
            for seconds in (self.elementwise(dtype, False), self.elementwise(dtype, True))
        )
        found: dict[tuple[int, int, int], float] = {}
        best = 0.0
        size = np.dtype(dtype).itemsize
        self.prepare(shapes, dtype)
        for m, k, n in shapes:
            self.meter.step(f"{self.name} {dtype}: matmul {m}x{k}x{n}")
            flops = 2.0 * m * k * n
            moved = (m * k + k * n + m * n) * size
            estimate = max(flops / best, moved / bandwidth) if best > 0 else 0.0
            if estimate > cap:
                continue
            self.plan_repeats((m, k, n), estimate)
            seconds = self.product_s((m, k, n), dtype, per_op)
            best = max(best, flops / seconds)
            found[m, k, n] = seconds
        # Other processes only ever slow a measurement down. A product slower than one at least
        # as large in every dimension, or slower than its neighbours suggest, was disturbed:
        # measure it again (twice at most), keep the fastest.
        for _ in range(2):
            for shape in _suspects(found, grid):
                again = self.product_s(shape, dtype, per_op)
                found[shape] = min(found[shape], again)
        rows = tuple((m, k, n, t) for (m, k, n), t in found.items())
        return DtypeRates(dtype, grid, rows, fma, tanh)

    def finish(self, measured: BackendRates) -> BackendRates:
        """``measured`` (from :meth:`run`) with each dtype's larger products timed again.

        Called once every backend has run, so that a backend's second timings come well after
        its first: numpy's grid and its weight curves take a few seconds, JAX's about twenty.
        """
        rates = []
        for found in measured.dtypes:
            with self.dtype_context(found.dtype):
                rates.append(self.again(found, measured.op_overhead_s))
        return replace(measured, dtypes=tuple(rates))

    def again(self, first: DtypeRates, per_op: float) -> DtypeRates:
        """``first`` with its products of :data:`AGAIN_S` or more measured again, then combined.

        Called by :meth:`finish`, seconds after :meth:`rates` measured ``first`` (in the dtype's
        context), with what :meth:`rates` kept for the dtype; drops it after.
        Each product's two figures become one by :func:`_combined`.
        """
        self.operands, self.compiled, self.repeats = self.kept.pop(first.dtype)
        self.meter.step(f"{self.name} {first.dtype}: the larger products again")
        rows = []
        for m, k, n, seconds in first.matmul:
            if seconds >= AGAIN_S:
                seconds = _combined(seconds, self.product_s((m, k, n), first.dtype, per_op))
            rows.append((m, k, n, seconds))
        self.release()
        return replace(first, matmul=tuple(rows))

    def product_s(self, shape: tuple[int, int, int], dtype: str, per_op: float) -> float:
        """:meth:`matmul` of ``shape``, a launch (``per_op``) at least."""
        return max(self.matmul(*shape, dtype), per_op, 1e-9)

    def release(self) -> None:
        """Drop what the products of one dtype kept (operands, compiled functions)."""
        self.operands = _Operands()
        self.compiled = {}
        self.repeats = {}

    def plan_repeats(self, shape: tuple[int, int, int], estimate_s: float) -> None:
        """Choose how :meth:`matmul` measures ``shape``, which should take ``estimate_s``."""

    def prepare(self, shapes: Sequence[tuple[int, int, int]], dtype: str) -> None:
        """Get ready to measure the products of ``shapes`` at ``dtype`` (in its dtype context)."""

    def link_s(self, n_bytes: int) -> float:
        """Seconds of an element-wise op moving ``n_bytes`` twice (read and write)."""
        sizes, rates = zip(*self.bandwidth, strict=True)
        rate = float(np.exp(np.interp(np.log(2 * n_bytes), np.log(sizes), np.log(rates))))
        return self.per_op + 2 * n_bytes / rate

    def dtype_context(self, dtype: str) -> Any:
        from contextlib import nullcontext

        return nullcontext()

    # Each returns the seconds of one operation, its launch included and the call excluded.

    def overheads(self) -> tuple[float, float, float]:
        """(call, per extra argument, per launched op) seconds."""
        raise NotImplementedError

    def stream(self, n: int) -> float:
        """A streaming element-wise operation over ``n`` float32 elements."""
        raise NotImplementedError

    def elementwise(self, dtype: str, transcendental: bool) -> float:
        """An arithmetic or a ``tanh`` element-wise operation over :data:`_ELEMENTWISE_N`."""
        raise NotImplementedError

    def matmul(self, m: int, k: int, n: int, dtype: str) -> float:
        """One ``(m x k) @ (k x n)`` product."""
        raise NotImplementedError


def _combined(first: float, second: float) -> float:
    """Two timings of one product as one: their geometric mean, or the faster past a spell.

    A spell of other work slowed the slower one if it took more than :data:`SPELL` times the other.

    Example:
        >>> round(_combined(1.0, 1.21), 6), _combined(1.0, 2.0), _combined(2.0, 1.0)
        (1.1, 1.0, 1.0)
    """
    if max(first, second) > SPELL * min(first, second):
        return min(first, second)
    return math.sqrt(first * second)


def _suspects(
    found: dict[tuple[int, int, int], float], grid: tuple[int, ...], ratio: float = 1.2
) -> list[tuple[int, int, int]]:
    """Shapes whose measurement another process probably slowed down.

    Those measured more than ``ratio`` times slower than a larger measured shape, and those
    whose rate (flop/s) dips below ``1 / ratio**2`` of the geometric mean of its two neighbours'
    along some dimension (rates change smoothly with the shape; time only ever gets added).
    """
    index = {s: i for i, s in enumerate(grid)}
    n = len(grid)
    seconds = np.full((n, n, n), np.inf)
    for (m, k, nn), t in found.items():
        seconds[index[m], index[k], index[nn]] = t
    least = seconds
    for axis in range(3):  # least time over every shape at least as large
        least = np.flip(np.minimum.accumulate(np.flip(least, axis), axis=axis), axis)
    sizes = np.asarray(grid, dtype=float)
    flops = 2.0 * sizes[:, None, None] * sizes[None, :, None] * sizes[None, None, :]
    with np.errstate(divide="ignore"):
        log_rate = np.log(flops / seconds)  # -inf where not measured
    dips = np.zeros_like(seconds, dtype=bool)
    for axis in range(3):
        rate = np.moveaxis(log_rate, axis, 0)
        mid = 0.5 * (rate[:-2] + rate[2:])  # the neighbours' geometric mean, in logs
        dip = np.zeros_like(rate, dtype=bool)
        dip[1:-1] = np.isfinite(mid) & (rate[1:-1] < mid - 2 * np.log(ratio))
        dips |= np.moveaxis(dip, 0, axis)
    return [
        shape
        for shape, t in found.items()
        if t > ratio * least[index[shape[0]], index[shape[1]], index[shape[2]]]
        or dips[index[shape[0]], index[shape[1]], index[shape[2]]]
    ]


class _Operands:
    """Two shared buffers per dtype; operands are views (numpy) or copies (JAX) of them."""

    def __init__(self) -> None:
        self.buffers: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, m: int, k: int, n: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
        have = self.buffers.get(dtype)
        if have is None or have[0].size < m * k or have[1].size < k * n:
            need = max(m * k, k * n, 0 if have is None else have[0].size)
            have = (np.full(need, 0.5, dtype=dtype), np.full(need, 0.5, dtype=dtype))
            self.buffers[dtype] = have
        return have[0][: m * k].reshape(m, k), have[1][: k * n].reshape(k, n)
