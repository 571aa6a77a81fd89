"""The benchmark job behind ``make bench``: run the suites, write the tidy CSV, draw the plots.

``jacobench bench [--grid default] [--memory-budget 4GiB] [--engine all] [--profile auto]``
(or ``python -m jacobench.bench.harness ...``) first makes sure there is a device profile of this
machine (``results/profiles/<device>.json``: reused when it describes this device, versions and
matmul precision, else measured, about a minute; see :func:`jacobench.calibrate`), then runs the
pytest-benchmark suites that ship in
``jacobench/bench/suites/`` over a grid (see :mod:`jacobench.bench.grid`), keeps their raw JSON,
builds ``results/<run_id>.csv`` and ``results/latest.csv`` from it, writes the environment sidecar
``results/<run_id>.json``, then draws the plots and the report into ``plots/`` and
``results/REPORT.md``. ``results/`` and ``plots/`` are relative to the current directory (or
``--results-dir`` / ``--plots-dir``), so the job runs from any folder, from a checkout or an
installed wheel alike. pytest reads the suites' own ``pytest.ini``, never the configuration of
the folder it is started in.

Every file is written through a temporary file and a rename, and every run has its own id, so an
interrupted run or a second run never corrupts what an earlier one wrote. The output folders are
checked before anything runs; a run removes the temporary files that killed runs left behind
(``.<run_id>.benchmark.json.part``, ``.<run_id>.skipped.json``, ``.*.tmp``), never a live run's
(see :mod:`jacobench.bench.files`); the pytest child dies with the harness, even when the
harness is killed with ``SIGKILL`` (Linux); ``SIGINT`` (Ctrl-C) ends the run with one line and
status 130, ``SIGTERM`` with status 143.

A run that must end in time takes ``--time-limit SECONDS``: rows not started by then are skipped
and recorded, and the run writes its results as usual. Rows that run out of memory are recorded
as skipped with the reason, and the run goes on. JAX's persistent compilation cache lives in
``--jax-cache-dir`` (default ``$XDG_CACHE_HOME/jacobench/jax`` or ``~/.cache/jacobench/jax``;
``--jax-cache-dir none`` turns it off), so a rerun on the same machine compiles nothing twice.

The suites run with glibc's malloc told to keep freed memory for reuse
(``GLIBC_TUNABLES=`` :data:`MALLOC_TUNABLES`, unless ``GLIBC_TUNABLES`` is already set): otherwise
every call that returns a large Jacobian gets its pages from the kernel anew, and on a virtual
machine those page faults cost more than the product itself (a 38 MB result: 15 ms of faults
against 2 ms of writing). It applies to every strategy and baseline alike; the sidecar records
it. :func:`with_malloc_tunables` does the same for a script.

Example:
    >>> [Path(f).name for f in pytest_command([SUITES_DIR / SUITES["explicit"]])[3:8]]
    ['-c', 'pytest.ini', '--rootdir', 'suites', 'bench_grid_explicit.py']
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import JacobenchError
from ..units import format_bytes, parse_bytes
from . import REQUIREMENTS, files, grid, measure

__all__ = [
    "PARENT_VARIABLE",
    "PYTEST_CONFIG",
    "REQUIRES",
    "SUITES",
    "SUITES_DIR",
    "default_jax_cache_dir",
    "die_with_harness",
    "environment",
    "main",
    "new_run_id",
    "pytest_command",
    "run",
    "suite_environment",
    "with_malloc_tunables",
]

REQUIRES = REQUIREMENTS
"""The modules this command needs: all of the ``bench`` extra."""

SUITES_DIR = Path(__file__).resolve().parent / "suites"
"""The packaged pytest-benchmark suites."""

SUITES = {
    "matrix_free": "bench_grid_matrix_free.py",
    "explicit": "bench_grid_explicit.py",
    "auto": "bench_functions.py",
    "hessian": "bench_grid_hessian.py",
}
"""The suite of each engine, in :data:`SUITES_DIR`, in the order they run (under a time limit,
the first one gets the time first)."""

MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"
"""What the suites' ``GLIBC_TUNABLES`` is unless it is set: blocks up to 1 GiB come from the heap,
which keeps up to 4 GiB of freed memory, instead of fresh (page-faulting) ``mmap`` each call.

