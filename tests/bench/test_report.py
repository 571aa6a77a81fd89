import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacobench import JacobenchError
from jacobench.bench import markdown_time, report, tidy
from jacobench.bench import plots as P
from synthetic_results import NOISE, OPTIMAL_TIME_FACTOR, RUN_ID, SLOPE, write_synthetic

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    csv = write_synthetic(root / "results")
    out = report.make_report(csv, root / "plots", root / "results" / "REPORT.md")
    return root, out


def _subset(tmp_path: Path, keep) -> Path:
    """The synthetic CSV cut down to the rows ``keep(df)`` selects (fast, few panels)."""
    df = pd.read_csv(write_synthetic(tmp_path / "full", sidecar=False), dtype=str)
    path = tmp_path / "subset.csv"
    df[keep(df)].to_csv(path, index=False)
    return path


def test_all_six_plots_and_the_report_are_written(full_run):
    root, out = full_run
    assert set(out["plots"]) == set(report.PLOT_FILES)
    for path in out["plots"].values():
        data = Path(path).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, path
    text = Path(out["report"]).read_text()
    for section in (
        "## Environment",
        "## Fidelity of the cost model",
        "## Fidelity of the time model",
        "## Largest speedups of the optimal plan",
        "## Optimal plan per profile",
        "## Plots",
        "## Unstable rows",
        "## Skipped rows",
    ):
        assert section in text
    for name in report.PLOT_FILES:  # embedded with links relative to the report
        assert f"![{name}](../plots/{name})" in text
    assert "Synthetic CPU" in text  # environment from the sidecar JSON
    assert "predicted memory 12.0 GiB exceeds budget 11.7 GiB" in text  # skipped, with reason
    assert "| explicit / numpy | profiles | funnel | 512-256-128-64-8 | optimal |" in text
    assert "`(J4 J3) (J2 J1)`" in text  # the hourglass profile's optimal plan
    assert not list(root.rglob("*.tmp"))


def test_fitted_slope_of_synthetic_data_is_recovered(full_run):
    _, out = full_run
    first = {"explicit / numpy", "explicit / jax", "matrix_free / jax"}
    assert set(out["fidelity"]) == first | {"hessian / jax"}
    second = out["fidelity"]["hessian / jax"]  # no forward/reverse rows: no winner figures
    assert second["slope"] == pytest.approx(SLOPE, abs=0.1) and second["spearman_all"] > 0.95
    for label in first:
        figures = out["fidelity"][label]
        assert figures["slope"] == pytest.approx(SLOPE, abs=0.05), label
        assert figures["fit_rows"] >= 20
        assert figures["spearman_all"] > 0.95
        # Synthetic times follow the model, so every >= 2x forward/reverse call is right.
        assert figures["winner_decided"] > 0
        assert figures["winner_accuracy"] == 1.0
        assert figures["map_confidently_wrong"] == 0


@given(
    slope=st.floats(0.3, 2.0),
    log_c=st.floats(-12.0, -6.0),
    sizes=st.lists(st.floats(6.0, 11.0), min_size=2, max_size=12, unique=True),
)
@settings(max_examples=50, deadline=None)
def test_fit_recovers_an_exact_power_law(slope, log_c, sizes):
    macs = [10.0**s for s in sizes]
    times = [10.0**log_c * m**slope for m in macs]
    fit = P.fit_loglog([*macs, 10.0], [*times, 1.0])  # the row below the threshold is ignored
    assert fit is not None and fit.n == len(macs)
    assert fit.slope == pytest.approx(slope, abs=1e-6)
    assert fit.intercept == pytest.approx(log_c, abs=1e-5)


def test_fit_needs_two_sizes_above_the_threshold():
    assert P.fit_loglog([1e3, 1e4], [1.0, 2.0]) is None
    assert P.fit_loglog([1e7, 1e7], [1.0, 2.0]) is None


@pytest.mark.parametrize(
    ("x", "y", "rho"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3], [1, 1, 2], math.sqrt(3) / 2),  # ties get average ranks: (1.5, 1.5, 3)
    ],
)
def test_spearman_hand_checked(x, y, rho):
    assert P.spearman(x, y) == pytest.approx(rho)


def test_spearman_is_nan_when_undefined():
    assert math.isnan(P.spearman([1, 2], [3, 4]))
    assert math.isnan(P.spearman([1, 1, 1], [3, 4, 5]))


