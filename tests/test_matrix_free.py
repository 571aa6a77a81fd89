from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import matrix_free as mf
from jacobench.matrix_free import MatrixFreeNode as Node

STRATEGY_NAMES = sorted(mf.STRATEGIES)


def layer_sum(d, lo, hi):
    return sum(d[k] * d[k - 1] for k in range(lo, hi + 1))


def brute_force_min(widths):
    return min(mf.cost(widths, t) for t in mf.trees(len(widths) - 1))


# --- cost model and planner -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "forward", "reverse"),
    [
        ((50, 5, 100, 10), 50 * (250 + 500 + 1000), 10 * (250 + 500 + 1000)),
        ((3, 4), 3 * 12, 4 * 12),
        ((1000, 1000, 10, 1000, 1000), 2_020_000_000, 2_020_000_000),
        ((1, 1, 1), 2, 2),
    ],
)
def test_forward_and_reverse_formulas(widths, forward, reverse):
    assert mf.forward_macs(widths) == forward
    assert mf.reverse_macs(widths) == reverse
    assert jb.plan_matrix_free(widths, "forward").macs == forward
    assert jb.plan_matrix_free(widths, "jacfwd").macs == forward
    assert jb.plan_matrix_free(widths, "reverse").macs == reverse
    assert jb.plan_matrix_free(widths, "jacrev").macs == reverse


def test_every_kind_of_node_costs_its_definition():
    d = (3, 4, 2, 5)  # c_1 = 12, c_2 = 8, c_3 = 10
    t12, a3 = Node("tangents", 1, 2), Node("adjoints", 3, 3)
    cases = [
        (Node("tangents", 1, 3), 3 * 30),
        (Node("adjoints", 1, 3), 5 * 30),
        (Node("multiply", 1, 3, (a3, t12)), 5 * 10 + 3 * 20 + 5 * 2 * 3),
        (Node("push", 1, 3, (t12,)), 3 * 20 + 3 * 10),
        (Node("pull", 1, 3, (a3,)), 5 * 10 + 5 * 20),
    ]
    for tree, macs in cases:
        assert mf.cost(d, tree) == macs


def test_memory_model_by_hand():
    d = (3, 4, 2, 5)
    # tangents: (1 + t) * max_l (d_{l-1} + d_l) with t = d_0 = 3: 4 * (4 + 3)
    assert mf.memory(d, Node("tangents", 1, 3)) == 4 * 7
    # adjoints: all activations 3+4+2+5 plus a = 5 times the widest layer pair 7
    assert mf.memory(d, Node("adjoints", 1, 3)) == 14 + 5 * 7
    # multiply: tangents 1..2 (peak 28, holds 2x3), adjoints 3..3 (peak 2+5+5*7 = 42, holds 5x2)
    # right first: max(28, 6 + 42, 6 + 10 + 15) = 48; left first: max(42, 10 + 28, 31) = 42
    t12, a3 = Node("tangents", 1, 2), Node("adjoints", 3, 3)
    assert mf.memory(d, Node("multiply", 1, 3, (a3, t12))) == 42
    # push: max(child 28, (1 + 3) * (2 + 5))
    assert mf.memory(d, Node("push", 1, 3, (t12,))) == 28
    # pull: max(child 42, activations 3+4+2 plus 5 * 7)
    assert mf.memory(d, Node("pull", 1, 3, (a3,))) == 44


@given(st.lists(st.integers(1, 12), min_size=2, max_size=6).map(tuple))
@settings(max_examples=60, deadline=None)
def test_optimal_equals_brute_force_over_every_plan(widths):
    p = jb.plan_matrix_free(widths)
    assert p.macs == brute_force_min(widths) == mf.cost(widths, p.tree)
    assert p.peak_elements == mf.memory(widths, p.tree)
    assert p.macs <= min(
        p.forward_macs, p.reverse_macs, jb.plan_matrix_free(widths, "explicit").macs
    )