Not every fault goes: XLA's worker threads allocate from heaps of their own, which glibc unmaps
when one empties. Counting minor faults around the optimal program of
``scripts/hourglass_speedups.py`` (2026-11-28), the batched hourglass (768, 1024, 16, 1024, 768)
x 16 faulted 7,700 pages (31 MB) a call in some bursts, 17-19 ms instead of 8. One heap for all
threads (``glibc.malloc.arena_max=1``) stopped that, but every program then waits on one malloc
lock: in five paired processes, the optimal plan of 16-256-256-256-16 took 1.02-1.29 times as
long, the (1000, 1000, 10, 1000, 1000) hourglass 1.03-1.32 and 1024^5 forward 1.00-1.08. So
not here."""

PYTEST_CONFIG = SUITES_DIR / "pytest.ini"
"""The suites' own pytest settings; the only pytest configuration a run reads."""

_SOURCE_ROOT = Path(__file__).resolve().parents[3]
"""The repository root when jacobench runs from a checkout (``src/jacobench/bench/..``)."""

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "CUDA_VISIBLE_DEVICES",
    "GLIBC_TUNABLES",
)


RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{4}"
"""The pattern of :func:`new_run_id`'s ids."""

LEFTOVERS = (
    rf"\.{RUN_ID}\.benchmark\.json\.part",
    rf"\.(?:{RUN_ID}\.(?:csv|json)|latest\.csv|REPORT\.md)\..+\.tmp",
)
"""The temporary files of a run in the results folder (swept when their writer is gone)."""


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a random suffix, e.g. ``20261127T001500Z-3f2a``."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(root: Path) -> dict[str, Any]:
    """The commit of the jacobench checkout at ``root``; nulls for an installed jacobench."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    top = git("rev-parse", "--show-toplevel") if (root / "src" / "jacobench").is_dir() else None
    if top is None or Path(top).resolve() != root.resolve():  # not this package's checkout
        return {"commit": None, "dirty": None}
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def pytest_command(suites: Sequence[str | os.PathLike[str]], *args: str) -> list[str]:
    """The command that runs pytest on ``suites`` with the suites' own settings only.

    ``-c`` names :data:`PYTEST_CONFIG`, so a ``pytest.ini``, ``pyproject.toml`` or ``setup.cfg``
    in the current directory is not read, and ``--rootdir`` keeps pytest's root (and any
    ``conftest.py`` it would look for) inside the package.
    """
    return [
        sys.executable, "-m", "pytest", "-c", str(PYTEST_CONFIG), "--rootdir", str(SUITES_DIR),
        *map(str, suites), *args,
    ]  # fmt: skip


def suite_environment() -> dict[str, str]:
    """The environment the suites run in: this one, with :data:`MALLOC_TUNABLES` by default.

    Less pytest-xdist's worker variables: a harness started from a test that runs under
    ``pytest -n`` would otherwise make pytest-benchmark believe its own suites run under xdist,
    and refuse to time them.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    return env


def with_malloc_tunables() -> None:
    """Run this process again with :data:`MALLOC_TUNABLES` if ``GLIBC_TUNABLES`` is not set.

    glibc reads its tunables when a process starts, so a script that wants to time as the suites
    do calls this first, before it allocates anything large; it returns at once where
    ``GLIBC_TUNABLES`` is set (to anything, even empty: the caller's choice), and the process
    image is replaced otherwise.
    """
    if "GLIBC_TUNABLES" in os.environ:
        return
    env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES}
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def default_jax_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jacobench/jax``, or ``~/.cache/jacobench/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jacobench" / "jax"


def environment(run_id: str, grid_name: str, root: Path = _SOURCE_ROOT) -> dict[str, Any]:
    """What the sidecar JSON records about the machine and the software (the suites' env)."""
    env = suite_environment()
    return {
        "run_id": run_id,
        "grid": grid_name,
        "timestamp_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in ("jax", "jaxlib", "numpy", "pandas", "jacobench")},
        },
        "platform": platform.platform(),
        "cpu_model": measure.cpu_model(),
        "cpu_count": os.cpu_count(),
        # 1, 5 and 15 minutes; on a shared machine, how much else ran beside the suites
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "device": measure.device_description("jax"),
        "env": {name: env.get(name) for name in THREAD_VARIABLES},
        "git": _git(root),
    }


