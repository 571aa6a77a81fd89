"""Matrix-free planning within a memory budget: batched nodes, the Pareto DP, executor, CLI."""

import itertools
import json
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import cli
from jacobench import matrix_free as mf
from jacobench.matrix_free import MatrixFreeNode as Node
from jacobench.matrix_free.tree import batch_sizes, block_width
from jacobench.units import format_bytes, parse_bytes


def batched_variants(tree, widths):
    """Every copy of ``tree`` with a batch size (or none) from the planners' set on each node."""
    nodes = []

    def collect(node):
        nodes.append(node)
        for child in node.children:
            collect(child)

    collect(tree)
    options = [
        batch_sizes(block_width(widths, n)) if n.op != "multiply" else (None,) for n in nodes
    ]
    for choice in itertools.product(*options):
        batch_of = {id(n): b for n, b in zip(nodes, choice, strict=True)}

        def rebuild(node, batch_of=batch_of):
            kids = tuple(rebuild(c) for c in node.children)
            return replace(node, children=kids, batch=batch_of[id(node)])

        yield rebuild(tree)


def brute_force(widths):
    """(macs, peak) of every plan of the grammar, batches from the planners' set included."""
    n = len(widths) - 1
    return [
        (mf.cost(widths, t), mf.memory(widths, t))
        for tree in mf.trees(n)
        for t in batched_variants(tree, widths)
    ]


# --- cost model -------------------------------------------------------------------------------


def test_batched_nodes_by_hand():
    d = (3, 4, 2, 5)  # widest layer pairs: 1..3 -> 7, 1..2 -> 7, 3..3 -> 7, 2..3 -> 7
    tangents = Node("tangents", 1, 3, batch=2)  # 3 tangents, 2 then 1
    # (1 + 2) * 7 working, plus the 5 x 3 result held while its batches are written
    assert mf.memory(d, tangents) == 3 * 7 + 5 * 3
    assert mf.cost(d, tangents) == jb.plan_matrix_free(d, "forward").macs == 90
    adjoints = Node("adjoints", 1, 3, batch=1)  # activations 14, 1 * 7 working, 5 x 3 result
    assert mf.memory(d, adjoints) == 14 + 7 + 15
    assert mf.cost(d, adjoints) == 150
    t12 = Node("tangents", 1, 2)  # 3 tangents, peak 4 * 7 = 28, holds 2 x 3
    # push 3 columns of the 2 x 3 seed through layer 3 one at a time: seed 6 + result 15 + 2 * 7
    push = Node("push", 1, 3, (t12,), batch=1)
    assert mf.memory(d, push) == max(28, 6 + 15 + 2 * 7)
    a3 = Node("adjoints", 3, 3)  # 5 adjoints, peak 2 + 5 + 5 * 7 = 42, holds 5 x 2
    # pull 5 rows of the 5 x 2 seed back through 1..2 four at a time: activations 3 + 4 + 2,
    # 4 * 7 working, seed 10, result 15
    pull = Node("pull", 1, 3, (a3,), batch=4)
    assert mf.memory(d, pull) == max(42, 9 + 28 + 10 + 15)
    for tree in (push, pull):
        assert mf.cost(d, tree) == mf.cost(d, replace(tree, batch=None))


def test_batched_formulas():
    seed = Node("adjoints", 1, 2, batch=3)
    tree = Node("push", 1, 4, (seed,), batch=8)
    assert mf.format(tree) == "jvp(J4 J3, seed=vjp(J2 J1, batch=3), batch=8)"
    assert mf.format(Node("pull", 1, 2, (Node("tangents", 2, 2),), batch=1)) == (
        "vjp(J1, seed=jvp(J2), batch=1)"
    )


def test_malformed_batches_are_rejected():
    d = (4, 3, 5)
    t, a = Node("tangents", 1, 1), Node("adjoints", 2, 2)
    with pytest.raises(
        jb.JacobenchError,
        match=r"plan node multiply over layers 1\.\.2 has batch 2; expected None \(only "
        r"tangents, adjoints, push and pull run in batches\)",
    ):
        jb.plan_matrix_free(d, Node("multiply", 1, 2, (a, t), batch=2))
    for bad in (0, -1, True, 2.0):
        with pytest.raises(
            jb.JacobenchError,
            match=rf"plan node tangents over layers 1\.\.2 has batch {bad!r}; expected None or "
            "a positive int",
        ):
            jb.plan_matrix_free(d, Node("tangents", 1, 2, batch=bad))
    with pytest.raises(
        jb.JacobenchError,
        match=r"plan node adjoints over layers 1\.\.2 has batch 5; expected None or an int with "
        r"1 <= batch < 5 \(its block width for widths \(4, 3, 5\)\)",
    ):
        mf.memory(d, Node("adjoints", 1, 2, batch=5))
    with pytest.raises(jb.JacobenchError, match=r"has batch 1; expected None or an int with 1 <="):
        mf.cost((1, 3), Node("tangents", 1, 1, batch=1))


