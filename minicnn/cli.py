"""The ``minicnn`` command line (also ``python -m minicnn``).

Every expected failure ends in one or two lines, ``minicnn COMMAND: error: ...``, naming the
file or argument and what to do, with a non-zero exit code: 2 for a mistake in the
arguments, the data or a run folder, 1 for a failure of the machine (disk full, out of
memory, a read-only folder), 130 for Ctrl-C. ``--debug`` (or ``MINICNN_DEBUG=1``) shows
the full traceback instead.
"""
import argparse
import contextlib
import dataclasses
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

from . import __version__, logs
from .arguments import check_required, common_options, old_spelling

log = logging.getLogger(__name__)

# Every command's module is imported when that command runs or its parser is built, not here:
# `minicnn --help` and `import minicnn.cli` load neither NumPy, Numba, scikit-learn nor
# scikit-image (tests/test_cli_startup.py checks it).


def _summary(args):
    from .models import thesis_cnn
    thesis_cnn(input_shape=(args.image_size, args.image_size, 1)).summary()


def _warmup(args):
    from .warmup import run
    return run(args)


def _demo(args):
    """The thesis CNN's table, then one forward/backward/Adam step on real X-rays."""
    import numpy as np

    from . import get_backend
    from .data import find_data_dir, load_image_folder
    from .models import thesis_cnn

    size = args.image_size
    model = thesis_cnn(input_shape=(size, size, 1), seed=args.seed)
    model.summary()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    try:
        root = find_data_dir(args.data) / "train"
        data = load_image_folder(root, image_size=size, limit_per_class=args.train_per_class,
                                 progress=logs.shows_progress(log))
        x, y, source = data.x, data.y, f"{len(data.y)} X-rays from {root}"
    except FileNotFoundError as exc:
        log.warning("%s; using random images instead", exc)
        rng = np.random.default_rng(args.seed)
        x = rng.random((2 * args.train_per_class, size, size, 1), dtype=np.float32)
        y, source = np.arange(len(x)) % 2, f"{len(x)} random images"
    print(f"\nOne training step on {source} (backend {get_backend()}):")
    start = time.perf_counter()
    loss, grads = model.gradients(x, y)
    elapsed = time.perf_counter() - start
    print(f"  loss {loss:.4f} (ln 2 = {np.log(2):.4f} for a two-class guess), "
          f"forward+backward {elapsed:.2f} s")
    names = [f"{layer.name}.{key}" for layer in model.layers for key in layer.params]
    for name, g in zip(names, grads):
        print(f"  |dL/d {name:<18}| = {np.linalg.norm(g):.3e}   shape {g.shape}")
    for step in range(1, args.steps + 1):
        loss, acc = model.train_on_batch(x, y)
        print(f"  Adam step {step}: loss {loss:.4f}, accuracy {acc:.3f}")


def _train(args):
    from . import settings
    from .pipeline import resume_run, train_run
    from .report import write_report
    from .validation import SettingError
    flags = {name: vars(args)[name] for name in settings.setting_fields()
             if name in vars(args) and name != "preset"}
    track = _tracker(args.mlflow)
    if not args.resume:
        track(train_run(_settings(args, flags), command=args.command_line, report=write_report))
        return
    fixed = [_flag(name) for name, f in settings.setting_fields().items()
             if name in flags and not f.metadata["resume"]]
    fixed += [f"--{what}" for what in ("preset", "config", "set") if getattr(args, what)]
    if fixed:
        raise SettingError(f"--resume goes on with the run's own settings; drop "
                           f"{' '.join(fixed)}")
    track(resume_run(args.resume, data=flags.get("data"), command=args.command_line,
                     report=write_report))


def _tracker(uri):
    """What to do with the finished run folder: log it to MLflow at ``uri`` (--mlflow; ""
    for the default store), or nothing. Checks MLflow and the URI before training."""
    if uri is None:
        return lambda run_dir: None
    from . import tracking
    client = tracking.connect(uri or None)
    return lambda run_dir: print(f"MLflow run {tracking.log_run(run_dir, client)} "
                                 f"({client.tracking_uri})")


