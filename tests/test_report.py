"""report.html: written by every training run and by ``minicnn report``; one self-contained
file (figures as data: URIs, nothing to fetch) holding the run's numbers, checked as text and
in a real headless browser (chromium: screenshot and DOM)."""
import base64
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from minicnn import report, scoring
from minicnn.data import locate
from minicnn.cli import main
from minicnn.settings import PROTOCOLS

from folders import make_chest_xray

SIZE = 40
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch quick run on the synthetic X-ray folder: (run folder, data folder, output),
    with a private cache and no $MINICNN_DATA."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("MINICNN_DATA", raising=False)
        data = make_chest_xray(tmp_path_factory.mktemp("fixture") / "chest_xray")
        run_dir = tmp_path_factory.mktemp("runs") / "quick-report"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["train", "--data", str(data), "--image-size", str(SIZE),
                           "--epochs", "1", "--seed", "1", "--out", str(run_dir)])
        assert status == 0
        yield run_dir, data, out.getvalue()


def _metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


class _Page(HTMLParser):
    """Collects the text, the table rows (lists of cell texts) and every src/href value."""

    def __init__(self):
        super().__init__()
        self.rows, self.links, self.text = [], [], []
        self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        self.links += [(tag, name, value) for name, value in attrs if name in ("src", "href")]
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(markup):
    page = _Page()
    page.feed(markup)
    return page


def _metric_rows(page):
    """The metrics table's rows by name (the only table whose header starts set, threshold)."""
    start = next(i for i, row in enumerate(page.rows) if row[:2] == ["set", "threshold"])
    rows = {}
    for row in page.rows[start + 1:]:
        if row[0] not in ("validation", "test at the threshold", "test at 0.5"):
            break
        rows[row[0]] = row
    return rows


def _check_metrics_rows(page, metrics):
    """Each metrics row shows the run's AUC and accuracy (3 decimals) with their intervals."""
    rows = _metric_rows(page)
    for name, r in (("validation", metrics["validation"]),
                    ("test at the threshold", metrics["test"]),
                    ("test at 0.5", metrics["test"]["at_0.5"])):
        cells = rows[name]
        assert cells[1] == f"{r['threshold']:.3f}" and cells[2] == str(r["n"]), cells
        lo, hi = r["accuracy_ci"]
        assert cells[4] == f"{r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]", cells
        assert cells[3].startswith(f"{r['auc']:.3f}"), cells
        assert cells[5].startswith(f"{r['sensitivity']:.3f}"), cells
        assert cells[6].startswith(f"{r['specificity']:.3f}"), cells


# -- the file ---------------------------------------------------------------------------------
def test_training_writes_the_report(run):
    run_dir, _, printed = run
    path = run_dir / report.REPORT_NAME
    assert path.is_file() and f"report: {path}" in printed
    _check_metrics_rows(_parse(path.read_text()), _metrics(run_dir))


def test_report_command_writes_a_self_contained_page_with_the_run_numbers(run, capsys):
    run_dir, data, _ = run
    (run_dir / "report.html").unlink()
    assert main(["report", "--model", str(run_dir), "--data", str(data)]) == 0
    path = run_dir / "report.html"
    assert f"report written to {path}" in capsys.readouterr().out
    markup = path.read_text(encoding="utf-8")
    assert "http://" not in markup and "https://" not in markup
    assert not re.search(r"<(script|link|iframe|object)\b", markup) and "url(" not in markup
    page = _parse(markup)
    assert page.links and all(tag == "img" and name == "src" for tag, name, _ in page.links)
    for _, _, value in page.links:                   # every picture is an inline PNG
        assert value.startswith("data:image/png;base64,")
        assert base64.b64decode(value.split(",", 1)[1]).startswith(PNG_MAGIC)
    metrics = _metrics(run_dir)
    _check_metrics_rows(page, metrics)
    text = " ".join(" ".join(page.text).split())
    assert metrics["protocol"] in text and "OPTIMISTIC" not in text
    assert f"decision threshold {metrics['threshold']:.3f}" in text
    history = [row for row in page.rows if row and row[0].isdigit()]
    assert len(history) == metrics["epochs_run"]
    # 3 run figures + 8 test images (4 per class), each image with its probability
    assert len(page.links) == 3 + 8
    cards = re.findall(r"<b>([^<]+\.jpeg)</b></div><div>true: (\w+)</div>"
                       r"<div>P\(pneumonia\) = <b>([0-9.]+)</b>", markup)
    assert len(cards) == 8 and {c[1] for c in cards} == {"NORMAL", "PNEUMONIA"}
    files = [next((data / "test").rglob(name)) for name, _, _ in cards]
    results, _ = scoring.predict_images(run_dir, files)
    assert [f"{r['probability']:.3f}" for r in results] == [c[2] for c in cards]


