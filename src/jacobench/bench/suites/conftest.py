"""Shared set-up of the benchmark suites: the grid, the guards, the record of rows not timed.

Options (``make bench`` passes them through ``jacobench bench``):
  --grid NAME            which grid of jacobench.bench.grid to run (default: "default")
  --memory-budget BYTES  skip configurations whose predicted memory exceeds this
                         (default: half the available memory)
  --skipped-json PATH    where to write the rows that were skipped or failed, with the reason
  --matmul-precision P   JAX's default matmul precision (default: "highest", true float32; on
                         GPUs JAX's own default multiplies float32 in TF32, which fails the
                         float32 accuracy check; pass "default" to time that)
  --profile PATH         the device profile (jacobench calibrate) for each row's model_seconds
                         and the optimal_time strategy; without it, or if it describes another
                         device, version or precision, model_seconds is NaN and optimal_time
                         rows are skipped (and recorded)
  --time-limit SECONDS   rows not started this many seconds after the session began are skipped
                         (and recorded), so a run ends in time (default: none)
  --row-time-limit S     a row still running after S seconds is stopped at its next step and
                         recorded as skipped (default: none)
  --jax-cache-dir DIR    JAX's persistent compilation cache (default: none)
  --numpy-max-macs N     skip numpy rows of more multiply-adds ("auto": 2e9 where JAX's device
                         is an accelerator, whose host CPU would take seconds per row; no limit
                         on a CPU machine)
  --timing-target S      about how many seconds of timed rounds per row (default 0.4; at least
                         10 rounds, and at most 3 s where 3 rounds allow it)
  --compile-threads N    compile a configuration's programs ahead, all at once on N threads,
                         before its first row ("auto": every host core where JAX's device is an
                         accelerator, whose compiler takes seconds per program; 0 on a CPU,
                         where the threads would compete with the timed calls)
  --warmup-seconds S     calls of a row's program for this long before it is timed (default
                         0.1): on a 2-vCPU VM a program's first tens of milliseconds of calls
                         after a compile often ran on one thread (an idle vCPU slow to wake)
  --contest-seconds S    about how long each optimal_time row times its program against the
                         chain's forward, reverse and optimal ones, interleaved (default 0.5;
                         at least 5 bursts; see contest())
  --spell-wait S         seconds the whole run may spend waiting for spells of other work on
                         the machine to pass, before rows and before timing one again (default
                         60; at most 10 s a row; see jacobench.bench.sentinel)

A row that runs out of memory, or is stopped, is recorded as skipped with the reason and the run
goes on; a row that fails otherwise (a wrong result, say) is recorded as failed and fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pytest_benchmark.stats import Stats as BenchmarkStats

from jacobench.bench import grid, harness, measure
from jacobench.bench import sentinel as sentinel_
from jacobench.bench.sentinel import SPELL
from jacobench.bench.tidy import CONTESTANTS, UNSTABLE_IQR_RATIO
from jacobench.timing import load, predict_seconds, stale_reason
from jacobench.timing.micro import ahead_threads
from jacobench.units import format_bytes, parse_bytes

# Float64 references need x64; every timed array is given an explicit dtype.
jax.config.update("jax_enable_x64", True)

DTYPE = "float32"
SEED = 0
_TIMING = {"target_s": 0.4, "contest_s": 0.5, "warmup_s": 0.1}
_WATCH = sentinel_.Watch()
"""The run's sentinels and its budget for waiting out spells (``--spell-wait``)."""


