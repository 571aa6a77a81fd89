"""Issue 10, "Hardening": chains of any length, numbers of any size, odd inputs.

Each test reproduces one probe of the issue (they fail on the commit before the fix).
"""

import contextlib
import json
import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import _core, cli, explicit
from jacobench import matrix_free as mf
from jacobench._text import any_int_digits, int_text, ratio, ratio_text, show
from jacobench.errors import SlowPlanningWarning
from jacobench.explicit import model
from jacobench.explicit import search as explicit_search
from jacobench.matrix_free import Node, dynamic
from jacobench.matrix_free.model import costs_of

DEEP = 10_000


def run(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def push_chain(n_layers):
    """``jvp(J_L, seed=jvp(... seed=jvp(J1)))``: a matrix-free plan ``n_layers`` deep."""
    tree = Node("tangents", 1, 1)
    for k in range(2, n_layers + 1):
        tree = Node("push", 1, k, (tree,))
    return tree


# --- 1. no recursion over chain length ----------------------------------------------------------


@pytest.mark.parametrize("name", ["forward", "reverse", "balanced"])
def test_ten_thousand_layer_explicit_plans_print_compare_and_hash(name):
    widths = (3,) * (DEEP + 1)
    p = jb.plan(widths, name)
    assert p.macs == 27 * (DEEP - 1)
    assert p.formula.count("J") == DEEP and str(p).count("\n") > DEEP
    assert repr(p).startswith("Plan(widths=(3, 3,")
    again = jb.plan(widths, p.tree)  # a custom tree as deep, planned twice: cached by key
    assert again is jb.plan(widths, model.tree_from_key(model.tree_key(p.tree)))
    assert again == jb.plan(widths, p.tree) and hash(again) == hash(jb.plan(widths, p.tree))
    assert again.macs == p.macs and again != p  # "custom" versus the registered name


def test_a_valid_deep_tree_works_on_every_call_and_an_invalid_one_is_refused():
    tree = model.forward_tree(3000)
    for _ in range(2):  # the second call used to compare nested tuples: RecursionError
        assert jb.plan((3,) * 3001, tree).macs == 27 * 2999
    broken = (tree[0], (tree[1], 0))
    with pytest.raises(jb.JacobenchError, match=r"bracket \(3000, \(\(2999, .*\.\.\."):
        jb.plan((3,) * 3002, broken)


def test_ten_thousand_layer_matrix_free_plans():
    widths = (3,) * (DEEP + 1)
    tree = push_chain(DEEP)
    p = jb.plan_matrix_free(widths, tree)
    assert p.macs == mf.cost(widths, tree) == 3 * 9 * DEEP
    assert p.formula.count("seed=") == DEEP - 1
    assert len(p.steps) == DEEP and str(p).count("\n") > DEEP
    assert repr(tree).count("Node(") == DEEP
    small = push_chain(3)
    assert eval(repr(small)) == small and repr(small) == (  # the dataclass repr
        "Node(op='push', lo=1, hi=3, children=(Node(op='push', lo=1, hi=2, children=("
        "Node(op='tangents', lo=1, hi=1, children=(), batch=None),), batch=None),), batch=None)"
    )
    assert jb.plan_matrix_free(widths, push_chain(DEEP)) is p  # equal, hashed by a flat key
    for name in ("forward", "reverse"):
        q = jb.plan_matrix_free(widths, name)
        assert str(q) and repr(q) and hash(q) and q == q


@pytest.mark.filterwarnings("ignore::jacobench.errors.SlowPlanningWarning")
def test_matrix_free_explicit_strategy_on_a_deep_chain():
    p = jb.plan_matrix_free((2,) * 1201, "explicit")  # used to end in RecursionError
    assert p.macs == mf.cost((2,) * 1201, p.tree) and p.formula.count("@") == 1199


def test_a_deep_plan_runs():
    n = 1100  # beyond the default recursion limit of 1000
    net = jb.Chain([lambda h: 0.5 * h] * n, (1,) * (n + 1))
    jac = jb.jacobian(net, jnp.ones(1), jb.plan_matrix_free(net.widths, push_chain(n)))
    assert jac.shape == (1, 1) and float(jac[0, 0]) == pytest.approx(0.5**n, rel=1e-12)


def test_the_cli_answers_for_ten_thousand_layers(capsys):
    widths = ["3"] * (DEEP + 1)
    status, out, err = run(["plan", *widths], capsys)
    assert status == 0 and err == ""
    assert "explicit: optimal not planned: expected to take about" in out
    assert "matrix-free: optimal not planned: expected to take about" in out
    assert "over --time-limit 60 s" in out
    status, out, err = run(["plan", *widths, "--json", "--explicit"], capsys)
    report = json.loads(out)
    assert [row["strategy"] for row in report["explicit"]] == ["forward", "reverse"]
    assert report["explicit"][0]["macs"] == 27 * (DEEP - 1)
    assert report["explicit_skipped"].startswith("optimal not planned")


# --- 2. planning speed, exactly as before -------------------------------------------------------


def reference_matrix_free(d, costs):
    """The pure-Python matrix-free program the vectorised one replaced: formula of the winner."""
    n = len(d) - 1
    acts = [0] * (n + 2)
    for k in range(n + 1):
        acts[k + 1] = acts[k] + d[k]
    pair = [[0] * (n + 1) for _ in range(n + 2)]
    for i in range(1, n + 1):
        for j in range(i, n + 1):
            pair[i][j] = max(d[k - 1] + d[k] for k in range(i, j + 1))
    best = {}
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj = d[i - 1], d[j]
            act = acts[j + 1] - acts[i - 1]
            cands = [
                (costs.tangents(di, i, j), 1, (1 + di) * pair[i][j], ("tangents",)),
                (costs.adjoints(dj, i, j), 1, act + dj * pair[i][j], ("adjoints",)),
            ]
            for k in range(i, j):
                ml, nl, pl, _ = best[k + 1, j]
                mr, nr, pr, _ = best[i, k]
                dk = d[k]
                peak = _core.lower_peak_first(pl, dj * dk, pr, dk * di, dj * di)[0]
                cands.append((ml + mr + costs.multiply(dj, dk, di), nl + nr + 1, peak, ("mul", k)))
                push = max(pr, (1 + di) * pair[k + 1][j])
                pushed = costs.tangents(di, k + 1, j, seeded=True)
                cands.append((mr + pushed, nr + 1, push, ("push", k)))
                pull = max(pl, acts[k + 1] - acts[i - 1] + dj * pair[i][k])
                pulled = costs.adjoints(dj, i, k, seeded=True)
                cands.append((ml + pulled, nl + 1, pull, ("pull", k)))
            best[i, j] = min(cands, key=lambda c: c[:3])  # min keeps the first of equals

    def write(i, j):  # small chains only: recursion is fine here
        how = best[i, j][3]
        if how[0] == "tangents":
            return f"T{i}-{j}"
        if how[0] == "adjoints":
            return f"A{i}-{j}"
        k = how[1]
        if how[0] == "mul":
            return f"({write(k + 1, j)} @ {write(i, k)})"
        if how[0] == "push":
            return f"push{k + 1}-{j}({write(i, k)})"
        return f"pull{i}-{k}({write(k + 1, j)})"

    return write(1, n)


def written(tree):
    """A plan in :func:`reference_matrix_free`'s notation."""
    if tree.op == "tangents":
        return f"T{tree.lo}-{tree.hi}"
    if tree.op == "adjoints":
        return f"A{tree.lo}-{tree.hi}"
    k = tree.split
    if tree.op == "multiply":
        return f"({written(tree.children[0])} @ {written(tree.children[1])})"
    if tree.op == "push":
        return f"push{k + 1}-{tree.hi}({written(tree.children[0])})"
    return f"pull{tree.lo}-{k}({written(tree.children[0])})"


small_widths = st.lists(st.integers(1, 4), min_size=2, max_size=16).map(tuple)  # many ties
any_widths = st.lists(st.integers(1, 3000), min_size=2, max_size=14).map(tuple)


@settings(max_examples=60, deadline=None)
@given(st.one_of(small_widths, any_widths), st.sampled_from([1, 10**15]))
def test_vectorised_matrix_free_program_equals_the_reference(widths, scale):
    d = tuple(w * scale for w in widths)  # 10**15: object arrays (exact Python ints)
    costs = costs_of(d)
    assert written(dynamic.cheapest(d, costs)) == reference_matrix_free(d, costs)


@settings(max_examples=30, deadline=None)
@given(small_widths, st.data())
def test_vectorised_program_with_layer_costs_equals_the_reference(widths, data):
    n = len(widths) - 1
    layer = tuple(data.draw(st.tuples(st.integers(0, 30), st.integers(0, 30))) for _ in range(n))
    costs = costs_of(widths, layer)
    assert written(dynamic.cheapest(widths, costs)) == reference_matrix_free(widths, costs)


class SecondsCosts:
    """A cost object in seconds (floats), as another objective plugs in: the seam.

    A pass seeded by a child's result (push, pull) costs more than one with an identity seed;
    ``prices_passes`` asks the planners to say which (``model.pass_cost``), as the time model's
    costs do. Without it they are asked the identity-seeded price alone.
    """

    prices_passes = True

    def __init__(self, d):
        self.macs = costs_of(d)

    def __hash__(self):
        return hash(self.macs)

    def __eq__(self, other):
        return isinstance(other, SecondsCosts) and other.macs == self.macs

    def tangents(self, w, lo, hi, batch=None, *, seeded=False):
        return 1e-9 * self.macs.tangents(w, lo, hi) + (5e-6 if seeded else 2e-6)

    def adjoints(self, w, lo, hi, batch=None, *, seeded=False):
        return 1.5e-9 * self.macs.adjoints(w, lo, hi) + (6e-6 if seeded else 3e-6)

    def multiply(self, m, k, n):
        return 0.5e-9 * self.macs.multiply(m, k, n) + 1e-6


@settings(max_examples=25, deadline=None)
@given(any_widths)
def test_a_cost_object_in_seconds_plugs_into_the_program(widths):
    costs = SecondsCosts(widths)
    assert written(dynamic.cheapest(widths, costs)) == reference_matrix_free(widths, costs)


def reference_least_peak(d):
    """The matrix-free least peak, from every batch size (no closed forms)."""
    from jacobench.matrix_free.model import adjoint_pass_peak, tangent_pass_peak
    from jacobench.matrix_free.tree import batch_sizes

    n = len(d) - 1

    def pair(i, j):
        return max(d[k - 1] + d[k] for k in range(i, j + 1))

    best = {}
    for length in range(1, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            di, dj, act = d[i - 1], d[j], sum(d[i - 1 : j + 1])
            peak = min(tangent_pass_peak(pair(i, j), di, b, dj, 0) for b in batch_sizes(di))
            peak = min(
                peak, *(adjoint_pass_peak(act, pair(i, j), dj, b, di, 0) for b in batch_sizes(dj))
            )
            for k in range(i, j):
                dk, pl, pr = d[k], best[k + 1, j], best[i, k]
                push = min(
                    tangent_pass_peak(pair(k + 1, j), di, b, dj, dk) for b in batch_sizes(di)
                )
                act_k = sum(d[i - 1 : k + 1])
                pull = min(
                    adjoint_pass_peak(act_k, pair(i, k), dj, b, di, dk) for b in batch_sizes(dj)
                )
                mult = _core.lower_peak_first(pl, dj * dk, pr, dk * di, dj * di)[0]
                peak = min(peak, mult, max(pr, push), max(pl, pull))
            best[i, j] = peak
    return best[1, n]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.one_of(small_widths, any_widths))
def test_vectorised_least_peaks_equal_the_references(widths):
    assert mf.min_peak(widths) == reference_least_peak(widths)
    trees = list(explicit.trees(len(widths) - 1)) if len(widths) <= 8 else []
    if trees:
        assert explicit.min_peak(widths) == min(explicit.memory(widths, t) for t in trees)


def reference_explicit(d):
    """The matrix-chain program in plain Python, ties to the lowest split."""
    n = len(d) - 1
    cost, split = {(i, i): 0 for i in range(1, n + 1)}, {}
    for length in range(2, n + 1):
        for lo in range(1, n - length + 2):
            hi = lo + length - 1
            cost[lo, hi], split[lo, hi] = min(
                (cost[lo, k] + cost[k + 1, hi] + d[hi] * d[k] * d[lo - 1], k) for k in range(lo, hi)
            )

    def tree(lo, hi):
        if lo == hi:
            return lo
        k = split[lo, hi]
        return (tree(k + 1, hi), tree(lo, k))

    return tree(1, n)


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(small_widths, st.lists(st.integers(1, 5000), min_size=2, max_size=40).map(tuple)),
    st.sampled_from([1, 10**20]),
)
def test_vectorised_explicit_program_equals_the_reference(widths, scale):
    d = tuple(w * scale for w in widths)  # 10**20: exact Python ints
    assert explicit_search.cheapest(d) == reference_explicit(d)


