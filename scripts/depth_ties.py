"""Which of forward and reverse mode wins each depth chain, across benchmark runs.

Run from a checkout: ``.venv/bin/python scripts/depth_ties.py [CSV ...]`` (default: every run's
CSV in ``results/``, ``latest.csv`` aside). On the depth sweep's chains (``d - w^k - d``) the
two modes tie in multiply-adds, so which one is faster is a matter of the machine alone. For each
engine and backend, per depth k, it prints the median over runs of reverse / forward (each run's
own row medians) and the share of runs in which reverse was the faster: a share near 0.5 is a
coin flip, one near 0 or 1 a winner the time model should name.
"""

import sys
from pathlib import Path

import pandas as pd


def main() -> None:
    """Print one table per engine and backend."""
    paths = [Path(p) for p in sys.argv[1:]] or sorted(
        p for p in Path("results").glob("*.csv") if p.name != "latest.csv"
    )
    if not paths:
        sys.exit("depth_ties: no results CSV given or found in results/")
    frames = []
    for path in paths:
        df = pd.read_csv(path)
        rows = df[(df["sweep"] == "depth") & (df["status"] == "ok") & (df["batch"] == 1)]
        frames.append(rows.assign(run=path.name))
    rows = pd.concat(frames)
    for (engine, backend), group in rows.groupby(["engine", "backend"]):
        times = group.pivot_table(
            index=["run", "widths"], columns="strategy", values="time_median_s"
        )
        if not {"forward", "reverse"} <= set(times.columns):
            continue
        ratio = (times["reverse"] / times["forward"]).dropna().reset_index()
        ratio["k"] = ratio["widths"].str.count("-") - 1
        table = ratio.groupby("k")[0].agg(
            median="median", reverse_faster=lambda r: (r < 1).mean(), runs="size"
        )
        shown = pd.DataFrame(
            {
                "median": table["median"].map("{:.2f}".format),
                "reverse_faster": table["reverse_faster"].map("{:.2f}".format),
                "runs": table["runs"].astype(int).astype(str),
            }
        )
        print(f"{engine} / {backend}: reverse / forward on the depth chains, over runs")
        print(shown.T.to_string(), end="\n\n")


if __name__ == "__main__":
    main()