# --- planner: the Pareto DP against brute force -----------------------------------------------


def check_budget(widths, frac):
    """A budget from the least peak up to the larger of forward's and optimal's: DP vs brute."""
    points = brute_force(widths)
    least = min(peak for _, peak in points)
    assert mf.min_peak(widths) == least
    high = max(
        jb.plan_matrix_free(widths).peak_elements,
        jb.plan_matrix_free(widths, "forward").peak_elements,
    )
    budget = int(least + frac * (high - least))
    p = jb.plan_matrix_free(widths, memory_budget=budget * 8, dtype="float64")
    assert p.budget_elements == budget and p.strategy == "optimal"
    assert p.peak_elements == mf.memory(widths, p.tree) <= budget
    assert p.macs == mf.cost(widths, p.tree)
    assert p.macs == min(macs for macs, peak in points if peak <= budget)
    tree = mf.optimal(widths, max_peak=budget)
    assert mf.cost(widths, tree) == p.macs


@given(st.lists(st.integers(1, 9), min_size=2, max_size=4).map(tuple), st.floats(0, 1))
@settings(max_examples=40, deadline=None)
def test_budgeted_optimal_equals_brute_force(widths, frac):
    check_budget(widths, frac)


@pytest.mark.parametrize("widths", [(4, 4, 1, 4, 4), (2, 4, 3, 4, 2), (4, 1, 3, 2, 4)])
@pytest.mark.parametrize("frac", [0.0, 0.3, 0.7])
def test_budgeted_optimal_equals_brute_force_for_four_layers(widths, frac):
    check_budget(widths, frac)


def test_least_budget_fits_and_one_less_does_not():
    widths = (64, 64, 4, 64, 64)
    least = mf.min_peak(widths)
    assert mf.optimal(widths, max_peak=least)
    with pytest.raises(
        jb.JacobenchError,
        match=rf"no matrix-free plan of widths \(64, 64, 4, 64, 64\) fits in {least - 1:,} "
        rf"elements; the least peak memory any plan reaches is {least:,} elements",
    ):
        mf.optimal(widths, max_peak=least - 1)


def test_a_budget_that_optimal_meets_keeps_the_unbudgeted_plan():
    widths = (1000, 1000, 10, 1000, 1000)
    p = jb.plan_matrix_free(widths)
    within = jb.plan_matrix_free(widths, memory_budget="1GiB")
    assert (within.tree, within.macs, within.budget_elements) == (p.tree, p.macs, 2**28)
    assert "Budget elements:       268,435,456" in str(within)
    assert jb.plan_matrix_free(widths, memory_budget="1GiB") is within  # cached


def test_batches_trade_memory_not_macs_and_prefer_few_large_batches():
    widths = (1024,) * 5
    p = jb.plan_matrix_free(widths, memory_budget="6MiB")
    # (1 + b) * 2048 + 1024 * 1024 <= 6 MiB / 4 allows b <= 255; the largest power of two is 128
    assert p.formula == "jvp(J4 J3 J2 J1, batch=128)"
    assert p.macs == p.forward_macs and p.peak_elements == 129 * 2048 + 1024**2
    # where only a slower plan fits, it is taken: the hourglass's product is too big for 3.9 MiB
    p = jb.plan_matrix_free((1000, 1000, 100, 1000, 1000), memory_budget="3.9MiB")
    assert p.formula == "jvp(J4 J3 J2 J1, batch=8)"
    assert p.macs > jb.plan_matrix_free((1000, 1000, 100, 1000, 1000)).macs


def test_long_chains_plan_within_a_budget_quickly():
    rng = np.random.default_rng(1)
    widths = tuple(int(w) for w in rng.integers(1, 512, size=13))
    free = jb.plan_matrix_free(widths)
    budget = (free.peak_elements + mf.min_peak(widths)) // 2
    p = jb.plan_matrix_free(widths, memory_budget=4 * budget)
    assert mf.memory(widths, p.tree) <= budget
    assert p.macs >= free.macs


# --- errors -----------------------------------------------------------------------------------


