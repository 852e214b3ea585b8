"""Tags, custom attributes, events, profile changes and the pre-chat and offline forms, with
tawk.to's error codes for every way they can be refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import WebSocketTestSession

from conftest import Porch, receive_frame, receive_until, run_db, send_frame
from porch_protocol import (
    ChangeTags,
    ConversationHistory,
    ConversationUpdated,
    ErrorFrame,
    FormAnswer,
    FormField,
    MessageAck,
    NewMessage,
    OpenConversation,
    RequestDone,
    SendMessage,
    SubmitOffline,
    SubmitPrechat,
    TagsUpdated,
    TrackEvent,
    UpdateVisitor,
    VisitorProfile,
    VisitorWelcome,
)
from porch_server.rules import apps
from porch_server.rules.visitor_data import MAX_ATTRIBUTES
from porch_server.storage import store


def _done(ws: WebSocketTestSession, request_id: str) -> None:
    frame = receive_until(ws, RequestDone | ErrorFrame)  # type: ignore[arg-type]
    assert frame == RequestDone(request_id=request_id), frame


def _refused(ws: WebSocketTestSession, request_id: str, code: str) -> ErrorFrame:
    frame = receive_until(ws, ErrorFrame)
    assert (frame.code, frame.request_id, frame.fatal) == (code, request_id, False), frame
    return frame


def _conversation(ws: WebSocketTestSession) -> str:
    send_frame(ws, SendMessage(client_id="c1", text="hi"))
    return receive_until(ws, MessageAck).message.conversation_id


def _details(porch: Porch, conversation_id: str) -> ConversationHistory:
    agent, _ = porch.agent()
    send_frame(agent, OpenConversation(conversation_id))
    return receive_until(agent, ConversationHistory)


# --- tags ---------------------------------------------------------------------------------------


def test_tags_change_reach_tabs_and_agents_with_versions(porch: Porch) -> None:
    tab1, welcome = porch.visitor()
    conversation_id = _conversation(tab1)
    tab2, _ = porch.visitor(identity=welcome.identity)
    agent, _ = porch.agent()
    send_frame(tab1, ChangeTags(request_id="t1", add=("vip", "de"), version=0))
    _done(tab1, "t1")
    expected = TagsUpdated(visitor_uid=welcome.visitor_uid, tags=("vip", "de"), version=1)
    assert receive_until(tab2, TagsUpdated) == expected
    assert receive_until(agent, TagsUpdated) == expected

    send_frame(tab2, ChangeTags(request_id="t2", add=("late",), version=0))  # stale
    _refused(tab2, "t2", "VERSION_CONFLICT")
    send_frame(agent, ChangeTags(request_id="a1", remove=("de",), conversation_id=conversation_id))
    _done(agent, "a1")
    assert receive_until(tab1, TagsUpdated).tags == ("vip",)
    _, again = porch.visitor(identity=welcome.identity)
    assert (again.tags, again.tags_version) == (("vip",), 2)
    _, listing = porch.agent()
    assert listing.conversations[0].tags == ("vip",)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (ChangeTags(request_id="r", add=tuple(f"t{n}" for n in range(11))), "TAG_LIMIT_EXCEEDED"),
        (ChangeTags(request_id="r", add=("",)), "INVALID_TAGS"),
        (ChangeTags(request_id="r", add=("x" * 256,)), "INVALID_TAGS"),
        (ChangeTags(request_id="r", remove=("  ",)), "INVALID_TAGS"),
    ],
    ids=["eleven", "empty", "too-long", "blank-remove"],
)
def test_bad_tags_are_refused(porch: Porch, frame: ChangeTags, code: str) -> None:
    ws, welcome = porch.visitor()
    send_frame(ws, frame)
    _refused(ws, "r", code)
    _, again = porch.visitor(identity=welcome.identity)
    assert again.tags == ()


def test_non_string_tag_is_invalid_tags_naming_the_request(porch: Porch) -> None:
    ws, _ = porch.visitor()
    ws.send_text(json.dumps({"v": 1, "type": "tags.change", "request_id": "r9", "add": [5]}))
    _refused(ws, "r9", "INVALID_TAGS")


def test_ten_tags_fit(porch: Porch) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, ChangeTags(request_id="r", add=tuple(f"t{n}" for n in range(10))))
    _done(ws, "r")


# --- attributes, profile, events ----------------------------------------------------------------


def test_attributes_profile_and_events_are_stored_and_shown_to_agents(porch: Porch) -> None:
    ws, _ = porch.visitor()
    conversation_id = _conversation(ws)
    listing, _ = porch.agent()
    send_frame(
        ws,
        UpdateVisitor(
            request_id="u1",
            profile=VisitorProfile(name="Vera", email="vera@example.test"),
            attributes={"plan": "pro", "seats": 5, "ratio": 0.5, "trial": False, "id-2": "x"},
        ),
    )
    _done(ws, "u1")
    renamed = receive_until(listing, ConversationUpdated).conversation
    assert (renamed.visitor_name, renamed.visitor_email) == ("Vera", "vera@example.test")
    send_frame(ws, TrackEvent(request_id="e1", name="added-to-cart", metadata={"sku": "A1"}))
    _done(ws, "e1")
    send_frame(ws, UpdateVisitor(request_id="u2", attributes={"plan": "team"}))
    _done(ws, "u2")

    visitor = _details(porch, conversation_id).visitor
    assert visitor is not None
    assert visitor.attributes == {
        "plan": "team",
        "seats": 5,
        "ratio": 0.5,
        "trial": False,
        "id-2": "x",
    }
    assert [(e.name, e.metadata) for e in visitor.events] == [("added-to-cart", {"sku": "A1"})]
    assert visitor.events[0].created_at == porch.settings.now_ms()


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"bad key": "x"}, "CONTAINS_INVALID_KEY"),
        ({"ünï": "x"}, "CONTAINS_INVALID_KEY"),
        ({"": "x"}, "CONTAINS_INVALID_KEY"),
        ({"long": "x" * 256}, "CONTAINS_INVALID_VALUE"),
        ({f"k{n}": n for n in range(MAX_ATTRIBUTES + 1)}, "ATTRIBUTE_LIMIT_EXCEEDED"),
    ],
    ids=["space", "non-ascii", "empty", "long-value", "too-many"],
)
def test_bad_attributes_are_refused_and_nothing_is_stored(
    porch: Porch, attributes: dict[str, str | int], code: str
) -> None:
    ws, _ = porch.visitor()
    conversation_id = _conversation(ws)
    send_frame(ws, UpdateVisitor(request_id="u", attributes={"keep": 1}))
    _done(ws, "u")
    send_frame(ws, UpdateVisitor(request_id="bad", attributes=attributes))
    _refused(ws, "bad", code)
    visitor = _details(porch, conversation_id).visitor
    assert visitor is not None and visitor.attributes == {"keep": 1}


def test_the_limit_counts_stored_attributes(porch: Porch) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, UpdateVisitor(request_id="a", attributes={f"k{n}": n for n in range(50)}))
    _done(ws, "a")
    send_frame(ws, UpdateVisitor(request_id="b", attributes={"k0": "changed"}))  # replaces one
    _done(ws, "b")
    send_frame(ws, UpdateVisitor(request_id="c", attributes={"one-more": 1}))
    _refused(ws, "c", "ATTRIBUTE_LIMIT_EXCEEDED")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "visitor.update", "request_id": "n1", "attributes": {"nested": {"a": 1}}},
        {"type": "visitor.update", "request_id": "n1", "attributes": {"list": [1]}},
        {"type": "visitor.event", "request_id": "n1", "name": "ok", "metadata": {"n": None}},
    ],
)
def test_non_scalar_values_are_contains_invalid_value(
    porch: Porch, body: dict[str, object]
) -> None:
    ws, _ = porch.visitor()
    ws.send_text(json.dumps({"v": 1, **body}))
    _refused(ws, "n1", "CONTAINS_INVALID_VALUE")


@pytest.mark.parametrize("name", ["has space", "", "x" * 101, "emoji-🙂", "semi;colon"])
def test_bad_event_names_are_refused(porch: Porch, name: str) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, TrackEvent(request_id="e", name=name))
    _refused(ws, "e", "INVALID_EVENT_NAME")


def test_bad_profile_email_is_refused(porch: Porch) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, UpdateVisitor(request_id="p", profile=VisitorProfile(email="not-an-email")))
    _refused(ws, "p", "CONTAINS_INVALID_VALUE")


def _revoke(porch: Porch, welcome: VisitorWelcome) -> None:
    """Revoke the visitor's session in the database, behind its open socket's back."""

    async def revoke(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, "acme")
        assert app is not None
        visitor = await store.visitor_by_public_id(session, app, welcome.identity.bs)
        assert visitor is not None
        visitor.revoked_at = 1
        await session.commit()

    run_db(porch.settings.database_url, revoke)


def test_a_revoked_visitor_gets_session_expired(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    _revoke(porch, welcome)
    send_frame(ws, TrackEvent(request_id="late", name="x"))
    _refused(ws, "late", "SESSION_EXPIRED")


def test_a_message_from_a_revoked_visitor_gets_session_expired(porch: Porch) -> None:
    """The socket knows its open conversation and sends without reading the visitor first: the
    writer's guard refuses the message and the full path answers."""
    ws, welcome = porch.visitor()
    conversation_id = _conversation(ws)

    async def stored(session: AsyncSession) -> int:
        return len(await store.messages_after(session, conversation_id, 0, 10))

    assert run_db(porch.settings.database_url, stored) == 1
    _revoke(porch, welcome)
    send_frame(ws, SendMessage(client_id="late", text="still there?"))
    assert receive_until(ws, ErrorFrame).code == "SESSION_EXPIRED"
    assert run_db(porch.settings.database_url, stored) == 1


