"""The ``jacobench`` command: plan a Jacobian chain from the shell, run the benchmarks and plots.

Usage::

    jacobench plan D0 D1 ... DL [--dtype float32] [--memory-budget 2GiB] [--json]
                                [--explicit | --matrix-free | --hessian] [--time-limit 60]
                                [--profile auto|PATH]
    jacobench calibrate [--quick] [--backend numpy|jax ...] [--dtype float32|float64 ...]
                        [--matmul-precision default|high|highest] [--output PATH]
    jacobench bench [ARGS ...]    # the benchmark job: python -m jacobench.bench.harness ARGS ...
    jacobench plot [ARGS ...]     # the plots and tables: python -m jacobench.bench.report ARGS ...

``jacobench plan`` prints, for forward, reverse and optimal (and "optimal within budget" when a
budget is given), the multiply-adds, the peak memory (bytes and binary units for ``--dtype``) and
the speedup over forward and over reverse, for explicit layer Jacobians and for the matrix-free
engine (both by default); then the optimal plan as a formula. The numbers are those of
:func:`jacobench.plan` and :func:`jacobench.plan_matrix_free`.

With ``--hessian`` (for a chain whose last width is 1, a scalar function; any other chain is one
line of error) it prints the second order instead: one Hessian-vector product in each mode and the
Hessian by each strategy of :mod:`jacobench.second_order` (multiply-adds, peak memory, speedup over
``jax.hessian``), then the optimal Hessian as a formula; with a budget, also the cheapest Hessian
plan that fits.

With ``--memory-budget``, an engine that no plan of fits the budget still gets its table, without
the "optimal within budget" row, and then one line ``explicit: no bracketing fits ...`` (or
``matrix-free: ...``) with the library's message, which gives the smallest budget that fits; the
command succeeds as long as one of the engines asked for fits.

With ``--profile auto`` (this machine's saved profile, measured first if there is none) or
``--profile PATH`` (a saved :class:`~jacobench.timing.DeviceProfile`), every row also gets the
seconds :func:`jacobench.predict_seconds` predicts for it (JAX on that device), and each engine
gets a row for the time-optimal plan, ``optimal time`` (``objective="time"``; with a budget also
``optimal time within budget``). Where another plan of the table is predicted less than
:data:`jacobench.timing.predict.CLEAR_GAP` (1.2x) slower than the time-optimal one, a line
``near tie: ...`` says so: on the CPU this project measures on, plans that close often trade
places from one minute to the next, and the model's errors are as large as the gap (the
benchmark report counts such chains apart).

``jacobench calibrate`` measures this machine's :class:`~jacobench.timing.DeviceProfile` (see
:func:`jacobench.calibrate`; about a minute on two CPU cores, with a progress line on stderr),
prints it and saves it, by default to ``results/profiles/<device>.json``; a file it replaces
that is unreadable or from another device or version is kept aside (``<name>.replaced-<date>``).

Widths and results are exact integers of any size. Planning the optimal plan is a cubic dynamic
program in the number of layers L: a planning step expected to take more than a second prints one
line ``jacobench: note: ...`` on stderr (with its estimate) before it starts, and a step expected
to take longer than ``--time-limit`` seconds (default 60; 0 for no limit) is not run: its rows
are left out and one line ``explicit: optimal not planned: ...`` (or ``matrix-free: ...``) says
why, so that ``jacobench plan`` answers for chains of any length (forward and reverse are linear
in L).

With ``--json`` it prints the same as one JSON object whose keys are stable:

.. code-block:: text

    {
      "widths": [d_0, ..., d_L],
      "dtype": "float32",                 # the numpy name of --dtype
      "itemsize": 4,                      # bytes per element
      "memory_budget_bytes": null | int,  # --memory-budget, parsed
      "explicit": null | [ROW, ...],      # null when not asked for
      "explicit_error": null | str,       # why nothing fits the budget; then no budget ROW
      "explicit_skipped": null | str,     # why the optimal rows were not planned (--time-limit)
      "matrix_free": null | [ROW, ...],   # null when not asked for
      "matrix_free_error": null | str,    # the same for the matrix-free engine
      "matrix_free_skipped": null | str,
      "hessian": null | [SECOND, ...],    # null unless --hessian
      "hessian_error": null | str,        # why no Hessian plan fits the budget
      "profile": null | {"device": str, "date": str, "path": str}  # --profile, when given
    }

    ROW = {
      "strategy": "forward" | "reverse" | "optimal" | "optimal_within_budget"
                  | "optimal_time" | "optimal_time_within_budget",
      "macs": int,                        # multiply-adds, exact
      "peak_memory_elements": int,
      "peak_memory_bytes": int,           # peak_memory_elements * itemsize
      "peak_memory_human": str,           # e.g. "7.63 MiB"
      "speedup_vs_forward": float | null, # forward's multiply-adds over this row's (null if
      "speedup_vs_reverse": float | null, # it is no finite float: over ~1.8e308, or x / 0)
      "formula": str,                     # the plan, e.g. "(J4 J3) (J2 J1)", "jvp(J2 J1)"
      "fits_budget": bool | null,         # null without a budget
      "predicted_seconds": float | null   # null without --profile
    }

    SECOND = {
      "kind": "hvp" | "hessian",          # one Hessian-vector product, or the Hessian
      "strategy": str,                    # the mode or strategy, or "optimal_within_budget"
      "macs": int,
      "peak_memory_elements": int,
      "peak_memory_bytes": int,
      "peak_memory_human": str,
      "speedup_vs_jax_hessian": float | null,  # null for an HVP
      "formula": str,                     # e.g. "jvp(grad(f), v)", "hess(J2 J1, seed=hess(J3))"
      "fits_budget": bool | null
    }

Bad input (widths that are not positive integers, fewer than two widths, a malformed budget, an
unknown dtype, a budget that none of the engines asked for fits) prints one line
``jacobench: error: ...`` on stderr and exits with status 2.

Example:
    >>> main(["plan", "50", "5", "100", "10", "--explicit"])  # doctest: +NORMALIZE_WHITESPACE
    Explicit layer Jacobians: widths 50-5-100-10, float32 (4 bytes per element)
    strategy  multiply-adds  peak bytes  peak memory  vs forward  vs reverse
    forward          75,000      22,000    21.48 KiB          1x        0.1x
    reverse           7,500       2,200     2.15 KiB         10x          1x
    optimal           7,500       2,200     2.15 KiB         10x          1x
    optimal: (J3 J2) J1
    0
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from ._core import PlanSummary, duration_text
from ._text import any_int_digits, compact_widths, int_text, ratio_text
from .errors import JacobenchError, SlowPlanningWarning
from .explicit import plan
from .explicit.search import planning_seconds as explicit_seconds
from .matrix_free import plan as plan_matrix_free
from .matrix_free.dynamic import planning_seconds as matrix_free_seconds
from .second_order.table import format_hessian, hessian_section
from .timing.predict import CLEAR_GAP
from .units import format_bytes, parse_bytes, resolve_dtype

__all__ = ["main", "plan_rows"]

PROG = "jacobench"

FORWARDED = {"bench": "jacobench.bench.harness", "plot": "jacobench.bench.report"}
"""Subcommands that hand their arguments to another module's ``main(argv)``.

