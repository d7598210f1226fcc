"""The fused first block (Conv2D relu + MaxPooling2D 2x2 in one Numba pass) against the same
two layers run one by one: the same outputs bit for bit, the same gradients."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn
from minicnn import kernels, layers
from minicnn.fusion import forward_steps
from minicnn.kernels import conv, fused, winograd


def layer_by_layer(x, kernel, bias, dy):
    """Reference: conv + ReLU, max-pooling, and their backward through the full map."""
    z = kernels.conv2d_forward(x, kernel, bias, relu=True)
    y = kernels.maxpool2d_forward(z, 2)
    dz = kernels.maxpool2d_backward(z, dy, 2) * (z > 0)
    dx, dkernel, dbias = kernels.conv2d_backward(x, kernel, dz)
    return y, dx, dkernel, dbias


def case(rng, n, h, w, c, f, dtype, ties=False):
    x = rng.standard_normal((n, h, w, c))
    kernel = rng.standard_normal((3, 3, c, f))
    if ties:        # small integers: equal window sums, so "the first maximum" matters
        x, kernel = np.round(x * 2), np.round(kernel * 2)
    bias = rng.standard_normal(f)
    return [a.astype(dtype) for a in (x, kernel, bias)]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(4, 13), w=st.integers(4, 13), c=st.integers(1, 4),
       f=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       ties=st.booleans(), seed=st.integers(0, 2**16))
def test_fused_block_matches_the_two_layers(n, h, w, c, f, dtype, ties, seed):
    rng = np.random.default_rng(seed)
    x, kernel, bias = case(rng, n, h, w, c, f, dtype, ties)
    y, argmax = fused.conv_relu_maxpool_forward(x, kernel, bias)
    dy = rng.standard_normal(y.shape).astype(dtype)
    y_ref, dx_ref, dkernel_ref, dbias_ref = layer_by_layer(x, kernel, bias, dy)
    np.testing.assert_array_equal(y, y_ref)           # same sums in the same order
    assert argmax.dtype == np.uint8 and argmax.max() <= fused.NO_GRADIENT
    dkernel, dbias = fused.conv_relu_maxpool_kernel_grad(x, argmax, dy, (3, 3))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    scale = max(1.0, np.abs(dkernel_ref).max())
    np.testing.assert_allclose(dkernel, dkernel_ref, rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(dbias, dbias_ref, rtol=tol, atol=tol * scale)
    dz = fused.unpool_gradient(argmax, dy, (h - 2, w - 2))
    dx = kernels.conv2d_backward(x, kernel, dz)[0]
    np.testing.assert_allclose(dx, dx_ref, rtol=tol, atol=tol * scale)


def test_argmax_is_the_first_positive_maximum_or_no_gradient():
    # one 1x1 kernel of weight 1: the conv map is the image, so every window is readable
    x = np.array([[3., 5., -1., -2.],
                  [5., 1., -3., -4.],
                  [np.nan, 0., 0., 7.],
                  [2., 1., 0., 7.]]).reshape(1, 4, 4, 1)
    y, argmax = fused.conv_relu_maxpool_forward(x, np.ones((1, 1, 1, 1)), np.zeros(1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[5., 0.], [np.nan, 7.]])
    # a tie (5 at offsets 1 and 2) goes to the first; no positive value or NaN: no gradient
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[1, fused.NO_GRADIENT],
                                                      [fused.NO_GRADIENT, 1]])


def test_outputs_smaller_than_the_window_and_mismatched_gradients_are_refused():
    with pytest.raises(ValueError, match="smaller than the 2x2 pooling window"):
        fused.conv_relu_maxpool_forward(np.zeros((1, 3, 8, 1)), np.zeros((3, 3, 1, 2)),
                                        np.zeros(2))
    x = np.zeros((1, 8, 8, 1))
    _, argmax = fused.conv_relu_maxpool_forward(x, np.zeros((3, 3, 1, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="not the block's output"):     # 3x3 is the output
        fused.conv_relu_maxpool_kernel_grad(x, argmax[:, :2], np.zeros((1, 2, 3, 2)), (3, 3))
    with pytest.raises(ValueError, match="argmax must be the forward's"):
        fused.conv_relu_maxpool_kernel_grad(x, argmax[..., :1], np.zeros((1, 3, 3, 2)), (3, 3))


def thesis_like(padding="valid", channels=1, seed=0, dtype="float64"):
    """Two blocks: the first fused in one pass (few channels), the second (6 input channels)
    through the ordinary convolution with the pooling's argmax."""
    return minicnn.Sequential([
        layers.Input((14, 15, channels)),
        layers.Conv2D(6, 3, padding=padding, activation="relu", dtype=dtype),
        layers.MaxPooling2D(2, dtype=dtype),
        layers.Conv2D(3, 3, activation="relu", dtype=dtype),
        layers.MaxPooling2D(2, dtype=dtype),
        layers.Flatten(dtype=dtype), layers.Dense(2, activation="softmax", dtype=dtype)],
        seed=seed)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("winograd_tiles", [None, 0])