def test_a_slow_planning_step_says_so_before_it_starts():
    for planner in (jb.plan, jb.plan_matrix_free, explicit.min_peak, mf.min_peak):
        with warnings.catch_warnings():
            warnings.simplefilter("error", SlowPlanningWarning)
            with pytest.raises(SlowPlanningWarning, match=r"of 10,000 layers: expected to take"):
                planner((5,) * (DEEP + 1))  # nothing is computed: the note comes first


def test_the_announcement_threshold_is_one_second(monkeypatch):
    assert _core.ANNOUNCE_SECONDS == 1.0
    monkeypatch.setattr(_core, "ANNOUNCE_SECONDS", 0.0)
    widths = (7, 3, 9, 2, 8, 5, 11)  # not planned before in this module
    with pytest.warns(SlowPlanningWarning, match=r"cheapest bracketing of 6 layers"):
        jb.explicit.optimal(widths)
    with pytest.warns(SlowPlanningWarning, match=r"cheapest matrix-free plan of 6 layers"):
        jb.matrix_free.optimal(widths)
    budget = 4 * (jb.plan(widths).peak_elements - 1)  # below optimal's peak: the budgeted DP
    with (
        pytest.warns(SlowPlanningWarning, match=r"within the budget"),
        contextlib.suppress(jb.JacobenchError),  # fits or not, the note came first
    ):
        jb.plan(widths, memory_budget=budget)


