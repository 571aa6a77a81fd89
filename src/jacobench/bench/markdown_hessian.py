"""The second-order section of ``results/REPORT.md`` (engine ``hessian``).

:func:`hessian_section` writes it from the cleaned results table: the model's fidelity on these
rows (its multiply-adds against XLA's flops / 2, and Spearman's rho against the measured time),
the optimal Hessian against ``jax.hessian`` on every chain (measured and predicted speedup), and
the Hessian-vector products' time and memory beside one copy of the activations. Nothing is
drawn, timed or written here.

Example:
    >>> import pandas as pd
    >>> hessian_section(pd.DataFrame({"engine": ["explicit"]}))
    'No rows of engine `hessian` (run `jacobench bench --engine hessian`).'
"""

from __future__ import annotations

import pandas as pd

from .._text import compact_widths, markdown_table
from .plots.common import (
    FIT_MIN_MACS,
    SPEARMAN_MIN_MACS,
    format_number,
    format_sci,
    format_seconds,
    measured_rows,
    spearman,
)

__all__ = ["SLOWER_LIMIT", "hessian_section", "optimal_vs_jax"]

SLOWER_LIMIT = 1.1
"""The optimal Hessian should never take more than this many times ``jax.hessian``'s time."""

_KEYS = ["sweep", "scale", "widths"]


def optimal_vs_jax(df: pd.DataFrame) -> pd.DataFrame:
    """Per chain: the optimal Hessian's plan, and its predicted and measured speedup.

    ``predicted = macs(jax.hessian) / macs(optimal)``, ``measured = t(jax.hessian) /
    t(optimal)`` (median times; ``measured_min`` the same with the fastest calls, when the table
    has ``time_min_s``), ``fraction = measured / predicted``; ``same_program`` where the optimal
    plan has no split, so that it runs as ``jax.hessian`` itself.

    Example:
        >>> frame = pd.DataFrame({"engine": "hessian", "status": "ok", "sweep": "s",
        ...     "scale": "a", "widths": "8-2-8-1", "strategy": ["optimal", "jax.hessian"],
        ...     "plan_formula": ["hess(J1, seed=hess(J3 J2))", "jvp(grad(f), I)"],
        ...     "model_macs": [100, 300], "time_median_s": [1.0, 2.0]})
        >>> optimal_vs_jax(frame)[["predicted", "measured", "fraction"]].iloc[0].tolist()
        [3.0, 2.0, 0.6666666666666666]
    """
    data = measured_rows(df[df["engine"] == "hessian"])
    opt = data[data["strategy"] == "optimal"]
    ref = data[data["strategy"] == "jax.hessian"]
    both = opt.merge(ref, on=_KEYS, how="inner", suffixes=("_opt", "_jax"))
    out = both[_KEYS].copy()
    out["formula"] = both["plan_formula_opt"]
    out["predicted"] = both["model_macs_jax"] / both["model_macs_opt"]
    out["measured"] = both["time_median_s_jax"] / both["time_median_s_opt"]
    out["fraction"] = out["measured"] / out["predicted"]
    out["same_program"] = ~out["formula"].astype(str).str.contains("seed=", regex=False)
    if "time_min_s_jax" in both:
        out["measured_min"] = both["time_min_s_jax"] / both["time_min_s_opt"]
    return out


def hessian_section(df: pd.DataFrame) -> str:
    """The Markdown of the second-order section (no heading)."""
    rows = df[df["engine"] == "hessian"] if "engine" in df else df.iloc[0:0]
    if rows.empty:
        return "No rows of engine `hessian` (run `jacobench bench --engine hessian`)."
    data = measured_rows(rows)
    hvp = data[data["strategy"].str.startswith("hvp:")]
    parts = [
        f"{len(data)} rows measured ({len(hvp)} Hessian-vector products, {len(data) - len(hvp)} "
        f"Hessians), {len(rows) - len(data)} skipped; every measured row was checked against "
        "JAX in float64 (`jax.jvp(jax.grad(f))`, `jax.hessian(f)`) before it was timed.",
        _fidelity(data),
        "### The optimal Hessian against `jax.hessian`",
        _speedups(optimal_vs_jax(rows)),
        "### Hessian-vector products: time and memory",
        _hvp(hvp),
    ]
    return "\n\n".join(parts)


