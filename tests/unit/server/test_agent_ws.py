"""``/ws/agent``: hello, listing, history, replies reaching the visitor, reads, revoke, and the
admin's editing of the app's tawk.to widgets."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import WebSocketTestSession

from conftest import (
    ADMIN_EMAIL,
    APPID,
    ORIGIN,
    SECRET,
    Porch,
    expect_error,
    receive_close,
    receive_frame,
    receive_until,
    run_db,
    seed_app,
    send_frame,
)
from porch_protocol import (
    AgentHello,
    AppSettings,
    AppUpdated,
    AuthClosed,
    BusinessLogin,
    CloseCode,
    ConversationHistory,
    ConversationUpdated,
    EndConversation,
    ErrorFrame,
    MessageAck,
    NewMessage,
    OpenConversation,
    ReadUpTo,
    RequestDone,
    RevokeVisitor,
    SendMessage,
    TawkWidgetSettings,
    UpdateApp,
    VisitorHello,
)
from porch_server.rules.properties import WidgetSettings
from porch_server.rules.security import AGENT_SESSION_TTL_MS, token_hash
from porch_server.rules.signing import sign_business_user
from porch_server.storage import store
from porch_server.storage.models import AgentSession


def _visitor_message(porch: Porch, text: str = "hi") -> tuple[WebSocketTestSession, str]:
    """A visitor socket that has posted one message; returns it and its conversation id."""
    ws, _ = porch.visitor()
    send_frame(ws, SendMessage(client_id="v1", text=text))
    ack = receive_frame(ws)
    assert isinstance(ack, MessageAck)
    return ws, ack.message.conversation_id


def test_bad_token_is_unauthorized(porch: Porch) -> None:
    ws = porch.connect("/ws/agent")
    send_frame(ws, AgentHello(token="not-a-token"))
    expect_error(ws, "unauthorized", fatal=True)
    assert receive_close(ws) == CloseCode.UNAUTHORIZED


def test_expired_token_is_unauthorized(porch: Porch) -> None:
    token = porch.login()
    porch.clock.advance(AGENT_SESSION_TTL_MS / 1000 + 1)
    ws = porch.connect("/ws/agent")
    send_frame(ws, AgentHello(token=token))
    expect_error(ws, "unauthorized", fatal=True)
    assert receive_close(ws) == CloseCode.UNAUTHORIZED


def test_welcome_lists_conversations_newest_first(porch: Porch) -> None:
    _, older = _visitor_message(porch, "first")
    porch.clock.advance(5)
    _, newer = _visitor_message(porch, "second")
    _, welcome = porch.agent()
    assert welcome.agent_name == "Ann" and welcome.agent_id.isdigit()
    assert [c.id for c in welcome.conversations] == [newer, older]
    top = welcome.conversations[0]
    assert top.last_message is not None and top.last_message.text == "second"
    assert (top.last_seq, top.agent_read_seq, top.closed) == (1, 0, False)


def test_agents_see_only_their_own_apps_conversations(porch: Porch) -> None:
    _, conversation_id = _visitor_message(porch)
    seed_app(porch.settings.database_url, appid="other", secret=SECRET, agent_email="o@o.test")
    other, welcome = porch.agent(email="o@o.test")
    assert welcome.conversations == ()
    send_frame(other, OpenConversation(conversation_id=conversation_id))
    expect_error(other, "not_found")
    send_frame(other, SendMessage(client_id="x", text="hi", conversation_id=conversation_id))
    expect_error(other, "not_found")
    send_frame(other, RevokeVisitor(conversation_id=conversation_id))
    expect_error(other, "not_found")


def test_open_returns_history(porch: Porch) -> None:
    _, conversation_id = _visitor_message(porch, "hello there")
    agent, _ = porch.agent()
    send_frame(agent, OpenConversation(conversation_id=conversation_id))
    history = receive_frame(agent)
    assert isinstance(history, ConversationHistory)
    assert [(m.seq, m.author, m.text) for m in history.messages] == [(1, "visitor", "hello there")]


def test_reply_reaches_every_visitor_tab_and_other_agents(porch: Porch) -> None:
    tab1, conversation_id = _visitor_message(porch)
    agent, _ = porch.agent()
    colleague, _ = porch.agent()
    send_frame(
        agent, SendMessage(client_id="a1", text="How can I help?", conversation_id=conversation_id)
    )
    # The first reply claims the conversation: an agent_joined message comes first.
    joined = receive_until(tab1, NewMessage).message
    assert (joined.seq, joined.author, joined.event) == (2, "system", "agent_joined")
    assert joined.agent is not None and joined.agent.name == "Ann"
    # The sender's ack comes after the reply's summary: an acknowledged message was published.
    joined_summary = receive_until(agent, ConversationUpdated).conversation
    assert joined_summary.agent_ids == (welcome_agent_id(porch),)
    reply_update = receive_until(agent, ConversationUpdated)
    ack = receive_until(agent, MessageAck)
    assert (ack.message.author, ack.message.author_name, ack.message.seq) == ("agent", "Ann", 3)
    assert receive_frame(tab1) == NewMessage(ack.message)
    # (receive_until: the colleague may also hear the agent's own presence, depending on timing)
    # Consoles get each message's summary before the message itself.
    joined_update = receive_until(colleague, ConversationUpdated)
    assert joined_update.conversation.agent_ids == (welcome_agent_id(porch),)
    assert receive_frame(colleague) == NewMessage(joined)
    assert receive_frame(colleague) == reply_update  # the summary the sender had
    assert receive_frame(colleague) == NewMessage(ack.message)
    # Idempotent for agents too.
    send_frame(
        agent, SendMessage(client_id="a1", text="How can I help?", conversation_id=conversation_id)
    )
    assert receive_frame(agent) == ack


def welcome_agent_id(porch: Porch) -> str:
    return porch.agent()[1].agent_id


def test_agent_send_without_conversation_is_bad_message(porch: Porch) -> None:
    agent, _ = porch.agent()
    send_frame(agent, SendMessage(client_id="a1", text="hi"))
    expect_error(agent, "bad_message")


def test_agent_read_updates_summary(porch: Porch) -> None:
    _, conversation_id = _visitor_message(porch)
    agent, _ = porch.agent()
    send_frame(agent, ReadUpTo(seq=1, conversation_id=conversation_id))
    update = receive_frame(agent)
    assert isinstance(update, ConversationUpdated)
    assert update.conversation.agent_read_seq == 1
    _, welcome = porch.agent()
    assert welcome.conversations[0].agent_read_seq == 1


def test_revoke_closes_every_tab_with_auth_closed(porch: Porch) -> None:
    tab1, welcome = porch.visitor()
    send_frame(tab1, SendMessage(client_id="v1", text="spam"))
    conversation_id = receive_until(tab1, MessageAck).message.conversation_id
    tab2, _ = porch.visitor(identity=welcome.identity)
    agent, _ = porch.agent()
    send_frame(agent, RevokeVisitor(conversation_id=conversation_id, reason="abuse"))
    for tab in (tab1, tab2):
        closed = receive_until(tab, AuthClosed)
        assert closed == AuthClosed(
            reason="abuse",
            message="This chat session was closed by the site.",
            close_auth_type="revoked",
            clear_token=True,
        )
        assert receive_close(tab) == CloseCode.AUTH_CLOSED
    update = receive_frame(agent)
    assert isinstance(update, ConversationUpdated) and update.conversation.closed
    # The revoked identity no longer resumes or restores.
    assert porch.bootstrap(identity=welcome.identity)["resume"] is False
    _, fresh = porch.visitor(identity=welcome.identity)
    assert (fresh.source, fresh.conversation_id) == ("resolved", None)
    assert fresh.visitor_uid != welcome.visitor_uid


def test_revoked_business_user_gets_a_fresh_visitor_on_next_login(porch: Porch) -> None:
    def signed(letter: str) -> BusinessLogin:
        ranstr = f"{int(porch.clock.now)}.{letter * 16}"
        return BusinessLogin(
            sbs="u1", ranstr=ranstr, sbs_mm=sign_business_user(SECRET, "u1", ranstr)
        )

    ws, first = porch.visitor(login=signed("n"))
    send_frame(ws, SendMessage(client_id="v1", text="hi"))
    conversation_id = receive_until(ws, MessageAck).message.conversation_id
    agent, _ = porch.agent()
    send_frame(agent, RevokeVisitor(conversation_id=conversation_id))
    assert receive_until(ws, AuthClosed).clear_token
    # The used login cannot bring the revoked visitor back, not even with its identity...
    ws = porch.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=porch.ticket(), login=signed("n"), identity=first.identity))
    expect_error(ws, "login_failed", fatal=True)
    # ...a new one from the site vouches for the user again: a fresh visitor,
    _, again = porch.visitor(login=signed("m"), identity=first.identity)
    assert again.source == "resolved" and again.visitor_uid != first.visitor_uid
    # which a reload presenting that login again with its new identity keeps.
    _, same = porch.visitor(login=signed("m"), identity=again.identity)
    assert (same.source, same.visitor_uid) == ("initial", again.visitor_uid)


def test_visitor_hello_on_agent_socket_is_protocol_error(porch: Porch) -> None:
    ws = porch.connect("/ws/agent")
    send_frame(ws, VisitorHello(ticket="t"))
    expect_error(ws, "unexpected_type", fatal=True)
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_bad_field_on_agent_socket_is_non_fatal(porch: Porch) -> None:
    _, conversation_id = _visitor_message(porch)
    agent, _ = porch.agent()
    agent.send_text('{"v": 1, "type": "conversation.open", "conversation_id": 3}')
    expect_error(agent, "bad_field")
    send_frame(agent, OpenConversation(conversation_id=conversation_id))
    assert isinstance(receive_frame(agent), ConversationHistory)


def test_login_session_is_stored_hashed(porch: Porch) -> None:
    token = porch.login()

    async def hashes(session: AsyncSession) -> list[str]:

        return list(await session.scalars(select(AgentSession.token_hash)))

    stored = run_db(porch.settings.database_url, hashes)
    assert token not in stored
    assert token_hash(token) in stored


def test_agent_resends_return_the_stored_reply_even_after_the_end(porch: Porch) -> None:
    """A joined agent's reply is deduped by the writer alone; after the end, a resend still
    returns the stored reply while a new one is refused."""
    _, conversation_id = _visitor_message(porch)
    ann, _ = porch.agent()
    send_frame(ann, SendMessage("a1", "first reply", conversation_id=conversation_id))
    first = receive_until(ann, MessageAck).message  # joins the chat first (agent_joined)
    send_frame(ann, SendMessage("a1", "first reply", conversation_id=conversation_id))
    assert receive_until(ann, MessageAck).message == first  # joined: no lookup, the writer's
    send_frame(ann, EndConversation(conversation_id))
    send_frame(ann, SendMessage("a1", "first reply", conversation_id=conversation_id))
    assert receive_until(ann, MessageAck).message == first
    send_frame(ann, SendMessage("a2", "too late", conversation_id=conversation_id))
    assert receive_until(ann, ErrorFrame).code == "conversation_ended"


def test_another_apps_agent_never_gets_a_reply_back_by_its_client_id(porch: Porch) -> None:
    """An agent's reply goes to the writer unread (the fast path); a resend is answered from the
    stored message only within the agent's own app."""
    _, conversation_id = _visitor_message(porch)
    ann, _ = porch.agent()
    send_frame(ann, SendMessage("r1", "first reply", conversation_id=conversation_id))
    receive_until(ann, MessageAck)
    seed_app(porch.settings.database_url, appid="other", secret=SECRET, agent_email="o@o.test")
    other, _ = porch.agent(email="o@o.test")
    send_frame(other, SendMessage("r1", "first reply", conversation_id=conversation_id))
    assert receive_until(other, ErrorFrame).code == "not_found"
    send_frame(ann, SendMessage("r2", "second", conversation_id=conversation_id))
    assert receive_until(ann, MessageAck).message.seq == 4  # visitor's, joined, r1, r2


