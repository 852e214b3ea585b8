"""The visitor's copy of their conversation and the deletion of their data (issue 13), in real
Chromium against real server processes, the host page on 127.0.0.1 and Porch on localhost:
the transcript download, the visitor's "Delete conversation", ``porch visitor delete`` and the
retention job."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import AgentClient, PorchServer, events, wait_for_event
from console_page import ConsolePage
from host_pages import Host
from panel import VisitorPanel
from porch_protocol import ConversationDeleted, MessageAck, NewMessage, SendMessage
from porch_server.demo import DEMO_AGENT_NAME, DEMO_APP_NAME


def rows(server: PorchServer, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(server.workdir / "porch.db") as db:
        return db.execute(sql, args).fetchall()


def messages_of(server: PorchServer, conversation: str) -> list[tuple[object, ...]]:
    return rows(server, "SELECT id FROM messages WHERE conversation_id = ?", conversation)


def chatting(page: Page, server: PorchServer, agent: AgentClient) -> tuple[VisitorPanel, str]:
    """A visitor on a customer's page wrote, and the agent answered; returns the panel and the
    conversation id."""
    Host(page, server).goto({"appid": "porch-demo"})
    panel = VisitorPanel(page)
    panel.open()
    panel.send("my order is late")
    frame = agent.wait_for(
        lambda f: isinstance(f, NewMessage) and f.message.text == "my order is late"
    )
    conversation = frame.message.conversation_id
    agent.send(
        SendMessage(client_id="a1", text="Sorry! It ships today.", conversation_id=conversation)
    )
    agent.wait_for(lambda f: isinstance(f, MessageAck) and f.client_id == "a1")
    panel.wait_for_message("It ships today", "agent")
    return panel, conversation


def test_the_visitor_downloads_the_transcript_then_deletes_the_conversation(
    page: Page, porch_server: PorchServer, agent: AgentClient, tmp_path: Path
) -> None:
    panel, conversation = chatting(page, porch_server, agent)
    with page.expect_download() as download:
        panel.locator("#download-chat").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("chat-") and saved.suffix == ".txt"
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"Chat with {DEMO_APP_NAME}"
    assert [line.split(" UTC ", 1)[1] for line in lines[2:]] == [
        "Visitor: my order is late",
        f"* {DEMO_AGENT_NAME} joined the chat",
        f"{DEMO_AGENT_NAME}: Sorry! It ships today.",
    ]

    console = ConsolePage(page.context.new_page(), porch_server.url).open().log_in()
    console.show_view("mine")  # the agent answered: it is theirs
    console.open_conversation(conversation)

    panel.locator("#delete-chat").click()
    expect(panel.locator("#delete-confirm")).to_be_visible()
    panel.locator("#delete-confirm-yes").click()
    deleted = agent.wait_for(lambda f: isinstance(f, ConversationDeleted))
    assert deleted.conversation_id == conversation
    # The console that showed it closes it and drops its row.
    expect(console.row(conversation)).to_have_count(0)
    expect(console.page.locator("body")).not_to_have_attribute("data-open", conversation)
    expect(panel.locator("#delete-done")).to_have_text("Your conversation was deleted.")
    expect(panel.messages()).to_have_count(0)
    expect(panel.locator("#delete-chat")).to_be_hidden()
    assert (
        rows(porch_server, "SELECT id FROM messages WHERE conversation_id = ?", conversation) == []
    )
    assert rows(porch_server, "SELECT id FROM conversations WHERE id = ?", conversation) == []
    # The visitor chats on, in a new conversation.
    panel.send("one more thing")
    panel.wait_until_sent("one more thing")


def test_porch_visitor_delete_removes_the_visitor_and_everything_of_theirs(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    _panel, conversation = chatting(page, porch_server, agent)
    uid = wait_for_event(page, "visitor_auth_ready")["payload"]["visitorUid"]
    output = porch_server.cli("visitor", "delete", uid)
    assert output == f"Deleted 1 visitor(s) ({uid}): 1 conversation(s), 0 file(s)\n"
    assert rows(porch_server, "SELECT id FROM visitors WHERE uid = ?", uid) == []
    assert (
        rows(porch_server, "SELECT id FROM messages WHERE conversation_id = ?", conversation) == []
    )
    # Back on the site, the browser's stored identity names no one: a new, empty visitor.
    page.reload()
    VisitorPanel(page).open()
    again = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert again["source"] == "resolved" and again["visitorUid"] != uid
    expect(VisitorPanel(page).messages()).to_have_count(0)
    assert len(events(page, "visitor_auth_ready")) == 1


@pytest.fixture
def short_retention(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PorchServer]:
    """A server of its own that keeps conversations 0.0001 days (8.6 s) and checks every
    half second: the retention job, on a schedule, in a test's time."""
    server = PorchServer(tmp_path_factory.mktemp("porch-retention"))
    server.env["PORCH_RETENTION_DAYS"] = "0.0001"
    server.env["PORCH_RETENTION_INTERVAL"] = "0.5"
    server.start()
    yield server
    server.stop()


def test_the_retention_job_deletes_old_conversations_on_its_schedule(
    page: Page, short_retention: PorchServer
) -> None:
    agent = AgentClient(short_retention)
    try:
        panel, conversation = chatting(page, short_retention, agent)
        deleted = agent.wait_for(lambda f: isinstance(f, ConversationDeleted), timeout=60)
        assert deleted.conversation_id == conversation
        assert rows(short_retention, "SELECT id FROM conversations") == []
        # The visitor's open panel hears it too and shows nothing of it any more.
        expect(panel.messages()).to_have_count(0)
    finally:
        agent.close()
