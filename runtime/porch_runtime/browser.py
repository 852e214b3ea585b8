"""The browser adapter: the only module of the runtime that touches ``js`` and ``pyodide``.

It runs inside the panel's Web Worker. It feeds :class:`~porch_runtime.core.VisitorRuntime`
with what arrives (panel messages, WebSocket events, timers) and carries out what the core queues.
Bridge messages travel as JSON text both ways, so no JavaScript object crosses into Python.

Every proxy it creates is kept with what it serves (the socket's listeners, each timer) and
destroyed as soon as that is gone, so a long chat session does not leak proxies.

Every input (a panel message, a socket event, a timer, an upload's end) is handled on its own: a
Python exception while handling one is caught here, at the boundary, reported with its traceback
(``console.error`` in the worker) and the runtime goes on with the next input. Only a failed boot
takes the widget down: an exception that escaped into JavaScript would fire the worker's
``error`` event, and a runtime that cannot read one message must still carry the next one.

The one message that is not JSON text is ``ui.attach``: a structured-cloned object carrying the
visitor's ``File``. The adapter keeps the File (a handle; it never reads it into Python) until the
server has stored it, so a failed upload can be retried without asking the visitor again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import traceback
from collections.abc import Callable
from typing import Any

from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from porch_protocol.json_text import read_json
from porch_runtime.bridge import BridgeError
from porch_runtime.core import InvalidTransition, UploadOrder, VisitorRuntime
from porch_runtime.privacy import strip_metadata


class BrowserAdapter:
    def __init__(self, post: Callable[[str], None], js: Any) -> None:
        self._post = post
        self._js = js
        self.runtime = VisitorRuntime(
            now_ms=lambda: int(js.Date.now()),
            rng=random.random,
        )
        self._socket: Any = None
        self._socket_proxies: list[Any] = []
        self._timers: dict[str, tuple[int, Any]] = {}
        #: upload id -> the visitor's File, until the server stored it.
        self._files: dict[str, Any] = {}
        #: Running upload tasks (kept so they are not garbage-collected mid-flight).
        self._tasks: set[asyncio.Task[None]] = set()

    # --- inputs ---------------------------------------------------------------------------------

    def guarded(self, what: str, handler: Callable[..., None]) -> Callable[..., None]:
        """``handler`` for one kind of input, made safe to call from JavaScript: an exception is
        reported, whatever the runtime queued before it is still carried out, and nothing
        escapes (into the worker's ``error`` event, which the panel treats as a failed boot)."""

        def handle(*args: Any) -> None:
            try:
                handler(*args)
            except Exception:
                self._report(what)
                self._flush_after_error()

        return handle

    def _report(self, what: str) -> None:
        """Say what failed, with the traceback, and that the runtime carries on."""
        with contextlib.suppress(Exception):  # the report must not become the failure
            self._js.console.error(
                f"[porch] the runtime failed on {what}; it goes on with the next input.\n"
                + traceback.format_exc()
            )

    def _flush_after_error(self) -> None:
        try:
            self._flush()
        except Exception:
            self._report("carrying out what the runtime asked")

    def receive_panel(self, data: Any) -> None:
        try:
            if isinstance(data, str):
                self.runtime.receive_host(read_json(data))
            else:
                self._receive_attach(data)
        except (ValueError, BridgeError, InvalidTransition) as exc:
            # Refused before it changed anything (a second runtime.start, say): the runtime
            # stays in the state it was in.
            self._js.console.warn(f"[porch] dropped a panel message: {exc}")
        self._flush()

    def _receive_attach(self, data: Any) -> None:
        """``ui.attach`` with its File: the metadata goes to the runtime (which judges size and
        type), the File stays here."""
        if getattr(data, "type", None) != "ui.attach":
            raise BridgeError("only ui.attach may carry a file")
        file = getattr(data, "file", None)
        if file is None or not self._js.File.prototype.isPrototypeOf(file):
            raise BridgeError("ui.attach: file must be a File")
        message = {
            "v": getattr(data, "v", None),
            "type": getattr(data, "type", None),
            "upload_id": getattr(data, "upload_id", None),
            "name": file.name,
            "size": int(file.size),
            "content_type": file.type,
        }
        self.runtime.receive_host(message)
        if message["upload_id"] in self.runtime.uploads:
            self._files[message["upload_id"]] = file

    def _on_open(self, _event: Any) -> None:
        self.runtime.socket_opened()
        self._flush()

    def _on_message(self, event: Any) -> None:
        if isinstance(event.data, str):
            self.runtime.receive_server(event.data)
            self._flush()

    def _on_close(self, event: Any) -> None:
        self._drop_socket()
        self.runtime.socket_closed(int(event.code), str(event.reason))
        self._flush()

    def _on_timer(self, name: str) -> None:
        _, proxy = self._timers.pop(name, (0, None))
        if proxy is not None:
            proxy.destroy()
        self.runtime.timer_fired(name)
        self._flush()

    # --- outputs --------------------------------------------------------------------------------

    def _flush(self) -> None:
        for message in self.runtime.host_to_send():
            self._post(json.dumps(message))
        for action, argument in self.runtime.socket_actions():
            if action == "open":
                self._open(argument)
            elif self._socket is not None:
                self._socket.close(argument)
                self._drop_socket()
        for frame in self.runtime.server_to_send():
            if self._socket is not None and self._socket.readyState == 1:
                self._socket.send(frame)
        for name, delay in self.runtime.timers_to_set():
            self._set_timer(name, delay)
        for order in self.runtime.uploads_to_start():
            task = asyncio.ensure_future(self._guarded_upload(order))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded_upload(self, order: UploadOrder) -> None:
        try:
            await self._upload(order)
        except Exception:
            self._report(f"upload {order.upload_id}")
            self._flush_after_error()

    async def _upload(self, order: UploadOrder) -> None:
        file = self._files.get(order.upload_id)
        if file is None:
            self.runtime.upload_failed(order.upload_id, "file_missing")
            self._flush()
            return
        # The body is the file itself; its name travels URL-encoded in X-Filename.
        headers = self._js.Headers.new()
        headers.append("Authorization", f"Bearer {order.token}")
        headers.append("X-Filename", self._js.encodeURIComponent(file.name))
        headers.append("Content-Type", file.type or "application/octet-stream")
        body = file
        if order.strip_metadata:
            # A photo's Exif (its GPS position) never leaves the browser: the bytes are read,
            # rewritten without it in Python, and sent as a copy.
            data = (await file.arrayBuffer()).to_bytes()
            body = to_js(strip_metadata(data, order.content_type))
        init = to_js(
            {"method": "POST", "headers": headers, "body": body},
            dict_converter=self._js.Object.fromEntries,
        )
        failure = "network"
        try:
            response = await self._js.fetch(order.url, init)
            answer = (await response.json()).to_py()
            if not response.ok:
                failure = str(answer.get("error", f"http_{int(response.status)}"))
                answer = None
        except Exception as exc:  # a network failure arrives as a JsException
            self._js.console.warn(f"[porch] upload failed: {exc}")
            answer = None
        if answer is None:
            self.runtime.upload_failed(order.upload_id, failure)
        else:
            self.runtime.upload_finished(order.upload_id, answer)
            if order.upload_id not in self.runtime.uploads:
                self._files.pop(order.upload_id, None)
        self._flush()

    def _open(self, url: str) -> None:
        self._drop_socket()
        if url.startswith("http"):
            url = "ws" + url[4:]
        socket = self._js.WebSocket.new(url)
        handlers = {"open": self._on_open, "message": self._on_message, "close": self._on_close}
        for kind, handler in handlers.items():
            proxy = create_proxy(self.guarded(f"the socket's {kind} event", handler))
            socket.addEventListener(kind, proxy)
            self._socket_proxies.append((kind, proxy))
        self._socket = socket

    def _drop_socket(self) -> None:
        """Detach and forget the current socket; a late event from it can no longer arrive."""
        if self._socket is None:
            return
        for kind, proxy in self._socket_proxies:
            self._socket.removeEventListener(kind, proxy)
            proxy.destroy()
        self._socket_proxies = []
        self._socket = None

    def _set_timer(self, name: str, delay: float) -> None:
        previous = self._timers.pop(name, None)
        if previous is not None:
            self._js.clearTimeout(previous[0])
            previous[1].destroy()
        proxy = create_proxy(self.guarded(f"timer {name}", lambda: self._on_timer(name)))
        handle = self._js.setTimeout(proxy, int(delay * 1000))
        self._timers[name] = (handle, proxy)


def attach(post: Callable[[str], None]) -> Callable[[str], None]:
    """Create the adapter for this worker; the returned callable takes each panel message (JSON
    text) and never raises. The worker bootstrap calls this once, after Pyodide has loaded."""
    # Imported here, not with the module: the build imports this module into Pyodide's memory
    # snapshot (tools/build_snapshot.py), which cannot hold a JavaScript object such as `js`.
    import js  # type: ignore[import-not-found]

    adapter = BrowserAdapter(post, js)
    return adapter.guarded("a panel message", adapter.receive_panel)
