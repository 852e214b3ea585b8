"""One accepted WebSocket: an ordered outbox drained by a writer task, and frame reading.

A socket handler creates a :class:`Connection`, runs :meth:`Connection.serve` with its own
reading loop, and only ever *queues* frames (:meth:`send`, :meth:`close`). The writer alone
touches the socket's send side, so frames from fan-out and from the handler never interleave.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from porch_protocol import CloseCode, ErrorFrame, Message, ProtocolError, decode, encode

log = logging.getLogger(__name__)

#: Frames queued for one socket before it is considered stuck and dropped. A dropped client
#: reconnects and catches up from its ``last_seq``, so dropping loses nothing.
OUTBOX_LIMIT = 512

#: Close code for a socket whose outbox overflowed, or that may not open now (RFC 6455 "try
#: again later"): the client reconnects after its backoff.
TRY_AGAIN_LATER = 1013

#: Error codes after which the stream cannot be trusted any more: close with PROTOCOL_ERROR.
FATAL_PROTOCOL_CODES = frozenset({"bad_json", "bad_version", "too_large"})


#: Where a failed field means a tawk.to error code rather than a protocol one: values of custom
#: attributes and event metadata must be scalars, tags strings.
_FIELD_CODES = (
    ("visitor.update.attributes", "CONTAINS_INVALID_VALUE"),
    ("visitor.event.metadata", "CONTAINS_INVALID_VALUE"),
    ("tags.change.add", "INVALID_TAGS"),
    ("tags.change.remove", "INVALID_TAGS"),
)


@dataclass(frozen=True)
class _Close:
    code: int


@dataclass(frozen=True)
class BadFrame:
    """A frame that failed validation, and the ``request_id`` it carried (if any) so the error
    answering it can name the request."""

    error: ProtocolError
    request_id: str | None = None

    @property
    def code(self) -> str:
        if self.error.code == "bad_field":
            for prefix, code in _FIELD_CODES:
                if str(self.error).startswith(prefix):
                    return code
        return self.error.code


class Disconnected(Exception):
    """The client went away; the handler must stop reading."""


class Connection:
    """A :class:`porch_server.realtime.hub.Peer` backed by a Starlette WebSocket."""

    __slots__ = ("_closing", "_handling", "_held", "_outbox", "_ready", "_stopped", "websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        # A deque while frames wait, None once drained: an idle socket (most of them, with
        # thousands connected) holds no buffer. An asyncio.Queue held ~2.7 KiB per socket.
        self._outbox: deque[Message | _Close] | None = None
        #: What the writer awaits while the outbox is empty; :meth:`_put` resolves it.
        self._ready: asyncio.Future[None] | None = None
        self._closing = False
        #: The reader is in :meth:`handle`; the writer then leaves ending the connection to it.
        self._handling = False
        #: The writer has stopped (the client is gone, or a queued close went out).
        self._stopped = False
        #: Frames sent between :meth:`hold` and :meth:`release`; None otherwise.
        self._held: list[Message] | None = None

    def send(self, frame: Message) -> None:
        """Queue ``frame``; drops the socket (close 1013) if the client stopped reading."""
        if self._closing:
            return
        if self._held is not None:
            self._held.append(frame)
            return
        if self._outbox is not None and len(self._outbox) >= OUTBOX_LIMIT:
            log.warning("outbox full, dropping slow socket")
            self.close(TRY_AGAIN_LATER)
            return
        self._put(frame)

    def hold(self) -> None:
        """Keep frames sent from now on back until :meth:`release`. A socket joins its hub
        channels *before* its welcome reads what it carries, so a message committed meanwhile is
        either in the welcome or fanned out to it; the welcome must still go first."""
        self._held = []

    def release(self, first: Message) -> None:
        """Queue ``first`` (the welcome), then the frames held since :meth:`hold`, in order."""
        held, self._held = self._held or [], None
        self.send(first)
        for frame in held:
            self.send(frame)

    def close(self, code: int) -> None:
        """Queue a close after everything already queued; later sends are ignored."""
        if not self._closing:
            self._closing = True
            self._put(_Close(code))

    def _put(self, item: Message | _Close) -> None:
        if self._outbox is None:
            self._outbox = deque()
        self._outbox.append(item)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def _next(self) -> Message | _Close:
        while self._outbox is None:
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None
        item = self._outbox.popleft()
        if not self._outbox:
            self._outbox = None
        return item

    def fail(self, code: str, message: str, close_code: int) -> None:
        """Send a fatal :class:`ErrorFrame` and close with ``close_code``."""
        self.send(ErrorFrame(code=code, message=message, fatal=True))
        self.close(close_code)

    @property
    def closing(self) -> bool:
        return self._closing

    async def serve(self, reader: Callable[[], Awaitable[None]]) -> None:
        """Run ``reader`` and the writer until either ends the connection: the client hangs up
        (reader returns or raises :class:`Disconnected`) or a queued close is sent."""
        async with anyio.create_task_group() as group:

            async def _write_then_stop() -> None:
                await self._write()
                self._stopped = True
                if not self._handling:  # else handle() ends the reader once the frame is done
                    group.cancel_scope.cancel()

            group.start_soon(_write_then_stop)
            try:
                await reader()
            except Disconnected:
                group.cancel_scope.cancel()
                return
            if not self._closing:
                group.cancel_scope.cancel()
            # else: the reader stopped to let a queued close go out; the writer ends the group

    async def handle(self, work: Awaitable[None]) -> None:
        """Run ``work``, one frame's handling, to its end: the connection is not cancelled
        meanwhile, even if the client hangs up or a queued close goes out (its transaction
        commits or rolls back, and is never abandoned half-way); then raises
        :class:`Disconnected` if the writer stopped. This replaces a shielded cancel scope per
        frame, whose creation alone cost more than parsing the frame."""
        self._handling = True
        try:
            await work
        finally:
            self._handling = False
        if self._stopped:
            raise Disconnected

    async def _write(self) -> None:
        while True:
            item = await self._next()
            try:
                if isinstance(item, _Close):
                    await self.websocket.close(item.code)
                    return
                await self.websocket.send_text(encode(item))
            except (WebSocketDisconnect, OSError, RuntimeError):
                return  # the client is gone; nothing more can be delivered

    async def receive(self, expected: Iterable[type[Message]]) -> Message | BadFrame:
        """The next frame, or the :class:`BadFrame` it was (the caller decides whether that
        error is fatal). Raises :class:`Disconnected` when the client hung up."""
        event = await self.websocket.receive()
        if event["type"] == "websocket.disconnect":
            raise Disconnected
        raw: str | bytes | None = event.get("text")
        if raw is None:
            raw = event.get("bytes") or b""
        try:
            return decode(raw, expected)
        except ProtocolError as exc:
            return BadFrame(exc, _request_id(raw) if exc.code == "bad_field" else None)


def _request_id(raw: str | bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    value = body.get("request_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


async def receive_hello(
    conn: Connection, expected: type[Message], timeout: float
) -> Message | None:
    """The socket's first frame if it is ``expected``; otherwise queue a fatal error and close
    4400 and return None (the caller must then just return)."""
    try:
        with anyio.fail_after(timeout):
            frame = await conn.receive([expected])
    except TimeoutError:
        conn.fail(
            "hello_timeout",
            f"expected {expected.TYPE!r} within {timeout:g}s",
            CloseCode.PROTOCOL_ERROR,
        )
        return None
    if isinstance(frame, BadFrame):
        conn.fail(frame.error.code, f"first frame: {frame.error}", CloseCode.PROTOCOL_ERROR)
        return None
    return frame


def reject_frame(conn: Connection, bad: BadFrame) -> None:
    """Answer a bad frame after hello: malformed JSON, wrong version or size ends the socket;
    a well-formed frame of the wrong type or with a bad field gets a non-fatal error."""
    if bad.error.code in FATAL_PROTOCOL_CODES:
        conn.fail(bad.error.code, str(bad.error), CloseCode.PROTOCOL_ERROR)
    else:
        conn.send(ErrorFrame(code=bad.code, message=str(bad.error), request_id=bad.request_id))
