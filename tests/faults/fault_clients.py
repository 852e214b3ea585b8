"""The fault suite's clients: real WebSocket clients speaking Porch's wire protocol.

- :class:`VisitorClient` is the widget's visitor runtime itself, ``porch_runtime.core``'s
  sans-I/O state machine, with a thin asyncio adapter written for these tests in place of the
  browser's (``browser.py``): a websockets connection for the WebSocket, ``loop.call_later`` for
  timers, and a panel that reports every rendered message as shown (and seen, when ``seen``).
  Timers run ``time_scale`` times their real length, so a schedule's reconnect backoff (up to 15 s)
  fits a CI budget; the delays are still the runtime's own, in the same proportions.
- :class:`AgentClient` is an agent's console reduced to its delivery duties: it watches one
  conversation, replies to each visitor message (client id derived from the visitor's, so a
  resend can never duplicate), reads what it has, and after each welcome resends what is not
  acknowledged and fetches the history it may have missed (``conversation.open``). It reconnects
  on the consoles' schedule, ``porch_protocol.backoff``.

Each records what it was delivered, so a test can hold both views against the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from porch_protocol import (
    AgentHello,
    AgentWelcome,
    ChatMessage,
    ConversationHistory,
    MessageAck,
    NewMessage,
    OpenConversation,
    ProtocolError,
    ReadUpdated,
    ReadUpTo,
    SendMessage,
    backoff,
    decode,
    encode,
)
from porch_runtime.core import State, VisitorRuntime

#: Longest wait for a socket to open (the browser's own is longer; a dead proxy link is not).
OPEN_TIMEOUT = 5.0


def ws_url(http_url: str) -> str:
    return "ws" + http_url[4:] if http_url.startswith("http") else http_url


class Changes:
    """Wakes whoever waits for a client's view to change (no polling)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._event.clear()
                await self._event.wait()
        del what  # named for the caller's traceback