def test_nothing_fits_names_the_smallest_budget():
    with pytest.raises(jb.JacobenchError) as info:
        jb.plan_matrix_free((256, 256, 256), memory_budget="200KiB")
    assert str(info.value) == (
        "no matrix-free plan fits widths (256, 256, 256) in the memory budget of 204,800 bytes "
        "(200 KiB) with float32 elements; the smallest budget that fits is 266,240 bytes "
        "(260 KiB)"
    )
    widths = (100, 10000, 10000, 1000, 40000, 1000)
    with pytest.raises(jb.JacobenchError) as info:
        jb.plan_matrix_free(widths, memory_budget="1MB", dtype="float64")
    need = mf.min_peak(widths) * 8
    assert str(info.value).endswith(
        f"with float64 elements; the smallest budget that fits is {need:,} bytes "
        f"({format_bytes(need, round_up=True)})"
    )
    # the text, read back, is a budget that fits
    readback = parse_bytes(format_bytes(need, round_up=True))
    assert jb.plan_matrix_free(widths, memory_budget=readback, dtype="float64").budget_elements


def test_both_engines_word_the_error_alike():
    widths, budget = (2, 1, 2, 6), 40
    messages = []
    for planner in (jb.plan, jb.plan_matrix_free):
        with pytest.raises(jb.JacobenchError) as info:
            planner(widths, "forward", memory_budget=budget)
        messages.append(str(info.value))
    need = jb.plan_matrix_free(widths, "forward").memory_bytes()
    assert messages[1] == (
        "strategy 'forward' does not fit widths (2, 1, 2, 6) in the memory budget of 40 bytes "
        f"(40 B) with float32 elements; the smallest budget that fits is {need} bytes ({need} B)"
    )
    assert messages[0].split(";")[0] == messages[1].split(";")[0]


def test_named_strategies_and_trees_fit_or_raise():
    widths = (256, 256, 256)
    fwd = jb.plan_matrix_free(widths, "forward")
    assert jb.plan_matrix_free(widths, "forward", memory_budget=fwd.memory_bytes()).tree == fwd.tree
    for name in ("forward", "reverse", "jacfwd", "explicit"):
        with pytest.raises(jb.JacobenchError, match=rf"^strategy '{name}' does not fit widths"):
            jb.plan_matrix_free(widths, name, memory_budget="300KiB")
    tree = Node("tangents", 1, 2, batch=16)
    p = jb.plan_matrix_free(widths, tree, memory_budget="300KiB")
    assert (p.strategy, p.tree) == ("custom", tree)
    with pytest.raises(jb.JacobenchError, match=r"^strategy 'custom' does not fit widths"):
        jb.plan_matrix_free(widths, Node("tangents", 1, 2, batch=64), memory_budget="300KiB")


def test_bad_budgets_and_dtypes():
    with pytest.raises(jb.JacobenchError, match=r"memory size '2XB' is not understood"):
        jb.plan_matrix_free((3, 4), memory_budget="2XB")
    with pytest.raises(jb.JacobenchError, match=r"unknown dtype 'float33'"):
        jb.plan_matrix_free((3, 4), memory_budget=100, dtype="float33")
    with pytest.raises(jb.JacobenchError, match=r"max_peak must be a non-negative int"):
        mf.optimal((3, 4), max_peak=-1)


# --- executor ---------------------------------------------------------------------------------

# Batches that do not divide the block (5 tangents 2 at a time, 6 adjoints 4 at a time, ...).
D = (5, 7, 3, 6)
BATCHED = [
    Node("tangents", 1, 3, batch=2),
    Node("adjoints", 1, 3, batch=4),
    Node("push", 1, 3, (Node("adjoints", 1, 1, batch=3),), batch=2),
    Node("pull", 1, 3, (Node("tangents", 2, 3, batch=2),), batch=4),
    Node("multiply", 1, 3, (Node("adjoints", 3, 3, batch=1), Node("tangents", 1, 2, batch=4))),
    Node("pull", 1, 3, (Node("push", 2, 3, (Node("tangents", 2, 2, batch=4),), batch=1),), batch=5),
]


def make_x(widths, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.5, 1.5, widths[0]))