Those modules need the ``bench`` extra; without it the command says how to install it.
"""

STRATEGY_ROWS = ("forward", "reverse", "optimal")
"""The strategies every section shows, in this order."""


EnginePlanner = Callable[..., PlanSummary]
"""An engine's planner: :func:`jacobench.plan` or :func:`jacobench.plan_matrix_free`."""


def plan_rows(
    plans: Sequence[tuple[str, PlanSummary]],
    dtype: Any,
    budget_bytes: int | None = None,
    profile: Any = None,
) -> list[dict[str, Any]]:
    """Table rows (the ``--json`` ROW objects) for labelled plans.

    Args:
        plans: ``(label, plan)`` pairs; the label becomes the row's ``"strategy"``.
        dtype: The element type that turns peak memory into bytes.
        budget_bytes: The memory budget, for the ``"fits_budget"`` column; None for no budget.
        profile: A :class:`~jacobench.timing.DeviceProfile` for the ``"predicted_seconds"``
            column (JAX on that device); None leaves it null.

    Returns:
        One dict per plan, with the keys documented in :mod:`jacobench.cli`.

    Example:
        >>> row = plan_rows([("optimal", plan((50, 5, 100, 10)))], "float64", 10_000)[0]
        >>> row["macs"], row["peak_memory_bytes"], row["peak_memory_human"], row["fits_budget"]
        (7500, 4400, '4.3 KiB', True)
    """
    rows = []
    for label, p in plans:
        n_bytes = p.memory_bytes(dtype)
        rows.append(
            {
                "strategy": label,
                "macs": p.macs,
                "peak_memory_elements": p.peak_elements,
                "peak_memory_bytes": n_bytes,
                "peak_memory_human": format_bytes(n_bytes),
                "speedup_vs_forward": _finite(p.speedup_vs_forward),
                "speedup_vs_reverse": _finite(p.speedup_vs_reverse),
                "formula": p.formula,
                "fits_budget": None if budget_bytes is None else n_bytes <= budget_bytes,
                "predicted_seconds": _predicted(p, profile, dtype),
            }
        )
    return rows