def run(
    *,
    grid_name: str = "default",
    engines: Sequence[str] = tuple(SUITES),
    memory_budget: int | None = None,
    results_dir: Path = Path("results"),
    plots_dir: Path = Path("plots"),
    plots: bool = True,
    pytest_args: Sequence[str] = (),
    profile: str | None = "auto",
    matmul_precision: str = "highest",
    time_limit: float | None = None,
    jax_cache_dir: Path | None = None,
) -> tuple[int, dict[str, Path]]:
    """Run the suites and write the results; returns pytest's exit status and the files written.

    Args:
        grid_name: The grid to run (:data:`jacobench.bench.grid.GRIDS`).
        engines: Keys of :data:`SUITES`.
        memory_budget: Bytes; configurations predicted to need more are skipped and recorded.
            None: half the available memory.
        results_dir: Where the CSV, raw JSON, sidecar and report go (relative to the current
            directory unless absolute).
        plots_dir: Where the plots go.
        plots: Whether to draw the plots and the report.
        pytest_args: More arguments for pytest, e.g. ``["-k", "numpy"]`` to run fewer rows.
        profile: ``"auto"``: this machine's device profile in ``results_dir/profiles/``, reused
            or measured first; a path: that profile (measured again if it describes another
            device, version or precision); ``None``: none (``model_seconds`` is NaN and the
            ``optimal_time`` rows are skipped).
        matmul_precision: JAX's default matmul precision for the timed calls and the profile.
        time_limit: Seconds after which the suites start no more rows (each is recorded as
            skipped); None: no limit.
        jax_cache_dir: JAX's persistent compilation cache; None: none.

    Raises:
        JacobenchError: An unknown grid or engine, or a suite missing from the package.
    """
    grid.configs(grid_name)  # fail early on an unknown grid
    for engine in engines:
        if engine not in SUITES:
            raise JacobenchError(f"unknown engine {engine!r}; valid options are {sorted(SUITES)}")
    budget = measure.default_memory_budget() if memory_budget is None else memory_budget
    suites = [SUITES_DIR / SUITES[e] for e in engines]
    missing = [s for s in suites if not s.is_file()]
    if missing:
        raise JacobenchError(f"benchmark suite {missing[0]} not found; reinstall jacobench")
    files.writable_folder(results_dir, "results folder (--results-dir)")
    if plots:
        files.writable_folder(plots_dir, "plots folder (--plots-dir)")
    from .tidy import build_frame, load_json, write_atomic  # pandas only when needed

    swept = sweep_leftovers(results_dir)
    if swept:
        names = ", ".join(p.name for p in swept)
        print(f"jacobench: removed {len(swept)} leftover(s) of killed runs: {names}", flush=True)
    profile_path = _device_profile(profile, results_dir, matmul_precision)
    # pytest-benchmark opens its JSON file when it starts: let it write to a hidden name (which
    # also claims the run id, locked while this run lives), and give the file its real name only
    # once the suites have finished.
    run_id, raw_part, claim = _claim_run_id(results_dir)
    raw_path = results_dir / f"{run_id}.benchmark.json"
    skipped_path = results_dir / f".{run_id}.skipped.json"
    written: dict[str, Path] = {}
    try:
        print(
            f"jacobench: run {run_id}, grid {grid_name!r} ({len(grid.configs(grid_name))} "
            f"chains), engines {', '.join(engines)}, memory budget {format_bytes(budget)}",
            flush=True,
        )
        # pytest-benchmark makes its storage folder when it starts: give it one that goes away.
        with tempfile.TemporaryDirectory(prefix="jacobench-benchmarks-") as storage:
            command = pytest_command(
                suites, "-v", "--benchmark-only",
                f"--grid={grid_name}", f"--memory-budget={budget}",
                f"--skipped-json={skipped_path.resolve()}",
                f"--benchmark-json={raw_part.resolve()}", f"--benchmark-storage={storage}",
                "--benchmark-columns=min,median,iqr,rounds", "--benchmark-sort=fullname",
                f"--matmul-precision={matmul_precision}",
                *([f"--profile={profile_path.resolve()}"] if profile_path else []),
                *([] if time_limit is None else [f"--time-limit={time_limit}"]),
                *([] if jax_cache_dir is None else [f"--jax-cache-dir={jax_cache_dir}"]),
                *pytest_args,
            )  # fmt: skip
            status = _call(command)
        raw = load_json(raw_part) if raw_part.exists() and raw_part.stat().st_size else {}
        skipped = load_json(skipped_path) if skipped_path.exists() else []
        if not raw.get("benchmarks") and not skipped:
            print(f"jacobench: the suites wrote no results (pytest exit status {status})")
            return status or 1, written
        os.replace(raw_part, raw_path)
        files.usual_mode(raw_path)
    finally:
        for leftover in (raw_part, skipped_path):
            with contextlib.suppress(OSError):  # never let the clean-up hide the real error
                leftover.unlink(missing_ok=True)
        os.close(claim)
    written["raw"] = raw_path
    frame = build_frame(raw, skipped, run_id)
    csv_text = frame.to_csv(index=False)
    written["csv"] = write_atomic(results_dir / f"{run_id}.csv", csv_text)
    written["latest"] = write_atomic(results_dir / "latest.csv", csv_text)
    sidecar = {
        **environment(run_id, grid_name),
        "memory_budget_bytes": budget,
        "time_limit_s": time_limit,
        "jax_cache_dir": None if jax_cache_dir is None else str(jax_cache_dir),
        "engines": list(engines),
        "pytest_exit_status": status,
        "device_profile": None if profile_path is None else str(profile_path),
        "weight_reads": _weight_reads_again(profile_path),
        "csv": str(written["csv"]),
        "raw_json": str(raw_path),
    }
    written["sidecar"] = write_atomic(results_dir / f"{run_id}.json", json.dumps(sidecar, indent=2))
    if plots:
        from .report import make_report

        made = make_report(written["latest"], plots_dir, results_dir / "REPORT.md")
        written["report"] = Path(made["report"])
        written["plots"] = plots_dir
    return status, written


