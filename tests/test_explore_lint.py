"""The explore page's JavaScript passes ESLint (eslint.config.mjs; `npm ci` installs it from
package.json). Skipped without node_modules/.bin/eslint, a failure instead when
MINICNN_REQUIRE_ESLINT=1 (.ci/run sets it)."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def _eslint():
    if ESLINT.exists() and shutil.which("node"):
        return [str(ESLINT)]
    message = "ESLint is not installed (run `npm ci` in the repository)"
    if os.environ.get("MINICNN_REQUIRE_ESLINT") == "1":
        pytest.fail(message + " and MINICNN_REQUIRE_ESLINT=1")
    pytest.skip(message)


def test_the_explore_page_javascript_passes_eslint():
    result = subprocess.run(_eslint() + ["--max-warnings", "0", "minicnn/explore_assets"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_eslint_finds_a_planted_error():
    """The configuration is read and its rules run: an undefined name and a `var` fail."""
    result = subprocess.run(_eslint() + ["--stdin", "--stdin-filename",
                                         "minicnn/explore_assets/planted.js"],
                            input='"use strict";\nvar x = 1;\nundefinedName(x);\n', cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "no-undef" in result.stdout and "no-var" in result.stdout
