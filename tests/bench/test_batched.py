"""Batched Jacobians in the benchmark, and a run that ends in time: grid, suites, CSV, table."""

import math
import time

import pandas as pd
import pytest

import jacobench as jb
from jacobench import JacobenchError
from jacobench.bench import grid, harness, measure, speedups, tidy
from jacobench.bench.suites import conftest


def test_batched_configs_in_every_grid():
    for name in ("tiny", "default", "large"):
        batched = [c for c in grid.configs(name) if c.sweep == "batched"]
        assert any(c.batch > 1 for c in batched), name
        for c in batched:
            assert c.scale == f"B={c.batch}" and c.id.endswith(
                f"-B{c.batch}" if c.batch > 1 else ""
            )
    others = [c for c in grid.configs("default") if c.sweep != "batched"]
    assert {c.batch for c in others} == {1}
    for name in grid.GRIDS:  # ids are unique within a grid
        assert len({c.id for c in grid.configs(name)}) == len(grid.configs(name)), name
    large = {(c.widths, c.batch) for c in grid.configs("large")}
    assert {((2048, 2048, 16, 2048, 2048), 64), ((8192, 8192, 64, 8192, 8192), 1)} <= large


def test_rounds_are_bounded():
    assert measure.choose_rounds(1e-5) == (100, 100)
    assert measure.choose_rounds(0.01, target_s=0.2) == (20, 1)
    rounds, _ = measure.choose_rounds(0.9)
    assert rounds == 3  # 10 rounds would take 9 s; 3 is the floor
    assert measure.choose_rounds(5.0) == (3, 1)


def test_out_of_memory_is_recognised():
    assert conftest._is_out_of_memory(MemoryError())
    assert conftest._is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while ..."))
    assert not conftest._is_out_of_memory(AssertionError("max abs error 1 vs the reference"))


def test_a_program_is_compiled_once_per_configuration():
    calls = []

    def build(tag):
        def compile_():
            calls.append(tag)
            return f"program {tag}", 1.5

        return compile_

    first = conftest.compile_once(("cfg-a", "tree"), "forward", build("a"))
    twin = conftest.compile_once(("cfg-a", "tree"), "optimal", build("b"))
    program = first.pop("program")
    assert first == {"compiled": "program a", "compile_s": 1.5, "same_program_as": ""}
    assert twin.pop("program") is program and program.owner == "forward"
    assert twin == {"compiled": "program a", "compile_s": 0.0, "same_program_as": "forward"}
    other = conftest.compile_once(("cfg-b", "tree"), "forward", build("c"))  # a new config
    assert other["compiled"] == "program c" and calls == ["a", "c"]
    assert set(conftest._PROGRAMS) == {("cfg-b", "tree")}  # the old config's programs dropped


def test_plans_that_compile_to_one_program_are_timed_as_one(monkeypatch):
    import jax.numpy as jnp

    monkeypatch.setattr(conftest, "_PROGRAMS", {})
    x = jnp.ones(3)

    def double(v):  # two plans, one program once XLA has compiled them
        return v * 2.0

    def twice(v):
        return 2.0 * v

    def triple(v):
        return v * 3.0

    made = {
        name: conftest.compile_once(("cfg-h", name), name, lambda f=f: measure.compile_jax(f, x))
        for name, f in (("forward", double), ("reverse", twice), ("optimal", triple))
    }
    assert made["forward"]["same_program_as"] == "" and made["optimal"]["same_program_as"] == ""
    twin = made["reverse"]
    assert twin["same_program_as"] == "forward" and twin["compile_s"] > 0  # it did compile
    assert twin["program"] is made["forward"]["program"]
    assert twin["program"] is conftest._PROGRAMS[("cfg-h", "reverse")]
    assert twin["program"].owners == ["forward", "reverse"]
    assert made["optimal"]["program"] is not twin["program"]
    assert float(twin["compiled"](x)[0]) == 2.0


def test_program_identity_keeps_what_the_program_does():
    head = "HloModule jit_f, entry_computation_layout={(f32[3]{0})->f32[3]{0}}\n\n"
    body = "ENTRY %main (p: f32[3]) -> f32[3] {{\n  ROOT %r = f32[3]{{0}} {op}(%p, %p){meta}\n}}"
    add = head + body.format(op="add", meta=', metadata={op_name="jit(f)/add" stack_frame_id=3}')
    mul = head + body.format(op="multiply", meta="")
    moved = add.replace("frame_id=3", "frame_id=4")  # the same operation, elsewhere in Python
    same = measure.program_identity
    assert same(add) == same(moved) and same(add) != same(mul) and "add(%p, %p)" in str(same(add))