# --- app.update: the app's tawk.to widgets --------------------------------------------------------

PROPERTY = "64f0d3e3c0ffee00000000aa"
EMPTY_PROPERTY = "64f0d3e3c0ffee00000000bb"
FOREIGN_PROPERTY = "64f0d3e3c0ffee00000000cc"
DEFAULT = TawkWidgetSettings(PROPERTY, "default", "de", "tl", "#112233", "Hallo!")
SECOND = TawkWidgetSettings(PROPERTY, "1abcdefghi", "en", "br", "#2563eb", "")


@pytest.fixture
def widgets(porch: Porch) -> Porch:
    """``porch`` whose app acme has PROPERTY with widgets DEFAULT and SECOND and the widgetless
    EMPTY_PROPERTY; another app owns FOREIGN_PROPERTY (with a widget)."""
    seed_app(porch.settings.database_url, appid="other", agent_email=None)

    async def work(session: AsyncSession) -> None:
        acme = await store.app_by_appid(session, APPID)
        other = await store.app_by_appid(session, "other")
        assert acme is not None and other is not None
        prop = await store.create_tawk_property(session, acme, PROPERTY, 0)
        for w in (DEFAULT, SECOND):
            settings = WidgetSettings(w.language, w.position, w.colour, w.greeting)
            await store.create_tawk_widget(session, prop, w.widget_id, settings, 0)
        await store.create_tawk_property(session, acme, EMPTY_PROPERTY, 0)
        foreign = await store.create_tawk_property(session, other, FOREIGN_PROPERTY, 0)
        await store.create_tawk_widget(session, foreign, "default", WidgetSettings(), 0)
        await session.commit()

    run_db(porch.settings.database_url, work)
    return porch