def test_an_unexpected_failure_is_server_error_and_the_socket_stays_up(
    porch: Porch, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = porch.visitor()

    async def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "add_visitor_event", broken)
    send_frame(ws, TrackEvent(request_id="boom", name="x"))
    error = _refused(ws, "boom", "SERVER_ERROR")
    assert "disk on fire" not in error.message  # internals stay in the log
    send_frame(ws, SendMessage(client_id="after", text="still here"))
    assert receive_until(ws, MessageAck).message.text == "still here"


# --- forms --------------------------------------------------------------------------------------


def _set_prechat(porch: Porch, *fields: FormField) -> None:
    async def work(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, "acme")
        assert app is not None
        app.prechat_fields = apps.fields_to_json(fields)
        await session.commit()

    run_db(porch.settings.database_url, work)


_FIELDS = (
    FormField("name", "Your name", "text", required=True),
    FormField("email", "Email", "email", required=True),
    FormField("topic", "Topic", "select", options=("Sales", "Support")),
)


def test_prechat_fills_profile_and_attributes_and_posts_a_message(porch: Porch) -> None:
    _set_prechat(porch, *_FIELDS)
    agent, _ = porch.agent()
    ws, welcome = porch.visitor()
    assert welcome.widget is not None and welcome.widget.prechat_fields == _FIELDS
    answers = (
        FormAnswer("name", "Pia"),
        FormAnswer("email", "pia@example.test"),
        FormAnswer("topic", "Support"),
    )
    send_frame(ws, SubmitPrechat(request_id="p1", answers=answers))
    posted = receive_until(ws, NewMessage).message
    assert posted.event == "prechat" and "Your name: Pia" in posted.text
    _done(ws, "p1")
    summary = receive_until(agent, ConversationUpdated).conversation
    assert (summary.visitor_name, summary.visitor_email) == ("Pia", "pia@example.test")
    visitor = _details(porch, posted.conversation_id).visitor
    assert visitor is not None and visitor.attributes == {"topic": "Support"}


