"""The exercises in Spanish: every hint exists in both languages, the stubs and the verdicts
can be Spanish (--lang es or MINICNN_LANG=es), with the glossary's one word per concept."""
import argparse
import ast
import re
from pathlib import Path

import pytest

from minicnn import exercises
from minicnn.exercises import catalog, checks, conventions, lang

PACKAGE = Path(exercises.__file__).parent


def cli(*argv):
    parser = exercises.add_arguments(argparse.ArgumentParser(prog="minicnn exercises"))
    return exercises.run(parser.parse_args([str(a) for a in argv]))


def hint_calls():
    """(file, line, English source, Spanish source) of every hint(...) in the package."""
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "hint":
                assert len(node.args) == 2 and not node.keywords, (path.name, node.lineno)
                yield path.name, node.lineno, *map(ast.unparse, node.args)


def dict_hints():
    """(file, line, keys) of every dict literal written with an "en" key."""
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if "en" in keys:
                    yield path.name, node.lineno, keys


def spanish_texts():
    return [es for *_, es in hint_calls()] + [e.doc_es for e in catalog.EXERCISES] + [
        catalog.stub_files("es")[catalog.TRAIN_SCRIPT], catalog._HEADER["es"]]


def test_every_hint_is_written_in_both_languages():
    calls = list(hint_calls())
    assert len(calls) > 40                                  # the walk found them
    for file, line, en, es in calls:
        assert en != es, (file, line)
    for file, line, keys in dict_hints():
        assert {"en", "es"} <= keys, (file, line)
    for module in (checks, conventions):
        for name, value in vars(module).items():
            if isinstance(value, dict) and set(value) == set(lang.LANGUAGES):
                assert all(value.values()) and value["en"] != value["es"], name
    assert set(lang.WORDS["en"]) == set(lang.WORDS["es"])


def test_hint_refuses_a_missing_language():
    with pytest.raises(TypeError):
        lang.hint("only English", "")


def test_the_spanish_uses_one_word_per_concept():
    """docs/es/glosario.md: a stride is "desplazamiento (stride)", never "paso" (an
    optimizer's step); "prueba" is the test set only."""
    for es in spanish_texts():
        for match in re.finditer(r"\bstride\b", es):
            assert es[:match.start()].endswith("desplazamiento ("), es
        assert not re.search(r"\bpasos?\b[^.]*\b(ventana|stride)", es), es
        assert "prueba" not in es, es
        assert not re.search(r"\bsesgo\b", es.replace("corrección de sesgo", "")), es
    assert "desplazamiento" in (PACKAGE.parents[1] / "docs/es/glosario.md").read_text()


def test_every_exercise_has_a_spanish_docstring():
    for ex in catalog.EXERCISES:
        assert ex.doc_es and ex.doc_es != ex.doc, ex.name
        assert ex.doc_es.count("\n") >= ex.doc.count("\n") - 2, ex.name


def test_start_and_check_in_spanish(tmp_path, capsys, monkeypatch):
    assert cli("start", tmp_path, "--lang", "es") == 0
    source = (tmp_path / "activations.py").read_text(encoding="utf-8")
    assert "Ejercicios de minicnn" in source and "elemento a elemento" in source
    assert "float32" in source and "en el lugar" in source
    assert cli("check", tmp_path, "relu_forward", "--lang", "es") == 1
    out = capsys.readouterr().out
    assert "FALTA relu_forward" in out and "pista: todavía sin escribir" in out
    assert "0 de 1 bien, 0 mal, 1 por hacer" in out
    monkeypatch.setenv("MINICNN_LANG", "es")
    assert cli("check", tmp_path, "relu_forward") == 1
    assert "0 de 1 bien" in capsys.readouterr().out
    assert cli("check", tmp_path, "relu_forward", "--lang", "en") == 1
    assert "0 of 1 pass" in capsys.readouterr().out


def test_english_stubs_state_the_conventions(tmp_path):
    assert cli("start", tmp_path) == 0
    source = (tmp_path / "conv.py").read_text()
    assert "float32" in source and "in place" in source and "strides=1" in source
