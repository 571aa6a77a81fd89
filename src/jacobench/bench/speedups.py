"""The matrix-free speedup table: the optimal plan against the faster of JAX's own two modes.

For every chain (and batch) of a results CSV where ``optimal``, ``jacfwd`` and ``jacrev`` were
all measured: the measured speedup ``min(t_jacfwd, t_jacrev) / t_optimal``, the predicted one
(the MAC ratio, ``min(forward MACs, reverse MACs) / optimal MACs``) and the fraction of it that
was delivered; the ratio of the multiply-adds the baseline's and the optimal plan's programs
actually run (:func:`executed_macs`) and the fraction of *that* delivered; and, where the plan
chosen by predicted seconds (``optimal_time``) was measured too, its speedup over the same
baseline. The optimal plan is the lecture's: on chains whose modes tie in multiply-adds it may
take the slower one, which the plan by time avoids. Reads only the CSV (pandas); never times
anything.

Command line::

    python -m jacobench.bench.speedups [CSV] [--markdown]

Example:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"engine": "matrix_free", "status": "ok", "widths": "8-2-8",
    ...     "batch": 4, "strategy": ["optimal", "jacfwd", "jacrev"],
    ...     "time_median_s": [1.0, 6.0, 5.0], "model_macs": [64, 512, 512],
    ...     "model_forward_macs": 512, "model_reverse_macs": 512})
    >>> table(rows)[["widths", "batch", "measured", "predicted", "fraction"]].values.tolist()
    [['8-2-8', 4, 5.0, 8.0, 0.625]]
    >>> table(rows)[["work", "of_work"]].round(2).values.tolist()  # jacrev's program: 1.8x the MACs
    [[1.8, 2.78]]
    >>> timed = pd.concat([rows, rows.iloc[:1].assign(strategy="optimal_time", time_median_s=0.5)])
    >>> table(timed)["by_time"].tolist()  # the plan by predicted seconds: 5 s / 0.5 s
    [10.0]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from functools import cache

import pandas as pd

from .._text import compact_widths
from ..errors import JacobenchError

__all__ = ["COLUMNS", "executed_macs", "format_table", "main", "table"]

COLUMNS = (
    "widths", "batch", "optimal_s", "baseline", "measured", "predicted", "fraction", "work",
    "of_work", "by_time",
)  # fmt: skip
"""The table's columns (after the ones that tell devices and sweeps apart, where there are any)."""

_KEYS = ("device", "matmul_precision", "sweep", "profile", "widths", "batch")


