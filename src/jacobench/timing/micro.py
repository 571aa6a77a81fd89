"""Micro-benchmarks that measure a :class:`~jacobench.timing.DeviceProfile` on this machine.

Every figure is the median of a few repeats of a call that blocks on its result; JAX functions
are compiled before they are timed (compilation is never timed), and each repeat loops the call
often enough to last a fraction of a millisecond. numpy is measured before JAX, so that JAX's
worker threads, which spin for a while after each call, do not slow numpy's BLAS threads. Other
processes only ever add time: fixed costs and streaming rates take the least of three medians
measured apart in time, a product measured slower than a larger one, or than its neighbours
on the grid suggest, is measured again, and so is every product of :data:`AGAIN_S` or more, once
every backend has run (the two figures averaged, or the faster kept where they differ by more
than :data:`SPELL`).

What is measured, per backend:

* launches (JAX): chains of 9 and of 65 dependent 8x8 matrix-vector products; the difference
  over the difference in launched operations (counted in the compiled HLO) is the cost of one
  launch, ``op_overhead_s``, and the short chain's time less its launches the fixed cost of a
  call, ``call_overhead_s``; ``arg_overhead_s`` from a function of eight scalars against one.
  numpy: one 1x1 product is a launch; :func:`jacobench.multiply` of one 1x1 matrix the call, of
  eight matrices the extra per argument;
* bandwidth: ``v * 0.999 + 0.0005`` over float32 arrays moving 64 KiB, 1, 8, 64 and 256 MiB
  (read plus written), in an XLA loop (see below);

per backend and dtype:

* one product ``(m x k) @ (k x n)`` for every ``m``, ``k``, ``n`` in ``sizes`` (default 1, 4,
  16, 64, 256, 1024; 1, 16, 256, 4096 on an accelerator), smallest first, in a chain of them
  (below); a shape whose flops at the best rate seen so far, or whose bytes at the
  bandwidth of the largest size, would take longer than ``max_shape_s`` is skipped (its rate is
  read from smaller ones, see :mod:`jacobench.timing.profile`);
* element-wise throughput: ``1 - v * v`` and ``tanh(v) + 0.25`` over 256 Ki elements.

JAX products run in a chain of ``r`` of them (``r`` up to 8 for quick ones), each waiting for the
one before through a zero added to one element of its smaller operand; the chain's time less a
single product's (the two timed in turn, repeat by repeat) and the links, over ``r - 1``, is one
product in a program of many, as plans run them (a product of 0.2 ms or more is timed alone, less
the call's fixed cost). A dtype's programs are all compiled before any is timed, on every host
core at once (:data:`COMPILE_THREADS`), so the products are timed back to back. On an
accelerator XLA takes about a second to compile each of them, and compiling ahead helps less
than the cores suggest, as XLA's autotuner times its candidate kernels on the one device, so the
grid is smaller there (:data:`ACCELERATOR_SIZES`). Element-wise operations run in a
``jax.lax.fori_loop`` timed at two trip counts (XLA would fuse a straight chain of them into
one).

Example:
    >>> from jacobench.timing import calibrate
    >>> p = calibrate(backends=("numpy",), dtypes=("float32",), quick=True)
    >>> [b.backend for b in p.backends], p.dtypes, p.matmul_seconds(16, 16, 16, backend="numpy") > 0
    (['numpy'], ('float32',), True)
"""

from __future__ import annotations

import itertools
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..errors import JacobenchError
from .profile import BACKENDS, DTYPES, BackendRates, DeviceProfile, DtypeRates, device_fields

__all__ = ["SIZES", "calibrate", "weight_reads"]

SIZES = (1, 4, 16, 64, 256, 1024)
"""The default grid points of each of ``m``, ``k`` and ``n`` on a CPU (216 shapes)."""

ACCELERATOR_SIZES = (1, 16, 256, 4096)
"""The default grid points where JAX's default device is an accelerator: its products keep
speeding up well beyond 1024, and each program takes XLA's GPU compiler, whose autotuner times
candidate kernels on the one device, about a second to compile even when compiled ahead on many
threads. 64 shapes: the 125 of the points 1, 8, 64, 512, 4096 with chains of 1, 4 and 8 products
(about 300 programs) took 127 s on an H200 compiled ahead, 458 s for 7 points one by one."""