def pytest_addoption(parser):
    group = parser.getgroup("jacobench")
    group.addoption("--grid", default="default", help="benchmark grid (jacobench.bench.grid.GRIDS)")
    group.addoption("--memory-budget", default=None, help="bytes, e.g. 2GiB; default half of RAM")
    group.addoption("--skipped-json", default=None, help="write skipped rows here")
    group.addoption(
        "--matmul-precision",
        default="highest",
        choices=["default", "high", "highest"],
        help="jax_default_matmul_precision for the timed calls",
    )
    group.addoption("--profile", default=None, help="device profile JSON (jacobench calibrate)")
    group.addoption("--time-limit", type=float, default=None, help="seconds for the whole run")
    group.addoption("--row-time-limit", type=float, default=None, help="seconds for one row")
    group.addoption("--jax-cache-dir", default=None, help="JAX's persistent compilation cache")
    group.addoption("--numpy-max-macs", default="auto", help="skip bigger numpy rows")
    group.addoption("--timing-target", type=float, default=0.4, help="seconds of rounds per row")
    group.addoption("--compile-threads", default="auto", help="threads compiling ahead")
    group.addoption(
        "--contest-seconds", type=float, default=0.5, help="seconds of optimal_time's contest"
    )
    group.addoption(
        "--warmup-seconds", type=float, default=0.1, help="seconds of calls before timing a row"
    )
    group.addoption(
        "--spell-wait", type=float, default=60.0, help="seconds the run may wait for spells"
    )


def pytest_configure(config):
    harness.die_with_harness()  # started by the harness: die with it, even if it is SIGKILLed
    config._jacobench_skipped = []
    config._jacobench_started = time.monotonic()
    _TIMING["target_s"] = config.getoption("--timing-target")
    _TIMING["contest_s"] = config.getoption("--contest-seconds")
    _TIMING["warmup_s"] = config.getoption("--warmup-seconds")
    _WATCH.left_s = config.getoption("--spell-wait")
    precision = config.getoption("--matmul-precision")
    jax.config.update("jax_default_matmul_precision", None if precision == "default" else precision)
    cache = config.getoption("--jax-cache-dir")
    if cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_generate_tests(metafunc):
    if "config" in metafunc.fixturenames:
        chosen = grid.configs(metafunc.config.getoption("--grid"))
        if not getattr(metafunc.module, "BATCHED", False):  # this suite has no points to batch
            chosen = [c for c in chosen if c.batch == 1]
        metafunc.parametrize("config", chosen, ids=[c.id for c in chosen])


def pytest_sessionfinish(session):
    path = session.config.getoption("--skipped-json")
    if path:
        Path(path).write_text(json.dumps(session.config._jacobench_skipped, indent=1))


@pytest.fixture(scope="session")
def memory_budget(pytestconfig):
    given = pytestconfig.getoption("--memory-budget")
    return measure.default_memory_budget() if given is None else parse_bytes(given)


@pytest.fixture
def row(config, pytestconfig):
    """The descriptive half of a result row; the suite adds its measurements."""
    w = config.widths
    return {
        "matmul_precision": pytestconfig.getoption("--matmul-precision"),
        "sweep": config.sweep,
        "profile": config.profile,
        "scale": config.scale,
        "widths": "-".join(map(str, w)),
        "depth": len(w) - 1,
        "d_0": w[0],
        "d_L": w[-1],
        "batch": config.batch,
        "dtype": DTYPE,
    }


@pytest.fixture(scope="session")
def device_profile(pytestconfig):
    """The device profile of ``--profile`` if it describes this machine now; else None."""
    path = pytestconfig.getoption("--profile")
    if path is None:
        return None
    profile = load(path)
    why = stale_reason(profile, backends=("numpy", "jax"), dtypes=(DTYPE,))
    if why is not None:
        warnings.warn(f"not using the device profile {path}: {why}", stacklevel=1)
        return None
    return profile


@pytest.fixture
def model_seconds(device_profile):
    """``model_seconds(plan, backend, points=1)``: the plan's predicted seconds (for ``points``
    > 1, of ``jax.vmap`` of it over that many points); NaN without a profile."""

    def predict(plan, backend: str, points: int = 1) -> float:
        if device_profile is None:
            return math.nan
        return predict_seconds(plan, device_profile, backend, DTYPE, points)

    return predict


@pytest.fixture
def fastest_plan(device_profile, pytestconfig):
    """``fastest_plan(info, make)``: ``make(profile)``, the time-optimal plan; without a
    profile, the row is skipped (and recorded)."""

    def plan_it(info: dict, make):
        if device_profile is None:
            reason = "no device profile for this machine (pass --profile; see jacobench calibrate)"
            record_row(pytestconfig, info, "skipped", reason)
            pytest.skip(reason)
        return make(device_profile)

    return plan_it


