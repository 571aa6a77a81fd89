"""The scripts the README quotes still run: a small case each (their figures come from larger)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_trace_ops_times_each_xla_operation_of_a_plan():
    out = run_script("trace_ops.py", "64-256-64", "optimal", CALLS="3")
    assert "(64, 256, 64), optimal, points 1" in out
    rows = [
        line for line in out.splitlines() if line.startswith("| ") and "XLA operation" not in line
    ]
    names = [row.split(" | ")[0][2:] for row in rows]
    assert "(sum)" in names and any(n.startswith(("dot", "ynn_fusion")) for n in names), out


def test_trace_ops_says_how_to_call_it():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "trace_ops.py")], capture_output=True, text=True
    )
    assert done.returncode != 0 and "usage: trace_ops.py WIDTHS STRATEGY" in done.stderr


def test_depth_ties_counts_how_often_reverse_won_each_depth(tmp_path):
    rows = "engine,backend,sweep,widths,batch,status,strategy,time_median_s\n"
    paths = []
    for run, (fwd, rev) in enumerate([(1.0, 0.8), (1.0, 0.9), (1.0, 1.2)]):
        path = tmp_path / f"run{run}.csv"
        path.write_text(
            rows
            + f"matrix_free,jax,depth,4-8-8-4,1,ok,forward,{fwd}\n"
            + f"matrix_free,jax,depth,4-8-8-4,1,ok,reverse,{rev}\n"
            + "matrix_free,jax,crossover,4-8-8-4,1,ok,reverse,9.0\n"  # not the depth sweep
        )
        paths.append(str(path))
    out = run_script("depth_ties.py", *paths)
    assert "matrix_free / jax" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["k"] == ["2"] and lines["median"] == ["0.90"]
    assert lines["reverse_faster"] == ["0.67"] and lines["runs"] == ["3"]
