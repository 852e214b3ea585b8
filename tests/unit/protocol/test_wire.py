"""The wire codec: round trips, and the errors that name what was wrong."""

from __future__ import annotations

import pytest

from porch_protocol import (
    AGENT_SENDS,
    VISITOR_SENDS,
    AppSettings,
    BusinessHours,
    ChangeTags,
    ChatMessage,
    FileRef,
    FormField,
    NewMessage,
    OpeningHours,
    ProtocolError,
    RateConversation,
    TawkWidgetSettings,
    TrackEvent,
    UpdateApp,
    UpdateVisitor,
    decode,
    encode,
)

ROUND_TRIPS = [
    UpdateVisitor(request_id="r1", attributes={"store": "Midvalley", "visits": 3, "vip": True}),
    TrackEvent(request_id="r2", name="product-add-to-cart", metadata={"price": 9.5, "sku": "A1"}),
    ChangeTags(request_id="r3", add=("hello", "world"), version=2),
    RateConversation(rating=-1, comment="slow"),
    UpdateApp(
        request_id="r4",
        app=AppSettings(
            appid="shop",
            name="Shop",
            allowed_domains=("shop.example",),
            offline_message="Leave a message",
            business_hours=BusinessHours(
                timezone="Europe/Berlin", days=(OpeningHours(0, "09:00", "17:00"),)
            ),
            prechat_fields=(FormField("name", "Your name", "text", True),),
            tawk_widgets=(
                TawkWidgetSettings("64f0d3e3c0ffee0000000001", "default", "de", "tl", "#0f766e"),
            ),
            tawk_properties=("64f0d3e3c0ffee0000000001",),
        ),
    ),
]


@pytest.mark.parametrize("frame", ROUND_TRIPS, ids=lambda f: f.TYPE)
def test_frames_round_trip(frame: object) -> None:
    assert decode(encode(frame)) == frame  # type: ignore[arg-type]


def test_scalars_keep_their_json_type() -> None:
    frame = decode(
        '{"v":1,"type":"visitor.update","request_id":"r","attributes":{"a":"1","b":1,"c":1.5,"d":true}}'
    )
    assert isinstance(frame, UpdateVisitor)
    assert [type(v) for v in frame.attributes.values()] == [str, int, float, bool]


UPDATE = '{"v":1,"type":"visitor.update","request_id":"r",'


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (UPDATE + '"attributes":[1]}', "attributes"),
        (UPDATE + '"attributes":{"a":null}}', "attributes.a"),
        (UPDATE + '"attributes":{"a":{}}}', "attributes.a"),
        ('{"v":1,"type":"conversation.rate","rating":true}', "rating"),
        ('{"v":1,"type":"conversation.rate","rating":2}', "rating"),
    ],
)
def test_bad_fields_are_named(text: str, where: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(text)
    assert caught.value.code == "bad_field"
    assert where in str(caught.value)


def test_old_peers_messages_still_decode_with_defaults() -> None:
    text = (
        '{"v":1,"type":"message.new","message":{"id":"m","conversation_id":"c","seq":1,'
        '"author":"agent","author_name":"Ann","text":"hi","created_at":1}}'
    )
    message = decode(text).message  # type: ignore[attr-defined]
    assert message == ChatMessage("m", "c", 1, "agent", "Ann", "hi", 1)
    assert message.file is None and message.event is None


def test_file_messages_carry_their_file() -> None:
    ref = FileRef("f1", "a.png", 10, "image/png", "/files/f1/a.png")
    message = ChatMessage("m", "c", 1, "visitor", "V", "", 1, file=ref)
    decoded = decode(encode(NewMessage(message)))
    assert isinstance(decoded, NewMessage) and decoded.message.file == ref


def test_each_side_may_send_only_its_own_frames() -> None:
    assert RateConversation in VISITOR_SENDS and RateConversation not in AGENT_SENDS
    assert UpdateApp in AGENT_SENDS and UpdateApp not in VISITOR_SENDS
    with pytest.raises(ProtocolError) as caught:
        decode('{"v":1,"type":"presence.set","status":"away"}', VISITOR_SENDS)
    assert caught.value.code == "unexpected_type"


def test_the_frame_cap_guards_the_server_and_clients_may_lift_it() -> None:
    big = encode(ChangeTags(request_id="r", add=("x" * 70_000,)))
    with pytest.raises(ProtocolError) as caught:
        decode(big)
    assert caught.value.code == "too_large"
    frame = decode(big, max_chars=None)
    assert isinstance(frame, ChangeTags) and len(frame.add[0]) == 70_000


def test_an_app_update_from_before_tawk_widgets_reads_as_leave_them() -> None:
    """The two fields are additive: an older client's frame still decodes."""
    frame = decode(
        '{"v":1,"type":"app.update","request_id":"r","app":'
        '{"appid":"shop","name":"Shop","allowed_domains":["shop.example"]}}'
    )
    assert isinstance(frame, UpdateApp)
    assert (frame.app.tawk_widgets, frame.app.tawk_properties) == (None, ())
