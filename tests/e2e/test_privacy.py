"""The visitor's privacy filters (issue 13) in real Chromium, the host page on 127.0.0.1 and Porch
on localhost: card numbers, IBANs and the site's patterns are masked in the visitor's browser
(by the Python runtime) before the message is sent, the agent sees that something was masked,
and a photo's GPS position never reaches the server."""

from __future__ import annotations

import base64

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import AgentClient, PorchServer
from console_page import ConsolePage
from host_pages import Host
from panel import Upload, VisitorPanel
from porch_protocol import NewMessage
from support.privacy_images import exif_with_gps, has_gps, jpeg_with_exif, png_with_exif
from widget_support import tiny_png

SECRET = "card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00, order ORD-123456"
MASKED = "card •••• •••• •••• 1111, iban •••• •••• •••• •••• ••30 00, order ••••••••••"


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    return Host(page, porch_server)


def visitor(host: Host, **config: object) -> VisitorPanel:
    host.goto({"appid": "porch-demo", **config})
    panel = VisitorPanel(host.page)
    panel.open()
    return panel


def received(agent: AgentClient, start: str) -> NewMessage:
    frame: NewMessage = agent.wait_for(
        lambda f: isinstance(f, NewMessage) and f.message.text.startswith(start)
    )
    return frame


def test_cards_ibans_and_site_patterns_are_masked_before_sending_and_the_agent_is_told(
    host: Host, agent: AgentClient, porch_server: PorchServer
) -> None:
    panel = visitor(host, privacyPatterns=[r"ORD-\d{6}"])
    panel.send(SECRET)
    frame = received(agent, "card ")
    assert frame.message.text == MASKED
    assert frame.message.masked == ("card", "iban", "pattern")
    # The visitor sees what was sent.
    expect(panel.wait_until_sent(MASKED)).to_be_visible()
    # The agent console says what was masked.
    console = ConsolePage(host.page.context.new_page(), porch_server.url).open().log_in()
    console.open_conversation(frame.message.conversation_id)
    shown = console.message_with_text(MASKED)
    expect(shown).to_have_attribute("data-masked", "card iban pattern")
    expect(shown.locator(".message-meta")).to_contain_text(
        "masked: a card number, an IBAN, text the site hides"
    )


def test_a_site_that_turns_the_filter_off_sends_what_was_typed(
    host: Host, agent: AgentClient
) -> None:
    panel = visitor(host, privacyFilter=False, privacyPatterns=[r"ORD-\d{6}"])
    panel.send(SECRET)
    frame = received(agent, "card ")
    assert (frame.message.text, frame.message.masked) == (SECRET, ())


def camera_jpeg(page: Page) -> bytes:
    """A real JPEG (Chromium's encoder), 40x20, with a phone's Exif: GPS and orientation 6."""
    data_url = page.evaluate("""() => {
        const canvas = document.createElement("canvas");
        canvas.width = 40; canvas.height = 20;
        const g = canvas.getContext("2d");
        g.fillStyle = "#c00"; g.fillRect(0, 0, 40, 20);
        return canvas.toDataURL("image/jpeg", 0.9);
    }""")
    jpeg = base64.b64decode(data_url.split(",", 1)[1])
    return jpeg_with_exif(jpeg, exif_with_gps(orientation=6))


def uploaded_bytes(agent: AgentClient, name: str, porch_server: PorchServer) -> bytes:
    frame: NewMessage = agent.wait_for(
        lambda f: (
            isinstance(f, NewMessage) and f.message.file is not None and f.message.file.name == name
        )
    )
    assert frame.message.file is not None
    return httpx.get(porch_server.url + frame.message.file.url).content


def test_photos_reach_the_server_without_their_gps_position_and_still_open(
    host: Host, agent: AgentClient, porch_server: PorchServer
) -> None:
    panel = visitor(host)
    panel.send("a photo follows")
    received(agent, "a photo follows")
    photo = camera_jpeg(host.page)
    assert has_gps(photo)
    panel.attach_file(Upload("holiday.jpg", "image/jpeg", photo))
    stored = uploaded_bytes(agent, "holiday.jpg", porch_server)
    assert not has_gps(stored)
    assert b"Exif\x00\x00MM" in stored  # only the orientation is kept, so it shows upright
    assert len(stored) < len(photo)
    # It still opens: the panel's thumbnail decodes, rotated by the kept orientation (20x40).
    thumb = panel.file_link("holiday.jpg").locator("img.message-thumb")
    expect(thumb).to_be_visible()
    size = thumb.evaluate("(img) => img.decode().then(() => [img.naturalWidth, img.naturalHeight])")
    assert size == [20, 40]

    png = png_with_exif(tiny_png(), exif_with_gps())
    panel.attach_file(Upload("map.png", "image/png", png))
    stored_png = uploaded_bytes(agent, "map.png", porch_server)
    assert not has_gps(stored_png) and b"tEXt" not in stored_png
    assert stored_png == tiny_png()


def test_with_the_filter_off_photos_are_sent_as_they_are(
    host: Host, agent: AgentClient, porch_server: PorchServer
) -> None:
    panel = visitor(host, privacyFilter=False)
    panel.send("raw photo")
    received(agent, "raw photo")
    photo = camera_jpeg(host.page)
    panel.attach_file(Upload("raw.jpg", "image/jpeg", photo))
    assert uploaded_bytes(agent, "raw.jpg", porch_server) == photo