def test_model_fused_and_layer_by_layer_agree(monkeypatch, padding, channels, winograd_tiles):
    """winograd_tiles=0: the second block through Winograd with the pooling in its output
    transform (its batch is far below the tiles it needs otherwise)."""
    if winograd_tiles is not None:
        monkeypatch.setattr(conv, "_WINOGRAD_MIN_TILES", winograd_tiles)
    model = thesis_like(padding, channels)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 14, 15, channels)), rng.integers(0, 2, 5)

    fused_out = model.forward(x)
    assert [type(step).__name__ for _, step in model._steps] == [
        "ConvReluMaxPool", "ConvReluMaxPool", "Flatten", "Dense"]
    assert model._steps[0][1]._direct and not model._steps[1][1]._direct
    assert model.layers[0]._cache is None              # the full map is not kept
    np.testing.assert_array_equal(fused_out, model.forward(x, keep=True)[-1])
    _, fused_grads = model.gradients(x, y)
    with minicnn.backend.using("numpy"):                # layer by layer
        _, reference = model.gradients(x, y)
    for g, g_ref in zip(fused_grads, reference):
        np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-14)

    model.forward(x)                                    # dx through the fused step, too
    dx_fused = model.backward(np.ones((5, 2)))
    model.forward(x, keep=True)
    np.testing.assert_allclose(dx_fused, model.backward(np.ones((5, 2))), rtol=1e-12,
                               atol=1e-14)


def test_only_pairs_the_fused_kernel_computes_are_fused():
    def steps(*pair, shape=(12, 12, 1)):
        model = minicnn.Sequential([layers.Input(shape), *pair])
        model.build()
        return [type(step).__name__ for _, step in forward_steps(model.layers)]

    relu_conv = layers.Conv2D(2, 3, activation="relu")
    assert steps(relu_conv, layers.MaxPooling2D(2)) == ["ConvReluMaxPool"]
    assert steps(layers.Conv2D(2, 3), layers.MaxPooling2D(2)) == ["Conv2D", "MaxPooling2D"]
    assert steps(layers.Conv2D(2, 3, strides=2, activation="relu"),
                 layers.MaxPooling2D(2)) == ["ConvReluMaxPool"]     # the two-pass way
    assert steps(layers.Conv2D(2, 3, activation="relu"),
                 layers.MaxPooling2D(3)) == ["Conv2D", "MaxPooling2D"]
    assert steps(layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2, strides=1)) \
        == ["Conv2D", "MaxPooling2D"]
    assert steps(layers.Conv2D(2, 3, activation="relu"), layers.AveragePooling2D(2)) \
        == ["Conv2D", "AveragePooling2D"]
    assert steps(layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2),
                 shape=(12, 12, 5)) == ["ConvReluMaxPool"]
    with minicnn.backend.using("numpy"):                # the reference tiers never fuse
        assert steps(layers.Conv2D(2, 3, activation="relu"),
                     layers.MaxPooling2D(2)) == ["Conv2D", "MaxPooling2D"]


