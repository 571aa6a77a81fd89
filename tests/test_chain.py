import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jacobench as jb


def test_chain_composes_its_layers_in_order():
    c = jb.Chain([lambda h: h + 1.0, lambda h: 2.0 * h], widths=[2, 2, 2], name="affine")
    assert c.widths == (2, 2, 2) and c.n_layers == 2 and c.name == "affine"
    np.testing.assert_allclose(c(jnp.array([0.0, 1.0])), [2.0, 4.0])
    assert repr(c) == "Chain(name='affine', widths=(2, 2, 2))"


def test_chain_rejects_bad_construction():
    with pytest.raises(jb.JacobenchError, match=r"got 1 layers, expected 2 .* widths \(3, 4, 5\)"):
        jb.Chain([jnp.tanh], widths=(3, 4, 5))
    with pytest.raises(jb.JacobenchError, match=r"layers\[1\] is 7 of type int, expected a func"):
        jb.Chain([jnp.tanh, 7], widths=(3, 3, 3))
    with pytest.raises(jb.JacobenchError, match=r"widths\[1\] = 0 is not positive"):
        jb.Chain([jnp.tanh], widths=(3, 0))


def test_check_shapes_names_the_bad_layer():
    c = jb.Chain([jnp.tanh, lambda h: h[:2]], widths=(3, 3, 1))
    with pytest.raises(
        jb.JacobenchError,
        match=r"layers\[1\] maps shape \(3,\) to shape \(2,\), expected \(1,\) from widths "
        r"\(3, 3, 1\)",
    ):
        c.check_shapes()
    broken = jb.Chain([lambda h: jnp.ones((4, 4)) @ h], widths=(3, 4))
    with pytest.raises(jb.JacobenchError, match=r"layers\[0\] failed on an input of shape \(3,\)"):
        broken.check_shapes("float32")


def test_check_shapes_is_remembered_per_dtype():
    calls = []

    def layer(h):
        calls.append(h.dtype)
        return h

    c = jb.Chain([layer], widths=(2, 2))
    c.check_shapes("float32")
    c.check_shapes(jnp.float32)
    assert len(calls) == 1
    c.check_shapes("float64")
    assert len(calls) == 2


def test_mlp_is_seeded_and_typed():
    a = jb.mlp((3, 5, 2), seed=4, dtype=jnp.float64)
    b = jb.mlp((3, 5, 2), seed=4, dtype=jnp.float64)
    c = jb.mlp((3, 5, 2), seed=5, dtype=jnp.float64)
    assert a.name == "mlp(3-5-2, tanh)"
    assert a.layers[0].weight.dtype == jnp.float64 and a.layers[1].weight.shape == (2, 5)
    np.testing.assert_array_equal(a.layers[0].weight, b.layers[0].weight)
    assert not np.array_equal(a.layers[0].weight, c.layers[0].weight)
    assert jb.mlp((3, 2)).layers[0].weight.dtype == jnp.float32


@pytest.mark.parametrize("activation", sorted(jb.chain.ACTIVATIONS))
def test_mlp_activations(activation):
    net = jb.mlp((4, 3), activation=activation, dtype=jnp.float64)
    layer = net.layers[0]
    z = layer.weight @ jnp.ones(4) + layer.bias
    expected = {
        "identity": z,
        "relu": jnp.maximum(z, 0.0),
        "sigmoid": 1.0 / (1.0 + jnp.exp(-z)),
        "tanh": jnp.tanh(z),
    }[activation]
    np.testing.assert_allclose(net(jnp.ones(4)), expected, rtol=1e-12)


def test_mlp_values_stay_order_one_in_deep_chains():
    net = jb.mlp((64,) * 41, activation="identity", dtype=jnp.float64)
    out = net(jnp.ones(64))
    assert 0.05 < float(jnp.std(out)) < 20.0


def test_unknown_activation_lists_the_options():
    with pytest.raises(
        jb.JacobenchError,
        match=r"unknown activation 'swish'; valid options are "
        r"\['identity', 'relu', 'sigmoid', 'tanh'\]",
    ):
        jb.mlp((3, 4), activation="swish")


def test_final_activation_defaults_to_activation():
    net = jb.mlp((3, 4, 2), activation="sigmoid")
    assert [layer.activation for layer in net.layers] == ["sigmoid", "sigmoid"]
    assert net.name == "mlp(3-4-2, sigmoid)"


def test_final_activation_applies_to_the_last_layer_only():
    net = jb.mlp((3, 4, 5, 1), final_activation="identity", seed=2, dtype=jnp.float64)
    assert [layer.activation for layer in net.layers] == ["tanh", "tanh", "identity"]
    assert net.name == "mlp(3-4-5-1, tanh, final identity)"
    same = jb.mlp((3, 4, 5, 1), seed=2, dtype=jnp.float64)  # same weights, tanh on top
    x = jnp.array([0.3, -0.2, 0.1])
    h = same.layers[1](same.layers[0](x))
    last = same.layers[2]
    np.testing.assert_allclose(net(x), last.weight @ h + last.bias, rtol=1e-12)
    np.testing.assert_allclose(same(x), jnp.tanh(last.weight @ h + last.bias), rtol=1e-12)


@pytest.mark.parametrize("bad", ["swish", None, 3])
def test_unknown_final_activation_lists_the_options(bad):
    if bad is None:  # None is the default: it means "as activation", so it is fine
        assert jb.mlp((3, 4), final_activation=bad).layers[0].activation == "tanh"
        return
    with pytest.raises(
        jb.JacobenchError,
        match=rf"unknown final_activation {bad!r}; valid options are "
        r"\['identity', 'relu', 'sigmoid', 'tanh'\]",
    ):
        jb.mlp((3, 4), final_activation=bad)


def test_chain_works_under_jit_and_grad():
    net = jb.mlp((3, 4, 1), dtype=jnp.float64)
    x = jnp.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(jax.jit(net)(x), net(x), rtol=1e-12)
    assert jax.grad(lambda v: net(v)[0])(x).shape == (3,)