def sweep_leftovers(results_dir: Path) -> list[Path]:
    """Remove what killed runs left in ``results_dir``; a live run's files are left alone.

    A run's hidden ``.<run_id>.benchmark.json.part`` is locked for as long as the run lives, so
    one whose lock can be taken is a leftover, and so is its ``.<run_id>.skipped.json``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".20260101T000000Z-abcd.benchmark.json.part").write_text("{")
        >>> [p.name for p in sweep_leftovers(folder)]
        ['.20260101T000000Z-abcd.benchmark.json.part']
    """
    removed = files.sweep(results_dir, LEFTOVERS)
    for skipped in results_dir.glob(".*.skipped.json"):
        run_id = skipped.name[1 : -len(".skipped.json")]
        part = results_dir / f".{run_id}.benchmark.json.part"
        if re.fullmatch(RUN_ID, run_id) and (not part.exists() or files.abandoned(part)):
            with contextlib.suppress(FileNotFoundError):
                skipped.unlink()
                removed.append(skipped)
    return removed


def _device_profile(asked: str | None, results_dir: Path, precision: str) -> Path | None:
    """The device profile the suites use: reused if it describes this machine, else measured."""
    if asked is None or asked == "none":
        return None
    import time

    import jax

    from ..timing import default_path, load_or_calibrate

    path = results_dir / "profiles" / default_path().name if asked == "auto" else Path(asked)
    start = time.perf_counter()
    with jax.default_matmul_precision(None if precision == "default" else precision):
        profile = load_or_calibrate(
            path, backends=("numpy", "jax"), dtypes=("float32",), progress=True
        )
    how = "reused" if time.perf_counter() - start < 1 else f"measured in {profile.calibration_s} s"
    print(f"jacobench: device profile {path} ({how})", flush=True)
    return path


def _weight_reads_again(profile_path: Path | None) -> dict[str, Any] | None:
    """JAX's weight-read curve at calibration and measured again after the rows (see the report).

    ``{"footprints": bytes, "at_calibration": bytes/s, "after_run": bytes/s}``; ``None`` without a
    profile or where it cannot be read or measured (the run's results stand either way).
    """
    if profile_path is None:
        return None
    from ..timing import load
    from ..timing.micro import weight_reads

    try:
        then = dict(load(profile_path).rates("jax").weights)
        now = dict(weight_reads("jax"))
    except Exception as exc:  # the rows are written: a failed extra measurement must not cost them
        print(f"jacobench: weight reads not measured again: {exc}", flush=True)
        return None
    footprints = sorted(set(then) & set(now))
    return {
        "footprints": footprints,
        "at_calibration": [then[f] for f in footprints],
        "after_run": [now[f] for f in footprints],
    }