def _predicted(p: PlanSummary, profile: Any, dtype: Any) -> float | None:
    if profile is None:
        return None
    from .timing import predict_seconds

    return predict_seconds(p, profile, "jax", resolve_dtype(dtype).name)  # type: ignore[arg-type]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


ENGINES: dict[str, EnginePlanner] = {"explicit": plan, "matrix_free": plan_matrix_free}
"""The engines ``jacobench plan`` shows, by their ``--json`` key, in this order."""

ESTIMATES: dict[str, Callable[[tuple[int, ...], bool], float]] = {
    "explicit": explicit_seconds,
    "matrix_free": matrix_free_seconds,
}
"""Each engine's estimate of the seconds its optimal planning takes (budgeted or not)."""

TIME_LIMIT = 60.0
"""The default ``--time-limit``: planning steps expected to take longer are not run."""


def _section(
    engine: str,
    widths: tuple[int, ...],
    dtype: np.dtype[Any],
    budget: int | None,
    time_limit: float = 0.0,
    profile: Any = None,
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Rows of one engine, why nothing fits the budget, and why a step was skipped (or None).

    The rows are forward, reverse, optimal and, when a plan fits the budget, optimal within it;
    optimal (and the budget row) only if its estimate is within ``time_limit`` (0: no limit).
    With a profile, then the time-optimal plan (and the time-optimal plan within the budget).
    """
    planner = ENGINES[engine]
    names = list(STRATEGY_ROWS)
    skipped = _over_limit(engine, widths, False, time_limit)
    if skipped is not None:
        names.remove("optimal")
    plans: list[tuple[str, PlanSummary]] = [(name, planner(widths, name)) for name in names]
    error = None
    if budget is not None and skipped is None:
        skipped = _over_limit(engine, widths, True, time_limit)
        try:
            if skipped is None:
                within = planner(widths, "optimal", memory_budget=budget, dtype=dtype)
                plans.append(("optimal_within_budget", within))
        except JacobenchError as err:  # widths, dtype and budget are valid: nothing fits
            error = str(err)
    if profile is not None and skipped is None:
        timed = {"objective": "time", "profile": profile, "dtype": dtype}
        plans.append(("optimal_time", planner(widths, "optimal", **timed)))
        if budget is not None and error is None:
            fastest = planner(widths, "optimal", memory_budget=budget, **timed)
            plans.append(("optimal_time_within_budget", fastest))
    return plan_rows(plans, dtype, budget, profile), error, skipped


def _over_limit(
    engine: str, widths: tuple[int, ...], budgeted: bool, time_limit: float
) -> str | None:
    """Why the (budgeted) optimal planning is not run, or None if it is within the limit."""
    seconds = ESTIMATES[engine](widths, budgeted)
    if not time_limit or seconds <= time_limit:
        return None
    what = "optimal within budget" if budgeted else "optimal"
    return (
        f"{what} not planned: expected to take about {duration_text(seconds)} for "
        f"{int_text(len(widths) - 1)} layers, over --time-limit {time_limit:g} s"
    )


def _plan_report(
    widths: tuple[int, ...],
    dtype: np.dtype[Any],
    budget: int | None,
    engines: str,
    time_limit: float = 0.0,
    profile: Any = None,
    profile_path: str | None = None,
) -> dict[str, Any]:
    """The ``--json`` object (see the module docstring)."""
    report: dict[str, Any] = {
        "widths": list(widths),
        "dtype": dtype.name,
        "itemsize": dtype.itemsize,
        "memory_budget_bytes": budget,
    }
    for key in ENGINES:
        report.update({key: None, f"{key}_error": None, f"{key}_skipped": None})
    report.update({"hessian": None, "hessian_error": None, "profile": None})
    if profile is not None:
        report["profile"] = {"device": profile.device, "date": profile.date, "path": profile_path}
    if engines == "hessian":
        report["hessian"], report["hessian_error"] = hessian_section(widths, dtype, budget)
        if report["hessian_error"]:
            raise JacobenchError(report["hessian_error"])
        return report
    asked = list(ENGINES) if engines == "both" else [engines]
    for key in asked:
        section = _section(key, widths, dtype, budget, time_limit, profile)
        report[key], report[f"{key}_error"], report[f"{key}_skipped"] = section
    errors = [report[f"{key}_error"] for key in asked]
    if all(errors):  # every engine asked for has the same complaint: the budget is too small
        raise JacobenchError("; ".join(errors))
    return report


_TITLES = {
    "explicit": "Explicit layer Jacobians",
    "matrix_free": "Matrix-free (Jacobian-vector and vector-Jacobian products)",
}


def _near_tie(rows: list[dict[str, Any]]) -> str | None:
    """The ``near tie`` line of an engine's rows, or None.

    Example:
        >>> rows = [{"strategy": "forward", "formula": "F", "predicted_seconds": 1.1e-3},
        ...         {"strategy": "optimal_time", "formula": "R", "predicted_seconds": 1e-3}]
        >>> _near_tie(rows)
        'near tie: forward, F, is predicted only 1.10x slower than optimal time'
    """
    mine = next((row for row in rows if row["strategy"] == "optimal_time"), None)
    if mine is None or not mine["predicted_seconds"]:
        return None
    others = [
        row
        for row in rows
        if row["formula"] != mine["formula"]
        and row["predicted_seconds"]
        and not row["strategy"].startswith("optimal_time")
    ]
    if not others:
        return None
    next_best = min(others, key=lambda row: row["predicted_seconds"])
    gap = next_best["predicted_seconds"] / mine["predicted_seconds"]
    if gap >= CLEAR_GAP:
        return None
    name = next_best["strategy"].replace("_", " ")
    return (
        f"near tie: {name}, {next_best['formula']}, is predicted only {gap:.2f}x slower than "
        "optimal time"
    )


def _format_report(report: dict[str, Any]) -> str:
    """The human table for a :func:`_plan_report` object."""
    if report["hessian"] is not None:
        return "\n".join(format_hessian(report))
    widths = compact_widths("-".join(int_text(w, grouped=False) for w in report["widths"]))
    lines: list[str] = []
    for key, title in _TITLES.items():
        rows = report[key]
        if rows is None:
            continue
        if lines:
            lines.append("")
        lines.append(
            f"{title}: widths {widths}, {report['dtype']} ({report['itemsize']} bytes per element)"
        )
        if report["memory_budget_bytes"] is not None:
            budget = report["memory_budget_bytes"]
            lines.append(f"memory budget: {int_text(budget)} bytes ({format_bytes(budget)})")
        if report["profile"] is not None:
            device, path = report["profile"]["device"], report["profile"]["path"]
            lines.append(f"predicted time: JAX on {device} (profile {path})")
        lines.extend(
            _table(
                rows,
                with_fits=report["memory_budget_bytes"] is not None,
                with_time=report["profile"] is not None,
            )
        )
        for row in rows:
            if row["strategy"].startswith("optimal"):
                lines.append(f"{row['strategy'].replace('_', ' ')}: {row['formula']}")
        tie = _near_tie(rows)
        if tie is not None:
            lines.append(tie)
        for note in ("skipped", "error"):
            if report[f"{key}_{note}"] is not None:
                lines.append(f"{key.replace('_', '-')}: {report[f'{key}_{note}']}")
    return "\n".join(lines)


def _table(rows: list[dict[str, Any]], *, with_fits: bool, with_time: bool = False) -> list[str]:
    header = ["strategy", "multiply-adds", "peak bytes", "peak memory", "vs forward", "vs reverse"]
    if with_fits:
        header.append("fits budget")
    if with_time:
        header.append("predicted time")
    cells = [header]
    base = {row["strategy"]: row["macs"] for row in rows}  # forward and reverse are always there
    for row in rows:
        line = [
            row["strategy"].replace("_", " "),
            int_text(row["macs"]),
            int_text(row["peak_memory_bytes"]),
            row["peak_memory_human"],
            _speedup(base["forward"], row["macs"]),
            _speedup(base["reverse"], row["macs"]),
        ]
        if with_fits:
            line.append("yes" if row["fits_budget"] else "no")
        if with_time:
            line.append(_seconds(row["predicted_seconds"]))
        cells.append(line)
    sizes = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(size) if i == 0 else cell.rjust(size)
            for i, (cell, size) in enumerate(zip(line, sizes, strict=True))
        ).rstrip()
        for line in cells
    ]


def _seconds(x: float) -> str:
    """Seconds in a readable unit, three significant digits: ``412 us``, ``1.23 ms``, ``2.5 s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x * 1e9:.3g} ns"


