"""Layer behaviour: shapes, initialisation, purity of backward, Dropout, clear errors."""
import numpy as np
import pytest

from minicnn import backend, get_backend, layers, losses, optimizers, set_backend
from minicnn.initializers import fans, glorot_uniform

from conftest import TIERS


def test_backend_switch():
    assert get_backend() == "numba"                 # the fastest tier is the default
    with backend.using("naive"):
        assert get_backend() == "naive"
    assert get_backend() == "numba"
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        set_backend("cuda")


def test_glorot_uniform_limits_and_seeding():
    assert fans((3, 3, 1, 64)) == (9, 576) and fans((14400, 64)) == (14400, 64)
    w = glorot_uniform((3, 3, 64, 64), rng=0)
    limit = np.sqrt(6 / (576 + 576))
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit and abs(w.mean()) < 0.01 * limit
    np.testing.assert_array_equal(w, glorot_uniform((3, 3, 64, 64), rng=0))
    assert not np.array_equal(w, glorot_uniform((3, 3, 64, 64), rng=1))
    conv = layers.Conv2D(4, 3)
    conv.build((8, 8, 2), rng=0)
    assert conv.params["bias"].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(3, 3, 2, "same", "relu"), lambda: layers.MaxPooling2D(2, 1, "same"),
    lambda: layers.Dense(3, "softmax"), layers.Flatten, layers.Sigmoid,
    lambda: layers.Dropout(0.3, seed=0)])
def test_backward_never_changes_dy(tier, make):
    layer = make()
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 2) if not isinstance(layer, layers.Dense)
                                        else (2, 7)).astype(np.float32)
    with backend.using(tier):
        y = layer.forward(x, training=True)
        dy = np.random.default_rng(1).normal(size=y.shape).astype(np.float32)
        before = dy.copy()
        dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, before)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert y.shape[1:] == layer.output_shape


def test_dropout_is_identity_at_inference_and_inverted_in_training():
    x = np.ones((200, 50), np.float32)
    drop = layers.Dropout(0.4, seed=0)
    np.testing.assert_array_equal(drop.forward(x), x)
    y = drop.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)      # survivors scaled by 1/(1-rate)
    assert abs(kept.mean() - 0.6) < 0.02
    assert abs(y.mean() - 1.0) < 0.03                              # expectation preserved
    dx = drop.backward(np.full_like(x, 2.0))
    np.testing.assert_array_equal(dx, np.where(kept, 2 / np.float32(0.6), 0))
    np.testing.assert_array_equal(layers.Dropout(0.4, seed=5).forward(x, training=True),
                                  layers.Dropout(0.4, seed=5).forward(x, training=True))


def test_float64_parameters_give_float64_outputs():
    dense = layers.Dense(3)
    dense.build((4,), rng=0)
    dense.params = {k: v.astype(np.float64) for k, v in dense.params.items()}
    y = dense.forward(np.ones((2, 4), np.float32))
    assert y.dtype == np.float64
    assert dense.backward(np.ones_like(y)).dtype == np.float64


# ---------------------------------------------------------------------------------- errors
def test_wrong_rank_is_a_clear_error():
    conv = layers.Conv2D(2, 3)
    conv.build((8, 8, 1))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 8, 8, 1\).*rank 3"):
        conv.forward(np.zeros((8, 8, 1)))


def test_channel_count_different_from_build():
    conv = layers.Conv2D(2, 3)
    conv.build((8, 8, 1))
    with pytest.raises(ValueError, match="3 channels/features where the layer was built for 1"):
        conv.forward(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="x has 3 channels.*expects 1"):
        from minicnn import kernels
        kernels.conv2d_forward(np.zeros((1, 8, 8, 3)), np.zeros((3, 3, 1, 2)), np.zeros(2))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="window of size 5 is larger than the 'valid'-padded "
                                         "input of size 4"):
        layers.Conv2D(2, 5).build((4, 4, 1))
    layers.Conv2D(2, 5, padding="same").build((4, 4, 1))             # 'same' pads enough
    with pytest.raises(ValueError, match="larger than"):
        layers.MaxPooling2D(3).build((2, 9, 1))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"strides": 0}, ValueError, "strides must be positive"),
    ({"strides": -1}, ValueError, "strides must be positive"),
    ({"strides": 1.5}, TypeError, "strides must be an int"),
    ({"padding": "full"}, ValueError, r"padding must be one of \('valid', 'same'\)"),
    ({"activation": "tanh"}, ValueError, "unknown activation 'tanh'"),
    ({"kernel_size": (3, 0)}, ValueError, "kernel_size must be positive"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    args = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=message):
        layers.Conv2D(**args)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        layers.Dense(3, activation="swish")
    with pytest.raises(ValueError, match="pool_size must be positive"):
        layers.MaxPooling2D(0)
    with pytest.raises(ValueError, match="Dropout rate must be in"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="put a Flatten layer before it"):
        layers.Dense(3).build((4, 4, 1))
    with pytest.raises(ValueError, match="units must be >= 1"):
        layers.Dense(0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        losses.SparseCategoricalCrossentropy()([0, 2], np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="one weight per sample"):
        losses.BinaryCrossentropy()([0, 1], [0.2, 0.7], sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        optimizers.get("adagrad")
    with pytest.raises(ValueError, match="dy has shape"):
        dense = layers.Dense(2)
        dense.forward(np.zeros((3, 4)))
        dense.backward(np.zeros((3, 5)))