@pytest.mark.parametrize(
    "missing", [["time_median_s"], ["model_macs", "status"], ["engine", "d_L", "widths"]]
)
def test_missing_columns_are_named(tmp_path, missing):
    path = tmp_path / "bad.csv"
    pd.read_csv(write_synthetic(tmp_path), dtype=str).drop(columns=missing).to_csv(path)
    named = ", ".join(repr(c) for c in tidy.REQUIRED_COLUMNS if c in missing)
    with pytest.raises(JacobenchError, match=rf"lacks required column\(s\) {named};"):
        report.make_report(path, tmp_path / "plots", tmp_path / "REPORT.md")
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("", "is empty"), ("engine\n", "lacks required column")],
)
def test_unreadable_csv_gets_a_clear_error(tmp_path, content, message):
    path = tmp_path / "latest.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(JacobenchError, match=message):
        report.load_results(path)


def test_cli_reports_a_bad_csv_in_one_line_and_exits_2(tmp_path, same_jacobench):
    path = tmp_path / "bad.csv"
    path.write_text("engine,backend\nexplicit,numpy\n")
    proc = subprocess.run(
        [sys.executable, "-m", "jacobench.bench.report", "--csv", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=same_jacobench,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("jacobench.bench.report: error: results CSV")
    assert "'time_median_s'" in lines[0]


def test_report_module_does_not_import_jax(same_jacobench):
    code = (
        "import sys, jacobench, jacobench.bench.report\n"
        "bad = [m for m in ('jax', 'jaxlib') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=same_jacobench
    )
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("imported", ["jacobench", "jacobench.bench", "jacobench.cli"])
def test_the_package_imports_no_benchmark_dependency(imported, same_jacobench):
    code = (
        f"import sys, {imported}\n"
        "print([m for m in ('pandas', 'matplotlib', 'pytest', 'pytest_benchmark') "
        "if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=same_jacobench
    )
    assert proc.stdout.strip() == "[]"


def test_missing_sweeps_and_engines_give_notes_not_crashes(tmp_path):
    only = _subset(
        tmp_path,
        lambda df: (df["sweep"] == "profiles") & (df["engine"] == "explicit"),
    )
    out = report.make_report(only, tmp_path / "plots", tmp_path / "REPORT.md")
    for path in out["plots"].values():
        assert Path(path).read_bytes().startswith(PNG_MAGIC)
    notes = "\n".join(out["notes"])
    assert "no measured forward/reverse rows with sweep == 'crossover'" in notes
    assert "no rows with sweep == 'depth'" in notes
    assert "no measured rows with sweep == 'crossover'" in notes
    text = Path(out["report"]).read_text()
    assert "no sidecar JSON" in text  # environment falls back to the CSV's columns
    assert RUN_ID in text


def test_missing_numbers_are_left_out_not_fatal(tmp_path):
    def spoil(df):
        df.loc[::3, "time_median_s"] = ""
        df.loc[1::5, "model_macs"] = ""
        df.loc[2::7, "depth"] = ""
        df.loc[::11, "d_L"] = "0"
        return df["engine"] == "matrix_free"

    out = report.make_report(_subset(tmp_path, spoil), tmp_path / "plots", tmp_path / "R.md")
    assert "row(s) marked ok have no positive time_median_s" in "\n".join(out["notes"])
    assert out["fidelity"]["matrix_free / jax"]["slope"] == pytest.approx(SLOPE, abs=0.1)


def test_all_rows_skipped_still_writes_everything(tmp_path):
    path = tmp_path / "latest.csv"
    df = pd.DataFrame([dict.fromkeys(tidy.COLUMNS, "")])
    df = df.assign(engine="explicit", backend="numpy", status="skipped", skip_reason="too big")
    df.to_csv(path, index=False)
    out = report.make_report(path, tmp_path / "plots", tmp_path / "REPORT.md")
    assert out["fidelity"] == {}
    assert "too big" in Path(out["report"]).read_text()


def test_a_failure_leaves_previous_outputs_untouched(tmp_path, monkeypatch):
    csv = _subset(tmp_path, lambda df: df["engine"] == "matrix_free")
    plots_dir, report_md = tmp_path / "plots", tmp_path / "REPORT.md"
    plots_dir.mkdir()
    for name in report.PLOT_FILES:
        (plots_dir / name).write_bytes(b"old")
    report_md.write_text("old report")

    def boom(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(P, "winner_map_figure", boom)  # the last plot, after four are staged
    with pytest.raises(RuntimeError, match="drawing failed"):
        report.make_report(csv, plots_dir, report_md)
    assert all((plots_dir / n).read_bytes() == b"old" for n in report.PLOT_FILES)
    assert report_md.read_text() == "old report"
    assert sorted(p.name for p in plots_dir.iterdir()) == sorted(report.PLOT_FILES)


def test_winner_map_does_not_time_the_optimal_plan_against_its_twin():
    frame = pd.DataFrame(
        {
            "engine": "e",
            "backend": "b",
            "sweep": "crossover",
            "d_0": 64,
            "d_L": 4,
            "status": "ok",
            "strategy": ["forward", "reverse", "optimal"],
            "plan_formula": ["J2 (J1)", "(J2 J1)", "(J2 J1)"],
            "model_macs": [900, 100, 100],
            # optimal is reverse's plan and happened to time faster: noise, not a winner
            "time_median_s": [9.0, 1.1, 1.0],
        }
    )
    row = P.winners(frame, ["engine", "backend"]).iloc[0]
    assert (row["model"], row["measured"], row["gap"]) == ("reverse", "reverse", 1.0)
    frame.loc[2, "plan_formula"] = "a different plan"
    row = P.winners(frame, ["engine", "backend"]).iloc[0]
    assert (row["model"], row["measured"], row["gap"]) == ("reverse", "optimal", 1.0)


def test_speedups_pair_optimal_with_each_present_baseline():
    frame = pd.DataFrame(
        {
            "engine": "matrix_free",
            "backend": "jax",
            "sweep": "profiles",
            "profile": "funnel",
            "scale": "m",
            "widths": "8-4-2",
            "status": ["ok", "ok", "ok", "skipped"],
            "strategy": ["optimal", "forward", "jacrev", "reverse"],
            "model_macs": [10, 40, 10, 10],
            "time_median_s": [1.0, 3.0, 2.0, math.nan],
        }
    )
    table = P.speedups(frame, ["engine", "backend"]).set_index("baseline")
    assert sorted(table.index) == ["forward", "jacrev"]  # reverse was skipped
    assert table.loc["forward", "measured"] == 3.0
    assert table.loc["forward", "predicted"] == 4.0
    assert table.loc["jacrev", "predicted"] == 1.0


def test_the_auto_engine_gets_its_own_table():
    from jacobench.bench.markdown import _auto_md

    rows = [("auto", 2e-3, 100), ("jacfwd", 40e-3, 3000), ("jacrev", 30e-3, 3000)]
    frame = pd.DataFrame(
        {
            "engine": "auto",
            "backend": "jax",
            "status": "ok",
            "profile": "autoencoder-jnp",
            "library": "jax.numpy",
            "scale": "8-2-8",
            "widths": "8-2-8",
            "plan_formula": "jvp(J2) @ vjp(J1)",
            "strategy": [r[0] for r in rows],
            "time_median_s": [r[1] for r in rows],
            "model_macs": [r[2] for r in rows],
            "model_forward_macs": 3000,
            "model_reverse_macs": 3000,
        }
    )
    text = _auto_md(frame, ["engine", "backend"])
    # measured: the faster of jacfwd (40 ms) and jacrev (30 ms) over auto (2 ms); predicted 30x
    assert "| 15x | 30x | 0.50 |" in text
    assert "No rows of the auto engine" in _auto_md(frame[frame["engine"] != "auto"], ["engine"])


def test_the_second_order_section_and_plot(full_run):
    _, out = full_run
    text = Path(out["report"]).read_text()
    section = text.split("## Second order: Hessian-vector products and Hessians")[1].split("\n## ")[
        0
    ]
    # 4 chains x 9 rows, less the narrow chain's fwd-over-fwd (over the synthetic cap)
    assert "35 rows measured (12 Hessian-vector products, 23 Hessians), 1 skipped" in section
    assert "flops / 2: 1.020 to 1.020" in section  # the synthetic xla_flops are 2.04 x MACs
    assert (
        "| hessian-narrow | 64-64-4-64-64-64-1 | `hess(J2 J1, seed=hess(J6 J5 J4 J3))` | 2.58x |"
        in section
    )
    assert "| 16-64-64-64-1 | rev-over-rev |" in section  # an HVP row, memory over activations
    assert "exceed the grid's cap 10,000,000" in text  # the skipped row, with its reason
    assert "| hessian / jax |" in text  # the fidelity table has the engine's own panel
    png = Path(out["plots"]["hessian_depth.png"]).read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


def test_optimal_slower_than_jax_hessian_is_flagged():
    from jacobench.bench.markdown_hessian import hessian_section

    frame = pd.DataFrame(
        {
            "engine": "hessian",
            "status": "ok",
            "sweep": "hessian-width",
            "scale": ["a", "a", "b", "b"],
            "widths": ["8-8-1", "8-8-1", "8-2-8-1", "8-2-8-1"],
            "strategy": ["optimal", "jax.hessian"] * 2,
            "plan_formula": ["hess(J2 J1)", "f", "hess(J1, seed=hess(J3 J2))", "f"],
            "model_macs": [100, 100, 50, 100],
            "time_median_s": [2.0, 1.0, 4.0, 1.0],
            "time_min_s": [2.0, 1.0, 4.0, 1.0],
            "xla_flops": 200.0,
            "mem_model_bytes": 1,
            "mem_measured_bytes": 1.0,
        }
    )
    text = hessian_section(frame)
    # No split: the same program as jax.hessian, so its ratio is noise, not a verdict.
    assert (
        "| hessian-width | 8-8-1 | `hess(J2 J1)` | 1x | 0.5x | 0.5x | 0.50 | same program |" in text
    )
    assert "their ratio (0.5x to 0.5x here) is the machine's timing noise" in text
    # A split plan four times slower than jax.hessian is flagged.
    assert "| 8-2-8-1 | `hess(J1, seed=hess(J3 J2))` | 2x | 0.25x | 0.25x | 0.12 | **no** |" in text
    assert "worst measured speedup is 0.25x (1 chain): **more than 1.1x slower" in text


# --- the time model ----------------------------------------------------------------------------


def test_time_model_figures_of_synthetic_data(full_run):
    _, out = full_run
    figures = out["time_fidelity"]
    assert set(figures) == {
        "explicit / numpy / cpu",
        "explicit / jax / cpu",
        "matrix_free / jax / cpu",
    }
    for label, f in figures.items():
        assert f["rows"] <= f["rows_all"]
        assert f["spearman_all"] > 0.95, label
        # optimal_time runs OPTIMAL_TIME_FACTOR slower than optimal, each row with its own noise.
        assert f["worst_ratio"] == pytest.approx(OPTIMAL_TIME_FACTOR, rel=6 * NOISE)
        assert f["winner_configs"] > 0 and f["winner_right"] > f["winner_configs"] / 2


def test_time_model_table_in_the_report(full_run):
    _, out = full_run
    text = Path(out["report"]).read_text()
    section = text.split("## Fidelity of the time model")[1].split("## ")[0]
    assert "| engine / backend / device | rows ≥ 1 ms |" in section
    for label in out["time_fidelity"]:
        assert f"| {label} |" in section


def hand_table(rows):
    columns = ["engine", "backend", "device", "sweep", "widths", "strategy", "model_seconds",
               "time_median_s"]  # fmt: skip
    frame = pd.DataFrame([dict(zip(columns, r, strict=True)) for r in rows])
    frame["status"] = "ok"
    return frame


def test_time_model_winner_and_worst_row_by_hand():
    rows = [
        # chain a: the model picks optimal (1 ms); measured 1.05 ms, fastest 1.0 -> right
        ("e", "b", "cpu", "s", "a", "forward", 2e-3, 1.0e-3),
        ("e", "b", "cpu", "s", "a", "optimal", 1e-3, 1.05e-3),
        ("e", "b", "cpu", "s", "a", "optimal_time", 1e-3, 1.2e-3),  # 1.2 / 1.0: worst
        # chain b: the model picks reverse; measured 2x slower than forward -> wrong
        ("e", "b", "cpu", "s", "b", "forward", 3e-3, 1e-3),
        ("e", "b", "cpu", "s", "b", "reverse", 1e-3, 2e-3),
        ("e", "b", "cpu", "s", "b", "jacfwd", 1e-4, 9e-4),  # not in the contest
        ("e", "b", "cpu", "s", "b", "optimal_time", 1e-3, 1.1e-3),
    ]
    f = P.time_fidelity(hand_table(rows), ["engine", "backend"])["e / b / cpu"]
    assert (f["winner_configs"], f["winner_right"]) == (2, 1)
    assert f["worst_ratio"] == pytest.approx(1.2) and f["worst_row"] == "s a"
    assert f["rows"] == 6  # 9e-4 s is under 1 ms


def test_worst_optimal_time_row_takes_the_contest_where_there_is_one():
    rows = [
        # chain a timed apart: optimal_time 1.3x forward; its contest found them level
        ("e", "b", "cpu", "s", "a", "forward", 1e-3, 1.0e-3),
        ("e", "b", "cpu", "s", "a", "optimal_time", 1e-3, 1.3e-3),
        # chain b: no contest (an older CSV): the medians, 1.15x
        ("e", "b", "cpu", "s", "b", "reverse", 1e-3, 2.0e-3),
        ("e", "b", "cpu", "s", "b", "optimal_time", 1e-3, 2.3e-3),
    ]
    frame = hand_table(rows)
    frame["contest_ratio"] = [np.nan, 1.02, np.nan, np.nan]
    f = P.time_fidelity(frame, ["engine", "backend"])["e / b / cpu"]
    assert f["worst_ratio"] == pytest.approx(1.15) and f["worst_row"] == "s b"
    assert f["worst_ratio_apart"] == pytest.approx(1.3) and f["worst_row_apart"] == "s a"
    text = markdown_time._time_fidelity_md({"e / b / cpu": f})
    assert "1.15x (s b)" in text and "1.30x (s a)" in text


def test_time_model_plot_without_model_seconds_says_why(tmp_path):
    frame = hand_table([("e", "b", "cpu", "s", "a", "forward", float("nan"), 1e-3)])
    _, notes = P.time_model_figure(frame, ["engine", "backend"])
    assert any("no rows with model_seconds" in n for n in notes)
    assert P.time_fidelity(frame, ["engine", "backend"]) == {}


def test_report_says_how_far_the_weight_reads_moved_and_nothing_without_them():
    meta = {
        "weight_reads": {
            "footprints": [1 << 20, 1 << 24],
            "at_calibration": [8.5e10, 5.0e10],
            "after_run": [7.5e10, 1.9e10],
        }
    }
    text = markdown_time._weight_reads_md(meta)
    assert "1 MiB 85 → 75, 16 MiB 50 → 19" in text
    assert markdown_time._weight_reads_md(None) == ""
    assert markdown_time._weight_reads_md({"weight_reads": None}) == ""


def test_worst_optimal_time_row_says_how_far_apart_the_model_put_the_plans():
    rows = [
        # chain a: a near tie (reverse predicted 1.05x forward); optimal_time (forward) loses 1.2x
        ("e", "b", "cpu", "s", "a", "forward", 1.0e-3, 1.2e-3),
        ("e", "b", "cpu", "s", "a", "reverse", 1.05e-3, 1.0e-3),
        ("e", "b", "cpu", "s", "a", "optimal_time", 1.0e-3, 1.2e-3),
        # chain b: a clear pick (forward predicted 2x reverse); optimal_time (reverse) 1.04x
        ("e", "b", "cpu", "s", "b", "forward", 4e-3, 2.0e-3),
        ("e", "b", "cpu", "s", "b", "reverse", 2e-3, 1.0e-3),
        ("e", "b", "cpu", "s", "b", "optimal", 2e-3, 1.0e-3),
        ("e", "b", "cpu", "s", "b", "optimal_time", 2e-3, 1.04e-3),
    ]
    frame = hand_table(rows)
    frame["plan_formula"] = ["F", "R", "F", "F", "R", "R", "R"]
    f = P.time_fidelity(frame, ["engine", "backend"])["e / b / cpu"]
    assert f["worst_ratio"] == pytest.approx(1.2) and f["worst_row"] == "s a"
    assert f["worst_gap"] == pytest.approx(1.05)
    assert f["worst_ratio_clear"] == pytest.approx(1.04) and f["worst_row_clear"] == "s b"
    assert f["clear_chains"] == 1
    text = markdown_time._time_fidelity_md({"e / b / cpu": f})
    assert "1.20x (s a; predicted 1.05x apart)" in text
    assert "1.04x (s b), of 1 chains" in text