def _speedup(num: int, den: int) -> str:
    """``num / den`` to three significant digits, without exponents: ``0.1x``, ``10x``, ``1,234x``.

    Exact at any size (``1e+310x`` is written out in full).

    Example:
        >>> _speedup(1, 10), _speedup(75000, 7500), _speedup(12344, 10), _speedup(1, 0)
        ('0.1x', '10x', '1,234x', 'infx')
    """
    if den and num >= 1000 * den:
        return f"{ratio_text(num, den, ',.0f')}x"
    return f"{ratio_text(num, den)}x"


_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_TERM = r"\d+(?:\^\d+)?"
_DASHED = re.compile(rf"{_TERM}(?:-{_TERM})*")
"""Widths as the results and reports write them: ``16-256-256-16``, ``32-512^5-32`` (a run)."""
MAX_REPEAT = 100_000
"""The most times one ``w^k`` may repeat a width."""


def _parse_widths(tokens: Sequence[str]) -> tuple[int, ...]:
    """The widths of ``jacobench plan``: ``3 4 5``, or ``3-4-5`` as the results write them.

    Example:
        >>> _parse_widths(["3", "4", "5"]), _parse_widths(["3-4-5"]), _parse_widths(["3-4", "5"])
        ((3, 4, 5), (3, 4, 5), (3, 4, 5))
        >>> _parse_widths(["32-512^3-32"]), _parse_widths(["2^2", "3"])
        ((32, 512, 512, 512, 32), (2, 2, 3))
    """
    expected = "widths are positive integers d_0 d_1 ... d_L"
    widths = []
    tokens = [part for token in tokens for part in _split_dashed(token)]
    for i, token in enumerate(tokens):
        if not _INTEGER.fullmatch(token):
            raise JacobenchError(
                f"width d_{i} = {token!r} is not an integer; {expected}"
                if len(token) <= 60
                else f"width d_{i} = {token[:20]!r}... ({len(token)} characters) is not an "
                f"integer; {expected}"
            )
        with any_int_digits():  # integers of any size: Python stops at 4,300 digits
            value = int(token)
        if value <= 0:
            raise JacobenchError(f"width d_{i} = {int_text(value)} is not positive; {expected}")
        widths.append(value)
    if len(widths) < 2:
        raise JacobenchError(
            f"need at least two widths d_0 d_1 (one layer), got {len(widths)}: "
            f"{' '.join(tokens) or 'none'}"
        )
    return tuple(widths)


