"""Who wins: the optimal plan's speedups per profile, and the winner map over the crossover grid.

Both compare strategies measured on the same chain: :func:`speedups` pairs the optimal plan with
each baseline on the profiles sweep, :func:`winners` picks the model's and the clock's favourite
at each point of the crossover grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .common import (
    JAX_BASELINES,
    SPEEDUP_BASELINES,
    STRATEGY_ORDER,
    WINNER_MIN_GAP,
    legend_outside,
    measured_rows,
    note_figure,
    panel_grid,
    panel_label,
    plain_log_axis,
    split_panels,
    strategy_order,
    strategy_style,
    wide_by_strategy,
)

__all__ = ["speedup_figure", "speedups", "winner_map_figure", "winners"]


# ---------------------------------------------------------------------------------------------
# 4. speedup


def speedups(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Measured and predicted speedup of ``optimal`` over each baseline, per configuration.

    One row per (panel, profile, scale, widths, baseline) of the profiles sweep where both the
    optimal row and the baseline row were measured: ``measured = t_baseline / t_optimal`` and
    ``predicted = macs_baseline / macs_optimal``.

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "sweep": "profiles",
        ...     "profile": "funnel", "scale": "s", "widths": "8-4-2", "status": "ok",
        ...     "strategy": ["optimal", "forward"], "model_macs": [16, 96],
        ...     "time_median_s": [1.0, 4.0]})
        >>> speedups(frame, ["engine", "backend"])[["baseline", "measured", "predicted"]]
          baseline  measured  predicted
        0  forward       4.0        6.0
    """
    keys = [*cols, "profile", "scale", "widths"]
    data = measured_rows(df[df["sweep"] == "profiles"])
    if data.empty:
        return pd.DataFrame(columns=[*keys, "baseline", "measured", "predicted", "opt_macs"])
    wide = wide_by_strategy(data, keys, ["optimal", *SPEEDUP_BASELINES])
    rows = []
    for base in SPEEDUP_BASELINES:
        predicted = wide[("model_macs", base)] / wide[("model_macs", "optimal")]
        part = pd.DataFrame(
            {
                "baseline": base,
                "measured": wide[("time_median_s", base)] / wide[("time_median_s", "optimal")],
                "predicted": predicted.where(np.isfinite(predicted) & (predicted > 0)),
                "opt_macs": wide[("model_macs", "optimal")],
            }
        )
        rows.append(part.dropna(subset=["measured"]).reset_index())
    if not rows:
        return pd.DataFrame(columns=[*keys, "baseline", "measured", "predicted", "opt_macs"])
    return pd.concat(rows, ignore_index=True)


