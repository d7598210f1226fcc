"""Adapting to test/ without its labels (minicnn.adapt, minicnn evaluate --adapt): EM
recovers a known prior, AdaBN equals a hand computation, and test/ with its class folders
swapped gives the same adapted probabilities bit for bit."""
import contextlib
import io
import json
import shutil

import numpy as np
import pytest

from minicnn import adapt
from minicnn.cli import main
from minicnn.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
from minicnn.model import Sequential

from folders import make_chest_xray


# -- prior shift ----------------------------------------------------------------------------
def _calibrated_at_half(prior, n, seed):
    """Labels drawn with P(1) = prior, and the posterior of a model calibrated at prior 0.5
    for x | y ~ N(+-1, 1): P(1 | x) = sigmoid(2 x)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prior).astype(int)
    x = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    return y, 1 / (1 + np.exp(-2 * x))


@pytest.mark.parametrize("prior", [0.3, 0.5, 0.8])
def test_em_recovers_a_known_prior(prior):
    _, p = _calibrated_at_half(prior, 20000, seed=1)
    result = adapt.em_prior(p, train_prior=0.5)
    assert result["converged"]
    assert abs(result["prior"] - prior) < 0.015, result["prior"]
    assert abs(p.mean() - prior) > 0.05 or prior == 0.5    # the plain mean is biased


def test_em_adjusted_probabilities_are_the_posteriors_at_the_true_prior():
    y, p = _calibrated_at_half(0.3, 20000, seed=2)
    moved = adapt.em_prior(p, 0.5)["p"]
    # at prior 0.3 the true posterior is sigmoid(2 x + log(0.3 / 0.7))
    x = np.log(p / (1 - p)) / 2
    exact = 1 / (1 + np.exp(-(2 * x + np.log(0.3 / 0.7))))
    assert np.abs(moved - exact).max() < 0.02
    # better calibrated: lower cross-entropy than the unadjusted ones
    def loss(q):
        return -np.mean(np.log(np.where(y == 1, q, 1 - q)))
    assert loss(moved) < loss(p) - 0.01


def test_move_prior_is_bayes_rule_and_its_inverse():
    p = np.array([0.1, 0.5, 0.9])
    moved = adapt.move_prior(p, 0.5, 0.2)
    assert np.allclose(moved[1], 0.2)            # an uninformative image gets the prior
    assert np.allclose(adapt.move_prior(moved, 0.2, 0.5), p)
    assert np.all(np.diff(moved) > 0)            # monotone: the ranking (AUC) is unchanged
    t = adapt.threshold_on_unadapted_scale(0.5, {"prior": 0.2, "train_prior": 0.5})
    assert np.isclose(adapt.move_prior(np.array([t]), 0.5, 0.2)[0], 0.5)


def test_training_prior_of_weighted_and_unweighted_runs():
    counts = (1000, 3000)
    assert adapt.training_prior(counts) == 0.75
    balanced = {0: 4000 / (2 * 1000), 1: 4000 / (2 * 3000)}
    assert adapt.training_prior(counts, balanced) == pytest.approx(0.5)
    assert adapt.training_prior(counts, {"0": 1.0, "1": 3.0}) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="positive"):
        adapt.training_prior((0, 10))


def test_a_runs_training_prior_from_its_config():
    config = {"class_names": ["NORMAL", "PNEUMONIA"],
              "counts": {"train": {"NORMAL": 100, "PNEUMONIA": 300, "total": 400}},
              "class_weight_values": None}
    assert adapt.run_training_prior(config) == 0.75
    config["class_weight_values"] = {"0": 2.0, "1": 2 / 3}      # balanced, as JSON keeps it
    assert adapt.run_training_prior(config) == pytest.approx(0.5)
    assert adapt.run_training_prior({"class_names": ["NORMAL", "PNEUMONIA"]}) is None
    # an ensemble's: its members' common prior, or none when they differ
    assert adapt.run_training_prior({"member_training_priors": [0.5, 0.5, 0.5]}) == 0.5
    assert adapt.run_training_prior({"member_training_priors": [0.5, 0.75]}) is None
    assert adapt.run_training_prior({"member_training_priors": [0.5, None]}) is None


def test_em_refuses_what_is_not_a_probability():
    for bad in (np.array([]), np.array([0.2, np.nan]), np.array([1.5]), np.ones((2, 2)) / 2):
        with pytest.raises(ValueError, match="probabilities"):
            adapt.em_prior(bad, 0.5)
    with pytest.raises(ValueError, match="train_prior"):
        adapt.em_prior(np.array([0.5]), 1.0)


def test_parse_adapt():
    assert adapt.parse_adapt("none") == ()
    assert adapt.parse_adapt("prior,bn") == ("bn", "prior")
    assert adapt.adapt_name(("bn", "prior"), 8) == "bn-prior-tta8"
    assert adapt.adapt_name((), 0) == "none"
    for bad in ("", "bn,bn", "none,bn", "ema"):
        with pytest.raises(ValueError, match="--adapt"):
            adapt.parse_adapt(bad)


# -- AdaBN ----------------------------------------------------------------------------------
def _bn_model(seed=0):
    model = Sequential([Input((9, 9, 1)), Conv2D(3, 3, activation="relu"),
                        BatchNormalization(), Conv2D(2, 3), BatchNormalization(), Flatten(),
                        Dense(2, activation="softmax")], seed=seed)
    model.build()
    return model


def _moments(h):
    h = np.asarray(h, np.float64)
    return h.mean(axis=(0, 1, 2)), h.var(axis=(0, 1, 2))


def test_adabn_equals_the_hand_computed_statistics_of_each_layers_inputs():
    model = _bn_model()
    x = np.random.default_rng(3).random((150, 9, 9, 1)).astype(np.float32) * 2 + 0.5
    before = model.get_weights()
    adapted = adapt.adapt_batchnorm(model, x, batch_size=7)     # uneven batches and chunks
    conv1, bn1, conv2, bn2 = model.layers[:4]
    mean1, var1 = _moments(conv1.forward(x))                 # the first BN's inputs
    gamma, beta = bn1.params["gamma"], bn1.params["beta"]
    normed = gamma * (conv1.forward(x) - mean1) / np.sqrt(var1 + bn1.epsilon) + beta
    mean2, var2 = _moments(conv2.forward(normed.astype(np.float32)))
    for layer, mean, var in ((adapted.layers[1], mean1, var1), (adapted.layers[3], mean2, var2)):
        assert np.allclose(layer.state["moving_mean"], mean, rtol=1e-5, atol=1e-6)
        assert np.allclose(layer.state["moving_variance"], var, rtol=1e-5, atol=1e-6)
    for old, kept, new in zip(model.get_weights(), before, adapted.get_weights()):
        assert np.array_equal(old, kept)                     # the model itself unchanged
    trained = [i for i, (layer, _, key) in enumerate(model._weight_slots())
               if key not in ("moving_mean", "moving_variance")]
    for i in trained:
        assert np.array_equal(adapted.get_weights()[i], before[i])   # no weight update


def test_adabn_needs_batchnormalization():
    model = Sequential([Input((4, 4, 1)), Flatten(), Dense(2, activation="softmax")], seed=0)
    with pytest.raises(ValueError, match="BatchNormalization"):
        adapt.adapt_batchnorm(model, np.zeros((2, 4, 4, 1), np.float32))


# -- test-time augmentation ----------------------------------------------------------------
def _flip(x, rng):
    """A toy augmentation: each image flipped left-right or not, at random."""
    flips = rng.random(len(x)) < 0.5
    return np.where(flips[:, None, None, None], x[:, :, ::-1], x)


def test_tta_is_the_mean_over_seeded_draws():
    model = _bn_model(seed=4)
    x = np.random.default_rng(5).random((7, 9, 9, 1)).astype(np.float32)
    got = adapt.tta_probability(model, x, _flip, draws=3, seed=11, batch_size=7)
    rng = np.random.default_rng(11)
    expected = np.mean([model.predict(_flip(x, rng))[:, 1] for _ in range(3)], axis=0)
    assert np.allclose(got, expected, rtol=1e-6)
    assert not np.allclose(got, model.predict(x)[:, 1])      # the draws did something
    assert np.allclose(got, adapt.tta_probability(model, x, _flip, 3, 11, 2), rtol=1e-6)
    with pytest.raises(ValueError, match="augmentation"):
        adapt.tta_probability(model, x, None, 3, 11)


# -- minicnn evaluate --adapt on a small trained run ---------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run with BatchNormalization and augmentation, and its data folder."""
    root = tmp_path_factory.mktemp("adapt")
    data = make_chest_xray(root / "chest_xray", per_class=12, test_per_class=6)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(root / "cache"))
        mp.delenv("MINICNN_DATA", raising=False)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", "--data", str(data), "--image-size", "40", "--epochs", "1",
                         "--batch-size", "8", "--set", "batch_norm=true", "--augment",
                         "--out", str(root / "run")]) == 0
        yield {"root": root, "data": data, "run": root / "run"}


