"""The browser adapter's boundary, in CPython with a fake ``js``: a Python exception while handling
one input (a panel message, a socket frame, a timer) is reported and costs that input only.

Issue 16: an exception that escaped the adapter fired the worker's ``error`` event, and the host
page removed the widget for good. These tests break the runtime on purpose, on one input, and
check that the next input is still handled.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_core import agent_message, welcome

from porch_protocol import NewMessage, SendMessage, decode, encode
from porch_runtime import core
from porch_runtime.core import RECONNECT_TIMER, VisitorRuntime


class Proxy:
    """What ``pyodide.ffi.create_proxy`` gives: a callable JavaScript can hold, destroyed once."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.destroyed = False

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def destroy(self) -> None:
        self.destroyed = True


class FakeSocket:
    def __init__(self, url: str) -> None:
        self.url = url
        self.readyState = 1
        self.listeners: dict[str, Proxy] = {}
        self.sent: list[str] = []

    def addEventListener(self, kind: str, proxy: Proxy) -> None:
        self.listeners[kind] = proxy

    def removeEventListener(self, kind: str, proxy: Proxy) -> None:
        self.listeners.pop(kind, None)

    def send(self, text: str) -> None:
        self.sent.append(text)

    def close(self, code: int) -> None:
        self.readyState = 3

    def fire(self, kind: str, **fields: Any) -> None:
        """The event as a browser would dispatch it: a JavaScript call into the listener."""
        self.listeners[kind](types.SimpleNamespace(**fields))


