"""One conversation worked from the agent console against the real server: typing both ways,
read receipts, join/transfer/leave/end, tags and their errors, presence, search, files both ways
and the admin's settings. Visitors and colleagues are played from Python over the real sockets.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import AgentClient
from console_page import LIVE_TIMEOUT_MS, ConsolePage, PyVisitor
from porch_protocol import (
    AgentPresenceChanged,
    AppUpdated,
    ChangeTags,
    ConversationEnded,
    ConversationUpdated,
    NewMessage,
    ReadUpTo,
    SendMessage,
    SetTyping,
    TypingChanged,
)

pytestmark = pytest.mark.e2e

#: A 1x1 PNG: the server sniffs uploads, so an image must really be one.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8ffff3f0005fe02fea7d6a4a30000000049454e44ae426082"
)
COLLEAGUE = ("ann@porch.demo", "Ann", "ann-password-1")


@pytest.fixture
def console(page: Page, porch_server: Any) -> ConsolePage:
    return ConsolePage(page, porch_server.url).open().log_in()


@pytest.fixture
def visitor(porch_server: Any) -> Any:
    client = PyVisitor(porch_server.url, name="Ada", email="ada@example.com")
    yield client
    client.close()


@pytest.fixture(scope="session")
def colleague_account(porch_server: Any) -> tuple[str, str, str]:
    """A second agent of the demo app (the CLI reads the password from stdin only)."""
    email, name, password = COLLEAGUE
    subprocess.run(
        [
            sys.executable,
            "-m",
            "porch_server",
            "agent",
            "add",
            "--app",
            "porch-demo",
            "--email",
            email,
            "--name",
            name,
            "--password-stdin",
        ],
        input=password + "\n",
        text=True,
        env=porch_server.env,
        check=True,
        capture_output=True,
    )
    return COLLEAGUE


@pytest.fixture
def colleague(porch_server: Any, colleague_account: tuple[str, str, str]) -> Any:
    email, _, password = colleague_account
    client = AgentClient(porch_server, email=email, password=password)
    yield client
    client.close()


def test_typing_shows_both_ways_and_read_receipts_mark_replies_seen(
    page: Page, console: ConsolePage, visitor: PyVisitor
) -> None:
    conversation_id = visitor.say("Hi, I have a question")
    console.open_conversation(conversation_id)

    visitor.send(SetTyping(typing=True))
    expect(console.typing).to_have_text("Ada is typing…", timeout=LIVE_TIMEOUT_MS)
    visitor.send(SetTyping(typing=False))
    expect(console.typing).to_have_text("")

    page.locator("#reply-text").press_sequentially("Sure")
    started = visitor.wait_for(lambda f: isinstance(f, TypingChanged))
    assert (started.author, started.typing) == ("agent", True)
    page.locator("#conversation-title").click()  # leaving the box stops the indicator
    stopped = visitor.wait_for(lambda f: isinstance(f, TypingChanged))
    assert stopped.typing is False

    reply = console.reply("What is it?")
    seq = int(reply.get_attribute("data-seq") or "0")
    expect(reply).not_to_have_attribute("data-seen", "true")
    visitor.send(ReadUpTo(seq=seq))
    expect(reply).to_have_attribute("data-seen", "true", timeout=LIVE_TIMEOUT_MS)
    expect(reply.locator(".message-meta")).to_contain_text("Seen")


def test_join_transfer_and_end_a_chat(
    page: Page, console: ConsolePage, visitor: PyVisitor, colleague: AgentClient
) -> None:
    conversation_id = visitor.say("Can someone help?")
    console.open_conversation(conversation_id)
    console.join()
    system = page.locator('#messages .message[data-author="system"]')
    expect(system.last.locator(".message-text")).to_have_text(
        "Demo Agent joined the chat", timeout=LIVE_TIMEOUT_MS
    )
    console.show_view("mine")
    expect(console.row(conversation_id)).to_be_visible()

    console.transfer("Ann")
    expect(system.last.locator(".message-text")).to_have_text(
        "The chat was transferred to Ann", timeout=LIVE_TIMEOUT_MS
    )
    expect(console.row(conversation_id).locator(".conversation-assignee")).to_contain_text("Ann")
    transferred = colleague.wait_for(
        lambda f: (
            isinstance(f, ConversationUpdated)
            and f.conversation.id == conversation_id
            and f.conversation.agent_ids[:1] == (colleague.welcome.agent_id,)
        )
    )
    assert transferred.conversation.agent_ids[0] == colleague.welcome.agent_id

    console.end_chat()
    ended = visitor.wait_for(lambda f: isinstance(f, ConversationEnded))
    assert ended.by == "agent"
    expect(console.row(conversation_id).locator(".conversation-flags")).to_have_text("Ended")
    expect(page.locator("#reply-text")).to_be_disabled()
    expect(system.last.locator(".message-text")).to_have_text("Demo Agent ended the chat")


def test_tags_are_saved_shared_and_bad_ones_explained(
    page: Page, console: ConsolePage, visitor: PyVisitor, agent: AgentClient
) -> None:
    conversation_id = visitor.say("Tag me")
    console.open_conversation(conversation_id)
    console.set_tags("vip", "billing")
    console.expect_tags("vip", "billing")
    console.set_tags("vip", "x" * 300)
    expect(console.error).to_contain_text("Tags are short", timeout=LIVE_TIMEOUT_MS)
    console.expect_tags("vip", "billing")  # nothing lost
    # A colleague's change arrives live.
    agent.send(ChangeTags(request_id="r1", add=("urgent",), conversation_id=conversation_id))
    console.expect_tags("vip", "billing", "urgent")


def test_presence_reaches_colleagues(console: ConsolePage, colleague: AgentClient) -> None:
    me = next(a for a in colleague.welcome.agents if a.email == "agent@porch.demo")
    console.set_presence("away")
    changed = colleague.wait_for(
        lambda f: isinstance(f, AgentPresenceChanged) and f.agent.id == me.id
    )
    assert changed.agent.presence == "away"
    console.set_presence("online")
    changed = colleague.wait_for(
        lambda f: isinstance(f, AgentPresenceChanged) and f.agent.id == me.id
    )
    assert changed.agent.presence == "online"


def test_search_finds_a_visitor_by_name_email_or_text(
    console: ConsolePage, porch_server: Any
) -> None:
    unique = uuid.uuid4().hex[:8]
    wanted = PyVisitor(porch_server.url, name=f"Zebulon {unique}", email=f"z{unique}@example.com")
    wanted_id = wanted.say(f"parcel {unique}-tracking")
    other = PyVisitor(porch_server.url, name="Someone else")
    other_id = other.say("unrelated")
    expect(console.row(other_id)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    for query in (f"Zebulon {unique}", f"z{unique}@example", f"{unique}-tracking"):
        console.search(query)
        expect(console.rows).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
        expect(console.row(wanted_id)).to_be_visible()
    console.search("")
    expect(console.row(other_id)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    wanted.close()
    other.close()


def test_files_go_both_ways(
    page: Page, console: ConsolePage, visitor: PyVisitor, porch_server: Any, tmp_path: Path
) -> None:
    conversation_id = visitor.say("I will send a picture")
    upload = httpx.post(
        f"{porch_server.url}/api/v1/files",
        content=PNG,
        headers={
            "Authorization": f"Bearer {visitor.welcome.upload_token}",
            "X-Filename": "photo.png",
            "Content-Type": "image/png",
        },
    )
    assert upload.status_code == 201, upload.text
    visitor.send(SendMessage(client_id="photo", text="", file_id=upload.json()["id"]))
    console.open_conversation(conversation_id)
    image = page.locator('#messages .message[data-author="visitor"] img.message-image')
    expect(image).to_have_attribute("alt", "photo.png", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('#messages img.message-image');"
        " return i && i.complete && i.naturalWidth === 1; }"
    )

    document = tmp_path / "invoice.txt"
    document.write_text("Invoice 42\n")
    sent = console.send_file(document)
    received = visitor.wait_for(lambda f: isinstance(f, NewMessage) and f.message.file is not None)
    assert received.message.file.name == "invoice.txt"
    href = sent.locator(".message-file").get_attribute("href") or ""
    assert httpx.get(href).text == "Invoice 42\n"


def test_an_admin_edits_the_app_settings(
    page: Page, console: ConsolePage, agent: AgentClient
) -> None:
    page.click("#settings-open")
    dialog = page.locator("#settings-dialog")
    expect(dialog).to_have_attribute("open", "")
    page.fill("#settings-hours", "Mon 9-5")
    page.click("#settings-save")
    expect(page.locator("#settings-error")).to_contain_text("line 1")
    page.fill("#settings-hours", "")
    page.fill("#settings-offline", "We answer within a day.")
    page.click("#settings-save")
    expect(dialog).not_to_have_attribute("open", "")
    updated = agent.wait_for(lambda f: isinstance(f, AppUpdated))  # every admin console hears it
    assert updated.app.offline_message == "We answer within a day."
    page.click("#settings-open")
    expect(page.locator("#settings-offline")).to_have_value(
        "We answer within a day.", timeout=LIVE_TIMEOUT_MS
    )