def _settings(args, flags):
    """The run's settings: the preset's, then the --config file's, then --set's, then the
    flags', each later one winning."""
    from . import settings
    from .validation import SettingError
    values = settings.read_config(args.config) if args.config else {}
    for key, choices in settings.parse_sets(args.set or []).items():
        if len(choices) > 1:
            raise SettingError(f"--set {key}: one value per setting in a run (a grid of "
                               f"values is for minicnn sweep)")
        values[key] = choices[0]
    preset = args.preset or values.pop("preset", None) or "quick"
    values.pop("preset", None)
    return dataclasses.replace(settings.settings_for(preset), **{**values, **flags})


def _flag(name):
    """A setting's command-line flag: image_size -> --image-size."""
    return "--" + name.replace("_", "-")


def _evaluate(args):
    adapting = args.adapt != "none" or args.tta or args.predictions is not None
    if (Path(args.model) / "sweep.json").is_file():
        from .sweep import score_test
        if adapting:
            from .validation import SettingError
            raise SettingError("--adapt, --tta and --predictions take one run folder or "
                               "model file, not a sweep folder")
        scored, paths = score_test(args.model, data=args.data)
        print(paths[2].read_text(encoding="utf-8"))
        print(f"test/ scored now for {scored} run(s); written: "
              + ", ".join(str(p) for p in paths))
        return
    from .adapt import parse_adapt
    from .report import write_report
    from .scoring import evaluate_run
    evaluate_run(args.model, data=args.data, report=write_report,
                 adapt=parse_adapt(args.adapt), tta=args.tta, predictions=args.predictions)


def _ensemble(args):
    from .ensemble import build_ensemble
    from .report import write_report
    path = build_ensemble(args.members, args.out, data=args.data, report=write_report)
    print(f"ensemble written: {path}; score test/ once with: minicnn evaluate --model {path}")


def _predict(args):
    from .scoring import format_predictions, predict_images
    results, info = predict_images(args.model, args.images)
    sys.stdout.write(format_predictions(results, info, args.format))
    failed = [r for r in results if r["error"] is not None]
    for r in failed:
        print(f"minicnn predict: error: {r['path']}: {r['error']}", file=sys.stderr)
    if failed:
        print(f"minicnn predict: {len(failed)} of {len(results)} image(s) got no label",
              file=sys.stderr)
        return 1
    return 0


def _report(args):
    if (Path(args.model) / "sweep.json").is_file():
        from .sweep_results import write_results
        paths = write_results(args.model)
        print(paths[2].read_text(encoding="utf-8"))
        print("written: " + ", ".join(str(p) for p in paths))
        return
    from .report import write_report
    path = write_report(args.model, data_dir=args.data, n_images=args.images)
    print(f"report written to {path}")


def _compare(args):
    from .sweep_results import compare, compare_markdown, scoring_command
    table = compare(args.sweeps, args.part, args.adapt)
    print(compare_markdown(table, args.part), end="")
    for row in table:
        if row["missing"]:
            log.warning(f"{row['setting']}: left out seed(s) "
                        f"{', '.join(map(str, row['missing']))}, not scored on test/ that "
                        f"way; score each with {scoring_command(row['adaptation'])}")