def record_row(pytestconfig, info: dict, status: str, reason: str) -> None:
    """Keep a row that was not timed (``status`` "skipped" or "failed") for the results CSV."""
    pytestconfig._jacobench_skipped.append({**info, "status": status, "skip_reason": reason})


@pytest.fixture
def guard(pytestconfig, memory_budget):
    """Skip (and record) a row before allocating: over the memory budget, or out of time.

    With ``max_macs``, a row whose ``info["model_macs"]`` exceeds it is skipped the same way (the
    second-order suite caps ``fwd-over-fwd``, quadratic in ``d_0``, per grid).
    """

    def check(info: dict, predicted_bytes: int, max_macs: int | None = None) -> None:
        limit = pytestconfig.getoption("--time-limit")
        elapsed = time.monotonic() - pytestconfig._jacobench_started
        if limit is not None and elapsed > limit:
            reason = f"time limit of {limit:g} s reached ({elapsed:.0f} s) before this row started"
            record_row(pytestconfig, info, "skipped", reason)
            pytest.skip(reason)
        reason = None
        if predicted_bytes > memory_budget:
            reason = (
                f"predicted memory {format_bytes(predicted_bytes)} exceeds the budget "
                f"{format_bytes(memory_budget)}"
            )
        elif max_macs is not None and info["model_macs"] > max_macs:
            reason = (
                f"model multiply-adds {info['model_macs']:,} exceed the grid's cap {max_macs:,}"
            )
        if reason is not None:
            record_row(pytestconfig, info, "skipped", reason)
            pytest.skip(reason)

    return check


def numpy_max_macs(pytestconfig) -> float:
    """The ``--numpy-max-macs`` limit; "auto" is 2e9 beside an accelerator, none on a CPU."""
    given = pytestconfig.getoption("--numpy-max-macs")
    if given != "auto":
        return float(given)
    return math.inf if jax.default_backend() == "cpu" else 2e9


class RowStopped(Exception):
    """A row ran past ``--row-time-limit``."""


def _is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return isinstance(exc, MemoryError) or any(
        mark in text for mark in ("RESOURCE_EXHAUSTED", "Out of memory", "out of memory")
    )


@pytest.fixture
def watch(pytestconfig):
    """Run a row's body; record it as skipped when out of memory or stopped, failed otherwise.

    Use ``with watch(info): ...``; ``info`` is read when the row ends, so what the body adds to
    it lands in the record. A stopped row is interrupted (``SIGALRM``) at its next Python step.
    """

    @contextlib.contextmanager
    def watching(info: dict) -> Iterator[None]:
        limit = pytestconfig.getoption("--row-time-limit")
        timer = limit is not None and hasattr(signal, "setitimer")
        if timer:

            def stop(signum: int, frame: object) -> None:
                raise RowStopped(f"stopped after the row time limit of {limit:g} s")

            previous = signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            yield
        except RowStopped as exc:
            record_row(pytestconfig, info, "skipped", str(exc))
            pytest.skip(str(exc))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if _is_out_of_memory(exc):
                jax.clear_caches()
                record_row(pytestconfig, info, "skipped", f"out of memory: {reason}"[:300])
                pytest.skip(f"out of memory: {reason}"[:300])
            record_row(pytestconfig, info, "failed", reason[:300])
            raise
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    return watching


class Program:
    """A compiled program of the current configuration, and the timing of the row that owns it."""

    def __init__(
        self,
        compiled: Any,
        compile_s: float,
        owner: str,
        key: Any = (),
        identity: str | None = None,
    ) -> None:
        self.compiled, self.compile_s, self.key = compiled, compile_s, key
        self.owners = [owner]  # every strategy of the chain that runs it, the owner first
        self.identity = identity  # digest of its optimized HLO (see _hlo_digest), if known
        self.stats: dict | None = None  # the owner's timing, once measured
        self.call: Callable[[], Any] | None = None  # a blocking call of it, once checked

    @property
    def owner(self) -> str:
        """The strategy whose row compiled it (and times it)."""
        return self.owners[0]


_PROGRAMS: dict[Any, Program] = {}
"""Compiled programs of the current configuration, by key."""

_AHEAD: dict[Any, tuple[Any, float]] = {}
"""Programs :func:`compile_ahead` compiled that no row has taken yet: (executable, seconds)."""

