"""Run mutmut on one core module with the fast tests that cover it, and print its score.

    python -m tests.mutation MODULE [MODULE ...] [--workers N] [--ci] [--list]

MODULE is a table of ``[tool.minicnn-mutation.modules]`` in pyproject.toml (files to
mutate, mutant names to keep, tests to run, lines to leave alone, and optionally a seeded
sample of the mutants of a large function). Each module runs in its own
folder, ``.mutation/MODULE/`` (a copy of minicnn/, tests/ and a pyproject.toml whose
``[tool.mutmut]`` is the module's), so modules do not share results and the working tree is
never changed. Survivors listed in tests/mutation/equivalent.txt count as equivalent.

--ci fails (exit 1) when the setup is broken (no mutant checked, any 'suspicious' or
'not checked' result, which is what a crashing worker gives) or when the score falls below
the module's ``min_score``.
"""
import argparse
import fnmatch
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
EQUIVALENT = Path(__file__).with_name("equivalent.txt")

# mutmut's exit code -> status (mutmut.stats.status_by_exit_code)
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout",
          255: "timeout", 37: "type check", -11: "segfault", -9: "segfault",
          None: "not checked"}


def modules():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["minicnn-mutation"]["modules"]


def equivalent_names():
    """Mutant names (first word of each line) known to be equivalent; '#' starts a comment."""
    if not EQUIVALENT.exists():
        return set()
    words = (line.split("#", 1)[0].split() for line in EQUIVALENT.read_text().splitlines())
    return {w[0] for w in words if w}


def _toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


NJIT = re.compile(r"^[ \t]*@numba\.njit\b.*\n", re.MULTILINE)


def as_python(folder):
    """Drop the ``@numba.njit`` lines of the kernel files under ``folder``: mutmut leaves
    decorated functions alone, and a jitted mutant would need compiling. Run with
    NUMBA_DISABLE_JIT=1, the kernels are the same code run by Python (``numba.prange`` is
    ``range``), so the Numba tier's lines are mutated and judged by the tests. Returns the
    number of decorators removed."""
    removed = 0
    for path in sorted(Path(folder).glob("*.py")):
        text, count = NJIT.subn("", path.read_text())
        path.write_text(text)
        removed += count
    return removed


def prepare(name, spec):
    """A fresh .mutation/NAME/ with the sources, the tests and the module's mutmut config."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", ".hypothesis")
    shutil.copytree(ROOT / "minicnn", work / "minicnn", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    if spec.get("python_kernels") and not as_python(work / "minicnn" / "kernels"):
        raise SystemExit(f"[{name}] python_kernels: no @numba.njit line found to remove")
    tests = [t for t in spec["tests"] if (ROOT / t.split("::")[0]).exists()]
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    (work / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        f"testpaths = {_toml_list(pytest_options.get('testpaths', ['tests']))}\n"
        f"markers = {_toml_list(pytest_options.get('markers', []))}\n\n"
        "[tool.mutmut]\n"
        'source_paths = ["minicnn"]\n'
        f"only_mutate = {_toml_list(spec['paths'])}\n"
        f"do_not_mutate_patterns = {_toml_list(spec.get('skip_lines', []))}\n"
        "pytest_add_cli_args = "
        f"{_toml_list(['-p', 'no:cacheprovider', '-q', '-x', *spec.get('pytest_args', [])])}\n"
        # a whole file takes longer than the tests mutmut timed for the mutant's function
        f"timeout_multiplier = {60.0 if spec.get('whole_files') else 15.0}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n")
    return work, tests


def all_codes(work):
    """{mutant name: exit code or None} of every mutant mutmut generated in ``work``."""
    codes = {}
    for meta in (work / "mutants").rglob("*.meta"):
        codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return codes


def sampled(codes, spec):
    """The seeded sample of ``spec['sample']`` ({name pattern: count}): the same mutants
    for the same source, whatever ran before."""
    chosen = []
    for pattern, count in spec.get("sample", {}).items():
        pool = sorted(m for m in codes if fnmatch.fnmatchcase(m, pattern))
        chosen += random.Random(0).sample(pool, min(count, len(pool)))
    return chosen


def results(work, spec):
    """{mutant name: status} of the module's mutants (its names and its sample)."""
    codes = all_codes(work)
    keep = set(sampled(codes, spec))
    return {m: STATUS.get(c, "suspicious") for m, c in codes.items()
            if m in keep or any(fnmatch.fnmatchcase(m, p) for p in spec["names"])}