def _split_dashed(token: str) -> list[str]:
    text = token.strip()
    if not _DASHED.fullmatch(text) or text.isdigit():
        return [token]
    parts: list[str] = []
    for term in text.split("-"):
        width, _, times = term.partition("^")
        with any_int_digits():
            count = int(times) if times else 1
        if not 1 <= count <= MAX_REPEAT:
            raise JacobenchError(
                f"width run {term if len(term) <= 40 else term[:40] + '...'!r} repeats "
                f"{'0 times' if count == 0 else 'too often'}; w^k repeats w from 1 to "
                f"{MAX_REPEAT:,} times"
            )
        parts += [width] * count
    return parts


def _run_plan(args: argparse.Namespace) -> int:
    widths = _parse_widths(args.widths)
    dtype = resolve_dtype(args.dtype)
    budget = None if args.memory_budget is None else parse_bytes(args.memory_budget)
    time_limit = args.time_limit
    if not math.isfinite(time_limit) or time_limit < 0:
        raise JacobenchError(
            f"--time-limit {time_limit:g} is not a number of seconds >= 0 (0 for no limit)"
        )
    profile, path = _profile(args.profile, dtype.name)
    report = _plan_report(widths, dtype, budget, args.engines, time_limit, profile, path)
    if args.json:
        with any_int_digits():  # json writes ints with str(): no digit limit here
            text = json.dumps(report, indent=2, allow_nan=False)
    else:
        text = _format_report(report)
    print(text, flush=True)
    return 0


