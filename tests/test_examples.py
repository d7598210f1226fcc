"""Every example in examples/ runs top to bottom in quick mode, exits 0, writes the figures
it promises and prints its key numbers right.

Each example runs in its own process, as a user would run it:
``MINICNN_QUICK=1 MPLBACKEND=Agg MINICNN_FIGURES=<tmp> python examples/NN_name.py``.
Examples 06-08 and 11 (its last part) need the chest X-ray data set; without it they must
say so and exit 0.
Example 09 needs TensorFlow; without it, the same.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, real_data_dir, repo_data_dir

EXAMPLES = ROOT / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 300          # seconds per example; quick mode takes a few to a few tens

# name -> (figures it writes, patterns its output must contain, needs the data set)
PROMISES = {
    "01_perceptron_and_sigmoid": (
        ["step_vs_sigmoid.png"],
        [r"eq\. \(1\): z = .* = 6\.1\n", r"sigmoid\(6\.1\) = 0\.99776",
         r"64x64x1 image -> 4,096 inputs", r"64x64x3 image -> 12,288 inputs",
         r"b =  -6\.2: z = -0\.20 -> output 0", r"b =  -5\.8: z = \+0\.20 -> output 1"],
        False),
    "02_convolution_by_hand": (
        ["edge_example.png", "tier_times.png"],
        [r"top-left output: -5\n", r"naive: top-left -5\n", r"numpy: top-left -5\n",
         r"numba: top-left -5\n", r"convolve2d  \(flip\)    top-left: 5\n",
         r"\[\[ -5  -4   0   8\]\n \[-10  -2   2   3\]\n \[  0  -2  -4  -7\]\n"
         r" \[ -3  -2  -3 -16\]\]"],
        False),
    "03_relu_and_max_pooling": (
        ["relu_and_pooling.png", "values_per_layer.png"],
        [r"32 maps of 28x28 = 25,088 values", r"32 maps of 14x14 =  6,272 values",
         r"32 maps of  7x7  =  1,568 values", r"64 maps of 7x7: 3,136 values",
         r"150 -> 148 -> 74 -> 72 -> 36 -> 34 -> 17 -> 15\n", r"Flatten -> \(14400,\)"],
        False),
    "04_softmax_and_cross_entropy": (
        ["softmax_and_loss.png"],
        [r"softmax\(z\) = \[0\.6 0\.4\]", r"label 0: loss = -ln 0\.6 = 0\.5108",
         r"label 1: loss = -ln 0\.4 = 0\.9163", r"p - y = .* = \[-0\.4\s+0\.4\]",
         r"numerical gradient \(centred differences\): \[-0\.4\s+0\.4\]"],
        False),
    "05_gradient_check": (
        ["gradient_check_errors.png"],
        [r"\d+ checks, worst relative error \S+, all gradients check out",
         r"a 1% wrong backward pass: dx relative error \S+ \(caught: True\)"],
        False),
    "06_explore_xrays": (
        ["class_counts.png", "histogram.png", "normal_grid.png", "pneumonia_grid.png",
         "training_image_4.png"],
        [r"train: NORMAL \(0\)", r"preprocessed: \(64, 64, 1\) float32"],
        True),
    "07_train_thesis_cnn": (
        ["confusion_matrix.png", "roc.png"],         # one epoch: no learning-curve plot
        [r"Total params: 1,033,218", r"patients in both training and validation: 0\n",
         r"Epoch 1/1: loss \d", r"test         auc: \d\.\d{3}\n",
         r"one epoch: no learning curves", r"only 24 test images: .* none are printed"],
        True),
    "08_what_the_network_sees": (
        ["input.png", "feature_maps_conv1.png", "feature_maps_conv2.png",
         "feature_maps_conv3.png", "feature_maps_conv4.png", "saliency_pneumonia.png",
         "saliency_normal.png", "grad_cam_pneumonia.png", "grad_cam_normal.png"],
        [r"conv layer 1 \(\w+\): output \(46, 46, 64\)",
         r"conv layer 2 \(\w+\): output \(21, 21, 64\)",
         r"conv layer 3 \(\w+\): output \(8, 8, 64\)",
         r"conv layer 4 \(\w+\): output \(2, 2, 64\)",
         r"true pneumonia, P\(pneumonia\) = [01]\.\d{3}",
         r"training accuracy 0\.[6-9]\d\d \(chance: 0\.5\)"],
        True),
    "10_backward_pass_by_hand": (
        ["backward_by_hand.png"],
        [r"dK\[0, 0\] = sum of X\[0:4, 0:4\] = 50\n",
         r"\[\[18 11 -1\]\n \[-1 13  2\]\n \[ 6  6  7\]\]",
         r"C, the 16x9 window matrix \(row 0 = the top-left window \[3 0 1 1 5 8 2 7 2\]\)",
         r"== dX: True", r"relative error dK \S+, dX \S+\n",
         r"block \(0,1\) \[\[0, 8\], \[2, 3\]\]: max 8 at \(0,3\) gets 2"],
        False),
    "11_learning_step_by_step": (
        ["learning_the_edge_kernel.png", "first_layer_filters.png"],
        [r"step without correction \[ 0\.0032 -0\.0032  0\.0032\]  \(3\.16 times larger\)",
         r"conv2d +kernel \(3, 3, 1, 64\) +fan_in +9 fan_out +576 limit 0\.1013",
         r"1\.0 x Glorot: std after layers 1, 5, 10 = 1, 1\.01, 1\n",
         r"step 200: loss \S+e-1\d, kernel\n\[\[ 1\. +-?0\. -1\.\]",
         r"first-layer filters moved \d+\.\d% of their size"],
        True),                    # its last part; the first three need nothing
    "12_logistic_regression_two_ways": (
        ["irls_and_adam.png"],
        [r"128 X-rays at 32 px \(64 pneumonia\), 5 covariates; design matrix X \(128, 6\)",
         r"IRLS converged in \d steps", r"agree to 1e-3: True\)",
         r"minicnn's loss (\d\.\d{6}) = -log-likelihood / N at IRLS's beta \1\n"],
        True),
    "09_compare_with_keras": (
        ["keras_differences.png"],
        [r"parameters: minicnn 128,002, Keras 128,002", r"forward: relative difference"],
        False),
}


def check_gradient_errors(out, data, err=""):
    """Example 05: every line ok, the worst error below the kink threshold 1e-5."""
    assert "FAIL" not in out
    assert float(re.search(r"worst relative error (\S+),", out).group(1)) < 1e-5
    check_table_aligned(out, data)


def check_keras_differences(out, data, err=""):
    """Example 09: forward, gradients and weights after Adam steps agree with Keras, and
    TensorFlow's start-up log lines are silenced."""
    worst = float(re.search(r"largest relative difference overall: (\S+)\n", out).group(1))
    assert worst < 1e-4
    assert "oneDNN" not in err and "absl" not in err, err