def test_a_configurations_programs_can_be_compiled_ahead_on_threads():
    import jax
    import jax.numpy as jnp

    x = jnp.ones(3)
    lowered = []

    def job(scale):
        def lower():
            lowered.append(scale)
            return jax.jit(lambda v: v * scale).lower(x)

        return lower

    def broken():
        raise ValueError("cannot lower")

    jobs = {("cfg-c", "a"): job(2.0), ("cfg-c", "b"): job(3.0), ("cfg-c", "bad"): broken}
    conftest.compile_ahead("cfg-c", jobs, threads=2)
    conftest.compile_ahead("cfg-c", jobs, threads=2)  # once per configuration
    assert lowered == [2.0, 3.0] and set(conftest._AHEAD) == {("cfg-c", "a"), ("cfg-c", "b")}
    unused = ["never called"]
    got = conftest.compile_once(("cfg-c", "b"), "reverse", lambda: unused.pop())
    assert got["same_program_as"] == "" and got["compile_s"] > 0 and unused == ["never called"]
    assert float(got["compiled"](x)[0]) == 3.0
    # the failed one is left to its row, which compiles it (and would record its error)
    bad = conftest.compile_once(("cfg-c", "bad"), "forward", lambda: ("its own", 0.5))
    assert bad["compiled"] == "its own"
    conftest.compile_ahead("cfg-d", {("cfg-d", "a"): job(4.0)}, threads=1)  # one thread: no
    assert ("cfg-d", "a") not in conftest._AHEAD and ("cfg-c", "a") in conftest._AHEAD


def test_failed_rows_keep_their_status_and_batch_defaults_to_one():
    skipped = [
        {"engine": "matrix_free", "strategy": "jacfwd", "widths": "4-4", "batch": 16,
         "status": "skipped", "skip_reason": "out of memory: RESOURCE_EXHAUSTED"},
        {"engine": "matrix_free", "strategy": "optimal", "widths": "4-4", "status": "failed",
         "skip_reason": "AssertionError: max abs error"},
    ]  # fmt: skip
    frame = tidy.build_frame({"benchmarks": []}, skipped, run_id="r")
    assert frame["status"].tolist() == ["skipped", "failed"]
    assert frame["batch"].tolist() == [16, 1]


def test_speedup_table_takes_the_faster_jax_mode_per_chain_and_batch():
    def rows(widths, batch, t_opt, t_fwd, t_rev, macs=10, base=100):
        return [
            {"engine": "matrix_free", "status": "ok", "widths": widths, "batch": batch,
             "strategy": s, "time_median_s": t, "model_macs": m,
             "model_forward_macs": base, "model_reverse_macs": 2 * base}
            for s, t, m in (("optimal", t_opt, macs), ("jacfwd", t_fwd, base),
                            ("jacrev", t_rev, 2 * base), ("forward", 1.0, base))
        ]  # fmt: skip

    frame = pd.DataFrame(
        rows("8-2-8", 1, 1.0, 8.0, 6.0) + rows("8-2-8", 4, 2.0, 10.0, 30.0)
        + [{"engine": "explicit", "status": "ok", "widths": "8-2-8", "batch": 1,
            "strategy": "optimal", "time_median_s": 1.0, "model_macs": 1,
            "model_forward_macs": 1, "model_reverse_macs": 1}]
    )  # fmt: skip
    got = speedups.table(frame)
    assert got[["widths", "batch", "baseline", "measured", "predicted"]].values.tolist() == [
        ["8-2-8", 1, "jacrev", 6.0, 10.0],
        ["8-2-8", 4, "jacfwd", 5.0, 10.0],
    ]
    assert got["fraction"].tolist() == [0.6, 0.5]
    text = speedups.format_table(got)
    assert "jacrev" in text and "6.0x" in text and "0.50" in text
    assert got["by_time"].isna().all() and "by time" not in text  # no optimal_time rows
    assert speedups.table(frame[frame["strategy"] != "jacrev"]).empty
    # The plan by predicted seconds, where it was measured: the same baseline over its time.
    by_time = frame.iloc[:1].assign(strategy="optimal_time", time_median_s=3.0)
    got = speedups.table(pd.concat([frame, by_time]))
    assert got["by_time"].fillna(0).tolist() == [2.0, 0]
    text = speedups.format_table(got, markdown=True)
    assert text.splitlines()[0].endswith("| fraction | work | of work | by time |")
    assert text.splitlines()[2].endswith("| 0.60 | 1.8x | 3.33 | 2.0x |")
    assert text.splitlines()[3].endswith("| 0.50 | 1.2x | 4.17 | - |")  # jacfwd: W1 I once
    # Long runs of one width print as w^k (the CSV keeps every width).
    long = frame.assign(widths="32-512-512-512-512-32")
    assert "| 32-512^4-32 |" in speedups.format_table(speedups.table(long), markdown=True)


