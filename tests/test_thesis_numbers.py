"""The thesis's equations and worked numbers, exactly (docs/equations.md lists them)."""
import math

import numpy as np
import pytest

from minicnn import kernels, layers, thesis

from conftest import TIERS


def test_eq1_activation_value():
    # z = sum_i w_i x_i + b = 0.5*1 + (-0.25)*2 + 2*3 + 0.1
    assert thesis.activation_value([1, 2, 3], [0.5, -0.25, 2], 0.1) == pytest.approx(6.1)


def test_eq2_and_eq3_sigmoid_neuron():
    assert thesis.sigmoid(0.0) == 0.5
    assert thesis.sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2)), rel=1e-15)
    assert thesis.neuron([1, 2, 3], [0.5, -0.25, 2], 0.1) == pytest.approx(
        1 / (1 + math.exp(-6.1)), rel=1e-15)
    assert thesis.perceptron([1, 2], [1, -1], 0.5) == 0
    assert thesis.perceptron([2, 1], [1, -1], 0.5) == 1


@pytest.mark.parametrize("tier", TIERS)
def test_6x6_vertical_edge_example(tier):
    out = thesis.edge_example(backend=tier)
    assert out[0, 0] == -5                      # 3*1 + 0*0 + 1*(-1) + ... + 2*(-1)
    np.testing.assert_array_equal(out, [[-5, -4, 0, 8],
                                        [-10, -2, 2, 3],
                                        [0, -2, -4, -7],
                                        [-3, -2, -3, -16]])


def test_convolution_is_cross_correlation():
    """The kernel is not flipped: a true convolution would give +5 top-left here."""
    flipped = thesis.VERTICAL_EDGE_KERNEL[::-1, ::-1]
    true_conv_top_left = np.sum(thesis.EXAMPLE_IMAGE_6X6[:3, :3] * flipped)
    assert true_conv_top_left == 5 and thesis.edge_example()[0, 0] == -5


@pytest.mark.parametrize("tier", TIERS)
def test_relu_and_softmax_examples(tier):
    np.testing.assert_array_equal(kernels.relu(np.array([-3.0, 0.0, 2.5]), backend=tier),
                                  [0.0, 0.0, 2.5])
    p = kernels.softmax(np.array([math.log(0.6), math.log(0.4)]), backend=tier)
    np.testing.assert_allclose(p, [0.6, 0.4], rtol=1e-15)


def test_pooling_arithmetic_and_the_thesis_slip():
    assert thesis.pooling_sizes() == [(28, 25_088), (14, 6_272), (7, 1_568)]
    assert thesis.pooling_sizes(maps=64)[-1] == (7, 3_136)      # the text's number: 64 maps
    y = layers.MaxPooling2D(2).forward(np.zeros((1, 28, 28, 32)))
    assert y.shape == (1, 14, 14, 32) and y[0].size == 6_272


def test_input_neuron_counts():
    assert thesis.input_neurons(64, 64) == 4_096
    assert thesis.input_neurons(64, 64, 3) == 12_288


def test_thesis_cnn_shapes_and_parameter_count():
    stack = [layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
             layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
             layers.Dense(64, activation="relu"), layers.Dense(2, activation="softmax")]
    shape, sides = (150, 150, 1), []
    for layer in stack:
        shape = layer.build(shape, rng=0)
        sides.append(shape[0])
    assert sides[:7] == [148, 74, 72, 36, 34, 17, 15] and sides[7] == 14_400
    counts = [layer.count_params() for layer in stack]
    assert counts == [640, 0, 36_928, 0, 36_928, 0, 36_928, 0, 921_664, 130]
    assert sum(counts) == thesis.THESIS_CNN_PARAMS
