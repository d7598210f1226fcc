"""Exercises with an autograder: write the backward passes yourself, then run the check.

    minicnn exercises list                 the exercises, in order
    minicnn exercises start --out DIR      write stub files into DIR (one per topic);
                                           --notebook also exercises.ipynb, --lang es
                                           Spanish stubs
    minicnn exercises check DIR [NAME...]  grade DIR's functions: PASS / FAIL / TODO each
                                           (--lang es or MINICNN_LANG=es: in Spanish)

``check`` imports every ``*.py`` in DIR in a child process (``minicnn.exercises.isolated``),
finds the exercise functions by name, and compares their outputs with minicnn's kernels
(``minicnn.exercises.checks``) in its own process; the last exercise trains a small CNN made
of the student's functions on a few X-rays (``minicnn.exercises.small_cnn``). It exits 0
only when every exercise checked passes. Model answers: ``minicnn.exercises.solutions``.
Every function is called with float64 and with float32 inputs and must leave its inputs as
they were (``minicnn.exercises.conventions``). :func:`check` (in a notebook) and
:func:`check_one` run functions of this process in-process: the time limit and the
protection from ``sys.exit`` or a replaced ``np.allclose`` are the command's only.

The command line is wired in by minicnn.cli through :func:`add_arguments` and :func:`run`.
"""
import importlib.util
import sys
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

from ..arguments import old_spelling
from ..validation import SettingError
from ._child import describe
from .catalog import (EXERCISES, NAMES, NOTEBOOK, TRAIN_SCRIPT, TRAINING, notebook_source,
                      stub_files)
from .checks import CHECKS, SHAPES_DO_NOT_FIT, run_check
from .checks_more import MORE_CHECKS
from .isolated import TIME_LIMIT, Failure, isolated_solutions
from .lang import LANGUAGES, WORDS, hint, join, language, text

Result = namedtuple("Result", "name status error hint")
#: Every exercise's check: checks.py's and checks_more.py's (numerical gradient, batch
#: normalization, dropout, sigmoid cross-entropy).
ALL_CHECKS = {**CHECKS, **MORE_CHECKS}
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
    """Grade one exercise: a Result (status PASS, FAIL, TODO or SKIP; hint None or
    {"en": ..., "es": ...}). ``done``: results already computed {name: Result}, reused by
    the training exercise."""
    if name == TRAINING:
        return _check_training(funcs, data, done or {})
    fn = getattr(funcs, name, None)
    if fn is None:
        status, found = _missing(funcs, name)
        return Result(name, status, None, found)
    try:
        error, found = run_check(name, fn, ALL_CHECKS)
    except Failure as failure:                        # a convention, or the child process
        return Result(name, failure.status, None, _advice(failure.hint))
    except NotImplementedError:
        return Result(name, "TODO", None, TODO)
    except Exception as exc:                          # report, never crash the checker
        return Result(name, "FAIL", None, _advice(describe(exc, _own_file(fn))))
    return Result(name, "PASS" if found is None else "FAIL", error, found)


TODO = hint("not written yet (raises NotImplementedError)",
            "todavía sin escribir (lanza NotImplementedError)")


def _own_file(fn):
    """Frames of ``fn``'s own file (a student's module or notebook cell), or None."""
    code = getattr(fn, "__code__", None)
    return code and (lambda filename: filename == code.co_filename)


def _advice(found):
    """A raised error's hint, with advice on shapes when NumPy said they do not fit."""
    words = ("broadcast", "shape", "sequence", "dimension")
    raised = found["en"].startswith("raised ") and any(w in found["en"] for w in words)
    return join(found, SHAPES_DO_NOT_FIT) if raised else found


def _missing(funcs, name):
    """(status, hint) of a function not found: FAIL when its file could not be imported."""
    file = next(e.file for e in EXERCISES if e.name == name)
    broken = funcs._import_errors.get(file)
    if broken:
        return "FAIL", join(hint(f"{file} could not be imported: ",
                                 f"{file} no se pudo importar: "), broken)
    return "TODO", hint(f"no {name} in {file}", f"no hay {name} en {file}")


