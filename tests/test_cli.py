import io
import json
import re
import subprocess
import sys
import types
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import cli, explicit
from jacobench._core import TIME_MARGIN
from jacobench.units import format_bytes


def run(argv, capsys):
    """main(argv) in-process: (exit status, stdout, stderr); argparse's exits count too."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def plan_json(argv, capsys):
    status, out, err = run([*argv, "--json", "--explicit"], capsys)
    assert (status, err) == (0, "")
    return json.loads(out)


@pytest.mark.parametrize(
    ("widths", "dtype", "size"),
    [
        ((1000, 1000, 10, 1000, 1000), "float32", 4),
        ((50, 5, 100, 10), "float64", 8),
        ((7, 3, 9, 2, 8, 5), "bfloat16", 2),
        ((3, 4), "float16", 2),
    ],
)
def test_table_numbers_are_the_librarys(widths, dtype, size, capsys):
    status, out, err = run(["plan", *map(str, widths), "--dtype", dtype, "--explicit"], capsys)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        f"Explicit layer Jacobians: widths {'-'.join(map(str, widths))}, {dtype} "
        f"({size} bytes per element)"
    )
    assert lines[1].split() == [
        "strategy", "multiply-adds", "peak", "bytes", "peak", "memory", "vs", "forward", "vs",
        "reverse",
    ]  # fmt: skip
    for line, name in zip(lines[2:5], ["forward", "reverse", "optimal"], strict=True):
        p = jb.plan(widths, name)
        label, macs, n_bytes, human, unit, vs_fwd, vs_rev = line.split()
        assert label == name
        assert int(macs.replace(",", "")) == p.macs
        assert int(n_bytes.replace(",", "")) == p.memory_bytes(dtype) == p.peak_elements * size
        assert f"{human} {unit}" == format_bytes(p.memory_bytes(dtype))
        assert float(vs_fwd.rstrip("x").replace(",", "")) == pytest.approx(
            p.speedup_vs_forward, rel=5e-3
        )
        assert float(vs_rev.rstrip("x").replace(",", "")) == pytest.approx(
            p.speedup_vs_reverse, rel=5e-3
        )
    assert lines[5] == f"optimal: {jb.plan(widths).formula}"
    assert len(lines) == 6


def test_widths_as_the_results_write_them(capsys):
    """``16-256-16`` (the results' ``widths`` column) reads as ``16 256 16``."""
    spaced = plan_json(["plan", "16", "256", "32", "16"], capsys)
    dashed = plan_json(["plan", "16-256-32-16"], capsys)
    mixed = plan_json(["plan", "16-256", "32", "16"], capsys)
    assert dashed == spaced == mixed
    assert dashed["widths"] == [16, 256, 32, 16]
    # A run of one width, as the reports write long chains: w^k (and as the table's title does).
    assert plan_json(["plan", "8-4^4-8"], capsys)["widths"] == [8, 4, 4, 4, 4, 8]
    status, out, _ = run(["plan", "8", "4", "4", "4", "4", "8", "--explicit"], capsys)
    assert status == 0 and out.startswith("Explicit layer Jacobians: widths 8-4^4-8, float32")
    assert plan_json(["plan", "8", "4^2", "8"], capsys)["widths"] == [8, 4, 4, 8]


def test_json_matches_plan(capsys):
    widths = (1000, 1000, 10, 1000, 1000)
    report = plan_json(["plan", *map(str, widths), "--dtype", "float64"], capsys)
    assert set(report) == {
        "widths", "dtype", "itemsize", "memory_budget_bytes", "explicit", "explicit_error",
        "explicit_skipped", "matrix_free", "matrix_free_error", "matrix_free_skipped",
        "hessian", "hessian_error", "profile",
    }  # fmt: skip
    assert report["widths"] == list(widths) and report["profile"] is None
    assert (report["dtype"], report["itemsize"], report["memory_budget_bytes"]) == (
        "float64",
        8,
        None,
    )
    assert report["matrix_free"] is None and report["hessian"] is None
    assert report["explicit_error"] is None and report["matrix_free_error"] is None
    assert report["explicit_skipped"] is None and report["matrix_free_skipped"] is None
    assert [row["strategy"] for row in report["explicit"]] == ["forward", "reverse", "optimal"]
    for row in report["explicit"]:
        p = jb.plan(widths, row["strategy"])
        assert row == {
            "strategy": p.strategy,
            "macs": p.macs,
            "peak_memory_elements": p.peak_elements,
            "peak_memory_bytes": p.memory_bytes("float64"),
            "peak_memory_human": format_bytes(p.memory_bytes("float64")),
            "speedup_vs_forward": p.speedup_vs_forward,
            "speedup_vs_reverse": p.speedup_vs_reverse,
            "formula": p.formula,
            "fits_budget": None,
            "predicted_seconds": None,
        }


def test_budget_row_and_text(capsys):
    widths = ["2", "1", "2", "6"]  # reverse: 24 MACs, 18 elements; forward: 28 MACs, 16
    status, out, err = run(["plan", *widths, "--memory-budget", "64B", "--explicit"], capsys)
    assert (status, err) == (0, "")
    assert "memory budget: 64 bytes (64 B)" in out
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines()}
    assert rows["forward"][-1] == "yes" and rows["reverse"][-1] == "no"
    assert (
        rows["optimal within budget"][3:5] == ["28", "64"]
        and rows["optimal within budget"][-1] == "yes"
    )
    assert "optimal: (J3 J2) J1" in out
    assert out.splitlines()[-1] == "optimal within budget: J3 (J2 J1)"
    report = plan_json(["plan", *widths, "--memory-budget", "64B"], capsys)
    within = report["explicit"][-1]
    assert within["strategy"] == "optimal_within_budget"
    assert within["formula"] == jb.plan((2, 1, 2, 6), memory_budget=64).formula == "J3 (J2 J1)"
    assert [row["fits_budget"] for row in report["explicit"]] == [True, False, False, True]


