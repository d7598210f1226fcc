import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Deterministic by default so CI never flakes; HYPOTHESIS_PROFILE=explore draws new cases.
settings.register_profile("default", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TIERS = ("naive", "numpy", "numba")


def assert_close(actual, expected, rtol, what="", scale=0.0):
    """max |actual - expected| <= rtol * max(max |expected|, scale): relative to the array's
    size, or to ``scale`` when that is larger (e.g. the upstream gradient's size)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(np.abs(expected).max(initial=0.0), scale, 1e-30)
    err = np.abs(actual - expected).max(initial=0.0) / scale
    assert err <= rtol, f"{what}: relative difference {err:.3g} > {rtol:g}"


@pytest.fixture(params=TIERS)
def tier(request):
    return request.param


def real_data_dir():
    """The real chest X-ray folder ($MINICNN_DATA or the default places), or None."""
    from minicnn.data import find_data_dir
    try:
        return find_data_dir()
    except FileNotFoundError:
        return None