def test_the_cli_prints_the_note_as_one_line_before_planning(monkeypatch, capsys):
    monkeypatch.setattr(_core, "ANNOUNCE_SECONDS", 0.0)
    status, _, err = run(["plan", "5", "7", "2", "9", "4", "6", "--explicit"], capsys)
    assert status == 0
    assert err == (
        "jacobench: note: planning the cheapest bracketing of 5 layers: expected to take about "
        "1 s\n"
    )


@pytest.mark.parametrize("engine", ["--explicit", "--matrix-free"])
def test_the_time_limit_skips_a_step_expected_to_take_longer(engine, capsys):
    argv = ["plan", "5", "7", "2", "9", engine, "--time-limit", "1e-12"]
    status, out, err = run(argv, capsys)
    assert status == 0 and err == ""
    assert "optimal not planned: expected to take about 1 s for 3 layers, over --time-limit" in out
    assert not any(line.startswith("optimal ") for line in out.splitlines())
    status, out, _ = run([*argv[:-2], "--time-limit", "0", "--memory-budget", "1GB"], capsys)
    assert status == 0 and "optimal within budget" in out and "not planned" not in out
    status, _, err = run([*argv[:-2], "--time-limit", "-1"], capsys)
    assert status == 2 and "--time-limit -1 is not a number of seconds >= 0" in err


