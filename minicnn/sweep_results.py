"""A sweep folder's results: one row per run, statistics across seeds, tables, comparisons.

``minicnn sweep`` (:mod:`minicnn.sweep`) writes the run folders; this module reads them back
and writes ``sweep.csv`` (one row per run), ``summary.json`` and ``summary.md`` (per setting:
mean, standard deviation, min, max and a 95% t-interval across seeds) and ``sweep.png``
(:func:`minicnn.plots.plot_sweep`). ``minicnn compare`` puts several sweeps' settings side by
side, with the differences from the first paired by seed.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from . import plots, runs
from .io import atomic_write
from .validation import SettingError, choice

__all__ = ["SWEEP", "METRICS", "PARTS", "t_interval", "describe", "loss_jumps", "JUMP_LIMIT",
           "JUMP_AFTER", "collect", "summarize", "summary_markdown", "write_results", "compare",
           "compare_markdown", "short_labels"]

SWEEP, CSV, SUMMARY_JSON, SUMMARY_MD, PLOT = ("sweep.json", "sweep.csv", "summary.json",
                                              "summary.md", "sweep.png")
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "loss")
PARTS = ("test", "validation")


# -- statistics across seeds --------------------------------------------------------------
def t_interval(values, level=0.95):
    """``(low, high)``: mean ± t_{(1+level)/2, n-1} · sd / √n, the interval for the mean of
    the runs' population from n values (sd with n - 1); ``(None, None)`` when n < 2."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return None, None
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def describe(values):
    """n, mean, sd (n - 1), min, max and the 95% t-interval of a list of numbers (None
    values left out); sd and the interval are None with fewer than two."""
    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not x:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None,
                "ci_low": None, "ci_high": None}
    low, high = t_interval(x)
    return {"n": len(x), "mean": float(np.mean(x)),
            "sd": float(np.std(x, ddof=1)) if len(x) > 1 else None,
            "min": min(x), "max": max(x), "ci_low": low, "ci_high": high}


# -- stability of the validation loss -------------------------------------------------------
#: The target of issue 29: after epoch 3, no epoch-to-epoch rise of the validation loss above
#: twice its lowest value so far.
JUMP_LIMIT, JUMP_AFTER = 2.0, 3


def loss_jumps(losses, after=JUMP_AFTER):
    """How far the validation loss jumps between epochs: for each epoch e > ``after``
    (counted from 1; losses: L_1, ..., L_n), the rise L_e - L_{e-1} over the running
    minimum min(L_1, ..., L_{e-1}). Returns ``{"worst", "epoch", "over"}``: the largest such
    ratio and its epoch (None when no epoch is after ``after``), and how many epochs exceed
    :data:`JUMP_LIMIT` (a fall counts as a ratio <= 0; a missing loss ends the series)."""
    values = []
    for value in losses:
        if value is None or not math.isfinite(value):
            break
        values.append(float(value))
    ratios = {e + 1: (values[e] - values[e - 1]) / min(values[:e])
              for e in range(max(after, 1), len(values))}
    if not ratios:
        return {"worst": None, "epoch": None, "over": 0}
    epoch = max(ratios, key=ratios.get)
    return {"worst": ratios[epoch], "epoch": epoch,
            "over": sum(r > JUMP_LIMIT for r in ratios.values())}


# -- results ----------------------------------------------------------------------------------
def _flatten(prefix, report):
    """A metrics.json report as flat columns: numbers, intervals as _low/_high, at_0.5."""
    row = {}
    for key, value in report.items():
        if isinstance(value, dict):
            row.update(_flatten(f"{prefix}_{key}", value))
        elif key.endswith("_ci") and isinstance(value, list) and len(value) == 2:
            row[f"{prefix}_{key}_low"], row[f"{prefix}_{key}_high"] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            row[f"{prefix}_{key}"] = value
    return row


def _row(out, entry, adaptation="none"):
    """One sweep.csv row: the run, its setting's values, seed, status and metrics; with an
    ``adaptation`` (as :func:`minicnn.adapt.adapt_name` spells it) other than none, the test
    metrics are the adapted ones of RUN/metrics-adapt-NAME.json (``minicnn evaluate
    --adapt``), None where that file is missing."""
    run_dir = Path(out) / "runs" / entry["run"]
    row = {"run": entry["run"], "setting": entry["setting"], **entry["values"],
           "seed": entry["seed"]}
    config = runs.read_json(run_dir / runs.CONFIG, required=False)
    if config is None:
        return {**row, "status": "not started"}
    row["status"] = runs.run_status(run_dir, config)[0]
    row["wall_seconds"] = (config.get("wall_seconds") or {}).get("total")
    metrics = runs.read_json(run_dir / runs.METRICS, required=False) or {}
    for key in ("threshold", "kept_epoch", "epochs_run"):
        row[key] = metrics.get(key)
    if adaptation != "none":
        adapted = runs.read_json(run_dir / runs.adapted_metrics(adaptation), required=False) or {}
        metrics = {**metrics, "test": adapted.get("test")}
    for part in PARTS:
        row.update(_flatten(part, metrics.get(part) or {}))
    return row


