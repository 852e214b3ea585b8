"""The agent console's list, conversation and keyboard features, in real Chromium against a real
server, with visitors played from Python (``PyVisitor``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from console_page import LIVE_TIMEOUT_MS, ConsolePage, PyVisitor

pytestmark = pytest.mark.e2e

#: Watches the real browser APIs the console uses to alert an agent (they still run).
ALERT_RECORDER = """
window.__notifications = [];
window.__tones = 0;
const RealNotification = window.Notification;
window.Notification = new Proxy(RealNotification, {
  construct(target, args) {
    window.__notifications.push({ title: args[0], body: args[1] && args[1].body });
    return Reflect.construct(target, args);
  },
});
const realOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return realOscillator.call(this);
};
"""


@pytest.fixture
def console(page: Page, porch_server: Any) -> ConsolePage:
    return ConsolePage(page, porch_server.url).open()


def test_a_new_chat_rings_notifies_and_counts_in_the_view_badges(
    page: Page, porch_server: Any
) -> None:
    page.context.grant_permissions(["notifications"], origin=porch_server.url)
    page.add_init_script(ALERT_RECORDER)
    console = ConsolePage(page, porch_server.url).open()
    console.log_in()
    expect(page.locator("#notify-enable")).to_be_hidden()  # already granted: nothing to ask

    first = PyVisitor(porch_server.url, name="Grace")
    first_id = first.say("My order is late")
    expect(console.row(first_id)).to_contain_text("My order is late", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_function("window.__notifications.length === 1")
    assert page.evaluate("window.__notifications") == [
        {"title": "Grace", "body": "New chat: My order is late"}
    ]
    assert page.evaluate("window.__tones") == 1
    unassigned_before = int(console.badge("unassigned").text_content() or "0")

    second = PyVisitor(porch_server.url, name="Linus")
    second_id = second.say("Hello")
    expect(console.badge("unassigned")).to_have_text(str(unassigned_before + 1))
    first.say("Anyone?")  # not a new chat: no second alert for it
    expect(console.row(first_id).locator(".conversation-unread")).to_have_text("2")
    page.wait_for_function("window.__notifications.length === 2")
    assert page.evaluate("window.__notifications[1].title") == "Linus"

    console.open_conversation(first_id)
    expect(console.badge("unassigned")).to_have_text(str(unassigned_before))
    expect(console.row(first_id).locator(".conversation-unread")).to_be_hidden()
    # Newest activity first: Grace spoke last.
    expect(console.rows.first).to_have_attribute("data-conversation-id", first_id)
    expect(console.rows.nth(1)).to_have_attribute("data-conversation-id", second_id)

    console.show_view("mine")
    expect(console.row(second_id)).to_have_count(0)  # nobody joined Linus's chat
    console.show_view("all")
    expect(console.row(second_id)).to_be_visible()
    first.close()
    second.close()


def test_links_are_safe_and_visitor_details_are_shown(
    page: Page, console: ConsolePage, porch_server: Any
) -> None:
    console.log_in()
    visitor = PyVisitor(porch_server.url, name="Ada", email="ada@example.com")
    conversation_id = visitor.say("See https://example.com/a?b=1. Not javascript:alert(1)")
    console.open_conversation(conversation_id)
    text = console.messages.first.locator(".message-text")
    expect(text).to_have_text("See https://example.com/a?b=1. Not javascript:alert(1)")
    link = text.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "https://example.com/a?b=1")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    fields = page.locator("#details-fields")
    expect(fields).to_contain_text("Ada")
    expect(fields).to_contain_text("ada@example.com")
    visitor.close()


def test_the_keyboard_reaches_everything(
    page: Page, console: ConsolePage, porch_server: Any
) -> None:
    console.log_in()
    visitors = [PyVisitor(porch_server.url, name=f"Key {n}") for n in range(3)]
    ids = [v.say(f"question {n}") for n, v in enumerate(visitors)]
    newest_first = list(reversed(ids))
    for conversation_id in ids:
        expect(console.row(conversation_id)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    body = page.locator("body")

    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.locator("#conversations-heading").focus()
    page.keyboard.press("Shift+?")
    expect(page.locator("#help-dialog")).to_have_attribute("open", "")
    expect(page.locator("#help-dialog")).to_contain_text("Next / previous conversation")
    page.keyboard.press("Escape")
    expect(page.locator("#help-dialog")).not_to_have_attribute("open", "")

    page.keyboard.press("Alt+ArrowDown")
    expect(body).to_have_attribute("data-open", newest_first[0])
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.press("Alt+ArrowDown")
    expect(body).to_have_attribute("data-open", newest_first[1])
    page.keyboard.press("Alt+ArrowUp")
    expect(body).to_have_attribute("data-open", newest_first[0])

    page.keyboard.type("sent with ctrl+enter")
    page.keyboard.press("Control+Enter")
    reply = visitors[-1].wait_for(
        lambda f: getattr(f, "message", None) is not None and f.message.author == "agent"
    )
    assert reply.message.text == "sent with ctrl+enter"

    # Replying joined that chat, so it left Unassigned; go to one that stays, then back.
    page.keyboard.press("Alt+ArrowDown")
    expect(body).to_have_attribute("data-open", newest_first[1])
    page.keyboard.press("Escape")
    expect(body).to_have_attribute("data-open", "")
    expect(console.row(newest_first[1])).to_be_focused()
    expect(console.row(newest_first[0])).to_have_count(0)
    # Every control has a name a screen reader can announce.
    controls = (
        "#console-view button, #console-view input, #console-view select, "
        "#console-view textarea, header button, header select"
    )
    unnamed = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
             .filter(e => !e.closest('[hidden]'))
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                          && !e.textContent.trim())
             .map(e => e.id || e.outerHTML.slice(0, 80))""",
        controls,
    )
    assert unnamed == []
    for visitor in visitors:
        visitor.close()


