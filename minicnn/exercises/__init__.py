"""Exercises with an autograder: write the backward passes yourself, then run the check.

    minicnn exercises list                 the exercises, in order
    minicnn exercises start --out DIR      write stub files into DIR (one per topic)
    minicnn exercises check DIR [NAME...]  grade DIR's functions: PASS / FAIL / TODO each

``check`` imports every ``*.py`` in DIR in a child process (``minicnn.exercises.isolated``),
finds the exercise functions by name, and compares their outputs with minicnn's kernels
(``minicnn.exercises.checks``) in its own process; the last exercise trains a small CNN made
of the student's functions on a few X-rays (``minicnn.exercises.small_cnn``). It exits 0
only when every exercise checked passes. Model answers: ``minicnn.exercises.solutions``.
:func:`check_one` on functions of this process (a notebook's) runs them in-process: the
time limit and the protection from ``sys.exit`` or a replaced ``np.allclose`` are the
command's only.

The command line is wired in by minicnn.cli through :func:`add_arguments` and :func:`run`.
"""
import importlib.util
import sys
import time
import traceback
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

from ..arguments import old_spelling
from ..validation import SettingError
from .catalog import EXERCISES, NAMES, TRAIN_SCRIPT, TRAINING, stub_files
from .checks import CHECKS
from .isolated import TIME_LIMIT, Failure, isolated_solutions

Result = namedtuple("Result", "name status error hint")
WIDTH = max(map(len, NAMES))          # the names' column in `list` and `check`


def load_solutions(folder):
    """A namespace of the exercise functions defined in ``folder/*.py`` (missing ones left
    out); files that fail to import are listed in its ``_import_errors`` {file: message}."""
    found, errors = {}, {}
    for path in sorted(Path(folder).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_minicnn_exercise_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:                     # a student's file: anything can happen
            errors[path.name] = f"{type(exc).__name__}: {exc}"
            continue
        found.update({name: getattr(module, name) for name in NAMES
                      if callable(getattr(module, name, None))})
    return SimpleNamespace(**found, _import_errors=errors)


def check_one(funcs, name, data=None, done=None):
    """Grade one exercise: a Result (status PASS, FAIL, TODO or SKIP). ``done``: results
    already computed {name: Result}, reused by the training exercise."""
    if name == TRAINING:
        return _check_training(funcs, data, done or {})
    fn = getattr(funcs, name, None)
    if fn is None:
        status, hint = _missing(funcs, name)
        return Result(name, status, None, hint)
    try:
        error, hint = CHECKS[name](fn)
    except Failure as failure:                        # from the child process
        return Result(name, failure.status, None, failure.hint)
    except NotImplementedError:
        return Result(name, "TODO", None, "not written yet (raises NotImplementedError)")
    except Exception as exc:                          # report, never crash the checker
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Result(name, "FAIL", None, f"raised {type(exc).__name__}: {exc} "
                      f"({Path(where.filename).name}, line {where.lineno})")
    return Result(name, "PASS" if hint is None else "FAIL", error, hint)


def _missing(funcs, name):
    """(status, hint) of a function not found: FAIL when its file could not be imported."""
    file = next(e.file for e in EXERCISES if e.name == name)
    broken = funcs._import_errors.get(file)
    return ("FAIL", f"{file} could not be imported: {broken}") if broken else \
        ("TODO", f"no {name} in {file}")


def _check_training(funcs, data, done):
    needed = [done.get(e.name) or check_one(funcs, e.name) for e in EXERCISES]
    if any(r.status != "PASS" for r in needed):
        return Result(TRAINING, "TODO", None, "needs every function above to pass first")
    from .small_cnn import report, train_on_xrays
    try:
        result = train_on_xrays(funcs, data)
    except FileNotFoundError as exc:
        return Result(TRAINING, "SKIP", None, f"the chest X-ray data set was not found: {exc}")
    except Failure as failure:
        return Result(TRAINING, "FAIL", None, f"while training: {failure.hint}")
    accuracy = result["history"][-1][1]
    hint = None if result["passed"] else "training did not learn:\n" + report(result)
    return Result(TRAINING, "PASS" if result["passed"] else "FAIL", accuracy, hint)


def format_result(r):
    """One line per exercise (and the hint on the next when there is one)."""
    error = "" if r.error is None else (
        f"validation accuracy {r.error:.3f}" if r.name == TRAINING else f"rel. error {r.error:.1e}")
    line = f"{r.status:<4}  {r.name:<{WIDTH}} {error}".rstrip()
    hint = r.hint["en"] if isinstance(r.hint, dict) else r.hint     # {"en": ..., "es": ...}
    return line + (f"\n      hint: {hint}" if hint and r.status != "PASS" else "")


# --------------------------------------------------------------------------- command line
def add_arguments(parser):
    """The ``exercises`` subcommands on an argparse parser."""
    sub = parser.add_subparsers(dest="exercises_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the exercises")
    start = sub.add_parser("start", help="write stub files into a folder")
    old_spelling(start, "DIR", start.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the stub files (created if "
                                                    "missing)"))
    start.add_argument("--force", action="store_true", help="overwrite existing files")
    check = sub.add_parser("check", help="grade the functions in a folder")
    check.add_argument("dir", help="the folder written by `minicnn exercises start`")
    check.add_argument("names", nargs="*", metavar="NAME", help="only these exercises")
    check.add_argument("--data", default=None, help="chest_xray folder (for small_cnn)")
    check.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="SECONDS",
                       help=f"seconds per exercise (per call while training; default "
                            f"{TIME_LIMIT:g})")
    return parser


