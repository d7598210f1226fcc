"""``minicnn ensemble`` (issue 29, item 3): the ensemble's probabilities are the mean of its
members', bit for bit; its threshold is Youden's J on that mean over the shared validation
images; evaluate, predict, report and explore take its folder; members that differ in image
size or validation split are refused, naming the difference."""
import importlib.resources
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest

from minicnn import explore, pipeline, runs, scoring
from minicnn.cli import main
from minicnn.ensemble import build_ensemble, member_folders
from minicnn.model import Ensemble
from minicnn.pipeline import train_run
from minicnn.report import write_report
from minicnn.settings import settings_for
from minicnn.validation import RunFolderError

from runfolder import images_of, saved_model_probability, youden_by_hand


@pytest.fixture(scope="module")
def members(tmp_path_factory, env, data_dir):
    """Runs of the synthetic data: two seeds on one split (split_seed 0, with augmentation and
    BatchNormalization, so that every adaptation applies), one seed on its own split, and one
    at another image size."""
    out = tmp_path_factory.mktemp("members")

    def train(name, **values):
        settings = settings_for("quick", epochs=1, data=str(data_dir), out=str(out / name),
                                score_test=False, **{"image_size": 40, **values})
        return train_run(settings, command="test")
    alike = {"split_seed": 0, "augment": True, "batch_norm": True}
    return {"a": train("a", seed=0, **alike), "b": train("b", seed=1, **alike),
            "other_split": train("other_split", seed=2),
            "other_size": train("other_size", image_size=44, seed=1, split_seed=0)}