class VisitorClient:
    """The visitor runtime over a real WebSocket (see the module docstring)."""

    def __init__(
        self,
        server_url: str,
        ticket: str,
        *,
        seed: int,
        time_scale: float,
        changes: Changes | None = None,
    ) -> None:
        self.server_url = server_url
        self.ticket = ticket
        self.time_scale = time_scale
        self.runtime = VisitorRuntime(
            now_ms=lambda: int(time.time() * 1000), rng=random.Random(seed).random
        )
        self.changes = changes or Changes()
        #: Whether the panel is open in a visible tab (``ui.shown``'s ``seen``).
        self.seen = True
        self.events: list[tuple[str, Any]] = []
        #: ``chat_message`` events per message id (the runtime announces each at most once).
        self.announced: Counter[str] = Counter()
        #: ``host.result`` of each host command, by id.
        self.results: dict[str, dict[str, Any]] = {}
        self.logs: list[str] = []
        self.sockets_opened = 0
        self._generation = 0
        self._socket: ClientConnection | None = None
        self._outgoing: asyncio.Queue[str | None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._commands = 0
        self._closed = False

    # --- the panel ------------------------------------------------------------------------------

    def start(self) -> None:
        config = {"server_url": self.server_url, "ticket": self.ticket, "locale": "en"}
        self._panel({"v": 1, "type": "runtime.start", "config": config})

    def send(self, client_id: str, text: str) -> None:
        self._panel({"v": 1, "type": "ui.send", "client_id": client_id, "text": text})

    def show_all(self) -> None:
        """The panel reports everything rendered as shown (seen when ``self.seen``)."""
        self._panel({"v": 1, "type": "ui.shown", "seq": self.runtime.last_seq, "seen": self.seen})

    def command(self, name: str, args: dict[str, Any]) -> str:
        self._commands += 1
        command_id = f"cmd-{self._commands}"
        message = {"v": 1, "type": "host.command", "id": command_id, "name": name, "args": args}
        self._panel(message)
        return command_id

    @property
    def state(self) -> State:
        return self.runtime.state

    def _panel(self, message: dict[str, Any]) -> None:
        self.runtime.receive_host(message)
        self._flush()

    # --- the adapter ----------------------------------------------------------------------------

    def _flush(self) -> None:
        rendered = False
        for message in self.runtime.host_to_send():
            kind = message["type"]
            if kind == "render.message":
                rendered = True
            elif kind == "host.event":
                self.events.append((message["name"], message["payload"]))
                if message["name"] == "chat_message":
                    self.announced[self._announced_id(message["payload"])] += 1
            elif kind == "host.result":
                self.results[message["id"]] = message
            elif kind == "runtime.log":
                self.logs.append(message["text"])
        for action, argument in self.runtime.socket_actions():
            if action == "open":
                self._open(argument)
            else:
                self._drop_socket(argument)
        for frame in self.runtime.server_to_send():
            if self._outgoing is not None:
                self._outgoing.put_nowait(frame)
        for name, delay in self.runtime.timers_to_set():
            previous = self._timers.pop(name, None)
            if previous is not None:
                previous.cancel()
            loop = asyncio.get_running_loop()
            self._timers[name] = loop.call_later(delay * self.time_scale, self._timer, name)
        if rendered:
            # The panel rendered something: it reports it shown, as panel.js does.
            self.show_all()
        self.changes.notify()

    def _announced_id(self, payload: dict[str, Any]) -> str:
        matches = [
            m.id
            for m in self.runtime.messages.values()
            if m.conversation_id == payload["conversation_id"] and m.seq == payload["seq"]
        ]
        return matches[0] if matches else f"?{payload['seq']}"

    def _timer(self, name: str) -> None:
        self._timers.pop(name, None)
        if not self._closed:
            self.runtime.timer_fired(name)
            self._flush()

    def _open(self, url: str) -> None:
        self._drop_socket(1000)
        self._generation += 1
        self._outgoing = asyncio.Queue()
        task = asyncio.create_task(self._run_socket(ws_url(url), self._generation, self._outgoing))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop_socket(self, code: int) -> None:
        """Forget the current socket (its late events no longer reach the runtime)."""
        self._generation += 1
        if self._outgoing is not None:
            self._outgoing.put_nowait(None)
        self._outgoing = None
        socket, self._socket = self._socket, None
        if socket is not None:
            task = asyncio.create_task(socket.close(code))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_socket(
        self, url: str, generation: int, outgoing: asyncio.Queue[str | None]
    ) -> None:
        try:
            socket = await connect(
                url,
                compression=None,
                ping_interval=None,  # a browser's WebSocket never pings
                open_timeout=OPEN_TIMEOUT,
                close_timeout=1,
                max_size=None,
            )
        except (OSError, TimeoutError, ConnectionClosed, Exception):
            if generation == self._generation and not self._closed:
                self.runtime.socket_closed(1006, "")
                self._flush()
            return
        if generation != self._generation or self._closed:
            await socket.close()
            return
        self._socket = socket
        self.sockets_opened += 1
        writer = asyncio.create_task(self._write(socket, outgoing))
        self.runtime.socket_opened()
        self._flush()
        try:
            async for text in socket:
                if generation != self._generation:
                    break
                if isinstance(text, str):
                    self.runtime.receive_server(text)
                    self._flush()
        except ConnectionClosed:
            pass
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        if generation == self._generation and not self._closed:
            self._socket = None
            self._outgoing = None
            code = socket.close_code if socket.close_code is not None else 1006
            self.runtime.socket_closed(code, socket.close_reason or "")
            self._flush()

    async def _write(self, socket: ClientConnection, outgoing: asyncio.Queue[str | None]) -> None:
        """Frames in the order the runtime queued them (a browser's ``send`` never reorders)."""
        while (frame := await outgoing.get()) is not None:
            try:
                await socket.send(frame)
            except ConnectionClosed:
                return  # the reader sees the close and tells the runtime

    async def aclose(self) -> None:
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._drop_socket(1000)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class AgentClient:
    """An agent's console, reduced to delivery (see the module docstring)."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        seed: int,
        time_scale: float,
        changes: Changes | None = None,
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.time_scale = time_scale
        self.rng = random.Random(seed)
        self.changes = changes or Changes()
        self.conversation_id: str | None = None
        #: What this console was delivered of the watched conversation, by message id.
        self.view: dict[str, ChatMessage] = {}
        #: How many times each message id was delivered (live, acked or in a history).
        self.deliveries: Counter[str] = Counter()
        #: Replies not acknowledged yet, by client id.
        self.outbox: dict[str, SendMessage] = {}
        self.acked: dict[str, ChatMessage] = {}
        self.read_seq = 0
        #: The visitor's read position as the last ``read.updated`` told it.
        self.visitor_read_seq = 0
        self.welcomed = False
        self.sockets_opened = 0
        self._socket: ClientConnection | None = None
        self._outgoing: asyncio.Queue[str] | None = None
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        #: (answer number on this socket, future) of :meth:`history` calls.
        self._history_waiters: list[tuple[int, asyncio.Future[ConversationHistory]]] = []
        #: ``conversation.open`` sent and answered on the current socket.
        self._asked = 0
        self._answered = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def watch(self, conversation_id: str) -> None:
        if self.conversation_id == conversation_id:
            return
        self.conversation_id = conversation_id
        self._ask_history()

    async def history(self) -> ConversationHistory:
        """Read up to what this console has, then ask for the watched conversation's history
        and await the answer to that very request: the server handles a socket's frames in
        order, so the read is stored by then. Asked again after a reconnect."""
        assert self.conversation_id is not None
        waiter: asyncio.Future[ConversationHistory] = asyncio.get_running_loop().create_future()
        self._send(ReadUpTo(seq=self.read_seq, conversation_id=self.conversation_id))
        self._history_waiters.append((self._ask_history(), waiter))
        return await waiter

    def _ask_history(self) -> int:
        """Send ``conversation.open``; the number of its answer on this socket."""
        self._asked += 1
        self._send(OpenConversation(conversation_id=self.conversation_id or ""))
        return self._asked

    def _send(self, frame: Any) -> None:
        if self._outgoing is not None and self.welcomed:
            self._outgoing.put_nowait(encode(frame))

    async def _write(self, socket: ClientConnection, outgoing: asyncio.Queue[str]) -> None:
        """Frames in the order they were queued (a browser's ``send`` never reorders)."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await socket.send(await outgoing.get())

    async def _run(self) -> None:
        delays = backoff(self.rng.random)
        while not self._stopped:
            try:
                socket = await connect(
                    ws_url(self.server_url) + "/ws/agent",
                    compression=None,
                    ping_interval=None,
                    open_timeout=OPEN_TIMEOUT,
                    close_timeout=1,
                    max_size=None,
                )
            except Exception:  # refused, reset, timed out: the next attempt after a delay
                await asyncio.sleep(next(delays) * self.time_scale)
                continue
            self.sockets_opened += 1
            self._socket, self._outgoing = socket, asyncio.Queue()
            writer = asyncio.create_task(self._write(socket, self._outgoing))
            try:
                await socket.send(encode(AgentHello(token=self.token)))
                async for text in socket:
                    if isinstance(text, str) and self._receive(text):
                        delays = backoff(self.rng.random)
            except ConnectionClosed:
                pass
            finally:
                writer.cancel()
                self._socket, self._outgoing = None, None
                self.welcomed = False
                self.changes.notify()
            if not self._stopped:
                await asyncio.sleep(next(delays) * self.time_scale)

    def _receive(self, text: str) -> bool:
        """Handle one frame; True for a welcome."""
        try:
            frame = decode(text, max_chars=None)
        except ProtocolError:
            return False
        welcomed = isinstance(frame, AgentWelcome)
        if welcomed:
            self.welcomed = True
            self._asked = self._answered = 0
            for pending in self.outbox.values():
                self._send(pending)
            if self.conversation_id is not None:
                if self.read_seq:
                    self._send(ReadUpTo(seq=self.read_seq, conversation_id=self.conversation_id))
                asked = self._ask_history()
                self._history_waiters = [(asked, w) for _, w in self._history_waiters]
        elif isinstance(frame, NewMessage):
            self._deliver(frame.message)
        elif isinstance(frame, MessageAck):
            if self.outbox.pop(frame.client_id, None) is not None:
                self.acked[frame.client_id] = frame.message
            self._deliver(frame.message)
        elif isinstance(frame, ConversationHistory):
            if frame.conversation_id == self.conversation_id:
                self._answered += 1
                for message in frame.messages:
                    self._deliver(message)
                for asked, waiter in self._history_waiters:
                    if asked <= self._answered and not waiter.done():
                        waiter.set_result(frame)
                self._history_waiters = [
                    (a, w) for a, w in self._history_waiters if not w.done()
                ]
        elif (
            isinstance(frame, ReadUpdated)
            and frame.conversation_id == self.conversation_id
            and frame.reader == "visitor"
        ):
            self.visitor_read_seq = max(self.visitor_read_seq, frame.seq)
        self.changes.notify()
        return welcomed

    def _deliver(self, message: ChatMessage) -> None:
        if message.conversation_id != self.conversation_id:
            return
        self.deliveries[message.id] += 1
        known = self.view.get(message.id)
        assert known is None or known == message, f"message {message.id} changed: {known}"
        self.view[message.id] = message
        if message.author == "visitor" and message.client_id is not None:
            self._reply(message)
        top = max(m.seq for m in self.view.values())
        if top > self.read_seq:
            self.read_seq = top
            self._send(ReadUpTo(seq=top, conversation_id=self.conversation_id))

    def _reply(self, message: ChatMessage) -> None:
        client_id = f"re-{message.client_id}"
        if client_id in self.outbox or client_id in self.acked:
            return
        assert self.conversation_id is not None
        reply = SendMessage(
            client_id=client_id,
            text=f"reply to {message.text}",
            conversation_id=self.conversation_id,
        )
        self.outbox[client_id] = reply
        self._send(reply)

    async def aclose(self) -> None:
        self._stopped = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