def _profile(asked: str | None, dtype: str) -> tuple[Any, str | None]:
    """The device profile ``--profile`` names (``auto``: this machine's) and its path.

    A profile named by its path is used as it is -- predicting for another device is what it is
    for -- but one that does not describe this machine as it is now (another device, versions or
    matmul precision) gets a one-line note on stderr, so its seconds are not read as this
    machine's.
    """
    if asked is None:
        return None, None
    from .timing import default_path, load, load_or_calibrate, stale_reason

    if asked == "auto":
        path = default_path()
        return load_or_calibrate(path, backends=("jax",), dtypes=(dtype,), progress=True), str(path)
    profile = load(asked)
    profile.rates("jax").rates(dtype)
    reason = stale_reason(profile, ("jax",), (dtype,))
    if reason is not None:
        print(
            f"{PROG}: note: the device profile {asked} is not this machine's as it is now "
            f"({reason}); its predicted seconds are for the device and versions it names",
            file=sys.stderr,
        )
    return profile, asked


def _run_calibrate(args: argparse.Namespace) -> int:
    import jax

    from .timing import BACKENDS, DTYPES, calibrate, save_keeping

    if args.matmul_precision is not None:
        precision = None if args.matmul_precision == "default" else args.matmul_precision
        config: Any = jax.config
        config.update("jax_default_matmul_precision", precision)
    profile = calibrate(
        backends=tuple(args.backend or BACKENDS),
        dtypes=tuple(args.dtype or DTYPES),
        progress=True,
        quick=args.quick,
    )
    path = save_keeping(profile, args.output)
    print(profile)
    print(f"saved to {path}")
    return 0


