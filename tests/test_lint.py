"""The code stays readable: ruff finds no lint (pyflakes, pycodestyle) and no function over
the complexity limit set in pyproject.toml ([tool.ruff])."""
import subprocess
import sys

from conftest import ROOT



def test_ruff_finds_nothing():
    """(ruff comes with the dev extra: pip install -e '.[dev]')"""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise",
                           "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_complexity_limit_catches_a_long_function(tmp_path):
    """The limit is live: a function with eleven branches is reported."""
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(11))
    (tmp_path / "long.py").write_text(f"def pick(x):\n{branches}    return -1\n")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--config",
                           str(ROOT / "pyproject.toml"), str(tmp_path / "long.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "C901" in proc.stdout, proc.stdout