def _evaluate(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(["evaluate", *argv])
        except SystemExit as exc:                        # argparse's own errors
            code = exc.code
    return code, out.getvalue()


def _swapped_copy(data, where):
    """A copy of data/test with NORMAL and PNEUMONIA renamed into each other."""
    copy = where / "chest_xray"
    shutil.copytree(data / "test", copy / "test")
    (copy / "test" / "NORMAL").rename(copy / "test" / "swap")
    (copy / "test" / "PNEUMONIA").rename(copy / "test" / "NORMAL")
    (copy / "test" / "swap").rename(copy / "test" / "PNEUMONIA")
    return copy


def test_swapped_class_folders_give_the_same_adapted_probabilities(trained, tmp_path):
    swapped = _swapped_copy(trained["data"], tmp_path / "swapped")
    metrics = (trained["run"] / "metrics.json").read_bytes()
    files, auc = [], []
    for data, name in ((trained["data"], "a.csv"), (swapped, "b.csv")):
        code, _ = _evaluate("--model", str(trained["run"]), "--data", str(data), "--adapt",
                            "bn,prior", "--tta", "2", "--predictions", str(tmp_path / name))
        assert code == 0
        files.append((tmp_path / name).read_bytes())
        adapted = json.loads((trained["run"] / "metrics-adapt-bn-prior-tta2.json").read_text())
        auc.append(adapted["test"]["auc"])
    assert files[0] == files[1]                              # bit for bit
    rows = files[0].decode().splitlines()
    assert rows[0] == "file,probability,probability_adapted" and len(rows) == 1 + 12
    assert all("/" not in row.split(",")[0] for row in rows)   # file names, no folders
    assert auc[0] == pytest.approx(1 - auc[1])              # scored with the swapped labels
    assert (trained["run"] / "metrics.json").read_bytes() == metrics   # never overwritten


def test_adapt_none_gives_todays_evaluate_numbers(trained, tmp_path):
    from minicnn.scoring import evaluate_run
    with contextlib.redirect_stdout(io.StringIO()):
        today = evaluate_run(trained["run"])
        none = evaluate_run(trained["run"], predictions=str(tmp_path / "p.csv"))
    assert none["adapted"]["test"] == today["test"] == none["adapted"]["test_unadapted"]
    assert none["adapted"]["adaptation"]["name"] == "none"
    assert (trained["run"] / "metrics-adapt-none.json").is_file()
    rows = [r.split(",") for r in (tmp_path / "p.csv").read_text().splitlines()[1:]]
    assert all(p == q for _, p, q in rows)


def test_the_adapted_metrics_file_follows_the_schema(trained):
    import jsonschema
    from test_run_files import _validator
    code, out = _evaluate("--model", str(trained["run"]), "--adapt", "prior")
    assert code == 0 and "estimated by EM" in out
    adapted = json.loads((trained["run"] / "metrics-adapt-prior.json").read_text())
    _validator("metrics").validate(adapted)
    section = adapted["adaptation"]
    assert section["methods"] == ["prior"] and section["prior"]["train_prior"] == 0.5
    assert 0 < section["prior"]["prior"] < 1
    with pytest.raises(jsonschema.ValidationError):
        _validator("metrics").validate({**adapted, "adaptation": {**section, "tta": -1}})


def test_tta_on_a_run_without_augmentation_is_refused_before_test_is_read(trained, tmp_path,
                                                                           capsys):
    """Refused up front, in one line: test/ is not read (nothing logged about it, no file
    written), so a validation-only run would keep its test/ unscored."""
    run = tmp_path / "no-augmentation"
    shutil.copytree(trained["run"], run)
    config = json.loads((run / "config.json").read_text())
    config["settings"].update(augment=False, intensity=0.0)
    (run / "config.json").write_text(json.dumps(config))
    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    code, _ = _evaluate("--model", str(run), "--data", str(trained["data"]), "--tta", "2")
    err = capsys.readouterr().err
    assert code == 2 and "augmentation" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in run.iterdir()) == before


def test_bad_adaptation_requests_end_in_one_line_and_exit_2(trained, tmp_path, capsys):
    plain = Sequential([Input((40, 40, 1)), Flatten(), Dense(2, activation="softmax")], seed=0)
    plain.save(tmp_path / "plain.npz")
    bare_file = tmp_path / "bare.npz"
    Sequential([Input((40, 40, 1)), BatchNormalization(), Flatten(),
                Dense(2, activation="softmax")], seed=0).save(bare_file)
    run, data = str(trained["run"]), str(trained["data"])
    cases = [(["--model", run, "--adapt", "ema"], "--adapt must be"),
             (["--model", str(tmp_path / "plain.npz"), "--data", data, "--adapt", "bn"],
              "BatchNormalization"),
             (["--model", str(bare_file), "--data", data, "--adapt", "prior"], "run folder"),
             (["--model", str(bare_file), "--data", data, "--tta", "2"], "run folder"),
             (["--model", run, "--tta", "-1"], "integer >= 0")]
    for argv, words in cases:
        capsys.readouterr()
        code, _ = _evaluate(*argv)
        err = capsys.readouterr().err
        assert code == 2, argv
        assert words in err and len(err.strip().splitlines()) == 1, err