# --- 3. ratios and huge integers ----------------------------------------------------------------


def test_ratios_beyond_the_float_range():
    assert ratio(10**310, 1) == math.inf and ratio(10**400, 10**399) == 10.0
    assert ratio_text(10**310, 3) == "3.33e+309" and ratio_text(1, 10**400) == "1e-400"
    p = jb.plan((10**310, 1, 10**310, 1), "reverse")
    assert p.speedup_vs_forward == math.inf and p.speedup_vs_reverse == 1.0
    assert "Speedup vs forward:    1e+310x" in str(p)


def test_the_cli_with_widths_beyond_the_float_range(capsys):
    widths = [str(10**310), "1", str(10**310), "1"]
    status, out, err = run(["plan", *widths, "--explicit"], capsys)
    assert status == 0 and err == ""
    forward, reverse = (line.split() for line in out.splitlines()[2:4])
    assert forward[0] == "forward" and int(forward[1].replace(",", "")) == 2 * 10**620
    assert reverse[0] == "reverse" and int(reverse[1].replace(",", "")) == 2 * 10**310
    vs_forward, vs_reverse = reverse[5:7]  # after "peak memory", e.g. "1.73 PiB"
    assert vs_forward == f"{10**310:,}x" and vs_reverse == "1x"  # exact, no exponent
    status, out, err = run(["plan", *widths, "--json"], capsys)
    rows = json.loads(out)["explicit"]
    assert rows[1]["strategy"] == "reverse" and rows[1]["speedup_vs_forward"] is None
    assert rows[0]["macs"] == 2 * 10**620


