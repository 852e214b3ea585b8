"""Hostile input found by a probe of main 3bf46c1 (issue 16): a lone surrogate, a profile that
skipped validation, nesting deep enough to overflow the parser's stack. Each test sends what the
attacker sent and checks that the sender gets a clear error and nobody else loses anything."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import (
    APPID,
    ORIGIN,
    Porch,
    expect_error,
    receive_close,
    receive_frame,
    receive_until,
    run_db,
    send_frame,
)
from porch_protocol import (
    CloseCode,
    ConversationHistory,
    ConversationUpdated,
    ErrorFrame,
    FormAnswer,
    MessageAck,
    OpenConversation,
    RequestDone,
    SendMessage,
    SubmitOffline,
    UpdateVisitor,
    VisitorProfile,
    VisitorWelcome,
    encode,
)
from porch_server.storage import store
from porch_server.storage.models import Visitor

#: What the probe sent: the parser recursed 15,000 times before it could see the text never
#: closes (and it fits in a 16 KB HTTP body).
_DEEP = "[" * 15_000


def _conversation(porch: Porch, **hello: object) -> tuple[object, VisitorWelcome, str]:
    ws, welcome = porch.visitor(**hello)
    send_frame(ws, SendMessage(client_id="c1", text="hi"))
    return ws, welcome, receive_until(ws, MessageAck).message.conversation_id


def _stored_visitor(porch: Porch, welcome: VisitorWelcome) -> Visitor:
    async def load(session: AsyncSession) -> Visitor:
        app = await store.app_by_appid(session, APPID)
        assert app is not None
        visitor = await store.visitor_by_public_id(session, app, welcome.identity.bs)
        assert visitor is not None
        return visitor

    return run_db(porch.settings.database_url, load)


# --- 1. a lone surrogate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            '{"v":1,"type":"tags.change","request_id":"t","add":["\\ud800"],"remove":[]}',
            "INVALID_TAGS",
        ),
        (
            '{"v":1,"type":"visitor.update","request_id":"t","attributes":{"plan":"\\udfff"}}',
            "CONTAINS_INVALID_VALUE",
        ),
        (
            '{"v":1,"type":"visitor.event","request_id":"t","name":"x","metadata":{"a":"\\ud83d"}}',
            "CONTAINS_INVALID_VALUE",
        ),
        (
            '{"v":1,"type":"message.send","request_id":"t","client_id":"c","text":"\\ud800"}',
            "bad_field",
        ),
    ],
    ids=["tag", "attribute", "event-metadata", "message"],
)
def test_a_lone_surrogate_is_refused_and_every_console_still_connects(
    porch: Porch, frame: str, code: str
) -> None:
    ws, _, conversation_id = _conversation(porch)
    ws.send_text(frame)  # type: ignore[attr-defined]
    error = receive_until(ws, ErrorFrame)  # type: ignore[arg-type]
    assert (error.code, error.fatal) == (code, False), error
    assert "surrogate" in error.message

    agent, welcome = porch.agent()  # today: closed 1006 while encoding the stored tag
    assert all("\ud800" not in t for c in welcome.conversations for t in c.tags)
    send_frame(agent, OpenConversation(conversation_id))
    assert isinstance(receive_until(agent, ConversationHistory), ConversationHistory)


def test_a_lone_surrogate_already_stored_cannot_break_the_consoles(porch: Porch) -> None:
    """Rows written before the decoder refused them (or by hand) reach agents as U+FFFD."""
    _, welcome, conversation_id = _conversation(porch)

    async def plant(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, APPID)
        assert app is not None
        visitor = await store.visitor_by_public_id(session, app, welcome.identity.bs)
        assert visitor is not None
        # JSON columns keep them as escapes; sqlite3 refuses to bind one as plain text.
        visitor.tags = ["ok", "bad\ud800"]
        visitor.attributes = {"plan": "\ud800"}
        await session.commit()

    run_db(porch.settings.database_url, plant)
    agent, agent_welcome = porch.agent()
    (summary,) = [c for c in agent_welcome.conversations if c.id == conversation_id]
    assert summary.tags == ("ok", "bad\ufffd")
    send_frame(agent, OpenConversation(conversation_id))
    visitor = receive_until(agent, ConversationHistory).visitor
    assert visitor is not None and visitor.attributes == {"plan": "\ufffd"}


def test_a_file_name_that_is_not_utf8_is_refused(porch: Porch) -> None:
    _, welcome = porch.visitor()
    response = porch.client.post(
        "/api/v1/files",
        content=b"plain text",
        headers={
            "authorization": f"Bearer {welcome.upload_token}",
            "x-filename": "notes%ED%A0%80.txt",  # a UTF-8-encoded surrogate
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "bad_name")


# --- 3. one profile validation for every path ---------------------------------------------------

_HOSTILE_PROFILE = VisitorProfile(
    name="N" * 60_000,
    email="not-an-email",
    phone="+1 555\n0100",
    referer="javascript:alert(1)",
    source_title="Pricing",
)


def test_a_hello_stores_only_the_valid_profile_fields(porch: Porch) -> None:
    _, welcome = porch.visitor(profile=_HOSTILE_PROFILE, locale="x" * 5000)
    visitor = _stored_visitor(porch, welcome)
    assert (visitor.name, visitor.email, visitor.phone, visitor.referer) == (None,) * 4
    assert visitor.source_title == "Pricing"
    assert visitor.locale != "x" * 5000


def test_a_hello_keeps_a_valid_profile(porch: Porch) -> None:
    profile = VisitorProfile(
        name="Vic", email="vic@example.test", referer="https://shop.example/a?b=c"
    )
    _, welcome = porch.visitor(profile=profile, locale="pt-BR")
    visitor = _stored_visitor(porch, welcome)
    assert (visitor.name, visitor.email, visitor.referer) == (
        "Vic",
        "vic@example.test",
        "https://shop.example/a?b=c",
    )
    assert visitor.locale == "pt-BR"


@pytest.mark.parametrize(
    "profile",
    [
        VisitorProfile(name="N" * 201),
        VisitorProfile(referer="javascript:alert(1)"),
        VisitorProfile(referer="http://[x"),
        VisitorProfile(nickname="a\x00b"),
    ],
    ids=["long-name", "javascript-referer", "broken-url", "control-character"],
)
def test_an_update_with_a_bad_profile_is_refused(porch: Porch, profile: VisitorProfile) -> None:
    ws, welcome = porch.visitor()
    send_frame(ws, UpdateVisitor(request_id="u", profile=profile))
    assert expect_error(ws, "CONTAINS_INVALID_VALUE").request_id == "u"
    assert _stored_visitor(porch, welcome).name is None


def test_an_offline_form_cannot_store_a_name_the_profile_refuses(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    send_frame(
        ws,
        SubmitOffline(request_id="o", name="N" * 900, email="o@example.test", message="call me"),
    )
    assert "name" in expect_error(ws, "INVALID_FORM").message
    send_frame(
        ws,
        SubmitOffline(
            request_id="o2",
            name="Olga",
            email="o@example.test",
            message="call me",
            questions=(FormAnswer("q", "a"),),
        ),
    )
    assert receive_until(ws, RequestDone).request_id == "o2"
    assert _stored_visitor(porch, welcome).name == "Olga"


def test_thirty_hostile_hellos_keep_an_agents_welcome_small(porch: Porch) -> None:
    """The probe grew an agent's welcome from 4 KB to 3.6 MB with 30 such visitors."""
    for _ in range(30):
        _conversation(porch, profile=_HOSTILE_PROFILE)
    _, welcome = porch.agent()
    assert len(welcome.conversations) == 30
    assert len(encode(welcome)) < 30 * 1024