@given(
    st.lists(st.integers(1, 30), min_size=3, max_size=7).map(tuple),
    st.floats(0, 1),
    st.sampled_from(["float32", "float64"]),
)
@settings(max_examples=60, deadline=None)
def test_budget_between_optimal_and_forward_beats_brute_force(widths, frac, dtype):
    size = {"float32": 4, "float64": 8}[dtype]
    low, high = sorted((jb.plan(widths).peak_elements, jb.plan(widths, "forward").peak_elements))
    budget = int((low + frac * (high - low)) * size)
    buffer = io.StringIO()  # not capsys: hypothesis reruns the test inside one fixture scope
    with redirect_stdout(buffer):
        status = cli.main(
            ["plan", *map(str, widths), "--memory-budget", str(budget), "--dtype", dtype,
             "--json", "--explicit"]
        )  # fmt: skip
    assert status == 0
    within = json.loads(buffer.getvalue())["explicit"][-1]
    assert within["strategy"] == "optimal_within_budget"
    assert within["peak_memory_bytes"] <= budget and within["fits_budget"]
    n = len(widths) - 1
    fitting = [
        explicit.cost(widths, t)
        for t in explicit.trees(n)
        if explicit.memory(widths, t) * size <= budget
    ]
    assert within["macs"] <= min(fitting)
    assert within["macs"] == jb.plan(widths, memory_budget=budget, dtype=dtype).macs


WIDTHS_ARE = "widths are positive integers d_0 d_1 ... d_L"