def _sweep(args):
    from .settings import parse_sets, sweepable
    from .sweep import run_sweep
    grid = parse_sets(args.set or [], keys=sweepable())
    result = run_sweep(args.preset, grid, args.seeds, args.out, data=args.data,
                       client=args.scheduler, scheduler_file=args.scheduler_file,
                       workers=args.workers, threads=args.threads_per_worker,
                       command=args.command_line, validation_only=args.validation_only)
    counts = {}
    for what in result["done"].values():
        key = what if not what.startswith("error") else "failed"
        counts[key] = counts.get(key, 0) + 1
    print(f"{result['tasks']} runs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    print(result["results"][2].read_text(encoding="utf-8"))
    print("written: " + ", ".join(str(p) for p in result["results"]))
    failed = sorted(run for run, what in result["done"].items() if what.startswith("error"))
    if failed:
        print(f"minicnn sweep: error: {len(failed)} of {result['tasks']} runs did not finish: "
              f"{', '.join(failed)}; the same command again resumes them", file=sys.stderr)
    return 1 if failed else 0


def _shift(args):
    from .shift import write_shift_report
    out = write_shift_report(args.data, args.model, args.out, args.image_size, args.folds,
                             args.seed)
    print((out / "shift.md").read_text(encoding="utf-8"))
    print(f"written: {out / 'shift.json'}, {out / 'shift.md'} and the figures in {out}")


def _cache(args):
    from .data import cache
    if args.action == "clear":
        removed, freed = cache.clear()
        print(f"removed {removed} cache files ({freed / 1e6:.1f} MB) from "
              f"{cache.default_cache_dir()}")
    else:
        print(cache.describe(cache.info()))


# -- the parsers: each command's arguments are added (and its module imported) only when that
# command runs, or for every command when build_parser() is called without a name ----------
def _command(sub, wanted, name, help, **kwargs):
    """Add the sub-parser ``name``; returns it when its arguments are wanted (``wanted`` is
    None for every command, or this one's name), else None."""
    p = sub.add_parser(name, help=help, description=help, **kwargs)
    return p if wanted in (None, name) else None


def _data_help(first=""):
    from .data.locate import describe_places
    return f"chest_xray folder (default: {first}{describe_places()})"


TRAIN_EPILOG = """Where each setting comes from, later ones winning: the preset, the --config file,
--set, the flags. Honest protocol: the epoch and the decision threshold (Youden's J) are
chosen on validation only; test/ is scored once, at 0.5 and at that threshold.

presets (the settings in which they differ; the others take the defaults above):
{presets}"""


def _train_parser(sub, wanted):
    p = _command(sub, wanted, "train", "train the thesis CNN on the X-rays and write a run "
                                       "folder")
    if p is None:
        return
    from . import settings
    p.epilog = TRAIN_EPILOG.format(presets=settings.preset_lines())
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--preset", choices=tuple(settings.PRESETS),
                   help="settings to start from (default: the --config file's, else quick)")
    p.add_argument("--config", metavar="FILE",
                   help="settings from a TOML file's [settings] table, or from a run folder's "
                        "config.json (to repeat a run: --config RUN/config.json --seed 5)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a setting by its name, e.g. --set batch_norm=true (repeatable)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="go on with an unfinished run (interrupted, failed or killed) from its "
                        "last finished epoch, with its own settings")
    p.add_argument("--mlflow", nargs="?", const="", metavar="URI",
                   help="also log the finished run to MLflow: settings, per-epoch metrics, "
                        "final figures, the folder's files (default URI file:./mlruns; needs "
                        "the mlflow extra; docs/tracking.md)")
    group = p.add_argument_group("settings (one flag per setting, default: the preset's)")
    for name in settings.setting_fields():
        if name != "preset":
            _setting_flag(group, settings, name)
    group.add_argument("--validation-only", dest="score_test", action="store_const",
                       const=False, default=argparse.SUPPRESS,
                       help="--no-score-test: leave test/ unscored, to compare settings on "
                            "validation; score it once later with minicnn evaluate --model RUN")
    p.set_defaults(run=_train)


