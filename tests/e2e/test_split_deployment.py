"""``public/`` on a plain static host, the chat server at another origin.

The site owner builds once with the server's URL (``make build PORCH_SERVER_URL=...``) and
serves the result from anything that serves files: here Python's ``http.server``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import (
    PANEL,
    ROOT,
    AgentClient,
    PorchServer,
    open_chat,
    send_from_panel,
    serve_directory,
)
from porch_protocol import NewMessage


@pytest.fixture(scope="module")
def static_site(
    porch_server: PorchServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    out: Path = tmp_path_factory.mktemp("static-site")
    subprocess.run(
        [
            sys.executable,
            "tools/build_public.py",
            "--out",
            str(out),
            "--server-url",
            porch_server.url,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with serve_directory(out) as port:
        yield f"http://127.0.0.1:{port}"


def test_widget_from_a_static_host_chats_with_a_server_on_another_origin(
    recorded_page: Page, porch_server: PorchServer, static_site: str, agent: AgentClient
) -> None:
    page = recorded_page
    to_server: list[str] = []
    page.on(
        "request", lambda r: to_server.append(r.url) if r.url.startswith(porch_server.url) else None
    )
    page.goto(f"{static_site}/demo/")
    open_chat(page)
    send_from_panel(page, "hello from a static host")
    frame = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    assert frame.message.text == "hello from a static host"
    expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)
    # Only the API went to the chat server; every file came from the static host.
    assert to_server and all("/api/" in url for url in to_server)