BAD = [
    (["plan", "3"], "need at least two widths d_0 d_1 (one layer), got 1: 3"),
    (["plan"], "need at least two widths d_0 d_1 (one layer), got 0: none"),
    (["plan", "3", "x", "4"], f"width d_1 = 'x' is not an integer; {WIDTHS_ARE}"),
    (["plan", "3", "4.5"], f"width d_1 = '4.5' is not an integer; {WIDTHS_ARE}"),
    (["plan", "3", "0", "4"], f"width d_1 = 0 is not positive; {WIDTHS_ARE}"),
    (["plan", "3", "-2", "4"], f"width d_1 = -2 is not positive; {WIDTHS_ARE}"),
    (["plan", "3-0-4"], f"width d_1 = 0 is not positive; {WIDTHS_ARE}"),
    (["plan", "3-x-4"], f"width d_0 = '3-x-4' is not an integer; {WIDTHS_ARE}"),
    (["plan", "3--4"], f"width d_0 = '3--4' is not an integer; {WIDTHS_ARE}"),
    (["plan", "7-"], f"width d_0 = '7-' is not an integer; {WIDTHS_ARE}"),
    (["plan", "4^0"], "width run '4^0' repeats 0 times; w^k repeats w from 1 to 100,000 times"),
    (["plan", "3-4^100001"], "width run '4^100001' repeats too often; w^k repeats w from 1 to"),
    (["plan", "2^2^2"], f"width d_0 = '2^2^2' is not an integer; {WIDTHS_ARE}"),
    (
        ["plan", "3", "4", "--memory-budget", "2XB"],
        "memory size '2XB' is not understood; expected a number of bytes such as 100000",
    ),
    (["plan", "3", "4", "--memory-budget", "-1"], "memory size '-1' is not understood"),
    (
        ["plan", "3", "4", "--dtype", "float33"],
        "unknown dtype 'float33'; expected a numeric dtype name",
    ),
    (
        ["plan", "1000", "1000", "10", "1000", "1000", "--memory-budget", "1MiB"],
        "no bracketing fits widths (1000, 1000, 10, 1000, 1000) in the memory budget of "
        "1,048,576 bytes (1 MiB) with float32 elements; the smallest budget that fits is "
        "4,080,000 bytes (3.9 MiB)",
    ),
    (
        ["plan", "3", "4", "--explicit", "--matrix-free"],
        "argument --matrix-free: not allowed with argument --explicit",
    ),
    (["plan", "3", "4", "--bogus"], "unrecognized arguments: --bogus"),
    (["frob"], "argument COMMAND: invalid choice: 'frob'"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2
    assert out == ""
    assert err.endswith("\n") and len(err.splitlines()) == 1
    assert err.startswith(f"jacobench: error: {message}")
    assert "Traceback" not in err


def test_both_engines_plan_within_the_budget(capsys):
    widths = (1000, 1000, 10, 1000, 1000)
    status, out, err = run(["plan", *map(str, widths), "--memory-budget", "5MB"], capsys)
    assert (status, err) == (0, "")
    assert out.count("memory budget: 5,000,000 bytes (4.77 MiB)") == 2
    report = json.loads(
        run(["plan", *map(str, widths), "--memory-budget", "5MB", "--json"], capsys)[1]
    )
    for key, planner in [("explicit", jb.plan), ("matrix_free", jb.plan_matrix_free)]:
        within = report[key][-1]
        p = planner(widths, memory_budget=5_000_000)
        assert within["strategy"] == "optimal_within_budget" and within["fits_budget"]
        assert (within["macs"], within["formula"]) == (p.macs, p.formula)
        assert f"optimal within budget: {p.formula}" in out


def no_fit_message(planner, widths, budget):
    """The library's message for a budget that no plan of ``planner`` fits."""
    with pytest.raises(jb.JacobenchError, match="fits widths") as info:
        planner(widths, memory_budget=budget)
    return str(info.value)


FOUR_MIB = (100, 10000, 10000, 1000, 40000, 1000)  # explicit needs 4.58 MiB, matrix-free 0.7 MiB

ONE_ENGINE_FITS = [  # (widths, budget, the engine nothing fits, the engine that fits)
    (FOUR_MIB, "4MiB", "explicit", "matrix_free"),
    ((2, 1, 2, 6), "64B", "matrix_free", "explicit"),  # explicit needs 64 B, matrix-free 80 B
]


@pytest.mark.parametrize(("widths", "budget", "bad", "good"), ONE_ENGINE_FITS)
def test_an_engine_nothing_fits_gets_a_line_not_an_error(widths, budget, bad, good, capsys):
    status, out, err = run(["plan", *map(str, widths), "--memory-budget", budget], capsys)
    assert (status, err) == (0, "")
    sections = dict(zip(["explicit", "matrix_free"], out.split("\n\n"), strict=True))
    message = no_fit_message(cli.ENGINES[bad], widths, budget)
    bad_lines = sections[bad].splitlines()
    assert bad_lines[-1] == f"{bad.replace('_', '-')}: {message}"
    assert [line.split("  ")[0] for line in bad_lines[3:6]] == ["forward", "reverse", "optimal"]
    assert "optimal within budget" not in sections[bad]
    fit = cli.ENGINES[good](widths, memory_budget=budget)
    assert sections[good].splitlines()[-1] == f"optimal within budget: {fit.formula}"
    assert f"{good.replace('_', '-')}: " not in sections[good]


@pytest.mark.parametrize(("widths", "budget", "bad", "good"), ONE_ENGINE_FITS)
def test_an_engine_nothing_fits_in_json(widths, budget, bad, good, capsys):
    argv = ["plan", *map(str, widths), "--memory-budget", budget, "--json"]
    status, out, err = run(argv, capsys)
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report[f"{bad}_error"] == no_fit_message(cli.ENGINES[bad], widths, budget)
    assert [row["strategy"] for row in report[bad]] == ["forward", "reverse", "optimal"]
    assert report[f"{good}_error"] is None
    within = report[good][-1]
    fit = cli.ENGINES[good](widths, memory_budget=budget)
    assert within["strategy"] == "optimal_within_budget" and within["fits_budget"]
    assert (within["macs"], within["formula"]) == (fit.macs, fit.formula)


@pytest.mark.parametrize(
    ("argv", "engines"),
    [
        (["plan", *map(str, FOUR_MIB), "--memory-budget", "4MiB", "--explicit"], ["explicit"]),
        (["plan", "2", "1", "2", "6", "--memory-budget", "64B", "--matrix-free"], ["matrix_free"]),
        (
            ["plan", "1000", "1000", "10", "1000", "1000", "--memory-budget", "1MiB"],
            list(cli.ENGINES),
        ),
        (["plan", "2", "1", "2", "6", "--memory-budget", "32B", "--json"], list(cli.ENGINES)),
    ],
)
def test_a_budget_no_engine_asked_for_fits_is_an_error(argv, engines, capsys):
    widths = tuple(int(a) for a in argv[1:] if a.isdigit())
    budget = argv[argv.index("--memory-budget") + 1]
    messages = [no_fit_message(cli.ENGINES[key], widths, budget) for key in engines]
    assert run(argv, capsys) == (2, "", f"jacobench: error: {'; '.join(messages)}\n")


def test_bench_and_plot_forward_their_arguments(monkeypatch, capsys):
    seen = {}
    for command, name in cli.FORWARDED.items():
        module = types.ModuleType(name)
        module.main = lambda argv, command=command: seen.setdefault(command, argv) and 3
        monkeypatch.setitem(sys.modules, name, module)
    assert run(["bench", "--quick", "-k", "x"], capsys)[0] == 3
    assert run(["plot", "--help"], capsys)[0] == 3
    assert seen == {"bench": ["--quick", "-k", "x"], "plot": ["--help"]}


@pytest.mark.parametrize("command", ["bench", "plot"])
@pytest.mark.parametrize("absent", ["pandas", "matplotlib"])
def test_bench_and_plot_without_the_bench_extra_say_how_to_install_it(
    command, absent, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, absent, None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, cli.FORWARDED[command], raising=False)  # import it afresh
    assert run([command, "--grid", "tiny"], capsys) == (
        2,
        "",
        f"jacobench: error: 'jacobench {command}' needs {absent}, which is not installed; "
        "install the benchmark tools with: pip install 'jacobench[bench]'\n",
    )


def test_bench_names_every_missing_module(monkeypatch, capsys):
    for name in ("pytest_benchmark", "pandas"):
        monkeypatch.setitem(sys.modules, name, None)
    status, out, err = run(["bench"], capsys)
    assert (status, out) == (2, "")
    assert "needs pandas, pytest_benchmark, which are not installed" in err


# Real processes --------------------------------------------------------------------------------


def run_process(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_python_dash_m_prints_the_same_table_as_main(capsys):
    argv = ["plan", "1000", "1000", "10", "1000", "1000", "--explicit"]
    done = run_process(sys.executable, "-m", "jacobench", *argv)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == run(argv, capsys)[1]
    assert "optimal: (J4 J3) (J2 J1)" in done.stdout


def test_one_engine_fitting_is_enough_in_a_real_process(capsys):
    argv = ["plan", *map(str, FOUR_MIB), "--memory-budget", "4MiB"]
    done = run_process(sys.executable, "-m", "jacobench", *argv)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == run(argv, capsys)[1]
    assert "explicit: no bracketing fits" in done.stdout
    assert "optimal within budget: jvp(J5 J4 J3 J2 J1, batch=16)" in done.stdout


def test_installed_script_prints_json():
    script = Path(sys.executable).parent / "jacobench"
    assert script.is_file()
    done = run_process(str(script), "plan", "50", "5", "100", "10", "--json")
    assert done.returncode == 0
    rows = json.loads(done.stdout)["explicit"]
    assert [(r["strategy"], r["macs"]) for r in rows] == [
        ("forward", 75_000),
        ("reverse", 7_500),
        ("optimal", 7_500),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "3", "x"], "width d_1 = 'x' is not an integer"),
        (["plan", "3", "--bogus"], "unrecognized"),
    ],
)
def test_bad_input_in_a_real_process(argv, message):
    done = run_process(sys.executable, "-m", "jacobench", *argv)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert re.match(f"jacobench: error: {re.escape(message)}", done.stderr)