def _setting_flag(group, settings, name):
    """One setting's flag, with its help text and allowed values from the settings table."""
    field = settings.setting_fields()[name]
    meta, kind = field.metadata, settings.value_type(name)
    text = _data_help() if name == "data" else meta["help"]   # data: the places, in words
    if kind is not bool and not meta["choices"] and name != "data":
        text += f"; {settings.allowed(name)}"
    if field.default is not dataclasses.MISSING and name != "data":
        text += f" (default {settings.as_text(name, field.default)})"
    common = {"dest": name, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
    if kind is bool:
        group.add_argument(_flag(name), action=argparse.BooleanOptionalAction, **common)
        return
    metavar = {int: "N", float: "X"}.get(kind, "DIR" if name in ("data", "out") else "N")

    def parse(text):
        try:
            return settings.parse_text(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name
    group.add_argument(_flag(name), type=parse, metavar=meta["choices"] and "{" + ",".join(
        meta["choices"]) + "}" or metavar, **common)


def _adapt_arguments(p):
    from .validation import int_argument
    p.add_argument("--adapt", default="none", metavar="none|prior|bn|bn,prior",
                   help="adapt to test/ without its labels (docs/shift.md): prior (EM "
                        "estimate of the test class prior), bn (BatchNormalization "
                        "statistics re-estimated on test/), or both; scores written to "
                        "RUN/metrics-adapt-NAME.json, metrics.json untouched (default none)")
    p.add_argument("--tta", type=int_argument(0), default=0, metavar="N",
                   help="average P(pneumonia) over N seeded draws of the run's training "
                        "augmentations (default 0: none)")
    p.add_argument("--predictions", metavar="FILE.csv",
                   help="write each test image's file name and P(pneumonia), unadapted and "
                        "adapted")


def _model_parsers(sub, wanted):
    p = _command(sub, wanted, "evaluate", "score a trained model on the test/ folder")
    if p:
        p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                       help="finished run folder (uses its threshold) or model file (threshold "
                            "0.5); a --validation-only run gets its test scores recorded, and "
                            "a sweep folder has every such run scored")
        p.add_argument("--data", help=_data_help("the run's own, else "))
        _adapt_arguments(p)
        p.set_defaults(run=_evaluate)
    p = _command(sub, wanted, "predict", "probability of pneumonia and label for image files")
    if p:
        p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                       help="finished run folder (uses its threshold) or model file "
                            "(threshold 0.5)")
        p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG)")
        p.add_argument("--format", choices=("text", "csv", "json"), default="text",
                       help="text: a table to read; csv or json: a row per image with path, "
                            "probability, label and error, for programs (default text)")
        p.set_defaults(run=_predict)
    p = _command(sub, wanted, "report", "write report.html (metrics, plots, test X-rays with "
                                        "Grad-CAM) into a run folder")
    if p:
        from .validation import int_argument
        old_spelling(p, "RUN_DIR", p.add_argument(
            "--model", required=True, metavar="RUN_DIR",
            help="run folder written by minicnn train, or a sweep folder (its results)"))
        p.add_argument("--data", help=_data_help("the run's own, else "))
        p.add_argument("--images", type=int_argument(0), default=8, metavar="N",
                       help="test X-rays to show with Grad-CAM (default 8, 0 = none)")
        p.set_defaults(run=_report)
    p = _command(sub, wanted, "ensemble", "several finished runs as one model that averages "
                                          "their probabilities, written as a run folder")
    if p:
        p.add_argument("members", nargs="+", metavar="RUN_OR_SETTING",
                       help="run folders, or SWEEP_DIR/SETTING for every run of a sweep's "
                            "setting; all must share the image size, equalisation, protocol "
                            "and validation images (a sweep with --set split_seed=N)")
        p.add_argument("--out", help="the ensemble's folder, new or empty (default: "
                                     "runs/ensemble-<timestamp>)")
        p.add_argument("--data", help=_data_help("the members' own, else "))
        p.set_defaults(run=_ensemble)


SWEEP_EPILOG = """Every (setting, seed) pair is one run folder, DIR/runs/<setting>-seed<k>/, as
`minicnn train` writes it. --set KEY=VALUE may repeat; several values of one key (repeated,
or comma-separated: --set image_size=48,64) make a grid, and the settings are the Cartesian
product of the keys' values. Running the command again skips the finished runs and resumes
the others. Results: DIR/sweep.csv, summary.json, summary.md (mean, sd, min, max and a 95%
t-interval across seeds per setting) and sweep.png. See docs/sweeps.md.

keys --set may vary: {keys}"""


def _sweep_parser(sub, wanted):
    p = _command(sub, wanted, "sweep", "train over several seeds and settings on Dask (needs "
                                       "'.[sweep]')")
    if p:
        _sweep_arguments(p)
    p = _command(sub, wanted, "compare", "sweep folders' settings side by side, with the "
                                         "differences from the first paired by seed")
    if p:
        p.add_argument("sweeps", nargs="+", metavar="SWEEP_DIR",
                       help="sweep folders; the first one's first setting is the reference")
        p.add_argument("--part", choices=("validation", "test"), default="validation",
                       help="which images' metrics (default validation: choose settings on "
                            "validation, score test once at the end)")
        p.add_argument("--adapt", nargs="+", default=["none"], metavar="NAME",
                       help="with --part test: the test scores of these adaptations, one row "
                            "each, as `minicnn evaluate --adapt A [--tta N]` wrote them to "
                            "RUN/metrics-adapt-NAME.json: none, prior, bn, bn-prior, and with "
                            "-ttaN (none-tta8, bn-prior-tta8); default none")
        p.set_defaults(run=_compare)


