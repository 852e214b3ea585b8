"""The one JSON reader for text from anyone and the one writer for text to anyone (issue 16:
a lone surrogate, deep nesting, non-finite and unsafe numbers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porch_protocol import ProtocolError, decode
from porch_protocol.json_text import (
    MAX_JSON_DEPTH,
    MAX_SAFE_INTEGER,
    JSONRejected,
    read_json,
    write_json,
)

# --- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (r'["\ud800"]', "[0]"),
        (r'{"a": "x\udfffy"}', "a"),
        (r'{"a": {"b": ["ok", "\ud83d"]}}', "a.b[1]"),
        (r'{"a": "\ude00\ud83d"}', "a"),  # a low then a high surrogate: two lone ones
        ('["\ud800"]', "[0]"),  # the surrogate itself in a Python str, not an escape
    ],
)
def test_a_lone_surrogate_is_refused_naming_where(text: str, where: str) -> None:
    with pytest.raises(JSONRejected) as refused:
        read_json(text)
    assert (refused.value.code, refused.value.where) == ("bad_text", where)
    assert "surrogate" in str(refused.value)


def test_a_lone_surrogate_in_a_key_is_refused() -> None:
    with pytest.raises(JSONRejected, match="key holds a lone UTF-16 surrogate"):
        read_json(r'{"\ud800": 1}')


def test_escaped_surrogate_pairs_and_plain_text_are_read() -> None:
    assert read_json(r'["\ud83d\ude00", "é", "\\ud800"]') == ["😀", "é", "\\ud800"]
    assert read_json('{"a": "😀"}'.encode()) == {"a": "😀"}


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "[1e400]", "-1e999"])
def test_what_javascript_cannot_parse_is_not_json(text: str) -> None:
    with pytest.raises(JSONRejected) as refused:
        read_json(text)
    assert refused.value.code == "bad_json"


def test_integers_are_held_to_javascripts_safe_range() -> None:
    assert read_json(f"[{MAX_SAFE_INTEGER}, -{MAX_SAFE_INTEGER}]") == [
        MAX_SAFE_INTEGER,
        -MAX_SAFE_INTEGER,
    ]
    for text in (f"{{\"n\": {MAX_SAFE_INTEGER + 1}}}", "[-" + "9" * 40 + "]"):
        with pytest.raises(JSONRejected, match="integer beyond"):
            read_json(text)
    assert read_json('["12345678901234567890"]') == ["12345678901234567890"]  # a string


def test_more_digits_than_python_converts_is_bad_json_not_a_crash() -> None:
    with pytest.raises(JSONRejected) as refused:
        read_json("[" + "9" * 5000 + "]")
    assert refused.value.code == "bad_json"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 15_000, 200_000])
def test_deep_nesting_is_refused_without_recursion_error(depth: int) -> None:
    with pytest.raises(JSONRejected) as refused:
        read_json("[" * depth + "]" * depth)
    assert refused.value.code == "bad_json"
    assert "nested" in str(refused.value)


def test_nesting_up_to_the_limit_is_read() -> None:
    text = '{"a":' * (MAX_JSON_DEPTH - 1) + "[1]" + "}" * (MAX_JSON_DEPTH - 1)
    assert read_json(text) is not None
    many_siblings = json.dumps([[i] for i in range(1000)])  # many brackets, little depth
    assert len(read_json(many_siblings)) == 1000


def test_the_servers_own_text_may_be_deeper_when_asked() -> None:
    text = "[" * 100 + "]" * 100
    assert read_json(text, max_depth=None) is not None


# --- writing ------------------------------------------------------------------------------------


def test_a_stored_lone_surrogate_is_written_as_a_replacement_character() -> None:
    text = write_json({"tags": ["\ud800", "ok"], "\udfff": 1})
    assert text == '{"tags":["\ufffd","ok"],"\ufffd":1}'
    text.encode("utf-8")  # what a WebSocket does with it


def test_a_stored_non_finite_float_is_written_as_null() -> None:
    assert write_json({"a": [float("nan"), 1.5, float("inf")]}) == '{"a":[null,1.5,null]}'


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_VALUES)
def test_any_value_is_written_as_json_a_browser_can_read(value: Any) -> None:
    text = write_json(value)
    text.encode("utf-8")
    json.loads(text, parse_constant=pytest.fail)  # strict JSON: no NaN or Infinity


@given(st.text(alphabet='[]{}",:0123456789.eE+- \\udtruefalsnNIy\ud800'))
def test_whatever_is_read_is_written_back_the_same(text: str) -> None:
    """Any text is read or refused with JSONRejected (nothing else escapes), and a value read
    is one the writer writes back without loss."""
    try:
        value = read_json(text)
    except JSONRejected:
        return
    assert read_json(write_json(value)) == value


# --- frames -------------------------------------------------------------------------------------


def test_a_frame_with_a_lone_surrogate_is_a_bad_field_naming_it() -> None:
    text = r'{"v":1,"type":"tags.change","request_id":"t","add":["\ud800"],"remove":[]}'
    with pytest.raises(ProtocolError) as refused:
        decode(text)
    assert refused.value.code == "bad_field"
    assert str(refused.value).startswith("tags.change.add[0]: ")


@pytest.mark.parametrize("max_chars", [10**6, None], ids=["from-a-client", "from-the-server"])
def test_a_deeply_nested_frame_is_bad_json(max_chars: int | None) -> None:
    text = '{"v":1,"type":"visitor.event","request_id":"e","name":"n","metadata":' + (
        "[" * 15_000 + "]" * 15_000 + "}"
    )
    with pytest.raises(ProtocolError) as refused:
        decode(text, max_chars=max_chars)
    assert refused.value.code == "bad_json"
