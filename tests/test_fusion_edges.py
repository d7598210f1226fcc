"""The fused Conv2D + ReLU + max-pool block at its edges: windows whose four sums are exactly
0 (black borders, zero bias at the start of training), exact zeros and ties drawn by
Hypothesis, and which layer pairs are fused, over every padding, stride and pool size with
an odd and an even input, always against the layers run one by one (the numpy tier)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn
from minicnn import backend, layers
from minicnn.fusion import ConvReluMaxPool, forward_steps
from minicnn.kernels import fused

from strategies import zeros_and_ties


def layer_by_layer(x, kernel, bias, dy):
    """The reference: Conv2D(relu) and MaxPooling2D(2) layers on the numpy tier ->
    (y, dkernel, dbias)."""
    conv = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], activation="relu",
                         dtype=x.dtype)
    conv.build(x.shape[1:])
    conv.params.update(kernel=kernel, bias=bias)
    pool = layers.MaxPooling2D(2, dtype=x.dtype)
    pool.build(conv.output_shape)
    with backend.using("numpy"):
        y = pool.forward(conv.forward(x))
        conv.backward(pool.backward(dy))
    return y, conv.grads["kernel"], conv.grads["bias"]


def _fused_gradients(x, kernel, bias, dy):
    y, argmax = fused.conv_relu_maxpool_forward(x, kernel, bias)
    dkernel, dbias = fused.conv_relu_maxpool_kernel_grad(x, argmax, dy, kernel.shape[:2])
    return y, argmax, dkernel, dbias


def test_a_window_of_exact_zero_sums_passes_no_gradient():
    """z = 0 in all four cells: ReLU's derivative at 0 is 0 (as Keras), so neither the
    kernel nor the bias gets anything from that window."""
    x = np.zeros((1, 6, 6, 1))
    x[0, 4:, 4:, 0] = 1.0                 # one lit corner; the rest is a black border
    kernel, bias = np.ones((3, 3, 1, 2)), np.zeros(2)
    dy = np.ones((1, 2, 2, 2))
    y, argmax, dkernel, dbias = _fused_gradients(x, kernel, bias, dy)
    y_ref, dkernel_ref, dbias_ref = layer_by_layer(x, kernel, bias, dy)
    np.testing.assert_array_equal(y, y_ref)
    # only the bottom-right window has a positive sum
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[fused.NO_GRADIENT] * 2,
                                                      [fused.NO_GRADIENT, 3]])
    np.testing.assert_array_equal(dbias, dbias_ref)
    np.testing.assert_array_equal(dbias, [1.0, 1.0])
    np.testing.assert_array_equal(dkernel, dkernel_ref)


@settings(max_examples=40, deadline=None)
@given(data=zeros_and_ties(), bias_zero=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_fused_block_matches_the_layers_with_exact_zeros_and_ties(data, bias_zero, dtype):
    x, kernel, bias, dy = data
    if bias_zero:
        bias = np.zeros_like(bias)
    x, kernel, bias, dy = (a.astype(dtype) for a in (x, kernel, bias, dy))
    y, argmax, dkernel, dbias = _fused_gradients(x, kernel, bias, dy)
    y_ref, dkernel_ref, dbias_ref = layer_by_layer(x, kernel, bias, dy)
    np.testing.assert_array_equal(y, y_ref)
    # small integers: every sum is exact in float32 and float64
    np.testing.assert_array_equal(dbias, dbias_ref)
    np.testing.assert_array_equal(dkernel, dkernel_ref)


def test_a_model_on_a_black_image_with_zero_bias_has_the_layers_gradients():
    """A first training step on a black-bordered image: the fused model's gradients are
    the layer-by-layer ones."""
    model = minicnn.Sequential([
        layers.Input((10, 11, 1)), layers.Conv2D(3, 3, activation="relu", dtype="float64"),
        layers.MaxPooling2D(2, dtype="float64"), layers.Flatten(dtype="float64"),
        layers.Dense(2, activation="softmax", dtype="float64")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build()
    x = np.zeros((2, 10, 11, 1))
    x[:, 3:7, 4:8] = np.random.default_rng(0).random((2, 4, 4, 1))
    assert not model.layers[0].params["bias"].any()           # zeros, as Keras starts
    assert isinstance(forward_steps(model.layers)[0][1], ConvReluMaxPool)
    _, fused_grads = model.gradients(x, np.array([0, 1]))
    with backend.using("numpy"):
        _, reference = model.gradients(x, np.array([0, 1]))
    for g, g_ref in zip(fused_grads, reference):
        np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-15)


# -- which pairs are fused ----------------------------------------------------------------
CONV = [(padding, stride) for padding in ("valid", "same") for stride in (1, 2)]
POOL = [(size, strides, padding) for size in (2, 3) for strides in (None, 1, 2)
        for padding in ("valid", "same")]


def _pair_model(side, conv, pool, channels=1):
    (conv_padding, conv_stride), (size, strides, pool_padding) = conv, pool
    return minicnn.Sequential([
        layers.Input((side, side + 1, channels)),
        layers.Conv2D(2, 3, strides=conv_stride, padding=conv_padding, activation="relu",
                      dtype="float64"),
        layers.MaxPooling2D(size, strides, pool_padding, dtype="float64"),
        layers.Flatten(dtype="float64"),
        layers.Dense(2, activation="softmax", dtype="float64")], seed=1)


@pytest.mark.parametrize("side", [9, 10])
@pytest.mark.parametrize("conv,pool", list(itertools.product(CONV, POOL)),
                         ids=lambda v: "-".join(map(str, v)))
def test_every_conv_and_pool_geometry_fuses_only_when_exact(side, conv, pool):
    """Fused exactly when the pooling is 2x2, stride 2, 'valid' (then for any conv
    padding, stride and odd or even size); whichever way, the numba tier's output and
    gradients are the numpy tier's."""
    model = _pair_model(side, conv, pool)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.build()
    rng = np.random.default_rng(side)
    x, y = rng.standard_normal((2, side, side + 1, 1)), np.array([0, 1])
    out = model.forward(x)
    _, grads = model.gradients(x, y)
    with backend.using("numpy"):
        out_ref = model.forward(x)
        _, grads_ref = model.gradients(x, y)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-14)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-13)
    size, strides, padding = pool
    expected = size == 2 and strides in (None, 2) and padding == "valid"
    steps = [type(step).__name__ for _, step in forward_steps(model.layers)]
    assert (steps[0] == "ConvReluMaxPool") == expected, steps