def test_a_reader_that_stops_early_gets_no_traceback(closed_early):
    assert closed_early("-m", "jacobench", "plan", "3", "4", "5") == (141, "")


def test_readme_shows_real_output(capsys):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```text\n(.*?)```", readme, flags=re.DOTALL)
    shown = {}
    for block in blocks:
        for chunk in block.split("$ jacobench ")[1:]:
            command, _, output = chunk.partition("\n")
            shown[command] = output
    assert len(shown) >= 3
    for command, output in shown.items():
        status, out, err = run(command.split(), capsys)
        assert (out + err).splitlines() == output.splitlines()
        assert status == (2 if err else 0)


# --- second order: jacobench plan ... --hessian ------------------------------------------------


def test_hessian_table_numbers_are_the_librarys(capsys):
    widths = (512, 512, 8, 512, 512, 512, 512, 1)
    status, out, err = run(["plan", *map(str, widths), "--hessian", "--dtype", "float64"], capsys)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "Second order (Hessian-vector products and Hessians): widths 512-512-8-512^4-1, "
        "float64 (8 bytes per element)"
    )
    assert lines[-1] == "optimal: hess(J2 J1, seed=hess(J7 J6 J5 J4 J3))"
    body = {tuple(line.split()[:2]): line.split()[2:] for line in lines[2:-1]}
    for mode in jb.second_order.HVP_STRATEGIES:
        p = jb.plan_hvp(widths, mode)
        assert body[("hvp", mode)][:3] == [
            f"{p.macs:,}",
            f"{p.memory_bytes('float64'):,}",
            *format_bytes(p.memory_bytes("float64")).split()[:1],
        ]
    for name in jb.second_order.STRATEGIES:
        p = jb.plan_hessian(widths, name)
        cells = body[("hessian", name)]
        assert cells[0] == f"{p.macs:,}" and cells[1] == f"{p.memory_bytes('float64'):,}"
        assert cells[-1] == f"{p.speedup_vs_jax_hessian:.3g}x"
    assert body[("hessian", "optimal")][-1] == "3.78x"


