import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from folders import make_chest_xray

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


ROOT = Path(__file__).resolve().parents[1]          # the repository
# $MINICNN_DATA set says the data set is meant to be there: a test skipped for want of it
# fails instead, as with MINICNN_REQUIRE_DATA=1 (CI)
REQUIRE_DATA = (os.environ.get("MINICNN_REQUIRE_DATA") == "1"
                or bool(os.environ.get("MINICNN_DATA")))


def data_places():
    """Where the tests look for the real chest X-ray folder: $MINICNN_DATA alone when set
    (as minicnn.data.locate does), else the places locate knows, taken relative to the
    repository (not the working folder)."""
    from minicnn.data.locate import PLACES
    if os.environ.get("MINICNN_DATA"):
        return [Path(os.environ["MINICNN_DATA"])]
    return [ROOT / place for place in PLACES]


def repo_data_dir():
    """The data folder at one of locate's places taken relative to the repository, or None."""
    from minicnn.data.locate import PLACES
    return next(((ROOT / p).resolve() for p in PLACES if (ROOT / p).is_dir()), None)


def real_data_dir():
    """The real chest X-ray folder (the first of data_places() that exists), or None."""
    return next((p.resolve() for p in data_places() if p.is_dir()), None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With MINICNN_REQUIRE_DATA=1 (CI) or $MINICNN_DATA set, a test skipped for want of the
    data set fails."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_DATA and report.skipped and "data set" in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = (f"MINICNN_REQUIRE_DATA=1 or MINICNN_DATA set, but the chest X-ray "
                           f"data set was not found in: {', '.join(map(str, data_places()))} "
                           f"({report.longrepr})")


def pytest_configure(config):
    """Mutation testing (tests/mutation) runs, for each mutant, only the tests that called the
    mutated function. A module-scoped fixture runs inside the first test that uses it, so the
    tests that only read its results would be left out. For the files named in
    $MINICNN_MUTATION_WHOLE_FILES, a mutant runs the whole file."""
    whole = os.environ.get("MINICNN_MUTATION_WHOLE_FILES", "").split()
    if whole and "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        args = [a.split("::")[0] if a.split("::")[0] in whole else a for a in config.args]
        config.args[:] = list(dict.fromkeys(args))


# -- for the tests that run minicnn in subprocesses (reliability, resume); a module may
# define its own env and data_dir instead (test_cli, test_sweep do)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Environment for subprocesses and this process: a private cache, no $MINICNN_DATA."""
    cache = str(tmp_path_factory.mktemp("cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", cache)
        mp.delenv("MINICNN_DATA", raising=False)
        yield {**os.environ, "PYTHONPATH": str(ROOT), "MINICNN_CACHE": cache}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, env):
    """A small synthetic chest_xray folder (tests/folders.py's make_chest_xray)."""
    return make_chest_xray(tmp_path_factory.mktemp("fixture") / "chest_xray")