QUICK_SIZES = (1, 16, 256)
"""The grid of ``quick=True``."""

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

COMPILE_THREADS: int | None = None
"""Threads that compile a dtype's product programs before any of them is timed (XLA releases the
GIL while it compiles). ``None``: every host core; 0: each program is compiled when it is first
timed instead.

Compiling first and then timing the products back to back matters on a CPU too, which is why
the default compiles ahead there as well: it spares the grid's timing a compile between one
shape and the next, during which a 2-vCPU VM's second vCPU idles and then runs the next
product's first calls on one thread about half the time (slow to wake). Four calibrations each
way timed ``(16, 1024, 1024)`` at 0.28, 0.29, 0.19 and 0.20 ms compiling as they went, 0.18,
0.18, 0.20 and 0.19 ms compiled ahead (three more later: 0.32, 0.17, 0.20; steady median over
300 calls: 0.20 ms); JAX's float32
grid took 27 s one way and 21 s the other. Other shapes kept their spread (``(256, 256, 256)``:
0.19-0.32 ms either way)."""

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


def calibrate(
    *,
    backends: Sequence[str] = BACKENDS,
    dtypes: Sequence[str] = DTYPES,
    progress: bool | Progress = False,
    quick: bool = False,
    sizes: Sequence[int] | None = None,
    max_shape_s: float | None = None,
) -> DeviceProfile:
    """Measure this machine's :class:`~jacobench.timing.DeviceProfile` (about a minute on 2 cores).

    Args:
        backends: Which of ``"numpy"`` and ``"jax"`` (JAX's default device) to measure.
        dtypes: Which of ``"float32"`` and ``"float64"`` to measure (float64 JAX runs under
            ``jax.enable_x64``).
        progress: ``True`` prints one progress line on stderr, rewritten as it goes; a function
            ``progress(fraction, message)`` is called instead; ``False`` is silent.
        quick: A small grid (``(1, 16, 256)``) and two bandwidth sizes: seconds, for tests; its
            profile is coarse.
        sizes: The grid points of ``m``, ``k`` and ``n`` (increasing, from 1); overrides
            ``quick``'s and the defaults :data:`SIZES` (CPU) and :data:`ACCELERATOR_SIZES`.
        max_shape_s: Skip products predicted to take longer than this per call (default
            0.02 s; 0.002 s with ``quick``).

    Returns:
        The profile (not saved: see :func:`jacobench.timing.save` and
        :func:`jacobench.timing.load_or_calibrate`).

    Raises:
        JacobenchError: For an unknown backend or dtype, or bad sizes.
    """
    chosen_backends = _choose(backends, BACKENDS, "backend")
    chosen_dtypes = _choose(dtypes, DTYPES, "dtype")
    fields = device_fields()
    if sizes is not None:
        grid = tuple(sizes)
    elif quick:
        grid = QUICK_SIZES
    else:
        grid = SIZES if fields["platform"] == "cpu" else ACCELERATOR_SIZES
    if len(grid) < 2 or grid[0] != 1 or list(grid) != sorted(set(grid)):
        raise JacobenchError(f"sizes is {grid!r}, expected at least two increasing ints from 1")
    cap = max_shape_s if max_shape_s is not None else (0.002 if quick else 0.02)
    report = _reporter(progress)
    start = time.perf_counter()
    shapes: list[tuple[int, int, int]] = sorted(
        itertools.product(grid, grid, grid), key=lambda s: (s[0] * s[1] * s[2], s)
    )
    footprints = len(_QUICK_WEIGHT_FOOTPRINTS if quick else _WEIGHT_FOOTPRINTS)
    steps = len(chosen_backends) * (1 + 2 * footprints + len(chosen_dtypes) * (2 + len(shapes)))
    meter = _Meter(report, steps, quick)
    runs = []
    for backend in ("numpy", "jax"):  # numpy first: JAX's idle threads spin for a while
        if backend in chosen_backends:
            bench = _bench(backend, meter, quick, fields["platform"])
            runs.append((bench, bench.run(chosen_dtypes, grid, shapes, cap)))
    measured = [bench.finish(rates) for bench, rates in runs]  # the large products again
    elapsed = time.perf_counter() - start
    report(1.0, f"done in {elapsed:.1f} s")
    return DeviceProfile(
        **fields,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        calibration_s=round(elapsed, 2),
        backends=tuple(measured),
    )