# --- 4. nesting deep enough to overflow a recursive parser --------------------------------------


def test_a_deep_first_frame_closes_4400(porch: Porch) -> None:
    ws = porch.connect("/ws/visitor")
    ws.send_text(_DEEP)
    assert expect_error(ws, "bad_json", fatal=True)
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_a_deep_frame_after_hello_closes_4400(porch: Porch) -> None:
    ws, _ = porch.visitor()
    ws.send_text(
        '{"v":1,"type":"visitor.event","request_id":"e","name":"n","metadata":' + _DEEP + "}"
    )
    expect_error(ws, "bad_json", fatal=True)
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_a_deep_agent_frame_closes_4400(porch: Porch) -> None:
    agent, _ = porch.agent()
    agent.send_text(_DEEP)
    expect_error(agent, "bad_json", fatal=True)
    assert receive_close(agent) == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("path", ["/api/v1/bootstrap", "/api/v1/agent/login"])
def test_a_deep_http_body_is_a_400(porch: Porch, path: str) -> None:
    response = porch.client.post(
        path, content='{"appid":' + _DEEP + "}", headers={"origin": ORIGIN}
    )
    assert response.status_code == 400, response.text
    assert "nested" in response.json()["message"]


@pytest.mark.parametrize(
    "frame",
    [
        '{"v":1,"type":"visitor.hello","ticket":"t","last_seq":99999999999999999999}',
        '{"v":1,"type":"visitor.hello","ticket":"t","last_seq":NaN}',
    ],
    ids=["integer-past-2**53", "nan"],
)
def test_numbers_no_browser_can_hold_close_the_socket_cleanly(porch: Porch, frame: str) -> None:
    ws = porch.connect("/ws/visitor")
    ws.send_text(frame.replace('"t"', f'"{porch.ticket()}"'))
    assert isinstance(receive_frame(ws), ErrorFrame)
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_the_console_sees_the_visitor_it_can_render(porch: Porch) -> None:
    agent, _ = porch.agent()
    _conversation(porch, profile=_HOSTILE_PROFILE)
    summary = receive_until(agent, ConversationUpdated).conversation
    assert summary.visitor_name is None and summary.visitor_email is None
