"""The benchmark job end to end on the tiny grid: CSV, sidecar, memory guard, no overwrites."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import pandas as pd
import pytest

import jacobench as jb
from jacobench import matrix_free as mf
from jacobench.bench import harness, tidy
from jacobench.timing import calibrate, default_path, load, save

QUICK_TIMING = ["--timing-target=0.02", "--warmup-seconds=0.01", "--contest-seconds=0.05"]
"""Rows timed briefly: these runs check what is written, not how well it is timed."""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    (results / "earlier.csv").write_text("an earlier run's results\n")
    # A coarse profile of this machine at the suites' precision, so that the run reuses it.
    with jax.default_matmul_precision("highest"):
        quick = calibrate(dtypes=("float32",), quick=True)
    save(quick, results / "profiles" / default_path().name)
    # 3 KiB: the tiny grid's smallest chains fit, its widest do not.
    status, written = harness.run(
        grid_name="tiny",
        engines=["explicit", "matrix_free"],
        memory_budget=3 * 1024,
        results_dir=results,
        plots=False,
        pytest_args=["-q", "-p", "no:randomly", *QUICK_TIMING],
    )
    return status, written, results, quick


def test_the_run_writes_csv_latest_sidecar_and_raw_json(tiny_run):
    status, written, results, quick = tiny_run
    assert status == 0
    assert {"raw", "csv", "latest", "sidecar"} <= set(written)
    frame = pd.read_csv(written["latest"])
    assert list(frame.columns[: len(tidy.COLUMNS)]) == list(tidy.COLUMNS)
    assert written["csv"].read_text() == written["latest"].read_text()
    sidecar = json.loads(written["sidecar"].read_text())
    for key in (
        "run_id",
        "grid",
        "timestamp_utc",
        "versions",
        "cpu_model",
        "cpu_count",
        "device",
        "env",
        "git",
        "memory_budget_bytes",
    ):
        assert key in sidecar, key
    assert {"python", "jax", "jaxlib", "numpy"} <= set(sidecar["versions"])
    assert sidecar["grid"] == "tiny"
    profile = results / "profiles" / default_path().name
    assert sidecar["device_profile"] == str(profile)
    assert load(profile) == quick  # reused, not measured again
    raw = json.loads(written["raw"].read_text())
    timed = (frame["status"] == "ok") & (frame["same_program_as"].fillna("") == "")
    assert len(raw["benchmarks"]) == timed.sum()  # a twin row takes its owner's rounds
    assert (results / "earlier.csv").read_text() == "an earlier run's results\n"
    assert not list(results.glob(".*"))  # no temporary files left behind


def test_rows_are_checked_timed_and_costed(tiny_run):
    frame = pd.read_csv(tiny_run[1]["latest"])
    ok = frame[frame["status"] == "ok"]
    explicit = ok[ok["engine"] == "explicit"]
    assert set(explicit["backend"]) == {"numpy", "jax"}
    assert set(explicit["strategy"]) == {
        "forward",
        "reverse",
        "optimal",
        "balanced",
        "optimal_time",
    }
    matrix_free = ok[ok["engine"] == "matrix_free"]
    assert set(matrix_free["backend"]) == {"jax"}
    assert set(matrix_free["strategy"]) == {*mf.STRATEGIES, "optimal_time"}
    assert (ok["model_seconds"] > 0).all()
    assert (ok["time_median_s"] > 0).all() and (ok["rounds"] >= 10).all()
    assert (ok["max_abs_error"] < 1e-4).all()
    jax_rows = ok[ok["backend"] == "jax"]
    # every row compiled its program, or runs the one a twin row of its chain compiled and timed:
    # a twin of the same plan compiles nothing; one of another plan compiled to the same program
    compiled = jax_rows["compile_s"] > 0
    twin = jax_rows["same_program_as"].fillna("") != ""
    assert (compiled | twin).all() and twin.any()
    keys = ["engine", "backend", "sweep", "widths", "batch"]
    owners = jax_rows[~twin].set_index([*keys, "strategy"])
    for _, r in jax_rows[twin].iterrows():
        owner = owners.loc[(*(r[k] for k in keys), r["same_program_as"])]
        assert (r["compile_s"] == 0) == (r["plan_formula"] == owner["plan_formula"])
        assert r["time_median_s"] == owner["time_median_s"] and r["rounds"] == owner["rounds"]
    numpy_rows = ok[ok["backend"] == "numpy"]  # nothing to compile, but twins all the same
    numpy_twin = numpy_rows["same_program_as"].fillna("") != ""
    assert numpy_twin.any() and numpy_rows["compile_s"].isna().all()
    numpy_owners = numpy_rows[~numpy_twin].set_index([*keys, "strategy"])
    for _, r in numpy_rows[numpy_twin].iterrows():
        owner = numpy_owners.loc[(*(r[k] for k in keys), r["same_program_as"])]
        assert r["plan_formula"] == owner["plan_formula"]
        assert r["time_median_s"] == owner["time_median_s"]
    assert set(jax_rows["mem_source"]) == {"xla_memory_analysis"}
    # XLA counts two flops per multiply-add (and says nothing for a single layer: no product).
    # The matrix-free executor runs the identity seeds of dense layers without a product, so
    # those multiply-adds of the model are not executed.
    executed = jax_rows.apply(
        lambda r: 0 if r["strategy"] == "optimal_time"
        else r["model_macs"] - r["batch"] * identity_seed_macs(r["widths"], r["strategy"])
        if r["engine"] == "matrix_free" else r["model_macs"],
        axis=1,
    )  # fmt: skip
    costed = jax_rows[executed > 0]
    assert (costed["xla_flops"] >= 2 * executed[executed > 0]).all()


def identity_seed_macs(widths, strategy):
    """Multiply-adds of the identity seeds' first products in a matrix-free plan's leaves.

    (``optimal_time`` rows, whose tree comes from the device profile, are left out of the flop
    check by the caller.)
    """
    if strategy in mf.JAX_BASELINES:
        return 0

    d = tuple(int(w) for w in widths.split("-"))
    stack, total = [jb.plan_matrix_free(d, strategy).tree], 0
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.op == "tangents":
            total += d[node.lo - 1] * d[node.lo] * d[node.lo - 1]
        elif node.op == "adjoints":
            total += d[node.hi] * d[node.hi] * d[node.hi - 1]
    return total


def test_memory_guard_skips_and_records_without_allocating(tiny_run):
    frame = pd.read_csv(tiny_run[1]["latest"])
    skipped = frame[frame["status"] == "skipped"]
    assert len(skipped) > 0
    assert (skipped["mem_model_bytes"] > 3 * 1024).all()
    assert skipped["skip_reason"].str.contains(r"exceeds the budget 3 KiB").all()
    assert skipped["time_median_s"].isna().all()
    ok = frame[frame["status"] == "ok"]
    assert (ok["mem_model_bytes"] <= 3 * 1024).all()


def test_two_runs_never_share_files(tmp_path, monkeypatch):
    def a_few_rows():  # the numpy rows of the tiny grid's two depth chains: a few seconds
        return harness.run(
            grid_name="tiny",
            engines=["explicit"],
            results_dir=tmp_path,
            plots=False,
            pytest_args=["-q", "-k", "numpy and depth"],
            profile=None,
        )

    status, first = a_few_rows()
    assert status == 0
    first_id = first["csv"].name.removesuffix(".csv")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert set(before) == {
        f"{first_id}.benchmark.json",
        f"{first_id}.csv",
        f"{first_id}.json",
        "latest.csv",
    }
    # The second run is offered the first run's id before a new one, as if the clock and the
    # random suffix had both repeated.
    offered = iter([first_id])
    new_run_id = harness.new_run_id
    monkeypatch.setattr(harness, "new_run_id", lambda: next(offered, None) or new_run_id())
    status, second = a_few_rows()
    assert status == 0
    second_id = second["csv"].name.removesuffix(".csv")
    assert second_id != first_id
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert set(after) == set(before) | {
        f"{second_id}.benchmark.json",
        f"{second_id}.csv",
        f"{second_id}.json",
    }
    for name, data in before.items():  # every file of the first run is as it wrote it
        if name != "latest.csv":
            assert after[name] == data, name
    assert after["latest.csv"] == after[f"{second_id}.csv"] != after[f"{first_id}.csv"]
    rows = pd.read_csv(tmp_path / "latest.csv")
    assert set(rows["run_id"]) == {second_id} and len(rows) == 10  # 2 chains x 5 strategies
    # Without a device profile optimal_time is skipped, and says why.
    skipped = rows[rows["status"] == "skipped"]
    assert set(skipped["strategy"]) == {"optimal_time"} and len(skipped) == 2
    assert skipped["skip_reason"].str.contains("no device profile").all()
    assert rows["model_seconds"].isna().all()


def test_the_suites_ignore_the_pytest_setup_of_the_folder_they_run_in(tmp_path, monkeypatch):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "--no-such-option"\ntestpaths = ["nowhere"]\n'
    )
    (tmp_path / "conftest.py").write_text("raise RuntimeError('this folder's conftest ran')\n")
    monkeypatch.chdir(tmp_path)
    status, written = harness.run(
        grid_name="tiny",
        engines=["explicit"],
        plots=False,
        pytest_args=["-q", "-k", "numpy and depth-depth-2-2 and forward"],
        profile=None,
    )
    assert status == 0
    assert written["latest"] == Path("results") / "latest.csv"  # relative to the folder
    assert len(pd.read_csv(tmp_path / "results" / "latest.csv")) == 1


def test_bad_arguments_give_one_line_and_exit_2(tmp_path, same_jacobench):
    done = subprocess.run(
        [sys.executable, "-m", "jacobench.bench.harness", "--grid", "huge", "--no-plots"],
        cwd=tmp_path,
        env=same_jacobench,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "jacobench: error: unknown grid 'huge'; "
        "valid options are ['default', 'full', 'large', 'tiny']"
    ]


def test_a_run_that_measures_nothing_writes_nothing(tmp_path):
    (tmp_path / "latest.csv").write_text("earlier results\n")
    status, written = harness.run(
        grid_name="tiny",
        engines=["explicit"],
        results_dir=tmp_path,
        plots=False,
        pytest_args=["-q", "-k", "no_test_has_this_name"],
        profile=None,
    )
    assert status != 0 and written == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.csv"]
    assert (tmp_path / "latest.csv").read_text() == "earlier results\n"


def test_a_stopped_run_leaves_earlier_results_intact(tmp_path, same_jacobench):
    import signal

    (tmp_path / "latest.csv").write_text("earlier results\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jacobench.bench.harness", "--grid", "default", "--no-plots",
         "--engine", "explicit", "--results-dir", str(tmp_path), "--profile", "none"],
        cwd=tmp_path, env=same_jacobench, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    passed = 0
    for line in proc.stdout:  # wait until the suite has timed a few rows (of many more)
        passed += line.count("PASSED")
        if passed >= 3:
            break
    proc.send_signal(signal.SIGTERM)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.csv"]
    assert (tmp_path / "latest.csv").read_text() == "earlier results\n"


@pytest.fixture(scope="module")
def hessian_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("hessian")
    status, written = harness.run(
        grid_name="tiny",
        engines=["hessian"],
        results_dir=results,
        plots=False,
        pytest_args=["-q", "-p", "no:randomly", *QUICK_TIMING],
        profile=None,
    )
    return status, pd.read_csv(written["latest"])


def test_second_order_rows_are_checked_timed_costed_and_capped(hessian_run):
    import jacobench as jb
    from jacobench.bench import grid

    status, frame = hessian_run
    assert status == 0 and set(frame["engine"]) == {"hessian"}
    chains = {"-".join(map(str, c.widths)) for c in grid.hessian_configs("tiny")}
    assert set(frame["widths"]) == chains
    names = {f"hvp:{m}" for m in jb.second_order.HVP_STRATEGIES} | set(jb.second_order.STRATEGIES)
    ok = frame[frame["status"] == "ok"]
    for widths in chains:
        assert set(frame.loc[frame["widths"] == widths, "strategy"]) == names
    assert (ok["time_median_s"] > 0).all() and (ok["max_abs_error"] < 1e-4).all()
    assert set(ok["mem_source"]) == {"xla_memory_analysis"} and (ok["compile_s"] > 0).all()
    assert set(ok["kind"]) == {"hvp", "hessian"}
    for _, row in ok.iterrows():
        widths = tuple(int(w) for w in row["widths"].split("-"))
        name = row["strategy"].removeprefix("hvp:")
        plan = jb.plan_hvp(widths, name) if row["kind"] == "hvp" else jb.plan_hessian(widths, name)
        assert (row["model_macs"], row["plan_formula"]) == (plan.macs, plan.formula)
        assert row["model_jax_hessian_macs"] == jb.plan_hessian(widths, "jax.hessian").macs
        assert row["mem_activations_bytes"] == 4 * sum(widths)
    # The tiny grid's cap of 10,000 MACs skips fwd-over-fwd on the narrow chain (19,880), only.
    skipped = frame[frame["status"] == "skipped"]
    assert skipped[["widths", "strategy"]].values.tolist() == [["8-8-2-8-8-8-8-1", "fwd-over-fwd"]]
    assert (
        "model multiply-adds 19,880 exceed the grid's cap 10,000" in skipped["skip_reason"].iloc[0]
    )


def test_weight_reads_are_measured_again_only_with_a_readable_profile(tmp_path, capsys):
    assert harness._weight_reads_again(None) is None
    bad = tmp_path / "profile.json"
    bad.write_text("{not json")
    assert harness._weight_reads_again(bad) is None
    assert "weight reads not measured again" in capsys.readouterr().out