def test_hessian_json_and_budget_row(capsys):
    widths = ["8", "2", "16", "2", "16", "1"]
    status, out, err = run(
        ["plan", *widths, "--hessian", "--json", "--memory-budget", "760"], capsys
    )
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["explicit"] is None and report["matrix_free"] is None
    assert report["hessian_error"] is None
    rows = {(r["kind"], r["strategy"]): r for r in report["hessian"]}
    assert len(rows) == 3 + len(jb.second_order.STRATEGIES) + 1
    within = rows[("hessian", "optimal_within_budget")]
    assert within["formula"] == "hess(J1, seed=hess(J3 J2, seed=hess(J5 J4)))"
    assert within["peak_memory_bytes"] == 760 and within["fits_budget"] is True
    assert rows[("hessian", "optimal")]["fits_budget"] is False
    assert rows[("hvp", "rev-over-rev")]["speedup_vs_jax_hessian"] is None
    assert rows[("hessian", "jax.hessian")]["speedup_vs_jax_hessian"] == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["plan", "4", "4", "3", "--hessian"],
            "second order needs a scalar function, but the last width d_L is 3 (widths (4, 4, 3)), "
            "expected 1; sum the outputs or pick one",
        ),
        (
            ["plan", "8", "2", "16", "2", "16", "1", "--hessian", "--memory-budget", "700"],
            "no Hessian plan fits widths (8, 2, 16, 2, 16, 1) in the memory budget of 700 bytes "
            "(700 B) with float32 elements; the smallest budget that fits is 760 bytes (760 B)",
        ),
        (
            ["plan", "4", "1", "--hessian", "--explicit"],
            "argument --explicit: not allowed with argument --hessian",
        ),
    ],
)
def test_hessian_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    status, out, err = run(argv, capsys)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"jacobench: error: {message}")


