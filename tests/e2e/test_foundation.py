"""The first complete path through Porch, in real Chromium against a real server process."""

from __future__ import annotations

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
)
from porch_protocol import MessageAck, NewMessage, SendMessage

LIFECYCLE_ORDER = [
    "initialized",
    "iframe_loaded",
    "bridge_ready",
    "runtime_mounted",
    "session_connected",
    "visitor_auth_ready",
    "runtime_activated",
]


def test_launcher_shows_without_python_and_nothing_heavy_loads_before_intent(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "iframe_loaded")
    launcher = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    page.wait_for_load_state("networkidle")
    heavy = [u for u in requested if "pyodide" in u or "panel" in u or "porch_runtime" in u]
    assert heavy == []
    assert page.locator(PANEL).count() == 0
    assert [e["payload"] for e in events(page, "iframe_loaded")] == [{"surface": "launcher"}]


def test_lifecycle_events_fire_in_order_with_the_spec_payloads(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    # An agent is online, so the panel offers the composer (not the offline form).
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    open_chat(page)
    names = [e["name"] for e in events(page)]
    firsts = [names.index(n) for n in LIFECYCLE_ORDER]
    assert firsts == sorted(firsts), names
    assert [e["payload"]["status"] for e in events(page, "connection_state_changed")] == [
        "connecting",
        "connected",
    ]
    assert events(page, "visibility_changed")[0]["payload"] == {"visibility": "maximized"}
    auth = events(page, "visitor_auth_ready")[0]["payload"]
    assert set(auth) == {"bs", "bs_mm", "fk_id", "fkid", "hasToken", "source", "visitorUid"}
    assert auth["hasToken"] is True and auth["source"] == "resolved"
    assert auth["fk_id"] == auth["fkid"] and auth["visitorUid"] != auth["fk_id"]
    for name in ("initialized", "bridge_ready", "runtime_mounted", "runtime_activated"):
        assert events(page, name)[0]["payload"] is None
    assert (
        page.frame_locator(PANEL)
        .locator("#composer-text")
        .evaluate("el => el === document.activeElement")
    )


def test_visitor_and_agent_chat_in_real_time_and_nothing_acknowledged_is_lost(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    open_chat(page)
    panel = page.frame_locator(PANEL)

    send_from_panel(page, "Do you ship to Lisbon? <b>fast</b>")
    update = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    assert update.message.text == "Do you ship to Lisbon? <b>fast</b>"
    conversation_id = update.message.conversation_id
    expect(panel.locator('.message[data-author="visitor"][data-state="sent"]')).to_have_count(1)

    page.frame_locator(LAUNCHER).locator("#launcher").click()  # minimize
    # Once the host has it, the panel has been told, ahead of any reply rendered after this.
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"
    }
    agent.send(
        SendMessage(client_id="a-1", text="Yes, in 2 days.", conversation_id=conversation_id)
    )
    assert isinstance(agent.wait_for(lambda f: isinstance(f, MessageAck)), MessageAck)
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    assert page.evaluate("TWTChatWidget.get('unread_count')") == 1
    badge = page.frame_locator(LAUNCHER).locator("#badge")
    expect(badge).to_have_text("1")
    reply = panel.locator('.message[data-author="agent"] .message-text')
    expect(reply).to_have_text("Yes, in 2 days.")

    # A reload restores the conversation; a restart of the server loses nothing acknowledged.
    porch_server.restart()
    page.reload()
    wait_for_event(page, "runtime_activated")
    auth = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert auth["source"] == "initial"
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    expect(page.frame_locator(PANEL).locator(".message[data-seq] .message-text")).to_have_text(
        ["Do you ship to Lisbon? <b>fast</b>", "Yes, in 2 days."]
    )
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    assert wait_for_event(page, "unread_count_changed", count=2)["payload"] == {"count": 0}


def test_reconnects_after_a_server_restart_and_delivers_what_was_typed_meanwhile(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    open_chat(page)
    porch_server.stop()
    wait_for_event(page, "session_disconnected")
    send_from_panel(page, "typed while the server was down")
    porch_server.start()
    wait_for_event(page, "session_connected", count=2)
    # Acknowledged means stored: an agent connecting now finds it.
    expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)
    fresh = AgentClient(porch_server)
    fresh.close()
    latest = [c.last_message for c in fresh.welcome.conversations if c.last_message]
    assert any(
        m.text == "typed while the server was down" and m.author == "visitor" for m in latest
    )
    statuses = [e["payload"]["status"] for e in events(page, "connection_state_changed")]
    assert "reconnecting" in statuses and statuses[-1] == "connected"


ATTACKER = """
<script>
  // A third-party frame on the host page (origin "null": sandboxed) forging bridge messages.
  parent.postMessage({v: 1, type: "runtime.event", name: "visitor_auth_ready",
                      payload: {bs: "evil", bs_mm: "evil", hasToken: true,
                                source: "resolved"}}, "*");
  parent.frames[0].postMessage({v: 1, type: "launcher.state",
                                state: {visibility: "minimized", unread: 99}}, "*");
  parent.postMessage("sentinel", "*");
  parent.frames[0].postMessage("sentinel", "*");
</script>
"""


def test_forged_messages_cannot_plant_an_identity_or_raise_events(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "iframe_loaded")
    launcher = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(launcher).to_have_attribute("aria-label", "Open chat")  # the real state has arrived
    # Messages from one window arrive in order: once the attacker's sentinel has arrived (in the
    # host and in the launcher), its forgeries have been handled.
    launcher.evaluate("""() => { window.__sentinel = new Promise((done) =>
        addEventListener("message", (e) => { if (e.data === "sentinel") done(); })); }""")
    page.evaluate("""(html) => new Promise((done) => {
      addEventListener("message", (e) => { if (e.data === "sentinel") done(); });
      const attacker = document.createElement("iframe");
      attacker.sandbox = "allow-scripts";
      attacker.srcdoc = html;
      document.body.appendChild(attacker);
    })""", ATTACKER)
    launcher.evaluate("() => window.__sentinel")
    assert events(page, "visitor_auth_ready") == []
    assert page.evaluate("localStorage.getItem('twt:porch-demo:visitor')") is None
    expect(page.frame_locator(LAUNCHER).locator("#badge")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-label", "Open chat")