@pytest.mark.parametrize(
    "widths", [(9, 9, 2, 9, 9, 3, 8), (1, 7, 7, 1, 7, 7, 1), (5, 4, 3, 2, 3, 4, 5)]
)
def test_optimal_equals_brute_force_for_six_layers(widths):
    assert jb.plan_matrix_free(widths).macs == brute_force_min(widths)


def test_brute_force_enumerates_the_grammar():
    counts = [sum(1 for _ in mf.trees(n)) for n in range(1, 5)]
    assert counts == [2, 10, 66, 522]
    for tree in mf.trees(3):
        assert mf.validate(tree, 3) is tree


def test_explicit_strategy_cost():
    widths = (50, 5, 100, 10)
    p = jb.plan_matrix_free(widths, "explicit")
    layers = 5 * 250 + 5 * 500 + 10 * 1000  # min(d_{l-1}, d_l) passes through each layer
    assert p.macs == layers + jb.plan(widths).macs == mf.explicit_layer_macs(widths)
    assert p.formula == "(vjp(J3) @ jvp(J2)) @ vjp(J1)"


@pytest.mark.parametrize(
    ("widths", "formula"),
    [
        ((1000, 1000, 10, 1000, 1000), "jvp(J4 J3) @ vjp(J2 J1)"),
        ((2048, 2048, 16, 2048, 2048), "jvp(J4 J3) @ vjp(J2 J1)"),
        ((1024, 512, 256, 128, 64), "vjp(J4 J3 J2 J1)"),
        ((64, 128, 256, 512, 1024), "jvp(J4 J3 J2 J1)"),
        ((512,) * 5, "jvp(J4 J3 J2 J1)"),
        ((3, 4), "jvp(J1)"),
    ],
)
def test_optimal_formulas(widths, formula):
    assert jb.plan_matrix_free(widths).formula == formula


def test_hourglass_plan_fields_and_printing():
    p = jb.plan_matrix_free((1000, 1000, 10, 1000, 1000))
    assert (p.macs, p.forward_macs, p.reverse_macs) == (30_200_000, 2_020_000_000, 2_020_000_000)
    assert p.speedup_vs_forward == pytest.approx(2020 / 30.2)
    assert p.n_layers == 4 and p.strategy == "optimal"
    assert p.memory_bytes("float64") == 8 * p.peak_elements
    text = str(p)
    assert "jvp(J4 J3) @ vjp(J2 J1)" in text and "30,200,000" in text and "66.9x" in text
    with pytest.raises(AttributeError):
        p.macs = 1  # frozen
    assert jb.plan_matrix_free([1000, 1000, 10, 1000, 1000], "OPTIMAL") is p  # cached


def test_long_chains_plan_quickly_and_exactly():
    rng = np.random.default_rng(0)
    widths = tuple(int(w) for w in rng.integers(1, 4096, size=51))
    p = jb.plan_matrix_free(widths)
    assert p.macs == mf.cost(widths, p.tree) <= min(p.forward_macs, p.reverse_macs)
    huge = (10**6, 10**6, 1, 10**6, 10**6)
    assert isinstance(jb.plan_matrix_free(huge).macs, int)
    assert jb.plan_matrix_free(huge).macs == 2 * (10**12 + 10**6) + 10**12


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_registered_strategy_gives_a_valid_costed_plan(name):
    widths = (7, 3, 9, 2, 8, 5)
    p = jb.plan_matrix_free(widths, name.upper())
    assert p.strategy == name
    assert mf.validate(p.tree, 5) is p.tree
    assert p.macs == mf.cost(widths, p.tree) >= jb.plan_matrix_free(widths).macs
    assert p.peak_elements == mf.memory(widths, p.tree)


