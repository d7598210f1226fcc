"""The documentation stays true to the code: every function and test that docs/equations.md
(and the other teaching pages, the Spanish ones in docs/es/ included) name exists, and every
relative link in docs/*.md, docs/es/*.md, README.md and examples/README.md points to an
existing file, and to an existing heading when it has an anchor. (The Spanish pages' commands
and vocabulary: tests/test_docs_es.py.)"""
import ast
import importlib
import re

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
SPANISH_PAGES = sorted(f"es/{p.name}" for p in (DOCS / "es").glob("*.md"))
TEACHING_PAGES = ["index.md", "equations.md", "architecture.md", "kernels.md",
                  "answers.md", "bridge.md"] + SPANISH_PAGES
LINKED_PAGES = sorted(DOCS.glob("*.md")) + sorted((DOCS / "es").glob("*.md")) + [
    ROOT / "README.md", ROOT / "examples" / "README.md"]

NAME = re.compile(r"\bminicnn(?:\.[A-Za-z_]\w*)+")
TEST = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def resolve(dotted):
    """The object a dotted name refers to: the longest importable module prefix, then
    attributes. Raises ImportError / AttributeError when it does not exist."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def names_in(page):
    return sorted(set(NAME.findall((DOCS / page).read_text(encoding="utf-8"))))


def test_equations_page_names_functions_and_tests():
    text = (DOCS / "equations.md").read_text(encoding="utf-8")
    assert len(set(NAME.findall(text))) >= 30 and len(set(TEST.findall(text))) >= 20


@pytest.mark.parametrize("page", TEACHING_PAGES)
def test_every_named_function_exists(page):
    missing = []
    for dotted in names_in(page):
        try:
            resolve(dotted)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{dotted} ({type(exc).__name__}: {exc})")
    assert not missing, f"docs/{page} names what does not exist: {missing}"


def defined_tests(path):
    """Names of the test functions defined in a test file (module level or in classes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@pytest.mark.parametrize("page", TEACHING_PAGES)
def test_every_named_test_exists(page):
    missing = []
    for file, name in sorted(set(TEST.findall((DOCS / page).read_text(encoding="utf-8")))):
        path = ROOT / file
        if not path.is_file():
            missing.append(f"{file} (no such file)")
        elif name not in defined_tests(path):
            missing.append(f"{file}::{name}")
    assert not missing, f"docs/{page} names tests that do not exist: {missing}"


def github_anchors(markdown):
    """The anchors a code host gives the headings of a Markdown text (GitHub's rule:
    lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats)."""
    seen, anchors = {}, set()
    for line in FENCE.sub("", markdown).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def links_in(path):
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]     # skip https:, mailto:, ...


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(page):
    broken = []
    for target in links_in(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no such file or folder)")
        elif anchor and dest.suffix == ".md" and anchor not in github_anchors(
                dest.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading with that anchor)")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_the_spanish_pages_are_checked():
    """docs/es/ holds the guide, the glossary and the bridge page, and they name code."""
    assert {"es/guia.md", "es/glosario.md", "es/puente.md"} <= set(SPANISH_PAGES)
    assert all(names_in(page) for page in ("es/guia.md", "es/puente.md"))


def test_the_checks_themselves():
    """resolve() and the anchor rule on known cases, so a passing run means something."""
    assert resolve("minicnn.thesis.edge_example")()[0, 0] == -5
    assert resolve("minicnn.layers.Layer.backward_from_logits")
    with pytest.raises(AttributeError):
        resolve("minicnn.thesis.no_such_function")
    anchors = github_anchors("# A B\n## The thesis CNN's 1,033,218 parameters, layer by layer\n"
                             "```\n# not a heading\n```\n# A B\n## Regresión logística\n")
    assert anchors == {"a-b", "a-b-1", "the-thesis-cnns-1033218-parameters-layer-by-layer",
                       "regresión-logística"}
