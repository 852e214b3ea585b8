"""Every public event of window.TWTChatWidget, in real Chromium against the real server (issue 3).

Lifecycle events, in the order a page sees them (docs/host-api.md keeps the same list)
----------------------------------------------------------------------------------------

1. ``initialized`` (no payload): ``init()`` completed; ``get()`` works from here on. It comes
   before any effect of a call the page queued earlier (those are applied right after it, in the
   order they were made).
2. ``iframe_loaded`` ``{surface: "launcher"}``: the launcher document loaded (not with
   ``launcher: 'custom'``). ``iframe_loaded`` ``{surface: "panel"}`` follows whenever the panel
   iframe loads (on intent, ``maximize`` or eager loading). ``iframe_loaded`` is diagnostic: with
   the default ``loading: 'intent'`` the launcher's comes before ``bridge_ready`` (the panel only
   loads once the visitor reaches for the launcher), but with ``loading: 'eager'`` both surfaces
   load in parallel and neither ``iframe_loaded`` has a fixed place after ``initialized``.
3. ``bridge_ready`` (no payload): the panel answered the bridge handshake; commands reach it.
4. ``runtime_mounted`` (no payload): the Python runtime started in its worker.
5. ``connection_state_changed`` ``{status: "connecting"}``, then ``{status: "connected"}``
   followed by ``session_connected`` ``{status: "connected"}`` when the socket opens.
6. ``visitor_auth_ready`` ``{bs, bs_mm, fk_id, fkid, hasToken, source, visitorUid}``: the server
   accepted the visitor; ``source`` is ``"initial"`` when the stored identity was kept and
   ``"resolved"`` when the server issued one. core.js stores ``bs``/``bs_mm`` in the host's
   localStorage (``twt:<appid>:visitor``) before the page's handlers run.
7. ``runtime_activated`` (no payload): first activation done, the conversation is loaded.
   It fires once per runtime; reconnects repeat 5-6 but not 7.
8. ``unread_count_changed`` ``{count}`` if the visitor has unread agent messages, once the panel
   has rendered them (the count never includes what the visitor has not been shown).
9. ``destroyed`` (no payload): after ``call('destroy')``, once every iframe and host-side
   listener is gone. A later ``init()`` starts again at 1.

``bootstrap_failed`` replaces everything after the failing step: core.js hides the widget
(``visibility_changed`` ``{visibility: "hidden"}`` if it was visible), removes its iframes, then
emits ``bootstrap_failed`` ``{reason, source, mode: "embedded"}``. ``auth_closed`` likewise hides
first (``visibility_changed`` hidden) and then tells the page.

Tests here boot the runtime only where the event needs it; every failure mode that core.js can
produce without Python is tested without it.
"""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

from conftest import (
    LAUNCHER,
    PANEL,
    AgentClient,
    PorchServer,
    events,
    open_chat,
    send_from_panel,
    wait_for_event,
    wait_for_status,
)
from host_pages import Host, block_runtime
from porch_protocol import (
    CloseCode,
    EndConversation,
    MessageAck,
    NewMessage,
    RevokeVisitor,
    SendMessage,
)

AUTH_FIELDS = {"bs", "bs_mm", "fk_id", "fkid", "hasToken", "source", "visitorUid"}
AUTH_CLOSED_FIELDS = {
    "message", "reason", "source", "clearToken", "closeAuthType", "closeCode", "terminal"}


def sequence(page: Page) -> list[tuple[str, Any]]:
    """Recorded events as (name, payload), leaving out the diagnostic iframe_loaded and
    visitor_auth_ready's payload (both checked separately)."""
    return [
        (e["name"], None if e["name"] == "visitor_auth_ready" else e["payload"])
        for e in events(page)
        if e["name"] != "iframe_loaded"
    ]