# --- predicted time (--profile) ---------------------------------------------------------------


def test_profile_adds_predicted_time_and_the_time_optimal_plan(tmp_path, capsys):
    from jacobench.timing import DeviceProfile, predict_seconds, save

    device = DeviceProfile.uniform(flops=1e9, bandwidth=1e10, op_overhead_s=1e-6)
    path = save(device, tmp_path / "device.json")
    widths = (64, 64, 512, 64)
    argv = ["plan", *map(str, widths), "--profile", str(path)]
    status, out, err = run([*argv, "--json"], capsys)
    assert status == 0
    note = f"jacobench: note: the device profile {path} is not this machine's as it is now"
    assert err.startswith(f"{note} (it was measured on 'synthetic', this is '")
    assert err.endswith("its predicted seconds are for the device and versions it names\n")
    report = json.loads(out)
    assert report["profile"] == {"device": "synthetic", "date": "", "path": str(path)}
    for engine, planner in (("explicit", jb.plan), ("matrix_free", jb.plan_matrix_free)):
        rows = report[engine]
        names = ["forward", "reverse", "optimal", "optimal_time"]
        assert [row["strategy"] for row in rows] == names
        for row in rows[:3]:
            assert row["predicted_seconds"] == predict_seconds(
                planner(widths, row["strategy"]), device
            )
        fastest = planner(widths, objective="time", profile=device)
        assert rows[3]["formula"] == fastest.formula
        assert rows[3]["predicted_seconds"] == predict_seconds(fastest, device)
        least = min(row["predicted_seconds"] for row in rows)
        assert rows[3]["predicted_seconds"] <= (1 + TIME_MARGIN) * least
    # A tie in multiply-adds, broken by what the executor skips (an identity seed's product).
    assert report["matrix_free"][2]["formula"] == "jvp(J3 J2 J1)"
    assert report["matrix_free"][3]["formula"] == "vjp(J3 J2 J1)"
    status, out, err = run(argv, capsys)
    assert status == 0 and err.count("\n") == 1 and "not this machine's" in err
    lines = out.splitlines()
    assert lines[1] == f"predicted time: JAX on synthetic (profile {path})"
    assert lines[2].split()[-2:] == ["predicted", "time"]
    assert "optimal time: vjp(J3 J2 J1)" in lines