def _run_forwarded(command: str, argv: Sequence[str]) -> int:
    """Hand ``argv`` to ``main(argv)`` of the module behind ``command`` (see :data:`FORWARDED`).

    Raises:
        JacobenchError: A module it needs (the ``bench`` extra) is not installed; the message
            says how to install it.
    """
    from .bench import INSTALL_HINT, missing_requirements  # imports none of them

    name = FORWARDED[command]
    try:
        module = importlib.import_module(name)
        missing = missing_requirements(getattr(module, "REQUIRES", ()))
    except ModuleNotFoundError as err:
        missing = [(err.name or str(err)).partition(".")[0]]  # the package to install
    if missing:
        raise JacobenchError(
            f"'{PROG} {command}' needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install the benchmark tools "
            f"with: {INSTALL_HINT}"
        )
    return int(module.main(list(argv)) or 0)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Plan a Jacobian chain product from the shell; run the benchmarks and plots.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "plan",
        help="cost forward, reverse and the optimal plan for widths d_0 ... d_L",
        description="Multiply-adds, peak memory and speedups of forward, reverse and the "
        "optimal plan of the chain J_L ... J_1 with widths d_0 ... d_L, for explicit layer "
        "Jacobians and for the matrix-free engine.",
    )
    p.add_argument(
        "widths",
        nargs="*",
        metavar="D",
        help="the widths d_0 d_1 ... d_L (or d_0-d_1-...-d_L as results/ writes them, w^k for k "
        "layers of width w: 32-512^5-32)",
    )
    p.add_argument("--dtype", default="float32", help="element type for bytes (default: float32)")
    p.add_argument(
        "--memory-budget",
        metavar="SIZE",
        help="also plan, for each engine, the cheapest plan whose peak memory fits SIZE bytes "
        "(with --dtype), e.g. 2GiB, 512MiB, 1.5GB, 100000",
    )
    p.add_argument("--json", action="store_true", help="print JSON (keys in jacobench.cli)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=TIME_LIMIT,
        metavar="SECONDS",
        help="do not run a planning step expected to take longer (default: "
        f"{TIME_LIMIT:g}; 0 for no limit); steps expected to take over a second say so first",
    )
    p.add_argument(
        "--profile",
        metavar="auto|PATH",
        help="add predicted seconds and the time-optimal plan, for the device of this profile "
        "(auto: this machine's, measured first if there is none or it is stale; a PATH saved "
        "elsewhere is used with a note on stderr; see 'jacobench calibrate')",
    )
    engines = p.add_mutually_exclusive_group()
    engines.add_argument(
        "--explicit",
        dest="engines",
        action="store_const",
        const="explicit",
        help="explicit layer Jacobians only",
    )
    engines.add_argument(
        "--matrix-free",
        dest="engines",
        action="store_const",
        const="matrix_free",
        help="the matrix-free engine only (default: both)",
    )
    engines.add_argument(
        "--hessian",
        dest="engines",
        action="store_const",
        const="hessian",
        help="second order instead: Hessian-vector products and Hessians of a chain whose last "
        "width is 1",
    )
    p.set_defaults(engines="both", run=_run_plan)
    c = commands.add_parser(
        "calibrate",
        help="measure this machine's device profile (for predicted seconds)",
        description="Measure matrix products over a grid of shapes, memory bandwidth, call and "
        "launch overheads and element-wise throughput, for numpy and for JAX's default device; "
        "print the profile and save it as JSON.",
    )
    c.add_argument("--quick", action="store_true", help="a small grid: seconds, but coarse")
    c.add_argument(
        "--backend", action="append", choices=("numpy", "jax"), help="measure only this backend"
    )
    c.add_argument(
        "--dtype", action="append", choices=("float32", "float64"), help="measure only this dtype"
    )
    c.add_argument(
        "--matmul-precision",
        choices=("default", "high", "highest"),
        help="JAX's default matmul precision while measuring (default: as configured)",
    )
    c.add_argument(
        "--output",
        metavar="PATH",
        help="where to save the profile (default: results/profiles/<device>.json)",
    )
    c.set_defaults(run=_run_calibrate)
    for command, module in FORWARDED.items():
        forwarded = commands.add_parser(
            command, add_help=False, help=f"run {module} (arguments are passed on)"
        )
        forwarded.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jacobench`` command; return its exit status.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns:
        0 on success, 2 for bad input (after one line ``jacobench: error: ...`` on stderr), 130
        after Ctrl-C (one line ``jacobench: interrupted``), 141 when whatever reads the output
        stops early (``jacobench plan ... | head``: no traceback, as a killed pipe writer).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] and args[0] in FORWARDED:
            return _run_forwarded(args[0], args[1:])
        namespace = _build_parser().parse_args(args)
        with warnings.catch_warnings():
            warnings.simplefilter("always", SlowPlanningWarning)
            warnings.showwarning = _notes(warnings.showwarning)
            status: int = namespace.run(namespace)
        return status
    except JacobenchError as err:
        message = " ".join(str(err).split())  # always one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()


def quiet_broken_pipe() -> int:
    """The exit status after the reader of stdout went away: 141, as a writer killed by SIGPIPE.

    Stdout then goes to ``/dev/null``, so that Python's flush at exit does not fail again.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


def _notes(show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that writes slow-planning notes as one line on stderr."""

    def note(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, SlowPlanningWarning):
            print(f"{PROG}: note: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    return note
