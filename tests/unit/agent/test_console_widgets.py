"""The settings dialog's tawk.to widgets field (``format_widgets``/``parse_widgets`` in
public/agent/console_state.py): one widget per line, ``propertyId/widgetId | language |
position | colour | greeting``. The server checks again; these tests hold the console to
naming the line and what is wrong with it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_console_features import console
from test_console_state import EN, cs

from porch_protocol import AppSettings, TawkWidgetSettings, UpdateApp

PROPERTY = "64f0d3e3c0ffee0000000001"
OTHER = "64f0d3e3c0ffee0000000002"
PROPERTIES = (PROPERTY, OTHER)
DEFAULT = TawkWidgetSettings(PROPERTY, "default", "de", "bl", "#0f766e", "Hallo! Fragen?")


def test_widgets_round_trip_through_their_text_form() -> None:
    widgets = (DEFAULT, TawkWidgetSettings(OTHER, "1abcdefghi", "en", "br", "#2563eb", ""))
    text = cs.format_widgets(widgets)
    assert text == (
        f"{PROPERTY}/default | de | bl | #0f766e | Hallo! Fragen?\n"
        f"{OTHER}/1abcdefghi | en | br | #2563eb | "
    )
    assert cs.parse_widgets(text, PROPERTIES, EN) == widgets
    assert cs.format_widgets(()) == "" and cs.parse_widgets(" \n", PROPERTIES, EN) == ()


def test_a_line_is_read_leniently_where_the_meaning_is_clear() -> None:
    text = (
        f"\n  {PROPERTY}/shop|ZH_cn | TL |ABCDEF| Hi | there  \n"
        f"\n{PROPERTY}/plain | en | br | #ffffff"
    )
    assert cs.parse_widgets(text, PROPERTIES, EN) == (
        # The greeting is the last part: it may hold "|".
        TawkWidgetSettings(PROPERTY, "shop", "zh-cn", "tl", "#abcdef", "Hi | there"),
        TawkWidgetSettings(PROPERTY, "plain", "en", "br", "#ffffff", ""),
    )


def test_a_greetings_newlines_and_backslashes_keep_it_on_one_line() -> None:
    widget = TawkWidgetSettings(PROPERTY, "default", greeting="Hi!\nC:\\new\\ \\n is literal")
    text = cs.format_widgets((widget,))
    assert "\n" not in text
    assert text.endswith("| Hi!\\nC:\\\\new\\\\ \\\\n is literal")
    assert cs.parse_widgets(text, PROPERTIES, EN) == (widget,)


@given(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85")
        | st.sampled_from("\n\\|"),
        max_size=40,
    ).map(str.strip)
)
def test_any_stripped_greeting_round_trips(greeting: str) -> None:
    widget = TawkWidgetSettings(PROPERTY, "default", greeting=greeting)
    assert cs.parse_widgets(cs.format_widgets((widget,)), PROPERTIES, EN) == (widget,)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("just-one-part", "line 1: write 'propertyId/widgetId | language | position | colour"),
        (f"{PROPERTY}/default | en | br", "line 1: write"),
        (f"{PROPERTY} | en | br | #2563eb", "is not propertyId/widgetId"),
        (f"{PROPERTY.upper()}/default | en | br | #2563eb", "24 lowercase hex digits"),
        (f"{PROPERTY}/Default | en | br | #2563eb", "1-50 lowercase letters and digits"),
        (f"{PROPERTY}/{'w' * 51} | en | br | #2563eb", "is not propertyId/widgetId"),
        (
            f"{PROPERTY}/a | en | br | #2563eb\n{PROPERTY}/b | xx | br | #2563eb",
            "line 2: language 'xx'",
        ),
        (f"{PROPERTY}/a | en | middle | #2563eb", "position 'middle' is not one of br, bl"),
        (f"{PROPERTY}/a | en | br | red", "colour 'red' is not a colour like #2563eb"),
        (f"{PROPERTY}/a | en | br | #12345", "colour '#12345'"),
        ("64f0d3e3c0ffee00000000ff/a | en | br | #2563eb", "is not one of this app's"),
        (f"{PROPERTY}/a | en | br | #2563eb\n{PROPERTY}/a | de | bl | #000000", "line 2: .* twice"),
    ],
)
def test_a_bad_line_is_named_with_what_to_fix(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        cs.parse_widgets(text, PROPERTIES, EN)


def test_the_dialogs_widgets_travel_in_app_update() -> None:
    app = AppSettings(
        appid="demo",
        name="Demo",
        allowed_domains=("demo.example",),
        tawk_widgets=cs.parse_widgets(cs.format_widgets((DEFAULT,)), PROPERTIES, EN),
        tawk_properties=PROPERTIES,
    )
    state = console(role="admin", app=replace(app, tawk_widgets=()))
    state.update_app(app, "r1")
    assert state.frames_to_send() == [UpdateApp(request_id="r1", app=app)]