def test_backward_can_stop_inside_the_fused_block():
    model = thesis_like()
    x = np.random.default_rng(2).standard_normal((2, 14, 15, 1))
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((2, 2)))
    model.forward(x, keep=True)
    expected = model.backward(np.ones((2, 2)), start=1)   # at the pooling's input
    model.forward(x)
    np.testing.assert_array_equal(model.backward(np.ones((2, 2)), start=1), expected)
    assert [type(step).__name__ for _, step in model._steps][:2] == ["Conv2D", "MaxPooling2D"]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(2, 11), w=st.integers(2, 11), f=st.integers(1, 7),
       dtype=st.sampled_from([np.float32, np.float64]), ties=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pooling_with_argmax_and_unpooling_match_the_layers(n, h, w, f, dtype, ties, seed):
    """The second half of a block on a ReLU's output: the same pooled values as the pooling
    layer and, from the argmax, the same dz as pooling backward times ReLU's derivative."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, h, w, f))
    z = np.maximum(np.round(z) if ties else z, 0).astype(dtype)
    y, argmax = fused.relu_maxpool(z)
    np.testing.assert_array_equal(y, kernels.maxpool2d_forward(z, 2))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dz = fused.unpool_gradient(argmax, dy, (h, w))
    np.testing.assert_array_equal(dz, kernels.maxpool2d_backward(z, dy, 2) * (z > 0))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(3, 21), w=st.integers(3, 21), c=st.integers(1, 9),
       f=st.integers(1, 9), m=st.sampled_from([2, 4]),
       dtype=st.sampled_from([np.float32, np.float64]), ties=st.booleans(),
       nan=st.booleans(), seed=st.integers(0, 2**16))
def test_winograd_pooling_its_tiles_is_the_written_map_pooled(n, h, w, c, f, m, dtype, ties,
                                                              nan, seed):
    """Pooling inside Winograd's output transform gives relu_maxpool's y and argmax of the
    map Winograd writes, bit for bit: odd sizes (the last row and column dropped), tiles
    running past the edge, batch 1, channels and filters not multiples of 8, a NaN."""
    xp, kernel, bias = case(np.random.default_rng(seed), n, h, w, c, f, dtype, ties)
    xp[0, h // 2, w // 2, 0] = np.nan if nan else xp[0, h // 2, w // 2, 0]
    y, argmax = fused.winograd_relu_maxpool(xp, kernel, bias, m)
    want_y, want_argmax = fused.relu_maxpool(
        winograd.winograd_conv3x3(xp, kernel, bias, relu=True, m=m))
    assert y.dtype == dtype and argmax.dtype == np.uint8
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(argmax, want_argmax)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_winograd_pooling_ties_and_chunks(monkeypatch, m, chunk):
    """A kernel that sees one constant channel makes every window a four-way tie: argmax 0
    (the first) where the maximum is positive, NO_GRADIENT where it is not; any chunking."""
    monkeypatch.setitem(winograd._CHUNK_TILES, m, chunk)
    xp, bias = np.ones((2, 11, 9, 5)), np.array([0.5, -1.0, 0.0])
    kernel = np.zeros((3, 3, 5, 3))
    kernel[1, 1, 2, 0] = 1.0
    y, argmax = fused.winograd_relu_maxpool(xp, kernel, bias, m)
    assert y.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(y, np.broadcast_to([1.5, 0.0, 0.0], y.shape), atol=1e-15)
    np.testing.assert_array_equal(argmax, np.broadcast_to([0, 4, 4], y.shape))


def test_winograd_pooling_refuses_shapes_that_do_not_fit():
    xp, kernel, bias = np.ones((1, 6, 6, 3)), np.ones((3, 3, 3, 2)), np.zeros(2)
    with pytest.raises(ValueError, match="kernel"):
        fused.winograd_relu_maxpool(xp, kernel[:, :, :2], bias)
    with pytest.raises(ValueError):
        fused.winograd_relu_maxpool(xp[:, :2], kernel, bias)
    with pytest.raises(TypeError):
        fused.winograd_relu_maxpool(xp.astype(np.int64), kernel, bias)


@pytest.mark.parametrize("kernel_side, strides, padding", [
    (3, 1, "valid"), (3, 1, "same"), (3, 2, "valid"), (2, 1, "valid")])
def test_conv_relu_maxpool_takes_winograd_only_where_the_convolution_would(
        monkeypatch, kernel_side, strides, padding):
    """The front door: the same arrays as the convolution (relu=True) then relu_maxpool,
    whether it pools inside Winograd (3x3, stride 1) or after im2col."""
    monkeypatch.setattr(conv, "_WINOGRAD_MIN_TILES", 0)
    rng = np.random.default_rng(kernel_side + strides)
    x, bias = rng.standard_normal((2, 13, 10, 6)), rng.standard_normal(7)
    kernel = rng.standard_normal((kernel_side, kernel_side, 6, 7))
    got = fused.conv_relu_maxpool(x, kernel, bias, strides, padding)
    want = fused.relu_maxpool(kernels.conv2d_forward(x, kernel, bias, strides, padding,
                                                     relu=True))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