def test_integers_over_4300_digits_in_text_json_and_messages(capsys):
    big = 10**5000 - 1
    p = jb.plan((big, 2, big))
    assert int_text(p.macs, grouped=False) in repr(p) and int_text(p.macs) in str(p)
    text = int_text(big, grouped=False)  # str(big) raises
    status, out, err = run(["plan", text, "2", text, "--json"], capsys)
    assert (status, err) == (0, "")
    with any_int_digits():
        report = json.loads(out)
    assert report["widths"][0] == big and report["explicit"][2]["macs"] == p.macs
    status, out, err = run(["plan", text, "2"], capsys)  # a 5,000-digit width is a width
    assert (status, err) == (0, "") and f"widths {text}-2" in out
    with pytest.raises(
        jb.JacobenchError, match=r"widths\[1\] = 0 is not positive, .* \(9+\.\.\.9+, 0\)$"
    ):
        jb.plan((big, 0))
    assert show(big) == "9" * 18 + "..." + "9" * 19


def test_a_huge_width_that_is_not_an_integer_is_named_briefly(capsys):
    status, _, err = run(["plan", "9" * 5000 + ".5", "2"], capsys)
    assert status == 2
    assert err.startswith(
        "jacobench: error: width d_0 = '99999999999999999999'... (5002 characters)"
    )


# --- 4. cycles ----------------------------------------------------------------------------------


def test_a_self_referential_bracketing_is_refused():
    a = [3, 0]
    a[1] = a
    with pytest.raises(jb.JacobenchError, match=r"contains itself \(a cycle\)"):
        jb.plan((50, 5, 100, 10), a)
    with pytest.raises(jb.JacobenchError, match=r"contains itself \(a cycle\)"):
        explicit.format(a)


def test_a_shared_subtree_that_would_blow_up_is_refused():
    shared = (2, 1)
    for _ in range(60):  # 2**60 leaves if walked
        shared = (shared, shared)
    with pytest.raises(jb.JacobenchError, match=r"appears twice \(a shared subtree\)"):
        jb.plan((3,) * 4, shared)
    with pytest.raises(jb.JacobenchError, match=r"appears twice"):
        explicit.format(shared)


def test_a_matrix_free_node_met_twice_is_refused():
    leaf = Node("tangents", 1, 1)
    node = Node("push", 1, 2, (leaf,))
    object.__setattr__(leaf, "children", ())
    looped = Node("multiply", 1, 3, (Node("tangents", 3, 3), node))
    object.__setattr__(node, "children", (node,))  # a cycle: spans no longer nest
    with pytest.raises(jb.JacobenchError, match=r"plan node push over layers 1\.\.2"):
        jb.plan_matrix_free((2, 2, 2, 2), looped)
    with pytest.raises(jb.JacobenchError, match=r"expected a tuple of Nodes"):
        mf.format(Node("push", 1, 2, [Node("tangents", 1, 1)]))


# --- 5. differentiable outputs ------------------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(mf.STRATEGIES))
def test_a_layer_with_integer_output_is_refused(strategy):
    chain = jb.Chain(
        [lambda h: jnp.round(h).astype(jnp.int32), lambda h: 1.0 * h], widths=(2, 2, 2)
    )
    with pytest.raises(
        jb.JacobenchError, match=r"layers\[0\] returns dtype int32, expected a floating"
    ):
        jb.jacobian(chain, jnp.ones(2), strategy)


