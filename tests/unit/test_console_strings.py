"""The agent console's string table (loader/console_strings.json), checked like the widget's.

One table serves the whole console: i18n.js (built from loader/console_i18n.js) applies it to the
page's marked elements, and the worker's Python words everything it draws with the same table
(docs/i18n.md, "The agent console"). These tests hold it to the widget's rules
(tests/unit/test_strings.py) and check that every key the console asks for exists and every key is
asked for.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_strings import LOCALES, NON_LATIN, PLACEHOLDER

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "public" / "agent"
STRINGS: dict[str, dict[str, str]] = json.loads(
    (ROOT / "loader" / "console_strings.json").read_text(encoding="utf-8")
)
EN = STRINGS["en"]
#: (locale, key) pairs allowed to equal the English text, with the reason.
SAME_AS_ENGLISH_OK = {
    ("de", "detail_name"),  # "Name" is the German word
}
#: Latin text that stays as it is in every language: the product's and tawk.to's names, the
#: acronym IBAN (so written in every language) and the names printed on the keys.
LATIN_KEPT = ("Porch", "tawk.to", "IBAN", "Ctrl", "Shift", "Enter")
#: Keys the Python builds from a value: ``presence_<status>``, ``flag_rated_<rating>``,
#: ``event_rated_<rating>``, ``masked_<kind of ChatMessage.masked>``.
BUILT_KEY_PREFIXES = ("presence_", "flag_rated_", "event_rated_", "masked_")
SOURCES = {name: (AGENT / name).read_text(encoding="utf-8") for name in (
    "index.html", "console.py", "console_state.py", "view.js")}


def test_exactly_the_widgets_languages_in_the_same_order() -> None:
    assert list(STRINGS) == LOCALES


@pytest.mark.parametrize("locale", LOCALES[1:])
def test_every_language_has_exactly_the_english_keys(locale: str) -> None:
    assert sorted(STRINGS[locale]) == sorted(EN)


@pytest.mark.parametrize("locale", LOCALES)
def test_no_empty_strings_and_the_same_placeholders_as_english(locale: str) -> None:
    for key, text in STRINGS[locale].items():
        assert text.strip(), (locale, key)
        assert text == text.strip(), (locale, key, "leading or trailing space")
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(EN[key])), (
            locale,
            key,
        )


@pytest.mark.parametrize("locale", LOCALES[1:])
def test_no_language_repeats_an_english_string(locale: str) -> None:
    same = {k for k, v in STRINGS[locale].items() if v == EN[k]} - {
        k for (loc, k) in SAME_AS_ENGLISH_OK if loc == locale
    }
    assert not same, f"{locale} still shows English for {sorted(same)}"


@pytest.mark.parametrize("locale", NON_LATIN)
def test_non_latin_languages_contain_no_latin_letters(locale: str) -> None:
    for key, text in STRINGS[locale].items():
        rest = PLACEHOLDER.sub("", text)
        for kept in LATIN_KEPT:
            rest = rest.replace(kept, "")
        assert not re.search(r"[A-Za-z]", rest), (locale, key, text)


def test_counts_need_no_plural_rules() -> None:
    # "label: {n}", as in the widget ("1 unread messages" is wrong in most of these languages).
    for locale in ("en", "de", "fr", "pt", "ru", "ar", "he"):
        for key in ("badge_unread", "row_unread"):
            assert STRINGS[locale][key].endswith("{n}"), (locale, key)


def page_keys() -> set[str]:
    return set(re.findall(r'data-i18n(?:-[a-z-]+)?="([a-z_]+)"', SOURCES["index.html"]))


def test_the_page_marks_only_keys_of_the_table_with_their_english_text() -> None:
    assert page_keys() <= set(EN), page_keys() - set(EN)
    # What the page says before any script ran is the English table's text (a slip shows here).
    for key, text in re.findall(r'data-i18n="([a-z_]+)"[^>]*>([^<]*)<', SOURCES["index.html"]):
        assert text == EN[key], (key, text)


class _Unmarked(HTMLParser):
    """Words on the page outside any element marked for translation."""

    #: Not the agent's language: formats the parser reads, key caps, each language's own name.
    KEPT = frozenset({"code", "kbd", "option", "noscript", "script", "style"})
    VOID = frozenset({"meta", "link", "input", "br", "img"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            marked = tag in self.KEPT or any(name == "data-i18n" for name, _ in attrs)
            self.stack.append((tag, marked))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if re.search(r"[A-Za-z]", data) and not any(marked for _, marked in self.stack):
            self.found.append(data.strip())


def test_every_word_of_the_page_is_marked_for_translation() -> None:
    parser = _Unmarked()
    parser.feed(SOURCES["index.html"])
    assert parser.found == ["Porch"], parser.found  # the product's name, in the heading


def test_the_python_asks_only_for_keys_of_the_table() -> None:
    # Words raises KeyError for a missing key: the unit tests of console_state would find it,
    # but console.py runs only in the browser, so its literal keys are checked here.
    python = SOURCES["console.py"] + SOURCES["console_state.py"]
    asked = set(re.findall(r'\bt\(\s*"([a-z_]+)"', python))
    asked |= set(re.findall(r'"(status_[a-z]+|detail_[a-z_]+|flag_[a-z]+)"', python))
    assert len(asked) > 40, "the console's t(...) calls were not found"
    assert asked <= set(EN), asked - set(EN)


def test_every_key_is_used() -> None:
    text = "\n".join(SOURCES.values())
    unused = {
        key
        for key in EN
        if f'"{key}"' not in text and not key.startswith(BUILT_KEY_PREFIXES)
    }
    assert not unused, f"keys nothing asks for: {sorted(unused)}"
