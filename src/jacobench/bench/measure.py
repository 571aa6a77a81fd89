"""Measuring helpers for the benchmark suites: inputs, references, compile, memory, rounds.

These run code and read clocks and allocators, so they live apart from the pure cost model. The
suites in ``jacobench/bench/suites/`` use them in a fixed order for every row: build inputs, check
the strategy against a reference, measure memory in a pass of its own, then hand a blocking call
to pytest-benchmark for timing. Compilation always happens before and outside the timed call.

Example:
    >>> choose_rounds(0.01)  # 10 rounds at least, about 0.4 s in all
    (40, 1)
    >>> choose_rounds(0.5)  # a slow call: at most 3 s of rounds
    (6, 1)
"""

from __future__ import annotations

import math
import os
import re
import time
import tracemalloc
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import JacobenchError
from ..timing.profile import cpu_model

__all__ = [
    "available_memory_bytes",
    "choose_rounds",
    "compile_jax",
    "cpu_model",
    "default_memory_budget",
    "device_description",
    "device_peak_bytes",
    "paired_seconds",
    "random_jacobians",
    "reference_product",
    "round_seconds",
    "tracemalloc_peak",
    "xla_flops",
    "xla_memory_bytes",
]


@lru_cache(maxsize=2)
def random_jacobians(
    widths: tuple[int, ...], dtype: Any = "float64", seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Seeded random layer Jacobians ``(J_1, ..., J_L)``, entries ~ N(0, 1/d_{l-1}).

    The scaling keeps products of O(1) size at any depth, so errors can be compared across rows.
    The arrays are read-only and cached: every strategy of a row set shares one draw.

    Example:
        >>> [m.shape for m in random_jacobians((3, 4, 5))]
        [(4, 3), (5, 4)]
    """
    rng = np.random.default_rng(seed)
    mats = []
    for k in range(len(widths) - 1):
        m = (rng.standard_normal((widths[k + 1], widths[k])) / math.sqrt(widths[k])).astype(dtype)
        m.setflags(write=False)
        mats.append(m)
    return tuple(mats)


@lru_cache(maxsize=4)
def reference_product(widths: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The plain left-to-right product of :func:`random_jacobians` in float64.

    Computed with JAX on its default device (a GPU where there is one, so wide reference chains
    stay quick) at the highest matmul precision when ``jax_enable_x64`` is on; with numpy
    otherwise.

    Example:
        >>> reference_product((2, 2)).shape
        (2, 2)
    """
    import jax
    import jax.numpy as jnp

    mats: list[Any] = list(random_jacobians(widths, "float64", seed))
    if bool(getattr(jax.config, "jax_enable_x64", False)):
        mats = [jnp.asarray(m) for m in mats]
    with jax.default_matmul_precision("highest"):
        out = mats[-1]
        for m in reversed(mats[:-1]):
            out = out @ m
    result = np.asarray(out, dtype=np.float64)
    result.setflags(write=False)
    return result


def compile_jax(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """Compile ``jax.jit(fn)`` for ``args`` ahead of time.

    Returns:
        The compiled executable (call it with ``args``) and the seconds that lowering and
        compiling took.
    """
    import jax

    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


_SOURCE_TABLES = ("FileNames", "FunctionNames", "FileLocations", "StackFrames")
"""Sections of XLA's printed HLO that list source files, functions and frames, not operations."""

_METADATA = re.compile(r', metadata=\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}')
"""An operation's ``metadata={...}`` (its Python source and JAX name), quoted strings and all."""


def program_identity(hlo_text: str) -> str | None:
    r"""What makes two compiled programs the same: their optimized HLO less names and sources.

    Two strategies can compile to one program: forward and reverse mode through a single layer
    are both ``D W`` once XLA has simplified them. Timed as two programs, such a pair shows the
    machine's noise as a difference (a contest of 1.12-1.35x between them, on this project's CPU);
    the benchmark times the program once instead. The module name, the tables of source files
    and stack frames and each operation's metadata are dropped; what is left is the program.

    Args:
        hlo_text: ``compiled.as_text()`` of a JAX executable.

    Returns:
        The program's text without names and sources, or ``None`` where XLA printed a constant
        as ``{...}`` (a large one): two programs could differ in its values alone.

    Example:
        >>> a = "\n".join([
        ...     "HloModule jit_f, entry_computation_layout={()->f32[]}", "",
        ...     "FileNames", '1 "f.py"', "",
        ...     "ENTRY %main () -> f32[] {",
        ...     '  ROOT %c = f32[] constant(1), metadata={op_name="a" stack_frame_id=1}', "}",
        ... ])
        >>> b = a.replace("jit_f", "jit_g").replace('"f.py"', '"g.py"').replace('"a"', '"b"')
        >>> program_identity(a) == program_identity(b), program_identity(a).splitlines()[0]
        (True, 'entry_computation_layout={()->f32[]}')
        >>> print(program_identity(a.replace("constant(1)", "constant({...})")))
        None
    """
    if "{...}" in hlo_text:
        return None
    kept, skipping = [], False
    for line in hlo_text.splitlines():
        if line.startswith("HloModule "):
            line = line.split(", ", 1)[1] if ", " in line else ""
        elif line.strip() in _SOURCE_TABLES:
            skipping = True
            continue
        if skipping:
            skipping = bool(line.strip())
            continue
        kept.append(_METADATA.sub("", line))
    return "\n".join(kept).strip()


def xla_flops(compiled: Any) -> float:
    """The compiled executable's ``cost_analysis()`` flops (NaN when XLA does not say).

    XLA counts a multiply-add as two flops.
    """
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # some backends do not implement it
        return math.nan
    if isinstance(analysis, list | tuple):
        analysis = analysis[0] if analysis else {}
    value = (analysis or {}).get("flops")
    return math.nan if value is None else float(value)


def xla_memory_bytes(compiled: Any) -> float:
    """``memory_analysis()``: temp + argument + output - alias bytes (NaN when unavailable)."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # some backends do not implement it
        return math.nan
    if stats is None:
        return math.nan
    return float(
        stats.temp_size_in_bytes
        + stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
    )


def device_peak_bytes(call: Callable[[], Any], device: Any) -> float:
    """Peak device bytes one call adds, from ``device.memory_stats()`` (NaN where unreported).

    JAX reports memory statistics on GPUs, not on the CPU. The process-wide peak cannot be reset,
    so the call's own peak is known only when it raises that peak: then it is the new peak minus
    the bytes in use before the call (the live inputs). Otherwise NaN is returned rather than a
    guess.
    """
    before = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not before or "peak_bytes_in_use" not in before:
        return math.nan
    call()
    after = device.memory_stats()
    if after["peak_bytes_in_use"] <= before["peak_bytes_in_use"]:
        return math.nan
    return float(after["peak_bytes_in_use"] - before["bytes_in_use"])


def tracemalloc_peak(call: Callable[[], Any]) -> int:
    """Peak bytes that Python and numpy allocate while ``call()`` runs (``tracemalloc``)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


def choose_rounds(
    seconds_per_call: float, target_s: float = 0.4, max_s: float = 3.0
) -> tuple[int, int]:
    """Rounds and iterations per round for a call that takes ``seconds_per_call``.

    Each round lasts at least a millisecond (tiny calls are looped), and all rounds together about
    ``target_s``, with 10 to 100 rounds; a slow call gets fewer rounds (at least 3), so that they
    take no more than ``max_s`` where 3 rounds allow it.

    Example:
        >>> choose_rounds(1e-5), choose_rounds(0.05), choose_rounds(2.0)
        ((100, 100), (10, 1), (3, 1))
    """
    per_call = max(seconds_per_call, 1e-7)
    iterations = min(1000, max(1, math.ceil(1e-3 / per_call)))
    rounds = min(100, max(10, math.ceil(target_s / (per_call * iterations))))
    if rounds * per_call * iterations > max_s:
        rounds = max(3, math.floor(max_s / (per_call * iterations)))
    return rounds, iterations


def paired_seconds(
    calls: list[Callable[[], Any]],
    budget_s: float = 0.5,
    min_bursts: int = 5,
    max_bursts: int = 21,
) -> tuple[list[float], int]:
    """Seconds of each call, timed in interleaved bursts: for comparing calls on a noisy machine.

    Each burst times every call in turn (a warm-up call, then up to 20 timed ones, about 5 ms in
    all, at least one), starting with a different call each burst; a call's figure is the median
    over bursts of its burst medians. Another process slowing the machine down for a while
    slows every call of the bursts it spans alike, so their ratios hold, unlike those of medians
    taken minutes apart. As many bursts as fit ``budget_s``, from ``min_bursts`` to
    ``max_bursts``.

    Args:
        calls: Blocking calls (each returns once its result is ready), already compiled.
        budget_s: About how long the bursts may take together.
        min_bursts: Bursts at least, whatever the budget.
        max_bursts: Bursts at most.

    Returns:
        The seconds of each call, in order, and the number of bursts.

    Example:
        >>> seconds, bursts = paired_seconds([lambda: sum(range(100)), lambda: None], budget_s=0)
        >>> seconds[0] > seconds[1], bursts
        (True, 5)
    """
    if not calls:
        raise JacobenchError("paired_seconds needs at least one call; got none")
    once = []
    for call in calls:
        call()
        start = time.perf_counter()
        call()
        once.append(max(time.perf_counter() - start, 1e-7))
    timed = [max(1, min(20, int(5e-3 / t))) for t in once]
    burst_s = sum(t * (n + 1) for t, n in zip(once, timed, strict=True))
    bursts = max(min_bursts, min(max_bursts, int(budget_s / burst_s)))
    medians: list[list[float]] = [[] for _ in calls]
    for burst in range(bursts):
        for j in range(len(calls)):
            i = (burst + j) % len(calls)
            calls[i]()
            samples = []
            for _ in range(timed[i]):
                start = time.perf_counter()
                calls[i]()
                samples.append(time.perf_counter() - start)
            medians[i].append(float(np.median(samples)))
    return [float(np.median(m)) for m in medians], bursts


def round_seconds(call: Callable[[], Any], rounds: int, iterations: int = 1) -> list[float]:
    """Seconds per call of each round, timed as pytest-benchmark's ``pedantic`` times them.

    That is, with ``warmup_rounds=1``: one round of warm-up, then ``rounds`` rounds of
    ``iterations`` calls, each round's time divided by ``iterations``.

    Example:
        >>> len(round_seconds(lambda: None, rounds=3, iterations=2))
        3
    """
    for _ in range(iterations):
        call()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            call()
        seconds.append((time.perf_counter() - start) / iterations)
    return seconds


def available_memory_bytes() -> int:
    """Memory available to new allocations (``MemAvailable`` on Linux, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def default_memory_budget() -> int:
    """Half the available memory: the default limit on a configuration's predicted memory."""
    return available_memory_bytes() // 2


def device_description(backend: str) -> str:
    """``"cpu"`` for numpy; JAX's default device as ``platform:kind`` otherwise."""
    if backend == "numpy":
        return "cpu"
    import jax

    dev = jax.devices()[0]
    return dev.platform if dev.platform == "cpu" else f"{dev.platform}:{dev.device_kind}"
