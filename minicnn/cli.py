"""The ``minicnn`` command line (also ``python -m minicnn``).

Every expected failure ends in one or two lines, ``minicnn COMMAND: error: ...``, naming the
file or argument and what to do, with a non-zero exit code: 2 for a mistake in the
arguments, the data or a run folder, 1 for a failure of the machine (disk full, out of
memory, a read-only folder), 130 for Ctrl-C. ``--debug`` (or ``MINICNN_DEBUG=1``) shows
the full traceback instead.
"""
import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from . import exercises, explore, get_backend, notebooks, runtime
from .bench import add_arguments as bench_arguments
from .bench import run_from_args as run_bench
from .data.locate import describe_places
from .models import thesis_cnn
from .validation import SettingError, int_argument

# The commands below import the pipeline and the report when they run, not here: those pull
# in scikit-image, scikit-learn and matplotlib (a second or more), which `minicnn --help`
# and `minicnn summary` do not need.


def _summary(args):
    thesis_cnn(input_shape=(args.image_size, args.image_size, 1)).summary()


def _demo(args):
    """The thesis CNN's table, then one forward/backward/Adam step on real X-rays."""
    from .data import find_data_dir, load_image_folder      # lazy: scikit-image, see above

    model = thesis_cnn(seed=args.seed)
    model.summary()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    try:
        root = find_data_dir(args.data) / "train"
        data = load_image_folder(root, image_size=150, limit_per_class=args.per_class)
        x, y, source = data.x, data.y, f"{len(data.y)} X-rays from {root}"
    except FileNotFoundError as exc:
        print(f"{exc}\nUsing random images instead.", file=sys.stderr)
        rng = np.random.default_rng(args.seed)
        x = rng.random((2 * args.per_class, 150, 150, 1), dtype=np.float32)
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


#: pipeline.PRESETS's names (the CLI does not import the pipeline before it runs a command).
PRESET_NAMES = ("quick", "thesis", "full", "improved")

#: train's flags that set a setting: --resume takes the run's own instead.
SETTING_FLAGS = ("preset", "epochs", "image_size", "batch_size", "seed", "out", "augment",
                 "class_weight", "train_per_class", "patience", "validation_only")


def _train(args):
    from .pipeline import resume_run, settings_for, train_run   # lazy: see the note above
    if args.resume:
        given = [f"--{name.replace('_', '-')}" for name in SETTING_FLAGS
                 if getattr(args, name) is not None]
        if given:
            raise SettingError(f"--resume goes on with the run's own settings; drop "
                               f"{' '.join(given)}")
        resume_run(args.resume, data=args.data, command=args.command_line)
        return
    settings = settings_for(args.preset or "quick", epochs=args.epochs, image_size=args.image_size,
                            batch_size=args.batch_size, seed=args.seed, data=args.data,
                            out=args.out, augment=args.augment, class_weight=args.class_weight,
                            train_per_class=args.train_per_class, patience=args.patience,
                            score_test=False if args.validation_only else None)
    train_run(settings, command=args.command_line)


def _evaluate(args):
    if (Path(args.model) / "sweep.json").is_file():
        from .sweep import score_test                         # lazy: see the note above
        scored, paths = score_test(args.model, data=args.data)
        print(paths[2].read_text(encoding="utf-8"))
        print(f"test/ scored now for {scored} run(s); written: "
              + ", ".join(str(p) for p in paths))
        return
    from .pipeline import evaluate_run                        # lazy: see the note above
    evaluate_run(args.model, data=args.data)


def _predict(args):
    from .pipeline import predict_images                      # lazy: see the note above
    results, info = predict_images(args.model, args.images)
    print(f"threshold {info['threshold']:.3f}, {info['image_size']} px; "
          f"P(pneumonia) and label per image:")
    width = max(len(r["path"]) for r in results)
    failed = [r for r in results if r["error"] is not None]
    for r in results:
        if r["error"] is None:
            print(f"{r['path']:<{width}}  {r['probability']:.4f}  {r['label']}")
        else:
            print(f"minicnn predict: error: {r['path']}: {r['error']}", file=sys.stderr)
    if failed:
        print(f"minicnn predict: {len(failed)} of {len(results)} image(s) got no label",
              file=sys.stderr)
        return 1
    return 0