def _widget_boot(porch: Porch, property_id: str, widget_id: str) -> Any:
    """The bootstrap answer for a tawk.to widget: its JSON (``widget`` holds the settings) or,
    for an unknown widget, the status code."""
    response = porch.client.post(
        "/api/v1/bootstrap",
        content=json.dumps({"property_id": property_id, "widget_id": widget_id}),
        headers={"content-type": "text/plain", "origin": ORIGIN},
    )
    return response.json() if response.status_code == 200 else response.status_code


def _update(porch: Porch, app: AppSettings, request_id: str = "u1") -> Any:
    """Send ``app.update`` as the admin; the frame that answers it (RequestDone or ErrorFrame)."""
    boss, _ = porch.agent(email=ADMIN_EMAIL)
    send_frame(boss, UpdateApp(request_id=request_id, app=app))
    while True:  # skip what else reaches an admin meanwhile (a colleague's presence)
        frame = receive_frame(boss)
        if isinstance(frame, RequestDone | ErrorFrame) and frame.request_id == request_id:
            return frame


def test_an_admin_sees_the_apps_widgets_and_properties_but_no_other_apps(widgets: Porch) -> None:
    _, welcome = widgets.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    # Ordered by property, then widget id.
    assert welcome.app.tawk_widgets == (SECOND, DEFAULT)
    assert welcome.app.tawk_properties == (PROPERTY, EMPTY_PROPERTY)
    _, agent_welcome = widgets.agent()
    assert agent_welcome.app is None  # agents do not edit the app