# --- 6. every documented error path raises JacobenchError ----------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
        ({"seed": "a"}, r"seed must be a non-negative integer, got 'a'"),
        ({"seed": 1.5}, r"seed must be a non-negative integer, got 1\.5"),
        ({"seed": True}, r"seed must be a non-negative integer, got True"),
        ({"dtype": "nonsense"}, r"unknown dtype 'nonsense'"),
        ({"dtype": "int32"}, r"dtype 'int32' is not floating"),
        ({"activation": ["tanh"]}, r"unknown activation \['tanh'\]"),
    ],
)
def test_mlp_bad_arguments(kwargs, message):
    with pytest.raises(jb.JacobenchError, match=message):
        jb.mlp((2, 3), **kwargs)


@pytest.mark.parametrize("x", ["abcdef", None, object(), b"bytes", {"a": 1}])
def test_jacobian_of_something_that_is_not_an_array(x):
    with pytest.raises(jb.JacobenchError, match=r"^x (is|has)"):
        jb.jacobian(jb.mlp((2, 2)), x)


@pytest.mark.parametrize(
    ("jacobians", "message"),
    [
        ([[[1.0, 2.0], [3.0]]], r"jacobians\[0\] = .* is not a matrix"),
        ([np.array([["a", "b"], ["c", "d"]])], r"jacobians\[0\] has dtype <U1, expected a numeric"),
        ([np.array([[None]])], r"has dtype object, expected a numeric"),
        ({1: np.eye(2)}, r"(?s)jacobians is \{1: .*\} of type dict, expected a list"),
        ("ab", r"jacobians is 'ab' of type str"),
        (7, r"jacobians is 7 of type int"),
    ],
)
def test_multiply_bad_jacobians(jacobians, message):
    with pytest.raises(jb.JacobenchError, match=message):
        jb.multiply(jacobians)


@pytest.mark.parametrize(
    "call",
    [
        lambda: jb.Chain(abs, (2, 2)),
        lambda: jb.Chain([abs], (2, 2), name="x").check_shapes("nonsense"),
        lambda: jb.plan((2, 3), None),
        lambda: jb.plan((2, 3), 1.5),
        lambda: jb.plan((2, 3), memory_budget=[1]),
        lambda: jb.plan((2, 3), dtype=object()),
        lambda: jb.plan_matrix_free((2, 3), "forward", layer_costs=5),
        lambda: jb.plan_matrix_free((2, 3), "forward", layer_costs="ab"),
        lambda: jb.plan_matrix_free((2, 3), "forward", layer_costs=[(1.5, 2)]),
        lambda: jb.plan_matrix_free((2, 3), Node("tangents", "1", 1)),
        lambda: mf.format("jvp"),
        lambda: explicit.format("J1"),
        lambda: explicit.trees("3"),
        lambda: jb.jacobian(jb.mlp((2, 2)), jnp.ones(2), None),
        lambda: jb.jacobian(jb.mlp((2, 2)), jnp.ones(2), memory_budget="lots"),
    ],
)
def test_other_bad_inputs_raise_the_library_error(call):
    with pytest.raises(jb.JacobenchError):
        call()


# --- 10. unordered containers are not widths -----------------------------------------------------


@pytest.mark.parametrize("widths", [{3: 1, 4: 2}, {3, 4}, frozenset({3, 4}), iter([3, 4])])
def test_unordered_or_one_shot_widths_are_refused(widths):
    with pytest.raises(jb.JacobenchError, match=r"widths must be a sequence of positive integers"):
        jb.plan(widths)


def test_ordered_sequences_and_arrays_are_widths():
    for widths in ([3, 4, 5], (3, 4, 5), range(3, 6), np.array([3, 4, 5]), jnp.array([3, 4, 5])):
        assert jb.plan(widths).widths == (3, 4, 5)
    with pytest.raises(jb.JacobenchError, match=r"array of shape \(1, 3\); expected one dimension"):
        jb.plan(np.array([[3, 4, 5]]))