def _fidelity(data: pd.DataFrame) -> str:
    costed = data[(data["model_macs"] >= FIT_MIN_MACS) & (data["xla_flops"] > 0)]
    ratio = costed["xla_flops"] / 2 / costed["model_macs"]
    big = data[data["model_macs"] >= SPEARMAN_MIN_MACS]
    rho = spearman(big["model_macs"], big["time_median_s"])
    return (
        f"- Model multiply-adds against XLA's `cost_analysis()` flops / 2: "
        f"{format_number(ratio.min(), '.3f')} to {format_number(ratio.max(), '.3f')} "
        f"(median {format_number(ratio.median(), '.3f')}, {len(costed)} rows with "
        f"≥ {format_sci(FIT_MIN_MACS)} MACs).\n"
        f"- Spearman's rho of model multiply-adds and median time: "
        f"{format_number(rho, '.3f')} over {len(big)} rows with ≥ {format_sci(SPEARMAN_MIN_MACS)} "
        "MACs (target ≥ 0.95)."
    )


def _speedups(table: pd.DataFrame) -> str:
    if table.empty:
        return "No chain with both an optimal and a `jax.hessian` row measured."
    rows = [
        [
            r["sweep"],
            compact_widths(r["widths"]),
            f"`{r['formula']}`",
            f"{r['predicted']:.3g}x",
            f"{r['measured']:.3g}x",
            f"{r['measured_min']:.3g}x" if "measured_min" in r else "n/a",
            f"{r['fraction']:.2f}",
            _verdict(r),
        ]
        for _, r in table.iterrows()
    ]
    headers = [
        "sweep",
        "widths",
        "optimal plan",
        "predicted",
        "measured",
        "measured (fastest calls)",
        "measured / predicted",
        f"within {SLOWER_LIMIT:g}x of jax.hessian",
    ]
    split = table[~table["same_program"]]
    same = table[table["same_program"]]
    text = (
        markdown_table(headers, rows)
        + "\n\npredicted = MACs of `jax.hessian` / MACs of the optimal plan; measured = t(jax."
        "hessian) / t(optimal), median times (fastest calls beside it: on a busy machine the "
        "median is noisier)."
    )
    if len(same):
        text += (
            f" Where the optimal plan has no split it is `jax.hessian`'s own and runs as "
            f"`jax.hessian`: both rows time the same program, so their ratio "
            f"({same['measured'].min():.3g}x to {same['measured'].max():.3g}x here) is the "
            "machine's timing noise, not a verdict."
        )
    if split.empty:
        return text + " No chain here has a split optimal plan."
    worst = split["measured"].min()
    verdict = (
        f"never more than {SLOWER_LIMIT:g}x slower than `jax.hessian`"
        if worst >= 1 / SLOWER_LIMIT
        else f"**more than {SLOWER_LIMIT:g}x slower than `jax.hessian` somewhere**"
    )
    return text + (
        f" Where the optimal plan splits the chain, its worst measured speedup is {worst:.3g}x "
        f"({len(split)} chain{'s' if len(split) != 1 else ''}): {verdict}."
    )


def _verdict(r: pd.Series) -> str:
    if r["same_program"]:
        return "same program"
    return "yes" if r["measured"] >= 1 / SLOWER_LIMIT else "**no**"


def _hvp(hvp: pd.DataFrame) -> str:
    if hvp.empty:
        return "No Hessian-vector product rows measured."
    rows = []
    for (widths, strategy), r in hvp.groupby(["widths", "strategy"], sort=False):
        r = r.iloc[0]
        acts = r.get("mem_activations_bytes", float("nan"))
        measured = r["mem_measured_bytes"]
        rows.append(
            [
                widths,
                strategy.removeprefix("hvp:"),
                format_seconds(r["time_median_s"]),
                f"{int(r['model_macs']):,}",
                format_number(measured / acts if acts and acts > 0 else float("nan"), ".2f"),
                format_number(
                    r["mem_model_bytes"] / acts if acts and acts > 0 else float("nan"), ".2f"
                ),
            ]
        )
    headers = [
        "widths",
        "mode",
        "median",
        "model MACs",
        "memory / activations",
        "model / activations",
    ]
    return (
        markdown_table(headers, rows)
        + "\n\nmemory / activations: XLA's measured peak (inputs and result included) over one "
        "copy of the activations x_0 .. x_L, what a gradient keeps for its backward pass; the "
        "model holds two copies (the primal and its tangent, or its adjoint for rev-over-rev) "
        "plus a working vector."
    )