_AHEAD_DONE: set[Any] = set()
"""The configurations :func:`compile_ahead` has run for."""


def compile_threads(pytestconfig) -> int:
    """``--compile-threads``: a number, or "auto" (all host cores beside an accelerator, else 0)."""
    given = pytestconfig.getoption("--compile-threads")
    return ahead_threads() if given == "auto" else int(given)


def compile_ahead(config_key: Any, jobs: dict[Any, Callable[[], Any]], threads: int) -> None:
    """Compile the programs of a configuration all at once, before its first row is timed.

    ``jobs`` maps each program's :func:`compile_once` key to a function that lowers it (called
    here, in this thread, so JAX's thread-local settings hold); the lowered programs are then
    compiled on ``threads`` threads (XLA releases the GIL while it compiles) and wait in
    :data:`_AHEAD` for their rows. Each row still records the seconds its own program took to
    lower and compile. Runs once per configuration, and only with two threads or more; a program
    that fails to lower or compile here is left to its row, which then records the error.
    """
    if threads < 2 or config_key in _AHEAD_DONE:
        return
    _AHEAD_DONE.add(config_key)
    for old in [k for k in _AHEAD if k[0] != config_key]:
        del _AHEAD[old]
    lowered = []
    for key, lower in jobs.items():
        if key in _PROGRAMS or key in _AHEAD:
            continue
        start = time.perf_counter()
        try:
            lowered.append((key, lower(), time.perf_counter() - start))
        except Exception:  # the row lowers it again and records why it fails
            continue

    def compile_(job: tuple[Any, Any, float]) -> tuple[Any, Any, float]:
        key, program, seconds = job
        start = time.perf_counter()
        try:
            return key, program.compile(), seconds + time.perf_counter() - start
        except Exception:
            return key, None, 0.0

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for key, compiled, seconds in pool.map(compile_, lowered):
            if compiled is not None:
                _AHEAD[key] = (compiled, seconds)


def compile_once(key: Any, owner: str, compile_: Callable[[], tuple[Any, float]]) -> dict:
    """Compile a program once per configuration; a twin row (same ``key``) reuses it.

    A program :func:`compile_ahead` has compiled is taken from there (with its seconds). A row
    whose plan differs but compiles to the same program as an earlier row of the chain (the same
    optimized HLO, :func:`~jacobench.bench.measure.program_identity`: forward and reverse mode
    through one layer, say) is that row's twin too; it records the seconds it spent compiling.

    ``key`` starts with what identifies the configuration; programs of other configurations are
    dropped when a new one starts. Returns ``{"compiled", "compile_s", "same_program_as",
    "program"}``: the executable, the seconds this row spent compiling (0 when reused), the row
    whose program it is ("" when it compiled its own) and the :class:`Program` (for
    :func:`check_then_time`, which reuses its owner's timing).
    """
    config_key = key[0]
    for old in [k for k in _PROGRAMS if k[0] != config_key]:
        del _PROGRAMS[old]
    if key in _PROGRAMS:
        program = _PROGRAMS[key]
        program.owners.append(owner)
        return {
            "compiled": program.compiled,
            "compile_s": 0.0,
            "same_program_as": program.owner,
            "program": program,
        }
    ahead = _AHEAD.pop(key, None)
    compiled, seconds = ahead if ahead is not None else compile_()
    identity = _hlo_digest(compiled)
    same = next((p for p in _PROGRAMS.values() if identity and p.identity == identity), None)
    if same is not None:  # another plan, but XLA made the same program of it: time it once
        same.owners.append(owner)
        _PROGRAMS[key] = same
        return {
            "compiled": same.compiled,
            "compile_s": seconds,
            "same_program_as": same.owner,
            "program": same,
        }
    program = _PROGRAMS[key] = Program(compiled, seconds, owner, key, identity)
    return {"compiled": compiled, "compile_s": seconds, "same_program_as": "", "program": program}


