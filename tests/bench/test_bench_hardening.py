"""Issue 10, "Hardening", items 7-9: harness paths, killed runs, corrupt CSVs, file modes."""

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jacobench import JacobenchError
from jacobench.bench import files, harness, report, tidy
from synthetic_results import write_synthetic

STALE = "20260101T000000Z-dead"  # the id of a run that is gone
LIVE = "20260101T000001Z-beef"


def bench(args, cwd, env, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "jacobench.bench.harness", "--profile", "none", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


# --- 7. harness paths are checked before the run starts ---------------------------------------


def test_a_results_dir_that_is_a_file_is_one_line_before_anything_runs(tmp_path, same_jacobench):
    (tmp_path / "results").write_text("not a folder")
    started = time.monotonic()
    done = bench(["--grid", "tiny", "--results-dir", "results"], tmp_path, same_jacobench)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "jacobench: error: results folder (--results-dir) 'results' is a file, expected a folder"
    ]
    assert time.monotonic() - started < 60  # no suite ran
    (tmp_path / "results").unlink()
    (tmp_path / "plots").write_text("")
    done = bench(["--grid", "tiny", "--plots-dir", "plots"], tmp_path, same_jacobench)
    assert done.returncode == 2 and "plots folder (--plots-dir) 'plots' is a file" in done.stderr


def test_an_unwritable_results_dir_is_refused_before_the_run(tmp_path, same_jacobench):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        unwritable = str(folder) if os.geteuid() != 0 else "/proc/jacobench-results"  # root
        done = bench(["--grid", "tiny", "--results-dir", unwritable], tmp_path, same_jacobench)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"jacobench: error: results folder (--results-dir) {unwritable!r} cannot be written to ("
    )
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_leftovers_of_killed_runs_are_swept_and_a_live_runs_are_kept(tmp_path):
    stale = [
        f".{STALE}.benchmark.json.part",
        f".{STALE}.skipped.json",
        ".20260101T000002Z-0a0b.skipped.json",  # its run's .part is already gone
        ".latest.csv.x1y2z3.tmp",
        f".{STALE}.csv.abc.tmp",
    ]
    kept = [f".{LIVE}.benchmark.json.part", f".{LIVE}.skipped.json", ".notes.tmp", "latest.csv"]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    live = os.open(tmp_path / f".{LIVE}.benchmark.json.part", os.O_RDONLY)
    fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a concurrent run holds its claim
    try:
        removed = harness.sweep_leftovers(tmp_path)
    finally:
        os.close(live)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_run_removes_the_leftovers_of_a_killed_one(tmp_path):
    for name in (f".{STALE}.benchmark.json.part", f".{STALE}.skipped.json"):
        (tmp_path / name).write_text("{")
    status, written = harness.run(
        grid_name="tiny",
        engines=["explicit"],
        results_dir=tmp_path,
        plots=False,
        pytest_args=["-q", "-k", "numpy and depth-depth-2-2 and forward"],
        profile=None,
    )
    assert status == 0 and written
    assert not list(tmp_path.glob(".*"))


def _children(pid):
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# The harness as a terminal starts it: a shell ignores SIGINT in what it runs in the background
# (`make test &`), Python leaves an ignored SIGINT ignored, and Ctrl-C would then do nothing.
_AT_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'jacobench.bench.harness'; "
    "runpy.run_module('jacobench.bench.harness', run_name='__main__', alter_sys=True)"
)


def _start_and_wait_for_a_timed_row(results, cwd, env):
    proc = subprocess.Popen(
        [sys.executable, "-c", _AT_A_TERMINAL, "--grid", "default", "--no-plots",
         "--profile", "none", "--results-dir", str(results)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for line in proc.stdout:
        if "PASSED" in line:
            return proc
    raise AssertionError(f"the run ended before a row was timed: {proc.stderr.read()}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel kills the child")
def test_the_pytest_child_dies_with_a_killed_harness(tmp_path, same_jacobench):
    proc = _start_and_wait_for_a_timed_row(tmp_path, tmp_path, same_jacobench)
    children = _children(proc.pid)
    assert children, "no pytest child found"
    proc.kill()  # SIGKILL: the harness runs no clean-up
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    deadline = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(c) for c in children)
    left = sorted(p.name for p in tmp_path.glob(".*"))
    assert left and all(name.endswith(".benchmark.json.part") for name in left)
    assert [p.name for p in harness.sweep_leftovers(tmp_path)] == left  # the next run's sweep


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, same_jacobench):
    (tmp_path / "latest.csv").write_text("earlier results\n")
    proc = _start_and_wait_for_a_timed_row(tmp_path, tmp_path, same_jacobench)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.splitlines() == ["jacobench: interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.csv"]
    assert (tmp_path / "latest.csv").read_text() == "earlier results\n"