def test_speedup_table_sets_the_work_the_programs_run_beside_the_mac_ratio():
    # jax.vmap leaves jacfwd's point-independent first product, W1 I, unbatched: it runs once, so
    # vmapped jacfwd runs far fewer multiply-adds than the MAC model counts.
    widths = (768, 1024, 16, 1024, 768)
    fwd = speedups.executed_macs(widths, "jacfwd", 16)
    assert fwd == 16 * speedups.executed_macs(widths, "jacfwd") - 15 * 768 * 1024 * 768
    assert fwd < 0.55 * 16 * jb.plan_matrix_free(widths, "jacfwd").macs
    assert speedups.executed_macs(widths, "jacrev", 16) == 16 * speedups.executed_macs(
        widths, "jacrev"
    )
    frame = pd.DataFrame(
        [{"engine": "matrix_free", "status": "ok", "widths": "768-1024-16-1024-768",
          "batch": 16, "strategy": s, "time_median_s": t, "model_macs": m,
          "model_forward_macs": 16 * 1_233_125_376, "model_reverse_macs": 16 * 1_233_125_376}
         for s, t, m in (("optimal", 1.0, 16 * 35_127_296), ("jacfwd", 17.0, 0),
                         ("jacrev", 30.0, 0))]
    )  # fmt: skip
    got = speedups.table(frame).iloc[0]
    assert round(got["predicted"], 1) == 35.1  # the MAC ratio
    assert got["work"] == fwd / speedups.executed_macs(widths, "optimal", 16)
    assert round(got["work"], 1) == 18.5 and got["of_work"] == 17.0 / got["work"]
    text = speedups.format_table(speedups.table(frame), markdown=True)
    assert text.splitlines()[0].endswith("| fraction | work | of work |")
    assert text.splitlines()[2].endswith("| 0.48 | 18.5x | 0.92 |")
    # Widths that are no chain leave the column empty (and out of the printed table).
    odd = speedups.table(frame.assign(widths="a-b"))
    assert odd["work"].isna().all() and "| work |" not in speedups.format_table(odd)
    # Where the MAC ratio is not a number (an optimal plan of no multiply-adds), it and its
    # fraction print as the other missing figures do.
    free = speedups.table(frame.assign(model_macs=0))
    assert free["fraction"].isna().all()
    line = speedups.format_table(free, markdown=True).splitlines()[2]
    assert line.endswith("| 17.0x | - | - | 18.5x | 0.92 |")


def test_suites_run_with_malloc_kept_for_reuse_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert harness.suite_environment()["GLIBC_TUNABLES"] == harness.MALLOC_TUNABLES
    assert harness.environment("r", "tiny")["env"]["GLIBC_TUNABLES"] == harness.MALLOC_TUNABLES
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    assert harness.suite_environment()["GLIBC_TUNABLES"] == ""


