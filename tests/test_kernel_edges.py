"""Kernel front functions at their edges (found by mutation testing with the Numba tier run
as Python): errors name the argument at fault, and every tier keeps the input's dtype."""
import numpy as np
import pytest

from minicnn import kernels

from conftest import TIERS


def test_dense_names_the_argument_that_is_not_numbers():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match=r"^kernel must hold numbers"):
        kernels.dense_forward(x, np.array([["a", "b"]] * 3), np.zeros(2))


def test_batchnorm_backward_names_the_statistic_of_the_wrong_shape():
    x, c = np.ones((4, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"^variance must have shape \(3,\)"):
        kernels.batchnorm_backward(x, c, x, c, np.ones(2), 1e-3, batch_stats=True)


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_moments_keep_the_dtype_on_every_tier(tier, dtype):
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(dtype)
    mean, variance = kernels.batch_moments(x, backend=tier)
    assert mean.dtype == variance.dtype == dtype