def test_an_admin_adds_edits_and_deletes_widgets_in_one_update(widgets: Porch) -> None:
    boss, welcome = widgets.agent(email=ADMIN_EMAIL)
    other_boss, _ = widgets.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    edited = replace(DEFAULT, colour="#ABCDEF", greeting="Moin!", language="zh_CN")
    added = TawkWidgetSettings(EMPTY_PROPERTY, "shop", "fr", "cl", "#00ff00", "Bonjour")
    wanted = replace(welcome.app, tawk_widgets=(edited, added))  # SECOND left out
    send_frame(boss, UpdateApp(request_id="u1", app=wanted))
    assert receive_until(boss, RequestDone) == RequestDone("u1")
    # Cleaned by the CLI's rules, and every admin console hears it.
    cleaned = replace(edited, colour="#abcdef", language="zh-cn")
    updated = receive_until(other_boss, AppUpdated).app
    assert updated.tawk_widgets == (cleaned, added)
    assert updated.tawk_properties == (PROPERTY, EMPTY_PROPERTY)  # SECOND's property stays

    answer = _widget_boot(widgets, PROPERTY, "default")
    assert answer["appid"] == APPID
    assert answer["widget"] == {
        "property_id": PROPERTY,
        "widget_id": "default",
        "language": "zh-cn",
        "position": "tl",
        "colour": "#abcdef",
        "greeting": "Moin!",
    }
    assert _widget_boot(widgets, EMPTY_PROPERTY, "shop")["widget"]["greeting"] == "Bonjour"
    assert _widget_boot(widgets, PROPERTY, SECOND.widget_id) == 404
    assert _widget_boot(widgets, FOREIGN_PROPERTY, "default")["appid"] == "other"  # untouched