def test_a_profile_of_this_machine_as_it_is_gets_no_note(tmp_path, capsys):
    import dataclasses

    from jacobench.timing import DeviceProfile, save
    from jacobench.timing.profile import device_fields

    here = device_fields()
    device = dataclasses.replace(
        DeviceProfile.uniform(flops=1e9, bandwidth=1e10),
        **{k: here[k] for k in ("device", "platform", "jax_version", "jaxlib_version")},
        **{k: here[k] for k in ("numpy_version", "matmul_precision")},
    )
    path = save(device, tmp_path / "here.json")
    status, out, err = run(["plan", "3", "4", "5", "--profile", str(path)], capsys)
    assert (status, err) == (0, "")
    older = save(dataclasses.replace(device, jax_version="0.0.1"), tmp_path / "older.json")
    status, out, err = run(["plan", "3", "4", "5", "--profile", str(older)], capsys)
    assert status == 0 and out.count(f"predicted time: JAX on {here['device']}") == 2
    assert err == (
        f"jacobench: note: the device profile {older} is not this machine's as it is now (it was "
        f"measured with jax 0.0.1, this is jax {here['jax_version']}); its predicted seconds are "
        "for the device and versions it names\n"
    )


def test_profile_says_when_the_time_optimal_plan_is_a_near_tie(tmp_path, capsys):
    from jacobench.timing import DeviceProfile, save
    from jacobench.timing.predict import CLEAR_GAP

    device = DeviceProfile.uniform(flops=1e9, bandwidth=1e10, op_overhead_s=1e-6)
    path = save(device, tmp_path / "device.json")
    # Forward and reverse tie on 32-512-512-32: the table says so, naming the other plan.
    status, out, _ = run(
        ["plan", "32", "512", "512", "32", "--explicit", "--profile", str(path)], capsys
    )
    ties = [line for line in out.splitlines() if line.startswith("near tie: ")]
    assert status == 0 and len(ties) == 1
    gap = float(ties[0].split("only ")[1].split("x")[0])
    assert 1 <= gap < CLEAR_GAP and "slower than optimal time" in ties[0]
    # The hourglass's optimal plan is far ahead of forward and reverse: no such line.
    argv = ["plan", "1000", "1000", "10", "1000", "1000", "--profile", str(path)]
    status, out, _ = run(argv, capsys)
    assert status == 0 and "near tie" not in out


def test_profile_and_budget_give_the_time_optimal_plan_within_it(tmp_path, capsys):
    from jacobench.timing import DeviceProfile, save

    device = DeviceProfile.uniform(flops=1e9, bandwidth=1e9, op_overhead_s=1e-3)
    path = save(device, tmp_path / "device.json")
    argv = ["plan", "256", "256", "256", "--memory-budget", "300KiB", "--matrix-free"]
    status, out, _ = run([*argv, "--profile", str(path), "--json"], capsys)
    assert status == 0
    rows = {row["strategy"]: row for row in json.loads(out)["matrix_free"]}
    within = rows["optimal_time_within_budget"]
    assert within["fits_budget"] and not rows["optimal_time"]["fits_budget"]
    expected = jb.plan_matrix_free(
        (256, 256, 256), memory_budget="300KiB", objective="time", profile=device
    )
    assert within["formula"] == expected.formula


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "is not valid JSON"), ('{"format": 1}', "has no field 'device'")],
)
def test_a_bad_profile_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    status, out, err = run(["plan", "3", "4", "--profile", str(path)], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("jacobench: error: device profile") and message in err


def test_calibrate_command_saves_a_profile(tmp_path, capsys):
    from jacobench.timing import load

    path = tmp_path / "here.json"
    argv = ["calibrate", "--quick", "--backend", "numpy", "--dtype", "float32", "--output"]
    status, out, err = run([*argv, str(path)], capsys)
    assert status == 0 and out.splitlines()[-1] == f"saved to {path}"
    assert "calibrating 100%" in err
    p = load(path)
    assert [b.backend for b in p.backends] == ["numpy"] and p.dtypes == ("float32",)