def _report(args):
    if (Path(args.run_dir) / "sweep.json").is_file():
        from .sweep_results import write_results              # lazy: see the note above
        paths = write_results(args.run_dir)
        print(paths[2].read_text(encoding="utf-8"))
        print("written: " + ", ".join(str(p) for p in paths))
        return
    from .report import write_report                          # lazy: see the note above
    path = write_report(args.run_dir, data_dir=args.data, n_images=args.images)
    print(f"report written to {path}")


def _compare(args):
    from .sweep_results import compare, compare_markdown      # lazy: see the note above
    print(compare_markdown(compare(args.sweeps, args.part), args.part), end="")


def _sweep(args):
    from .sweep import parse_sets, run_sweep                  # lazy: pipeline, dask
    grid = parse_sets(args.set or [])
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


def _cache(args):
    from .data import cache                                   # lazy: see the note above
    if args.action == "clear":
        removed, freed = cache.clear()
        print(f"removed {removed} cache files ({freed / 1e6:.1f} MB) from "
              f"{cache.default_cache_dir()}")
    else:
        print(cache.describe(cache.info()))


DATA_HELP = f"chest_xray folder (default: {describe_places()})"
TRAIN_EPILOG = """presets (every flag overrides its preset's value):
  quick   (default) honest protocol at 48 px: at most 300 training images per class
          (seeded sample), 3 epochs, batch 32, best validation epoch kept (early stopping,
          patience 2), balanced class weights, no augmentation; about 2 minutes on 2 cores
  thesis  the thesis: train 970 normal + 1,041 pneumonia, test 203 + 313 (seeded samples),
          150 px, batch 32, 20 epochs, Adam, validated on the test sample
          (OPTIMISTIC protocol, labelled so in the output)
  full    honest protocol at 150 px: all of train/ minus a patient-grouped 15% validation
          split, augmentation, balanced class weights, early stopping (patience 4, at most
          30 epochs), test/ scored once
Honest protocol: epoch and decision threshold (Youden's J) are chosen on validation only;
test/ is scored once, at 0.5 and at that threshold."""


def _train_parser(sub):
    p = sub.add_parser("train", help="train the thesis CNN on the X-rays and write a run folder",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--preset", choices=PRESET_NAMES,
                   help="settings to start from (default quick)")
    p.add_argument("--epochs", type=int_argument(1))
    p.add_argument("--image-size", type=int_argument(1),
                   help="image side in pixels (38 to 300; the thesis used 150)")
    p.add_argument("--batch-size", type=int_argument(1))
    p.add_argument("--seed", type=int_argument(0), help="seed of the split, samples, weights "
                                                        "and shuffling (default 0)")
    p.add_argument("--out", help="run folder, new or empty (default runs/<preset>-<timestamp>)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random rotation/shift/zoom of training batches")
    p.add_argument("--class-weight", choices=("balanced", "none"))
    p.add_argument("--train-per-class", type=int_argument(0), metavar="N",
                   help="at most N training images per class, seeded sample (0 = all)")
    p.add_argument("--patience", type=int_argument(0),
                   help="early stopping patience in epochs (validation loss)")
    p.add_argument("--validation-only", action="store_true", default=None,
                   help="leave test/ unscored, to compare settings on validation; score it "
                        "once later with minicnn evaluate --model RUN_DIR")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="go on with an unfinished run (interrupted, failed or killed) from its "
                        "last finished epoch, with its own settings")
    p.set_defaults(run=_train)


