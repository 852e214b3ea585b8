"""The compiled decoders and encoders against the reference walk of the type hints.

``decode`` and ``encode`` use code generated per type (``wire._fast_decoder``,
``wire._frame_encoder``); ``wire._parse_checked`` and ``wire._to_json`` are the reference they
must agree with. Every frame type and record is exercised with generated JSON: valid values must
give equal objects and the same text, invalid ones the very error (code and message) that the
reference raises."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from porch_protocol import (
    AGENT_SENDS,
    VISITOR_SENDS,
    ChatMessage,
    ConversationSummary,
    Message,
    ProtocolError,
    SendMessage,
    decode,
    encode,
    frame_types,
    wire,
)
from porch_protocol.json_text import MAX_SAFE_INTEGER

FRAMES = sorted(frame_types().values(), key=lambda c: c.TYPE)

#: The numbers JSON text from a browser can carry (porch_protocol.json_text refuses the others
#: before any decoder sees them).
WIRE_INTEGERS = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
WIRE_FLOATS = st.floats(allow_nan=False, allow_infinity=False)

JUNK = st.recursive(
    st.none() | st.booleans() | WIRE_INTEGERS | WIRE_FLOATS | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def values(tp: Any, junk: bool) -> st.SearchStrategy[Any]:
    """JSON for ``tp``; with ``junk``, any value anywhere may be replaced by arbitrary JSON."""
    strategy = _values(tp, junk)
    return st.one_of(strategy, strategy, strategy, JUNK) if junk else strategy


def _values(tp: Any, junk: bool) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        hints = wire._hints(tp)  # type: ignore[arg-type]
        required, optional = {}, {}
        for f in dataclasses.fields(tp):
            has_default = not (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            )
            (optional if has_default else required)[f.name] = values(hints[f.name], junk)
        if junk:  # a required field may be missing too
            optional.update(required)
            required = {}
        return st.fixed_dictionaries(required, optional=optional)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        return st.one_of([st.none() if o is type(None) else values(o, junk) for o in options])
    if origin is dict:
        return st.dictionaries(
            st.text(max_size=3), values(typing.get_args(tp)[1], junk), max_size=3
        )
    if origin is tuple:
        return st.lists(values(typing.get_args(tp)[0], junk), max_size=3)
    if origin is Literal:
        return st.sampled_from(typing.get_args(tp)) | (st.just(True) if junk else st.nothing())
    if tp is str:
        return st.text(max_size=6)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return WIRE_INTEGERS
    if tp is float:
        return WIRE_FLOATS | WIRE_INTEGERS
    raise AssertionError(f"no strategy for {tp!r}")


def frames(junk: bool) -> st.SearchStrategy[tuple[type[Message], dict[str, Any]]]:
    return st.sampled_from(FRAMES).flatmap(
        lambda cls: st.tuples(
            st.just(cls),
            _values(cls, junk).map(lambda body: {**body, "v": 1, "type": cls.TYPE}),
        )
    )


def reference_decode(cls: type[Message], body: dict[str, Any]) -> Any:
    try:
        return wire._parse_checked(cls, body, cls.TYPE)
    except ProtocolError as exc:
        return (exc.code, str(exc))


def reference_encode(frame: Message) -> str:
    body = {"v": wire.PROTOCOL_VERSION, "type": frame.TYPE, **wire._to_json(frame)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def compiled_decode(text: str) -> Any:
    try:
        return decode(text, max_chars=None)
    except ProtocolError as exc:
        return (exc.code, str(exc))


SETTINGS = settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(frames(junk=False))
def test_valid_frames_decode_and_encode_as_the_reference(case: tuple[type[Message], Any]) -> None:
    cls, body = case
    expected = reference_decode(cls, body)
    assert isinstance(expected, cls), expected
    decoded = compiled_decode(json.dumps(body))
    assert decoded == expected
    assert type(decoded) is cls
    assert encode(decoded) == reference_encode(expected)
    assert decode(encode(decoded), max_chars=None) == expected
    # v and type first: a reader may tell a frame's type from its prefix (tests/bench/load.py).
    assert encode(decoded).startswith(f'{{"v":1,"type":"{cls.TYPE}"')


#: What a single fault puts in place of a value: each scalar type (bool among them, which the
#: rules keep apart from int), null, an empty list and an empty object.
NEAR_MISSES = st.sampled_from([None, True, False, 0, 1, -1, 2, 1.5, "", "x", "agent", [], {}])


def _positions(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of a parsed JSON value, nested ones included."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value))
    for key in list(keys):
        found.append((value, key))
        if isinstance(value[key], dict | list):
            found += _positions(value[key])
    return found


@st.composite
def faulty_frames(draw: st.DrawFn) -> tuple[type[Message], dict[str, Any]]:
    """A valid frame with one fault: a value replaced by a near miss, or a field removed."""
    cls, body = draw(frames(junk=False))
    positions = [(c, k) for c, k in _positions(body) if not (c is body and k in ("v", "type"))]
    if positions:
        container, key = draw(st.sampled_from(positions))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(NEAR_MISSES | JUNK)
    return cls, body


@SETTINGS
@given(st.one_of(faulty_frames(), frames(junk=True)))
def test_any_frame_is_accepted_or_refused_as_the_reference(
    case: tuple[type[Message], Any],
) -> None:
    cls, body = case
    expected = reference_decode(cls, body)
    decoded = compiled_decode(json.dumps(body))
    assert decoded == expected
    if isinstance(expected, Message):
        assert encode(decoded) == reference_encode(expected)


@SETTINGS
@given(
    st.sampled_from([ChatMessage, ConversationSummary]).flatmap(
        lambda t: st.tuples(st.just(t), values(t, junk=True))
    )
)
def test_parse_value_of_records_agrees_with_the_reference(case: tuple[type, Any]) -> None:
    tp, raw = case
    try:
        expected: Any = wire._parse_checked(tp, raw, "here")
    except ProtocolError as exc:
        expected = (exc.code, str(exc))
    try:
        got: Any = wire.parse_value(tp, raw, "here")
    except ProtocolError as exc:
        got = (exc.code, str(exc))
    assert got == expected


def test_values_keep_their_json_types_and_defaults() -> None:
    frame = decode('{"v":1,"type":"message.send","client_id":"c","text":"t"}', VISITOR_SENDS)
    assert frame == SendMessage(client_id="c", text="t")
    with pytest.raises(ProtocolError) as caught:
        decode('{"v":1,"type":"message.send","client_id":"c","text":1}', VISITOR_SENDS)
    assert (caught.value.code, str(caught.value)) == (
        "bad_field",
        "message.send.text: expected a string",
    )
    with pytest.raises(ProtocolError) as caught:
        decode('{"v":1,"type":"message.send","text":"t"}', frozenset(AGENT_SENDS))
    assert str(caught.value) == "message.send: missing required field 'client_id'"


def test_a_decoded_dict_or_list_is_the_decoders_own() -> None:
    """Containers are rebuilt, as the reference does: a frame never aliases the parsed JSON."""
    body = {"v": 1, "type": "visitor.update", "request_id": "r", "attributes": {"a": 1}}
    frame = wire.from_dict(body)
    body["attributes"]["a"] = 2  # type: ignore[index]
    assert frame.attributes == {"a": 1}  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames(junk=False))
def test_after_compile_codecs_no_frame_compiles_anything(
    case: tuple[type[Message], Any],
) -> None:
    """What the browser runtime's snapshot relies on (tools/build_snapshot.py): once
    ``compile_codecs`` has run, decoding and encoding any frame runs no ``exec``."""
    cls, body = case
    wire.compile_codecs()

    def refuse(*_args: object) -> None:
        raise AssertionError(f"{cls.__name__}: compiled at its first use")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "exec", refuse, raising=False)
        frame = decode(json.dumps(body), max_chars=None)
        assert decode(encode(frame), max_chars=None) == frame
