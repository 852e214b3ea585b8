"""Issue 16 in real browsers: an ordinary link, or a bug on one input, must never cost the visitor
their widget. The visitor is on the demo host page (the runtime in its worker); the agent is the
real console (test 1, whose links come from the same Python) or the protocol client (test 2).
Every wait is on a DOM state, an event or a frame."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from conftest import LAUNCHER, PANEL, AgentClient, PorchServer, events
from console_page import LIVE_TIMEOUT_MS, ConsolePage
from panel import VisitorPanel
from porch_protocol import NewMessage, SendMessage
from widget_support import open_visitor, start_conversation

pytestmark = pytest.mark.e2e

MARKDOWN_LINK = "See [https://example.com](https://example.com)"
BROKEN_URL = "http://[x"


@pytest.fixture
def agent_page(browser: Browser) -> Iterator[Page]:
    """The agent's own browser context (own cookies and storage), beside the visitor's."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def expect_widget_alive(page: Page) -> None:
    """Both frames are on the host page, and the widget never reported a failed start."""
    expect(page.locator(LAUNCHER)).to_have_count(1)
    expect(page.locator(PANEL)).to_have_count(1)
    assert events(page, "bootstrap_failed") == []


def expect_markdown_link(panel: VisitorPanel) -> None:
    reply = panel.wait_for_message("See [", author="agent")
    expect(reply.locator(".message-text")).to_have_text(MARKDOWN_LINK)
    links = panel.links(reply)
    expect(links).to_have_count(2)
    for i in range(2):
        expect(links.nth(i)).to_have_attribute("href", "https://example.com/")
        expect(links.nth(i)).to_have_text("https://example.com")


def test_a_markdown_link_and_a_broken_url_keep_the_widget_across_a_reload(
    page: Page, agent_page: Page, porch_server: PorchServer
) -> None:
    console = ConsolePage(agent_page, porch_server.url).open().log_in()
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    panel.send("Do you have a link for me?")
    panel.wait_until_sent("Do you have a link for me?")
    row = console.rows.filter(has_text="Do you have a link for me?").first
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    console.open_conversation(str(row.get_attribute("data-conversation-id")))

    sent = console.reply(MARKDOWN_LINK)
    expect(sent.locator(".message-text a")).to_have_count(2)
    expect(sent.locator(".message-text a").first).to_have_attribute("href", "https://example.com")
    expect_markdown_link(panel)

    panel.send(BROKEN_URL)
    panel.wait_until_sent(BROKEN_URL)
    received = console.message_with_text(BROKEN_URL)
    expect(received).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(received.locator(".message-text a")).to_have_count(0)
    expect_widget_alive(page)

    # The welcome replays the conversation on every load: the widget must come back with it.
    page.reload()
    panel.open()
    expect_markdown_link(panel)
    expect(panel.message(BROKEN_URL, "visitor")).to_have_attribute("data-state", "sent")
    expect_widget_alive(page)


#: Run in the worker: the runtime raises on any server frame that carries BOOM (a bug, on purpose).
BREAK_ON_BOOM = """() => self.pyodide.runPython(`
from porch_runtime.core import VisitorRuntime
_receive_server = VisitorRuntime.receive_server
def _failing(self, text):
    if "BOOM" in text:
        raise RuntimeError("injected failure")
    return _receive_server(self, text)
VisitorRuntime.receive_server = _failing
`)"""


def test_an_exception_on_one_frame_is_reported_and_the_chat_goes_on(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    logged: list[ConsoleMessage] = []
    page.on("console", lambda message: logged.append(message))
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Before the failure")
    worker = next(w for w in page.workers if "/widget/worker.js" in w.url)
    worker.evaluate(BREAK_ON_BOOM)
    for client_id, text in (("boom", "BOOM"), ("after", "After the failure")):
        agent.send(
            SendMessage(
                client_id=client_id, text=text, conversation_id=first.message.conversation_id
            )
        )
    panel.wait_for_message("After the failure", author="agent")
    expect(panel.message("BOOM")).to_have_count(0)
    expect_widget_alive(page)
    errors = [m.text for m in logged if m.type == "error"]
    assert any("RuntimeError: injected failure" in text for text in errors), errors

    panel.send("Still talking")
    frame: Any = agent.wait_for(
        lambda f: isinstance(f, NewMessage) and f.message.text == "Still talking"
    )
    assert frame.message.author == "visitor"
    panel.wait_until_sent("Still talking")