@pytest.fixture(scope="module")
def ensemble(members, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble") / "ens"
    return build_ensemble([members["a"], members["b"]], out, command="test",
                          report=write_report)


def test_probabilities_are_the_members_mean_bit_for_bit(members, ensemble, data_dir):
    x, _, _ = images_of(members["a"], data_dir, "validation", 40)
    x_test, _, _ = images_of(members["a"], data_dir, "test", 40)
    model, info = runs.load_run(ensemble)
    assert isinstance(model, Ensemble) and info["image_size"] == 40
    for images in (x, x_test):
        own = [saved_model_probability(members[k], images) for k in ("a", "b")]
        np.testing.assert_array_equal(runs.pneumonia_probability(model, images),
                                      np.mean(np.stack(own), axis=0))
        assert not np.array_equal(own[0], own[1])          # two different members


def test_threshold_is_youden_on_the_pooled_validation_images(members, ensemble, data_dir):
    x, y, _ = images_of(members["a"], data_dir, "validation", 40)
    mean = np.mean([saved_model_probability(members[k], x) for k in ("a", "b")], axis=0)
    config = json.loads((ensemble / "config.json").read_text())
    metrics = json.loads((ensemble / "metrics.json").read_text())
    assert config["threshold"] == metrics["threshold"] == youden_by_hand(y, mean)[0]
    assert metrics["validation"]["n"] == len(y) and metrics["test"] is None
    assert config["kind"] == "ensemble" and config["status"] == "done"
    assert config["members"] == [str(Path(members[k]).absolute()) for k in ("a", "b")]
    assert not (ensemble / "run.lock").exists() and (ensemble / "report.html").is_file()
    schemas = importlib.resources.files("minicnn") / "schemas"
    for name in ("config", "metrics"):
        schema = json.loads((schemas / f"{name}.schema.json").read_text())
        jsonschema.validate(json.loads((ensemble / f"{name}.json").read_text()), schema)


def test_evaluate_predict_and_explore_take_the_ensemble(members, ensemble, data_dir):
    result = scoring.evaluate_run(ensemble, data=data_dir)
    assert result["recorded"] and result["threshold"] == runs.load_run(ensemble)[1]["threshold"]
    assert json.loads((ensemble / "metrics.json").read_text())["test"]["n"] == \
        result["test"]["n"]
    image = sorted((Path(data_dir) / "test" / "PNEUMONIA").iterdir())[0]
    (entry,), _ = scoring.predict_images(ensemble, [image])
    x, _, paths = images_of(members["a"], data_dir, "test", 40)
    k = [Path(p).resolve() for p in paths].index(image.resolve())
    mean = np.mean([saved_model_probability(members[m], x[k:k + 1]) for m in "ab"])
    assert entry["probability"] == mean
    model, info = explore.open_model(ensemble)
    assert model is not None and "first member" in info["source"]


def test_prior_shift_moves_the_members_mean_from_their_common_prior(members, ensemble,
                                                                    data_dir, tmp_path):
    from minicnn import adapt
    from minicnn.data import load_unlabeled
    priors = [adapt.run_training_prior(runs.read_config(members[m])) for m in "ab"]
    assert runs.read_config(ensemble)["member_training_priors"] == priors
    result = scoring.evaluate_run(ensemble, data=data_dir, adapt=("prior",),
                                  predictions=str(tmp_path / "p.csv"))
    section = result["adapted"]["adaptation"]["prior"]
    assert section["train_prior"] == priors[0]
    images = load_unlabeled(Path(data_dir) / "test", 40)
    mean = Ensemble([runs.load_run(members[m])[0] for m in "ab"]).predict(images.x)[:, 1]
    assert section["prior"] == pytest.approx(adapt.em_prior(mean, priors[0])["prior"])
    # members trained under different priors: refused, naming them, before test/ is read
    differ = tmp_path / "differ"
    shutil.copytree(ensemble, differ)
    config = json.loads((differ / "config.json").read_text())
    config["member_training_priors"] = [0.5, 0.75]
    (differ / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"members.*differ \(0.5, 0.75\)"):
        scoring.evaluate_run(differ, data=data_dir, adapt=("prior",))


def test_every_adaptation_applies_to_an_ensemble(ensemble, data_dir):
    result = scoring.evaluate_run(ensemble, data=data_dir, adapt=("bn", "prior"), tta=2)
    adapted = json.loads((ensemble / "metrics-adapt-bn-prior-tta2.json").read_text())
    assert adapted["adaptation"]["methods"] == ["bn", "prior"]
    assert adapted["adaptation"]["tta"] == 2
    assert adapted["test"]["auc"] == result["adapted"]["test"]["auc"]


def test_members_with_another_size_or_split_are_refused(members, tmp_path):
    with pytest.raises(RunFolderError, match="image size: 40 .* and 44"):
        build_ensemble([members["a"], members["other_size"]], tmp_path / "x")
    with pytest.raises(RunFolderError, match="different images.*split_seed"):
        build_ensemble([members["a"], members["other_split"]], tmp_path / "y")
    with pytest.raises(ValueError, match="at least 2"):
        build_ensemble([members["a"]], tmp_path / "z")
    with pytest.raises(ValueError, match="named twice"):
        build_ensemble([members["a"], members["b"], members["a"]], tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_sweep_setting_names_its_runs(members, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    entries = []
    for seed, key in enumerate("ab"):
        shutil.copytree(members[key], sweep / "runs" / f"quick-seed{seed}")
        entries.append({"run": f"quick-seed{seed}", "setting": "quick", "seed": seed,
                        "values": {}})
    (sweep / "sweep.json").write_text(json.dumps({"preset": "quick", "grid": {},
                                                  "seeds": [0, 1], "runs": entries}))
    assert member_folders([sweep / "quick"]) == [sweep / "runs" / "quick-seed0",
                                                 sweep / "runs" / "quick-seed1"]
    assert main(["ensemble", str(sweep / "quick"), "--out", str(tmp_path / "e")]) == 0
    assert "minicnn evaluate --model" in capsys.readouterr().out
    assert main(["ensemble", str(sweep / "nothing"), "--out", str(tmp_path / "f")]) == 2
    assert "no setting 'nothing'" in capsys.readouterr().err


def test_split_seed_fixes_the_validation_patients_across_seeds():
    n = 60
    train = SimpleNamespace(y=np.arange(n) % 2, paths=[
        f"person{k // 2}_bacteria_{k}.jpeg" if k % 2 else f"IM-{k // 2:04d}-0001.jpeg"
        for k in range(n)])

    def validation(**values):
        settings = settings_for("quick", train_per_class=None, **values)
        return sorted(pipeline._honest_indices(settings, train, None)[1])
    assert validation(seed=0, split_seed=5) == validation(seed=1, split_seed=5) \
        == validation(seed=5)
    assert validation(seed=0) != validation(seed=1)


def test_adabn_adapts_each_member_of_an_ensemble_on_its_own():
    from minicnn import adapt, layers
    from minicnn.model import Sequential

    def member(seed):
        return Sequential([layers.Input((4, 4, 1)), layers.Conv2D(2, 3),
                           layers.BatchNormalization(), layers.Flatten(),
                           layers.Dense(2, activation="softmax")], seed=seed)
    members = [member(0), member(1)]
    x = np.random.default_rng(0).random((6, 4, 4, 1)).astype(np.float32)
    adapted = adapt.adapt_batchnorm(Ensemble(members), x)
    assert isinstance(adapted, Ensemble)
    for got, own in zip(adapted.members, members):
        for a, b in zip(got.get_weights(), adapt.adapt_batchnorm(own, x).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(adapted.members[0].get_weights()[-3],
                              adapted.members[1].get_weights()[-3])