@pytest.mark.parametrize("tree", BATCHED, ids=mf.format)
def test_batched_plans_compute_the_jacobian_eagerly_and_jitted(tree):
    net = jb.mlp(D, activation="tanh", seed=4, dtype=jnp.float64)
    x = make_x(D)
    ref = jax.jacfwd(net)(x)
    p = jb.plan_matrix_free(D, tree)
    np.testing.assert_allclose(jb.jacobian(net, x, p), ref, rtol=1e-12, atol=1e-12)
    got = jax.jit(lambda x: jb.jacobian(net, x, p))(x)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_batched_plans_under_vmap():
    net = jb.mlp(D, seed=5, dtype=jnp.float64)
    xs = jnp.stack([make_x(D, s) for s in range(3)])
    ref = jax.vmap(jax.jacfwd(net))(xs)
    for tree in BATCHED[2:4]:
        p = jb.plan_matrix_free(D, tree)
        got = jax.jit(jax.vmap(lambda x, p=p: jb.jacobian(net, x, p)))(xs)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("widths", "budget", "formula"),
    [
        ((9, 2, 9), 106 * 8, "jvp(J2 J1, batch=1)"),
        ((16, 16, 16), 3000, "jvp(J2 J1, batch=2)"),
        ((100, 100, 10, 100, 100), 11999 * 8, "jvp(J4 J3, seed=vjp(J2 J1), batch=2)"),
    ],
)
def test_jacobian_within_a_budget(widths, budget, formula):
    net = jb.mlp(widths, seed=6, dtype=jnp.float64)
    x = make_x(widths)
    p = jb.plan_matrix_free(widths, memory_budget=budget, dtype="float64")
    assert p.memory_bytes("float64") <= budget < jb.plan_matrix_free(widths).memory_bytes("float64")
    assert p.formula == formula
    ref = jax.jacfwd(net)(x)
    np.testing.assert_allclose(jb.jacobian(net, x, memory_budget=budget), ref, atol=1e-12)
    got = jax.jit(lambda x: jb.jacobian(net, x, memory_budget=budget))(x)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_jacobian_budget_uses_the_dtype_of_x_and_checks_given_plans():
    widths = (16, 16, 16)
    net = jb.mlp(widths, seed=0, dtype=jnp.float64)
    x = make_x(widths)
    # 1800 bytes: 225 float64 elements, below the least peak of 2 * 32 + 256 = 320
    with pytest.raises(jb.JacobenchError, match=r"with float64 elements; the smallest budget"):
        jb.jacobian(net, x, memory_budget=1800)
    with pytest.raises(jb.JacobenchError, match=r"^strategy 'jacrev' does not fit"):
        jb.jacobian(net, x, "jacrev", memory_budget=3000)
    # a given plan is checked, never replaced, even an "optimal" one
    with pytest.raises(jb.JacobenchError, match=r"^strategy 'optimal' does not fit"):
        jb.jacobian(net, x, jb.plan_matrix_free(widths), memory_budget=3000)


def test_batches_lower_xlas_temporary_memory():
    widths = (256,) * 4
    net = jb.mlp(widths, seed=0)
    x = jnp.linspace(-1, 1, 256, dtype=jnp.float32)

    def measured(tree):
        p = jb.plan_matrix_free(widths, tree)
        f = jax.jit(lambda x: jb.jacobian(net, x, p))
        return f.lower(x).compile().memory_analysis().temp_size_in_bytes

    whole = measured(Node("tangents", 1, 3))
    batched = measured(Node("tangents", 1, 3, batch=16))
    # the working block: 257 x 512 elements whole, 17 x 512 in batches of 16
    assert batched < whole / 4


# --- command line -----------------------------------------------------------------------------


def test_cli_shows_the_matrix_free_row_within_budget(capsys):
    widths = (1024,) * 5
    argv = ["plan", *map(str, widths), "--memory-budget", "6MiB", "--matrix-free"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    p = jb.plan_matrix_free(widths, memory_budget="6MiB")
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines()}
    row = rows["optimal within budget"]
    human = format_bytes(p.memory_bytes()).split()
    assert row[3:7] == [f"{p.macs:,}", f"{p.memory_bytes():,}", *human]
    assert row[-1] == "yes" and rows["forward"][-1] == "no"
    assert f"optimal within budget: {p.formula}" in out
    assert p.formula == "jvp(J4 J3 J2 J1, batch=128)"
    argv[-2] = "12MiB"
    assert cli.main([*argv, "--json", "--dtype", "float64"]) == 0
    within = json.loads(capsys.readouterr().out)["matrix_free"][-1]
    p = jb.plan_matrix_free(widths, memory_budget="12MiB", dtype="float64")
    assert p.formula == "jvp(J4 J3 J2 J1, batch=128)"
    assert within == {
        "strategy": "optimal_within_budget",
        "macs": p.macs,
        "peak_memory_elements": p.peak_elements,
        "peak_memory_bytes": p.memory_bytes("float64"),
        "peak_memory_human": format_bytes(p.memory_bytes("float64")),
        "speedup_vs_forward": p.speedup_vs_forward,
        "speedup_vs_reverse": p.speedup_vs_reverse,
        "formula": p.formula,
        "fits_budget": True,
        "predicted_seconds": None,
    }


def test_cli_matrix_free_no_fit_is_one_line(capsys):
    assert (
        cli.main(["plan", "256", "256", "256", "--memory-budget", "200KiB", "--matrix-free"]) == 2
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "jacobench: error: no matrix-free plan fits widths (256, 256, 256) in the memory budget "
        "of 204,800 bytes (200 KiB) with float32 elements; the smallest budget that fits is "
        "266,240 bytes (260 KiB)\n"
    )