@pytest.mark.parametrize(
    ("answers", "complaint"),
    [
        ((FormAnswer("email", "pia@example.test"),), "name: this field is required"),
        ((FormAnswer("name", "Pia"), FormAnswer("email", "nope")), "not an email"),
        (
            (FormAnswer("name", "P"), FormAnswer("email", "p@e.test"), FormAnswer("topic", "X")),
            "options",
        ),
        ((FormAnswer("name", "P"), FormAnswer("email", "p@e.test"), FormAnswer("x", "1")), "x"),
    ],
    ids=["missing-required", "bad-email", "not-an-option", "unknown-field"],
)
def test_bad_prechat_is_refused(
    porch: Porch, answers: tuple[FormAnswer, ...], complaint: str
) -> None:
    _set_prechat(porch, *_FIELDS)
    ws, welcome = porch.visitor()
    send_frame(ws, SubmitPrechat(request_id="p", answers=answers))
    assert complaint in _refused(ws, "p", "INVALID_FORM").message
    _, again = porch.visitor(identity=welcome.identity)
    assert again.conversation_id is None  # nothing was posted


def test_offline_form_becomes_an_offline_conversation(porch: Porch) -> None:
    agent, _ = porch.agent()
    ws, _ = porch.visitor()
    send_frame(
        ws,
        SubmitOffline(
            request_id="o1",
            name="Olga",
            email="olga@example.test",
            message="Call me back",
            questions=(FormAnswer("phone", "123", "Phone"),),
        ),
    )
    _done(ws, "o1")
    update = receive_until(agent, ConversationUpdated).conversation
    while update.last_message is None or update.last_message.author != "visitor":
        update = receive_until(agent, ConversationUpdated).conversation
    assert update.offline and update.visitor_name == "Olga"
    assert update.last_message.text == "Call me back"
    send_frame(agent, OpenConversation(update.id))
    history = receive_until(agent, ConversationHistory)
    system = history.messages[0]
    assert system.event == "offline_form" and "Phone: 123" in system.text
    assert "Email: olga@example.test" in system.text


