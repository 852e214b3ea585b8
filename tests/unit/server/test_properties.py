"""Pure rules of tawk.to properties and widgets (``porch_server/rules/properties.py``)."""

from __future__ import annotations

import re

import pytest

from porch_runtime.bridge import LOCALES
from porch_server.rules.apps import InvalidSettings
from porch_server.rules.properties import (
    LANGUAGES,
    MAX_GREETING_CHARS,
    PROPERTY_ID_PATTERN,
    WIDGET_ID_PATTERN,
    WidgetSettings,
    check_colour,
    check_language,
    check_position,
    check_property_id,
    check_widget_id,
    checked_widget,
    new_property_id,
    new_widget_id,
    valid_property_id,
    valid_widget_id,
)


def test_languages_are_the_runtimes_locales() -> None:
    assert LANGUAGES == LOCALES


@pytest.mark.parametrize(
    "value", ["64f0d3e3c0ffee0000000001", "0" * 24, "abcdef0123456789abcdef01"]
)
def test_property_ids_of_tawks_shape_are_valid(value: str) -> None:
    assert valid_property_id(value) and check_property_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "64f0d3e3c0ffee000000000", "64f0d3e3c0ffee00000000011", "64F0D3E3C0FFEE0000000001",
     "64f0d3e3c0ffee000000000g", " 64f0d3e3c0ffee0000000001", "64f0d3e3c0ffee0000000001\n"],
)  # fmt: skip
def test_other_property_ids_are_refused(value: str) -> None:
    assert not valid_property_id(value)
    with pytest.raises(InvalidSettings, match="24 lowercase hex"):
        check_property_id(value)


@pytest.mark.parametrize("value", ["default", "1", "1abcdefgh9", "z" * 50])
def test_widget_ids_of_tawks_shape_are_valid(value: str) -> None:
    assert valid_widget_id(value) and check_widget_id(value) == value


@pytest.mark.parametrize("value", ["", "Default", "a-b", "a_b", "z" * 51, "a/b", "é"])
def test_other_widget_ids_are_refused(value: str) -> None:
    assert not valid_widget_id(value)
    with pytest.raises(InvalidSettings, match="lowercase letters and digits"):
        check_widget_id(value)


def test_non_strings_are_never_ids() -> None:
    assert not valid_property_id(None) and not valid_widget_id(7)


def test_generated_ids_have_tawks_shape_and_differ() -> None:
    property_ids = {new_property_id() for _ in range(50)}
    widget_ids = {new_widget_id() for _ in range(50)}
    assert len(property_ids) == len(widget_ids) == 50
    assert all(re.fullmatch(PROPERTY_ID_PATTERN, p) for p in property_ids)
    assert all(re.fullmatch(WIDGET_ID_PATTERN, w) for w in widget_ids)
    assert all(re.fullmatch("1[a-z0-9]{9}", w) for w in widget_ids)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("en", "en"), ("zh-CN", "zh-cn"), ("zh_tw", "zh-tw"), (" RU ", "ru"), ("AR", "ar"),
        ("he", "he"),
    ],
)
def test_languages_are_normalized(given: str, stored: str) -> None:
    assert check_language(given) == stored


@pytest.mark.parametrize("value", ["es", "english", "zh", ""])
def test_other_languages_are_refused_with_the_list(value: str) -> None:
    with pytest.raises(InvalidSettings, match="en, zh-cn, zh-tw, ja, ko, de, fr, pt, ru, ar, he"):
        check_language(value)


def test_positions() -> None:
    assert [check_position(p) for p in ("br", "bl", "cr", "cl", "tr", "TL")] == [
        "br", "bl", "cr", "cl", "tr", "tl"
    ]  # fmt: skip
    for bad in ("", "b", "bottom-right", "rb"):
        with pytest.raises(InvalidSettings, match="position"):
            check_position(bad)


@pytest.mark.parametrize(
    ("given", "stored"), [("#2563eb", "#2563eb"), ("#A1B2C3", "#a1b2c3"), ("ff0000", "#ff0000")]
)
def test_colours_are_stored_as_lowercase_hash_rrggbb(given: str, stored: str) -> None:
    assert check_colour(given) == stored


@pytest.mark.parametrize("value", ["#fff", "red", "#12345g", "#1234567", "", "rgb(0,0,0)"])
def test_other_colours_are_refused(value: str) -> None:
    with pytest.raises(InvalidSettings, match="colour"):
        check_colour(value)


def test_greeting_length_and_control_characters() -> None:
    start = "Hi!\nWe reply within the hour.\t😀"
    ok = start + "x" * (MAX_GREETING_CHARS - len(start))
    assert len(ok) == MAX_GREETING_CHARS
    assert checked_widget(WidgetSettings(greeting=ok)).greeting == ok
    with pytest.raises(InvalidSettings, match="at most 500"):
        checked_widget(WidgetSettings(greeting=ok + "x"))
    for control in ("\x00", "\x1b[31m", "\r", "\x7f"):
        with pytest.raises(InvalidSettings, match="control"):
            checked_widget(WidgetSettings(greeting=f"hi{control}"))


def test_defaults_are_valid_and_checked_settings_are_normalized() -> None:
    assert checked_widget(WidgetSettings()) == WidgetSettings("en", "br", "#2563eb", "")
    assert checked_widget(WidgetSettings("DE", "TL", "#ABCDEF", "Hallo")) == WidgetSettings(
        "de", "tl", "#abcdef", "Hallo"
    )