def weight_reads(backend: str = "jax", quick: bool = False) -> tuple[tuple[int, float], ...]:
    """Measure only the weight-read curve (:attr:`BackendRates.weights`) of ``backend``, now.

    The benchmark job measures it again after its rows, to show how far it moved since
    calibration (on a machine whose cache other guests share, a lot). A few seconds: the call
    overheads (which the curve is net of), then the cycles.

    Returns:
        ``(footprint, bytes per second)`` pairs, as in a profile.

    Raises:
        JacobenchError: For an unknown backend.

    Example:
        >>> [footprint for footprint, _ in weight_reads("numpy", quick=True)]
        [1048576, 4194304]
    """
    (name,) = _choose((backend,), BACKENDS, "backend")
    meter = _Meter(lambda fraction, message: None, 1, quick)
    bench = _bench(name, meter, quick, device_fields()["platform"])
    bench.per_op = bench.overheads()[2]  # as :meth:`_Backend.run`: the curve is net of them
    return bench.weights()


def _bench(backend: str, meter: _Meter, quick: bool, platform: str) -> _Backend:
    """The driver of ``backend``; JAX's knows whether its device is an accelerator."""
    bench: _Backend = _Numpy(meter, quick) if backend == "numpy" else _Jax(meter, quick)
    bench.accelerator = backend == "jax" and platform != "cpu"
    return bench


