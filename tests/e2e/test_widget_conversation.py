"""The visitor's side of a whole conversation, in real Chromium against the real server; the agent
is the protocol client from conftest. Every wait is on a DOM state or a frame."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, Route, expect

from conftest import AgentClient, PorchServer
from host_pages import Host
from panel import Upload, VisitorPanel
from porch_protocol import (
    ConversationHistory,
    ConversationUpdated,
    FormField,
    MessageAck,
    NewMessage,
    OpenConversation,
    ReadUpTo,
    SendMessage,
    SetTyping,
    TypingChanged,
)
from widget_support import (  # noqa: F401 (the *_fixture imports register fixtures)
    ChangeSettings,
    SetPresenceStatus,
    app_settings_fixture,
    open_visitor,
    presence_fixture,
    start_conversation,
    tiny_png,
    upload_as_agent,
)


def test_urls_become_safe_links_and_markup_stays_text(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Where are the docs?")
    text = (
        "Docs: https://example.com/guide?a=1&b=2. <img src=x onerror=alert(1)> <b>bold</b> "
        "javascript:alert(1) <a href='http://evil.test'>x</a>"
    )
    agent.send(
        SendMessage(client_id="links-1", text=text, conversation_id=first.message.conversation_id)
    )
    reply = panel.wait_for_message("Docs:", author="agent")
    expect(reply.locator(".message-text")).to_have_text(text)
    links = panel.links(reply)
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "https://example.com/guide?a=1&b=2")
    expect(links.first).to_have_text("https://example.com/guide?a=1&b=2")
    for i in range(2):
        expect(links.nth(i)).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(links.nth(i)).to_have_attribute("target", "_blank")
    expect(links.nth(1)).to_have_attribute("href", "http://evil.test/")
    assert reply.locator("img, b").count() == 0
    assert "javascript:" not in "".join(links.evaluate_all("ls => ls.map(l => l.href)"))


def test_page_status_shows_in_the_header_and_offline_visitors_get_the_offline_form(
    page: Page, porch_server: PorchServer, agent: AgentClient, presence: SetPresenceStatus
) -> None:
    set_presence = presence
    panel = open_visitor(page, porch_server)
    panel.expect_page_status("online")
    expect(panel.status).to_have_text("Online")
    set_presence("away")
    panel.expect_page_status("away")
    expect(panel.status).to_have_text("Away")
    set_presence("offline")
    panel.expect_page_status("offline")
    expect(panel.offline_form).to_be_visible()
    expect(panel.composer).to_be_hidden()

    # Validation is the runtime's, worded in the panel's language; focus goes to the problem.
    panel.locator("#offline-submit").click()
    expect(panel.locator("#offline-name-error")).to_have_text("This field is required.")
    expect(panel.locator("#offline-name")).to_be_focused()
    expect(panel.locator("#offline-name")).to_have_attribute("aria-invalid", "")
    panel.submit_offline_form("Ada Offline", "not-an-email", "Please call me back")
    expect(panel.locator("#offline-email-error")).to_have_text("Enter a valid email address.")
    panel.submit_offline_form("Ada Offline", "ada@example.com", "Please call me back")
    expect(panel.offline_confirmation).to_be_visible()
    expect(panel.offline_confirmation).not_to_be_empty()
    expect(panel.offline_confirmation).to_be_focused()
    update = agent.wait_for(
        lambda f: (
            isinstance(f, ConversationUpdated)
            and f.conversation.offline
            and f.conversation.visitor_name == "Ada Offline"
        )
    )
    assert update.conversation.visitor_email == "ada@example.com"


def test_prechat_form_comes_before_the_first_message_and_reaches_the_agent(
    page: Page, porch_server: PorchServer, agent: AgentClient, app_settings: ChangeSettings
) -> None:
    app_settings(
        prechat_fields=(
            FormField(name="name", label="Your full name", required=True),
            FormField(name="email", label="Work email", kind="email", required=True),
            FormField(name="topic", label="Topic", kind="select", options=("Sales", "Support")),
        )
    )
    panel = open_visitor(page, porch_server)
    expect(panel.prechat).to_be_visible()
    expect(panel.composer).to_be_hidden()
    expect(panel.prechat.get_by_label("Your full name")).to_be_focused()
    panel.fill_prechat({"name": "Grace", "email": "grace@", "topic": "Support"})
    expect(panel.prechat.get_by_label("Work email")).to_have_attribute("aria-invalid", "")
    expect(panel.prechat.get_by_text("Enter a valid email address.")).to_be_visible()
    panel.fill_prechat({"email": "grace@example.com"})
    expect(panel.prechat).to_be_hidden()
    expect(panel.composer).to_be_visible()
    first = start_conversation(panel, agent, "Hello after the form")
    agent.send(OpenConversation(conversation_id=first.message.conversation_id))
    history = agent.wait_for(
        lambda f: (
            isinstance(f, ConversationHistory)
            and f.conversation_id == first.message.conversation_id
        )
    )
    assert history.visitor is not None and history.visitor.email == "grace@example.com"
    assert any(m.event == "prechat" for m in history.messages)


def test_typing_is_shown_both_ways(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Typing test")
    conversation = first.message.conversation_id
    panel.composer.press_sequentially("I am writ")
    started = agent.wait_for(
        lambda f: isinstance(f, TypingChanged) and f.conversation_id == conversation
    )
    assert (started.author, started.typing) == ("visitor", True)
    panel.composer.press("Enter")
    stopped = agent.wait_for(
        lambda f: isinstance(f, TypingChanged) and f.conversation_id == conversation
    )
    assert stopped.typing is False

    agent.send(SetTyping(typing=True, conversation_id=conversation))
    expect(panel.typing_indicator).to_have_text(f"{agent.welcome.agent_name} is typing…")
    agent.send(SetTyping(typing=False, conversation_id=conversation))
    expect(panel.typing_indicator).to_be_hidden()


def test_seen_appears_under_the_message_the_agent_read(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Did you read this?")
    expect(panel.seen).to_have_count(0)
    agent.send(ReadUpTo(seq=first.message.seq, conversation_id=first.message.conversation_id))
    expect(panel.seen).to_have_count(1)
    expect(panel.message("Did you read this?", "visitor").locator(".message-receipt")).to_have_text(
        "Seen"
    )


def test_ending_rating_and_the_next_message_starts_a_new_conversation(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "I am done soon")
    conversation = first.message.conversation_id
    # Keyboard: the end button, then its question, which Escape backs out of.
    panel.locator("#end-chat").focus()
    page.keyboard.press("Enter")
    expect(panel.locator("#end-confirm-no")).to_be_focused()
    page.keyboard.press("Escape")
    expect(panel.locator("#end-confirm")).to_be_hidden()
    expect(panel.locator("#end-chat")).to_be_focused()

    panel.end_chat()
    expect(panel.rating).to_be_visible()
    expect(panel.locator("#rate-like")).to_be_focused()
    expect(panel.message("The chat has ended.", "system")).to_be_visible()
    panel.rate(1, comment="Quick and kind")
    expect(panel.locator("#rating-thanks")).to_be_focused()
    rated = agent.wait_for(
        lambda f: (
            isinstance(f, ConversationUpdated)
            and f.conversation.id == conversation
            and f.conversation.rating is not None
        )
    )
    assert rated.conversation.rating == 1 and rated.conversation.ended

    panel.send("A new question")
    second = agent.wait_for(
        lambda f: isinstance(f, NewMessage) and f.message.text == "A new question"
    )
    assert second.message.conversation_id != conversation
    panel.wait_until_sent("A new question")
    expect(panel.message("I am done soon")).to_have_count(0)
    expect(panel.rating).to_be_hidden()


def test_files_go_both_ways_and_a_refused_type_is_explained(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Here is a screenshot")
    conversation = first.message.conversation_id
    expect(panel.locator("#attach")).to_be_visible()
    expect(panel.locator("#attach")).to_have_accessible_name("Attach a file")

    panel.attach_file(Upload("page.html", "text/html", b"<p>hi</p>"))
    expect(panel.upload_error).to_have_text("page.html: this type of file cannot be sent.")

    panel.attach_file(Upload("shot.png", "image/png", tiny_png()))
    received = agent.wait_for(
        lambda f: (
            isinstance(f, NewMessage)
            and f.message.conversation_id == conversation
            and f.message.file is not None
        )
    )
    assert received.message.file.name == "shot.png"
    assert received.message.file.content_type == "image/png"
    link = panel.file_link("shot.png")
    expect(link).to_be_visible()
    expect(link.locator("img.message-thumb")).to_be_visible()
    expect(panel.upload_error).to_be_hidden()

    file_id = upload_as_agent(porch_server, "terms.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    agent.send(
        SendMessage(client_id="file-1", text="", conversation_id=conversation, file_id=file_id)
    )
    agent.wait_for(lambda f: isinstance(f, MessageAck) and f.client_id == "file-1")
    pdf = panel.file_link("terms.pdf")
    expect(pdf).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(pdf).to_have_attribute("target", "_blank")
    href = pdf.get_attribute("href")
    assert href is not None and href.startswith(porch_server.url + "/files/")
    download = httpx.get(href)
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]


def test_a_failed_upload_keeps_the_file_and_retry_sends_it(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Sending a file on a bad network")
    dropped: list[str] = []

    def drop_the_upload(route: Route) -> None:
        dropped.append(route.request.method)
        route.abort("connectionreset")

    # The worker's fetch goes through the browser context's network, where the first upload is
    # cut. (times=1: the retry must not wait on a route handler, which only runs while Playwright
    # has the thread, not while the test blocks reading the agent's socket.)
    page.context.route("**/api/v1/files", drop_the_upload, times=1)
    panel.attach_file(Upload("retry.png", "image/png", tiny_png()))
    failed = panel.messages("visitor").filter(has_text="retry.png")
    expect(failed).to_have_attribute("data-state", "failed")
    assert dropped == ["POST"]
    failed.get_by_role("button", name="Upload failed. Retry").click()
    expect(failed).to_have_attribute("data-state", "sent")
    received = agent.wait_for(
        lambda f: (
            isinstance(f, NewMessage)
            and f.message.conversation_id == first.message.conversation_id
            and f.message.file is not None
        )
    )
    assert received.message.file.name == "retry.png"
    expect(panel.file_link("retry.png")).to_be_visible()
    expect(panel.messages("visitor").filter(has_text="retry.png")).to_have_count(1)


def test_the_offline_form_and_its_errors_speak_the_visitors_language(
    page: Page, porch_server: PorchServer, presence: SetPresenceStatus
) -> None:
    set_presence = presence
    set_presence("offline")
    Host(page, porch_server).goto({"appid": "porch-demo", "language": "de"})
    panel = VisitorPanel(page)
    panel.open()
    panel.expect_page_status("offline")
    expect(panel.status).to_have_text("Nicht erreichbar")
    expect(panel.offline_form.get_by_label("Ihr Name")).to_be_visible()
    panel.locator("#offline-submit").click()
    expect(panel.locator("#offline-email-error")).to_have_text("Dieses Feld ist erforderlich.")
    expect(panel.offline_form.get_by_role("button", name="Nachricht senden")).to_be_visible()