def scoring_command(adaptation="none"):
    """The command that scores a run's test/ under an adaptation (a name of
    :func:`minicnn.adapt.adapt_name`)."""
    methods, _, draws = adaptation.partition("-tta")
    return ("minicnn evaluate --model RUN"
            + (f" --adapt {methods.replace('-', ',')}" if methods != "none" else "")
            + (f" --tta {draws}" if draws else ""))


def collect(out, adaptation="none"):
    """The rows of a sweep folder's runs, in sweep.json's order, each run once (a sweep.json
    that lists a run twice, e.g. written with ``--seeds 0 0`` before they were refused,
    never counts it twice); test metrics adapted as :func:`_row` says."""
    plan_json = runs.read_json(Path(out) / SWEEP)
    entries = {entry["run"]: entry for entry in plan_json["runs"]}
    return [_row(out, entry, adaptation) for entry in entries.values()]


def summarize(rows):
    """{setting: {"runs", "finished", part: {metric: describe(...)}}}, over finished runs."""
    summary = {}
    for row in rows:
        entry = summary.setdefault(row["setting"], {"runs": 0, "finished": 0,
                                                    **{p: {m: [] for m in METRICS}
                                                       for p in PARTS}})
        entry["runs"] += 1
        if row["status"] in runs.FINISHED:
            entry["finished"] += 1
            for part, metric in itertools.product(PARTS, METRICS):
                entry[part][metric].append(row.get(f"{part}_{metric}"))
    for entry in summary.values():
        for part, metric in itertools.product(PARTS, METRICS):
            entry[part][metric] = describe(entry[part][metric])
    return summary


def _csv_text(rows):
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def _csv_value(value):
    """A cell: a per-class count [n, n] as n; None (a missing value) as an empty field, which
    pandas and R read as missing."""
    return "" if value is None else (f"{value[0]}" if isinstance(value, list) else value)


