"""The screenshots in docs/screenshots/: every state of the widget on a phone and on a desktop, in
both themes, plus the chat in Arabic (right to left). ``make screenshots`` runs this file (it is
not named test_*.py, so the test suite does not); it drives the real widget against a real
server with the e2e fixtures, exactly as the tests do, and overwrites the PNGs.

File names: ``{device}-{state}-{theme}.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from conftest import EVENT_RECORDER, LAUNCHER, PANEL, ROOT, AgentClient, PorchServer
from host_pages import phone_device
from panel import Upload, VisitorPanel
from porch_protocol import FormField, SendMessage
from widget_support import (  # noqa: F401 (the *_fixture imports register fixtures)
    ChangeSettings,
    SetPresenceStatus,
    app_settings_fixture,
    presence_fixture,
    start_conversation,
    tiny_png,
    upload_as_agent,
)

OUT = ROOT / "docs" / "screenshots"
THEMES = ["light", "dark"]


def device_options(playwright: Playwright, device: str) -> dict[str, Any]:
    if device == "phone":
        # Pixel 7's screen at one pixel per CSS pixel: the docs need the layout, not the density.
        return {**phone_device(playwright, "Pixel 7"), "device_scale_factor": 1}
    return {"viewport": {"width": 1024, "height": 720}}


@pytest.fixture(params=["phone", "desktop"])
def device(request: pytest.FixtureRequest, browser: Browser, playwright: Playwright) -> Iterator[
    tuple[str, Page]
]:
    context = browser.new_context(**device_options(playwright, request.param))
    page = context.new_page()
    page.add_init_script(EVENT_RECORDER)
    yield request.param, page
    context.close()


def shoot(device: tuple[str, Page], state: str) -> None:
    name, page = device
    OUT.mkdir(parents=True, exist_ok=True)
    for theme in THEMES:
        page.evaluate("(theme) => TWTChatWidget.call('set_theme', theme)", theme)
        for surface in (LAUNCHER, PANEL):
            if page.locator(surface).count() and page.locator(surface).is_visible():
                root = page.frame_locator(surface).locator("html")
                expect(root).to_have_attribute("data-theme", theme)
                root.evaluate("() => Promise.all(document.getAnimations().map((a) => a.finished))")
        page.screenshot(path=OUT / f"{name}-{state}-{theme}.png", animations="disabled",
                        caret="hide")
    page.evaluate("TWTChatWidget.call('set_theme', 'light')")


def open_demo(page: Page, server: PorchServer) -> VisitorPanel:
    page.goto(f"{server.url}/demo/")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_be_visible()
    return VisitorPanel(page)


def test_screenshots_of_a_whole_conversation(
    device: tuple[str, Page], porch_server: PorchServer, agent: AgentClient,
    app_settings: ChangeSettings,
) -> None:
    app_settings(prechat_fields=(
        FormField(name="name", label="Your name", required=True),
        FormField(name="email", label="Email", kind="email", required=True),
    ))
    _, page = device
    panel = open_demo(page, porch_server)
    shoot(device, "launcher")
    panel.open()
    expect(panel.prechat).to_be_visible()
    shoot(device, "prechat")

    panel.fill_prechat({"name": "Ada", "email": "ada@example.com"})
    first = start_conversation(panel, agent, "Hi! Does the blue jacket come in size M?")
    conversation = first.message.conversation_id
    agent.send(SendMessage(client_id="shot-1", text="It does! Shall I put one aside for you?",
                           conversation_id=conversation))
    panel.wait_for_message("put one aside", author="agent")
    panel.send("Yes please, here is my order:")
    panel.wait_until_sent("here is my order")
    shoot(device, "chat")

    panel.attach_file(Upload("order.png", "image/png", tiny_png()))
    expect(panel.file_link("order.png")).to_be_visible()
    file_id = upload_as_agent(porch_server, "receipt.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    agent.send(SendMessage(client_id="shot-2", text="", conversation_id=conversation,
                           file_id=file_id))
    expect(panel.file_link("receipt.pdf")).to_be_visible()
    shoot(device, "files")

    page.evaluate("TWTChatWidget.setLanguage('ar')")
    agent.send(SendMessage(client_id="shot-3", text="شكرًا لك! طلبك رقم 42 جاهز.",
                           conversation_id=conversation))
    panel.wait_for_message("42", author="agent")
    shoot(device, "chat-ar")
    page.evaluate("TWTChatWidget.setLanguage('en')")

    panel.end_chat()
    expect(panel.locator("#rating-prompt")).to_be_visible()
    shoot(device, "rating")
    panel.rate(1)
    shoot(device, "ended")


def test_screenshots_of_the_offline_form(
    device: tuple[str, Page], porch_server: PorchServer, presence: SetPresenceStatus
) -> None:
    presence("offline")
    _, page = device
    panel = open_demo(page, porch_server)
    panel.open()
    expect(panel.offline_form).to_be_visible()
    shoot(device, "offline")
