import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench.bench import measure
from jacobench.second_order import model, search

HVP_MODES = sorted(jb.second_order.HVP_STRATEGIES)
STRATEGIES = sorted(jb.second_order.STRATEGIES)


@pytest.fixture(autouse=True)
def _x64():
    """Every comparison here is in float64 (the suite's conftest sets it too; this keeps it so)."""
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def scalar(net):
    return lambda y: net(y)[0]


def point(d0, seed=1):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(d0), dtype=jnp.float64)


CHAINS = [
    ((5, 7, 3, 1), "tanh", None),
    ((6, 6, 1, 5, 4, 1), "tanh", "identity"),  # a narrow layer near the input: optimal splits
    ((4, 1), "sigmoid", None),
    ((3, 8, 2, 8, 8, 1), "sigmoid", "identity"),
]


# --- values: every mode and strategy equals JAX in float64 --------------------------------------


@pytest.mark.parametrize("mode", HVP_MODES)
@pytest.mark.parametrize(("widths", "activation", "final"), CHAINS)
def test_hvp_equals_jvp_of_grad(mode, widths, activation, final):
    net = jb.mlp(widths, activation, seed=3, dtype=jnp.float64, final_activation=final)
    x, v = point(widths[0]), point(widths[0], seed=2)
    ref = jax.jvp(jax.grad(scalar(net)), (x,), (v,))[1]
    jitted = jax.jit(lambda y, w: jb.hvp(net, y, w, mode))(x, v)
    np.testing.assert_allclose(jitted, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", HVP_MODES)
def test_hvp_eagerly(mode):
    net = jb.mlp((3, 4, 1), seed=3, dtype=jnp.float64)
    x, v = point(3), point(3, seed=2)
    ref = jax.jvp(jax.grad(scalar(net)), (x,), (v,))[1]
    np.testing.assert_allclose(jb.hvp(net, x, v, mode), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", HVP_MODES)
def test_hvp_under_vmap(mode):
    net = jb.mlp((5, 6, 2, 1), seed=0, dtype=jnp.float64)
    xs = jnp.stack([point(5, s) for s in range(3)])
    vs = jnp.stack([point(5, s + 10) for s in range(3)])
    ref = jax.vmap(lambda y, w: jax.jvp(jax.grad(scalar(net)), (y,), (w,))[1])(xs, vs)
    both = jax.vmap(lambda y, w: jb.hvp(net, y, w, mode))(xs, vs)
    np.testing.assert_allclose(both, ref, rtol=1e-12, atol=1e-14)
    over_v = jax.jit(jax.vmap(lambda w: jb.hvp(net, xs[0], w, mode)))(vs)
    H = jax.hessian(scalar(net))(xs[0])
    np.testing.assert_allclose(over_v, vs @ H.T, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("widths", "activation", "final"), CHAINS)
def test_hessian_equals_jax_hessian(strategy, widths, activation, final):
    net = jb.mlp(widths, activation, seed=5, dtype=jnp.float64, final_activation=final)
    x = point(widths[0])
    ref = jax.hessian(scalar(net))(x)
    H = jax.jit(lambda y: jb.hessian(net, y, strategy))(x)
    assert H.shape == (widths[0], widths[0]) and H.dtype == jnp.float64
    np.testing.assert_allclose(H, ref, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_hessian_eagerly(strategy):
    net = jb.mlp((3, 4, 1, 2, 1), seed=5, dtype=jnp.float64)
    x = point(3)
    ref = jax.hessian(scalar(net))(x)
    np.testing.assert_allclose(jb.hessian(net, x, strategy), ref, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_hessian_under_vmap(strategy):
    net = jb.mlp((6, 6, 1, 5, 4, 1), seed=2, dtype=jnp.float64, final_activation="identity")
    xs = jnp.stack([point(6, s) for s in range(3)])
    ref = jax.vmap(jax.hessian(scalar(net)))(xs)
    got = jax.jit(jax.vmap(lambda y: jb.hessian(net, y, strategy)))(xs)
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-14)


def test_every_set_of_splits_gives_the_hessian():
    widths = (4, 5, 2, 6, 1)
    net = jb.mlp(widths, seed=7, dtype=jnp.float64)
    x = point(4)
    ref = jax.hessian(scalar(net))(x)
    for splits in search.all_splits(len(widths) - 1):
        plan = jb.plan_hessian(widths, splits)
        assert plan.strategy == "custom" and plan.splits == splits
        H = jax.jit(lambda y, p=plan: jb.hessian(net, y, p))(x)
        np.testing.assert_allclose(H, ref, rtol=1e-11, atol=1e-14)


def test_hessian_takes_a_plan_and_a_memory_budget():
    widths = (8, 2, 16, 2, 16, 1)
    net = jb.mlp(widths, seed=1, dtype=jnp.float64)
    x = point(8)
    ref = jax.hessian(scalar(net))(x)
    # 190 float64 elements: the cheapest plan (194) does not fit, forming H_3 too does
    H = jax.jit(lambda y: jb.hessian(net, y, memory_budget=190 * 8))(x)
    np.testing.assert_allclose(H, ref, rtol=1e-11, atol=1e-14)
    with pytest.raises(jb.JacobenchError, match="smallest budget that fits is 1,520 bytes"):
        jb.hessian(net, x, memory_budget=1500)
    plan = jb.plan_hessian(widths)  # a given plan must fit as it is: it is not replanned
    with pytest.raises(jb.JacobenchError, match=r"strategy 'custom' does not fit"):
        jb.hessian(net, x, plan, memory_budget=190 * 8)
    H = jax.jit(lambda y: jb.hessian(net, y, plan, memory_budget="2KiB"))(x)
    np.testing.assert_allclose(H, ref, rtol=1e-11, atol=1e-14)


# --- the cost model: hand-checked tables --------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "hvp", "by_mode", "fof"),
    [
        # S = 12 + 4 = 16, c_1 = 12: 4S - c_1; 2nS + 2S - c_1; S + 2nS + n^2 (S - c_1)
        ((3, 4, 1), 52, 2 * 3 * 16 + 20, 16 + 2 * 3 * 16 + 9 * 4),
        # S = 16 + 4 + 16 + 256 + 16 = 308, c_1 = 16, n = 4
        ((4, 4, 1, 16, 16, 1), 1216, 3064, 308 + 8 * 308 + 16 * 292),
        ((2, 1), 4 * 2 - 2, 2 * 2 * 2 + 2, 2 + 4 * 2 + 0),
    ],
)
def test_mode_costs_by_hand(widths, hvp, by_mode, fof):
    for mode in HVP_MODES:
        assert jb.plan_hvp(widths, mode).macs == hvp
        assert jb.plan_hessian(widths, mode).macs == by_mode
    assert jb.plan_hessian(widths, "jax.hessian").macs == by_mode
    assert jb.plan_hessian(widths, "fwd-over-fwd").macs == fof
    assert jb.plan_hvp(widths).gradient_macs * 2 - widths[0] * widths[1] == hvp


def test_optimal_cost_by_hand_on_the_issue_chain():
    widths = (512, 512, 8, 512, 512, 512, 512, 1)
    s = 4 * 512 * 512 + 2 * 8 * 512 + 512  # 1,057,280
    base = 2 * s - 512 * 512
    top = 2 * 8 * (8 * 512 + 3 * 512 * 512 + 512)  # H_2: 8 tangents through layers 3..7
    low = 2 * 512 * (512 * 512 + 8 * 512) + 8 * 8 * 512  # H_0, seeded with H_2 J
    p = jb.plan_hessian(widths)
    assert p.splits == (2,) and p.formula == "hess(J2 J1, seed=hess(J7 J6 J5 J4 J3))"
    assert p.macs == base + top + low == 287_171_584
    assert p.jax_hessian_macs == base + 2 * 512 * s == 1_084_507_136
    assert [step.macs for step in p.steps] == [s, s - 512 * 512, top, low]
    assert round(p.speedup_vs_jax_hessian, 3) == 3.777


def test_memory_by_hand():
    # HVP: 2A + max d; A = 3 + 4 + 1
    assert jb.plan_hvp((3, 4, 1)).peak_elements == 2 * 8 + 4
    # fwd-over-rev Hessian of (4, 4, 1, 16, 16, 1), A = 42: 2A + n (interior + widest) + n^2
    assert jb.plan_hessian((4, 4, 1, 16, 16, 1), "fwd-over-rev").peak_elements == (
        84 + 4 * ((4 + 1 + 16 + 16) + 16) + 16
    )
    # fwd-over-fwd of (3, 4, 1): A + 2n P + n^2 P_2 + n^2, P = 3 + 4, P_2 = 4 + 1 (layer 2)
    assert jb.plan_hessian((3, 4, 1), "fwd-over-fwd").peak_elements == 8 + 6 * 7 + 9 * 5 + 9
    p = jb.plan_hessian((8, 2, 16, 2, 16, 1), (1, 3))
    assert p.memory_bytes("float64") == 8 * p.peak_elements == 8 * 190


def test_plans_print_their_steps_and_are_frozen_and_cached():
    p = jb.plan_hessian((6, 6, 1, 5, 4, 1), "OPTIMAL")
    assert p is jb.plan_hessian((6, 6, 1, 5, 4, 1))
    text = str(p)
    assert "Formula:" in text and "Speedup vs jax.hessian:" in text
    assert text.count("\n  ") == len(p.steps) == 4
    assert f"{p.steps[-1].macs:,}" in text.splitlines()[-1]
    with pytest.raises(AttributeError):
        p.macs = 0  # type: ignore[misc]
    q = jb.plan_hvp((6, 6, 1, 5, 4, 1), "Rev-Over-Rev")
    assert q.strategy == "rev-over-rev" and q.formula == "grad(grad(f) . v)"
    assert len(q.steps) == 4 and 1.5 < q.gradients < 2.0


# --- the optimal plan: dynamic program against brute force -------------------------------------

scalar_widths = st.lists(st.integers(1, 40), min_size=1, max_size=6).map(lambda w: (*w, 1))


@settings(max_examples=150, deadline=None)
@given(scalar_widths)
def test_optimal_is_the_brute_force_minimum_and_beats_every_strategy(widths):
    n_layers = len(widths) - 1
    brute = min(model.splits_macs(widths, s) for s in search.all_splits(n_layers))
    best = jb.plan_hessian(widths)
    assert best.macs == brute
    for name in STRATEGIES:
        assert best.macs <= jb.plan_hessian(widths, name).macs
    assert best.macs <= best.jax_hessian_macs == jb.plan_hessian(widths, "jax.hessian").macs


@settings(max_examples=150, deadline=None)
@given(scalar_widths, st.integers(0, 4000))
def test_optimal_within_a_budget_is_the_brute_force_minimum(widths, budget):
    n_layers = len(widths) - 1
    plans = [
        (model.splits_macs(widths, s), model.splits_peak(widths, s))
        for s in search.all_splits(n_layers)
    ]
    assert search.min_peak(widths) == min(peak for _, peak in plans)
    fits = [macs for macs, peak in plans if peak <= budget]
    if not fits:
        with pytest.raises(jb.JacobenchError, match="least peak memory"):
            search.optimal_splits(widths, budget)
        return
    splits = search.optimal_splits(widths, budget)
    assert model.splits_peak(widths, splits) <= budget
    assert model.splits_macs(widths, splits) == min(fits)


def test_optimal_plans_deep_chains_quickly():
    # Forming H at the first width-4 interface, then 4 tangents through the rest, is cheapest.
    widths = (*([64, 4] * 200), 1)
    p = jb.plan_hessian(widths)
    assert p.splits == (1,) and p.macs < p.jax_hessian_macs / 10
    # Wide then narrow: H at every narrow interface pays (one tangent per narrow width)
    q = jb.plan_hessian((*([2, 64] * 10), 1))
    assert q.macs == min(
        model.splits_macs(q.widths, s) for s in [(), *[(k,) for k in range(1, 20)], q.splits]
    )


# --- against XLA: the model's multiply-adds are what the compiled program executes -------------


def _xla_macs(fn, *args):
    compiled = jax.jit(fn).lower(*args).compile()
    return measure.xla_flops(compiled) / 2, measure.xla_memory_bytes(compiled)


XLA_WIDTHS = (256, 256, 8, 256, 256, 1)  # dense, widths >= 256 but the narrow one; small depth


@pytest.mark.parametrize("mode", HVP_MODES)
def test_hvp_macs_match_xla(mode):
    net = jb.mlp(XLA_WIDTHS, seed=0)
    x = jnp.linspace(-1.0, 1.0, 256, dtype=jnp.float32)
    plan = jb.plan_hvp(XLA_WIDTHS, mode)
    macs, memory = _xla_macs(lambda y, w: jb.hvp(net, y, w, mode), x, x)
    assert 0.85 <= macs / plan.macs <= 1.15, (mode, macs / plan.macs)
    assert 0.5 <= (memory / 4 - 2 * 256) / plan.peak_elements <= 1.5


@pytest.mark.parametrize("strategy", [*STRATEGIES, (1,), (2, 3)])
def test_hessian_macs_match_xla(strategy):
    net = jb.mlp(XLA_WIDTHS, seed=0)
    x = jnp.linspace(-1.0, 1.0, 256, dtype=jnp.float32)
    plan = jb.plan_hessian(XLA_WIDTHS, strategy)
    macs, memory = _xla_macs(lambda y: jb.hessian(net, y, plan), x)
    assert 0.85 <= macs / plan.macs <= 1.15, (strategy, macs / plan.macs)
    assert 0.5 <= (memory / 4 - 256) / plan.peak_elements <= 1.5


# --- errors -------------------------------------------------------------------------------------


def test_a_chain_that_is_not_scalar_is_refused_with_what_to_do():
    net = jb.mlp((3, 4, 2))
    x = jnp.ones(3)
    message = (
        r"the last width d_L is 2 \(widths \(3, 4, 2\)\), expected 1; sum the outputs or pick one"
    )
    for call in (
        lambda: jb.hvp(net, x, x),
        lambda: jb.hessian(net, x),
        lambda: jb.plan_hvp((3, 4, 2)),
        lambda: jb.plan_hessian((3, 4, 2), "fwd-over-rev"),
    ):
        with pytest.raises(jb.JacobenchError, match=message):
            call()


def test_bad_v_is_refused():
    net = jb.mlp((3, 4, 1), dtype=jnp.float64)
    x = jnp.ones(3)
    with pytest.raises(jb.JacobenchError, match=r"v has shape \(4,\), expected \(3,\) like x"):
        jb.hvp(net, x, jnp.ones(4))
    with pytest.raises(jb.JacobenchError, match=r"v has shape \(2, 3\), expected \(3,\)"):
        jb.hvp(net, x, jnp.ones((2, 3)))
    with pytest.raises(jb.JacobenchError, match="v has dtype float32, expected x's dtype float64"):
        jb.hvp(net, x, jnp.ones(3, dtype=jnp.float32))
    with pytest.raises(jb.JacobenchError, match="v has dtype int64, expected x's dtype float64"):
        jb.hvp(net, x, jnp.arange(3))


def test_bad_x_and_bad_chain_are_refused():
    net = jb.mlp((3, 4, 1))
    with pytest.raises(jb.JacobenchError, match=r"x has shape \(4,\), expected \(3,\)"):
        jb.hessian(net, jnp.ones(4))
    with pytest.raises(jb.JacobenchError, match="x has dtype int"):
        jb.hessian(net, jnp.arange(3))
    with pytest.raises(jb.JacobenchError, match=r"expected a jacobench\.Chain"):
        jb.hvp(lambda y: y, jnp.ones(3), jnp.ones(3))
    with pytest.raises(jb.JacobenchError, match=r"plan is for widths \(3, 5, 1\)"):
        jb.hessian(net, jnp.ones(3), jb.plan_hessian((3, 5, 1)))


def test_unknown_mode_and_strategy_list_the_valid_options():
    with pytest.raises(
        jb.JacobenchError,
        match=r"unknown strategy 'fwd'; valid options are \['fwd-over-rev', 'rev-over-fwd', "
        r"'rev-over-rev'\]",
    ):
        jb.plan_hvp((3, 1), "fwd")
    with pytest.raises(jb.JacobenchError, match=r"unknown strategy 'newton'; valid options are \["):
        jb.hessian(jb.mlp((3, 1)), jnp.ones(3), "newton")
    with pytest.raises(jb.JacobenchError, match="unknown strategy 'fwd-over-fwd'"):
        jb.hvp(jb.mlp((3, 1)), jnp.ones(3), jnp.ones(3), "fwd-over-fwd")


@pytest.mark.parametrize("splits", [(0,), (3,), (2, 1), (1, 1), ("1",), 2, (True,)])
def test_bad_splits_are_refused(splits):
    with pytest.raises(
        jb.JacobenchError, match=r"splits must be increasing interfaces k with 0 < k < 3"
    ):
        jb.plan_hessian((4, 3, 2, 1), splits)


def test_a_budget_nothing_fits_names_the_smallest_that_does():
    widths = (8, 2, 16, 2, 16, 1)
    with pytest.raises(jb.JacobenchError) as err:
        jb.plan_hessian(widths, memory_budget="700B")
    assert "no Hessian plan fits widths (8, 2, 16, 2, 16, 1)" in str(err.value)
    assert "the smallest budget that fits is 760 bytes" in str(err.value)
    assert jb.plan_hessian(widths, memory_budget=760).peak_elements == 190
    need = jb.plan_hessian(widths, "rev-over-rev").memory_bytes("float32")
    with pytest.raises(
        jb.JacobenchError, match=f"strategy 'rev-over-rev' does not fit.*{need:,} bytes"
    ):
        jb.plan_hessian(widths, "rev-over-rev", memory_budget=need - 1)
    assert jb.plan_hessian(widths, "rev-over-rev", memory_budget=need).budget_elements == need // 4


def test_second_order_speaks_the_engines_verbs():
    so = jb.second_order
    widths = (6, 6, 1, 5, 4, 1)
    splits = so.optimal(widths)
    p = so.plan(widths)
    assert p.tree == p.splits == splits and p.formula == so.format(splits, 5)
    assert p.macs == so.cost(widths, splits) and p.peak_elements == so.memory(widths, splits)
    assert so.min_peak(widths) <= p.peak_elements
    assert min(so.cost(widths, t) for t in so.trees(5)) == p.macs
    assert sum(s.macs for s in p.steps) == p.macs
    assert max(s.held for s in p.steps) == p.peak_elements
    try:
        so.register("Split-Everywhere", lambda d: tuple(range(1, len(d) - 1)))
        q = jb.plan_hessian(widths, "split-everywhere")
        assert q.splits == (1, 2, 3, 4) and q.strategy == "split-everywhere"
        net = jb.mlp(widths, seed=0, dtype=jnp.float64)
        x = point(6)
        np.testing.assert_allclose(
            jb.hessian(net, x, "split-everywhere"), jax.hessian(scalar(net))(x), 1e-11, 1e-14
        )
    finally:
        so.STRATEGIES.pop("split-everywhere", None)
    with pytest.raises(jb.JacobenchError, match="expected a function"):
        so.register("x", 3)


def test_all_splits_counts():
    assert [len(list(search.all_splits(n))) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert list(itertools.islice(search.all_splits(4), 3)) == [(), (1,), (2,)]