def speedup_figure(table: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Bars of the measured speedup of ``optimal`` per profile, the predicted ratio beside each.

    Uses the largest scale (most optimal-plan MACs) of each profile. Bars start at 1x, so a bar
    pointing down means the optimal plan was slower.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = "Speedup of the optimal plan (profiles sweep, largest scale of each profile)"
    if table.empty:
        notes.append("speedup: no profiles rows with both an optimal and a baseline measurement")
        return note_figure(title, notes), notes
    panels = split_panels(table, cols)
    fig, axes = panel_grid(len(panels), ncols=2, size=(6.2, 4.2))
    seen: dict[str, Any] = {}
    for ax, (key, group) in zip(axes, panels, strict=False):
        size = group["opt_macs"].fillna(-1.0)
        largest = group.loc[size.groupby(group["profile"]).idxmax(), ["profile", "scale"]]
        group = group.merge(largest, on=["profile", "scale"])
        profiles = sorted(group["profile"].unique())
        bases = [b for b in SPEEDUP_BASELINES if b in set(group["baseline"])]
        width = 0.8 / len(bases)
        for i, base in enumerate(bases):
            rows = group[group["baseline"] == base].set_index("profile").reindex(profiles)
            x = np.arange(len(profiles)) + (i - (len(bases) - 1) / 2) * width
            colour, _ = strategy_style(base)
            measured = rows["measured"].to_numpy(dtype=float)
            ax.bar(x, measured - 1.0, bottom=1.0, width=width * 0.9, color=colour)
            ax.plot(
                x,
                rows["predicted"].to_numpy(dtype=float),
                ls="none",
                marker="_",
                ms=max(4.0, 60 * width),
                mew=2.2,
                color="black",
            )
            seen.setdefault(base, Patch(color=colour, label=f"vs {base}, measured"))
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.axhline(1.0, color="0.3", lw=0.8)
        scales = group.drop_duplicates("profile").set_index("profile")["scale"]
        ax.set_xticks(range(len(profiles)))
        ax.set_xticklabels([f"{p}\n({scales[p]})" for p in profiles])
        ax.set_ylabel(r"speedup ($\times$) = $t_\mathrm{baseline} / t_\mathrm{optimal}$")
        ax.set_xlabel("width profile (scale)")
        ax.set_title(panel_label(key), fontsize=10)
        ax.grid(True, axis="y", which="major", alpha=0.3)
        lo = np.nanmin(group[["measured", "predicted"]].to_numpy(dtype=float))
        hi = np.nanmax(group[["measured", "predicted"]].to_numpy(dtype=float))
        ax.set_ylim(min(lo, 1.0) / 1.5, max(hi, 1.0) * 1.5)
    handles: list[Any] = list(seen.values())
    handles.append(
        Line2D(
            [],
            [],
            ls="none",
            marker="_",
            ms=14,
            mew=2.2,
            color="black",
            label="predicted\n(model MAC ratio)",
        )
    )
    legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes


# ---------------------------------------------------------------------------------------------
# 5. winner map


def winners(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """Per crossover grid point: the strategy the model predicts cheapest and the fastest measured.

    Only strategies measured at that grid point compete, and not JAX's own ``jacfwd`` /
    ``jacrev``: they are baselines that run the same tangents or adjoints as ``forward`` /
    ``reverse`` (equal model cost), so a race between twins would only map noise; the speedup
    plot compares against them. Where the optimal plan *is* forward or
    reverse (the same non-empty ``plan_formula``), its row is dropped: it is the same computation,
    and letting two timings of it compete would only pick noise. Model ties go to the first name
    in the order forward, reverse, optimal, balanced, ... so ``optimal`` wins the model map only
    where a mixed bracketing is strictly cheaper.

    Returns:
        One row per grid point: the panel columns, ``d_0``, ``d_L``, ``model`` and ``measured``
        (strategy names) and ``gap``: the measured winner's model MACs over the model pick's
        (1 when they agree; ``>= WINNER_MIN_GAP`` means the model was confidently wrong).

    Example:
        >>> frame = pd.DataFrame({"engine": "e", "backend": "b", "sweep": "crossover",
        ...     "d_0": 4, "d_L": 64, "status": "ok", "strategy": ["forward", "reverse", "optimal"],
        ...     "plan_formula": ["J2 J1", "J2 J1", "J2 J1"],
        ...     "model_macs": [90, 10, 10], "time_median_s": [3.0, 2.0, 1.0]})
        >>> winners(frame, ["engine", "backend"])[["model", "measured", "gap"]].values.tolist()
        [['reverse', 'reverse', 1.0]]
    """
    keys = [*cols, "d_0", "d_L"]
    data = measured_rows(df[df["sweep"] == "crossover"])
    data = data[~data["strategy"].isin(JAX_BASELINES)]
    if data.empty:
        return pd.DataFrame(columns=[*keys, "model", "measured", "gap"])
    if "plan_formula" in data:
        classic = data[data["strategy"].isin(["forward", "reverse"]) & (data["plan_formula"] != "")]
        same = data.merge(classic[[*keys, "plan_formula"]], on=[*keys, "plan_formula"])
        same = same[same["strategy"] == "optimal"].drop_duplicates(keys)[keys]
        flag = data[keys].merge(same.assign(_same=True), on=keys, how="left")["_same"]
        data = data[~((data["strategy"] == "optimal") & flag.fillna(False).to_numpy(dtype=bool))]
    rank = {name: i for i, name in enumerate(STRATEGY_ORDER)}
    data = data.assign(_rank=data["strategy"].map(lambda s: rank.get(s, len(rank))))
    model = data.sort_values(["model_macs", "_rank", "strategy"]).groupby(keys).head(1)
    fastest = data.sort_values(["time_median_s", "_rank"]).groupby(keys).head(1)
    out = model[[*keys, "strategy", "model_macs"]].rename(
        columns={"strategy": "model", "model_macs": "_m_model"}
    )
    out = out.merge(
        fastest[[*keys, "strategy", "model_macs"]].rename(
            columns={"strategy": "measured", "model_macs": "_m_measured"}
        ),
        on=keys,
    )
    out["gap"] = out["_m_measured"] / out["_m_model"]
    out = out.drop(columns=["_m_model", "_m_measured"])
    return out.sort_values(keys).reset_index(drop=True)


def winner_map_figure(table: pd.DataFrame, cols: Sequence[str]) -> tuple[Figure, list[str]]:
    """Two maps over the crossover grid per engine/backend: model-cheapest and measured-fastest.

    Cells where the two disagree are crossed out on the measured map.

    Returns:
        The figure and notes about what was left out.
    """
    notes: list[str] = []
    title = r"Winner map over the crossover grid ($d_0$, $d_L$)"
    if table.empty:
        notes.append("winner_map: no measured rows with sweep == 'crossover'")
        return note_figure(title, notes), notes
    panels = split_panels(table, cols)
    n = len(panels)
    fig = Figure(figsize=(8.4 + 1.8, 3.9 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False)
    names = strategy_order(pd.concat([table["model"], table["measured"]]))
    code = {name: i for i, name in enumerate(names)}
    colours = [strategy_style(name)[0] for name in names]
    cmap = ListedColormap(colours).with_extremes(bad="white")
    for i, (key, group) in enumerate(panels):
        d0s = sorted(group["d_0"].unique())
        dls = sorted(group["d_L"].unique())
        agree = int((group["model"] == group["measured"]).sum())
        wrong = int((group["gap"] >= WINNER_MIN_GAP).sum())
        for j, column in enumerate(("model", "measured")):
            ax = axes[i, j]
            grid = np.full((len(dls), len(d0s)), np.nan)
            for _, row in group.iterrows():
                grid[dls.index(row["d_L"]), d0s.index(row["d_0"])] = code[row[column]]
            ax.imshow(
                np.ma.masked_invalid(grid),
                cmap=cmap,
                vmin=-0.5,
                vmax=len(names) - 0.5,
                origin="lower",
                aspect="auto",
            )
            if column == "measured":
                for _, row in group[group["model"] != group["measured"]].iterrows():
                    sure = row["gap"] >= WINNER_MIN_GAP
                    ax.plot(
                        d0s.index(row["d_0"]),
                        dls.index(row["d_L"]),
                        marker="x" if sure else "o",
                        mfc="none",
                        color="black",
                        ms=10 if sure else 7,
                        mew=2 if sure else 1.2,
                    )
            same = [(d0s.index(v), dls.index(v)) for v in d0s if v in dls]
            if len(same) > 1:
                ax.plot(*zip(*same, strict=True), color="white", lw=1.0, ls="--")
            ax.set_xticks(range(len(d0s)), [f"{v:g}" for v in d0s])
            ax.set_yticks(range(len(dls)), [f"{v:g}" for v in dls])
            ax.set_xlabel(r"$d_0$ (input width)")
            ax.set_ylabel(r"$d_L$ (output width)")
            what = "model predicts cheapest" if column == "model" else "measured fastest"
            extra = (
                f"\nsame as model in {agree}/{len(group)} cells, "
                f"model ≥ {WINNER_MIN_GAP:g}$\\times$ wrong in {wrong}"
                if column == "measured"
                else "\n(ties: forward, reverse before optimal)"
            )
            ax.set_title(f"{panel_label(key)}: {what}{extra}", fontsize=10)
    handles: list[Any] = [Patch(color=colours[code[name]], label=name) for name in names]
    handles.append(
        Line2D(
            [],
            [],
            marker="x",
            color="black",
            ls="none",
            mew=2,
            label=f"≠ model; model predicted\nthis ≥ {WINNER_MIN_GAP:g}$\\times$ more MACs",
        )
    )
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            mfc="none",
            color="black",
            ls="none",
            label=f"≠ model; model gap < {WINNER_MIN_GAP:g}$\\times$",
        )
    )
    handles.append(Line2D([], [], color="0.5", ls="--", label=r"$d_0 = d_L$"))
    legend_outside(fig, handles)
    fig.suptitle(title, fontsize=11)
    return fig, notes