def run(args):
    """Run the parsed ``exercises`` command; returns the exit code."""
    return {"list": _list, "start": _start, "check": _check}[args.exercises_command](args)


def _list(args):
    for k, e in enumerate(EXERCISES, start=1):
        print(f"{k:2}. {e.name:<{WIDTH}} {e.file:<16} {e.signature}")
    print(f"{len(EXERCISES) + 1:2}. {TRAINING:<{WIDTH}} {TRAIN_SCRIPT:<16} "
          "a small CNN of your functions, trained on X-rays")
    return 0


def _start(args):
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise SettingError(f"{folder} is a file; give a folder for the stub files")
    files = stub_files()
    existing = [name for name in files if (folder / name).exists()]
    if existing and not args.force:
        print(f"minicnn exercises: {', '.join(existing)} already in {folder}; "
              "use --force to overwrite", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(source, encoding="utf-8")
    print(f"wrote {len(files)} files to {folder}: {', '.join(files)}\n"
          f"fill in the functions, then: minicnn exercises check {folder}")
    return 0


def check_folder(folder, names=NAMES, data=None, limit=TIME_LIMIT):
    """Grade the functions in ``folder/*.py`` run by a child process: yields each Result."""
    funcs, worker = isolated_solutions(folder, NAMES, limit)
    try:
        done = {}
        for name in names:
            worker.begin(per_call=name == TRAINING)
            done[name] = check_one(funcs, name, data, done)
            yield done[name]
    finally:
        worker.stop()


def _check(args):
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        print(f"minicnn exercises: unknown exercise(s) {', '.join(unknown)}; "
              f"choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    if not Path(args.dir).is_dir():
        print(f"minicnn exercises: no folder {args.dir}", file=sys.stderr)
        return 2
    if not args.time_limit > 0:
        raise SettingError(f"--time-limit must be a positive number of seconds, "
                           f"got {args.time_limit}")
    start, results = time.perf_counter(), []
    for result in check_folder(args.dir, args.names or NAMES, args.data, args.time_limit):
        results.append(result)
        print(format_result(result), flush=True)
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "TODO", "SKIP")}
    print(f"{counts['PASS']} of {len(results)} pass, {counts['FAIL']} fail, "
          f"{counts['TODO']} to do, {counts['SKIP']} skipped "
          f"({time.perf_counter() - start:.1f} s)")
    return 0 if counts["PASS"] == len(results) else 1
