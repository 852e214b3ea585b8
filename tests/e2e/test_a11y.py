"""Accessibility of the launcher and the panel, in real Chromium: keyboard only, and what a screen
reader is told (roles, names, states, live regions).

Only the keyboard story boots the Python runtime (it must see the message really sent and an agent
reply counted); the shell's semantics need no runtime and are checked without waiting for one.
"""

from __future__ import annotations

from playwright.sync_api import Frame, Page, Route, expect

from conftest import LAUNCHER, PANEL, AgentClient, PorchServer, wait_for_event
from host_pages import Host
from porch_protocol import MessageAck, NewMessage, SendMessage


def hold_runtime(page: Page) -> None:
    """Keep Pyodide from loading where only the shell is looked at (opening the panel boots it)."""

    def hold(route: Route) -> None:
        pass  # never answered; the request dies with the page

    page.route("**/vendor/pyodide/**", hold)


def frame(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(selector, state="attached")
    assert handle is not None
    content = handle.content_frame()
    assert content is not None
    return content


def has_real_focus(frame: Frame, element_id: str) -> bool:
    """True when ``element_id`` is where the keyboard types: the focused element of a document
    that itself has the focus (a per-document activeElement alone is not enough)."""
    return bool(frame.evaluate(
        "(id) => document.hasFocus() && document.activeElement && document.activeElement.id === id",
        element_id))


def tab_to_launcher(page: Page, max_tabs: int = 10) -> Frame:
    launcher = frame(page, LAUNCHER)
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        if has_real_focus(launcher, "launcher"):
            return launcher
    raise AssertionError(f"the launcher was not reached in {max_tabs} presses of Tab")


def test_keyboard_only_visitor_opens_writes_sends_and_closes(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    button = page.frame_locator(LAUNCHER).get_by_role("button", name="Open chat")
    expect(button).to_have_attribute("aria-expanded", "false")

    # Tab from the page into the launcher iframe; Enter opens the panel and puts the caret in
    # the composer, so the visitor can type at once.
    launcher = tab_to_launcher(page)
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-expanded", "true")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name("Close chat")
    panel = frame(page, PANEL)
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus()"
        " && f.contentDocument.activeElement.id === 'composer-text'",
        arg=page.query_selector(PANEL))
    page.keyboard.type("Typed with the keyboard only")
    page.keyboard.press("Enter")
    sent = page.frame_locator(PANEL).locator('.message[data-author="visitor"]')
    expect(sent.locator(".message-text")).to_have_text("Typed with the keyboard only")
    update = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor",
                            timeout=90)
    expect(sent).to_have_attribute("data-state", "sent")
    assert panel.evaluate("document.getElementById('composer-text').value") == ""

    # Escape minimizes and gives the focus back to the launcher.
    page.keyboard.press("Escape")
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"}
    expect(page.locator(PANEL)).to_be_hidden()
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus() && f.contentDocument.activeElement.id === 'launcher'",
        arg=page.query_selector(LAUNCHER))
    assert has_real_focus(launcher, "launcher")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-expanded", "false")

    # An agent reply while minimized: the count is part of the launcher's accessible name.
    agent.send(SendMessage(client_id="a11y-1", text="Hello!",
                           conversation_id=update.message.conversation_id))
    assert isinstance(agent.wait_for(lambda f: isinstance(f, MessageAck)), MessageAck)
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name(
        "Open chat. Unread messages: 1")
    badge = page.frame_locator(LAUNCHER).locator("#badge")
    expect(badge).to_have_text("1")

    # Enter on the (still focused) launcher reopens; the reply is in the log; the count clears.
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed", count=3)["payload"] == {
        "visibility": "maximized"}
    log = page.frame_locator(PANEL).get_by_role("log", name="Messages")
    expect(log.locator('.message[data-author="agent"] .message-text')).to_have_text("Hello!")
    assert wait_for_event(page, "unread_count_changed", count=2)["payload"] == {"count": 0}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name("Close chat")
    expect(badge).to_be_hidden()


def test_screen_reader_semantics_of_the_shell(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    launcher = page.frame_locator(LAUNCHER)
    button = launcher.get_by_role("button", name="Open chat")
    expect(button).to_have_attribute("aria-expanded", "false")
    assert button.evaluate("el => el.tagName") == "BUTTON"
    expect(launcher.locator("svg").first).to_have_attribute("aria-hidden", "true")

    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    expect(launcher.get_by_role("button", name="Close chat")).to_have_attribute(
        "aria-expanded", "true")
    panel = page.frame_locator(PANEL)
    dialog = panel.get_by_role("dialog", name="Chat with us")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_description("Starting chat…")
    log = panel.get_by_role("log", name="Messages")
    expect(log).to_have_attribute("aria-live", "polite")
    # Only new messages are announced: not every re-render of a delivery state or a language.
    expect(log).to_have_attribute("aria-relevant", "additions")
    expect(panel.get_by_role("textbox", name="Your message")).to_be_focused()
    expect(panel.get_by_role("button", name="Send")).to_be_visible()
    expect(panel.get_by_role("button", name="Minimize chat")).to_be_visible()

    # Tab order inside the dialog: composer -> Send, and Shift+Tab back up to Minimize.
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    minimize = panel.get_by_role("button", name="Minimize chat")
    expect(minimize).to_be_focused()
    # The focus ring is visible on the accent-coloured header.
    assert minimize.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"}
    expect(launcher.locator("#launcher")).to_be_focused()


def test_animations_respect_prefers_reduced_motion(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    button = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(button).to_be_visible()
    assert button.evaluate("el => getComputedStyle(el).transitionDuration") != "0s"
    page.emulate_media(reduced_motion="reduce")
    assert button.evaluate("el => getComputedStyle(el).transitionDuration") == "0s"
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    # A message added to the log does not slide in either.
    page.frame_locator(PANEL).locator("#composer-text").fill("still")
    page.frame_locator(PANEL).locator("#composer-text").press("Enter")
    message = page.frame_locator(PANEL).locator('.message[data-author="visitor"]')
    assert message.evaluate("el => getComputedStyle(el).animationName") == "none"
    page.emulate_media(reduced_motion="no-preference")
    assert message.evaluate("el => getComputedStyle(el).animationName") == "message-in"


def test_with_a_custom_launcher_closing_the_panel_returns_focus_to_the_pages_button(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    host = Host(page, porch_server)
    host.goto(
        {"appid": "porch-demo", "launcher": "custom"},
        body='<button id="open-chat" onclick="TWTChatWidget.call(\'maximize\')">Chat</button>',
    )
    wait_for_event(page, "initialized")
    page.focus("#open-chat")
    page.keyboard.press("Enter")
    panel = frame(page, PANEL)
    expect(panel.locator("#composer-text")).to_be_focused()
    page.keyboard.press("Escape")
    wait_for_event(page, "visibility_changed", count=2)
    assert page.evaluate("TWTChatWidget.get('state').visibility") == "minimized"
    expect(page.locator("#open-chat")).to_be_focused()
