"""The matrix-free executor's dense fast path, checked against jax.jacfwd in float64.

Every strategy of the registry, every plan of the grammar on short chains, batched (memory-budgeted)
plans, chains that mix Dense layers with arbitrary functions: eagerly, under jit and under vmap.
Then the structure of what runs: one product per dense layer in a tangent pass, identity seeds
without a product, and vmapped passes that stay single products over all points.
"""

from dataclasses import replace

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb
from jacobench import matrix_free as mf
from jacobench.chain import ACTIVATIONS, Dense
from jacobench.matrix_free import Node, dense
from jacobench.matrix_free.tree import batch_sizes, block_width

STRATEGY_NAMES = sorted(mf.STRATEGIES)
TOL = {"rtol": 1e-12, "atol": 1e-12}


def make_x(widths, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1.5, 1.5, widths[0]))


def mixed_chain(widths, pattern, seed=0):
    """Dense layers where ``pattern`` has "d", an arbitrary function of the same shape elsewhere."""
    net = jb.mlp(widths, activation="tanh", seed=seed, dtype=jnp.float64)
    layers = []
    for layer, kind in zip(net.layers, pattern, strict=True):
        if kind == "d":
            layers.append(layer)
        else:  # not a Dense: reached only through jax.jvp / jax.vjp
            w, b = layer.weight, layer.bias
            layers.append(lambda h, w=w, b=b: jnp.sin(w @ h) + b * jnp.cos(h.sum()))
    return jb.Chain(layers, widths, name=f"mixed-{pattern}")


def with_batches(tree, widths):
    """``tree`` with the smallest batch size below each block's width on every batchable node."""

    def rebuild(node):
        kids = tuple(rebuild(c) for c in node.children)
        sizes = batch_sizes(block_width(widths, node))[1:] if node.op != "multiply" else ()
        return replace(node, children=kids, batch=sizes[-1] if sizes else None)

    return rebuild(tree)


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("widths", "activation"),
    [((5, 7, 3, 6), "tanh"), ((20, 20, 3, 20, 20), "relu"), ((3, 17, 17, 2), "sigmoid"),
     ((18, 17, 4, 16), "identity")],
    ids=str,
)  # fmt: skip
def test_every_strategy_equals_jacfwd_eagerly_jitted_and_vmapped(widths, activation):
    # block widths below and at or above dense.FUSE_BELOW: the primal rides along, or not
    net = jb.mlp(widths, activation=activation, seed=7, dtype=jnp.float64)
    xs = jnp.stack([make_x(widths, s) for s in range(3)])
    ref = jax.vmap(jax.jacfwd(net))(xs)
    for name in STRATEGY_NAMES:
        np.testing.assert_allclose(jb.jacobian(net, xs[0], name), ref[0], **TOL, err_msg=name)
        jitted = jax.jit(lambda x, name=name: jb.jacobian(net, x, name))
        np.testing.assert_allclose(jitted(xs[1]), ref[1], **TOL, err_msg=name)
        vmapped = jax.jit(jax.vmap(lambda x, name=name: jb.jacobian(net, x, name)))
        np.testing.assert_allclose(vmapped(xs), ref, **TOL, err_msg=name)


@pytest.mark.parametrize("pattern", ["dfd"])  # all-dense chains: tests/test_matrix_free.py
def test_every_plan_of_the_grammar_on_mixed_chains(pattern):
    widths = (4, 6, 3, 5)
    net = mixed_chain(widths, pattern)
    x = make_x(widths, 1)
    ref = jax.jacfwd(net)(x)
    trees = list(mf.trees(3))  # every other plan, and every fourth one in batches (time)
    for t in trees[::2] + [with_batches(tree, widths) for tree in trees[1::4]]:
        got = jb.jacobian(net, x, jb.plan_matrix_free(widths, t))
        np.testing.assert_allclose(got, ref, **TOL, err_msg=f"{pattern}: {mf.format(t)}")


