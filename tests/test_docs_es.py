"""The Spanish pages (docs/es/) stay true to the command line and to their own glossary:
every ``minicnn ...`` command they quote names a command and flags the parser has (and the
fenced ones parse whole), no word is used for a concept the glossary gives another word,
and every Spanish page is linked from the guía, docs/index.md and the README.
(Relative links and named functions are checked for these pages in tests/test_docs.py.)"""
import argparse
import functools
import re
import shlex

import pytest

from conftest import ROOT
from minicnn import cli

SPANISH = ROOT / "docs" / "es"
PAGES = sorted(SPANISH.glob("*.md"))
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]*)`")
ENV = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")     # MINICNN_QUICK=1 minicnn ...
SYNOPSIS = re.compile(r"[\[\]]|\.\.\.")                # [--images N], NOMBRE...: not a call
CALL = re.compile(r"minicnn\s+[\w-]+(\s|$)")            # not minicnn.x, not "minicnn:"


def _page_id(path):
    return str(path.relative_to(ROOT))


def fenced_commands(text):
    """The ``minicnn`` calls in fenced blocks: one per line (continuations joined, a leading
    ``$`` prompt or VAR=value dropped, a trailing ``# comment`` and ``| pipe`` cut off).
    Output lines such as ``minicnn train: preset quick`` are not calls."""
    calls = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = ENV.sub("", line.strip().removeprefix("$ "))
            if CALL.match(line):
                calls.append(_cut(line))
    return calls


def inline_commands(text):
    """The ``minicnn`` calls quoted in inline code outside fenced blocks."""
    codes = (ENV.sub("", code.strip()) for code in INLINE_CODE.findall(FENCE.sub("", text)))
    return [_cut(code) for code in codes if CALL.match(code)]


def _cut(line):
    return " ".join(re.split(r"\s+#\s|\s\|\s|\s&&\s", line, maxsplit=1)[0].split())


@functools.cache
def _parser(command):
    return cli.build_parser(command)


def _subparsers(parser):
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                None)


def unknown_words(call):
    """What in ``call`` the parser does not know: a command or subcommand name that is not
    one, or a --flag that none of the parsers on the command's path takes. A word in
    capitals (COMANDO, CARPETA) stands for a name and is not checked."""
    words = shlex.split(call)[1:]
    parser, flags, unknown = _parser(words[0]), set(), []
    flags |= {s for a in parser._actions for s in a.option_strings}
    for word in words:
        if word.startswith("-"):
            if word.split("=")[0].strip("[]") not in flags:
                unknown.append(word)
            continue
        sub = _subparsers(parser)
        if sub is None:
            continue                                  # a positional argument: a file, a folder
        if word.isupper():
            return unknown                            # a placeholder for the command's name
        if word not in sub.choices:
            return unknown + [word]
        parser = sub.choices[word]
        flags |= {s for a in parser._actions for s in a.option_strings}
    return unknown


def parse_error(call):
    """The parser's complaint about a whole call, or None when it parses."""
    try:
        _parser(shlex.split(call)[1]).parse_args(shlex.split(call)[1:])
    except SystemExit as stop:
        return f"exit {stop.code}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_quoted_commands_exist(page):
    text = page.read_text(encoding="utf-8")
    bad = {call: words for call in fenced_commands(text) + inline_commands(text)
           if (words := unknown_words(call))}
    assert not bad, f"{_page_id(page)} quotes what minicnn's parser does not know: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_fenced_commands_parse(page, capsys):
    calls = [c for c in fenced_commands(page.read_text(encoding="utf-8"))
             if not SYNOPSIS.search(c) and not re.search(r"--(help|version)\b", c)]
    bad = {call: error for call in calls if (error := parse_error(call))}
    assert not bad, f"{_page_id(page)}: commands the parser refuses: {bad}\n" \
                    f"{capsys.readouterr().err}"


def test_the_pages_quote_commands():
    """The extraction finds the commands the pages are about (so a pass means something)."""
    calls = [c for p in PAGES for c in fenced_commands(p.read_text(encoding="utf-8"))
             + inline_commands(p.read_text(encoding="utf-8"))]
    for command in ("train", "evaluate", "predict", "report", "explore", "sweep", "compare",
                    "exercises"):
        assert any(c.split()[1] == command for c in calls), command
    assert len(calls) >= 40


def test_the_command_checks_themselves():
    assert fenced_commands("```bash\n$ MINICNN_QUICK=1 minicnn train --epochs 1 \\\n"
                           "  --seed 2   # a comment\nminicnn train: preset quick\n```\n") \
        == ["minicnn train --epochs 1 --seed 2"]
    assert inline_commands("use `minicnn report RUN --images 0` or `minicnn.load_model`") \
        == ["minicnn report RUN --images 0"]
    assert unknown_words("minicnn train --epochs 1 --set augment=true") == []
    assert unknown_words("minicnn train --epoch 1") == ["--epoch"]
    assert unknown_words("minicnn trian") == ["trian"]
    assert unknown_words("minicnn exercises check DIR --time-limit 5") == []
    assert unknown_words("minicnn exercises check DIR --force") == ["--force"]
    assert unknown_words("minicnn COMANDO --help") == []
    assert parse_error("minicnn train --preset quick --epochs 1") is None
    assert parse_error("minicnn train --preset fast") == "exit 2"