@pytest.mark.parametrize(
    ("name", "email", "message"),
    [("", "o@e.test", "hi"), ("Olga", "nope", "hi"), ("Olga", "o@e.test", "  ")],
)
def test_bad_offline_form_is_refused(porch: Porch, name: str, email: str, message: str) -> None:
    ws, welcome = porch.visitor()
    send_frame(ws, SubmitOffline(request_id="o", name=name, email=email, message=message))
    _refused(ws, "o", "INVALID_FORM")
    _, again = porch.visitor(identity=welcome.identity)
    assert again.conversation_id is None


def test_a_tab_follows_a_conversation_and_a_name_another_tab_started(porch: Porch) -> None:
    """Each socket keeps the conversation it last wrote to; when another tab starts a newer one
    (the offline form) or changes the name, the next message goes to the latest conversation,
    signed with the current name."""
    tab1, welcome = porch.visitor()
    first = _conversation(tab1)
    tab2, _ = porch.visitor(identity=welcome.identity)
    porch.clock.advance(1)
    send_frame(
        tab2,
        SubmitOffline(request_id="o", name="Olga", email="olga@example.test", message="Call me"),
    )
    _done(tab2, "o")
    send_frame(tab1, SendMessage(client_id="c2", text="and one more"))
    message = receive_until(tab1, MessageAck).message
    assert message.conversation_id != first and message.author_name == "Olga"
    send_frame(tab2, UpdateVisitor(request_id="u", profile=VisitorProfile(name="Olga B.")))
    _done(tab2, "u")
    send_frame(tab1, SendMessage(client_id="c3", text="me again"))
    again = receive_until(tab1, MessageAck).message
    assert (again.conversation_id, again.author_name) == (message.conversation_id, "Olga B.")


def test_visitor_frames_never_name_another_visitors_conversation(porch: Porch) -> None:
    """Visitors cannot pick a conversation: a conversation_id they send is ignored, so ending
    or reading always acts on their own."""
    victim, _ = porch.visitor()
    victim_conversation = _conversation(victim)
    attacker, _ = porch.visitor()
    attacker_conversation = _conversation(attacker)
    ws_text = json.dumps(
        {"v": 1, "type": "conversation.end", "conversation_id": victim_conversation}
    )
    attacker.send_text(ws_text)
    ended = receive_until(attacker, NewMessage).message
    assert ended.conversation_id == attacker_conversation
    send_frame(victim, SendMessage(client_id="c2", text="still open"))
    ack = receive_frame(victim)
    assert isinstance(ack, MessageAck) and ack.message.conversation_id == victim_conversation