def _sweep_arguments(p):
    from . import settings
    from .validation import int_argument
    p.epilog = SWEEP_EPILOG.format(keys=", ".join(settings.sweepable()))
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--preset", choices=tuple(settings.PRESETS), default="quick",
                   help="settings to start from (default quick)")
    p.add_argument("--seeds", type=int_argument(0, settings.MAX_SEED), nargs="+",
                   default=[0, 1, 2], metavar="K", help="seeds to run each setting with "
                                                        "(default 0 1 2)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a setting and its value(s), e.g. augment=true or image_size=48,64 "
                        "(the keys are listed below)")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep folder")
    p.add_argument("--data", help=_data_help())
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: "
                            "DASK_SCHEDULER_ADDRESS if set, else a local cluster)")
    where.add_argument("--scheduler-file", metavar="FILE",
                       help="the file `dask scheduler --scheduler-file FILE` wrote (SLURM)")
    p.add_argument("--workers", type=int_argument(1),
                   help="local worker processes, each training one run at a time (default: "
                        "one per two cores); not with a scheduler")
    p.add_argument("--threads-per-worker", type=int_argument(1), default=1, metavar="T",
                   help="compute threads (Numba, BLAS) of each run (default 1)")
    p.add_argument("--validation-only", action="store_true",
                   help="leave test/ unscored in every run, to choose settings on validation; "
                        "then score the chosen sweep once with minicnn evaluate --model DIR")
    p.set_defaults(run=_sweep)