def test_unknown_strategy_lists_the_options():
    msg = (
        r"unknown strategy 'sideways'; valid options are "
        r"\['explicit', 'forward', 'jacfwd', 'jacrev', 'optimal', 'reverse'\]"
    )
    with pytest.raises(jb.JacobenchError, match=msg):
        jb.plan_matrix_free((3, 4, 5), "sideways")
    with pytest.raises(jb.JacobenchError, match=msg):
        jb.jacobian(jb.mlp((3, 4, 5)), jnp.ones(3), "sideways")


def test_malformed_trees_are_rejected():
    with pytest.raises(jb.JacobenchError, match=r"spans layers 1\.\.2, expected 1\.\.3"):
        jb.plan_matrix_free((2, 2, 2, 2), Node("tangents", 1, 2))
    bad = Node("push", 1, 3, (Node("tangents", 2, 3),))
    with pytest.raises(jb.JacobenchError, match=r"plan node push over layers 1\.\.3 has children"):
        jb.plan_matrix_free((2, 2, 2, 2), bad)
    with pytest.raises(jb.JacobenchError, match=r"has op 'sideways'; valid options are"):
        jb.plan_matrix_free((2, 2), Node("sideways", 1, 1))  # type: ignore[arg-type]
    with pytest.raises(jb.JacobenchError, match=r"plan tree \(1, 2\) is not a Node"):
        jb.plan_matrix_free((2, 2, 2), (1, 2))  # type: ignore[arg-type]


# --- jacobian: numbers ------------------------------------------------------------------------

ACTS = sorted(jb.chain.ACTIVATIONS)
widths_st = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)
# A small pool of shapes for the jitted tests, so compiled programs are reused across examples.
JIT_WIDTHS = [(3, 4), (1, 1, 1), (5, 1, 5), (6, 6, 2, 6, 6), (2, 5, 5, 5, 3), (4, 2, 6, 1, 3, 5)]


def make_x(widths, seed):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.5, 1.5, widths[0]))


def check_all_strategies(net, x, run=jb.jacobian):
    ref = jax.jacfwd(net)(x)
    for name in STRATEGY_NAMES:
        out = run(net, x, name)
        assert out.shape == ref.shape == (net.widths[-1], net.widths[0])
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg=name)


@given(widths_st, st.sampled_from(ACTS), st.integers(0, 2**31))
@settings(max_examples=12, deadline=None)
def test_every_strategy_equals_jacfwd_eagerly(widths, activation, seed):
    net = jb.mlp(widths, activation=activation, seed=seed, dtype=jnp.float64)
    check_all_strategies(net, make_x(widths, seed))


@partial(jax.jit, static_argnames=("widths", "activation", "strategy"))
def jitted_jacobian(params, x, widths, activation, strategy):
    layers = [jb.Dense(w, b, activation) for w, b in params]
    return jb.jacobian(jb.Chain(layers, widths), x, strategy)


@given(st.sampled_from(JIT_WIDTHS), st.sampled_from(["tanh", "relu"]), st.integers(0, 2**31))
@settings(max_examples=8, deadline=None)
def test_every_strategy_equals_jacfwd_under_jit(widths, activation, seed):
    net = jb.mlp(widths, activation=activation, seed=seed, dtype=jnp.float64)
    params = [(layer.weight, layer.bias) for layer in net.layers]

    def run(chain, x, name):
        return jitted_jacobian(params, x, widths, activation, name)

    check_all_strategies(net, make_x(widths, seed), run)


@pytest.mark.parametrize("widths", [(3, 4), (5, 1, 5), (6, 6, 2, 6, 6)])
def test_every_strategy_under_vmap(widths):
    net = jb.mlp(widths, seed=1, dtype=jnp.float64)
    xs = jnp.stack([make_x(widths, s) for s in range(3)])
    ref = jax.vmap(jax.jacfwd(net))(xs)
    for name in STRATEGY_NAMES:
        got = jax.vmap(lambda x, name=name: jb.jacobian(net, x, name))(xs)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=name)
    got = jax.jit(jax.vmap(lambda x: jb.jacobian(net, x)))(xs)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "widths", [(3,) + (2,) * 25 + (3,), (1,) * 12, (2, 1, 2, 1, 2, 1, 2), (7, 1)]
)
def test_deep_narrow_and_width_one_chains(widths):
    net = jb.mlp(widths, seed=2, dtype=jnp.float64)
    check_all_strategies(net, make_x(widths, 2))


