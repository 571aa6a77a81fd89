import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobench as jb
from jacobench import explicit

widths_st = st.lists(st.integers(1, 12), min_size=2, max_size=7).map(tuple)


def random_jacobians(widths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((widths[i + 1], widths[i])) for i in range(len(widths) - 1)]


def left_to_right(mats):
    out = mats[-1]
    for m in reversed(mats[:-1]):
        out = out @ m
    return out


@given(widths_st, st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_every_bracketing_equals_the_plain_product_numpy(widths, seed):
    mats = random_jacobians(widths, seed)
    ref = left_to_right(mats)
    for tree in explicit.trees(len(widths) - 1):
        out = jb.multiply(mats, jb.plan(widths, tree))
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@given(widths_st, st.integers(0, 2**31))
@settings(max_examples=25, deadline=None)
def test_every_named_plan_equals_the_plain_product_jax(widths, seed):
    mats = [jnp.asarray(m) for m in random_jacobians(widths, seed)]
    ref = np.asarray(left_to_right([np.asarray(m) for m in mats]))
    for name in jb.explicit.STRATEGIES:
        out = jb.multiply(mats, jb.plan(widths, name))
        assert isinstance(out, jax.Array) and out.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-12, atol=1e-12)


def test_multiply_inside_jit():
    widths = (6, 5, 1, 5, 6)
    mats = [jnp.asarray(m) for m in random_jacobians(widths, 3)]
    p = jb.plan(widths)

    @jax.jit
    def run(ms):
        return jb.multiply(ms, p)

    np.testing.assert_allclose(run(mats), left_to_right([np.asarray(m) for m in mats]), rtol=1e-12)
    # Planned from the shapes at trace time, by name:
    got = jax.jit(lambda ms: jb.multiply(ms, "reverse"))(mats)
    np.testing.assert_allclose(got, left_to_right([np.asarray(m) for m in mats]), rtol=1e-12)


def test_single_layer_returns_it():
    j = np.arange(6.0).reshape(2, 3)
    assert jb.multiply([j]) is j


def test_strategy_name_or_tree_is_planned_from_shapes():
    mats = random_jacobians((3, 4, 5, 6))
    ref = left_to_right(mats)
    np.testing.assert_allclose(jb.multiply(mats, ((3, 2), 1)), ref, rtol=1e-12)
    np.testing.assert_allclose(jb.multiply(mats), ref, rtol=1e-12)


def test_nested_lists_are_accepted():
    assert jb.multiply([[[1.0, 2.0]], [[3.0]]], "forward").tolist() == [[3.0, 6.0]]


def test_wrong_shape_against_the_plan():
    mats = [np.ones((4, 3)), np.ones((5, 5))]
    with pytest.raises(
        jb.JacobenchError,
        match=r"jacobians\[1\] has shape \(5, 5\), expected \(5, 4\) from widths \(3, 4, 5\)",
    ):
        jb.multiply(mats, jb.plan((3, 4, 5)))


def test_shapes_that_do_not_chain():
    with pytest.raises(
        jb.JacobenchError,
        match=r"jacobians\[1\] has shape \(5, 5\), expected 4 columns to chain with jacobians\[0\]",
    ):
        jb.multiply([np.ones((4, 3)), np.ones((5, 5))], "optimal")


def test_wrong_rank():
    with pytest.raises(
        jb.JacobenchError,
        match=r"jacobians\[0\] has shape \(4,\) \(rank 1\), expected a rank-2 matrix \(d_1, d_0\)",
    ):
        jb.multiply([np.ones(4)], "forward")


def test_wrong_count():
    with pytest.raises(
        jb.JacobenchError, match=r"got 1 jacobians, expected 2 from widths \(3, 4, 5\)"
    ):
        jb.multiply([np.ones((4, 3))], jb.plan((3, 4, 5)))


def test_empty():
    with pytest.raises(jb.JacobenchError, match=r"jacobians is empty"):
        jb.multiply([], "forward")
