"""The benchmark job from a built wheel, installed apart from the checkout, in an empty folder."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

from jacobench.bench.report import PLOT_FILES

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]


def test_an_installed_wheel_runs_the_benchmark_in_an_empty_folder(tmp_path):
    dist, site, work = tmp_path / "dist", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    # Offline: hatchling comes from the running environment (the dev extra), not from PyPI.
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("jacobench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for suite in (
        "conftest.py",
        "pytest.ini",
        "bench_grid_explicit.py",
        "bench_grid_hessian.py",
        "bench_planning.py",
    ):
        assert f"jacobench/bench/suites/{suite}" in names
    subprocess.run([*PIP, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    # Only the installed copy is on the path (the dependencies come from this environment).
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import jacobench.bench.harness as h; print(h.SUITES_DIR)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()) == site.resolve() / "jacobench" / "bench" / "suites"

    # Lean: the tiny grid's depth chains only (every engine, every strategy; "depth" also picks
    # the second-order "hessian-depth" chain); the whole tiny grid takes 20 to 50 seconds here,
    # depending on what else the machine runs.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jacobench",
            "bench",
            "--grid",
            "tiny",
            "--profile",
            "none",
            "--",
            "-k",
            "depth",
            "--timing-target=0.02",
            "--warmup-seconds=0.01",
            "--contest-seconds=0.05",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in work.iterdir()) == ["plots", "results"]  # nothing else
    rows = pd.read_csv(work / "results" / "latest.csv")
    assert set(rows["engine"]) == {"explicit", "matrix_free", "hessian"}
    assert set(rows["sweep"]) == {"depth", "hessian-depth"}
    timed = rows[rows["strategy"] != "optimal_time"]
    assert (timed["status"] == "ok").all() and (timed["time_median_s"] > 0).all()
    # Without a device profile (--profile none) the time-optimal rows are skipped, and say why.
    untimed = rows[rows["strategy"] == "optimal_time"]
    assert len(untimed) and (untimed["status"] == "skipped").all()
    assert untimed["skip_reason"].str.contains("no device profile").all()
    assert (work / "results" / "REPORT.md").is_file()
    for name in PLOT_FILES:
        assert (work / "plots" / name).read_bytes().startswith(b"\x89PNG"), name