# -- one word per concept (docs/es/glosario.md, "Una palabra para cada concepto") -----------
# "paso" is an optimizer step only (a stride is "desplazamiento"); "prueba" is the test set
# only (a hypothesis test is a "contraste", a software test a "test"); "sesgo" is an
# estimator's bias only (the b term is the "intercepto"). Each pattern is a use of the word
# for another concept.
NEAR = r"(?:[\s(*]+\w+){0,3}?[\s(*]+"          # up to three words, not past a comma
STRIDE = r"(?:stride|strides|ventana|convoluci[oó]n\w*|agrupaci[oó]n\w*|pooling|p[ií]xel\w*)"
MIXED = {
    "paso for a stride": re.compile(rf"\bpasos?{NEAR}{STRIDE}\b|\b{STRIDE}{NEAR}pasos?\b"
                                    r"|\bpaso \d", re.I),
    "paso for a pass": re.compile(r"\bpasos? (?:hacia (?:adelante|atrás)|directo|inverso)", re.I),
    "prueba for a hypothesis test": re.compile(
        r"\bpruebas? (?:de hip[oó]tesis|t\b|score|de wald|chi|de razón de verosimilitud)"
        r"|\bprueba estad[ií]stica", re.I),
    "prueba for a software test": re.compile(
        r"\bpruebas? (?:unitarias?|automáticas?|de software|del código|de minicnn|de mutación)"
        r"|(?:ejecutar|correr|corre|ejecute|corra) (?:las |todas las )?pruebas\b", re.I),
    "test for the test set": re.compile(
        r"\b(?:conjunto|datos|imágenes|muestra|métricas|números) de test\b", re.I),
    "sesgo for the b term": re.compile(
        r"\bpesos,? (?:y )?(?:los )?sesgos?\b|\bsesgos? \((?:bias|b)\)|\bsesgo b\b"
        r"|término de sesgo|\bsesgos? de (?:la|las|cada|una) (?:neuronas?|capas?|unidad)"
        r"|\bsesgos\b", re.I),
}


def prose(path):
    """A page's text without code and, in the glossary, without the table that names the
    forbidden uses (it has to say them)."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return re.sub(r"## Una palabra para cada concepto.*?(?=\n## )", "", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_one_word_per_concept(page):
    text = prose(page)
    found = {what: [m.group(0) for m in rule.finditer(text)] for what, rule in MIXED.items()}
    found = {what: hits for what, hits in found.items() if hits}
    assert not found, f"{_page_id(page)} uses a word for another concept: {found}"


@pytest.mark.parametrize(("sentence", "what"), [
    ("la ventana avanza con paso 2", "paso for a stride"),
    ("el paso de la convolución", "paso for a stride"),
    ("el paso (stride) de la ventana", "paso for a stride"),
    ("una prueba de hipótesis", "prueba for a hypothesis test"),
    ("ejecute las pruebas con pytest", "prueba for a software test"),
    ("las pruebas de mutación", "prueba for a software test"),
    ("el paso hacia adelante de la red", "paso for a pass"),
    ("las imágenes de test", "test for the test set"),
    ("los pesos y sesgos de la capa", "sesgo for the b term"),
    ("el sesgo (b) de la neurona", "sesgo for the b term"),
])
def test_each_rule_catches_its_mix(sentence, what):
    assert MIXED[what].search(sentence), (what, sentence)


@pytest.mark.parametrize("sentence", [
    "un paso de Adam mueve cada peso", "cubre 10 × 10 píxeles), y un paso de Adam",
    "desplazamiento 2: la ventana avanza de a dos píxeles",
    "el conjunto de prueba se mira una vez", "un contraste de hipótesis",
    "los tests de minicnn", "la corrección de sesgo de Adam", "el intercepto b",
])
def test_the_rules_leave_the_chosen_words_alone(sentence):
    assert not [what for what, rule in MIXED.items() if rule.search(sentence)], sentence


def test_glossary_states_the_rule():
    text = (SPANISH / "glosario.md").read_text(encoding="utf-8")
    section = re.search(r"## Una palabra para cada concepto(.*?)\n## ", text, re.S).group(1)
    for word, used_for, instead in (("paso", "optimizador", "desplazamiento"),
                                    ("prueba", "conjunto de prueba", "contraste"),
                                    ("sesgo", "estimador", "intercepto")):
        row = re.search(rf"^\| {word} \|.*$", section, re.M)
        assert row and used_for in row.group(0) and instead in row.group(0), word
    assert re.search(r"^\| desplazamiento \| stride \|", text, re.M)


# -- every Spanish page can be reached ------------------------------------------------------
@pytest.mark.parametrize("index", ["docs/es/guia.md", "docs/index.md", "README.md"])
def test_every_spanish_page_is_linked(index):
    text = (ROOT / index).read_text(encoding="utf-8")
    prefix = {"docs/es/guia.md": "", "docs/index.md": "es/", "README.md": "docs/es/"}[index]
    pages = [p.name for p in PAGES if f"docs/es/{p.name}" != index]
    missing = [name for name in pages if f"]({prefix}{name}" not in text]
    assert not missing, f"{index} does not link these Spanish pages: {missing}"


# -- the guía's list of the files `minicnn exercises start` writes ----------------------------
NUMBERS = dict(enumerate("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce "
                         "trece catorce quince".split()))


def test_guia_lists_the_files_exercises_start_writes():
    """The guía once said six files where `start` wrote seven: its count and its list of
    file names are the stub files' (minicnn.exercises.catalog.stub_files)."""
    from minicnn.exercises.catalog import stub_files
    files = list(stub_files())
    text = (SPANISH / "guia.md").read_text(encoding="utf-8")
    said = re.search(r"`start` escribe (\w+) archivos:(.*?)\n\n", text, re.S)
    assert said, "the guía no longer says how many files `start` writes"
    assert said.group(1) == NUMBERS[len(files)], (said.group(1), len(files), files)
    assert re.findall(r"`(\w+\.py)`", said.group(2)) == files