def _shift_parser(sub, wanted):
    p = _command(sub, wanted, "shift", "how test/ differs from train/, without test/'s labels: "
                                       "intensity, a domain classifier, a run's probabilities "
                                       "(docs/shift.md)")
    if p:
        from .settings import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
        from .validation import int_argument
        p.add_argument("--data", help=_data_help("the run's own, else "))
        p.add_argument("--model", metavar="RUN",
                       help="a finished run folder: its P(pneumonia) on validation and on "
                            "test/, and the class priors they imply")
        p.add_argument("--out", default="shift-report", metavar="DIR",
                       help="the report folder (default shift-report; its files are replaced)")
        p.add_argument("--image-size", type=int_argument(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
                       metavar="S", help="image side in pixels (default: the run's, else 150)")
        p.add_argument("--folds", type=int_argument(2), default=5, metavar="K",
                       help="cross-validation folds of the domain classifier (default 5)")
        p.add_argument("--seed", type=int_argument(0), default=0,
                       help="seed of the folds and the bootstrap (default 0)")
        p.set_defaults(run=_shift)


def _other_parsers(sub, wanted):
    _shift_parser(sub, wanted)
    p = _command(sub, wanted, "cache", "what the decoded-image cache holds, or empty it "
                                       "($MINICNN_CACHE, default ~/.cache/minicnn)")
    if p:
        p.add_argument("action", choices=("info", "clear"),
                       help="info: size per image size and the limit (MINICNN_CACHE_LIMIT); "
                            "clear: remove every cached image")
        p.set_defaults(run=_cache)
    p = _command(sub, wanted, "bench", "time the thesis CNN in minicnn, Keras and PyTorch side "
                                       "by side (see docs/benchmarks.md)")
    if p:
        from .bench import add_arguments, run_from_args
        add_arguments(p)
        p.set_defaults(run=run_from_args)
    p = _command(sub, wanted, "warmup", "compile minicnn's kernels now (once per installation) "
                                        "instead of in the first training step")
    if p:
        p.set_defaults(run=_warmup)
    p = _command(sub, wanted, "summary", "print the thesis CNN's layer table")
    if p:
        _image_size_argument(p)
        p.set_defaults(run=_summary)
    p = _command(sub, wanted, "demo", "the thesis CNN's table and a few training steps on "
                                      "X-rays")
    if p:
        from .validation import int_argument
        p.add_argument("--data", help=_data_help())
        _image_size_argument(p)
        old_spelling(p, "--per-class", p.add_argument(
            "--train-per-class", type=int_argument(1), default=4, metavar="N",
            help="X-rays of each class from train/ (default 4)"))
        p.add_argument("--steps", type=int_argument(0), default=3,
                       help="Adam steps (default 3)")
        p.add_argument("--seed", type=int_argument(0), default=0, help="seed (default 0)")
        p.set_defaults(run=_demo)


def _image_size_argument(p):
    from .settings import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
    from .validation import int_argument
    p.add_argument("--image-size", type=int_argument(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
                   default=150, metavar="S", help=f"image side in pixels, {MIN_IMAGE_SIZE} to "
                                                  f"{MAX_IMAGE_SIZE} (default 150, the thesis's)")


def _teaching_parsers(sub, wanted):
    for name, help in (
            ("explore", "write explore.html: step through the CNN on X-rays, forward and "
                        "backward, every number from minicnn"),
            ("exercises", "write the layers yourself and have them graded (list | start "
                          "--out DIR | check DIR)"),
            ("notebooks", "write the examples as Jupyter notebooks (.ipynb)")):
        p = _command(sub, wanted, name, help)
        if p:
            module = importlib.import_module(f".{name}", __package__)
            module.add_arguments(p)
            p.set_defaults(run=module.run)


class _Parser(argparse.ArgumentParser):
    """argparse, saying a mistake in the arguments in one line (the usage of a command with
    thirty flags would bury it): ``minicnn train: error: ... (see minicnn train --help)``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command=None):
    """The ``minicnn`` argument parser: every command's arguments, or with ``command`` only
    that one's (the others are listed by name and help: ``minicnn --help`` stays fast)."""
    parser = _Parser(prog="minicnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"minicnn {__version__}",
                        help="print minicnn's version and stop")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_train_parser, _sweep_parser, _model_parsers, _other_parsers,
                _teaching_parsers):
        add(sub, command)
    common_options(parser)
    return parser


def _command_name(argv):
    """The command named in argv (its first word that is not an option), or "" for none."""
    return next((word for word in argv if not word.startswith("-")), "")


# -- errors -------------------------------------------------------------------------------
#: What to do about the operating-system errors a user can fix, by errno.
OS_HINTS = {
    errno.ENOSPC: "free some disk space, or write elsewhere (--out)",
    getattr(errno, "EDQUOT", errno.ENOSPC): "free some disk space, or write elsewhere (--out)",
    errno.EACCES: "check the permissions, or write elsewhere (--out)",
    errno.EPERM: "check the permissions, or write elsewhere (--out)",
    errno.EROFS: "that file system is read-only; write elsewhere (--out)",
    errno.ENOTDIR: "a file stands where a folder is needed; check the path",
    errno.EISDIR: "a folder stands where a file is needed; check the path",
}


def _describe(exc):
    """``(message, exit code)`` for an expected failure (ValueError, OSError, MemoryError)."""
    if isinstance(exc, (ValueError, FileNotFoundError)):   # incl. minicnn.validation's types
        return str(exc), 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        hint = OS_HINTS.get(exc.errno, "check the path and the disk")
        return f"{where}{exc.strerror or exc}\n  {hint}", 1
    return ("out of memory; try a smaller --batch-size or --image-size, or close other "
            "programs"), 1


def _warning_line(message, category, filename, lineno, line=None):
    """Warnings as one line each, without the source line they came from."""
    return f"minicnn: warning: {message}\n"


@contextlib.contextmanager
def _command_process(debug):
    """While a command runs: warnings on one line each (unless debugging) and SIGTERM
    stopping the run as Ctrl-C does; both put back afterwards."""
    old_format = warnings.formatwarning
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.getsignal(signal.SIGTERM) if in_main else None
    if not debug:
        warnings.formatwarning = _warning_line
    if in_main:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        warnings.formatwarning = old_format
        if in_main:
            signal.signal(signal.SIGTERM, old_term)


def main(argv=None):
    """Run the ``minicnn`` command; returns its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_name(argv)).parse_args(argv)
    check_required(args)
    args.command_line = " ".join(["minicnn", *argv])
    debug = getattr(args, "debug", False) or os.environ.get("MINICNN_DEBUG") == "1"
    from . import runtime
    runtime.configure()                       # this process is the command's own
    with _command_process(debug), logs.to_stderr(getattr(args, "log_level", logs.DEFAULT)):
        log.debug("minicnn %s, Python %s, %s", __version__, sys.version.split()[0],
                  args.command_line)
        try:
            return args.run(args) or 0
        except BrokenPipeError:                 # e.g. `minicnn exercises list | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            print(f"minicnn {args.command}: interrupted", file=sys.stderr)
            return 130
        except (ValueError, OSError, MemoryError) as exc:
            if debug:
                raise
            message, code = _describe(exc)
            print(f"minicnn {args.command}: error: {message}", file=sys.stderr)
            return code


if __name__ == "__main__":
    sys.exit(main())
