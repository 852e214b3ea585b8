"""The agent console's string table (loader/console_strings.json), checked like the widget's.

One table serves the whole console: i18n.js (built from loader/console_i18n.js) applies it to the
page's marked elements, and the worker's Python words everything it draws with the same table
(docs/i18n.md, "The agent console"). tests/unit/test_strings.py holds it to the widget's
rules; these tests check that every key the console asks for exists and every key is
asked for.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from test_strings import CONSOLE_STRINGS

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "public" / "agent"
STRINGS = CONSOLE_STRINGS
EN = STRINGS["en"]
#: Keys the Python builds from a value: ``presence_<status>``, ``flag_rated_<rating>``,
#: ``event_rated_<rating>``, ``masked_<kind of ChatMessage.masked>``.
BUILT_KEY_PREFIXES = ("presence_", "flag_rated_", "event_rated_", "masked_")
SOURCES = {
    name: (AGENT / name).read_text(encoding="utf-8")
    for name in ("index.html", "console.py", "console_state.py", "view.js")
}


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
        key for key in EN if f'"{key}"' not in text and not key.startswith(BUILT_KEY_PREFIXES)
    }
    assert not unused, f"keys nothing asks for: {sorted(unused)}"