def score_row(name, found, equivalent):
    count = {}
    for mutant, status in found.items():
        if status == "survived" and mutant in equivalent:
            status = "equivalent"
        count[status] = count.get(status, 0) + 1
    total = len(found)
    detected = count.get("killed", 0) + count.get("timeout", 0)
    judged = total - count.get("equivalent", 0)
    score = detected / judged if judged else float("nan")
    return count, total, score


def run(name, spec, workers, ci, show):
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "minicnn", "tests"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    commit += "+changes" if dirty else ""
    work, tests = prepare(name, spec)
    env = {**os.environ,
           # GNU OpenMP is not fork-safe: Numba kills a forked worker that starts a parallel
           # loop after the parent ran one ('suspicious', exit -15). workqueue is fork-safe.
           "NUMBA_THREADING_LAYER": "workqueue",
           "MINICNN_CACHE": str(work / "cache"), "MPLBACKEND": "Agg",
           # python_kernels: the Numba tier run as Python (see as_python)
           **({"NUMBA_DISABLE_JIT": "1"} if spec.get("python_kernels") else {}),
           # files whose tests share module-scoped fixtures run whole (tests/conftest.py)
           "MINICNN_MUTATION_WHOLE_FILES": " ".join(spec.get("whole_files", []))}
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers),
               *(spec["names"] or ["generate-only"])]   # no names: only generate, then sample
    print(f"[{name}] mutating {', '.join(spec['paths'])} with {len(tests)} test files "
          f"in {work}", flush=True)
    started = time.perf_counter()
    with open(work / "mutmut.log", "w") as log:
        proc = subprocess.run(["nice", "-n", "10", *command], cwd=work, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
        generated = bool(all_codes(work))
        if not spec["names"] and generated:
            proc = subprocess.CompletedProcess(proc.args, 0)   # "nothing matches": expected
        if proc.returncode == 0 and spec.get("sample"):
            # a large function: a seeded sample of its mutants, drawn once all are generated
            extra = sampled(all_codes(work), spec)
            print(f"[{name}] and a sample of {len(extra)} mutants of "
                  f"{', '.join(spec['sample'])}", flush=True)
            proc = subprocess.run(["nice", "-n", "10", *command[:6], *extra], cwd=work,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    found = results(work, spec)
    equivalent = equivalent_names()
    count, total, score = score_row(name, found, equivalent)
    print(f"| {name} | {total} | {count.get('killed', 0)} | {count.get('timeout', 0)} | "
          f"{count.get('survived', 0)} | {count.get('equivalent', 0)} | "
          f"{count.get('no tests', 0)} | {score:.1%} | {date.today()} | {commit} | "
          f"{seconds / 60:.1f} min |", flush=True)
    left = sorted(m for m, s in found.items()
                  if s not in ("killed", "timeout") and m not in equivalent)
    if show and left:
        print(f"[{name}] not killed ({len(left)}):")
        for mutant in left:
            print(f"  {found[mutant]:<11} {mutant}")
    problems = []
    if proc.returncode != 0:
        problems.append(f"mutmut exited {proc.returncode} (see {work / 'mutmut.log'})")
    if total == 0:
        problems.append("no mutant was checked")
    broken = {s: c for s, c in count.items() if s in ("suspicious", "not checked", "segfault")}
    if broken:
        problems.append(f"setup problem: {broken} (see {work / 'mutmut.log'})")
    if score < spec.get("min_score", 0.0):
        problems.append(f"score {score:.1%} < min_score {spec['min_score']:.0%}")
    for problem in problems:
        print(f"[{name}] {problem}", file=sys.stderr)
    return not (ci and problems)


def main(argv=None):
    table = modules()
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", nargs="*", help=f"one or more of {', '.join(table)}")
    parser.add_argument("--workers", type=int, default=1,
                        help="mutants tested at once (default 1; the machine is shared)")
    parser.add_argument("--ci", action="store_true", help="exit 1 on a setup problem or a "
                        "score below the module's min_score")
    parser.add_argument("--list", action="store_true", help="list the surviving mutants")
    args = parser.parse_args(argv)
    unknown = [m for m in args.module if m not in table]
    if unknown or not args.module:
        parser.error(f"choose modules among {', '.join(table)}"
                     + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    print("| module | mutants | killed | timeout | survived | equivalent | no tests | score | "
          "date | commit | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = all([run(m, table[m], args.workers, args.ci, args.list) for m in args.module])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