def check_table_aligned(out, data, err=""):
    """Example 05: the columns of its table line up (every row's bars at the same places)."""
    rows = [line for line in out.splitlines() if re.match(r"^ *(naive|numpy|numba|loss) \|", line)]
    assert len({tuple(m.start() for m in re.finditer(r"\|", row)) for row in rows}) == 1, rows


def check_numba_warmed_up(out, data, err=""):
    """Example 02: Numba is timed warm, so its tier beats the naive loops (it is over 10x
    faster when warm; a cold first call, compiling or loading, is slower than naive)."""
    speed = float(re.search(r"numba: +\S+ s, +(\S+)x naive's speed", out).group(1))
    assert speed > 1, out


def check_class_counts(out, data, err=""):
    """Example 06: the counts printed are the files in the folders."""
    for split in ("train", "test"):
        n0, n1 = (sum(1 for p in (Path(data) / split / cls).iterdir()
                      if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
                  for cls in ("NORMAL", "PNEUMONIA"))
        assert re.search(rf"{split}: NORMAL \(0\) +{n0:,} +PNEUMONIA \(1\) +{n1:,}", out), out


EXTRA_CHECKS = {"02_convolution_by_hand": check_numba_warmed_up,
                "05_gradient_check": check_gradient_errors,
                "09_compare_with_keras": check_keras_differences,
                "06_explore_xrays": check_class_counts}


TIMES = {}             # example -> wall seconds, printed at the end (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def print_times():
    yield
    if TIMES:
        print("\nquick-mode wall time per example:")
        for name, seconds in sorted(TIMES.items()):
            print(f"  {name}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One image cache for the module, so examples 06-08 decode their few images once."""
    return tmp_path_factory.mktemp("minicnn_cache")


def _pythonpath(first):
    """``first`` ahead of the inherited PYTHONPATH: the examples import this checkout's
    minicnn, not an installed one (a copy of the repository may have another installed)."""
    return os.pathsep.join(filter(None, [str(first), os.environ.get("PYTHONPATH")]))


def example_env(figures, cache, extra_env=None, checkout=ROOT):
    """The environment an example runs in: quick mode, figures and cache in temporary
    folders, no $MINICNN_DATA or $MINICNN_RUN of the caller, ``checkout`` first on
    PYTHONPATH; then ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if k not in ("MINICNN_RUN", "MINICNN_DATA")}
    env.update(MINICNN_QUICK="1", MPLBACKEND="Agg", MINICNN_FIGURES=str(figures),
               MINICNN_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               PYTHONPATH=_pythonpath(checkout))
    return {**env, **(extra_env or {})}


def run_example(name, figures, cache, extra_env=None, cwd=ROOT, script=None, checkout=ROOT):
    env = example_env(figures, cache, extra_env, checkout)
    start = time.perf_counter()
    script = script or EXAMPLES / f"{name}.py"
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    return proc, time.perf_counter() - start


def test_examples_import_this_checkouts_minicnn(tmp_path, monkeypatch):
    """Even with no PYTHONPATH of the caller, from another folder: not an installed copy."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    proc = subprocess.run([sys.executable, "-c", "import minicnn; print(minicnn.__file__)"],
                          cwd=tmp_path, env=example_env(tmp_path, tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert Path(proc.stdout.strip()).resolve() == ROOT / "minicnn" / "__init__.py", proc.stderr


def test_every_example_is_listed_here():
    found = {p.stem for p in EXAMPLES.glob("[0-9][0-9]_*.py")}
    assert found == set(PROMISES), "examples and PROMISES differ: " + str(
        found ^ set(PROMISES))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROMISES))
def test_example_runs_in_quick_mode(name, tmp_path, cache_dir):
    figures, patterns, needs_data = PROMISES[name]
    data = real_data_dir()
    extra = {"MINICNN_DATA": str(Path(data).resolve())} if data else {}
    proc, seconds = run_example(name, tmp_path, cache_dir, extra)
    TIMES[name] = seconds
    out = proc.stdout
    assert proc.returncode == 0, f"{name} failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    if needs_data and data is None:
        assert "data set" in out
        pytest.skip("the chest X-ray data set is not available")
    if name.startswith("09") and importlib.util.find_spec("keras") is None:
        assert "not installed" in out                 # (no import here: it takes seconds)
        pytest.skip("TensorFlow/Keras is not installed")
    for pattern in patterns:
        assert re.search(pattern, out), f"{name}: no match for {pattern!r} in:\n{out}"
    for figure in figures:
        path = tmp_path / figure
        assert path.is_file(), f"{name} did not write {figure}; wrote {os.listdir(tmp_path)}"
        assert path.read_bytes()[:8] == PNG_MAGIC, f"{figure} is not a PNG file"
    if name in EXTRA_CHECKS:
        EXTRA_CHECKS[name](out, data, proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["06_explore_xrays", "07_train_thesis_cnn",
                                  "08_what_the_network_sees", "11_learning_step_by_step",
                                  "12_logistic_regression_two_ways"])
def test_data_examples_exit_cleanly_without_data(name, tmp_path, cache_dir):
    """No data set anywhere: a clear message naming the places tried, exit code 0. The
    example runs from a copy in a bare folder, so that the places next to this repository
    are not found either."""
    bare = tmp_path / "bare" / "examples"
    bare.mkdir(parents=True)
    script = bare / f"{name}.py"
    script.write_text((EXAMPLES / f"{name}.py").read_text())
    proc, _ = run_example(name, tmp_path / "figures", cache_dir,
                          {"MINICNN_DATA": str(tmp_path / "nowhere")}, cwd=tmp_path,
                          script=script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "needs the chest X-ray data set" in proc.stdout
    assert "nowhere" in proc.stdout and "Traceback" not in proc.stderr


def test_keras_example_exits_cleanly_without_tensorflow(tmp_path, cache_dir):
    """A stand-in ``keras`` package that fails to import, as on a machine without it."""
    fake = tmp_path / "fake"
    (fake / "keras").mkdir(parents=True)
    (fake / "keras" / "__init__.py").write_text("raise ImportError('no keras here')\n")
    pythonpath = os.pathsep.join([str(fake), _pythonpath(ROOT)])
    proc, _ = run_example("09_compare_with_keras", tmp_path / "figures", cache_dir,
                          {"PYTHONPATH": pythonpath})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TensorFlow/Keras is not installed" in proc.stdout


def _checkout_beside(data, tmp_path):
    """A minimal checkout (a copy of minicnn/ and pyproject.toml) with ``data`` at
    data/chest_xray beside it (a symbolic link), for when the data set is not next to this
    repository but named by $MINICNN_DATA."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "minicnn", checkout / "minicnn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    (checkout / "data").mkdir()
    (checkout / "data" / "chest_xray").symlink_to(data, target_is_directory=True)
    return checkout


@pytest.mark.slow
def test_data_example_finds_the_data_from_another_folder(tmp_path, cache_dir):
    """Run from a folder other than the checkout, without $MINICNN_DATA, example 06 finds
    the data set next to the checkout that holds minicnn, instead of skipping. The data
    set next to this repository, or else the one $MINICNN_DATA names, beside a copy."""
    data, checkout = repo_data_dir(), ROOT
    if data is None and real_data_dir() is not None:
        data = real_data_dir()
        checkout = _checkout_beside(data, tmp_path)
    if data is None:
        pytest.skip("the chest X-ray data set is not available")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc, _ = run_example("06_explore_xrays", tmp_path / "figures", cache_dir, cwd=elsewhere,
                          checkout=checkout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = re.search(r"^data: (.+)$", proc.stdout, re.MULTILINE)
    assert found and Path(found.group(1)).resolve() == data, proc.stdout[-2000:]
