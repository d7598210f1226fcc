"""Layer details the contract tests left open (found by mutation testing): which inputs a
layer takes, the exact wording of a shape error, Input's config, and BatchNormalization
without gamma or beta keeping its dtype."""
import numpy as np
import pytest

from minicnn import layers
from minicnn.validation import ShapeError


def test_numbers_and_booleans_are_taken_anything_else_is_a_type_error():
    dense = layers.Dense(2, dtype="float64")
    assert dense.forward(np.array([[True, False, True]])).shape == (1, 2)
    assert dense.forward(np.array([[1, 0, 2]])).dtype == np.float64
    with pytest.raises(TypeError, match=rf"{dense.name}: input must hold numbers, got dtype"):
        dense.forward(np.array([["a", "b", "c"]]))


def test_a_shape_error_without_a_hint_ends_with_the_shape():
    conv = layers.Conv2D(2, 3)
    conv.build((5, 5, 1))
    with pytest.raises(ShapeError) as error:
        conv.forward(np.zeros((1, 6, 5, 1)))         # same rank and channels: no hint
    assert str(error.value) == (f"{conv.name}: expected input of shape (N, 5, 5, 1), got "
                                f"(1, 6, 5, 1)")


def test_input_config_round_trips():
    first = layers.Input((3, 4, 1), name="pixels")
    assert first.get_config() == {"name": "pixels", "shape": [3, 4, 1]}
    assert layers.Input(**first.get_config()).shape == (3, 4, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batchnorm_without_gamma_and_beta_keeps_its_dtype(dtype):
    bn = layers.BatchNormalization(center=False, scale=False, dtype=dtype)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(dtype)
    for training in (False, True):
        y = bn.forward(x, training=training)
        assert y.dtype == np.dtype(dtype)
        assert bn.backward(np.ones_like(y)).dtype == np.dtype(dtype)


def test_dropout_masks_follow_the_generator_it_is_built_with():
    x = np.ones((2, 200))
    masks = []
    for _ in range(2):
        layer = layers.Dropout(0.5)
        layer.build((200,), rng=7)
        masks.append(layer.forward(x, training=True))
    np.testing.assert_array_equal(*masks)


def test_setting_errors_name_the_layer_and_the_setting():
    with pytest.raises(ValueError, match=r"input\w*: shape entry"):
        layers.Input((0, 3))
    with pytest.raises(ValueError, match=r"batch_normalization\w*: momentum"):
        layers.BatchNormalization(momentum=2.0)
    pool = layers.MaxPooling2D(2)
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        pool.build((6, 6))
