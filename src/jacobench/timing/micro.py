"""Micro-benchmarks that measure a :class:`~jacobench.timing.DeviceProfile` on this machine.

Every figure is the median of a few repeats of a call that blocks on its result; JAX functions
are compiled before they are timed (compilation is never timed), and each repeat loops the call
often enough to last a fraction of a millisecond. numpy is measured before JAX, so that JAX's
worker threads, which spin for a while after each call, do not slow numpy's BLAS threads. Other
processes only ever add time: fixed costs and streaming rates take the least of three medians
measured apart in time, a product measured slower than a larger one, or than its neighbours
on the grid suggest, is measured again, and so is every product of
:data:`~jacobench.timing._driver.AGAIN_S` or more, once every backend has run (the two figures
averaged, or the faster kept where they differ by more than
:data:`~jacobench.timing._driver.SPELL`).

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
core at once (:data:`~jacobench.timing._backends.COMPILE_THREADS`), so the products are timed
back to back. On an accelerator XLA takes about a second to compile each of them, and compiling
ahead helps less than the cores suggest, as XLA's autotuner times its candidate kernels on the
one device, so the grid is smaller there (:data:`ACCELERATOR_SIZES`). Element-wise operations run
in a ``jax.lax.fori_loop`` timed at two trip counts (XLA would fuse a straight chain of them into
one).

This module chooses what to measure and puts the profile together; the timing rules and the
per-backend flow (``_Meter``, ``_Backend``) are in :mod:`jacobench.timing._driver`, numpy's and
JAX's measurements (``_Numpy``, ``_Jax``) in :mod:`jacobench.timing._backends`, each with the
tuning constants it reads (set them there).

Example:
    >>> from jacobench.timing import calibrate
    >>> p = calibrate(backends=("numpy",), dtypes=("float32",), quick=True)
    >>> [b.backend for b in p.backends], p.dtypes, p.matmul_seconds(16, 16, 16, backend="numpy") > 0
    (['numpy'], ('float32',), True)
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from ..errors import JacobenchError
from ._backends import _Jax, _Numpy
from ._driver import _QUICK_WEIGHT_FOOTPRINTS, _WEIGHT_FOOTPRINTS, Progress, _Backend, _Meter
from ._driver import SIDE_COLUMNS as SIDE_COLUMNS
from ._driver import _suspects as _suspects
from .profile import BACKENDS, DTYPES, DeviceProfile, device_fields

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


def ahead_threads() -> int:
    """The benchmark suites' ``--compile-threads auto``: every host core beside an accelerator.

    On a CPU 0: there a suite compiles each program as its row comes, since threads compiling
    ahead would compete with other rows' timed calls (calibration compiles ahead everywhere, see
    :data:`~jacobench.timing._backends.COMPILE_THREADS`).
    """
    import jax

    if jax.devices()[0].platform == "cpu":
        return 0
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
