"""The host API spec's own examples, run verbatim in real Chromium against a real server.

Each page in pages/spec/ is the spec's text with only the core.js URL and the appid substituted
(tests/unit/test_spec_examples_verbatim.py keeps it so). The page is served under the Porch
server's origin, as an integrator's page would be, and each test checks what the spec says the
example does. Examples that need no Python keep Pyodide from loading, so opening the panel costs
nothing; three examples are about the running runtime (connection, identity, unread) and boot it.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

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
from host_pages import Host, porch_origin
from porch_protocol import MessageAck, NewMessage, SendMessage

PAGES = Path(__file__).parent / "pages" / "spec"


def hold_runtime(page: Page) -> None:
    """Keep Pyodide from loading: these examples are about the host side only."""

    def hold(route: Route) -> None:
        pass  # never answered; the request dies with the page

    page.route("**/vendor/pyodide/**", hold)


def open_example(page: Page, server: PorchServer, name: str, *, same_site: bool = False) -> str:
    """The example on a customer's site (127.0.0.1), loading Porch from its own (localhost): the
    one substitution is the embed URL, made absolute to reach the other site. ``same_site``
    serves it from Porch's own origin instead, the worst case for the host page's main thread."""
    html = (PAGES / name).read_text(encoding="utf-8")
    if same_site:
        url = f"{server.url}/spec-examples/{name}"
        page.route(url, lambda route: route.fulfill(content_type="text/html", body=html))
    else:
        html = html.replace('"/install/core.js', f'"{porch_origin(server)}/install/core.js')
        url = Host.site.serve(f"spec-{name}", html)
    page.goto(url)
    return url


def console_log(page: Page) -> list[str]:
    logged: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "log":
            logged.append(message.text)

    page.on("console", keep)
    return logged


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    """The colour of one page pixel, from a 1x1 PNG screenshot. With a single pixel every PNG
    filter reduces to the raw value, so the first three bytes after the filter byte are RGB."""
    png = page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return raw[1], raw[2], raw[3]


@pytest.mark.parametrize("name", ["open-after-init.html", "entry-contract.html"])
def test_open_the_window_after_initialization(
    recorded_page: Page, porch_server: PorchServer, name: str
) -> None:
    page = recorded_page
    hold_runtime(page)
    open_example(page, porch_server, name)
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    names = [e["name"] for e in events(page)]
    assert names.index("initialized") < names.index("visibility_changed")
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.frame_locator(PANEL).get_by_role("dialog")).to_be_visible()
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "maximized"}


def test_custom_entry_button(recorded_page: Page, porch_server: PorchServer) -> None:
    page = recorded_page
    hold_runtime(page)
    open_example(page, porch_server, "custom-entry-button.html")
    wait_for_event(page, "initialized")
    # launcher: "custom": no built-in launcher iframe; the page's buttons drive the panel.
    expect(page.locator(LAUNCHER)).to_have_count(0)
    page.get_by_role("button", name="Contact support").click()
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.frame_locator(PANEL).locator("#composer-text")).to_be_focused()
    page.get_by_role("button", name="Minimize support").click()
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"}
    expect(page.locator(PANEL)).to_be_hidden()
    expect(page.locator(LAUNCHER)).to_have_count(0)


@pytest.mark.parametrize("same_site", [False, True], ids=["cross-site", "same-site"])
def test_custom_consultation_popup_on_launcher_hover(
    recorded_page: Page, porch_server: PorchServer, same_site: bool
) -> None:
    """Across sites the browser gives the page no mouseenter/mouseleave for the launcher's
    frame; core.js fires them from the launcher's own pointer events, and only those the
    browser did not fire itself (same-site, each handler still runs once per hover)."""
    page = recorded_page
    hold_runtime(page)
    page.add_init_script("""
      window.__hovers = [];
      document.addEventListener("mouseenter", (e) => {
        if (e.target.dataset && e.target.dataset.twtWidgetSurface === "launcher") {
          window.__hovers.push("enter");
        }
      }, true);""")
    open_example(page, porch_server, "hover-popup.html", same_site=same_site)
    wait_for_event(page, "initialized")
    popup = page.locator("#my-custom-popup")
    expect(popup).not_to_have_class("show")

    page.locator(LAUNCHER).hover()
    expect(popup).to_have_class("show")
    page.mouse.move(5, 5)  # away from both: hidden after the example's 200 ms grace period
    expect(popup).not_to_have_class("show")

    page.locator(LAUNCHER).hover()
    expect(popup).to_have_class("show")
    assert page.evaluate("window.__hovers") == ["enter", "enter"]  # once per hover, not twice
    # From the launcher straight onto the popup: it stays, and "Start chat" opens the chat.
    page.get_by_text("Start chat").click()
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    expect(popup).not_to_have_class("show")
    expect(page.locator(PANEL)).to_be_visible()
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "maximized"}


def test_sync_unread_count_to_the_page_title(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    open_example(page, porch_server, "unread-title.html")
    title = "Spec example: Sync Unread Count to the Page Title"
    expect(page).to_have_title(title)
    open_chat(page)
    send_from_panel(page, "Is anyone there?")
    update = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    page.frame_locator(LAUNCHER).locator("#launcher").click()  # minimize
    wait_for_event(page, "visibility_changed", count=2)
    for n in (1, 2):
        agent.send(SendMessage(client_id=f"title-{n}", text=f"Reply {n}",
                               conversation_id=update.message.conversation_id))
        assert isinstance(agent.wait_for(lambda f: isinstance(f, MessageAck)), MessageAck)
        expect(page).to_have_title(f"({n}) {title}")
    page.frame_locator(LAUNCHER).locator("#launcher").click()  # reading them clears the count
    expect(page).to_have_title(title)
    assert events(page, "unread_count_changed")[-1]["payload"] == {"count": 0}


def test_observe_connection_status(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    logged = console_log(page)
    open_example(page, porch_server, "connection-status.html")
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "session_connected")
    porch_server.stop()
    wait_for_event(page, "session_disconnected")
    porch_server.start()
    wait_for_event(page, "session_connected", count=2)
    page.evaluate("0")  # a round trip: every console message before it has been delivered

    # The example logs exactly what the events said, in the order they came.
    expected = []
    for event in events(page):
        if event["name"] == "connection_state_changed":
            expected.append("connection status: " + event["payload"]["status"])
        elif event["name"] == "session_connected":
            expected.append("session connected")
        elif event["name"] == "session_disconnected":
            expected.append("session disconnected: " + event["payload"]["status"])
    prefixes = ("connection status:", "session connected", "session disconnected:")
    assert [line for line in logged if line.startswith(prefixes)] == expected
    assert expected[:2] == ["connection status: connecting", "connection status: connected"]
    assert "session connected" in expected
    assert any(line.startswith("session disconnected: ") for line in expected)
    assert expected.count("session connected") == 2
    assert expected[-1] in ("session connected", "connection status: connected")


def test_switch_theme(recorded_page: Page, porch_server: PorchServer) -> None:
    page = recorded_page
    hold_runtime(page)
    open_example(page, porch_server, "switch-theme.html")
    wait_for_event(page, "iframe_loaded")
    assert page.evaluate("TWTChatWidget.get('theme')") == "dark"
    launcher = page.frame_locator(LAUNCHER)
    expect(launcher.locator("html")).to_have_attribute("data-theme", "dark")
    # A dark launcher on a light page: only the round button is drawn, no dark square around it.
    expect(launcher.locator("#launcher")).to_be_visible()
    box = page.locator(LAUNCHER).bounding_box()
    assert box is not None
    host_background = pixel(page, 5, 5)
    assert pixel(page, box["x"] + 2, box["y"] + 2) == host_background
    page.evaluate("TWTChatWidget.call('maximize')")
    panel = page.frame_locator(PANEL)
    expect(panel.locator("html")).to_have_attribute("data-theme", "dark")
    expect(panel.locator("body")).to_have_css("background-color", "rgb(15, 23, 42)")


@pytest.mark.browser_context_args(locale="ja-JP")
def test_switch_language(recorded_page: Page, porch_server: PorchServer) -> None:
    page = recorded_page
    hold_runtime(page)
    open_example(page, porch_server, "switch-language.html")
    # The browser says Japanese; the example switches to English once initialized.
    assert page.evaluate("navigator.language") == "ja-JP"
    wait_for_event(page, "iframe_loaded")
    launcher = page.frame_locator(LAUNCHER)
    expect(launcher.locator("html")).to_have_attribute("lang", "en")
    expect(launcher.locator("#launcher")).to_have_accessible_name("Open chat")
    expect(page.locator(LAUNCHER)).to_have_attribute("title", "Chat")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(page.frame_locator(PANEL).get_by_role("dialog", name="Chat with us")).to_be_visible()


def test_async_init_with_a_contact_us_button(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_example(page, porch_server, "async-init.html")  # returns after load: core.js has run
    assert page.evaluate("typeof TWTChatWidget.init") == "function"
    assert page.locator("iframe").count() == 0
    assert events(page, "initialized") == []
    assert not any("/api/v1/bootstrap" in u for u in requested)
    with pytest.raises(Exception, match="before init"):
        page.evaluate("TWTChatWidget.get('state')")

    with page.expect_console_message(lambda m: m.text == "Widget initialized"):
        page.get_by_role("button", name="Contact us").click()
    wait_for_event(page, "initialized")
    expect(page.locator(LAUNCHER)).to_have_count(1)
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "minimized"}
    # init() is idempotent: a second click creates nothing more.
    page.get_by_role("button", name="Contact us").click()
    page.evaluate("0")
    expect(page.locator("iframe")).to_have_count(1)
    assert len(events(page, "initialized")) == 1


def test_visitor_auth_ready_syncs_the_identity_to_business_storage(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    open_example(page, porch_server, "visitor-auth-ready.html")
    wait_for_event(page, "initialized")
    assert page.evaluate("localStorage.getItem('twt_visitor_identity')") is None
    page.evaluate("TWTChatWidget.call('maximize')")
    payload = wait_for_event(page, "visitor_auth_ready")["payload"]
    stored = json.loads(page.evaluate("localStorage.getItem('twt_visitor_identity')"))
    assert stored == {"bs": payload["bs"], "bs_mm": payload["bs_mm"], "fk_id": payload["fk_id"]}
    assert stored["bs"] and stored["bs_mm"] and stored["fk_id"]