def test_lifecycle_order_with_eager_loading_a_server_restart_and_destroy(
    page: Page, porch_server: PorchServer
) -> None:
    host = Host(page, porch_server)
    url = host.goto({"appid": "porch-demo", "loading": "eager"}, title="Lifecycle host page")
    # Eager: the runtime boots with no click, and the widget stays minimized.
    wait_for_event(page, "runtime_activated")
    assert sequence(page) == [
        ("initialized", None),
        ("bridge_ready", None),
        ("runtime_mounted", None),
        ("connection_state_changed", {"status": "connecting"}),
        ("connection_state_changed", {"status": "connected"}),
        ("session_connected", {"status": "connected"}),
        ("visitor_auth_ready", None),
        ("runtime_activated", None),
    ]
    loaded = [e["payload"] for e in events(page, "iframe_loaded")]
    assert sorted(loaded, key=str) == [{"surface": "launcher"}, {"surface": "panel"}]
    assert events(page)[0]["name"] == "initialized"
    expect(page.locator(PANEL)).to_be_hidden()
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "minimized"}

    auth = events(page, "visitor_auth_ready")[0]["payload"]
    assert set(auth) == AUTH_FIELDS
    assert auth["hasToken"] is True and auth["source"] == "resolved"
    assert all(isinstance(auth[k], str) and auth[k] for k in AUTH_FIELDS - {"hasToken"})
    assert auth["fk_id"] == auth["fkid"] and auth["visitorUid"] != auth["fkid"]
    stored = page.evaluate("JSON.parse(localStorage.getItem('twt:porch-demo:visitor'))")
    assert stored == {"bs": auth["bs"], "bs_mm": auth["bs_mm"]}
    # referer and source_title default to the page's URL and title, and reach the server.
    visitor = host.visitor(auth["visitorUid"])
    assert (visitor["referer"], visitor["source_title"]) == (url, "Lifecycle host page")
    assert str(visitor["id"]) == auth["fkid"] and visitor["public_id"] == auth["bs"]

    # The real server goes away and comes back: disconnected -> reconnecting -> connected.
    mark = len(sequence(page))
    porch_server.stop()
    assert wait_for_event(page, "session_disconnected")["payload"] == {"status": "reconnecting"}
    wait_for_status(page, "reconnecting")
    porch_server.start()
    wait_for_event(page, "session_connected", count=2)
    wait_for_event(page, "visitor_auth_ready", count=2)
    wait_for_status(page, "connected")
    after = sequence(page)[mark:]
    statuses = [p["status"] for n, p in after if n == "connection_state_changed"]
    assert statuses == ["reconnecting", "connected"], after
    assert [n for n, _ in after] == [
        "connection_state_changed", "session_disconnected", "connection_state_changed",
        "session_connected", "visitor_auth_ready"]
    assert events(page, "visitor_auth_ready")[-1]["payload"]["source"] == "initial"
    assert events(page, "visitor_auth_ready")[-1]["payload"]["bs"] == auth["bs"]
    assert len(events(page, "runtime_activated")) == 1

    page.evaluate("TWTChatWidget.call('destroy')")
    assert events(page)[-1]["name"] == "destroyed"
    expect(page.locator("iframe")).to_have_count(0)


def test_a_returning_visitor_keeps_its_identity_counts_unread_and_is_hidden_when_revoked(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo"})
    assert page.evaluate("TWTChatWidget.get('unread_count')") == 0
    open_chat(page)
    first = events(page, "visitor_auth_ready")[0]["payload"]
    assert first["source"] == "resolved"
    send_from_panel(page, "Is the blue one in stock?")
    sent = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    conversation_id = sent.message.conversation_id

    # A reload: the identity comes back from the host's localStorage, and a returning visitor
    # with a conversation boots on idle without a click, staying minimized.
    page.reload()
    wait_for_event(page, "runtime_activated")
    again = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert again["source"] == "initial"
    assert (again["bs"], again["visitorUid"]) == (first["bs"], first["visitorUid"])
    assert page.evaluate("TWTChatWidget.get('state').visibility") == "minimized"
    assert events(page, "unread_count_changed") == []
    assert page.evaluate("TWTChatWidget.get('unread_count')") == 0

    agent.send(SendMessage(client_id="a-1", text="Yes, two left.", conversation_id=conversation_id))
    agent.wait_for(lambda f: isinstance(f, MessageAck))
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    assert page.evaluate("TWTChatWidget.get('unread_count')") == 1
    expect(page.frame_locator(LAUNCHER).locator("#badge")).to_have_text("1")

    # The site revokes the visitor: hidden first, then auth_closed, identity forgotten.
    page.evaluate("""() => TWTChatWidget.on("auth_closed", () => {
      window.__atAuthClosed = {
        visibility: TWTChatWidget.get("state").visibility,
        stored: localStorage.getItem("twt:porch-demo:visitor"),
      };
    })""")
    agent.send(RevokeVisitor(conversation_id=conversation_id))
    closed = wait_for_event(page, "auth_closed")["payload"]
    assert set(closed) == AUTH_CLOSED_FIELDS
    assert closed == {
        "message": "This chat session was closed by the site.", "reason": "revoked_by_agent",
        "source": "websocket", "clearToken": True, "closeAuthType": "revoked",
        "closeCode": int(CloseCode.AUTH_CLOSED), "terminal": "web"}
    assert page.evaluate("window.__atAuthClosed") == {"visibility": "hidden", "stored": None}
    assert events(page, "visibility_changed")[-1]["payload"] == {"visibility": "hidden"}
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "hidden"}
    expect(page.locator(LAUNCHER)).to_be_hidden()
    expect(page.locator(LAUNCHER)).to_have_count(1)  # hidden, not destroyed
    wait_for_status(page, "disconnected")