def _check_training(funcs, data, done):
    from .small_cnn import USES, report, train_on_xrays
    needed = [done.get(name) or check_one(funcs, name) for name in USES]
    if any(r.status != "PASS" for r in needed):
        return Result(TRAINING, "TODO", None, hint(
            "needs the functions it uses to pass first: " + ", ".join(USES),
            "primero tienen que estar bien las funciones que usa: " + ", ".join(USES)))
    try:
        result = train_on_xrays(funcs, data)
    except FileNotFoundError as exc:
        return Result(TRAINING, "SKIP", None, hint(
            f"the chest X-ray data set was not found: {exc}",
            f"no se encontró el conjunto de radiografías de tórax: {exc}"))
    except Failure as failure:
        return Result(TRAINING, "FAIL", None, join(hint("while training: ", "al entrenar: "),
                                                   failure.hint))
    found = None if result["passed"] else join(
        hint("training did not learn:\n", "el entrenamiento no aprendió:\n"),
        {lang: report(result, lang) for lang in LANGUAGES})
    return Result(TRAINING, "PASS" if result["passed"] else "FAIL", result["auc"], found)


def format_result(r, lang=None):
    """One line per exercise (and its hints, one a line, below) in ``lang``."""
    words = WORDS[language(lang)]
    error = "" if r.error is None else (
        f"{words['auc']} {r.error:.3f}" if r.name == TRAINING
        else f"{words['rel_error']} {r.error:.1e}")
    line = f"{words[r.status]:<5} {r.name:<{WIDTH}} {error}".rstrip()
    if not r.hint or r.status == "PASS":
        return line
    return line + "".join(f"\n      {words['hint']}: {h}"
                          for h in text(r.hint, lang).split("\n"))


def check(name, function, lang=None, data=None):
    """In a notebook: grade ``function`` as exercise ``name``, print the verdict and hints,
    and return True when it passes. For the last exercise (small_cnn), ``function`` holds
    every exercise function: a dict such as ``globals()``, or a namespace."""
    if name not in NAMES:
        raise SettingError(f"unknown exercise {name!r}; choose from {', '.join(NAMES)}")
    if name == TRAINING:
        found = function if isinstance(function, dict) else vars(function)
        funcs = SimpleNamespace(**{n: found[n] for n in NAMES if callable(found.get(n))},
                                _import_errors={})
    else:
        funcs = SimpleNamespace(**{name: function}, _import_errors={})
    result = check_one(funcs, name, data)
    print(format_result(result, lang))
    return result.status == "PASS"


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
    start.add_argument("--notebook", action="store_true",
                       help=f"also write {NOTEBOOK}: each function's cell, then a check cell")
    _language_argument(start, "the stubs' docstrings")
    check = sub.add_parser("check", help="grade the functions in a folder")
    check.add_argument("dir", help="the folder written by `minicnn exercises start`")
    check.add_argument("names", nargs="*", metavar="NAME", help="only these exercises")
    check.add_argument("--data", default=None, help="chest_xray folder (for small_cnn)")
    check.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="SECONDS",
                       help=f"seconds per exercise (per call while training; default "
                            f"{TIME_LIMIT:g})")
    _language_argument(check, "the verdicts and hints")
    return parser


def _language_argument(parser, what):
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help=f"language of {what}: en or es (default: $MINICNN_LANG, else en)")


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
    lang = language(args.lang)
    files = stub_files(lang)
    if args.notebook:
        files[NOTEBOOK] = notebook_source(lang)
    existing = [name for name in files if (folder / name).exists()]
    if existing and not args.force:
        print(f"minicnn exercises: {', '.join(existing)} already in {folder}; "
              "use --force to overwrite", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).write_text(source, encoding="utf-8")
    print(f"wrote {len(files)} files to {folder}: {', '.join(files)}\n"
          f"fill in the functions, then: minicnn exercises check {folder}"
          f"{' --lang es' if lang == 'es' else ''}")
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
    lang = language(args.lang)
    start, results = time.perf_counter(), []
    for result in check_folder(args.dir, args.names or NAMES, args.data, args.time_limit):
        results.append(result)
        print(format_result(result, lang), flush=True)
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "TODO", "SKIP")}
    print(WORDS[lang]["summary"].format(total=len(results), **counts) +
          f" ({time.perf_counter() - start:.1f} s)")
    return 0 if counts["PASS"] == len(results) else 1
