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