def test_report_says_when_the_data_is_missing(run, tmp_path, monkeypatch):
    run_dir, _, _ = run
    copy = tmp_path / "moved-run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["data_dir"] = str(tmp_path / "gone" / "chest_xray")
    (copy / "config.json").write_text(json.dumps(config))
    (copy / "report.html").unlink()
    monkeypatch.chdir(tmp_path)                      # no ./data or ../shared/data here
    monkeypatch.setattr(locate, "CHECKOUT", tmp_path)    # nor beside the checkout
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    path = report.write_report(copy)
    page = _parse(path.read_text())
    text = " ".join(" ".join(page.text).split())
    assert "The X-ray folder was not found" in text and "is gone" in text
    assert str(tmp_path / "gone") in text
    assert "P(pneumonia) =" not in text
    _check_metrics_rows(page, _metrics(copy))       # the rest of the report is still there
    text = " ".join(_parse(report.write_report(copy, tmp_path / "nowhere").read_text()).text)
    assert f"data folder {tmp_path / 'nowhere'} does not exist" in text
    (tmp_path / "empty").mkdir()
    text = " ".join(_parse(report.write_report(copy, tmp_path / "empty").read_text()).text)
    assert f"The X-ray folder {tmp_path / 'empty'} has no test/ folder" in text


def test_thesis_protocol_is_labelled_optimistic_and_missing_plots_are_redrawn(run, tmp_path):
    run_dir, data, _ = run
    copy = tmp_path / "thesis-run"
    shutil.copytree(run_dir, copy)
    for name in ("learning_curves.png", "confusion_matrix.png", "roc.png"):
        (copy / name).unlink()
    metrics = _metrics(copy)
    metrics.update(protocol=PROTOCOLS["thesis"], honest=False,
                   thesis_reported={"best_val_accuracy": 0.8622, "epoch": 2,
                                    "lowest_val_loss": 0.34})
    (copy / "metrics.json").write_text(json.dumps(metrics))
    path = report.write_report(copy, data_dir=data, n_images=2)
    markup = path.read_text()
    text = " ".join(" ".join(_parse(markup).text).split())
    assert "OPTIMISTIC" in text and PROTOCOLS["thesis"] in text
    assert "0.8622 at epoch 2" in text
    assert "roc.png is missing" in text                  # cannot be redrawn without scores
    # confusion matrix and learning curves redrawn from metrics.json and history.csv,
    # plus two test images
    assert markup.count('src="data:image/png;base64,') == 2 + 2


def test_the_report_links_to_explore_html_only_when_it_exists(run, tmp_path):
    run_dir, data, _ = run
    copy = tmp_path / "explored-run"
    shutil.copytree(run_dir, copy)
    without = report.write_report(copy, data_dir=data, n_images=0).read_text()
    assert 'href="explore.html"' not in without
    (copy / "explore.html").write_text("<!DOCTYPE html><title>explore</title>")
    assert 'href="explore.html"' in report.write_report(copy, data_dir=data,
                                                        n_images=0).read_text()


def test_a_failing_report_only_warns(run, monkeypatch):
    run_dir, data, _ = run

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "write_report", broken)
    with pytest.warns(RuntimeWarning, match="report.html could not be written.*disk full"):
        assert scoring.call_report(report.write_report, run_dir, data) is None


def test_report_of_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys):
    assert main(["report", "--model", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


# -- in a real browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():
    """Path of a chromium executable; skip (fail with MINICNN_REQUIRE_BROWSER=1) without."""
    exe = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome"))), None)
    if exe is None:
        message = ("no chromium on PATH (Debian: apt-get install chromium); the report's "
                   "browser check needs it")
        if os.environ.get("MINICNN_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and MINICNN_REQUIRE_BROWSER=1")
        pytest.skip(message)
    return exe


def _browse(exe, profile, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_report_renders_in_headless_chromium(chromium, run, tmp_path):
    exe = chromium
    run_dir, _, _ = run
    uri = (run_dir / "report.html").resolve().as_uri()
    shot = tmp_path / "report.png"
    _browse(exe, tmp_path / "profile-1", f"--screenshot={shot}", "--window-size=1200,2000",
            uri)
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        pixels = np.asarray(im.convert("RGB")).astype(np.int16)
    assert pixels.std() > 20                                 # not a blank page
    not_white = (pixels < 235).any(axis=2)
    assert not_white.mean() > 0.05
    colourful = np.ptp(pixels, axis=2) > 60                  # banner, figures, plot lines
    assert colourful.mean() > 0.005

    dom = _browse(exe, tmp_path / "profile-2", "--dump-dom", uri)
    page = _parse(dom)
    metrics = _metrics(run_dir)
    _check_metrics_rows(page, metrics)
    text = " ".join(" ".join(page.text).split())
    assert f"{metrics['test']['auc']:.3f}" in text and f"{metrics['test']['accuracy']:.3f}" in text
    assert "minicnn run report" in text and metrics["protocol"] in text
