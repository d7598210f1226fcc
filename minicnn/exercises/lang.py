"""The exercises speak English or Spanish: a hint is a dict {"en": ..., "es": ...}.

Checks build hints with :func:`hint` (both texts required) and :func:`join`; the language
is picked only when a verdict is printed (:func:`text`), from ``--lang``, else the
environment variable ``MINICNN_LANG``, else English. Spanish follows docs/es/glosario.md
(one word per concept: "paso" is an optimizer step, a stride is a "desplazamiento").
"""
import os

from ..validation import SettingError

LANGUAGES = ("en", "es")

#: The verdict words: status, summary and labels, in each language.
WORDS = {
    "en": {"PASS": "PASS", "FAIL": "FAIL", "TODO": "TODO", "SKIP": "SKIP", "hint": "hint",
           "rel_error": "rel. error", "auc": "validation AUC",
           "summary": "{PASS} of {total} pass, {FAIL} fail, {TODO} to do, {SKIP} skipped"},
    "es": {"PASS": "BIEN", "FAIL": "MAL", "TODO": "FALTA", "SKIP": "OMITIDO", "hint": "pista",
           "rel_error": "error rel.", "auc": "AUC de validación",
           "summary": "{PASS} de {total} bien, {FAIL} mal, {TODO} por hacer, "
                      "{SKIP} omitidos"},
}


def hint(en, es):
    """A hint in both languages."""
    if not (isinstance(en, str) and isinstance(es, str) and en and es):
        raise TypeError(f"a hint needs an English and a Spanish text, got {en!r}, {es!r}")
    return {"en": en, "es": es}


def same(text_):
    """A text that reads the same in both languages (a number, an array's name)."""
    return {"en": text_, "es": text_}


def join(*parts, sep=""):
    """Parts (hints, or plain strings the same in both languages) joined language by
    language; None parts are left out; None when nothing is left."""
    parts = [same(p) if isinstance(p, str) else p for p in parts if p is not None]
    if not parts:
        return None
    return {lang: sep.join(p[lang] for p in parts) for lang in LANGUAGES}


def fill(template, **values):
    """``template`` (a hint) with ``{name}`` fields filled, in each language; a value may
    itself be a hint."""
    return {lang: template[lang].format(**{k: v[lang] if isinstance(v, dict) else v
                                           for k, v in values.items()})
            for lang in LANGUAGES}


def language(lang=None):
    """The language to print in: ``lang``, else $MINICNN_LANG, else "en"."""
    lang = lang or os.environ.get("MINICNN_LANG") or "en"
    lang = lang.split("_")[0].split("-")[0].lower()
    if lang not in LANGUAGES:
        raise SettingError(f"language {lang!r} is not one of {', '.join(LANGUAGES)} "
                           "(--lang or MINICNN_LANG)")
    return lang


def text(h, lang=None):
    """The text of hint ``h`` (a dict, a plain string, or None) in ``lang``."""
    if h is None or isinstance(h, str):
        return h
    return h[language(lang)]
