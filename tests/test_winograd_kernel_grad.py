"""The Winograd kernel gradient, Gᵀ [Σ (A dY Aᵀ) ⊙ (Bᵀ d B)] G (minicnn/kernels/winograd.py),
against the numpy tier's dkernel: float64 to 1e-10, float32 to the forward's tolerance."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minicnn import kernels
from minicnn.kernels.winograd import (_a_2, _a_4, TRANSFORMS,
                                      winograd_conv3x3_kernel_grad)

FLOAT32_RTOL = {2: 2e-6, 4: 3e-5}


def reference(xp, dy):
    kernel = np.zeros((3, 3, xp.shape[3], dy.shape[3]))
    return kernels.conv2d_backward(xp.astype(np.float64), kernel, dy.astype(np.float64),
                                   need_dx=False, backend="numpy")[1]


def check(xp, dy, m):
    expected = reference(xp, dy)
    got = winograd_conv3x3_kernel_grad(xp, dy, m)
    assert got.dtype == xp.dtype and got.shape == expected.shape
    rtol = 1e-10 if xp.dtype == np.float64 else FLOAT32_RTOL[m]
    np.testing.assert_allclose(got, expected, rtol=0, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("m", [2, 4])
def test_a_is_the_transpose_of_the_output_matrix(m):
    """The written-out A y equals (Aᵀ)ᵀ y for every unit vector y: no typo hides in it."""
    a_of = {2: _a_2, 4: _a_4}[m]
    at = TRANSFORMS[m][2]
    for j in range(m):
        unit = np.eye(m)[j]
        np.testing.assert_array_equal(np.array(a_of(*unit)), at.T @ unit)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(3, 15), w=st.integers(3, 15), c=st.integers(1, 6),
       f=st.integers(1, 6), m=st.sampled_from([2, 4]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_kernel_grad_matches_the_numpy_tier(n, h, w, c, f, m, dtype, seed):
    rng = np.random.default_rng(seed)
    xp = rng.normal(size=(n, h, w, c)).astype(dtype)
    dy = rng.normal(size=(n, h - 2, w - 2, f)).astype(dtype)
    check(xp, dy, m)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("side", [74, 17, 31, 6])          # thesis CNN layer inputs
def test_kernel_grad_on_the_thesis_layers(m, side):
    rng = np.random.default_rng(side)
    xp = rng.normal(size=(2, side, side, 64)).astype(np.float32)
    dy = rng.normal(size=(2, side - 2, side - 2, 64)).astype(np.float32)
    check(xp, dy, m)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="not the 3x3 valid output"):
        winograd_conv3x3_kernel_grad(np.zeros((1, 8, 8, 2)), np.zeros((1, 5, 6, 3)))