class FakeJs:
    """The few globals the adapter uses, recording what it did."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.sockets: list[FakeSocket] = []
        self.timers: dict[int, Proxy] = {}
        self.warnings: list[str] = []
        self.console = types.SimpleNamespace(error=self.errors.append, warn=self.warnings.append)
        self.Date = types.SimpleNamespace(now=lambda: 1_000)
        self.WebSocket = types.SimpleNamespace(new=self._socket)

    def _socket(self, url: str) -> FakeSocket:
        self.sockets.append(FakeSocket(url))
        return self.sockets[-1]

    def setTimeout(self, proxy: Proxy, ms: int) -> int:
        handle = len(self.timers) + 1
        self.timers[handle] = proxy
        return handle

    def clearTimeout(self, handle: int) -> None:
        self.timers.pop(handle, None)


@pytest.fixture
def fake_js(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJs]:
    """``js`` and ``pyodide.ffi`` as the worker has them, for as long as one test runs."""
    js = FakeJs()
    ffi = types.ModuleType("pyodide.ffi")
    ffi.create_proxy = Proxy  # type: ignore[attr-defined]
    ffi.to_js = lambda value, **_: value  # type: ignore[attr-defined]
    pyodide = types.ModuleType("pyodide")
    pyodide.ffi = ffi  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyodide", pyodide)
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.delitem(sys.modules, "porch_runtime.browser", raising=False)
    yield js
    sys.modules.pop("porch_runtime.browser", None)


class Worker:
    """The worker as worker.js sets it up: ``attach`` and the panel messages it is handed."""

    def __init__(self, js: FakeJs) -> None:
        self.js = js
        self.posted: list[dict[str, Any]] = []
        browser = importlib.import_module("porch_runtime.browser")
        self.receive = browser.attach(lambda text: self.posted.append(json.loads(text)))

    def panel(self, type_: str, **fields: Any) -> None:
        self.receive(json.dumps({"v": 1, "type": type_, **fields}))

    @property
    def socket(self) -> FakeSocket:
        return self.js.sockets[-1]

    def connect(self) -> None:
        self.panel("runtime.start", config={"server_url": "http://chat.test", "ticket": "T"})
        self.socket.fire("open")
        self.socket.fire("message", data=encode(welcome(source="resolved")))

    def sent(self) -> list[Any]:
        return [decode(text) for text in self.socket.sent]

    def rendered_texts(self) -> list[str]:
        return [m["message"]["text"] for m in self.posted if m["type"] == "render.message"]


def fail_on(monkeypatch: pytest.MonkeyPatch, method: str, when: Callable[[Any], bool]) -> None:
    """Make ``VisitorRuntime.<method>`` raise for the inputs ``when`` picks (a bug, on purpose)."""
    original = getattr(VisitorRuntime, method)

    def failing(self: VisitorRuntime, *args: Any) -> Any:
        if when(args[0]):
            raise RuntimeError(f"injected failure in {method}")
        return original(self, *args)

    monkeypatch.setattr(VisitorRuntime, method, failing)


def test_a_failing_server_frame_is_reported_and_the_next_frame_is_handled(
    fake_js: FakeJs, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(fake_js)
    worker.connect()
    fail_on(monkeypatch, "receive_server", lambda text: "BOOM" in text)

    worker.socket.fire("message", data=encode(NewMessage(message=agent_message(1, "BOOM"))))
    worker.socket.fire("message", data=encode(NewMessage(message=agent_message(2, "still here"))))

    assert len(fake_js.errors) == 1
    assert "the socket's message event" in fake_js.errors[0]
    assert "RuntimeError: injected failure in receive_server" in fake_js.errors[0]
    assert worker.rendered_texts()[-1] == "still here"


def test_a_failing_panel_message_is_reported_and_the_visitors_next_message_is_sent(
    fake_js: FakeJs, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(fake_js)
    worker.connect()
    fail_on(monkeypatch, "receive_host", lambda message: message.get("type") == "ui.typing")

    worker.panel("ui.typing", typing=True)
    worker.panel("ui.send", client_id="c-1", text="hello after the failure")

    assert len(fake_js.errors) == 1 and "a panel message" in fake_js.errors[0]
    assert SendMessage(client_id="c-1", text="hello after the failure") in worker.sent()


def test_a_second_start_is_dropped_as_a_refused_panel_message_and_the_chat_goes_on(
    fake_js: FakeJs,
) -> None:
    """Issue 12: ``InvalidTransition`` is the runtime refusing an input (it changed nothing), not
    a failure: the adapter says it dropped the message, and the session keeps its socket."""
    worker = Worker(fake_js)
    worker.connect()
    worker.panel("runtime.start", config={"server_url": "http://other.test", "ticket": "T2"})
    worker.panel("ui.send", client_id="c-1", text="still the same session")

    assert fake_js.errors == []
    assert len(fake_js.warnings) == 1 and "'start' is not valid in state 'ready'" in (
        fake_js.warnings[0]
    )
    assert len(fake_js.sockets) == 1
    assert SendMessage(client_id="c-1", text="still the same session") in worker.sent()


def test_what_the_runtime_queued_before_failing_is_still_carried_out(
    fake_js: FakeJs, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(fake_js)
    worker.connect()
    original = VisitorRuntime.receive_host

    def queue_then_fail(self: VisitorRuntime, message: dict[str, Any]) -> None:
        original(self, message)
        raise RuntimeError("after queueing")

    monkeypatch.setattr(VisitorRuntime, "receive_host", queue_then_fail)
    worker.panel("ui.send", client_id="c-2", text="queued before the failure")

    assert SendMessage(client_id="c-2", text="queued before the failure") in worker.sent()
    assert len(fake_js.errors) == 1


def test_a_failing_timer_is_reported_and_the_runtime_goes_on(
    fake_js: FakeJs, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = Worker(fake_js)
    worker.connect()
    worker.socket.fire("close", code=1006, reason="")
    fail_on(monkeypatch, "timer_fired", lambda name: name == RECONNECT_TIMER)
    (timer,) = fake_js.timers.values()

    timer()

    assert len(fake_js.errors) == 1 and f"timer {RECONNECT_TIMER}" in fake_js.errors[0]
    worker.panel("ui.send", client_id="c-3", text="typed while reconnecting")
    assert worker.rendered_texts()[-1] == "typed while reconnecting"


def test_the_issue_16_message_is_rendered_without_any_error(fake_js: FakeJs) -> None:
    worker = Worker(fake_js)
    worker.connect()
    text = "See [https://example.com](https://example.com)"
    worker.socket.fire("message", data=encode(NewMessage(message=agent_message(1, text))))
    worker.panel("ui.send", client_id="c-4", text="http://[x")

    assert fake_js.errors == []
    assert worker.rendered_texts()[-2:] == [text, "http://[x"]
    assert SendMessage(client_id="c-4", text="http://[x") in worker.sent()


def test_the_core_never_imports_js() -> None:
    assert "js" not in vars(core)
