"""Every payload of a committed XSS corpus (data/xss_payloads.txt, 261 lines) in every place
text appears, rendered in the widget and the agent console in real Chromium (issue 12).

Where text appears: chat messages both ways, visitor names and nicknames, custom attributes,
event metadata, tags, file names, pre-chat labels, options and answers, the offline form, the
app's name and offline message, agent names (in join messages and the console's team), and the
tawk.to widget greeting. A payload that ran would open a dialog (``alert``/``confirm``/
``prompt``: a ``dialog`` listener records it) or call ``__pwn`` (a sentinel installed in every
frame before any script). The DOM is also checked: the payloads' tags were never created.

One server of its own, one Pyodide boot for the visitor and one PyScript boot for the console,
for all payloads. Where a field's rules refuse a payload (event names, emails), the refusal is
the protection; the payload then goes into the fields that take it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from websockets.asyncio.client import ClientConnection

from conftest import ROOT, AgentClient, PorchServer
from console_page import BOOT_TIMEOUT_MS, ConsolePage
from raw_clients import (
    DEMO_AGENT,
    agent,
    agent_token,
    own_server,
    receive_type,
    run_async,
    visitor,
)
from widget_support import open_visitor

CORPUS = Path(__file__).with_name("data") / "xss_payloads.txt"
PAYLOADS = [
    line for line in CORPUS.read_text(encoding="utf-8").splitlines() if not line.startswith("# ")
]
#: Installed in every frame before its scripts: what a payload that ran would call; and any
#: Content-Security-Policy violation (a payload that tried, or Porch's own code breaking it).
SENTINEL = (
    "window.__pwned = []; window.__pwn = (x) => window.__pwned.push(String(x));"
    "document.addEventListener('securitypolicyviolation',"
    " (e) => window.__pwned.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));"
)
#: Elements a payload would have created had it been parsed as HTML.
INJECTED = (
    "script, img[onerror], svg, iframe, object, embed, details, marquee, video, audio, "
    "frameset, math, template, xmp, noscript, keygen, isindex, base, meta, link[rel=import], "
    "a[href^='javascript' i], [onload], [onerror], [onfocus], [onclick], [onmouseover]"
)
AGENT_NAMES = 4  # agents named by payloads (each costs a CLI run and a login)


def test_the_corpus_is_big_enough() -> None:
    assert len(PAYLOADS) >= 200 and len(set(PAYLOADS)) == len(PAYLOADS)
    assert all(0 < len(p) <= 200 for p in PAYLOADS)


def _fields(i: int) -> list[str]:
    """Payloads from ``i``, wrapping around (each field gets different ones)."""
    return [PAYLOADS[(i + k) % len(PAYLOADS)] for k in range(len(PAYLOADS))]


def _add_agent(server: PorchServer, n: int, name: str) -> tuple[str, str]:
    email, password = f"xss{n}@porch.demo", "xss-password"
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
        cwd=ROOT,
        env=server.env,
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return email, password


async def _request(ws: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps({"v": 1, **frame}))
    answer = await receive_type(ws, "request.done", "error", "conversation.search_results")
    return answer


async def _upload(http: httpx.AsyncClient, server: PorchServer, token: str, name: str) -> str:
    response = await http.post(
        f"{server.url}/api/v1/files",
        content=b"just text",
        headers={
            "authorization": f"Bearer {token}",
            "x-filename": quote(name[:180] + ".txt", safe=""),
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _seed_app(server: PorchServer) -> None:
    """The app's name, offline message, pre-chat form and tawk.to greeting are payloads."""
    p = _fields(0)

    async def seed() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            ws, welcome = await agent(server, await agent_token(http, server, *DEMO_AGENT))
            app = welcome["app"]
            app.update(
                name=p[0][:100],
                offline_message=p[1],
                prechat_fields=[
                    {"name": "name", "label": p[2][:100], "kind": "text", "required": True},
                    {
                        "name": "topic",
                        "label": p[3][:100],
                        "kind": "select",
                        "required": True,
                        "options": [o[:100] for o in p[4:9]],
                    },
                ],
            )
            for widget in app.get("tawk_widgets") or []:
                widget["greeting"] = p[9]
            answer = await _request(ws, {"type": "app.update", "request_id": "x", "app": app})
            assert answer["type"] == "request.done", answer
            await ws.close()

    run_async(seed)