def table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per measured matrix-free chain and batch: optimal against the faster JAX mode.

    Args:
        df: A results table (``jacobench.bench.report.load_results`` or ``pandas.read_csv``).

    Returns:
        The columns of ``_KEYS`` present in ``df`` that vary, then :data:`COLUMNS`: ``optimal_s``
        is the optimal plan's median seconds, ``baseline`` the faster of ``jacfwd`` /
        ``jacrev``, ``measured`` its time over ``optimal_s``, ``predicted`` the MAC ratio and
        ``fraction`` = measured / predicted; ``work`` the baseline's :func:`executed_macs` over
        the optimal plan's and ``of_work`` = measured / work; ``by_time`` the baseline's time
        over ``optimal_time``'s (NaN where that strategy was not measured). Sorted by predicted
        speedup, largest first.

    The MAC ratio is the lecture's: it counts every product of forward and reverse mode. But
    ``jax.jacfwd``'s first product (the first layer times the identity) is the same for every
    point, so :func:`jax.vmap` leaves it unbatched and it runs once for the whole batch: jacfwd
    executes less than its MAC count, and a batched row's ``fraction`` understates how
    efficiently the optimal program runs; ``of_work`` compares like with like.
    """
    data = df.copy()
    if "batch" not in data:
        data["batch"] = 1
    data["batch"] = data["batch"].fillna(1).astype(int)
    data = data[(data["engine"] == "matrix_free") & (data["status"] == "ok")]
    keys = [k for k in _KEYS if k in data]
    times = data.pivot_table(index=keys, columns="strategy", values="time_median_s")
    needed = {"optimal", "jacfwd", "jacrev"}
    if times.empty or not needed <= set(times.columns):
        return pd.DataFrame(columns=[*keys, *COLUMNS])
    times = times.dropna(subset=sorted(needed))
    opt = (
        data[data["strategy"] == "optimal"]
        .groupby(keys)[["model_macs", "model_forward_macs", "model_reverse_macs"]]
        .first()
    )
    opt = opt.loc[times.index]
    base = times[["jacfwd", "jacrev"]]
    out = pd.DataFrame(index=times.index)
    out["optimal_s"] = times["optimal"]
    out["baseline"] = base.idxmin(axis=1)
    out["measured"] = base.min(axis=1) / times["optimal"]
    out["predicted"] = opt[["model_forward_macs", "model_reverse_macs"]].min(axis=1) / opt[
        "model_macs"
    ].where(opt["model_macs"] > 0)
    out["fraction"] = out["measured"] / out["predicted"]
    out["work"] = [
        _work_ratio(str(index[keys.index("widths")]), int(index[keys.index("batch")]), name)
        for index, name in out["baseline"].items()
    ]
    out["of_work"] = out["measured"] / out["work"]
    by_time = times["optimal_time"] if "optimal_time" in times else float("nan")
    out["by_time"] = base.min(axis=1) / by_time
    out = out.reset_index()
    varying = [k for k in keys if k not in ("widths", "batch") and out[k].nunique() > 1]
    out = out.sort_values(["predicted", "widths", "batch"], ascending=[False, True, True])
    return out[[*varying, *COLUMNS]].reset_index(drop=True)


@cache
def executed_macs(widths: tuple[int, ...], strategy: str, points: int = 1) -> int:
    """Multiply-adds of the products a matrix-free strategy's program runs on a dense chain.

    As :func:`jacobench.timing.executor.matrix_free_ops` lists them (``tests/test_timing.py``
    checks the list against XLA's compiled programs): unlike the MAC model, the primal's
    products count, identity seeds cost nothing, and under :func:`jax.vmap` over ``points``
    ``jax.jacfwd``'s first product, the same for every point, counts once.

    Example:
        >>> executed_macs((8, 2, 8), "jacfwd", 4)  # primal 4 x 32, W1 I 128 once, layer 2 4 x 128
        768
    """
    from ..matrix_free import plan
    from ..timing.executor import matrix_free_ops

    ops = matrix_free_ops(plan(widths, strategy), points)
    return sum(op.repeat * math.prod(op.shape) for op in ops if op.kind == "matmul")


def _work_ratio(widths: str, batch: int, baseline: str) -> float:
    """``baseline``'s :func:`executed_macs` over the optimal plan's (NaN if it cannot say)."""
    try:
        d = tuple(int(w) for w in widths.split("-"))
        optimal = executed_macs(d, "optimal", batch)
        return executed_macs(d, baseline, batch) / optimal if optimal > 0 else math.nan
    except (ValueError, JacobenchError):  # not widths of a chain the planner takes
        return math.nan


def format_table(frame: pd.DataFrame, markdown: bool = False) -> str:
    """The table as aligned text, or as a Markdown table.

    Example:
        >>> frame = pd.DataFrame({"widths": ["8-2-8"], "batch": [4], "optimal_s": [1e-3],
        ...     "baseline": ["jacrev"], "measured": [5.0], "predicted": [8.0], "fraction": [0.625],
        ...     "by_time": [6.0]})
        >>> print(format_table(frame, markdown=True))
        | widths | batch | optimal | over | measured | predicted | fraction | by time |
        | --- | --- | --- | --- | --- | --- | --- | --- |
        | 8-2-8 | 4 | 1 ms | jacrev | 5.0x | 8.0x | 0.62 | 6.0x |
    """
    if frame.empty:
        return "No chain with optimal, jacfwd and jacrev all measured."
    lead = [c for c in frame.columns if c not in COLUMNS]
    headers = [*lead, "widths", "batch", "optimal", "over", "measured", "predicted", "fraction"]
    work = "work" in frame and bool(frame["work"].notna().any())
    by_time = "by_time" in frame and bool(frame["by_time"].notna().any())
    headers += ["work", "of work"] if work else []
    headers += ["by time"] if by_time else []
    rows = [
        [
            *(str(r[c]) for c in lead),
            compact_widths(str(r["widths"])),
            str(int(r["batch"])),
            _seconds(r["optimal_s"]),
            str(r["baseline"]),
            f"{r['measured']:.1f}x",
            _times(r["predicted"]),
            _share(r["fraction"]),
            *([_times(r["work"]), _share(r["of_work"])] if work else []),
            *([_times(r["by_time"])] if by_time else []),
        ]
        for _, r in frame.iterrows()
    ]
    if markdown:
        lines = [headers, ["---"] * len(headers), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [headers, *rows]
    )


def _times(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.1f}x"


def _share(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.2f}"


def _seconds(value: float) -> str:
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of a results CSV; 2 (one line on stderr) for a bad CSV."""
    parser = argparse.ArgumentParser(
        prog="python -m jacobench.bench.speedups",
        description="Matrix-free optimal plans against the faster of jax.jacfwd / jax.jacrev.",
    )
    parser.add_argument("csv", nargs="?", default="results/latest.csv", help="results CSV")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    from .report import load_results

    try:
        frame = table(load_results(args.csv))
    except JacobenchError as exc:
        print(f"jacobench.bench.speedups: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(format_table(frame, markdown=args.markdown), flush=True)
    except BrokenPipeError:  # piped into head, say
        from ..cli import quiet_broken_pipe

        return quiet_broken_pipe()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
