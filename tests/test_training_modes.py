"""Every layer with a training mode (BatchNormalization, Dropout) gradient-checked in *both*
modes, on every tier: inference is what saliency, Grad-CAM and the explorer differentiate
through, and a wrong inference backward shared by all tiers is invisible to tier agreement."""
import numpy as np
import pytest

from minicnn import backend, layers
from minicnn.gradcheck import check_layer

from conftest import TIERS
from layer_cases import all_cases

MODED = [case for case in all_cases() if layers.LAYERS[case[1]].has_training_mode]


def test_the_layers_with_a_training_mode_are_the_ones_expected():
    """A new layer with a training mode is picked up here by itself (this list only says
    the two known today are)."""
    assert {"BatchNormalization", "Dropout"} <= {case[1] for case in MODED}


def _layer_with_moved_statistics(kind, kwargs, shape, rng):
    """The layer built in float64, after a training forward on other data, so that
    BatchNormalization's moving statistics are neither 0 and 1 nor the batch's."""
    layer = layers.LAYERS[kind](**kwargs, dtype="float64")
    layer.build(shape, rng=0)
    for _ in range(3):
        layer.forward(rng.normal(0.7, 2.0, (5,) + tuple(shape)), training=True)
    return layer


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("kind, kwargs, shape, tol", [c[1:] for c in MODED],
                         ids=[c[0] for c in MODED])
def test_gradients_in_both_modes(kind, kwargs, shape, tol, training, tier):
    rng = np.random.default_rng(2)
    layer = _layer_with_moved_statistics(kind, kwargs, shape, rng)
    x = rng.normal(size=(4,) + tuple(shape))
    with backend.using(tier):
        errors = check_layer(layer, x, seed=1, training=training)
    assert set(errors) == {"dx"} | set(layer.params)
    assert max(errors.values()) < tol, errors


@pytest.mark.parametrize("tier", TIERS)
def test_batchnorm_inference_backward_is_the_fixed_affine_map(tier):
    """In inference BatchNormalization is y = gamma (x - mean) / sqrt(var + eps) + beta with
    the moving statistics: dx = gamma dy / sqrt(var + eps), worked out here."""
    rng = np.random.default_rng(3)
    layer = _layer_with_moved_statistics("BatchNormalization", {}, (3, 4, 2), rng)
    layer.params["gamma"][:] = [1.5, -0.5]
    x, dy = rng.normal(size=(2, 3, 4, 2)), rng.normal(size=(2, 3, 4, 2))
    with backend.using(tier):
        layer.forward(x, training=False)
        dx = layer.backward(dy)
    scale = layer.params["gamma"] / np.sqrt(layer.state["moving_variance"] + layer.epsilon)
    np.testing.assert_allclose(dx, dy * scale, rtol=1e-12)