@pytest.mark.parametrize("widths", [(2, 3, 1), (3, 1, 2, 3), (2, 2, 2, 2)])
def test_every_plan_of_the_grammar_computes_the_jacobian(widths):
    net = jb.mlp(widths, activation="tanh", seed=3, dtype=jnp.float64)
    x = make_x(widths, 3)
    ref = jax.jacfwd(net)(x)
    for tree in mf.trees(len(widths) - 1):
        got = jb.jacobian(net, x, jb.plan_matrix_free(widths, tree))
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=str(tree))


def test_user_layers_that_are_not_dense():
    a = jnp.asarray(np.random.default_rng(5).standard_normal((3, 4)))
    layers = [
        lambda h: jnp.concatenate([jnp.sin(h), h[:1] * h[1:2]]),  # 4 -> 5
        lambda h: jnp.cumsum(h)[::2] ** 2,  # 5 -> 3
        lambda h: a.T @ jnp.exp(h) + h.sum(),  # 3 -> 4
    ]
    net = jb.Chain(layers, widths=(4, 5, 3, 4), name="custom")
    check_all_strategies(net, jnp.array([0.3, -0.2, 0.5, 1.0]))


def test_float32_chains_stay_float32():
    net = jb.mlp((5, 5, 1, 5, 5), seed=0)
    x = jnp.linspace(-1, 1, 5, dtype=jnp.float32)
    for name in STRATEGY_NAMES:
        out = jb.jacobian(net, x, name)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(out, jax.jacfwd(net)(x), rtol=1e-5, atol=1e-6)


# --- jacobian: errors -------------------------------------------------------------------------


def test_x_of_the_wrong_rank_size_or_dtype():
    net = jb.mlp((3, 4, 5))
    with pytest.raises(
        jb.JacobenchError,
        match=r"x has shape \(2, 3\) \(rank 2\), expected a vector of shape \(3,\); use jax\.vmap",
    ):
        jb.jacobian(net, jnp.ones((2, 3)))
    with pytest.raises(
        jb.JacobenchError, match=r"x has shape \(4,\), expected \(3,\) from the chain's widths"
    ):
        jb.jacobian(net, jnp.ones(4))
    with pytest.raises(jb.JacobenchError, match=r"x has dtype int32, expected a floating dtype"):
        jb.jacobian(net, jnp.ones(3, dtype=jnp.int32))
    with pytest.raises(jb.JacobenchError, match=r"x has shape \(4,\), expected \(3,\)"):
        jax.jit(lambda x: jb.jacobian(net, x))(jnp.ones(4))


def test_chain_whose_layers_disagree_with_its_widths():
    net = jb.Chain([jnp.tanh, lambda h: h[:2]], widths=(3, 3, 4))
    with pytest.raises(
        jb.JacobenchError, match=r"layers\[1\] maps shape \(3,\) to shape \(2,\), expected \(4,\)"
    ):
        jb.jacobian(net, jnp.ones(3))
    with pytest.raises(jb.JacobenchError, match=r"layers\[1\] maps shape"):
        jax.jit(lambda x: jb.jacobian(net, x, "jacfwd"))(jnp.ones(3))


def test_plan_for_other_widths_and_non_chains():
    with pytest.raises(
        jb.JacobenchError,
        match=r"plan is for widths \(3, 5\), expected the chain's widths \(3, 4\)",
    ):
        jb.jacobian(jb.mlp((3, 4)), jnp.ones(3), jb.plan_matrix_free((3, 5)))
    with pytest.raises(jb.JacobenchError, match=r"chain is int, expected a jacobench\.Chain"):
        jb.jacobian(3, jnp.ones(3))  # type: ignore[arg-type]
