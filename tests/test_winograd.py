"""Winograd 3x3 convolution (minicnn/kernels/winograd.py) computes the numpy tier's numbers,
forward, input gradient and kernel gradient: float64 to 1e-10, float32 to FLOAT32_RTOL[m]
relative to the output's largest value."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn import kernels
from minicnn.kernels import winograd
from minicnn.kernels.winograd import (winograd_conv3x3, winograd_conv3x3_input_grad,
                                      winograd_conv3x3_kernel_grad, winograd_tile_reference)

from conftest import assert_close

TILES = (2, 4)
# float32: measured max |error| / max |output| is up to ~1e-6 for F(2x2,3x3) and ~1e-5 for
# F(4x4,3x3) with 64 channels (the larger tile's transforms have larger constants).
FLOAT32_RTOL = {2: 2e-6, 4: 3e-5}
ROOT = Path(__file__).resolve().parents[1]
THESIS_SIDES = (74, 36, 17, 31, 14, 6)        # conv2d_1..3 inputs at 150 px and 64 px


def _random_layer(rng, shape, filters, dtype):
    xp = rng.normal(size=shape).astype(dtype)
    kernel = rng.normal(size=(3, 3, shape[3], filters)).astype(dtype)
    return xp, kernel, rng.normal(size=filters).astype(dtype)


def _reference(xp, kernel, bias, relu=False):
    """The numpy tier in float64."""
    return kernels.conv2d_forward(xp.astype(np.float64), kernel.astype(np.float64),
                                  bias.astype(np.float64), backend="numpy", relu=relu)


def _rtol(dtype, m):
    return 1e-10 if dtype == np.float64 else FLOAT32_RTOL[m]


def _direct_tile(d, g):
    """Valid cross-correlation of one (m+2, m+2) tile with a 3x3 kernel, as a plain sum."""
    m = d.shape[0] - 2
    return np.array([[sum(d[i + a, j + e] * g[a, e] for a in range(3) for e in range(3))
                      for j in range(m)] for i in range(m)])


@pytest.mark.parametrize("m", TILES)
def test_tile_reference_is_the_direct_sum(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        d, g = rng.normal(size=(m + 2, m + 2)), rng.normal(size=(3, 3))
        np.testing.assert_allclose(winograd_tile_reference(d, g), _direct_tile(d, g),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", TILES)
def test_transform_matrices_reproduce_every_tap(m):
    """Each of the 9 one-hot kernels picks one shifted window: the matrices hold no typo that
    random data could average away."""
    d = np.arange((m + 2) ** 2, dtype=np.float64).reshape(m + 2, m + 2) ** 1.5
    for a in range(3):
        for e in range(3):
            g = np.zeros((3, 3))
            g[a, e] = 1.0
            np.testing.assert_allclose(winograd_tile_reference(d, g), d[a:a + m, e:e + m],
                                       rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("m", TILES)
def test_compiled_transforms_are_the_written_out_matrices(m):
    """The Numba kernels spell Bᵀ and Aᵀ out as sums; they must be the matrices above."""
    bt, _, at = winograd.TRANSFORMS[m]
    bt_1d, at_1d, a_1d = {2: (winograd._bt_2, winograd._at_2, winograd._a_2),
                          4: (winograd._bt_4, winograd._at_4, winograd._a_4)}[m]
    column = np.random.default_rng(m).normal(size=m + 2)
    np.testing.assert_allclose(bt_1d(*column), bt @ column, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(at_1d(*column), at @ column, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(a_1d(*column[:m]), at.T @ column[:m], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", TILES)
def test_kernel_transform_is_g_g_gt_for_every_channel_pair(dtype, m):
    """U[:, c, f] = G g Gᵀ of kernel[:, :, c, f], channels and filters not multiples of 8."""
    _, gm, _ = winograd.TRANSFORMS[m]
    kernel = np.random.default_rng(m).normal(size=(3, 3, 3, 5)).astype(dtype)
    u = winograd.kernel_transform(kernel, m)
    assert u.dtype == dtype and u.shape == ((m + 2) ** 2, 3, 5)
    for c in range(3):
        for f in range(5):
            want = (gm @ kernel[:, :, c, f].astype(np.float64) @ gm.T).ravel()
            np.testing.assert_allclose(u[:, c, f], want, rtol=_rtol(dtype, 2) / 10, atol=0)


@pytest.mark.parametrize("m", TILES)
def test_ragged_tiles_add_nothing_at_any_scale(m):
    """Tiles running past the edge are filled with zeros: tiny inputs give tiny outputs with
    the same relative accuracy (a nonzero fill would swamp them)."""
    xp, kernel, bias = _random_layer(np.random.default_rng(3), (2, 7, 8, 3), 2, np.float32)
    xp *= np.float32(1e-30)
    y = winograd_conv3x3(xp, kernel, np.zeros_like(bias), m=m)
    assert_close(y, _reference(xp, kernel, np.zeros_like(bias)), FLOAT32_RTOL[m])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", TILES)
@given(n=st.integers(1, 3), h=st.integers(3, 20), w=st.integers(3, 20),
       c=st.integers(1, 8), f=st.integers(1, 8), relu=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_matches_numpy_tier(dtype, m, n, h, w, c, f, relu, seed):
    xp, kernel, bias = _random_layer(np.random.default_rng(seed), (n, h, w, c), f, dtype)
    y = winograd_conv3x3(xp, kernel, bias, relu=relu, m=m)
    assert y.dtype == dtype and y.shape == (n, h - 2, w - 2, f)
    assert_close(y, _reference(xp, kernel, bias, relu), _rtol(dtype, m), f"F({m},3) {dtype}")


@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("side", THESIS_SIDES)
def test_thesis_shapes_float32(m, side):
    rng = np.random.default_rng(side)
    xp = np.maximum(rng.normal(size=(2, side, side, 64)), 0).astype(np.float32)
    kernel = rng.uniform(-0.07, 0.07, size=(3, 3, 64, 64)).astype(np.float32)
    bias = rng.normal(scale=0.01, size=64).astype(np.float32)
    y = winograd_conv3x3(xp, kernel, bias, relu=True, m=m)
    assert_close(y, _reference(xp, kernel, bias, relu=True), FLOAT32_RTOL[m], f"side {side}")


@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_every_chunking_gives_the_same_numbers(monkeypatch, m, chunk):
    monkeypatch.setitem(winograd._CHUNK_TILES, m, chunk)
    xp, kernel, bias = _random_layer(np.random.default_rng(chunk), (3, 13, 10, 5), 4,
                                     np.float64)
    assert_close(winograd_conv3x3(xp, kernel, bias, m=m), _reference(xp, kernel, bias), 1e-10)


@pytest.mark.parametrize("m", TILES)
def test_relu_keeps_nan_and_nan_reaches_every_window_it_is_in(m):
    xp, kernel, bias = _random_layer(np.random.default_rng(0), (2, 11, 9, 3), 4, np.float64)
    xp[1, 5, 4, 2] = np.nan
    want = np.isnan(_reference(xp, kernel, bias))
    assert want.any()
    for relu in (False, True):
        got = np.isnan(winograd_conv3x3(xp, kernel, bias, relu=relu, m=m))
        # Winograd mixes a whole tile: the NaN may also reach the tile's other outputs
        assert (got >= want).all() and not got[0].any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", TILES)
@given(n=st.integers(1, 2), ho=st.integers(1, 13), wo=st.integers(1, 13), c=st.integers(1, 6),
       f=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_input_grad_matches_numpy_tier(dtype, m, n, ho, wo, c, f, seed):
    rng = np.random.default_rng(seed)
    xp, kernel, _ = _random_layer(rng, (n, ho + 2, wo + 2, c), f, dtype)
    dy = rng.normal(size=(n, ho, wo, f)).astype(dtype)
    want, _, _ = kernels.conv2d_backward(xp.astype(np.float64), kernel.astype(np.float64),
                                         dy.astype(np.float64), backend="numpy")
    got = winograd_conv3x3_input_grad(dy, kernel, m=m)
    assert got.dtype == dtype and got.shape == xp.shape
    assert_close(got, want, _rtol(dtype, m), f"dx F({m},3) {dtype}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", TILES)
@given(n=st.integers(1, 2), ho=st.integers(1, 13), wo=st.integers(1, 13), c=st.integers(1, 6),
       f=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_kernel_grad_matches_numpy_tier(dtype, m, n, ho, wo, c, f, seed):
    rng = np.random.default_rng(seed)
    xp, kernel, _ = _random_layer(rng, (n, ho + 2, wo + 2, c), f, dtype)
    dy = rng.normal(size=(n, ho, wo, f)).astype(dtype)
    _, want, _ = kernels.conv2d_backward(xp.astype(np.float64), kernel.astype(np.float64),
                                         dy.astype(np.float64), backend="numpy")
    got = winograd_conv3x3_kernel_grad(xp, dy, m=m)
    assert got.dtype == dtype and got.shape == kernel.shape
    assert_close(got, want, _rtol(dtype, m), f"dkernel F({m},3) {dtype}")


@pytest.mark.parametrize("m", TILES)
@pytest.mark.parametrize("chunk", [1, 3, 50])
def test_kernel_grad_in_chunks_and_thesis_shape(monkeypatch, m, chunk):
    """Chunks (and the worker threads' partial sums) add up; conv2d_2's shape in float32."""
    monkeypatch.setitem(winograd._CHUNK_TILES, m, chunk)
    rng = np.random.default_rng(chunk)
    xp, dy = rng.normal(size=(2, 9, 8, 3)), rng.normal(size=(2, 7, 6, 4))
    _, want, _ = kernels.conv2d_backward(xp, np.zeros((3, 3, 3, 4)), dy, backend="numpy")
    assert_close(winograd_conv3x3_kernel_grad(xp, dy, m=m), want, 1e-10)
    xp = np.maximum(rng.normal(size=(2, 36, 36, 64)), 0).astype(np.float32)
    dy = rng.normal(scale=1e-3, size=(2, 34, 34, 64)).astype(np.float32)
    _, want, _ = kernels.conv2d_backward(xp.astype(np.float64), np.zeros((3, 3, 64, 64)),
                                         dy.astype(np.float64), backend="numpy")
    assert_close(winograd_conv3x3_kernel_grad(xp, dy, m=m), want, FLOAT32_RTOL[m])


@pytest.mark.parametrize("m", TILES)
def test_input_grad_of_a_same_padded_layer(m):
    """conv2d 'same' pads by one pixel: dx is the padded gradient's interior."""
    rng = np.random.default_rng(7)
    x, kernel, _ = _random_layer(rng, (2, 8, 7, 3), 5, np.float64)
    dy = rng.normal(size=(2, 8, 7, 5))
    want, _, _ = kernels.conv2d_backward(x, kernel, dy, padding="same", backend="numpy")
    assert_close(winograd_conv3x3_input_grad(dy, kernel, m=m)[:, 1:-1, 1:-1], want, 1e-10)


def test_worker_threads_are_kept_between_calls_and_renewed_after_fork():
    """One pool of worker threads per process, reused by later calls; a forked child, which
    inherits the pool object but not its threads, starts its own (else it would wait forever)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("the workers run on threads only with two or more")
    script = textwrap.dedent("""
        import os, time, numpy as np
        from minicnn.kernels import winograd, workers
        winograd._CHUNK_TILES[2] = 16           # 128 tiles: work for both threads
        xp, k, b = np.ones((8, 10, 10, 5)), np.ones((3, 3, 5, 2)), np.zeros(2)
        want = winograd.winograd_conv3x3(xp, k, b, m=2)
        pool = workers._POOL[os.getpid()]
        assert np.array_equal(winograd.winograd_conv3x3(xp, k, b, m=2), want)
        assert workers._POOL == {os.getpid(): pool} and pool[0] == 2, workers._POOL
        child = os.fork()
        if child == 0:
            os._exit(0 if np.array_equal(winograd.winograd_conv3x3(xp, k, b, m=2), want) else 3)
        for _ in range(600):                    # up to 60 s, then the child is stuck
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(child, 9)
            raise SystemExit("the forked child waited for threads it does not have")
        assert os.waitstatus_to_exitcode(status) == 0, status
    """)
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def test_bad_shapes_are_refused():
    xp, kernel, bias = _random_layer(np.random.default_rng(0), (1, 5, 5, 2), 3, np.float32)
    with pytest.raises(ValueError):
        winograd_conv3x3(xp[:, :2], kernel, bias)
    with pytest.raises(ValueError):
        winograd_conv3x3(xp, kernel[:2], bias)
    with pytest.raises(ValueError):
        winograd_conv3x3(xp, kernel, bias[:2])
    with pytest.raises(TypeError):
        winograd_conv3x3(xp.astype(np.int32), kernel, bias)
    with pytest.raises(ValueError):
        winograd_conv3x3_kernel_grad(xp, np.zeros((1, 4, 3, 3), np.float32))