def _seed_visitors(server: PorchServer, count: int) -> None:
    """Visitors whose every text field holds payloads: profile, attributes, tags, events,
    messages, files, and offline forms."""

    async def seed() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            for v in range(count):
                p = _fields(v * 23)
                ws, welcome = await visitor(
                    http, server, profile={"name": p[0], "nickname": p[1][:200]}
                )
                for n, text in enumerate(p[:20]):
                    await ws.send(
                        json.dumps(
                            {"v": 1, "type": "message.send", "client_id": f"m{n}", "text": text}
                        )
                    )
                    await receive_type(ws, "message.ack")
                file_id = await _upload(http, server, welcome["upload_token"], p[2])
                await ws.send(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "message.send",
                            "client_id": "f",
                            "text": "",
                            "file_id": file_id,
                        }
                    )
                )
                await receive_type(ws, "message.ack")
                await _request(
                    ws,
                    {
                        "type": "visitor.update",
                        "request_id": "u",
                        "attributes": {f"p{k}": p[k][:255] for k in range(10)},
                    },
                )
                await _request(
                    ws,
                    {"type": "tags.change", "request_id": "t", "add": [t[:255] for t in p[10:20]]},
                )
                await _request(
                    ws,
                    {
                        "type": "visitor.event",
                        "request_id": "e",
                        "name": "xss",
                        "metadata": {f"m{k}": p[k + 20][:255] for k in range(10)},
                    },
                )
                if v % 3 == 0:
                    await _request(
                        ws,
                        {
                            "type": "offline.submit",
                            "request_id": "o",
                            "name": p[30][:200],
                            "email": "o@x.test",
                            "message": p[31],
                        },
                    )
                await ws.close()

    run_async(seed)


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The harness's limits are lifted: the seeding sends hundreds of frames a second.
    with own_server(tmp_path_factory.mktemp("xss")) as server:
        _seed_app(server)
        agents = [_add_agent(server, n, PAYLOADS[40 + n][:200]) for n in range(AGENT_NAMES)]
        # Enough visitors that every payload is in every field kind at least once.
        _seed_visitors(server, len(PAYLOADS) // 20 + 1)
        yield server, agents


def _guard(page: Page) -> list[str]:
    """Record every dialog (and dismiss it) and install the sentinel in every frame."""
    opened: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        opened.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script(SENTINEL)
    return opened


def _ran(page: Page) -> list[str]:
    """What the sentinel recorded, in every frame."""
    ran: list[str] = []
    for frame in page.frames:
        ran += frame.evaluate("window.__pwned")
    return ran


def test_no_payload_runs_in_the_widget(xss_server: Any, browser: Browser) -> None:
    server, agents = xss_server
    context = browser.new_context()
    page = context.new_page()
    opened = _guard(page)
    panel = open_visitor(page, server)  # one Pyodide boot for everything below
    # No agent online: the offline form, asking the pre-chat questions (payloads) too.
    expect(panel.offline_form).to_be_visible()
    expect(panel.offline_form).to_contain_text(PAYLOADS[2][:100])
    online = AgentClient(server)  # now someone is online: the pre-chat form
    # The pre-chat form: labels and options are payloads; the answers are too.
    expect(panel.prechat).to_be_visible(timeout=30_000)
    expect(panel.prechat).to_contain_text(PAYLOADS[2][:100])
    panel.fill_prechat({"name": PAYLOADS[9][:200], "topic": PAYLOADS[4][:100]})
    typed = PAYLOADS[:3]
    for text in typed:
        panel.send(text)
        panel.wait_until_sent(text)

    async def answer() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            boss, welcome = await agent(server, await agent_token(http, server, *DEMO_AGENT))
            conversation = next(
                c["id"] for c in welcome["conversations"] if c.get("visitor_name") == PAYLOADS[9]
            )
            # Agents named by payloads join (the widget shows their names), then every payload
            # arrives as a message, a tenth of them with a file named by a payload.
            for email, password in agents:
                ws, _ = await agent(server, await agent_token(http, server, email, password))
                await ws.send(
                    json.dumps(
                        {
                            "v": 1,
                            "type": "message.send",
                            "client_id": "j",
                            "conversation_id": conversation,
                            "text": "joined",
                        }
                    )
                )
                await receive_type(ws, "message.ack")
                await ws.close()
            token = await agent_token(http, server, *DEMO_AGENT)
            for n, text in enumerate(PAYLOADS):
                frame = {
                    "v": 1,
                    "type": "message.send",
                    "client_id": f"a{n}",
                    "conversation_id": conversation,
                    "text": text,
                }
                if n % 10 == 0:
                    frame["file_id"] = await _upload(http, server, token, text)
                await boss.send(json.dumps(frame))
                await receive_type(boss, "message.ack")
            await boss.send(
                json.dumps(
                    {
                        "v": 1,
                        "type": "message.send",
                        "client_id": "end",
                        "conversation_id": conversation,
                        "text": "END-OF-XSS",
                    }
                )
            )
            await receive_type(boss, "message.ack")
            await boss.close()

    run_async(answer)
    expect(panel.message("END-OF-XSS")).to_be_visible(timeout=120_000)
    messages = panel.locator("#messages")
    # Text stayed text: a payload shows as itself, character for character...
    for text in (PAYLOADS[0], PAYLOADS[57], PAYLOADS[-1]):
        expect(panel.message(text).first).to_be_visible()
    # ...and no element a payload names was created.
    assert messages.locator(INJECTED).count() == 0
    assert opened == [] and _ran(page) == []
    online.close()
    context.close()


def test_no_payload_runs_in_the_console(xss_server: Any, browser: Browser) -> None:
    server, _ = xss_server
    context = browser.new_context()
    page = context.new_page()
    opened = _guard(page)
    console = ConsolePage(page, server.url).log_in()  # one PyScript boot for everything below
    expect(console.rows.first).to_be_visible(timeout=BOOT_TIMEOUT_MS)
    own = page.locator("body").locator(INJECTED).count()  # the console's own scripts
    count = console.rows.count()
    assert count >= len(PAYLOADS) // 20
    for n in range(count):
        row = console.rows.nth(n)
        conversation = row.get_attribute("data-conversation-id")
        assert conversation
        console.open_conversation(conversation)
        expect(console.messages.first).to_be_visible()
        for area in ("#messages", "#details", "#conversations"):
            assert page.locator(area).locator(INJECTED).count() == 0, (area, conversation)
        console.back_to_list()
    # The settings dialog shows the app's name, offline message and form, all payloads.
    dialog = console.open_settings()
    assert dialog.locator(INJECTED).count() == 0
    page.keyboard.press("Escape")
    assert page.locator("body").locator(INJECTED).count() == own
    assert opened == [] and _ran(page) == []
    context.close()
