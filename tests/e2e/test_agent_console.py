"""The agent console (public/agent/) in real Chromium against a real server process.

Visitors are played by a plain WebSocket client speaking ``porch_protocol``, so these tests need
neither the widget nor its loader. Fixtures ``porch_server`` (``.url``, demo app and agent
created) and pytest-playwright's ``page`` come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from websockets.exceptions import ConnectionClosed

from console_page import LIVE_TIMEOUT_MS, PyVisitor, click_and_confirm
from porch_protocol import (
    AuthClosed,
    NewMessage,
)

pytestmark = pytest.mark.e2e

AGENT_EMAIL = "agent@porch.demo"
AGENT_PASSWORD = "porch-demo"
#: Pyodide boots in a worker in a fresh browser context: allow for a slow CI machine.
BOOT_TIMEOUT_MS = 60_000
#: A stored message's seq (a pending one has none).
STORED_SEQ = re.compile(r"^[1-9][0-9]*$")
#: Installed before any page script: every main-thread long task's duration, in ms.
LONG_TASK_RECORDER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(Math.round(entry.duration));
}).observe({ type: "longtask", buffered: true });
"""


#: Installed before any page script: every Content-Security-Policy violation on the page.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`;
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI} (${where})`);
});
"""


@pytest.fixture(autouse=True)
def no_csp_violations(page: Page) -> Iterator[None]:
    """The console is served with a strict policy (porch_server.transport.http.static.AGENT_CSP):
    every test here fails if the page (its event) or a worker (Chromium's console report,
    "Refused to ... Content Security Policy") hit it."""
    page.add_init_script(CSP_RECORDER)
    reports: list[str] = []
    page.on(
        "console",
        lambda m: reports.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield
    if not page.is_closed() and page.url.startswith("http"):
        reports += page.evaluate("window.__cspViolations || []")
    assert reports == [], "\n".join(reports)


@pytest.fixture
def visitor(porch_server: Any) -> Iterator[PyVisitor]:
    visitor = PyVisitor(porch_server.url)
    yield visitor
    visitor.close()


def _open_console(page: Page, server_url: str) -> None:
    page.goto(f"{server_url}/agent/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=BOOT_TIMEOUT_MS)


#: Appended to the console's served source by the tests below: it runs only if that source is
#: compiled, not when the bytecode compiled at build time is imported.
SOURCE_MARK = "\ndocument.body.dataset.compiledFrom = 'source'\n"


def _serve_console_with_a_mark(route: Route) -> None:
    response = route.fetch()
    route.fulfill(response=response, body=response.text() + SOURCE_MARK)


def test_the_console_boots_from_its_own_snapshot_with_its_pure_modules_imported(
    page: Page, porch_server: Any
) -> None:
    """The visitor runtime's boot levers (docs/performance.md), with a snapshot of its own:
    PyScript's interpreter is loader/console_pyodide.js, which restores
    ``console-snapshot.bin`` (never the visitor's), where console_state and the standard-library
    modules the console needs are already imported: it boots with the trimmed standard library,
    and a broken console_state.py source changes nothing."""
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text) if "[porch console]" in m.text else None)
    fetched: list[str] = []
    page.on(
        "request",
        lambda r: fetched.append(r.url.rsplit("/", 1)[1].split("?")[0])
        if "/vendor/pyodide/" in r.url and ("snapshot" in r.url or "stdlib" in r.url)
        else None,
    )
    page.context.route(
        re.compile(r"/agent/console_state\.py$"),
        lambda route: route.fulfill(body="raise SystemExit('compiled from source')\n"),
    )
    _open_console(page, porch_server.url)
    assert [line.split(" in ")[0] for line in logs if "booted" in line] == [
        "[porch console] Pyodide booted from the snapshot (http)"
    ]
    # The console works on it: a login attempt gets the server's answer.
    page.fill("#login-email", AGENT_EMAIL)
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).not_to_be_empty(timeout=LIVE_TIMEOUT_MS)
    assert sorted(fetched) == ["console-snapshot.bin", "python_stdlib_trimmed.zip"]


def test_a_broken_console_snapshot_falls_back_to_a_plain_boot(
    page: Page, porch_server: Any
) -> None:
    """Like the runtime's (tests/e2e/test_boot.py): the console boots without its snapshot, on the
    full standard library, and compiles its sources."""
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text) if "[porch console]" in m.text else None)
    stdlibs: list[str] = []
    page.on("request", lambda r: stdlibs.append(r.url) if "/python_stdlib" in r.url else None)
    page.context.route(
        re.compile(r"/console-snapshot\.bin\?"),
        lambda route: route.fulfill(status=200, body=b"not a memory snapshot"),
    )
    page.context.route(re.compile(r"/agent/console\.py$"), _serve_console_with_a_mark)
    _open_console(page, porch_server.url)
    assert any("snapshot boot failed" in line for line in logs), logs
    # The plain boot asked for the full one (the failed attempt may have asked for the trimmed).
    names = [url.rsplit("/", 1)[1].split("?")[0] for url in stdlibs]
    assert names[-1] == "python_stdlib.zip"
    assert set(names[:-1]) <= {"python_stdlib_trimmed.zip"}
    expect(page.locator("body")).to_have_attribute("data-compiled-from", "source")


def test_a_snapshot_boot_imports_the_console_compiled_at_build_time(
    page: Page, porch_server: Any
) -> None:
    """tools/console_bytecode.py: a snapshot boot imports console.py (and PyScript's package) from
    unchecked .pyc files made at build time, so a changed source file is not even read; without
    them (the zip refused), the very same page compiles that source."""
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text) if "[porch console]" in m.text else None)
    page.context.route(re.compile(r"/agent/console\.py$"), _serve_console_with_a_mark)
    _open_console(page, porch_server.url)
    assert "[porch console] the console's Python compiled at build time is in place" in logs
    expect(page.locator("body")).not_to_have_attribute("data-compiled-from", "source")

    page.context.route(re.compile(r"/agent/console-bytecode\.zip"), lambda route: route.abort())
    _open_console(page, porch_server.url)
    expect(page.locator("body")).to_have_attribute("data-compiled-from", "source")
    assert any("no compiled Python" in line for line in logs)


def _log_in(page: Page, server_url: str) -> None:
    _open_console(page, server_url)
    page.fill("#login-email", AGENT_EMAIL)
    page.fill("#login-password", AGENT_PASSWORD)
    page.click("#login-submit")
    expect(page.locator("body")).to_have_attribute("data-session", "ready", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")


def _conversation(page: Page, conversation_id: str) -> Any:
    return page.locator(f'#conversations button[data-conversation-id="{conversation_id}"]')


def test_python_runs_in_a_worker_with_the_page_cross_origin_isolated(
    page: Page, porch_server: Any
) -> None:
    page.add_init_script(LONG_TASK_RECORDER)
    _open_console(page, porch_server.url)
    assert page.evaluate("crossOriginIsolated") is True
    # ...under a strict policy that no page may frame (the fixture checks nothing broke it).
    headers = page.request.get(f"{porch_server.url}/agent/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert page.evaluate("document.querySelector('script[type=py]').hasAttribute('worker')")
    # The main thread never runs Pyodide: no interpreter global, and no task anywhere near the
    # seconds a main-thread boot blocks for (the bound is loose: CI machines are noisy).
    assert page.evaluate("typeof globalThis.loadPyodide") == "undefined"
    long_tasks = page.evaluate("window.__longTasks")
    assert max(long_tasks, default=0) < 500, long_tasks


def test_wrong_password_shows_an_error_and_stays_on_the_login_form(
    page: Page, porch_server: Any
) -> None:
    _open_console(page, porch_server.url)
    page.fill("#login-email", AGENT_EMAIL)
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#login-error")).not_to_be_empty()
    assert page.url == f"{porch_server.url}/agent/"  # the form never posted itself
    assert page.get_attribute("body", "data-session") is None


def test_login_connects_survives_a_reload_and_logs_out(page: Page, porch_server: Any) -> None:
    _log_in(page, porch_server.url)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-session", "ready", timeout=BOOT_TIMEOUT_MS)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    page.click("#logout")
    expect(page.locator("#login-email")).to_be_visible()
    expect(page.locator("#status")).to_have_attribute("data-state", "disconnected")
    assert page.evaluate("sessionStorage.length") == 0
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=BOOT_TIMEOUT_MS)
    expect(page.locator("#login-email")).to_be_visible()


def test_a_visitor_conversation_appears_live_and_the_agent_reply_reaches_the_visitor(
    page: Page, porch_server: Any, visitor: PyVisitor
) -> None:
    _log_in(page, porch_server.url)
    conversation_id = visitor.say("Hello, is anyone there?")
    item = _conversation(page, conversation_id)
    expect(item).to_contain_text("Ada", timeout=LIVE_TIMEOUT_MS)
    expect(item).to_contain_text("Hello, is anyone there?")
    expect(item.locator(".conversation-unread")).to_have_text("1")

    visitor.say("Second question")
    expect(item).to_contain_text("Second question", timeout=LIVE_TIMEOUT_MS)
    expect(item.locator(".conversation-unread")).to_have_text("2")

    item.click()
    messages = page.locator("#messages .message")
    expect(messages).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(messages.first).to_have_attribute("data-author", "visitor")
    expect(messages.first).to_have_attribute("data-seq", "1")
    expect(messages.first.locator(".message-text")).to_have_text("Hello, is anyone there?")
    expect(item.locator(".conversation-unread")).to_be_hidden()  # opening it read it

    page.fill("#reply-text", "Hi Ada, how can I help?")
    page.press("#reply-text", "Enter")
    reply = page.locator('#messages .message[data-author="agent"]')
    expect(reply).to_have_count(1)
    expect(reply.locator(".message-text")).to_have_text("Hi Ada, how can I help?")
    # Stored after the visitor's two messages (and the system line of the agent joining).
    expect(reply).to_have_attribute("data-seq", STORED_SEQ, timeout=LIVE_TIMEOUT_MS)
    expect(reply).not_to_have_attribute("data-pending", "true")
    expect(page.locator("#reply-text")).to_have_value("")

    frame = visitor.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "agent")
    assert frame.message.text == "Hi Ada, how can I help?"
    assert frame.message.conversation_id == conversation_id

    # A visitor message in the open conversation shows up and is announced politely.
    visitor.say("Thanks!")
    expect(messages.last).to_have_attribute("data-author", "visitor", timeout=LIVE_TIMEOUT_MS)
    expect(messages.last.locator(".message-text")).to_have_text("Thanks!")
    expect(page.locator('[aria-live="polite"]')).to_contain_text("Thanks!")


def test_shift_enter_adds_a_line_and_the_send_button_sends(
    page: Page, porch_server: Any, visitor: PyVisitor
) -> None:
    _log_in(page, porch_server.url)
    conversation_id = visitor.say("Multi-line please")
    _conversation(page, conversation_id).click()
    expect(page.locator("#messages .message")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    page.type("#reply-text", "line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    page.click("#reply-send")
    frame = visitor.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "agent")
    assert frame.message.text == "line one\nline two"
    reply = page.locator('#messages .message[data-author="agent"] .message-text')
    expect(reply).to_have_text("line one\nline two", timeout=LIVE_TIMEOUT_MS)


def test_html_in_messages_is_shown_as_text(
    page: Page, porch_server: Any, visitor: PyVisitor
) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _log_in(page, porch_server.url)
    conversation_id = visitor.say(hostile)
    item = _conversation(page, conversation_id)
    expect(item.locator(".conversation-last")).to_have_text(hostile, timeout=LIVE_TIMEOUT_MS)
    item.click()
    text = page.locator("#messages .message .message-text")
    expect(text).to_have_text(hostile, timeout=LIVE_TIMEOUT_MS)
    page.fill("#reply-text", "<b>bold?</b>")
    page.click("#reply-send")
    reply = page.locator('#messages .message[data-author="agent"] .message-text')
    expect(reply).to_have_text("<b>bold?</b>", timeout=LIVE_TIMEOUT_MS)
    assert page.locator("#conversations img, #messages img, #messages b").count() == 0
    assert dialogs == []


def test_closing_the_visitor_session_revokes_the_visitor(
    page: Page, porch_server: Any, visitor: PyVisitor
) -> None:
    _log_in(page, porch_server.url)
    conversation_id = visitor.say("Please close my session")
    _conversation(page, conversation_id).click()
    expect(page.locator("#messages .message")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    dialog = click_and_confirm(page, "#revoke-visitor")
    assert dialog.type == "confirm" and "Ada" in dialog.message
    try:
        frame = visitor.wait_for(lambda f: isinstance(f, AuthClosed))
        assert frame.clear_token
    except ConnectionClosed as closed:  # the frame may be lost to the close; the code is not
        assert closed.rcvd is not None and closed.rcvd.code == 4410


def test_the_session_lives_in_an_httponly_cookie_and_an_ended_one_returns_to_the_login_form(
    page: Page, porch_server: Any
) -> None:
    _log_in(page, porch_server.url)
    cookies = {c["name"]: c for c in page.context.cookies(porch_server.url)}
    session = cookies["porch_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert "porch_session" not in page.evaluate("document.cookie")
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0  # no token kept
    # The session ends on the server (another tab logged out); the open socket learns it at
    # its next connection.
    status = page.evaluate("fetch('/api/v1/agent/logout', {method: 'POST'}).then(r => r.status)")
    assert status == 204
    porch_server.restart()
    expect(page.locator("#login-error")).to_contain_text("expired", timeout=BOOT_TIMEOUT_MS)
    expect(page.locator("#status")).to_have_attribute("data-state", "disconnected")


def test_the_console_reconnects_after_a_server_restart_and_sends_what_was_typed_meanwhile(
    page: Page, porch_server: Any, visitor: PyVisitor
) -> None:
    _log_in(page, porch_server.url)
    conversation_id = visitor.say("Are you still there?")
    _conversation(page, conversation_id).click()
    expect(page.locator("#messages .message")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)

    porch_server.stop()
    expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
    page.fill("#reply-text", "Yes, one moment")
    page.click("#reply-send")
    reply = page.locator('#messages .message[data-author="agent"]')
    expect(reply).to_have_attribute("data-pending", "true")

    porch_server.start()
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=30_000)
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-seq", STORED_SEQ, timeout=LIVE_TIMEOUT_MS)
    expect(reply.locator(".message-text")).to_have_text("Yes, one moment")