def _choose(asked: Sequence[str], valid: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(asked, str):
        asked = (asked,)
    chosen = tuple(asked)
    for name in chosen:
        if name not in valid:
            raise JacobenchError(f"unknown {what} {name!r}; valid options are {list(valid)}")
    if not chosen:
        raise JacobenchError(f"no {what} to calibrate; choose from {list(valid)}")
    return chosen


def _reporter(progress: bool | Progress) -> Progress:
    if callable(progress):
        return progress
    if not progress:
        return lambda fraction, message: None

    if not sys.stderr.isatty():  # a log file: a line at each tenth, not one per step
        tenths = [-1]

        def log(fraction: float, message: str) -> None:
            if int(fraction * 10) > tenths[0] or fraction >= 1.0:
                tenths[0] = int(fraction * 10)
                print(f"calibrating {fraction:4.0%}  {message}", file=sys.stderr, flush=True)

        return log

    def show(fraction: float, message: str) -> None:
        end = "\n" if fraction >= 1.0 else ""
        print(f"\rcalibrating {fraction:4.0%}  {message:<60}", end=end, file=sys.stderr)
        sys.stderr.flush()

    return show


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


def _wait(out: Any) -> Any:
    """Block until JAX has computed ``out``."""
    return out.block_until_ready()


_FREE = ("parameter", "constant", "bitcast", "tuple", "get-tuple-element")


def _launched(compiled: Any) -> int:
    """Operations a compiled JAX function launches.

    They are its entry computation's instructions, less parameters, constants, bitcasts and
    tuples (which cost nothing).
    """
    text = compiled.as_text()
    entry = text[text.index("ENTRY") :].split("\n}", 1)[0].splitlines()[1:]
    ops = [re.search(r"= \S+ ([a-z-]+)\(", line) for line in entry]
    return sum(1 for op in ops if op is not None and op.group(1) not in _FREE)


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


class _Numpy(_Backend):
    name = "numpy"

    def overheads(self) -> tuple[float, float, float]:
        from ..explicit import multiply, plan

        tiny = np.full((1, 1), 0.5)
        one, eight = [tiny], [tiny] * 8
        plan1, plan8 = plan((1, 1)), plan((1,) * 9, "forward")
        per_op, call, call8 = self.meter.floor(
            lambda: tiny @ tiny, lambda: multiply(one, plan1), lambda: multiply(eight, plan8)
        )
        per_arg = max((call8 - call) / 7 - per_op, 0.0)
        return call, per_arg, per_op

    def stream(self, n: int) -> float:
        v = np.full(n, 0.5, dtype=np.float32)
        return self.meter.floor(lambda: v * np.float32(2.0))[0]

    def cycle(self, n: int, rounds: int) -> float:
        side = _WEIGHT_SIDE
        weights = [np.full((side, side), 0.5 / side, dtype=np.float32) for _ in range(n)]
        h0 = np.full(side, 0.5, dtype=np.float32)

        def run() -> None:
            h = h0
            for _ in range(rounds):
                for w in weights:
                    h = np.tanh(w @ h)

        return self.meter.floor(run)[0]

    def side_cycles(self, n: int, rounds: int) -> tuple[float, float]:
        side = _WEIGHT_SIDE
        weights = [np.full((side, side), 0.5 / side, dtype=np.float32) for _ in range(n)]

        def program(on_left: bool) -> Callable[[], None]:
            h0 = np.full((side, SIDE_COLUMNS) if on_left else (SIDE_COLUMNS, side), 0.5, np.float32)

            def run() -> None:
                h = h0
                for _ in range(rounds):
                    for w in weights:
                        h = np.tanh(w @ h if on_left else h @ w)

            return run

        first, second = self.meter.floor(program(True), program(False))
        return first, second

    def elementwise(self, dtype: str, transcendental: bool) -> float:
        v = np.full(_ELEMENTWISE_N, 0.5, dtype=dtype)
        if transcendental:
            return self.meter.floor(lambda: np.tanh(v))[0]
        return self.meter.floor(lambda: v * (1 - v * v))[0]

    def matmul(self, m: int, k: int, n: int, dtype: str) -> float:
        a, b = self.operands.get(m, k, n, dtype)
        return self.meter.seconds(lambda: a @ b)


class _Jax(_Backend):
    name = "jax"
    ahead = False  # programs compiled ahead (see prepare)

    def dtype_context(self, dtype: str) -> Any:
        import jax

        return jax.enable_x64(dtype == "float64")

    def _array(self, shape: tuple[int, ...], dtype: str) -> Any:
        import jax

        return jax.device_put(np.full(shape, 0.5, dtype=dtype))

    def overheads(self) -> tuple[float, float, float]:
        import jax
        import jax.numpy as jnp

        args = [self._array((1,), "float32") for _ in range(8)]
        a, h = self._array((8, 8), "float32"), self._array((8,), "float32")
        eye = jnp.eye(8, dtype="float32")

        def chain(n: int) -> Callable[[Any, Any], Any]:
            def f(a: Any, h: Any) -> Any:
                w = a * 0 + eye  # the identity: values stay put, nothing folds away
                for _ in range(n):
                    h = w @ h
                return h

            return f

        one = jax.jit(lambda x: x + 1).lower(args[0]).compile()
        many = jax.jit(lambda *xs: sum(xs)).lower(*args).compile()
        lengths = (5, 17) if self.quick else (9, 65)
        short, long = (jax.jit(chain(n)).lower(a, h).compile() for n in lengths)
        w, x = self._array((64, 64), "float32"), self._array((64, 64), "float32")
        products = [_chained(64, 64, 64, r).lower(w, x).compile() for r in (2, 8)]
        call1, call8, t_short, t_long, t2, t8 = self.meter.floor(
            lambda: _wait(one(args[0])),
            lambda: _wait(many(*args)),
            lambda: _wait(short(a, h)),
            lambda: _wait(long(a, h)),
            lambda: _wait(products[0](w, x)),
            lambda: _wait(products[1](w, x)),
        )
        per_op = max((t_long - t_short) / max(_launched(long) - _launched(short), 1), 0.0)
        per_arg = max((call8 - call1) / 7, 0.0)
        # The fixed cost of a call of two arguments: the chains of 2 and of 8 products of
        # 64x64 matrices (real products wake XLA's worker threads, which tiny ones do not)
        # extrapolated to none.
        self.fixed = max(t2 - 2 * (t8 - t2) / 6, call1)
        self.per_arg, self.per_op = per_arg, per_op
        return self.fixed - per_arg, per_arg, per_op

    def _looped(self, body: Callable[[Any], Any], v: Any, trips: int) -> float:
        """Seconds of one element-wise operation ``v = body(v)``, launch included.

        XLA fuses a straight chain of element-wise operations into one, so these run in a loop:
        timed at 1 and at ``1 + trips`` trips (the least of two medians each), the difference is
        ``trips`` operations, free of the call's fixed cost; a loop of one-element operations,
        timed the same way, gives the loop's own cost per trip, which is taken off.
        """
        import jax
        import jax.numpy as jnp

        def per_trip(w: Any) -> float:
            def f(w: Any, r: Any) -> Any:
                return jax.lax.fori_loop(0, r, lambda i, w: body(w), w)

            compiled = jax.jit(f).lower(w, jnp.int32(1)).compile()
            few, many = jnp.int32(1), jnp.int32(1 + trips)
            t1, t2 = self.meter.floor(
                lambda: _wait(compiled(w, few)), lambda: _wait(compiled(w, many)), tries=2
            )
            return max(t2 - t1, 0.0) / trips

        if self.loop_s is None:
            self.loop_s = per_trip(self._array((1,), "float32"))
        return max(per_trip(v) - self.loop_s, 0.0) + self.per_op

    def cycle(self, n: int, rounds: int) -> float:
        import jax
        import jax.numpy as jnp

        side = _WEIGHT_SIDE
        weights = tuple(self._array((side, side), "float32") for _ in range(n))
        h = self._array((side,), "float32")

        def f(weights: Any, h: Any) -> Any:
            for _ in range(rounds):
                for w in weights:
                    h = jnp.tanh(w @ h)
            return h

        compiled = jax.jit(f).lower(weights, h).compile()
        return self.meter.floor(lambda: _wait(compiled(weights, h)))[0]

    def side_cycles(self, n: int, rounds: int) -> tuple[float, float]:
        import jax
        import jax.numpy as jnp

        side = _WEIGHT_SIDE
        weights = tuple(self._array((side, side), "float32") for _ in range(n))
        blocks = (
            self._array((side, SIDE_COLUMNS), "float32"),
            self._array((SIDE_COLUMNS, side), "float32"),
        )

        def program(on_left: bool) -> Callable[[], Any]:
            def f(weights: Any, h: Any) -> Any:
                for _ in range(rounds):
                    for w in weights:
                        h = jnp.tanh(w @ h if on_left else h @ w)
                return h

            h = blocks[0] if on_left else blocks[1]
            compiled = jax.jit(f).lower(weights, h).compile()
            return lambda: _wait(compiled(weights, h))

        first, second = self.meter.floor(program(True), program(False))
        return first, second

    def stream(self, n: int) -> float:
        # Enough trips to move 256 MiB: fewer left the difference of two timings of a few
        # trips in the noise (16 MiB once read 761 GB/s on a 2-core CPU).
        trips = max(2, min(4096, (1 << 28) // max(8 * n, 1)))
        return self._looped(lambda x: x * 0.999 + 0.0005, self._array((n,), "float32"), trips)

    def elementwise(self, dtype: str, transcendental: bool) -> float:
        import jax.numpy as jnp

        def body(x: Any) -> Any:
            return jnp.tanh(x) + 0.25 if transcendental else 1 - x * x

        return self._looped(body, self._array((_ELEMENTWISE_N,), dtype), 8)

    def matmul(self, m: int, k: int, n: int, dtype: str) -> float:
        """One product's seconds, from a chain of ``r`` of them.

        With ``r`` > 1, the chain's time less that of a single product, over ``r - 1``, less a
        link: no fixed cost of a call enters (it is hard to measure to a few microseconds, and
        these products take tens of microseconds). With ``r`` = 1 (products of milliseconds), the
        product's time less the call's fixed cost.
        """
        import jax

        a, b = (jax.device_put(v) for v in self.operands.get(m, k, n, dtype))
        r = self.repeats.get((m, k, n), 1)
        chain = self._program(m, k, n, r, a, b)
        if r == 1:
            return self.meter.seconds(lambda: _wait(chain(a, b))) - self.fixed
        one = self._program(m, k, n, 1, a, b)
        extra = self.meter.difference(lambda: _wait(chain(a, b)), lambda: _wait(one(a, b)))
        link = self.link_s(min(m * k, k * n) * a.dtype.itemsize)
        return extra / (r - 1) - link

    def _program(self, m: int, k: int, n: int, r: int, a: Any, b: Any) -> Any:
        """The compiled chain of ``r`` products (compiled now unless :meth:`prepare` did)."""
        compiled = self.compiled.get((m, k, n, r))
        if compiled is None:
            compiled = self.compiled[m, k, n, r] = _chained(m, k, n, r).lower(a, b).compile()
        return compiled

    def plan_repeats(self, shape: tuple[int, int, int], estimate_s: float) -> None:
        """Chain more products of a shape the quicker it is (see :meth:`matmul`).

        Where programs are compiled ahead (:meth:`prepare`), two lengths only: ``most`` or 1.
        """
        most = 2 if self.quick else 8
        if self.ahead:
            self.repeats[shape] = most if estimate_s < 2e-4 else 1
        elif estimate_s < 2e-5:
            self.repeats[shape] = most
        else:
            self.repeats[shape] = min(most, 4) if estimate_s < 2e-3 else 1

    def prepare(self, shapes: Sequence[tuple[int, int, int]], dtype: str) -> None:
        """Compile every program :meth:`matmul` may time, all at once, before any is timed.

        Which chain length a shape gets depends on what was measured before it, so each shape's
        programs of both lengths it may get are compiled (the longer one only for shapes small
        enough to need it): lowered here, in this thread's dtype and matmul precision, then
        compiled on :data:`COMPILE_THREADS` threads.
        """
        import jax

        threads = _compile_threads()
        if threads < 1:
            return
        self.ahead = True
        most = 2 if self.quick else 8
        wanted = []
        for m, k, n in shapes:
            small = 2.0 * m * k * n <= _CHAIN_FLOPS
            for r in (1, most) if small else (1,):
                if (m, k, n, r) not in self.compiled:
                    wanted.append((m, k, n, r))
        spec: Callable[..., Any] = jax.ShapeDtypeStruct  # the operands' shapes, no arrays
        lowered = [
            _chained(m, k, n, r).lower(spec((m, k), dtype), spec((k, n), dtype))
            for m, k, n, r in wanted
        ]
        self.meter.report(
            min(self.meter.done / self.meter.steps, 0.99),
            f"{self.name} {dtype}: compiling {len(lowered)} programs on {threads} threads",
        )
        with ThreadPoolExecutor(max_workers=threads) as pool:
            programs = pool.map(lambda lw: lw.compile(), lowered)
            self.compiled.update(zip(wanted, programs, strict=True))


_CHAIN_FLOPS = 2.0 * 1024**3
"""Products of more flops than this are never chained when compiled ahead (on an accelerator they
take well over 20 microseconds)."""


def _compile_threads() -> int:
    """How many threads compile ahead: :data:`COMPILE_THREADS`, else every host core."""
    if COMPILE_THREADS is not None:
        return COMPILE_THREADS
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def ahead_threads() -> int:
    """The benchmark suites' ``--compile-threads auto``: every host core beside an accelerator.

    On a CPU 0: there a suite compiles each program as its row comes, since threads compiling
    ahead would compete with other rows' timed calls (calibration compiles ahead everywhere, see
    :data:`COMPILE_THREADS`).
    """
    import jax

    if jax.devices()[0].platform == "cpu":
        return 0
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _chained(m: int, k: int, n: int, r: int) -> Any:
    """``jax.jit`` of ``r`` products ``(m x k) @ (k x n)``, each waiting for the one before.

    Each product after the first adds zero times an element of the previous result to its
    smaller operand: a data dependency (XLA neither reorders nor merges them) that costs one
    element-wise operation over that operand.
    """
    import jax

    def f(a: Any, b: Any) -> Any:
        c = a @ b
        for _ in range(r - 1):
            zero = c[0, 0] * 0
            c = (a + zero) @ b if m * k <= k * n else a @ (b + zero)
        return c

    return jax.jit(f)
