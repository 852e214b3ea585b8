"""The launcher's and panel's string tables (loader/strings.js), checked without a browser.

The tables are read by a small parser of the JavaScript object literal (not by regular expressions
over the text), so a syntax slip in strings.js fails here before it breaks a language in Chromium.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRINGS_JS = ROOT / "loader" / "strings.js"
#: The spec's language set ("Language Configuration"), in its order, then the right-to-left ones.
LOCALES = ["en", "zh-cn", "zh-tw", "ja", "ko", "de", "fr", "pt", "ru", "ar", "he"]
#: Languages written without Latin letters: any [A-Za-z] left in them is untranslated English.
NON_LATIN = ["zh-cn", "zh-tw", "ja", "ko", "ru", "ar", "he"]
#: (locale, key) pairs allowed to equal the English text because that is the correct word in the
#: language. Empty on purpose: every language has its own word for every string today.
SAME_AS_ENGLISH_OK: set[tuple[str, str]] = set()
PLACEHOLDER = re.compile(r"\{\w+\}")

_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/
    |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<ident>[A-Za-z_$][\w$]*)
    |(?P<punct>[{}:,])""",
    re.S | re.X,
)


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}

    def one(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc[0] == "u":
            return chr(int(esc[1:], 16))
        if esc in simple:
            return simple[esc]
        raise ValueError(f"unsupported escape \\{esc} in {literal}")

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, body)


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match:
            raise ValueError(f"strings.js: unexpected {source[pos : pos + 30]!r}")
        pos = match.end()
        for kind in ("str", "ident", "punct"):
            if match.group(kind) is not None:
                out.append((kind, match.group(kind)))
    return out


def _parse_object(tokens: list[tuple[str, str]], i: int) -> tuple[dict[str, object], int]:
    assert tokens[i] == ("punct", "{"), tokens[i]
    i += 1
    result: dict[str, object] = {}
    while tokens[i] != ("punct", "}"):
        kind, text = tokens[i]
        key = _unescape(text) if kind == "str" else text
        assert kind in ("str", "ident") and tokens[i + 1] == ("punct", ":"), tokens[i : i + 2]
        assert key not in result, f"strings.js: duplicate key {key!r}"
        i += 2
        if tokens[i] == ("punct", "{"):
            value, i = _parse_object(tokens, i)
        else:
            assert tokens[i][0] == "str", f"strings.js: {key} is not a string literal"
            value, i = _unescape(tokens[i][1]), i + 1
        result[key] = value
        if tokens[i] == ("punct", ","):
            i += 1
    return result, i + 1


def load_strings(path: Path = STRINGS_JS) -> dict[str, dict[str, str]]:
    """The STRINGS table of strings.js as Python dicts."""
    source = path.read_text(encoding="utf-8")
    start = source.index("export const STRINGS =") + len("export const STRINGS =")
    end = source.index("};", start) + 1
    table, _ = _parse_object(_tokens(source[start:end]), 0)
    return table  # type: ignore[return-value]


STRINGS = load_strings()
EN = STRINGS["en"]
#: The agent console's table (loader/console_strings.json, tests/unit/test_console_strings.py),
#: held to the same rules.
CONSOLE_STRINGS: dict[str, dict[str, str]] = json.loads(
    (ROOT / "loader" / "console_strings.json").read_text(encoding="utf-8")
)


@dataclass(frozen=True)
class Table:
    strings: dict[str, dict[str, str]]
    #: (locale, key) pairs allowed to equal the English text because that is the word there.
    same_as_english_ok: frozenset[tuple[str, str]] = frozenset()
    #: Latin text that stays as it is in every language (names, acronyms, keys' names).
    latin_kept: tuple[str, ...] = ()


TABLES = {
    "widget": Table(STRINGS, frozenset(SAME_AS_ENGLISH_OK)),
    "console": Table(
        CONSOLE_STRINGS,
        frozenset({("de", "detail_name")}),  # "Name" is the German word
        ("Porch", "tawk.to", "IBAN", "Ctrl", "Shift", "Enter"),
    ),
}


@pytest.mark.parametrize("table", TABLES)
def test_exactly_the_spec_languages_in_the_spec_order(table: str) -> None:
    assert list(TABLES[table].strings) == LOCALES


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("locale", LOCALES[1:])
def test_every_language_has_exactly_the_english_keys(table: str, locale: str) -> None:
    strings = TABLES[table].strings
    assert sorted(strings[locale]) == sorted(strings["en"])


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("locale", LOCALES)
def test_no_empty_strings_and_the_same_placeholders_as_english(table: str, locale: str) -> None:
    strings = TABLES[table].strings
    for key, text in strings[locale].items():
        assert text.strip(), (locale, key)
        assert text == text.strip(), (locale, key, "leading or trailing space")
        english = strings["en"][key]
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(english)), (
            locale,
            key,
        )


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("locale", LOCALES[1:])
def test_no_language_repeats_an_english_string(table: str, locale: str) -> None:
    strings, allowed = TABLES[table].strings, TABLES[table].same_as_english_ok
    same = {k for k, v in strings[locale].items() if v == strings["en"][k]}
    same -= {k for (loc, k) in allowed if loc == locale}
    assert not same, f"{table}: {locale} still shows English for {sorted(same)}"


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("locale", NON_LATIN)
def test_non_latin_languages_contain_no_latin_letters(table: str, locale: str) -> None:
    for key, text in TABLES[table].strings[locale].items():
        rest = PLACEHOLDER.sub("", text)
        for kept in TABLES[table].latin_kept:
            rest = rest.replace(kept, "")
        assert not re.search(r"[A-Za-z]", rest), (locale, key, text)


def test_english_counts_need_no_plural_rules() -> None:
    # "{n} unread messages" reads "1 unread messages"; the tables use "label: {n}" forms instead.
    for locale in ("en", "de", "fr", "pt", "ru", "ar", "he"):
        assert STRINGS[locale]["unread"].rstrip().endswith("{n}"), locale


def test_the_parser_reads_escapes_and_rejects_non_literals(tmp_path: Path) -> None:
    sample = tmp_path / "s.js"
    sample.write_text('export const STRINGS = {\n  en: { a: "x\\u00a0y", "b-c": \'q\' },\n};\n')
    assert load_strings(sample) == {"en": {"a": "x\u00a0y", "b-c": "q"}}
    sample.write_text("export const STRINGS = { en: { a: b } };\n")
    with pytest.raises(AssertionError):
        load_strings(sample)