def test_after_a_split_each_layer_keeps_its_own_index():
    """Once backward has split the fused step (start inside it), a later backward from the
    same forward that starts after the pooling must not run the pooling again."""
    model = minicnn.Sequential([
        layers.Input((8, 9, 1)), layers.Conv2D(2, 3, activation="relu", dtype="float64"),
        layers.MaxPooling2D(2, dtype="float64"), layers.Flatten(dtype="float64"),
        layers.Dense(2, dtype="float64")], seed=3)
    x, dy = np.random.default_rng(4).standard_normal((2, 8, 9, 1)), np.ones((2, 2))
    model.forward(x, keep=True)
    expected = model.backward(dy, start=2)                 # at the Flatten's input
    model.forward(x)                                       # fused
    model.backward(dy, start=1)                            # splits the fused step
    np.testing.assert_array_equal(model.backward(dy, start=2), expected)


def test_the_kernel_gradient_is_the_same_on_one_thread_and_on_two():
    """Each chunk of rows sums into its own part and the parts are added in order, so which
    worker thread took which chunk cannot change the gradient's rounding."""
    import numba
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two threads")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 41, 43, 1)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 1, 16)).astype(np.float32)
    y, argmax = fused.conv_relu_maxpool_forward(x, kernel, np.zeros(16, np.float32))
    dy = rng.normal(size=y.shape).astype(np.float32)
    before = numba.get_num_threads()
    try:
        grads = []
        for threads in (1, 2, 2):
            numba.set_num_threads(threads)
            grads.append(fused.conv_relu_maxpool_kernel_grad(x, argmax, dy, (3, 3)))
    finally:
        numba.set_num_threads(before)
    for dkernel, dbias in grads[1:]:
        assert np.array_equal(dkernel, grads[0][0]) and np.array_equal(dbias, grads[0][1])
