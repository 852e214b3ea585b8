"""Both sides in real browsers: a visitor on the demo host page (the widget's panel, its Python
runtime in a worker) and an agent in the console (PyScript), in two browser contexts, against one
real server. Every wait is on a DOM state or a frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from console_page import LIVE_TIMEOUT_MS, ConsolePage
from panel import Upload, VisitorPanel
from widget_support import open_visitor, tiny_png

pytestmark = pytest.mark.e2e

#: The widget boots Pyodide and reconnects with backoff: allow for a slow shared machine.
WIDGET_TIMEOUT_MS = 30_000


@pytest.fixture
def agent_page(browser: Browser) -> Iterator[Page]:
    """The agent's own browser context (own cookies and storage), beside the visitor's."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def console_for(agent_page: Page, server: Any) -> ConsolePage:
    return ConsolePage(agent_page, server.url).open().log_in()


def visitor_conversation(panel: VisitorPanel, console: ConsolePage, text: str) -> str:
    """The visitor writes ``text``; the console opens that conversation; returns its id."""
    panel.send(text)
    panel.wait_until_sent(text)
    row = console.rows.filter(has_text=text).first
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    conversation_id = str(row.get_attribute("data-conversation-id"))
    console.open_conversation(conversation_id)
    return conversation_id


def test_the_agents_presence_changes_the_widgets_status(
    page: Page, agent_page: Page, porch_server: Any
) -> None:
    console = console_for(agent_page, porch_server)
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    panel.expect_page_status("online")
    console.set_presence("away")
    panel.expect_page_status("away")
    console.set_presence("online")
    panel.expect_page_status("online")


def test_the_offline_form_lands_in_the_console(
    page: Page, agent_page: Page, porch_server: Any
) -> None:
    panel = open_visitor(page, porch_server)  # no agent connected: the page is offline
    panel.expect_page_status("offline")
    panel.submit_offline_form("Olga Offline", "olga@example.com", "Call me tomorrow please")
    panel.wait_for_message("Call me tomorrow please")

    console = console_for(agent_page, porch_server)
    row = console.rows.filter(has_text="Olga Offline").first
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".conversation-flags")).to_contain_text("Offline form")
    console.open_conversation(str(row.get_attribute("data-conversation-id")))
    expect(agent_page.locator("#messages")).to_contain_text("Call me tomorrow please")
    expect(agent_page.locator("#details-fields")).to_contain_text("olga@example.com")


def test_typing_shows_both_ways(page: Page, agent_page: Page, porch_server: Any) -> None:
    console = console_for(agent_page, porch_server)
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    visitor_conversation(panel, console, "Typing test, hello")

    panel.composer.press_sequentially("I am writing")
    expect(console.typing).to_contain_text("is typing", timeout=LIVE_TIMEOUT_MS)
    panel.composer.fill("")  # an emptied composer stops typing
    expect(console.typing).to_be_empty(timeout=LIVE_TIMEOUT_MS)
    agent_page.locator("#reply-text").press_sequentially("Me too")
    expect(panel.typing_indicator).to_contain_text("is typing", timeout=LIVE_TIMEOUT_MS)
    agent_page.locator("#reply-text").fill("")
    expect(panel.typing_indicator).to_be_empty(timeout=LIVE_TIMEOUT_MS)


def test_files_go_both_ways(
    page: Page, agent_page: Page, porch_server: Any, tmp_path: Path
) -> None:
    console = console_for(agent_page, porch_server)
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    visitor_conversation(panel, console, "Sending you a picture")

    panel.attach_file(Upload(name="photo.png", mime_type="image/png", buffer=tiny_png()))
    image = agent_page.locator('#messages .message[data-author="visitor"] img.message-image')
    expect(image).to_have_attribute("alt", "photo.png", timeout=LIVE_TIMEOUT_MS)

    document = tmp_path / "answer.txt"
    document.write_text("Here is your answer\n")
    console.send_file(document)
    expect(panel.file_link("answer.txt")).to_be_visible(timeout=LIVE_TIMEOUT_MS)


def test_the_rating_reaches_the_console(page: Page, agent_page: Page, porch_server: Any) -> None:
    console = console_for(agent_page, porch_server)
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    conversation_id = visitor_conversation(panel, console, "Please rate me")
    console.reply("Glad to help!")
    console.end_chat()
    panel.rate(1, "Great service")
    rated = agent_page.locator('#messages .message[data-event="rated"]')
    expect(rated).to_contain_text("rated the chat good", timeout=LIVE_TIMEOUT_MS)
    expect(console.row(conversation_id).locator(".conversation-flags")).to_contain_text(
        "Rated good"
    )


def test_a_server_restart_mid_conversation_loses_nothing(
    page: Page, agent_page: Page, porch_server: Any
) -> None:
    console = console_for(agent_page, porch_server)
    console.set_presence("online")
    panel = open_visitor(page, porch_server)
    visitor_conversation(panel, console, "First question")
    console.reply("First answer")
    panel.wait_for_message("First answer", author="agent")

    porch_server.stop()
    expect(agent_page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    agent_page.fill("#reply-text", "Typed by the agent meanwhile")
    agent_page.press("#reply-text", "Enter")
    panel.send("Typed by the visitor meanwhile")
    porch_server.start()

    console.wait_connected(timeout=WIDGET_TIMEOUT_MS)
    stored = agent_page.locator("#messages .message[data-seq]")
    for text in (
        "First question",
        "First answer",
        "Typed by the agent meanwhile",
        "Typed by the visitor meanwhile",
    ):
        expect(stored.filter(has_text=text)).to_have_count(1, timeout=WIDGET_TIMEOUT_MS)
        expect(panel.message(text)).to_have_count(1, timeout=WIDGET_TIMEOUT_MS)
    panel.wait_until_sent("Typed by the visitor meanwhile")