def _claim_run_id(results_dir: Path) -> tuple[str, Path, int]:
    """A new run id that no file in ``results_dir`` has, claimed by creating its raw JSON file.

    The hidden ``.<run_id>.benchmark.json.part`` is created exclusively, so two runs started at
    once into one folder never get the same id, even when their random suffixes collide; it is
    locked through the returned descriptor until the run closes it.
    """
    while True:
        run_id = new_run_id()
        part = results_dir / f".{run_id}.benchmark.json.part"
        if any(results_dir.glob(f"{run_id}.*")):
            continue
        try:
            fd = os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        files.lock(fd)
        return run_id, part, fd


PARENT_VARIABLE = "JACOBENCH_HARNESS_PID"
"""Set for the pytest child: the harness's process id (see :func:`die_with_harness`)."""


def _call(command: Sequence[str]) -> int:
    """Run the suites; if this process is stopped, stop them too (no orphan writes files later).

    The child is told this process's id (:data:`PARENT_VARIABLE`): on Linux the suites then ask
    the kernel to kill them when it dies (:func:`die_with_harness`), so even a ``SIGKILL`` of the
    harness, which runs no clean-up, leaves no pytest behind.
    """
    env = {**suite_environment(), PARENT_VARIABLE: str(os.getpid())}
    proc = subprocess.Popen(command, env=env)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


_PR_SET_PDEATHSIG = 1


def die_with_harness() -> bool:
    """In the suites' process: be killed (``SIGKILL``) when the harness that started it dies.

    Uses Linux's ``prctl(PR_SET_PDEATHSIG)``; if the harness is already gone, exits at once.
    Does nothing (and returns False) outside a harness run or off Linux. The suites call it when
    pytest starts (their ``conftest.py``). The signal follows the harness *thread* that started
    the run, so :func:`run` belongs on a thread that outlives it (the main one, usually).

    Example:
        >>> die_with_harness()  # not started by a harness
        False
    """
    parent = os.environ.get(PARENT_VARIABLE, "")
    if not parent.isdigit() or not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no C library to ask
        return False
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(parent):  # the harness died before the request: go now
        os._exit(128 + signal.SIGKILL)
    return True


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up above


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="jacobench bench", description="Run the jacobench benchmark job."
    )
    parser.add_argument(
        "--grid",
        default="default",
        help=f"one of {sorted(grid.GRIDS)} (default: default)",
    )
    parser.add_argument("--engine", choices=[*SUITES, "all"], default="all")
    parser.add_argument(
        "--memory-budget",
        default=None,
        help="skip configurations predicted to need more, e.g. 4GiB "
        "(default: half the available memory)",
    )
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--plots-dir", type=Path, default=Path("plots"))
    parser.add_argument("--no-plots", action="store_true", help="do not draw plots or the report")
    parser.add_argument(
        "--profile",
        default="auto",
        help="device profile for predicted seconds: auto (results/profiles/<device>.json, "
        "reused or measured first), a path, or none",
    )
    parser.add_argument(
        "--matmul-precision",
        default="highest",
        choices=["default", "high", "highest"],
        help="JAX's default matmul precision for the timed calls and the profile "
        "(default: highest)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds after which no more rows start (they are recorded as skipped)",
    )
    parser.add_argument(
        "--jax-cache-dir",
        default=str(default_jax_cache_dir()),
        help="JAX's persistent compilation cache, or 'none' (default: %(default)s)",
    )
    parser.add_argument(
        "pytest_args",
        nargs="*",
        help="passed on to pytest (after --), e.g. -- -k numpy to run fewer rows",
    )
    args = parser.parse_args(argv)  # fmt: skip
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        budget = None if args.memory_budget is None else parse_bytes(args.memory_budget)
        engines = list(SUITES) if args.engine == "all" else [args.engine]
        status, written = run(
            grid_name=args.grid,
            engines=engines,
            memory_budget=budget,
            results_dir=args.results_dir,
            plots_dir=args.plots_dir,
            plots=not args.no_plots,
            pytest_args=args.pytest_args,
            profile=args.profile,
            matmul_precision=args.matmul_precision,
            time_limit=args.time_limit,
            jax_cache_dir=None if args.jax_cache_dir == "none" else Path(args.jax_cache_dir),
        )
    except JacobenchError as exc:
        print(f"jacobench: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jacobench: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as exc:
        print(f"jacobench: error: could not write the results: {exc}", file=sys.stderr)
        return 1
    for label, path in written.items():
        print(f"jacobench: {label:>8}: {path}")
    if status != 0:
        print(f"jacobench: some benchmarks failed or errored (pytest exit status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
