"""Page object for the visitor's chat panel (the widget's panel iframe on a host page).

Tests drive the panel as a visitor would (clicks, typing, keyboard) through these methods and read
what the panel shows through its locators, so a change of markup is fixed here once. Every wait is
on a DOM state (Playwright's auto-waiting ``expect``), never a sleep.

    panel = VisitorPanel(page)
    panel.open()
    panel.send("Hello")
    panel.wait_for_message("Hi, how can I help?", author="agent")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from playwright.sync_api import FrameLocator, Locator, Page, expect

from conftest import PANEL, open_chat

Author = Literal["visitor", "agent", "system"]
#: The rating buttons by the protocol's value (tawk.to's like / neutral / dislike).
RATING_BUTTONS = {1: "#rate-like", 0: "#rate-neutral", -1: "#rate-dislike"}


@dataclass(frozen=True)
class Upload:
    """A file the visitor picks in the browser's file chooser."""

    name: str
    mime_type: str
    buffer: bytes


class VisitorPanel:
    def __init__(self, page: Page) -> None:
        self.page = page

    @property
    def frame(self) -> FrameLocator:
        return self.page.frame_locator(PANEL)

    def locator(self, selector: str) -> Locator:
        return self.frame.locator(selector)

    # --- opening and the header -----------------------------------------------------------------

    def open(self) -> None:
        """Click the launcher and wait until the runtime is welcomed by the server."""
        open_chat(self.page)
        expect(self.locator("#panel-status")).to_have_attribute("data-state", "ready")

    @property
    def status(self) -> Locator:
        """The header's status line: the page status (online / away / offline) once connected."""
        return self.locator("#panel-status")

    def status_text(self) -> str:
        return self.status.inner_text()

    def expect_page_status(self, status: Literal["online", "away", "offline"]) -> None:
        expect(self.status).to_have_attribute("data-page-status", status)

    # --- messages -------------------------------------------------------------------------------

    @property
    def composer(self) -> Locator:
        return self.locator("#composer-text")

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    def messages(self, author: Author | None = None) -> Locator:
        # Messages (li.message) and system notices (li.notice), without the static greeting.
        selector = "#messages > li:not(.greeting)"
        if author is not None:
            selector += f'[data-author="{author}"]'
        return self.locator(selector)

    def message(self, text: str, author: Author | None = None) -> Locator:
        """The message whose visible text contains ``text``."""
        return self.messages(author).filter(has_text=text)

    def wait_for_message(
        self, text: str, author: Author | None = None, timeout: float = 30_000
    ) -> Locator:
        found = self.message(text, author).last
        expect(found).to_be_visible(timeout=timeout)
        return found

    def wait_until_sent(self, text: str) -> Locator:
        """The visitor's message ``text`` once the server acknowledged it."""
        found = self.message(text, "visitor").last
        expect(found).to_have_attribute("data-state", "sent")
        return found

    def links(self, message: Locator) -> Locator:
        return message.locator(".message-text a")

    @property
    def seen(self) -> Locator:
        """The "Seen" receipt (at most one, under the visitor's last message the agent read)."""
        return self.locator("#messages .message-receipt")

    @property
    def typing_indicator(self) -> Locator:
        """The line "<agent> is typing…"; empty and hidden when nobody types."""
        return self.locator("#typing")

    # --- ending and rating ----------------------------------------------------------------------

    def end_chat(self) -> None:
        """End the chat with the header's button and confirm."""
        self.locator("#end-chat").click()
        self.locator("#end-confirm-yes").click()

    @property
    def rating(self) -> Locator:
        """The satisfaction prompt shown once the chat ended."""
        return self.locator("#rating")

    def rate(self, value: Literal[-1, 0, 1], comment: str = "") -> None:
        expect(self.rating).to_be_visible()
        self.locator(RATING_BUTTONS[value]).click()
        if comment:
            self.locator("#rating-comment").fill(comment)
        self.locator("#rating-submit").click()
        expect(self.locator("#rating-thanks")).to_be_visible()

    # --- forms ----------------------------------------------------------------------------------

    @property
    def prechat(self) -> Locator:
        return self.locator("#prechat")

    def fill_prechat(self, answers: dict[str, str], submit: bool = True) -> None:
        """Answer the pre-chat form's questions by field name (selects by option value)."""
        expect(self.prechat).to_be_visible()
        for name, value in answers.items():
            field = self.locator(f'#prechat [name="{name}"]')
            if field.evaluate("el => el.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        if submit:
            self.locator("#prechat-submit").click()

    @property
    def offline_form(self) -> Locator:
        return self.locator("#offline-form")

    def submit_offline_form(
        self, name: str, email: str, message: str, questions: dict[str, str] | None = None
    ) -> None:
        expect(self.offline_form).to_be_visible()
        self.locator("#offline-name").fill(name)
        self.locator("#offline-email").fill(email)
        self.locator("#offline-message").fill(message)
        for field, value in (questions or {}).items():
            self.locator(f'#offline-form [name="{field}"]').fill(value)
        self.locator("#offline-submit").click()

    @property
    def offline_confirmation(self) -> Locator:
        return self.locator("#offline-done")

    # --- files ----------------------------------------------------------------------------------

    def attach_file(self, upload: Upload) -> None:
        """Pick a file with the attach button, as a visitor would."""
        with self.page.expect_file_chooser() as chooser:
            self.locator("#attach").click()
        chooser.value.set_files(
            {"name": upload.name, "mimeType": upload.mime_type, "buffer": upload.buffer}
        )

    @property
    def upload_error(self) -> Locator:
        return self.locator("#upload-error")

    def file_link(self, name: str) -> Locator:
        """The download link of a file message named ``name``."""
        return self.locator(".message-file a").filter(has_text=name)