#: The demo's tawk.to property and widget (README.md, "Two commands").
DEMO_PROPERTY = "64f0d3e3c0ffee0000000001"
DEMO_WIDGET = "default"


def widget_bootstrap(server_url: str) -> dict[str, str]:
    """What the demo widget's embed gets from its first request: the widget's settings."""
    response = httpx.post(
        f"{server_url}/api/v1/bootstrap",
        content=json.dumps({"property_id": DEMO_PROPERTY, "widget_id": DEMO_WIDGET}),
        headers={"Content-Type": "text/plain", "Origin": "http://127.0.0.1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    widget: dict[str, str] = response.json()["widget"]
    return widget


def test_an_admin_edits_the_demo_widget_and_its_embed_shows_it(
    page: Page, console: ConsolePage, porch_server: Any
) -> None:
    before = widget_bootstrap(porch_server.url)
    console.log_in()
    try:
        console.open_settings()
        widgets = page.locator("#settings-widgets")
        expect(widgets).to_be_visible()
        expect(page.locator("#settings-widgets-none")).to_be_hidden()
        ours = f"{DEMO_PROPERTY}/{DEMO_WIDGET} |"
        lines = widgets.input_value().splitlines()
        assert [line for line in lines if line.startswith(ours)] == [
            f"{ours} {before['language']} | {before['position']} | {before['colour']} | "
            f"{before['greeting']}"
        ]
        others = [line for line in lines if not line.startswith(ours)]  # other tests' widgets

        # A mistake is named by its line before anything is sent.
        widgets.fill("\n".join([*others, f"{ours} de | bl | teal | Moin"]))
        console.page.click("#settings-save")
        expect(console.settings_error).to_contain_text(f"line {len(others) + 1}: colour 'teal'")

        edited = f"{ours} de | bl | #0F766E | Moin! Fragen? Schreib uns."
        widgets.fill("\n".join([*others, edited]))
        console.save_settings()
        # The server's app.updated reached this console: the dialog shows the stored widget.
        console.open_settings()
        expect(widgets).to_have_value(
            "\n".join([*others, edited.replace("#0F766E", "#0f766e")]), timeout=LIVE_TIMEOUT_MS
        )
        page.click("#settings-cancel")
        assert widget_bootstrap(porch_server.url) == {
            "property_id": DEMO_PROPERTY,
            "widget_id": DEMO_WIDGET,
            "language": "de",
            "position": "bl",
            "colour": "#0f766e",
            "greeting": "Moin! Fragen? Schreib uns.",
        }
    finally:  # the demo widget as other tests expect it
        porch_server.cli(
            "property",
            "widget-edit",
            "--property",
            DEMO_PROPERTY,
            "--widget-id",
            DEMO_WIDGET,
            "--language",
            before["language"],
            "--position",
            before["position"],
            "--colour",
            before["colour"],
            "--greeting",
            before["greeting"],
        )
    assert widget_bootstrap(porch_server.url) == before
