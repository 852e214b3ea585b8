"""The life of one authenticated socket, shared by the visitor and agent endpoints.

Accept, read the hello, let the endpoint authenticate it, join the hub for fan-out and send its
welcome, hand every later frame to the endpoint, and leave the hub however the socket ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar, cast

import anyio
from starlette.websockets import WebSocket

from porch_protocol import ErrorFrame, Message
from porch_server.connection import BadFrame, Connection, receive_hello, reject_frame
from porch_server.hub import Channel, Hub
from porch_server.visitor_data import RequestFailed

log = logging.getLogger(__name__)


class Session(Protocol):
    """Who is on the socket once the welcome is sent; ``channels`` are where fan-out finds
    them."""

    @property
    def channels(self) -> tuple[Channel, ...]: ...


_Hello = TypeVar("_Hello", bound=Message)
_Who = TypeVar("_Who", bound=Session)


def request_id_of(frame: Message) -> str | None:
    """The ``request_id`` of a request frame, None for others."""
    value = getattr(frame, "request_id", None)
    return value if isinstance(value, str) else None


async def serve_session(
    websocket: WebSocket,
    hub: Hub,
    hello_timeout: float,
    hello_type: type[_Hello],
    after_hello: Iterable[type[Message]],
    welcome: Callable[[Connection, _Hello, Callable[[_Who], None]], Awaitable[_Who | None]],
    handle: Callable[[Connection, _Who, Message], Awaitable[None]],
    presence: Callable[[Connection, _Who, bool], Awaitable[None]] | None = None,
) -> None:
    """Serve ``websocket`` until it closes.

    ``welcome(conn, hello, join)`` authenticates the hello, calls ``join(who)`` as soon as it
    knows who is on the socket and before it reads what the welcome carries, then sends the
    welcome with ``conn.release(welcome)`` and returns ``who``; or it returns None once it has
    queued a fatal error (the socket then closes). Joining first closes a gap: a message
    committed between the welcome's read and a later join was in neither the welcome nor the
    fan-out, and the client missed it until its next reconnect (found by the fault suite,
    issue 12). What fan-out sends meanwhile is held and follows the welcome.

    ``handle`` gets each valid later frame; invalid ones are answered by
    :func:`~porch_server.connection.reject_frame`. A :class:`RequestFailed` from ``handle``
    becomes an ``error`` with its code, any other exception a logged ``SERVER_ERROR``; the
    socket stays up either way.

    A frame once read is handled to the end (its transaction commits or rolls back) even when
    the client hangs up meanwhile, so no half-finished transaction is ever abandoned: the
    connection is not cancelled while a frame is handled (:meth:`Connection.handle`), only while
    it waits for the next one. The hello and welcome run in a shielded scope.
    ``presence(conn, who, True)`` runs once the socket joined the hub, ``presence(conn, who,
    False)`` once it left.
    """
    await websocket.accept()
    conn = Connection(websocket)
    who: _Who | None = None
    expected = frozenset(after_hello)  # decode checks membership without a copy

    async def _read() -> None:
        nonlocal who
        hello = await receive_hello(conn, hello_type, hello_timeout)
        if hello is None:
            return
        welcomed = await _admit(cast(_Hello, hello))
        if welcomed is None:
            return
        who = welcomed
        await _serve_frames(welcomed)

    async def _admit(hello: _Hello) -> _Who | None:
        joined: list[_Who] = []

        def join(who: _Who) -> None:
            conn.hold()
            for channel in who.channels:
                hub.join(channel, conn)
            joined.append(who)

        with anyio.CancelScope(shield=True):
            welcomed: _Who | None = None
            try:
                welcomed = await welcome(conn, hello, join)
            finally:
                if welcomed is None:
                    for who in joined:
                        for channel in who.channels:
                            hub.leave(channel, conn)
            if welcomed is not None:
                assert joined == [welcomed], "the welcome must join(who) once, before it reads"
                if presence is not None:
                    await presence(conn, welcomed, True)
        return welcomed

    async def _serve_frames(who: _Who) -> None:
        while not conn.closing:
            frame = await conn.receive(expected)
            if isinstance(frame, BadFrame):
                reject_frame(conn, frame)
            else:
                await conn.handle(_handle_one(conn, who, frame))  # not cancelled half-way

    async def _handle_one(conn: Connection, who: _Who, frame: Message) -> None:
        try:
            await handle(conn, who, frame)
        except RequestFailed as exc:
            conn.send(ErrorFrame(code=exc.code, message=str(exc), request_id=request_id_of(frame)))
        except Exception:
            log.exception("handling %s failed", frame.TYPE)
            conn.send(
                ErrorFrame(
                    code="SERVER_ERROR",
                    message="the server failed to handle this frame; it was logged",
                    request_id=request_id_of(frame),
                )
            )

    try:
        await conn.serve(_read)
    finally:
        if who is not None:
            for channel in who.channels:
                hub.leave(channel, conn)
            if presence is not None:
                with anyio.CancelScope(shield=True):
                    await presence(conn, who, False)