def _hlo_digest(compiled: Any) -> str | None:
    """A digest of :func:`~jacobench.bench.measure.program_identity` of an executable, if any."""
    try:
        text = compiled.as_text()
    except Exception:  # not a JAX executable (numpy rows, tests), or XLA cannot print it
        return None
    identity = measure.program_identity(text) if isinstance(text, str) else None
    return hashlib.sha256(identity.encode()).hexdigest() if identity else None


def contest(program: Program) -> dict:
    """Time ``optimal_time``'s program against the chain's forward, reverse and optimal ones.

    Its row's ``time_median_s`` and theirs were each measured on its own, seconds or minutes
    apart; on a shared machine a slow stretch during one of them alone decides which looks
    faster. Here the distinct programs (``optimal_time``'s may be one of them) are timed in
    interleaved bursts (:func:`jacobench.bench.measure.paired_seconds`), so their ratio is that
    of one stretch of time. Returns ``contest_ratio`` (``optimal_time`` over the fastest of the
    others), ``contest_winner`` (which was fastest; ``optimal_time`` when it is) and
    ``contest_bursts``; nothing when no other program of the chain was run (all skipped), or
    when five bursts of theirs would take over ten times ``--contest-seconds``.
    """
    family = program.key[:-1]
    rivals: list[Program] = []
    for key, other in _PROGRAMS.items():  # twins share a Program: each program once
        if key[:-1] == family and _contestant(other) and other.call and other not in rivals:
            rivals.append(other)
    if not rivals or program.call is None:
        return {}
    # Five bursts of a warm-up and a timed call of each program must fit in ten budgets (slow
    # rows of a large grid: no contest rather than minutes of one).
    known = [other.stats["time_median_s"] for other in rivals if other.stats]
    if sum(known) * (len(rivals) + 1) / len(rivals) > _TIMING["contest_s"]:
        return {}
    timed = rivals if program in rivals else [*rivals, program]
    seconds, bursts = measure.paired_seconds([p.call for p in timed], _TIMING["contest_s"])
    by_program = dict(zip(map(id, timed), seconds, strict=True))
    best = min(rivals, key=lambda other: by_program[id(other)])
    mine = by_program[id(program)]
    return {
        "contest_ratio": mine / by_program[id(best)],
        "contest_winner": _contestant(best) if by_program[id(best)] < mine else "optimal_time",
        "contest_bursts": bursts,
    }


def _contestant(program: Program) -> str | None:
    """The first of :data:`CONTESTANTS` among the strategies that run ``program``, if any."""
    return next((owner for owner in program.owners if owner in CONTESTANTS), None)


def xla_figures(compiled, call, device) -> dict:
    """What XLA says of a compiled call: flops, memory analysis, and the device's peak delta."""
    return {
        "xla_flops": measure.xla_flops(compiled),
        "mem_measured_bytes": measure.xla_memory_bytes(compiled),
        "mem_source": "xla_memory_analysis",
        "mem_device_peak_bytes": measure.device_peak_bytes(call, device),
    }


_ON_DEVICE: dict[int, tuple[Any, jax.Array]] = {}
"""The last numpy reference :func:`max_abs_error` put on JAX's device, by ``id``."""


@jax.jit
def _errors(out: jax.Array, ref: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jnp.max(jnp.abs(out.astype(ref.dtype) - ref)), jnp.max(jnp.abs(ref))


def max_abs_error(out: Any, ref: Any) -> tuple[float, float]:
    """``(max |out - ref|, max |ref|)`` in the reference's precision (float64).

    A JAX result is compared where it lies (on an accelerator, the reference is put there too):
    a batched row's Jacobians and their float64 reference are gigabytes, which a copy to the host
    and numpy would spend seconds on per row. A numpy result is compared with numpy.
    """
    if isinstance(out, jax.Array):
        device = next(iter(out.devices()))
        if isinstance(ref, jax.Array):
            ref = jax.device_put(ref, device)
        else:  # a numpy reference: copied there once, then kept
            held = _ON_DEVICE.get(id(ref))
            if held is None or held[0] is not ref:
                _ON_DEVICE.clear()
                held = _ON_DEVICE[id(ref)] = (ref, jax.device_put(ref, device))
            ref = held[1]
        error, largest = _errors(out, ref)
        return float(error), float(largest)
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref)
    return float(np.max(np.abs(out - ref))), float(np.max(np.abs(ref)))


