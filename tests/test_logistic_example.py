"""Example 12 fits a logistic regression by IRLS and by a one-neuron minicnn model; here the
same fits are checked against statsmodels (the `dev` extra): the coefficients and the
standard errors from the Fisher information, the class-weighted fit, and the network's
coefficients to 1e-3.

The example runs in this process (quick mode, on the real X-rays), so its variables can be
read; without the data set the test is skipped.
"""
import runpy

import numpy as np
import pytest

from conftest import ROOT, real_data_dir

sm = pytest.importorskip("statsmodels.api")
SCRIPT = ROOT / "examples" / "12_logistic_regression_two_ways.py"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    data = real_data_dir()
    if data is None:
        pytest.skip("the chest X-ray data set is not available")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_QUICK", "1")
        mp.setenv("MINICNN_DATA", str(data))
        mp.setenv("MINICNN_FIGURES", str(tmp_path_factory.mktemp("figures")))
        mp.setenv("MINICNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        return runpy.run_path(str(SCRIPT), run_name="__main__")


def test_irls_matches_statsmodels_logit(example):
    fit = sm.Logit(example["y"], example["X"]).fit(disp=0, method="newton", tol=1e-12)
    np.testing.assert_allclose(example["beta_irls"], fit.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(example["se_irls"], fit.bse, rtol=1e-6)


def test_weighted_irls_matches_statsmodels_glm(example):
    """Case weights multiply each observation's log-likelihood: a binomial GLM with
    frequency weights."""
    fit = sm.GLM(example["y"], example["X"], family=sm.families.Binomial(),
                 freq_weights=example["weights"]).fit(tol=1e-12)
    np.testing.assert_allclose(example["beta_weighted"], fit.params, rtol=1e-7, atol=1e-9)


def test_one_neuron_reaches_the_statsmodels_coefficients(example):
    fit = sm.Logit(example["y"], example["X"]).fit(disp=0, method="newton", tol=1e-12)
    assert np.abs(example["beta_adam"] - fit.params).max() < 1e-3
    assert len(example["beta_adam"]) == example["X"].shape[1] == 6