def test_an_update_without_widgets_deletes_them_and_keeps_the_properties(widgets: Porch) -> None:
    _, welcome = widgets.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    assert _update(widgets, replace(welcome.app, tawk_widgets=())) == RequestDone("u1")
    _, again = widgets.agent(email=ADMIN_EMAIL)
    assert again.app is not None
    assert (again.app.tawk_widgets, again.app.tawk_properties) == ((), (PROPERTY, EMPTY_PROPERTY))


def test_an_update_from_before_widgets_leaves_them_alone(widgets: Porch) -> None:
    """A console tab loaded before an upgrade (or an older API client) sends no widgets: saving
    its other settings must not delete the app's embeds."""
    _, welcome = widgets.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    older = replace(welcome.app, name="Renamed", tawk_widgets=None)
    assert _update(widgets, older) == RequestDone("u1")
    _, again = widgets.agent(email=ADMIN_EMAIL)
    assert again.app is not None
    assert (again.app.name, again.app.tawk_widgets) == ("Renamed", (SECOND, DEFAULT))


@pytest.mark.parametrize(
    ("widget", "complaint"),
    [
        (replace(DEFAULT, property_id=FOREIGN_PROPERTY), "is not one of this app's"),
        (replace(DEFAULT, property_id="64f0d3e3c0ffee00000000dd"), "is not one of this app's"),
        (replace(DEFAULT, property_id="64F0D3E3C0FFEE00000000AA"), "24 lowercase hex"),
        (replace(DEFAULT, widget_id="no/slash"), "widget id"),
        (replace(DEFAULT, language="xx"), "language: 'xx'"),
        (replace(DEFAULT, position="middle"), "position: 'middle'"),
        (replace(DEFAULT, colour="red"), "colour: 'red'"),
        (replace(DEFAULT, greeting="x" * 501), "greeting"),
        (replace(DEFAULT, greeting="bell\x07"), "control characters"),
        (SECOND, "listed twice"),
    ],
)
def test_a_bad_or_foreign_widget_is_refused_and_nothing_changes(
    widgets: Porch, widget: TawkWidgetSettings, complaint: str
) -> None:
    _, welcome = widgets.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    # Every other setting valid and changed: none of it may be saved either.
    wanted = replace(
        welcome.app,
        name="Renamed",
        tawk_widgets=(replace(SECOND, greeting="changed"), widget),
    )
    error = _update(widgets, wanted, "bad")
    assert isinstance(error, ErrorFrame)
    assert (error.code, error.request_id) == ("invalid_app", "bad")
    assert complaint in error.message
    assert "tawk_widgets, line 2" in error.message  # the console's line number
    _, again = widgets.agent(email=ADMIN_EMAIL)
    assert again.app == welcome.app
    assert _widget_boot(widgets, FOREIGN_PROPERTY, "default")["widget"]["colour"] == "#2563eb"