def check_then_time(
    benchmark,
    info: dict,
    call,
    ref: np.ndarray,
    what: str,
    program: Program | None = None,
    pytestconfig=None,
    target_s: float | None = None,
) -> None:
    """Compare ``call()`` with the float64 reference, then time it (rounds calibrated).

    ``target_s`` is about how long all timed rounds of the row take together (at least 10; by
    default ``--timing-target``).
    A row whose ``program`` another row of its chain owns and has timed (``optimal`` whose plan is
    ``forward``'s, say) is checked, then gets that row's timing instead of a second, noisier one
    of the same executable: it is recorded with ``status`` "ok" (``same_program_as`` names the
    row) and the test is skipped.

    The machine is watched around the timing (:mod:`jacobench.bench.sentinel`): a row waits for
    a spell to pass before it is timed, and one that a spell began during is timed again once
    the spell has passed. The row records ``sentinel_ratio``, ``spell_wait_s``, ``retimed`` and,
    when timed again, ``time_first_median_s``.
    """
    error, largest = max_abs_error(call(), ref)
    info["max_abs_error"] = error
    scale = max(1.0, largest) * max(1, info["depth"])
    tolerance = (1e-4 if DTYPE == "float32" else 1e-10) * scale
    assert error <= tolerance, f"{what}: max abs error {error:.3g} vs the float64 reference"
    twin = program is not None and program.stats is not None and bool(info.get("same_program_as"))
    contested = program is not None and info.get("strategy") == "optimal_time"
    if program is not None and program.call is None:
        program.call = call
    backend = info.get("backend", "jax")
    if twin:  # only optimal_time's contest to time, when it is one
        info["spell_wait_s"] = 0.0
        if contested:
            _warm(call)
            info["spell_wait_s"] = _WATCH.settle(backend, 0.0)[1]
            info.update(contest(program))
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[-1].split(" ")[0]
        record_row(pytestconfig, {**info, **program.stats, "test": test}, "ok", "")
        pytest.skip(f"the same program as {program.owner}'s row: its timing is reused")
    _warm(call)
    before, waited = _WATCH.settle(backend, 0.0)
    info["spell_wait_s"] = waited
    if contested:
        info.update(contest(program))
    start = time.perf_counter()
    call()
    target = _TIMING["target_s"] if target_s is None else target_s
    rounds, iterations = measure.choose_rounds(time.perf_counter() - start, target)
    benchmark.extra_info.update(info)
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=1)
    timing = _timing(benchmark.stats.stats)
    spell = {"sentinel_ratio": max(before, _WATCH.check(backend)), "retimed": False}
    if spell["sentinel_ratio"] >= SPELL:  # a spell began during the rounds: time them again

        def again() -> dict:
            new = BenchmarkStats()
            for seconds in measure.round_seconds(call, rounds, iterations):
                new.update(seconds)
            return _timing(new)

        new, ratio, waited = _WATCH.time_again(backend, again, waited)
        if new is not None:
            spell = {"sentinel_ratio": ratio, "retimed": True}
            spell["time_first_median_s"] = timing["time_median_s"]
            timing = new
            if contested:
                benchmark.extra_info.update(contest(program))
        benchmark.extra_info["spell_wait_s"] = waited
    benchmark.extra_info.update(spell)
    if spell["retimed"]:  # tidy takes the timing that stands from here
        benchmark.extra_info.update(timing)
    if program is not None and not info.get("same_program_as"):
        program.stats = {**timing, **spell}


def _warm(call: Callable[[], Any]) -> None:
    """Call for ``--warmup-seconds``: steady state, the cores awake and the caches warm."""
    warm_until = time.perf_counter() + _TIMING["warmup_s"]
    while time.perf_counter() < warm_until:
        call()


def _timing(stats: Any) -> dict:
    """A row's timing columns from pytest-benchmark's ``Stats`` of its rounds."""
    return {
        "time_median_s": stats.median,
        "time_min_s": stats.min,
        "time_iqr_s": stats.iqr,
        "rounds": stats.rounds,
        "unstable": bool(stats.median > 0 and stats.iqr / stats.median > UNSTABLE_IQR_RATIO),
    }
