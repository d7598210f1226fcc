"""The three kernel tiers compute the same numbers: float64 to 1e-10, float32 to 1e-5."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import kernels
from minicnn.kernels.geometry import output_length

from conftest import TIERS, assert_close
from strategies import distinct_values, window_geometry

DTYPES = [(np.float64, 1e-10), (np.float32, 1e-5)]


def _compare(compute, dtype, rtol, scales=()):
    """Run ``compute(tier)`` on every tier; each output must match the naive one (relative to
    its own size, or to ``scales[i]`` when given and larger)."""
    reference = compute("naive")
    for tier in TIERS[1:]:
        for i, (got, want) in enumerate(zip(compute(tier), reference)):
            assert got.dtype == dtype, (tier, got.dtype)
            scale = scales[i] if i < len(scales) else 0.0
            assert_close(got, want, rtol, f"{tier} output {i}", scale)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@given(geometry=window_geometry(), filters=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_conv2d_tiers_agree(dtype, rtol, geometry, filters, seed):
    shape, window, strides, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    kernel = rng.normal(size=window + (shape[3], filters)).astype(dtype)
    bias = rng.normal(size=filters).astype(dtype)
    y = kernels.conv2d_forward(x, kernel, bias, strides, padding, backend="naive")
    assert y.shape == (shape[0], output_length(shape[1], window[0], strides[0], padding),
                       output_length(shape[2], window[1], strides[1], padding), filters)
    dy = rng.normal(size=y.shape).astype(dtype)
    _compare(lambda t: (kernels.conv2d_forward(x, kernel, bias, strides, padding, backend=t),
                        kernels.conv2d_forward(x, kernel, bias, strides, padding, backend=t,
                                               relu=True),
                        *kernels.conv2d_backward(x, kernel, dy, strides, padding, backend=t)),
             dtype, rtol)
    fused = kernels.conv2d_forward(x, kernel, bias, strides, padding, backend="naive", relu=True)
    np.testing.assert_array_equal(fused, np.maximum(y, 0))


@pytest.mark.parametrize("chunk_rows,direct_max_channels", [(1, 0), (7, 0), (40, 0), (7, 3)])
@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "same"), ((1, 3), "valid")])
def test_conv2d_numba_paths_agree_with_naive(monkeypatch, chunk_rows, direct_max_channels,
                                             strides, padding):
    """The numba tier multiplies a few windows at a time, or loops directly when the input
    has few channels; every chunking and both paths give the naive tier's numbers."""
    from minicnn.kernels import conv
    monkeypatch.setattr(conv, "_CHUNK_ROWS", {"forward": chunk_rows, "backward": chunk_rows + 3})
    monkeypatch.setattr(conv, "_DIRECT_MAX_CHANNELS", direct_max_channels)
    rng = np.random.default_rng(chunk_rows)
    x, kernel = rng.normal(size=(5, 9, 8, 3)), rng.normal(size=(3, 2, 3, 4))
    bias = rng.normal(size=4)
    y = kernels.conv2d_forward(x, kernel, bias, strides, padding, backend="naive")
    dy = rng.normal(size=y.shape)
    want = (y, np.maximum(y, 0),
            *kernels.conv2d_backward(x, kernel, dy, strides, padding, backend="naive"))
    got = (kernels.conv2d_forward(x, kernel, bias, strides, padding, backend="numba"),
           kernels.conv2d_forward(x, kernel, bias, strides, padding, backend="numba", relu=True),
           *kernels.conv2d_backward(x, kernel, dy, strides, padding, backend="numba"))
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, 1e-10, f"numba output {i} in chunks of {chunk_rows} windows")


