"""A run folder as one self-contained HTML page: ``report.html``.

The page shows the protocol (the thesis preset's is labelled optimistic), the metrics with
95% intervals (validation, test at the chosen threshold and at 0.5), the confusion matrix,
learning curves and ROC curve, the per-epoch table, a few test X-rays with the predicted
probability of pneumonia and a Grad-CAM overlay, the settings and the versions.

Everything is inside the one file: CSS inline, figures as base64 PNG ``data:`` URIs, no
scripts, fonts or links to load, so it can be mailed, archived or opened offline.
``minicnn train`` writes it at the end of every run; ``minicnn report --model RUN_DIR`` rewrites it.
"""
from __future__ import annotations

import base64
import datetime
import html
import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import __version__, plots, runs
from .data import load_image_folder, run_data_dir
from .explain import grad_cam
from .io import atomic_write
from .metrics import format_number
from .validation import RunFolderError

__all__ = ["write_report", "REPORT_NAME"]

REPORT_NAME = runs.REPORT

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a;
       margin: 0; background: #f5f6f8; line-height: 1.45; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 32px 0 8px; border-bottom: 2px solid #e3e6ea;
     padding-bottom: 4px; }
.sub { color: #5b6672; margin: 0 0 12px; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.honest { background: #e7f5ec; border-left: 6px solid #2e8b57; }
.optimistic { background: #fff1e0; border-left: 6px solid #d9822b; }
.failed { background: #fde8e8; border-left: 6px solid #c0392b; }
.note { background: #eef2f7; border-left: 6px solid #7a8ca3; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
th, td { border: 1px solid #d8dde3; padding: 4px 9px; text-align: right; }
th { background: #f0f2f5; }
td.key, th.key { text-align: left; }
tr.kept td { background: #fff6cc; font-weight: 600; }
.ci { color: #6b7580; font-size: 0.86em; white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 100%; border: 1px solid #e3e6ea; }
figcaption { font-size: 0.85em; color: #5b6672; max-width: 520px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
         gap: 12px; }
.card { border: 1px solid #d8dde3; border-radius: 6px; padding: 8px; font-size: 0.88em; }
.card img { width: 100%; }
.right { color: #2e8b57; font-weight: 600; }
.wrong { color: #c0392b; font-weight: 600; }
code { background: #f0f2f5; padding: 0 3px; border-radius: 3px; }
"""


# -- small helpers ------------------------------------------------------------------------
def _esc(value):
    return html.escape(str(value), quote=True)


def _read_json(path):
    """A run file's JSON object, or None when missing or damaged (then a warning names it:
    the rest of the report is still worth writing)."""
    try:
        return runs.read_json(path, required=False)
    except (OSError, RunFolderError) as exc:
        warnings.warn(f"cannot read {path}: {exc}", stacklevel=3)
        return None


def _dict(data, key):
    """``data[key]`` when it is a JSON object, else {} (a damaged file shows as missing)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _png_uri(data):
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_uri(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return _png_uri(buffer.getvalue())


def _img(uri, alt, width=None):
    size = f' width="{int(width)}"' if width else ""
    return f'<img src="{uri}" alt="{_esc(alt)}"{size}>'


def _table(head, rows, key_columns=1, row_classes=None):
    """HTML table; cells are already-escaped HTML strings; the first key_columns are
    left-aligned; row_classes: optional CSS class per row ("" for none)."""
    def cells(values, tag):
        return "".join(f'<{tag} class="key">{v}</{tag}>' if i < key_columns
                       else f"<{tag}>{v}</{tag}>" for i, v in enumerate(values))
    classes = row_classes or [""] * len(rows)
    body = "".join((f'<tr class="{c}">' if c else "<tr>") + cells(row, "td") + "</tr>"
                   for row, c in zip(rows, classes))
    return f"<table><thead><tr>{cells(head, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _with_ci(report, key):
    value = format_number(report.get(key))
    interval = report.get(f"{key}_ci")
    if not interval or None in interval:
        return value
    lo, hi = interval
    return f'{value} <span class="ci">[{format_number(lo)}, {format_number(hi)}]</span>'


# -- sections -----------------------------------------------------------------------------
def _header(run_dir, config, metrics):
    settings = _dict(config, "settings")
    protocol = (metrics or {}).get("protocol") or config.get("protocol") or "unknown"
    optimistic = settings.get("protocol") == "thesis" or (metrics or {}).get("honest") is False
    parts = [f"<h1>minicnn run report: {_esc(run_dir.name)}</h1>",
             f'<p class="sub">preset <b>{_esc(settings.get("preset", "?"))}</b>, '
             f'{_esc(settings.get("image_size", "?"))} px, seed {_esc(config.get("seed", "?"))}'
             f', started {_esc(config.get("started", "?"))}; folder <code>'
             f'{_esc(run_dir.absolute())}</code></p>']
    if optimistic:
        parts.append(f'<div class="banner optimistic"><b>Protocol: {_esc(protocol)}.</b> '
                     "OPTIMISTIC: as in the thesis, validation used the test images, so the "
                     "threshold (and anything chosen by watching the validation curves) was "
                     "tuned on the very images reported as test; these numbers overstate how "
                     "the model would do on new patients.</div>")
    else:
        parts.append(f'<div class="banner honest"><b>Protocol: {_esc(protocol)}.</b> '
                     "The epoch and the decision threshold were chosen on validation images "
                     "only; " + ("the test images are not scored yet (validation only)."
                                 if runs.test_not_scored(metrics) else
                                 "the test images were scored once, at the end.") + "</div>")
    status, reason = runs.run_status(run_dir, config)
    because = f": {_esc(reason)}" if reason else ""
    if status == "diverged":
        parts.append(f'<div class="banner note"><b>Training diverged</b>{because}. The '
                     f"kept model is the last finite epoch's.</div>")
    elif status != "done":
        parts.append(f'<div class="banner failed">This run did not finish: status '
                     f"<code>{_esc(status)}</code>{because}. Sections below show what it "
                     f"wrote.</div>")
    return "\n".join(parts)


def _metrics_section(metrics):
    if not metrics:
        return "<h2>Metrics</h2><p>No metrics.json in the run folder.</p>"
    test = _dict(metrics, "test")
    head = ["set", "threshold", "n", "AUC", "accuracy", "sensitivity", "specificity",
            "precision", "F1", "loss"]
    text = ["<h2>Metrics</h2>",
            "<p>95% intervals in brackets: Wilson for the proportions, DeLong for the AUC. "
            "Sensitivity is the recall of pneumonia, specificity the recall of normal.</p>",
            _table(head, _metric_rows(metrics))]
    facts = _facts(metrics)
    if facts:
        text.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    reported = _dict(metrics, "thesis_reported")
    if reported:
        text.append(f'<div class="banner note">The thesis reported a best validation '
                    f"accuracy of {format_number(reported.get('best_val_accuracy'), 4)} at "
                    f"epoch {_esc(reported.get('epoch'))} and a lowest validation loss of "
                    f"about {_esc(reported.get('lowest_val_loss'))}.</div>")
    if test.get("note"):
        text.append(f"<p>Note: {_esc(test['note'])}.</p>")
    return "\n".join(text)


def _metric_rows(metrics):
    """Rows of the metrics table: validation, test at the threshold, test at 0.5."""
    test = _dict(metrics, "test")
    rows = []
    # The loss does not depend on the threshold: the test row's loss holds for both rows.
    for name, report, loss in (
            ("validation", _dict(metrics, "validation"), None),
            ("test at the threshold", test, None),
            ("test at 0.5", _dict(test, "at_0.5"), test.get("loss"))):
        if report:
            rows.append([_esc(name), format_number(report.get("threshold")),
                         _esc(report.get("n", "?")),
                         *(_with_ci(report, k) for k in ("auc", "accuracy", "sensitivity",
                                                         "specificity", "precision")),
                         format_number(report.get("f1")),
                         format_number(report.get("loss", loss))])
    return rows


def _facts(metrics):
    """The threshold, the kept epoch and the best epochs, as sentences."""
    facts = []
    if metrics.get("threshold") is not None:
        facts.append(f"decision threshold {format_number(metrics['threshold'])} "
                     f"({_esc(metrics.get('threshold_rule', 'chosen on validation'))})")
    if metrics.get("kept_epoch") is not None:
        facts.append(f"kept epoch {_esc(metrics['kept_epoch'])} of "
                     f"{_esc(metrics.get('epochs_run', '?'))} "
                     f"({_esc(metrics.get('kept_epoch_rule', ''))})")
    for key, label in (("best_val_accuracy", "best validation accuracy"),
                       ("best_val_loss", "lowest validation loss")):
        best = _dict(metrics, key)
        if best:
            facts.append(f"{label} {format_number(best.get('value'), 4)} at epoch "
                         f"{_esc(best.get('epoch'))}")
    return facts


def _figures_section(run_dir, metrics, history):
    metrics = metrics or {}
    names = metrics.get("class_names", ["NORMAL", "PNEUMONIA"])
    figures = []

    def add(file_name, caption, regenerate):
        path = run_dir / file_name
        if path.is_file():
            uri = _png_uri(path.read_bytes())
        else:
            try:
                fig = regenerate()
            except Exception as exc:  # a missing input: say so in the page
                figures.append(f"<figure><figcaption>{_esc(caption)}: not available "
                               f"({_esc(exc)})</figcaption></figure>")
                return
            uri = _figure_uri(fig)
        figures.append(f"<figure>{_img(uri, caption)}<figcaption>{_esc(caption)}"
                       f"</figcaption></figure>")

    def confusion():
        cm = _dict(metrics, "test").get("confusion_matrix")
        if cm is None:
            raise ValueError("no test confusion matrix in metrics.json")
        return plots.plot_confusion_matrix(np.array(cm), names)

    def curves():
        if not history:
            raise ValueError("no history.csv")
        keys = [k for k in history[0] if k != "epoch"]
        kept = metrics.get("kept_epoch")
        return plots.plot_history({k: [row[k] for row in history] for k in keys},
                                  best_epoch=None if kept is None else kept - 1)

    def roc():
        raise ValueError("roc.png is missing and the test scores are not stored")

    add("confusion_matrix.png", "Test confusion matrix at the chosen threshold "
        "(rows true class, columns predicted).", confusion)
    add("roc.png", "Test ROC curve with the operating point of the chosen threshold.", roc)
    add("learning_curves.png", "Loss and accuracy per epoch, training and validation; the "
        "dotted line marks the kept epoch.", curves)
    return "<h2>Figures</h2>\n<div class=\"figures\">" + "\n".join(figures) + "</div>"


def _history_section(history, metrics):
    if not history:
        return "<h2>Epochs</h2><p>No history.csv in the run folder.</p>"
    kept = (metrics or {}).get("kept_epoch")
    keys = [k for k in history[0] if k != "epoch"]
    rows, classes = [], []
    for number, row in enumerate(history, 1):
        epoch = row.get("epoch") or number
        rows.append([str(epoch)] + [format_number(row[k], 4) for k in keys])
        classes.append("kept" if epoch == kept else "")
    note = " The highlighted row is the kept epoch." if kept else ""
    return ("<h2>Epochs</h2><p>One row per epoch (history.csv), numbered from 1." + note
            + "</p>" + _table(["epoch"] + [_esc(k) for k in keys], rows, row_classes=classes))


def _find_data(data_dir, config):
    """(test folder or None, HTML message saying why when None): the folder
    :func:`minicnn.data.run_data_dir` gives for ``data_dir`` and the run's recorded one."""
    hint = ("so no test images are shown. Run <code>minicnn report --model RUN_DIR --data "
            "DIR</code> to add them.")
    try:
        root = run_data_dir(data_dir, config.get("data_dir"))
    except (FileNotFoundError, ValueError) as exc:
        return None, f"The X-ray folder was not found ({_esc(exc)}), {hint}"
    if not (root / "test").is_dir():
        return None, f"The X-ray folder {_esc(root)} has no test/ folder, {hint}"
    return root / "test", ""


def _example_png(image, heatmap):
    fig = Figure(figsize=(4.0, 2.0), dpi=90)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.imshow(image, cmap="gray", vmin=0, vmax=1)
    right.imshow(image, cmap="gray", vmin=0, vmax=1)
    right.imshow(heatmap, cmap="jet", alpha=0.4, vmin=0, vmax=1)
    for ax in (left, right):
        ax.set_axis_off()
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.98, wspace=0.04)
    return _figure_uri(fig)


def _examples_section(run_dir, config, data_dir, n_images):
    title = "<h2>Test images</h2>"
    if n_images <= 0:
        return ""
    try:
        model, info = runs.load_run(run_dir, config or None)
    except (FileNotFoundError, ValueError) as exc:
        return f"{title}<p>No model to explain: {_esc(exc)}</p>"
    test_dir, message = _find_data(data_dir, config)
    if test_dir is None:
        return f'{title}<div class="banner note">{message}</div>'
    try:
        ds = load_image_folder(test_dir, info["image_size"], progress=False, use_cache=False,
                               limit_per_class=max(1, math.ceil(n_images / 2)),
                               equalize=info["equalize"])
    except (FileNotFoundError, ValueError, OSError) as exc:
        return (f'{title}<div class="banner note">Cannot read test images from '
                f'{_esc(test_dir)}: {_esc(exc)}</div>')
    order = _alternate_classes(ds.y, len(ds.class_names))[:n_images]
    x = ds.x[order]
    p = runs.pneumonia_probability(model, x)
    # evidence for pneumonia, every image (an ensemble: its members' maps averaged)
    cams = np.mean([grad_cam(m, x, class_index=1) for m in getattr(model, "members", [model])],
                   axis=0)
    cards = [_card(x[k, :, :, 0], cams[k], ds.paths[i], ds.y[i], p[k], info)
             for k, i in enumerate(order)]
    return (f"{title}<p>The first test images of each class in {_esc(test_dir)}, at "
            f"{info['image_size']} px. A case is called pneumonia when P(pneumonia) &ge; "
            f"{format_number(info['threshold'])} (the run's threshold). The Grad-CAM overlay shows "
            f"where the last convolution found evidence for pneumonia (red = strong, scaled "
            f"per image); it is a coarse map of what the network used, not a diagnosis.</p>"
            f'<div class="cards">{"".join(cards)}</div>')


def _alternate_classes(y, n_classes):
    """Indices into y taking one of each class in turn, so both classes appear even when
    only a few images are shown; the rest follow."""
    by_class = [np.flatnonzero(y == c) for c in range(n_classes)]
    order = [int(i) for group in zip(*by_class) for i in group]
    return np.array(order + [i for i in range(len(y)) if i not in order], dtype=np.int64)


def _card(image, cam, path, truth, prob, info):
    """One test X-ray (H, W) with its Grad-CAM (H, W), true class, P(pneumonia) and label."""
    names = info["class_names"]
    label = runs.label(prob, info["threshold"], names)
    if label is None:
        verdict = '<span class="wrong">no label: the probability is not a number</span>'
    else:
        verdict = (f'{_esc(label)} (<span class="right">correct</span>)' if label == names[truth]
                   else f'{_esc(label)} (<span class="wrong">wrong</span>)')
    empty = "" if cam.max() > 0 else " (empty: no evidence for pneumonia)"
    return (f'<div class="card"><div class="sub">X-ray | Grad-CAM{empty}</div>'
            f'{_img(_example_png(image, cam), "test X-ray and its Grad-CAM")}'
            f"<div><b>{_esc(os.path.basename(path))}</b></div>"
            f"<div>true: {_esc(names[truth])}</div>"
            f"<div>P(pneumonia) = <b>{format_number(prob)}</b></div>"
            f"<div>predicted: {verdict}</div></div>")


def _safe_examples(run_dir, config, data_dir, n_images, metrics):
    """The test-image section, or a note saying why it could not be drawn."""
    if n_images > 0 and runs.test_not_scored(metrics):
        return ('<h2>Test images</h2><div class="banner note">test/ is not scored yet (a '
                "validation-only run), so no test image is shown. Score it once, when the "
                "settings are chosen: <code>minicnn evaluate --model RUN_DIR</code>.</div>")
    try:
        return _examples_section(run_dir, config, data_dir, n_images)
    except Exception as exc:  # the rest of the report is still worth writing
        return (f'<h2>Test images</h2><div class="banner note">The test images could not be '
                f"drawn: {_esc(type(exc).__name__)}: {_esc(exc)}</div>")


def _settings_section(config):
    settings = _dict(config, "settings")
    rows = [[_esc(k), _esc(v if isinstance(v, str) else json.dumps(v))]
            for k, v in settings.items()]
    extra = [("command", config.get("command")), ("data folder", config.get("data_dir")),
             ("backend", config.get("backend")), ("started", config.get("started")),
             ("finished", config.get("finished")), ("wall seconds", config.get("wall_seconds")),
             ("class weights", config.get("class_weight_values"))]
    rows += [[_esc(k), _esc(v if isinstance(v, str) else json.dumps(v))]
             for k, v in extra if v is not None]
    text = ["<h2>Settings</h2><p>From config.json.</p>",
            _table(["setting", "value"], rows, key_columns=2)]
    counts = _dict(config, "counts")
    if counts and all(isinstance(c, dict) for c in counts.values()):
        classes = [k for k in next(iter(counts.values())) if k != "total"]
        rows = [[_esc(split)] + [_esc(c.get(k, "")) for k in classes] + [_esc(c.get("total"))]
                for split, c in counts.items()]
        text += ["<p>Images per split:</p>",
                 _table(["split"] + [_esc(k) for k in classes] + ["total"], rows)]
    return "\n".join(text)


def _versions_section(config):
    machine = _dict(config, "machine")
    source = _dict(config, "source")
    pairs = [*_dict(config, "versions").items(),
             *((k, v) for k, v in machine.items() if k != "environment"),
             *_dict(machine, "environment").items(),
             *((f"git {k.removeprefix('git_')}", v) for k, v in source.items())]
    rows = [[_esc(k), _esc(v)] for k, v in pairs]
    if not rows:
        return ""
    return "<h2>Versions and machine</h2>" + _table(["", "value"], rows, key_columns=2)


def _explore_link(run_dir):
    """A link to the run's explore.html (written by ``minicnn explore --model RUN_DIR``)."""
    if not (run_dir / "explore.html").is_file():
        return ""
    return ('<div class="banner note">Step through this model on X-rays, forward and '
            'backward, number by number: <a href="explore.html">explore.html</a>.</div>')


# -- the page -----------------------------------------------------------------------------
def write_report(run_dir, data_dir=None, n_images=8, config=None):
    """Write ``report.html`` into a run folder and return its Path.

    run_dir: a folder written by ``minicnn train`` (config.json, metrics.json, history.csv,
    model.npz, PNG plots; missing parts are reported in the page, not fatal). data_dir: the
    chest_xray folder for the test images (default: the run's recorded data folder, then the
    usual places); if none is found the page says so. n_images: how many test X-rays to show
    with P(pneumonia) and a Grad-CAM overlay (0: none). config: the run's config.json as it
    is about to be recorded (training passes it, so that the page shows how the run ended
    before config.json says so); default: read from run_dir. Raises FileNotFoundError when
    run_dir is not a run folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder at {run_dir}")
    config = config if config is not None else _read_json(run_dir / runs.CONFIG)
    metrics = _read_json(run_dir / runs.METRICS)
    if config is None and metrics is None:
        raise FileNotFoundError(f"{run_dir} is not a run folder: it has neither config.json "
                                f"nor metrics.json")
    config = config or {}
    history = runs.read_history(run_dir / runs.HISTORY)
    body = [_header(run_dir, config, metrics), _explore_link(run_dir),
            _metrics_section(metrics),
            _figures_section(run_dir, metrics, history), _history_section(history, metrics),
            _safe_examples(run_dir, config, data_dir, int(n_images), metrics),
            _settings_section(config), _versions_section(config)]
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>minicnn report: {_esc(run_dir.name)}</title>\n<style>{CSS}</style>\n"
            "</head>\n<body>\n<main>\n" + "\n".join(part for part in body if part)
            + f"\n<p class=\"sub\">Written {stamp} by minicnn {_esc(__version__)}.</p>\n"
            "</main>\n</body>\n</html>\n")
    path = run_dir / REPORT_NAME
    atomic_write(path, page.encode("utf-8"))
    return path
