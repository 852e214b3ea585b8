"""What the widget's conversation tests need beyond conftest: a visitor on the demo page with its
panel, the agent's side of one conversation, the demo app's settings changed for one test and put
back, and files uploaded the way an agent's client does."""

from __future__ import annotations

import dataclasses
import itertools
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from conftest import EVENT_RECORDER, AgentClient, PorchServer
from panel import VisitorPanel
from porch_protocol import (
    AppSettings,
    ErrorFrame,
    NewMessage,
    RequestDone,
    SetPresence,
    UpdateApp,
)

_request_ids = itertools.count(1)
#: ``change(**fields)``: the demo app's settings with ``fields`` replaced.
ChangeSettings = Callable[..., AppSettings]
#: ``set(status)``: the demo agent's presence.
SetPresenceStatus = Callable[[str], None]


def open_visitor(page: Page, server: PorchServer) -> VisitorPanel:
    """A new visitor on the demo host page with the panel open and the runtime welcomed."""
    page.add_init_script(EVENT_RECORDER)
    page.goto(f"{server.url}/demo/")
    panel = VisitorPanel(page)
    panel.open()
    return panel


def start_conversation(panel: VisitorPanel, agent: AgentClient, text: str) -> NewMessage:
    """The visitor writes ``text``; returns the agent's copy (it names the conversation)."""
    panel.send(text)
    frame: NewMessage = agent.wait_for(
        lambda f: (
            isinstance(f, NewMessage) and f.message.author == "visitor" and f.message.text == text
        )
    )
    panel.wait_until_sent(text)
    return frame


def request(agent: AgentClient, frame: Any) -> None:
    """Send a request frame and wait for its ``request.done`` (an ``error`` fails the test)."""
    agent.send(frame)
    answer = agent.wait_for(
        lambda f: (
            isinstance(f, RequestDone | ErrorFrame)
            and getattr(f, "request_id", None) == frame.request_id
        )
    )
    assert isinstance(answer, RequestDone), answer


def next_request_id() -> str:
    return f"widget-e2e-{next(_request_ids)}"


@pytest.fixture(name="app_settings")
def app_settings_fixture(agent: AgentClient) -> Iterator[ChangeSettings]:
    """``change(**fields)`` updates the demo app (the demo agent is its admin); the settings
    are put back after the test, so other tests see the demo app as it was."""
    original = agent.welcome.app
    assert original is not None, "the demo agent must be an admin to change the app"

    def change(**fields: Any) -> AppSettings:
        app = dataclasses.replace(original, **fields)
        request(agent, UpdateApp(request_id=next_request_id(), app=app))
        return app

    yield change
    request(agent, UpdateApp(request_id=next_request_id(), app=original))


@pytest.fixture(name="presence")
def presence_fixture(agent: AgentClient) -> Iterator[SetPresenceStatus]:
    """``set(status)`` changes the demo agent's presence; it is back to online afterwards."""

    def set_presence(status: str) -> None:
        agent.send(SetPresence(status=status))  # type: ignore[arg-type]

    yield set_presence
    agent.send(SetPresence(status="online"))


def agent_token(server: PorchServer) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/agent/login",
        json={"email": "agent@porch.demo", "password": "porch-demo"},
    )
    response.raise_for_status()
    return str(response.json()["token"])


def upload_as_agent(server: PorchServer, name: str, content_type: str, body: bytes) -> str:
    """Upload a file as the demo agent; returns its id for ``message.send``."""
    response = httpx.post(
        f"{server.url}/api/v1/files",
        content=body,
        headers={
            "Authorization": f"Bearer {agent_token(server)}",
            "X-Filename": name,
            "Content-Type": content_type,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def tiny_png() -> bytes:
    """A valid 1x1 PNG (the server checks the bytes, not the name)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