def test_a_domain_not_on_the_apps_list_is_refused_by_the_server(
    page: Page, porch_server: PorchServer
) -> None:
    appid = f"elsewhere-{uuid.uuid4().hex[:8]}"
    porch_server.cli(
        "app", "create", "--appid", appid, "--name", "Elsewhere", "--domain", "example.com")
    host = Host(page, porch_server)
    with page.expect_response("**/api/v1/bootstrap") as response:
        host.goto({"appid": appid})
    assert response.value.status == 403
    failed = wait_for_event(page, "bootstrap_failed")
    assert failed["payload"] == {
        "reason": "domain_not_whitelisted", "source": "http", "mode": "embedded"}
    expect(page.locator("iframe")).to_have_count(0)
    host.wait_for_console("bootstrap refused", "not on the allowed domains")
    # A failed widget ignores calls, loudly, until init() tries again.
    page.evaluate("TWTChatWidget.call('maximize')")
    host.wait_for_console("call('maximize') ignored: the widget failed to start")
    assert page.locator("iframe").count() == 0


def test_a_runtime_that_does_not_start_in_time_fails_with_timeout_and_is_cleaned_up(
    page: Page, porch_server: PorchServer
) -> None:
    block_runtime(page)  # Pyodide never arrives
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo", "bootTimeout": 1500})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(page.locator(PANEL)).to_be_visible()  # the shell shows at once
    failed = wait_for_event(page, "bootstrap_failed", timeout=15_000)
    assert failed["payload"] == {"reason": "timeout", "source": "runtime", "mode": "embedded"}
    expect(page.locator("iframe")).to_have_count(0)
    assert [e["payload"]["visibility"] for e in events(page, "visibility_changed")] == [
        "maximized", "hidden"]
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "hidden"}
    names = [e["name"] for e in events(page)]
    assert names[-2:] == ["visibility_changed", "bootstrap_failed"]
    assert "runtime_mounted" not in names


#: Porch's conversation events (docs/host-api.md, "Conversation events"): the recorder above
#: keeps only the specification's, so this test listens to these itself, as a page would (through
#: the snippet's queueing stub, before core.js loads).
CONVERSATION_EVENTS = [
    "page_status_changed", "chat_started", "chat_message", "agent_joined", "agent_left",
    "chat_ended", "chat_rated", "tags_updated"]
CONVERSATION_RECORDER = """
(() => {
  window.__conversation = [];
  for (const name of %s) {
    window.TWTChatWidget.on(name, (payload) => window.__conversation.push({ name, payload }));
  }
})();
""".replace("%s", repr(CONVERSATION_EVENTS))


def test_a_chat_with_an_agent_reaches_the_page_as_conversation_events(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    host = Host(page, porch_server)  # its recorder makes the TWTChatWidget stub first
    page.add_init_script(CONVERSATION_RECORDER)
    host.goto({"appid": "porch-demo", "name": "Ada"})

    def recorded() -> list[tuple[str, Any]]:
        return [(e["name"], e["payload"]) for e in page.evaluate("window.__conversation")]

    def wait_for(name: str, count: int = 1) -> list[tuple[str, Any]]:
        page.wait_for_function(
            "([name, count]) => window.__conversation.filter(e => e.name === name).length"
            " >= count", arg=[name, count], timeout=30_000)
        return recorded()

    open_chat(page)
    send_from_panel(page, "Is the blue one in stock?")
    sent = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    conversation_id = sent.message.conversation_id
    wait_for("chat_message")
    agent.send(SendMessage(client_id="a-1", text="Yes, two left.", conversation_id=conversation_id))
    agent.wait_for(lambda f: isinstance(f, MessageAck))
    wait_for("chat_message", count=3)  # the agent's join notice, then their reply
    agent.send(EndConversation(conversation_id=conversation_id))

    ann = {"id": agent.welcome.agent_id, "name": agent.welcome.agent_name}

    def said(author: str, seq: int, text: str, name: str, event: str | None) -> tuple[str, Any]:
        return ("chat_message", {"author": author, "conversation_id": conversation_id,
                                 "seq": seq, "text": text, "name": name, "event": event})

    assert wait_for("chat_ended") == [
        ("page_status_changed", {"status": "online"}),
        ("chat_started", {"conversation_id": conversation_id}),
        said("visitor", 1, "Is the blue one in stock?", "Ada", None),
        said("system", 2, f"{ann['name']} joined the chat", "", "agent_joined"),
        ("agent_joined", {**ann, "position": "", "image": ""}),
        said("agent", 3, "Yes, two left.", ann["name"], None),
        said("system", 4, "The chat ended", "", "chat_ended"),
        ("chat_ended", {"conversation_id": conversation_id, "by": "agent"}),
    ]
    # After a reload the same chat is history: only the page status is told again.
    page.reload()
    wait_for_event(page, "runtime_activated")
    assert recorded() == [("page_status_changed", {"status": "online"})]