def test_plot_temporaries_of_a_killed_run_are_swept_not_a_live_ones(tmp_path):
    csv = write_synthetic(tmp_path / "results", sidecar=False)
    plots = tmp_path / "plots"
    plots.mkdir()
    (plots / ".crossover.png.k1ll3d.tmp").write_bytes(b"half a png")
    (tmp_path / "results" / ".REPORT.md.k1ll3d.tmp").write_text("half a report")
    live_fd, live = files.temp_beside(plots / "speedup.png")  # another report, drawing now
    try:
        out = report.make_report(csv, plots, tmp_path / "results" / "REPORT.md")
        assert sorted(p.name for p in plots.glob(".*")) == [live.name]
    finally:
        os.close(live_fd)
    assert "removed 2 leftover temporary file(s) of a killed run" in out["notes"]
    assert not list((tmp_path / "results").glob(".*"))


# --- 8. the report refuses a CSV it cannot trust ------------------------------------------------


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory):
    path = write_synthetic(tmp_path_factory.mktemp("good"), sidecar=False)
    return path.read_text()


def _lines_with(text, line_no, change):
    lines = text.splitlines(keepends=True)
    lines[line_no - 1] = change(lines[line_no - 1])
    return "".join(lines)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (  # extra fields in the first rows: pandas took them for an index and shifted columns
            lambda t: _lines_with(t, 2, lambda s: s.rstrip("\n") + ",extra,fields\n"),
            r"line 2 has \d+ fields, expected \d+ \(one per header column\)",
        ),
        (
            lambda t: _lines_with(t, 5, lambda s: s.rstrip("\n") + ",extra\n"),
            r"line 5 has \d+ fields, expected \d+ \(one per header column\)",
        ),
        (
            lambda t: _lines_with(t, 7, lambda s: s.split(",", 3)[0] + "\n"),
            r"line 7 has 1 fields, expected \d+",
        ),
        (lambda t: t[: len(t) - 40], r"line \d+ (has \d+ fields|is cut off)"),
        (lambda t: t.rstrip("\n"), r"line \d+ is cut off \(the file does not end with a newline"),
    ],
    ids=["extra fields first", "extra fields", "missing fields", "cut mid-row", "no newline"],
)
def test_a_corrupt_csv_is_refused_naming_the_line(tmp_path, good_csv, spoil, message):
    path = tmp_path / "latest.csv"
    path.write_text(spoil(good_csv))
    with pytest.raises(JacobenchError, match=message):
        report.load_results(path)


def test_a_number_that_does_not_parse_is_refused_naming_line_column_and_value(tmp_path, good_csv):
    df = pd.read_csv(pd.io.common.StringIO(good_csv), dtype=str, keep_default_na=False)
    df.loc[3, "model_macs"] = "banana"
    df.loc[5, "unstable"] = "maybe"
    path = tmp_path / "latest.csv"
    df.to_csv(path, index=False)
    with pytest.raises(JacobenchError, match=r"line 5: model_macs = 'banana' is not a number"):
        report.load_results(path)
    df.loc[3, "model_macs"] = "12"
    df.to_csv(path, index=False)
    with pytest.raises(JacobenchError, match=r"line 7: unstable = 'maybe' is not true or false"):
        report.load_results(path)


def test_the_plot_command_refuses_a_corrupt_csv_in_one_line(tmp_path, good_csv, same_jacobench):
    (tmp_path / "latest.csv").write_text(good_csv.rstrip("\n") + ",x\n")
    done = subprocess.run(
        [sys.executable, "-m", "jacobench.bench.report", "--csv", "latest.csv"],
        cwd=tmp_path, env=same_jacobench, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "results CSV 'latest.csv' line" in done.stderr and "fields, expected" in done.stderr
    assert not (tmp_path / "plots").exists()


# --- 9. written files take the usual mode -------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_report_and_plots_take_the_usual_mode(tmp_path, umask):
    # The whole report (seven plots, seconds) under the umask that shows a mkstemp 0o600 most
    # plainly; the atomic writer under both.
    csv = write_synthetic(tmp_path / "results", sidecar=False)
    old = os.umask(umask)
    try:
        written = []
        if umask == 0o002:
            out = report.make_report(csv, tmp_path / "plots", tmp_path / "results" / "REPORT.md")
            written += [Path(out["report"]), *map(Path, out["plots"].values())]
        written.append(tidy.write_atomic(tmp_path / "results" / "latest.csv", "a\n1\n"))
    finally:
        os.umask(old)
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name


def test_the_speedup_table_piped_into_head_gets_no_traceback(tmp_path, closed_early):
    csv = write_synthetic(tmp_path / "results", sidecar=False)
    assert closed_early("-m", "jacobench.bench.speedups", str(csv)) == (141, "")