@pytest.mark.parametrize("min_tiles", [0, 10**9])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_numba_winograd_or_im2col_agree_with_naive(monkeypatch, min_tiles, padding):
    """3x3 stride-1 kernels on more than four channels: Winograd when there are enough
    output tiles, im2col otherwise; both give the naive tier's numbers (float64)."""
    from minicnn.kernels import conv
    monkeypatch.setattr(conv, "_WINOGRAD_MIN_TILES", min_tiles)
    rng = np.random.default_rng(min_tiles % 7)
    x, kernel, bias = rng.normal(size=(3, 11, 9, 6)), rng.normal(size=(3, 3, 6, 5)), rng.normal(
        size=5)
    y = kernels.conv2d_forward(x, kernel, bias, 1, padding, backend="naive")
    dy = rng.normal(size=y.shape)
    want = (y, *kernels.conv2d_backward(x, kernel, dy, 1, padding, backend="naive"))
    got = (kernels.conv2d_forward(x, kernel, bias, 1, padding, backend="numba"),
           *kernels.conv2d_backward(x, kernel, dy, 1, padding, backend="numba"))
    for i, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, 1e-10, f"numba output {i}, Winograd from {min_tiles} tiles")


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@given(geometry=window_geometry(), seed=st.integers(0, 2**16))
def test_maxpool_tiers_agree(dtype, rtol, geometry, seed):
    shape, pool, strides, padding = geometry
    rng = np.random.default_rng(seed)
    x = distinct_values(shape, rng).astype(dtype)
    dy_shape = kernels.maxpool2d_forward(x, pool, strides, padding, backend="naive").shape
    dy = rng.normal(size=dy_shape).astype(dtype)
    _compare(lambda t: (kernels.maxpool2d_forward(x, pool, strides, padding, backend=t),
                        kernels.maxpool2d_backward(x, dy, pool, strides, padding, backend=t)),
             dtype, rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@given(n=st.integers(1, 4), d_in=st.integers(1, 20), d_out=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_dense_tiers_agree(dtype, rtol, n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)).astype(dtype)
    kernel = rng.normal(size=(d_in, d_out)).astype(dtype)
    bias, dz = rng.normal(size=d_out).astype(dtype), rng.normal(size=(n, d_out)).astype(dtype)
    _compare(lambda t: (kernels.dense_forward(x, kernel, bias, backend=t),
                        *kernels.dense_backward(x, kernel, dz, backend=t)), dtype, rtol)


@pytest.mark.parametrize("dtype,rtol", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax"])
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_activation_tiers_agree(dtype, rtol, name, shape, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 10).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    forward, backward = getattr(kernels, name), getattr(kernels, name + "_backward")

    def run(t):
        y = forward(x, backend=t)
        return y, backward(x if name == "relu" else y, dy, backend=t)
    # a saturated sigmoid's gradient y (1 - y) dy is tiny and loses all float32 digits to one
    # rounding of y, in every tier: measure backward errors against the size of dy
    _compare(run, dtype, rtol, scales=(0.0, np.abs(dy).max()))


def test_activation_values_against_formulas():
    z = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    for t in TIERS:
        np.testing.assert_array_equal(kernels.relu(z, backend=t), [0, 0, 0, 2, 800])
        s = kernels.sigmoid(z, backend=t)
        np.testing.assert_allclose(s[1:4], 1 / (1 + np.exp(-z[1:4])), rtol=1e-15)
        assert s[0] == pytest.approx(0.0, abs=1e-300) and s[-1] == 1.0   # no overflow
        p = kernels.softmax(np.array([[1000.0, 1000.0 + np.log(3.0)]]), backend=t)
        np.testing.assert_allclose(p, [[0.25, 0.75]], rtol=1e-12)


@pytest.mark.parametrize("padding,size,window,stride,expected", [
    ("valid", 150, 3, 1, 148), ("valid", 148, 2, 2, 74), ("valid", 17, 2, 2, 8),
    ("same", 7, 3, 2, 4), ("same", 6, 3, 2, 3), ("same", 5, 4, 1, 5), ("valid", 5, 5, 3, 1)])
def test_output_length(padding, size, window, stride, expected):
    assert output_length(size, window, stride, padding) == expected


def test_same_padding_puts_the_odd_row_at_the_bottom():
    # 'same', window 4, stride 1 on 5 rows needs 3 pad rows: Keras puts 1 on top, 2 below.
    assert kernels.pad_amounts(5, 4, 1, "same") == (1, 2)
    x = np.zeros((1, 5, 1, 1))
    x[0, 0, 0, 0] = 1.0
    kernel = np.zeros((4, 1, 1, 1))
    kernel[1, 0, 0, 0] = 1.0          # picks the row one below the window's top
    for t in TIERS:
        y = kernels.conv2d_forward(x, kernel, np.zeros(1), 1, "same", backend=t)
        # with 1 pad row on top, output row 0's window starts at the pad row -> input row 0
        assert y[0, :, 0, 0].tolist() == [1, 0, 0, 0, 0]


def test_kernels_do_not_change_their_inputs():
    rng = np.random.default_rng(0)
    x, kernel, dy = rng.normal(size=(2, 5, 5, 2)), rng.normal(size=(3, 3, 2, 3)), None
    for t in TIERS:
        args = [x.copy(), kernel.copy()]
        y = kernels.conv2d_forward(*args, np.zeros(3), 1, "same", backend=t)
        dy = rng.normal(size=y.shape)
        dy_copy = dy.copy()
        kernels.conv2d_backward(*args, dy, 1, "same", backend=t)
        kernels.maxpool2d_backward(args[0], dy[..., :2], 1, 1, "same", backend=t)
        np.testing.assert_array_equal(dy, dy_copy)
        np.testing.assert_array_equal(args[0], x)
        np.testing.assert_array_equal(args[1], kernel)


def test_nan_inputs_stay_visible_in_every_tier():
    """A poisoned input must not be silently turned into numbers (the NaN guard relies on it)."""
    x = np.array([[[[np.nan], [1.0]], [[-1.0], [2.0]]]])          # (1, 2, 2, 1)
    for t in TIERS:
        assert np.isnan(kernels.relu(x, backend=t)[0, 0, 0, 0])
        assert np.isnan(kernels.maxpool2d_forward(x, 2, backend=t)).all()
        for channels in (1, 8):                 # numba: direct loops, then im2col + BLAS
            y = kernels.conv2d_forward(np.repeat(x, channels, axis=3),
                                       np.ones((1, 1, channels, 2)), np.zeros(2), relu=True,
                                       backend=t)
            assert np.isnan(y[0, 0, 0]).all() and (y[0, 1, 0] == 0).all(), (t, channels)