def _number(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


NOT_SCORED = ("Not scored yet (a `--validation-only` sweep): choose on validation, then score "
              "test/ once with `minicnn evaluate --model DIR`.")


def summary_markdown(summary):
    """summary.md: per part, one table row per setting and metric."""
    lines = ["# Sweep summary", "",
             "Across seeds, per setting: mean, standard deviation (n - 1), min, max and the "
             "95% t-interval for the mean (mean ± t(0.975, n-1)·sd/√n; n/a with one seed). "
             "Finished runs only.", ""]
    scored = {part: any(entry[part][m]["n"] for entry in summary.values() for m in METRICS)
              for part in PARTS}
    for part in PARTS:
        if not scored[part]:
            lines += [f"## {part.capitalize()}", "", NOT_SCORED if any(scored.values()) else
                      "No run has finished yet.", ""]
            continue
        lines += [f"## {part.capitalize()}", "",
                  "| setting | metric | n | mean | sd | min | max | 95% interval |",
                  "|---|---|---|---|---|---|---|---|"]
        for setting, entry in summary.items():
            for metric in METRICS:
                d = entry[part][metric]
                interval = ("n/a" if d["ci_low"] is None else
                            f"[{_number(d['ci_low'])}, {_number(d['ci_high'])}]")
                lines.append(f"| {setting} | {metric} | {d['n']} | {_number(d['mean'])} | "
                             f"{_number(d['sd'])} | {_number(d['min'])} | {_number(d['max'])} "
                             f"| {interval} |")
        lines.append("")
    return "\n".join(lines)


def compare(folders, part="validation", adaptations=("none",)):
    """The settings of several sweep folders side by side on one part ("validation" or
    "test"), each under every one of ``adaptations`` (test only; spelled as
    :func:`minicnn.adapt.adapt_name` does: none, prior, bn, bn-prior, none-tta8...). Returns
    one dict per (setting, adaptation), in order: ``{"setting", "folder", "adaptation",
    "seeds", "metrics": {metric: describe(...)}, "vs_first": {metric: describe(...)}}``;
    vs_first describes the differences from the first row paired by seed (the same seed
    draws the same split, sample and initial weights), None for the first. A finished run
    counts only where it has scores (``missing``: the seeds of the others, e.g. a
    ``--validation-only`` run not yet scored, or not with that adaptation). One setting's
    runs in several folders (seeds 0-2 in one, 3-4 in another) make one row when no seed
    is in two of them, its ``folder`` naming them all; otherwise a row per folder."""
    choice(part, "part", PARTS)
    adaptations = _adaptations(adaptations, part)
    groups, missing = {}, {}
    for folder, adaptation in itertools.product(folders, adaptations):
        for row in collect(folder, adaptation):
            if row["status"] in runs.FINISHED:
                key = (str(folder), row["setting"], adaptation)
                seeds = groups.setdefault(key, {})
                if row.get(f"{part}_auc") is None:            # test/ not scored (so)
                    missing.setdefault(key, []).append(row["seed"])
                else:
                    seeds[row["seed"]] = row
    if not groups:
        raise SettingError(f"no finished run in {', '.join(map(str, folders))}")
    groups, missing = _merge_folders(groups, missing)
    names = {(folder, setting) for folder, setting, _ in groups}
    table, first = [], None
    for key, by_seed in groups.items():
        folder, setting, adaptation = key
        values = {m: {k: row.get(f"{part}_{m}") for k, row in by_seed.items()} for m in METRICS}
        first = first or values
        label = (setting if sum(s == setting for _, s in names) == 1 else
                 f"{folder}: {setting}")
        table.append({
            "setting": label if adaptations == ["none"] else f"{label}, adapt {adaptation}",
            "folder": folder, "adaptation": adaptation, "missing": missing.get(key, []),
            "seeds": sorted(by_seed),
            "metrics": {m: describe(list(v.values())) for m, v in values.items()},
            "vs_first": None if not table else {m: describe(_paired(v, first[m]))
                                                for m, v in values.items()}})
    return table


def _merge_folders(groups, missing):
    """compare()'s groups, one setting's folders made one group (its folder: their names
    joined with ", ") where no seed, scored or ``missing``, is in two of them."""
    folders_of = {}                                # (setting, adaptation) -> [folder, ...]
    for folder, setting, adaptation in groups:
        folders_of.setdefault((setting, adaptation), []).append(folder)
    merged_groups, merged_missing = {}, {}
    for key, by_seed in groups.items():
        folder, setting, adaptation = key
        keys = [(f, setting, adaptation) for f in folders_of[setting, adaptation]]
        seeds = [seed for k in keys for seed in [*groups[k], *missing.get(k, [])]]
        if len(seeds) == len(set(seeds)):
            folder = ", ".join(folders_of[setting, adaptation])
        merged_groups.setdefault((folder, setting, adaptation), {}).update(by_seed)
        if key in missing:
            merged_missing.setdefault((folder, setting, adaptation), []).extend(missing[key])
    return merged_groups, merged_missing


def _adaptations(names, part):
    """The adaptations' canonical names, once each; only test/ is ever adapted."""
    names = list(dict.fromkeys(names or ("none",)))
    if names == ["none"]:
        return names
    if part != "test":
        raise SettingError("adaptations change only the test scores: use --part test")
    from .adapt import parse_adapt_name            # NumPy and the layers, only when asked
    return list(dict.fromkeys(parse_adapt_name(name) for name in names))


def _paired(values, reference):
    """values[k] - reference[k] for every seed k both have a number for."""
    return [v - reference[k] for k, v in values.items()
            if v is not None and reference.get(k) is not None]


def compare_markdown(table, part="validation"):
    """compare()'s table as Markdown: mean ± sd [95% interval] per setting, then the paired
    differences from the first setting."""
    def cell(d):
        if d["mean"] is None:
            return "n/a"
        sd = f" ± {d['sd']:.3f}" if d.get("sd") is not None else ""
        interval = "" if d["ci_low"] is None else f" [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"
        return f"{d['mean']:.3f}{sd}{interval}"
    head = "| setting | seeds | " + " | ".join(METRICS) + " |"
    rule = "|---|---|" + "---|" * len(METRICS)
    lines = [f"### {part.capitalize()}: mean ± sd over seeds [95% t-interval]", "", head, rule]
    lines += [f"| {e['setting']} | {len(e['seeds'])} | "
              + " | ".join(cell(e["metrics"][m]) for m in METRICS) + " |" for e in table]
    if len(table) == 1:
        return "\n".join(lines) + "\n"
    lines += ["", f"### {part.capitalize()}: difference from {table[0]['setting']}, paired by "
              "seed (mean ± sd [95% t-interval])", "", head, rule]
    lines += [f"| {e['setting']} | {e['vs_first'][METRICS[0]]['n']} | "
              + " | ".join(cell(e["vs_first"][m]) for m in METRICS) + " |"
              for e in table[1:]]
    return "\n".join(lines) + "\n"


def short_labels(plan_json):
    """{setting: label}: only the keys whose value changes between settings (``augment=true``),
    or the preset's name when none does."""
    varying = [key for key, values in plan_json["grid"].items() if len(values) > 1]
    return {entry["setting"]: ", ".join(f"{k}={_text(entry['values'][k])}" for k in varying)
            or plan_json["preset"] for entry in plan_json["runs"]}


def _text(value):
    """A JSON value as --set spells it: true, none, 50 for [50, 50]."""
    if isinstance(value, list):
        value = value[0]
    return str(value).lower() if value is None or isinstance(value, bool) else str(value)


def write_results(out):
    """sweep.csv, summary.json, summary.md and sweep.png from the sweep folder's runs;
    returns their paths."""
    out = Path(out)
    rows = collect(out)
    summary = summarize(rows)
    labels = short_labels(runs.read_json(out / SWEEP))
    atomic_write(out / CSV, _csv_text(rows).encode("utf-8"))
    atomic_write(out / SUMMARY_JSON, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    atomic_write(out / SUMMARY_MD, summary_markdown(summary).encode("utf-8"))
    finished = [row for row in rows if row["status"] in runs.FINISHED]
    plots.plot_sweep(finished, summary, METRICS, PARTS, out / PLOT, labels)
    return [out / name for name in (CSV, SUMMARY_JSON, SUMMARY_MD, PLOT)]