@pytest.mark.parametrize("pattern", ["dddd", "dfdd"])
def test_batched_plans_jitted_and_vmapped(pattern):
    widths = (9, 7, 3, 8, 6)
    net = mixed_chain(widths, pattern, seed=2)
    xs = jnp.stack([make_x(widths, s) for s in range(3)])
    ref = jax.vmap(jax.jacfwd(net))(xs)
    trees = [
        Node("multiply", 1, 4, (Node("tangents", 3, 4), Node("adjoints", 1, 2))),
        Node("push", 1, 4, (Node("adjoints", 1, 2),)),
        Node("pull", 1, 4, (Node("tangents", 3, 4),)),
        Node("pull", 1, 4, (Node("push", 2, 4, (Node("tangents", 2, 2),)),)),
        Node("tangents", 1, 4),
        Node("adjoints", 1, 4),
    ]
    for tree in trees:
        p = jb.plan_matrix_free(widths, with_batches(tree, widths))
        got = jax.jit(lambda x, p=p: jb.jacobian(net, x, p))(xs[0])
        np.testing.assert_allclose(got, ref[0], **TOL, err_msg=p.formula)
        got = jax.jit(jax.vmap(lambda x, p=p: jb.jacobian(net, x, p)))(xs)
        np.testing.assert_allclose(got, ref, **TOL, err_msg=p.formula)


def test_memory_budgeted_jacobians_use_the_fast_path_correctly():
    widths = (100, 100, 10, 100, 100)
    net = jb.mlp(widths, seed=6, dtype=jnp.float64)
    x = make_x(widths)
    ref = jax.jacfwd(net)(x)
    for budget in (83_200, 90_000, 95_000):  # batch=1, batch=4, push batch=2
        p = jb.plan_matrix_free(widths, memory_budget=budget, dtype="float64")
        assert any(n.batch for n in _nodes(p.tree)), p.formula  # the budget forces batches
        got = jax.jit(lambda x, budget=budget: jb.jacobian(net, x, memory_budget=budget))(x)
        np.testing.assert_allclose(got, ref, **TOL, err_msg=p.formula)


def test_relu_at_a_kink_and_identity_layers_match_jax():
    # pre-activations exactly 0: JAX's relu has slope 0 there, and so does the fast path
    zero = Dense(jnp.zeros((3, 4)), jnp.zeros(3), "relu")
    net = jb.Chain([zero, Dense(jnp.ones((2, 3)), jnp.array([0.5, -0.5]), "identity")], (4, 3, 2))
    x = jnp.array([0.3, -0.2, 0.5, 1.0])
    for name in STRATEGY_NAMES:
        np.testing.assert_array_equal(jb.jacobian(net, x, name), jax.jacfwd(net)(x))


def test_float32_weights_with_a_float64_point_and_float32_throughout():
    net = jb.mlp((6, 5, 2, 5, 6), seed=3)  # float32 weights
    x64 = make_x(net.widths)
    ref = jax.jacfwd(net)(x64)
    for name in STRATEGY_NAMES:
        got = jax.jit(lambda x, name=name: jb.jacobian(net, x, name))(x64)
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        assert jb.jacobian(net, x64.astype(jnp.float32), name).dtype == jnp.float32


def test_subclasses_of_dense_keep_their_own_call():
    class Doubled(Dense):
        def __call__(self, h):
            return 2.0 * super().__call__(h)

    base = jb.mlp((4, 3, 5), seed=1, dtype=jnp.float64)
    net = jb.Chain([Doubled(layer.weight, layer.bias, layer.activation) for layer in base.layers],
                   base.widths)  # fmt: skip
    assert not dense.is_dense(net.layers)
    x = make_x(net.widths)
    for name in STRATEGY_NAMES:
        np.testing.assert_allclose(jb.jacobian(net, x, name), jax.jacfwd(net)(x), **TOL)


# --- what runs --------------------------------------------------------------------------------


