"""Jacobians of plain JAX functions: discovery, per-segment costs, results equal jax.jacfwd."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench.functions import count_jaxpr, discover
from jacobench.functions import trace as trace_module

STRATEGIES = sorted(jb.matrix_free.STRATEGIES)


def dense(rng, d_in, d_out):
    w = jnp.asarray(rng.standard_normal((d_out, d_in)) / np.sqrt(d_in))
    return w, jnp.asarray(0.1 * rng.standard_normal(d_out))


def make_autoencoder(widths=(64, 40, 24, 4, 24, 40, 64), seed=0):
    rng = np.random.default_rng(seed)
    params = [dense(rng, a, b) for a, b in itertools.pairwise(widths)]

    def autoencoder(x):
        for w, b in params:
            x = jnp.tanh(w @ x + b)
        return x

    return autoencoder


def make_residual(seed=1):
    """32 -> 32 (input projection) -> residual block -> 4 (narrow) -> 32 -> residual block."""
    rng = np.random.default_rng(seed)
    (w0, b0), (w1, b1), (w2, b2) = dense(rng, 32, 32), dense(rng, 32, 64), dense(rng, 64, 32)
    (p, pb), (u, ub) = dense(rng, 32, 4), dense(rng, 4, 32)
    (w3, b3), (w4, b4) = dense(rng, 32, 64), dense(rng, 64, 32)

    def residual(x):
        h = w0 @ x + b0
        h = h + w2 @ jnp.tanh(w1 @ h + b1) + b2
        z = jnp.tanh(p @ h + pb)
        h = u @ z + ub
        return h + w4 @ jnp.tanh(w3 @ h + b3) + b4

    return residual


def make_no_cut(seed=2):
    """x + W2 tanh(W1 x): x is needed at the very end, so no single value carries everything."""
    rng = np.random.default_rng(seed)
    (w1, b1), (w2, b2) = dense(rng, 16, 48), dense(rng, 48, 16)

    def no_cut(x):
        return x + w2 @ jnp.tanh(w1 @ x + b1) + b2

    return no_cut


@jax.custom_jvp
def soft_clip(h):
    return jnp.tanh(h)


@soft_clip.defjvp
def _soft_clip_jvp(primals, tangents):
    (h,), (t,) = primals, tangents
    return jnp.tanh(h), (1.0 - jnp.tanh(h) ** 2) * t


def make_control_flow(seed=3):
    """A chain through custom_jvp, scan and cond: 12 -> 6 (custom_jvp) -> 6 (scan, cond) -> 12.

    The cond needs its predicate and h together: no cut before it; it has no products, so its
    output and the scan's, equally wide, are one run: the segment ends after the cond.
    """
    rng = np.random.default_rng(seed)
    (w1, _), (w2, _), (w3, _) = dense(rng, 12, 6), dense(rng, 6, 6), dense(rng, 6, 12)

    def control_flow(x):
        h = soft_clip(w1 @ x)

        def step(carry, scale):
            return jnp.tanh(w2 @ carry) * scale, None

        h, _ = jax.lax.scan(step, h, jnp.array([1.0, 0.5, 2.0]))
        h = jax.lax.cond(h[0] > 0, lambda z: jnp.sin(z), lambda z: z**3, h)
        return w3 @ h

    return control_flow


MODELS = {
    "autoencoder": (make_autoencoder(), 64, (64, 40, 24, 4, 24, 40, 64)),
    "residual": (make_residual(), 32, (32, 32, 32, 4, 32, 32)),
    "no-cut": (make_no_cut(), 16, (16, 16)),
    "control-flow": (make_control_flow(), 12, (12, 6, 6, 12)),
}


def point(n, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.0, 1.0, n))


def assert_tree_close(got, want, atol=1e-12):
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=atol)


# --- discovery --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_discovery_finds_the_expected_widths(name):
    f, n, widths = MODELS[name]
    chain = jb.chain_of(f, point(n))
    assert chain.widths == widths
    assert chain.name == f.__name__
    assert len(chain.segments) == len(chain.layers) == len(widths) - 1


def test_autoencoder_segments_are_its_layers():
    chain = jb.chain_of(make_autoencoder(), point(64))
    lines = chain.describe().splitlines()
    assert lines[0] == "autoencoder: 6 segments, widths 64-40-24-4-24-40-64"
    assert lines[3] == (
        "J3: f64[24] -> f64[4]: dot_general, add, tanh "
        "(96 multiply-adds per tangent, 96 per adjoint, 8 elementwise)"
    )
    assert all(s.primitives == ("dot_general", "add", "tanh") for s in chain.segments)
    assert chain.layer_costs[0] == (64 * 40 + 80, 64 * 40 + 80)


def test_segments_evaluate_the_function():
    f, n, _ = MODELS["control-flow"]
    chain = jb.chain_of(f, point(n))
    x = point(n, seed=5)
    np.testing.assert_allclose(chain(x), f(x), rtol=1e-12)
    scan_segment = chain.segments[1]
    assert "scan" in scan_segment.primitives


def test_weights_computed_inside_the_function_do_not_count():
    """Constants built in f (broadcasts, products of weights) are a prelude, not cut values."""

    def f(x):
        w = jnp.ones((3, 8)) * 0.1
        v = w.T @ w  # a product of constants: (8, 8)
        return jnp.tanh(w @ jnp.tanh(v @ x))

    chain = jb.chain_of(f, point(8))
    assert chain.widths == (8, 8, 3)
    assert chain.segments[0].count.tangent_macs == 64  # v @ x only: w.T @ w is not per tangent
    np.testing.assert_allclose(jb.jacobian(f, point(8)), jax.jacfwd(f)(point(8)), atol=1e-14)


def test_unknown_and_nested_primitives_stay_inside_a_segment():
    def f(x):  # linalg.solve: custom_linear_solve, lu, triangular_solve, gather, sort, ...
        a = jnp.eye(4) + 0.1 * jnp.outer(x, x)
        return jnp.linalg.solve(a, x)

    chain = jb.chain_of(f, point(4))
    assert chain.widths == (4, 4)
    np.testing.assert_allclose(jb.jacobian(f, point(4)), jax.jacfwd(f)(point(4)), atol=1e-12)


def test_integer_values_are_not_cut_points():
    def f(x):  # after argmax, an integer and x are live together: no cut there
        i = jnp.argmax(x)
        return x * x[i]

    assert jb.chain_of(f, point(5)).widths == (5, 5)


def test_max_segments_keeps_the_narrowest_cut_points():
    widths = (8, 8, 8, 2, 8, 8, 8)
    f = make_autoencoder(widths)
    assert jb.chain_of(f, point(8)).widths == widths
    assert jb.chain_of(f, point(8), max_segments=2).widths == (8, 2, 8)
    assert jb.chain_of(f, point(8), max_segments=1).widths == (8, 8)


def test_a_hundred_layer_model_is_capped_and_still_exact():
    f = make_autoencoder((16,) * 50 + (3,) + (16,) * 50)
    chain = jb.chain_of(f, point(16))
    assert chain.n_layers == discover.__globals__["MAX_SEGMENTS"]
    assert 3 in chain.widths
    x = point(16)
    np.testing.assert_allclose(jb.jacobian(f, x), jax.jacfwd(f)(x), atol=1e-12)


def test_discovery_is_cached_per_function_and_input():
    f = make_autoencoder()
    first = trace_module.trace(f, point(64))
    assert trace_module.trace(f, point(64, seed=1)) is first  # same shapes: same trace
    assert trace_module.trace(f, point(64).astype(jnp.float32)) is not first
    g = make_autoencoder()
    assert trace_module.trace(g, point(64)) is not first


def test_discovery_under_jit_with_traced_weights_is_not_cached():
    @jax.jit
    def jac(w, x):
        return jb.jacobian(lambda x: jnp.tanh(w @ x), x)

    w = jnp.asarray(np.random.default_rng(0).standard_normal((3, 5)))
    x = point(5)
    np.testing.assert_allclose(jac(w, x), jax.jacfwd(lambda x: jnp.tanh(w @ x))(x), atol=1e-14)
    np.testing.assert_allclose(jac(2 * w, x), jax.jacfwd(lambda x: jnp.tanh(2 * w @ x))(x))


# --- results ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "strategy"),
    [("autoencoder", s) for s in STRATEGIES]
    + [
        (name, s)
        for name in sorted(MODELS)
        if name != "autoencoder"
        for s in ("optimal", "reverse")
    ],
)
def test_strategies_equal_jacfwd(name, strategy):
    f, n, _ = MODELS[name]
    x = point(n)
    got = jax.jit(lambda x: jb.jacobian(f, x, strategy))(x)  # jitted: compiling beats op by op
    assert_tree_close(got, jax.jit(jax.jacfwd(f))(x))


def test_eagerly():
    f, n, _ = MODELS["residual"]
    x = point(n)
    assert_tree_close(jb.jacobian(f, x), jax.jacfwd(f)(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_jit_and_vmap(name):
    f, n, _ = MODELS[name]
    xs = jnp.stack([point(n, seed=s) for s in range(3)])
    want = jax.vmap(jax.jacfwd(f))(xs)
    got = jax.jit(jax.vmap(lambda x: jb.jacobian(f, x)))(xs)
    assert_tree_close(got, want)
    assert_tree_close(jax.jit(lambda x: jb.jacobian(f, x))(xs[0]), want[0])


def test_pytree_input_and_output():
    rng = np.random.default_rng(4)
    w = jnp.asarray(rng.standard_normal((6, 7)))

    def f(p):
        h = jnp.concatenate([p["a"], p["b"].ravel(), jnp.atleast_1d(p["c"])])  # 3 + 3 + 1
        z = jnp.tanh(w @ h)
        return {"z": z.reshape(2, 3), "s": (z.sum(), z[:2])}

    p = {"a": point(3), "b": point(3, seed=1).reshape(3, 1), "c": jnp.float64(0.5)}
    chain = jb.chain_of(f, p)
    assert chain.widths[0] == 7 and chain.widths[-1] == 6 + 1 + 2
    want = jax.jacfwd(f)(p)
    for strategy in ("optimal", "forward", "reverse"):
        assert_tree_close(jax.jit(lambda p, s=strategy: jb.jacobian(f, p, s))(p), want)


def test_matrix_input_and_scalar_output():
    w = jnp.asarray(np.random.default_rng(5).standard_normal((4, 3)))

    def f(x):  # (3, 5) -> ()
        return jnp.sum(jnp.tanh(w @ x) ** 2)

    x = point(15).reshape(3, 5)
    assert_tree_close(jb.jacobian(f, x), jax.jacfwd(f)(x))


def test_special_functions():
    x = point(4)
    assert_tree_close(jb.jacobian(lambda x: x, x), jax.jacfwd(lambda x: x)(x))
    const = jnp.arange(3.0)
    assert_tree_close(jb.jacobian(lambda x: const, x), jax.jacfwd(lambda x: const)(x))
    assert_tree_close(jb.jacobian(lambda x: (), x), jax.jacfwd(lambda x: ())(x))


def test_given_plans_and_memory_budgets():
    f = make_autoencoder()
    x = point(64)
    want = jax.jacfwd(f)(x)
    chain = jb.chain_of(f, x)
    assert_tree_close(jb.jacobian(f, x, chain.plan("reverse")), want)
    # unbudgeted, the optimal plan peaks at 4,608 float64 elements (36,864 bytes)
    assert chain.plan().peak_elements == 4608
    assert_tree_close(jb.jacobian(f, x, memory_budget=35_000), want)
    small = chain.plan(memory_budget=35_000)
    assert small.peak_elements * 8 <= 35_000
    with pytest.raises(jb.JacobenchError, match=r"plan is for widths \(3, 5\)"):
        jb.jacobian(f, x, jb.plan_matrix_free((3, 5)))
    with pytest.raises(jb.JacobenchError, match=r"unknown strategy 'sideways'"):
        jb.jacobian(f, x, "sideways")


def test_chain_dtype_is_checked():
    chain = jb.chain_of(make_autoencoder(), point(64))
    with pytest.raises(jb.JacobenchError, match=r"x has dtype float32, expected float64"):
        jb.jacobian(chain, point(64).astype(jnp.float32))


# --- costs against XLA ------------------------------------------------------------------------


def xla_flops(fn, *args):
    return jax.jit(fn).lower(*args).compile().cost_analysis()["flops"]


def conv_model(x):
    k = jnp.asarray(np.random.default_rng(6).standard_normal((8, 2, 5)))
    y = jax.lax.conv_general_dilated(x.reshape(1, 2, 40), k, (1,), "VALID")  # (1, 8, 36)
    return jnp.tanh(y.ravel()[:40])


def scan_model(x):
    rng = np.random.default_rng(7)
    w, v = jnp.asarray(rng.standard_normal((24, 40))), jnp.asarray(rng.standard_normal((40, 24)))
    h = jnp.tanh(w @ x)
    return jax.lax.scan(lambda c, _: (jnp.tanh(w @ (v @ c)), None), h, None, 3, unroll=True)[0]


@pytest.mark.parametrize(
    "f, n", [(make_autoencoder(), 64), (make_residual(), 32), (conv_model, 80), (scan_model, 40)]
)
def test_segment_costs_match_xla_flop_counts(f, n):
    """XLA counts 2 flops per multiply-add, plus elementwise work (bounded by ours, 4x)."""
    chain = jb.chain_of(f, point(n))
    for seg, layer in zip(chain.segments, chain.layers, strict=True):
        h, t, ct = jnp.ones(seg.in_width), jnp.ones(seg.in_width), jnp.ones(seg.out_width)
        primal = xla_flops(layer, h)
        jvp = xla_flops(lambda h, t, layer=layer: jax.jvp(layer, (h,), (t,)), h, t)
        vjp = xla_flops(lambda h, c, layer=layer: (layer(h), jax.vjp(layer, h)[1](c)), h, ct)
        c = seg.count
        slack = 4 * c.elementwise + 8
        assert abs(primal - 2 * c.primal_macs) <= slack, seg.describe()
        assert abs(jvp - primal - 2 * c.tangent_macs) <= slack, seg.describe()
        assert abs(vjp - primal - 2 * c.adjoint_macs) <= slack, seg.describe()
        assert c.tangent_macs > 0


def test_nested_jaxprs_are_counted_like_xla():
    w, v = jnp.ones((40, 64)), jnp.ones((64, 40))
    h = jnp.ones(64)

    def branches(h):  # the costlier branch counts
        return jax.lax.cond(h[0] > 0, lambda z: v @ (w @ z), jnp.sin, h)

    def loop(h):  # a while loop counts one trip, as XLA does
        body = lambda c: (c[0] + 1, jnp.tanh(v @ (w @ c[1])))  # noqa: E731
        return jax.lax.while_loop(lambda c: c[0] < 5, body, (0, h))[1]

    for g in (branches, loop):
        c = count_jaxpr(jax.make_jaxpr(g)(h), [True])
        assert c.primal_macs == c.tangent_macs == 2 * 40 * 64
        assert abs(xla_flops(g, h) - 2 * c.primal_macs) <= 4 * c.elementwise + 8

    def products(h):  # in jit and in a scan of length 7; x @ x counts twice per tangent
        inner = jax.jit(lambda z: w @ z)
        s, _ = jax.lax.scan(lambda c, _: (jnp.tanh(v @ inner(c)), None), h, None, length=7)
        return s @ s

    c = count_jaxpr(jax.make_jaxpr(products)(h), [True])
    assert c.primal_macs == 7 * 2 * 40 * 64 + 64
    assert c.tangent_macs == 7 * 2 * 40 * 64 + 2 * 64


def test_constant_products_cost_no_tangents():
    w = jnp.ones((5, 5))
    c = count_jaxpr(jax.make_jaxpr(lambda x: (w @ w) @ x)(jnp.ones(5)), [True])
    assert (c.primal_macs, c.tangent_macs, c.adjoint_macs) == (150, 25, 25)


# --- errors -----------------------------------------------------------------------------------


def test_functions_jax_cannot_trace():
    def branchy(x):
        if x.sum() > 0:  # Python control flow on a traced value
            return x
        return -x

    with pytest.raises(jb.JacobenchError, match=r"branchy could not be traced by JAX") as info:
        jb.jacobian(branchy, point(3))
    assert isinstance(info.value.__cause__, jax.errors.TracerBoolConversionError)
    with pytest.raises(jb.JacobenchError, match=r"could not be traced by JAX") as info:
        jb.chain_of(lambda x: x @ jnp.ones((4, 4)), point(3))
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    "x, message",
    [
        (jnp.arange(3), r"x has dtype int(32|64), expected a floating dtype"),
        ({"a": jnp.ones(2), "n": np.int8(3)}, r"x\['n'\] has dtype int8, expected a floating"),
        (jnp.ones(3, dtype=jnp.complex64), r"x has dtype complex64, expected a real floating"),
        ("abc", r"x is str, expected a floating array"),
        ({}, r"x is \{\} with no array leaves"),
    ],
)
def test_bad_inputs(x, message):
    with pytest.raises(jb.JacobenchError, match=message):
        jb.jacobian(lambda x: x, x)
    with pytest.raises(jb.JacobenchError, match=message):
        jb.chain_of(lambda x: x, x)


@pytest.mark.parametrize(
    "f, message",
    [
        (lambda x: "done", r"<lambda>\(x\) is str, expected an array"),
        (lambda x: {"y": x, "note": object()}, r"<lambda>\(x\)\['note'\] is object"),
        (lambda x: x > 0, r"<lambda>\(x\) has dtype bool, expected a real floating dtype"),
        (lambda x: x.astype(jnp.complex64), r"has dtype complex64, expected a real floating"),
    ],
)
def test_outputs_that_are_not_floating_arrays(f, message):
    with pytest.raises(jb.JacobenchError, match=message):
        jb.jacobian(f, point(3))


@jax.custom_vjp
def scale_gradient(h):  # a linear custom rule, so that every plan gives the same Jacobian
    return h


scale_gradient.defvjp(lambda h: (h, None), lambda _, g: (0.5 * g,))


def test_custom_vjp_segments_are_pulled_never_pushed():
    w1, w2 = jnp.ones((3, 8)) / 8, jnp.ones((2, 3)) / 3

    def f(x):  # 8 -> 3 (a custom_vjp inside) -> 2
        return w2 @ scale_gradient(jnp.tanh(w1 @ x))

    chain = jb.chain_of(f, point(8))
    assert chain.widths == (8, 3, 2)
    assert [s.count.custom_vjp for s in chain.segments] == [True, False]
    x = point(8)
    want = jax.jacrev(f)(x)
    assert_tree_close(jb.jacobian(f, x, "reverse"), want)
    assert_tree_close(jb.jacobian(f, x), want)
    wide = jnp.ones((8, 2))  # 8 -> 3 -> 2 -> 8: forward would be cheaper on the widths
    g = lambda x: wide @ f(x)  # noqa: E731
    assert jb.chain_of(g, x).plan().formula == "jvp(J3, seed=vjp(J2 J1))"  # J1 by adjoints
    assert_tree_close(jb.jacobian(g, x), jax.jacrev(g)(x))
    for strategy in ("forward", "jacfwd"):
        with pytest.raises(jb.JacobenchError, match=r"pushes tangents through J1 of 'f'"):
            jb.jacobian(f, x, strategy)


def test_not_callable():
    with pytest.raises(jb.JacobenchError, match=r"f is int, expected a JAX-traceable function"):
        jb.chain_of(3, point(3))  # type: ignore[arg-type]
    with pytest.raises(jb.JacobenchError, match=r"chain is int, expected a jacobench\.Chain"):
        jb.jacobian(3, point(3))  # type: ignore[arg-type]


def test_scalar_input_and_tuple_output():
    def f(s):
        return jnp.sin(s) * jnp.arange(3.0), s**2

    assert_tree_close(jb.jacobian(f, 1.5), jax.jacfwd(f)(1.5))


def test_max_segments_must_be_positive():
    with pytest.raises(jb.JacobenchError, match=r"max_segments must be a positive int, got 0"):
        jb.chain_of(lambda x: x, point(3), max_segments=0)


def test_empty_chain_has_no_widths():
    with pytest.raises(jb.JacobenchError, match=r"has 3 inputs and 0 outputs"):
        jb.chain_of(lambda x: jnp.zeros(0), point(3))


def test_widths_are_sizes():
    chain = jb.chain_of(lambda x: jnp.tanh(x.reshape(2, 3)), point(6))
    assert chain.widths == (6, 6)
    assert math.prod(chain.segments[-1].out_shape) == 6
