"""Operator-facing text in the operator's language: Simplified Chinese, or English on request.

The people who act on the warehouse's output read Chinese, so what they read (the nightly
report, segment reasons, next-best-action texts, display names) is Chinese unless
``SCRM_LANG=en``. Machine values (column names, codes, the files programs read) never change
with the language.

Messages are written in English in the code, marked with ``_()`` (or ``N_()`` where a message
is defined before it is shown), and translated through a standard gettext catalog:
``orchestration/locale/<language>/LC_MESSAGES/scrm.po``, extracted with Babel (``make
messages``; babel.cfg says from where). The .po files are the only copy: they are compiled in
memory when first used, so there is no compiled .mo file to go stale or to forget to build.
tests/test_language.py fails when a message lacks either language. click's own messages
(``Usage:``, its usage errors) have a catalog of their own, ``click.po``
(``speak_click_in_operator_language``).
"""

from __future__ import annotations

import gettext
import os
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGE_VARIABLE: Final = "SCRM_LANG"
CHINESE: Final = "zh_Hans"
ENGLISH: Final = "en"
LANGUAGES: Final = (CHINESE, ENGLISH)
DEFAULT_LANGUAGE: Final = CHINESE
DOMAIN: Final = "scrm"
# click's own messages, a catalog of their own (speak_click_in_operator_language).
CLICK_DOMAIN: Final = "click"
LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"

# What people type for each language; case, "-" and "_" do not matter.
_ALIASES: Final = {
    "zh": CHINESE,
    "zh_hans": CHINESE,
    "zh_cn": CHINESE,
    "zh_hans_cn": CHINESE,
    "en": ENGLISH,
    "en_us": ENGLISH,
    "en_gb": ENGLISH,
}

# The language of the text being rendered now (see ``speaking``); None: the configured one.
_SPEAKING: ContextVar[str | None] = ContextVar("scrm_language", default=None)


class LanguageError(ValueError):
    """SCRM_LANG (or a language argument) names no language the catalog has."""


def configured_language(value: str | None = None) -> str:
    """The language to use: ``value`` if given, else $SCRM_LANG, else Simplified Chinese.

    Read when called, never at import, so a CLI option or test can set it first.
    """
    if value is None:
        value = os.environ.get(LANGUAGE_VARIABLE) or DEFAULT_LANGUAGE
    language = _ALIASES.get(value.strip().lower().replace("-", "_"))
    if language is None:
        # In both languages: there is none to choose yet.
        raise LanguageError(
            f"{LANGUAGE_VARIABLE}={value!r} 不是可用的语言：请用 zh（简体中文\uff0c默认）或 en"
            f"（英文）/ {LANGUAGE_VARIABLE}={value!r} is not a language the reports speak: use "
            f"zh (Simplified Chinese, the default) or en"
        )
    return language


def html_language(language: str) -> str:
    """The BCP 47 tag for an HTML page's lang attribute: zh-Hans, en."""
    return language.replace("_", "-")


@cache
def translations(language: str, domain: str = DOMAIN) -> gettext.GNUTranslations:
    """The language's catalog of ``domain``, compiled in memory from its .po file."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@contextmanager
def speaking(language: str | None = None) -> Iterator[str]:
    """Within the block, ``_()`` translates into ``language`` (default: the configured one)."""
    language = configured_language(language)
    token = _SPEAKING.set(language)
    try:
        yield language
    finally:
        _SPEAKING.reset(token)


def current_language() -> str:
    return _SPEAKING.get() or configured_language()


def _(message: str) -> str:
    """The message in the current language (Babel extracts every literal passed to it)."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(current_language()).ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; ``_()`` translates it when shown."""
    return message


def _click_catalog() -> gettext.NullTranslations:
    try:
        return translations(current_language(), CLICK_DOMAIN)
    except LanguageError:  # the command says so itself; click's words stay English
        return gettext.NullTranslations()


def click_gettext(message: str) -> str:
    """One of click's own messages in the current language."""
    return _click_catalog().gettext(message)


def _click_ngettext(singular: str, plural: str, count: int) -> str:
    return _click_catalog().ngettext(singular, plural, count)


def speak_click_in_operator_language() -> None:
    """Have click's own words (Usage:, Options, its usage errors) in the operator's language.

    Each click module marks them with ``from gettext import gettext as _``, the standard
    library's global catalog, which only .mo files on disk can fill. Click ships no catalog:
    ours, ``click.po``, is extracted from the installed click (``make messages``), and each
    module's ``_`` and ``ngettext`` are pointed at it, only where they are still gettext's.
    """
    for name, module in list(sys.modules.items()):
        if name != "click" and not name.startswith("click."):
            continue
        if getattr(module, "_", None) is gettext.gettext:
            module._ = click_gettext  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is gettext.ngettext:
            module.ngettext = _click_ngettext  # type: ignore[attr-defined]


def display_width(text: str) -> int:
    """Columns the text takes on a terminal: a Chinese character (wide or full-width) takes
    two, so Chinese labels line up with English ones."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def padded(text: str, width: int, *, right: bool = False) -> str:
    """`text` padded with spaces to `width` terminal columns (str.ljust counts characters)."""
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill


def extract_seed_column(
    fileobj: Any, keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, str, list[str]]]:
    """A Babel extraction method for a dbt seed's columns of texts people read (babel.cfg names
    the seed and its ``columns``, separated by spaces): each non-empty cell is a message."""
    import csv

    columns = options["columns"].split()
    lines = fileobj.read().decode("utf-8").splitlines()
    for line_number, row in enumerate(csv.DictReader(lines), start=2):
        for column in columns:
            text = (row.get(column) or "").strip()
            if text:
                yield line_number, "_", text, []
