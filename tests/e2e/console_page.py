"""Drive the agent console (public/agent/) like an agent, and play visitors from Python.

``ConsolePage`` is a small page object over a Playwright page: every method acts through the
console's real controls and waits for the DOM state that proves the action took effect, never for
a fixed time. ``PyVisitor`` is a visitor speaking the real protocol over a real WebSocket, to
create conversations fast (no widget, no Pyodide). Other e2e tests import both.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Dialog, Locator, Page, expect
from websockets.sync.client import ClientConnection, connect

from porch_protocol import (
    Message,
    MessageAck,
    SendMessage,
    VisitorHello,
    VisitorProfile,
    VisitorWelcome,
    decode,
    encode,
)

#: The console's one string table (docs/i18n.md, "The agent console"), by language.
CONSOLE_STRINGS: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).resolve().parents[2] / "loader" / "console_strings.json").read_text()
)
AGENT_EMAIL = "agent@porch.demo"
AGENT_PASSWORD = "porch-demo"
APPID = "porch-demo"
#: Pyodide boots in a worker in a fresh browser context: allow for a slow machine.
BOOT_TIMEOUT_MS = 60_000
LIVE_TIMEOUT_MS = 10_000


def click_and_confirm(page: Page, selector: str) -> Dialog:
    """Click ``selector`` and accept the ``confirm()`` it opens; returns that dialog.

    Accepted by a handler, which Playwright runs inside the click if the dialog opens before the
    click has returned (waiting for it with ``expect_event`` alone blocked the click's own wait on
    the open dialog until it timed out); ``expect_event`` then only reports it."""
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_event("dialog", timeout=LIVE_TIMEOUT_MS) as dialog:
        page.click(selector)
    return dialog.value


class ConsolePage:
    """The agent console in one Playwright page."""

    def __init__(self, page: Page, server_url: str) -> None:
        self.page = page
        self.url = server_url

    # --- session --------------------------------------------------------------------------------

    def open(self) -> ConsolePage:
        self.page.goto(f"{self.url}/agent/")
        expect(self.page.locator("body")).to_have_attribute(
            "data-ready", "true", timeout=BOOT_TIMEOUT_MS
        )
        return self

    def log_in(self, email: str = AGENT_EMAIL, password: str = AGENT_PASSWORD) -> ConsolePage:
        if self.page.url != f"{self.url}/agent/":
            self.open()
        self.page.fill("#login-email", email)
        self.page.fill("#login-password", password)
        self.page.click("#login-submit")
        # The first connection brings the welcome with every conversation the shared server
        # has by then: on a loaded 2-core machine that took over LIVE_TIMEOUT_MS once.
        self.wait_connected(timeout=BOOT_TIMEOUT_MS)
        return self

    def wait_connected(self, timeout: float = LIVE_TIMEOUT_MS) -> None:
        expect(self.page.locator("body")).to_have_attribute(
            "data-session", "ready", timeout=timeout
        )
        expect(self.page.locator("#status")).to_have_attribute(
            "data-state", "connected", timeout=timeout
        )

    def log_out(self) -> None:
        self.page.click("#logout")
        expect(self.page.locator("#login-email")).to_be_visible()

    # --- the list -------------------------------------------------------------------------------

    def row(self, conversation_id: str) -> Locator:
        return self.page.locator(f'#conversations button[data-conversation-id="{conversation_id}"]')

    @property
    def rows(self) -> Locator:
        return self.page.locator("#conversations button[data-conversation-id]")

    def show_view(self, view: str) -> None:
        button = self.page.locator(f'button[data-view="{view}"]')
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")

    def badge(self, view: str) -> Locator:
        return self.page.locator(f'[data-badge="{view}"]')

    def search(self, query: str) -> None:
        self.page.fill("#search", query)

    # --- one conversation -----------------------------------------------------------------------

    def open_conversation(self, conversation_id: str) -> None:
        row = self.row(conversation_id)
        expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        row.click()
        expect(self.page.locator("body")).to_have_attribute("data-open", conversation_id)
        expect(row).to_have_attribute("aria-current", "true")

    @property
    def messages(self) -> Locator:
        return self.page.locator("#messages .message")

    def message_with_text(self, text: str) -> Locator:
        return self.messages.filter(has=self.page.locator(".message-text", has_text=text))

    def reply(self, text: str) -> Locator:
        """Send ``text`` from the reply box; returns its message once the server stored it."""
        self.page.fill("#reply-text", text)
        self.page.press("#reply-text", "Enter")
        stored = self.page.locator('#messages .message[data-author="agent"][data-seq]').filter(
            has_text=text
        )
        expect(stored.last).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        return stored.last

    def send_file(self, path: Path) -> Locator:
        """Attach ``path``; returns the stored message showing it."""
        self.page.set_input_files("#reply-file", str(path))
        stored = self.page.locator('#messages .message[data-author="agent"][data-seq]').filter(
            has=self.page.locator(".message-file", has_text=path.name)
        )
        expect(stored.last).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        return stored.last

    def end_chat(self) -> None:
        click_and_confirm(self.page, "#end-chat")
        expect(self.page.locator("#conversation-title")).to_contain_text(
            "(ended)", timeout=LIVE_TIMEOUT_MS
        )

    def join(self) -> None:
        self.page.click("#join")
        expect(self.page.locator("#leave")).to_be_enabled(timeout=LIVE_TIMEOUT_MS)

    def leave(self) -> None:
        self.page.click("#leave")
        expect(self.page.locator("#join")).to_be_enabled(timeout=LIVE_TIMEOUT_MS)

    def transfer(self, agent_name: str) -> None:
        option = self.page.locator("#transfer-to option", has_text=agent_name)
        self.page.select_option("#transfer-to", value=option.get_attribute("value"))
        self.page.click("#transfer")

    def set_tags(self, *tags: str) -> None:
        self.page.fill("#tags-input", ", ".join(tags))
        self.page.click("#tags-save")

    def expect_tags(self, *tags: str) -> None:
        expect(self.page.locator("#details")).to_have_attribute(
            "data-tags", ",".join(tags), timeout=LIVE_TIMEOUT_MS
        )

    @property
    def typing(self) -> Locator:
        return self.page.locator("#typing")

    @property
    def error(self) -> Locator:
        return self.page.locator("#console-error")

    def back_to_list(self) -> None:
        self.page.keyboard.press("Escape")
        expect(self.page.locator("body")).to_have_attribute("data-open", "")

    # --- settings (admins) ----------------------------------------------------------------------

    def open_settings(self) -> Locator:
        """The settings dialog, open, filled from the app the server last sent."""
        self.page.click("#settings-open")
        dialog = self.page.locator("#settings-dialog")
        expect(dialog).to_have_attribute("open", "")
        return dialog

    def save_settings(self) -> None:
        """Save; the console found nothing to refuse, so the dialog closes (the server's
        ``app.updated`` then redraws)."""
        self.page.click("#settings-save")
        expect(self.page.locator("#settings-dialog")).not_to_have_attribute("open", "")

    @property
    def settings_error(self) -> Locator:
        return self.page.locator("#settings-error")

    # --- the agent ------------------------------------------------------------------------------

    def choose_language(self, locale: str) -> None:
        """Pick ``locale`` in the top bar's language select; waits until the page and, once
        Python runs, everything it draws (the status line is redrawn last) speak it."""
        self.page.select_option("#language", locale)
        html = self.page.locator("html")
        expect(html).to_have_attribute("lang", locale)
        expect(html).to_have_attribute("dir", "rtl" if locale in ("ar", "he") else "ltr")
        if self.page.locator("body").get_attribute("data-ready") == "true":
            state = self.page.locator("#status").get_attribute("data-state")
            expect(self.page.locator("#status")).to_have_text(
                CONSOLE_STRINGS[locale][f"status_{state}"]
            )

    def set_presence(self, status: str) -> None:
        self.page.select_option("#presence", status)
        expect(self.page.locator("body")).to_have_attribute("data-presence", status)


class PyVisitor:
    """A visitor on ``/ws/visitor``, speaking ``porch_protocol`` from the test."""

    def __init__(self, server_url: str, name: str | None = "Ada", email: str | None = None):
        ticket = bootstrap_ticket(server_url)
        ws_url = server_url.replace("http", "ws", 1) + "/ws/visitor"
        self._stack = contextlib.ExitStack()
        self.socket: ClientConnection = self._stack.enter_context(
            connect(ws_url, origin="http://127.0.0.1")  # type: ignore[arg-type]
        )
        profile = VisitorProfile(name=name, email=email)
        self.socket.send(encode(VisitorHello(ticket=ticket, profile=profile)))
        welcome = decode(self.socket.recv(timeout=10), max_chars=None)
        assert isinstance(welcome, VisitorWelcome), welcome
        self.welcome = welcome
        self.conversation_id = welcome.conversation_id

    def send(self, frame: Message) -> None:
        self.socket.send(encode(frame))

    def say(self, text: str) -> str:
        """Send ``text``; returns the conversation id it was stored in."""
        client_id = uuid.uuid4().hex
        self.send(SendMessage(client_id=client_id, text=text))
        ack = self.wait_for(lambda f: isinstance(f, MessageAck) and f.client_id == client_id)
        self.conversation_id = ack.message.conversation_id
        return str(self.conversation_id)

    def wait_for(self, matches: Any, timeout: float = LIVE_TIMEOUT_MS / 1000) -> Any:
        """The first frame from the server that ``matches``, skipping the others."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the visitor did not receive the expected frame")
            frame = decode(self.socket.recv(timeout=remaining), max_chars=None)
            if matches(frame):
                return frame

    def close(self) -> None:
        self._stack.close()


def bootstrap_ticket(server_url: str) -> str:
    request = urllib.request.Request(
        f"{server_url}/api/v1/bootstrap",
        data=json.dumps({"appid": APPID}).encode(),
        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    ticket = body["ticket"]
    assert isinstance(ticket, str)
    return ticket