def _nodes(tree):
    stack, out = [tree], []
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _dots(fn, x):
    """The dot_general equations of ``fn``'s jaxpr at ``x`` (sub-jaxprs included)."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                found.append(eqn)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(x).jaxpr)
    return found


def test_a_thin_tangent_pass_reads_each_weight_once():
    widths = (6, 20, 20, 20)  # 6 tangents: below FUSE_BELOW, the primal rides along
    net = jb.mlp(widths, seed=0, dtype=jnp.float64)
    p = jb.plan_matrix_free(widths, "forward")
    dots = _dots(lambda x: jb.jacobian(net, x, p), make_x(widths))
    # layer 1: W1 x only (its identity seed costs no product); layers 2, 3: W [h | V], 7 columns
    assert [tuple(d.outvars[0].aval.shape) for d in dots] == [(20,), (20, 7), (20, 7)]


def test_wide_tangent_blocks_and_adjoints_use_the_activations_once():
    widths = (24, 20, 20, 3)
    net = jb.mlp(widths, seed=0, dtype=jnp.float64)
    forward = _dots(lambda x: jb.jacobian(net, x, "forward"), make_x(widths))
    # 24 tangents: each layer's primal by its own product, then one product of the tangents
    assert sorted(tuple(d.outvars[0].aval.shape) for d in forward) == sorted(
        [(20,), (20,), (3,), (20, 24), (3, 24)]
    )
    reverse = _dots(lambda x: jb.jacobian(net, x, "reverse"), make_x(widths))
    # three primal products, then two adjoint products (layer 3's identity rows: no product)
    assert sorted(tuple(d.outvars[0].aval.shape) for d in reverse) == sorted(
        [(20,), (20,), (3,), (3, 20), (3, 24)]
    )


def test_vmapped_passes_are_single_products_over_all_points():
    widths = (12, 16, 4, 16, 12)
    net = jb.mlp(widths, seed=0)
    xs = jnp.ones((8, 12), jnp.float32)
    single = _dots(lambda x: jb.jacobian(net, x), xs[0])
    batched = _dots(jax.vmap(lambda x: jb.jacobian(net, x)), xs)
    assert len(batched) == len(single)
    for eqn in batched:  # every product carries the 8 points in one operation
        shapes = [tuple(v.aval.shape) for v in eqn.invars]
        assert any(8 in s for s in shapes), shapes
    # and XLA runs no loop over the points
    text = jax.jit(jax.vmap(lambda x: jb.jacobian(net, x))).lower(xs).as_text()
    assert "while" not in text


def test_fast_path_covers_dense_segments_only():
    net = mixed_chain((4, 6, 3, 5), "dfd")
    assert dense.is_dense(net.layers[:1]) and not dense.is_dense(net.layers)
    for a in ACTIVATIONS:
        assert dense.is_dense(jb.mlp((2, 3, 4), activation=a).layers)


@pytest.mark.parametrize("start", [0, 2])
def test_eye_takes_columns_rows_and_entries(start):
    m = jnp.arange(20.0).reshape(4, 5)
    eye = dense.Eye(start, 2)
    np.testing.assert_array_equal(eye.take(m, axis=1), m[:, start : start + 2])
    np.testing.assert_array_equal(eye.take(m, axis=0), m[start : start + 2])
    np.testing.assert_array_equal(eye.take(jnp.arange(4.0), axis=0), jnp.arange(4.0)[start:][:2])
    assert dense.Eye(0, 5).take(m, axis=1) is m


def test_dense_runs_at_either_end_of_a_mixed_chain_jitted():
    widths = (3, 5, 2, 4)
    x = make_x(widths, 4)
    for pattern in ("fdd", "ddf"):
        net = mixed_chain(widths, pattern, seed=5)
        ref = jax.jacfwd(net)(x)
        for name in STRATEGY_NAMES:
            got = jax.jit(lambda x, net=net, name=name: jb.jacobian(net, x, name))(x)
            np.testing.assert_allclose(got, ref, **TOL, err_msg=f"{pattern} {name}")