def _model_parsers(sub):
    p = sub.add_parser("evaluate", help="score a trained model on the test/ folder")
    p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                   help="finished run folder (uses its threshold) or model file (threshold "
                        "0.5); a --validation-only run gets its test scores recorded, and a "
                        "sweep folder has every such run scored")
    p.add_argument("--data", help="chest_xray folder (default: the run's own, then "
                                  f"{describe_places()})")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("predict", help="probability of pneumonia and label for image files")
    p.add_argument("--model", required=True, metavar="RUN_OR_FILE",
                   help="finished run folder (uses its threshold) or model file (threshold 0.5)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(run=_predict)

    p = sub.add_parser("report", help="write report.html (metrics, plots, test X-rays with "
                                      "Grad-CAM) into a run folder")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by minicnn train")
    p.add_argument("--data", help="chest_xray folder for the test images (default: the "
                                  f"run's own, then {describe_places()})")
    p.add_argument("--images", type=int_argument(0), default=8, metavar="N",
                   help="test X-rays to show with Grad-CAM (default 8, 0 = none)")
    p.set_defaults(run=_report)


SWEEP_EPILOG = """Every (setting, seed) pair is one run folder, DIR/runs/<setting>-seed<k>/, as
`minicnn train` writes it. --set KEY=VALUE may repeat; several values of one key (repeated,
or comma-separated: --set image_size=48,64) make a grid, and the settings are the Cartesian
product of the keys' values. Running the command again skips the finished runs and resumes
the others. Results: DIR/sweep.csv, summary.json, summary.md (mean, sd, min, max and a 95%
t-interval across seeds per setting) and sweep.png. See docs/sweeps.md."""


def _sweep_parser(sub):
    p = sub.add_parser("sweep", help="train over several seeds and settings on Dask "
                                     "(needs '.[sweep]')", epilog=SWEEP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                   help="settings to start from (default quick)")
    p.add_argument("--seeds", type=int_argument(0), nargs="+", default=[0, 1, 2],
                   metavar="K", help="seeds to run each setting with (default 0 1 2)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a setting and its value(s), e.g. augment=true or image_size=48,64 "
                        "(an unknown key lists the valid ones)")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep folder")
    p.add_argument("--data", help=DATA_HELP)
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

    p = sub.add_parser("compare", help="sweep folders' settings side by side, with the "
                                       "differences from the first paired by seed")
    p.add_argument("sweeps", nargs="+", metavar="SWEEP_DIR",
                   help="sweep folders; the first one's first setting is the reference")
    p.add_argument("--part", choices=("validation", "test"), default="validation",
                   help="which images' metrics (default validation: choose settings on "
                        "validation, score test once at the end)")
    p.set_defaults(run=_compare)


def _other_parsers(sub):
    p = sub.add_parser("cache", help="what the decoded-image cache holds, or empty it "
                                     "($MINICNN_CACHE, default ~/.cache/minicnn)")
    p.add_argument("action", choices=("info", "clear"),
                   help="info: size per image size and the limit (MINICNN_CACHE_LIMIT); "
                        "clear: remove every cached image")
    p.set_defaults(run=_cache)

    p = sub.add_parser("bench", help="time the thesis CNN in minicnn, Keras and PyTorch side "
                                     "by side (see docs/benchmarks.md)")
    bench_arguments(p)
    p.set_defaults(run=run_bench)

    p = sub.add_parser("summary", help="print the thesis CNN's layer table")
    p.add_argument("--image-size", type=int_argument(1, 1024), default=150)
    p.set_defaults(run=_summary)
    p = sub.add_parser("demo", help="the thesis CNN's table and a few training steps on X-rays")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--per-class", type=int_argument(1), default=4,
                   help="images per class (default 4)")
    p.add_argument("--steps", type=int_argument(0), default=3, help="Adam steps (default 3)")
    p.add_argument("--seed", type=int_argument(0), default=0)
    p.set_defaults(run=_demo)


def _teaching_parsers(sub):
    p = sub.add_parser("explore", help="write explore.html: step through the CNN on X-rays, "
                                       "forward and backward, every number from minicnn")
    explore.add_arguments(p)
    p.set_defaults(run=explore.run)
    p = sub.add_parser("exercises", help="write the layers yourself and have them graded "
                                         "(list | start DIR | check DIR)")
    exercises.add_arguments(p)
    p.set_defaults(run=exercises.run)
    p = sub.add_parser("notebooks", help="write the examples as Jupyter notebooks (.ipynb)")
    notebooks.add_arguments(p)
    p.set_defaults(run=notebooks.run)


DEBUG_HELP = "show the full traceback of an error (also MINICNN_DEBUG=1)"


def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _sweep_parser(sub)
    _model_parsers(sub)
    _other_parsers(sub)
    _teaching_parsers(sub)
    for command in sub.choices.values():       # also accepted after the command's name
        command.add_argument("--debug", dest="debug_here", action="store_true", help=DEBUG_HELP)
    return parser


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
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(["minicnn", *argv])
    debug = args.debug or args.debug_here or os.environ.get("MINICNN_DEBUG") == "1"
    runtime.configure()                       # this process is the command's own
    with _command_process(debug):
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