@pytest.mark.parametrize(("given", "seen"), [(None, harness.MALLOC_TUNABLES), ("", "")])
def test_a_script_runs_itself_again_with_the_suites_malloc_tunables(tmp_path, given, seen):
    import os
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(
        "import os, sys\n"
        "from jacobench.bench.harness import with_malloc_tunables\n"
        "with_malloc_tunables()\n"
        "print(repr(os.environ.get('GLIBC_TUNABLES')), sys.argv[1:])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if given is not None:
        env["GLIBC_TUNABLES"] = given
    done = subprocess.run(
        [sys.executable, str(script), "a", "b c"], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert done.stdout == f"{seen!r} ['a', 'b c']\n"


@pytest.fixture(scope="module")
def batched_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    status, written = harness.run(
        grid_name="tiny",
        engines=["matrix_free", "explicit"],
        results_dir=results,
        plots=False,
        # Compiled ahead on two threads, as beside an accelerator (off on a CPU by default).
        pytest_args=[
            "-q",
            "-k",
            "(batched or depth-depth-2-8-8-2) and not optimal_time",
            "--compile-threads=2",
            "--timing-target=0.02",
            "--warmup-seconds=0.01",
        ],
        profile=None,  # no calibration here: the time model has tests of its own
    )
    return status, pd.read_csv(written["latest"])


def test_batched_rows_beside_vmapped_jax_modes(batched_run):
    status, frame = batched_run
    assert status == 0 and (frame["status"] == "ok").all()
    batched = frame[frame["batch"] > 1]
    assert set(batched["engine"]) == {"matrix_free"}  # the explicit engine has no points
    assert set(batched["strategy"]) == set(jb.matrix_free.STRATEGIES)
    (config,) = [c for c in grid.configs("tiny") if c.batch > 1]
    for _, r in batched.iterrows():
        plan = jb.plan_matrix_free(config.widths, r["strategy"])
        assert r["batch"] == config.batch and r["sweep"] == "batched"
        assert r["model_macs"] == config.batch * plan.macs
        assert r["max_abs_error"] < 1e-4
    twin = batched["same_program_as"].fillna("") != ""
    assert (batched.loc[~twin, "compile_s"] > 0).all() and (
        batched.loc[twin, "compile_s"] == 0
    ).all()
    assert set(frame.loc[frame["batch"] == 1, "engine"]) == {"explicit", "matrix_free"}


def test_a_time_limit_skips_and_records_the_rows_it_leaves(tmp_path):
    status, written = harness.run(
        grid_name="tiny",
        engines=["explicit"],
        results_dir=tmp_path,
        plots=False,
        time_limit=0.0,
        pytest_args=["-q", "-k", "numpy and depth and not optimal_time"],
        profile=None,
    )
    frame = pd.read_csv(written["latest"])
    assert status == 0 and len(frame) == 8
    assert (frame["status"] == "skipped").all()
    assert frame["skip_reason"].str.contains(r"^time limit of 0 s reached").all()
    assert all(math.isnan(t) for t in frame["time_median_s"])


def test_paired_seconds_times_each_call_in_every_burst():
    counts = [0, 0]

    def slow():
        counts[0] += 1
        time.sleep(3e-3)

    def quick():
        counts[1] += 1

    (t_slow, t_quick), bursts = measure.paired_seconds([slow, quick], budget_s=0.0)
    assert bursts == 5  # the least, whatever the budget
    assert t_slow >= 3e-3 > t_quick
    # per burst: a warm-up, then 1 timed call of the slow one (over 2.5 ms), 20 quick ones
    assert counts == [2 + 5 * 2, 2 + 5 * 21]


def test_paired_seconds_wants_a_call():
    with pytest.raises(JacobenchError, match="at least one call"):
        measure.paired_seconds([])


def test_contest_times_optimal_time_against_the_chains_other_programs(monkeypatch):
    def program(owner, key, work, median_s=1e-4):
        p = conftest.Program(None, 0.0, owner, ("chain", "jax", key))
        p.call = lambda: sum(range(work))
        p.stats = {"time_median_s": median_s}
        return p

    fwd, rev = program("forward", "f", 2_000), program("reverse", "r", 20_000)
    other_chain = conftest.Program(None, 0.0, "forward", ("other", "jax", "f"))
    other_chain.call = lambda: None  # never timed: another chain
    mine = program("optimal_time", "t", 40_000)
    mine.stats = None  # not timed yet when its contest runs
    programs = {p.key: p for p in (fwd, rev, other_chain, mine)}
    monkeypatch.setattr(conftest, "_PROGRAMS", programs)
    monkeypatch.setitem(conftest._TIMING, "contest_s", 1e-3)  # the least: five bursts
    got = conftest.contest(mine)
    assert got["contest_winner"] == "forward" and got["contest_ratio"] > 10
    assert got["contest_bursts"] == 5
    # optimal_time running forward's own program: level with it, the winner
    got = conftest.contest(fwd)
    assert got["contest_winner"] in ("optimal_time", "forward") and got["contest_ratio"] <= 1.0
    # reverse compiled to forward's program: the program is timed once, named by a contestant
    rev_key = rev.key
    fwd.owners.append("reverse")
    programs[rev_key] = fwd
    mine.owners = ["optimal_time"]
    got = conftest.contest(mine)
    assert got["contest_winner"] == "forward" and got["contest_ratio"] > 10
    programs[rev_key] = rev
    jacfwd = program("jacfwd", "j", 0)  # the fastest, but no contestant runs it: no rival...
    jacfwd.call = lambda: None
    programs[jacfwd.key] = jacfwd
    assert conftest.contest(rev)["contest_winner"] == "forward"
    jacfwd.owners.append("optimal")  # ...until one does
    assert conftest.contest(rev)["contest_winner"] == "optimal"
    # rows too slow for five bursts in ten budgets: no contest
    rev.stats = {"time_median_s": 10.0}
    monkeypatch.setitem(conftest._TIMING, "contest_s", 0.5)
    assert conftest.contest(mine) == {}
