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

from porch_protocol import AuthClosed, ErrorFrame, Message
from porch_server.realtime.hub import Channel, Hub
from porch_server.realtime.limits import Limiter, address_of
from porch_server.rules.visitor_data import RequestFailed
from porch_server.transport.ws.connection import (
    TRY_AGAIN_LATER,
    BadFrame,
    Connection,
    receive_hello,
    reject_frame,
)

log = logging.getLogger(__name__)


class Session(Protocol):
    """Who is on the socket once the welcome is sent; ``channels`` are where fan-out finds
    them."""

    @property
    def channels(self) -> tuple[Channel, ...]: ...

    @property
    def presence_channel(self) -> Channel:
        """The one of ``channels`` whose first listener makes this party present and whose
        last one leaving makes them absent (an agent's own channel, a visitor's tabs)."""
        ...


_Hello = TypeVar("_Hello", bound=Message)
_Who = TypeVar("_Who", bound=Session)


def request_id_of(frame: Message) -> str | None:
    """The ``request_id`` of a request frame, None for others."""
    value = getattr(frame, "request_id", None)
    return value if isinstance(value, str) else None


async def serve_session(
    websocket: WebSocket,
    hub: Hub,
    limiter: Limiter,
    hello_timeout: float,
    hello_type: type[_Hello],
    after_hello: Iterable[type[Message]],
    welcome: Callable[
        [Connection, _Hello, Callable[[_Who], Awaitable[None]]], Awaitable[_Who | None]
    ],
    handle: Callable[[Connection, _Who, Message], Awaitable[None]],
    presence: Callable[[Connection, _Who, bool], Awaitable[None]] | None = None,
) -> None:
    """Serve ``websocket`` until it closes.

    ``welcome(conn, hello, join)`` authenticates the hello, awaits ``join(who)`` as soon as it
    knows who is on the socket and before it reads what the welcome carries, then sends the
    welcome with ``conn.release(welcome)`` and returns ``who``; or it returns None once it has
    queued a fatal error (the socket then closes). Joining first closes a gap: a message
    committed between the welcome's read and a later join was in neither the welcome nor the
    fan-out, and the client missed it until its next reconnect (found by the fault suite,
    issue 12). What fan-out sends meanwhile is held and follows the welcome.

    ``handle`` gets each valid later frame; invalid ones are answered by
    :func:`~porch_server.transport.ws.connection.reject_frame`. A :class:`RequestFailed` from
    ``handle`` becomes an ``error`` with its code, any other exception a logged
    ``SERVER_ERROR``; the socket stays up either way.

    A frame once read is handled to the end (its transaction commits or rolls back) even when
    the client hangs up meanwhile, so no half-finished transaction is ever abandoned: the
    connection is not cancelled while a frame is handled (:meth:`Connection.handle`), only while
    it waits for the next one. The hello and welcome run in a shielded scope.
    ``presence(conn, who, True)`` runs when this socket is the first listener on the session's
    ``presence_channel`` in any process, ``presence(conn, who, False)`` when it was the last
    (the hub counts both atomically, so two tabs opening at once never both look first). A
    socket from an address with too many open is closed 1013 at once.
    """
    await websocket.accept()
    conn = Connection(websocket)
    address = address_of(websocket.client)
    if not await limiter.open_connection(address):
        conn.fail("rate_limited", "too many open sockets from this address", TRY_AGAIN_LATER)
        await conn.serve(_nothing)
        return
    try:
        await _serve(conn, hub, hello_timeout, hello_type, after_hello, welcome, handle, presence)
    finally:
        await limiter.close_connection(address)


async def _nothing() -> None:
    """A reader with nothing to read: the queued close goes out and the connection ends."""


async def _serve(
    conn: Connection,
    hub: Hub,
    hello_timeout: float,
    hello_type: type[_Hello],
    after_hello: Iterable[type[Message]],
    welcome: Callable[
        [Connection, _Hello, Callable[[_Who], Awaitable[None]]], Awaitable[_Who | None]
    ],
    handle: Callable[[Connection, _Who, Message], Awaitable[None]],
    presence: Callable[[Connection, _Who, bool], Awaitable[None]] | None,
) -> None:
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
        first = False

        async def join(who: _Who) -> None:
            nonlocal first
            conn.hold()
            joined.append(who)
            for channel in who.channels:
                listeners = await hub.join(channel, conn)
                first = first or (channel == who.presence_channel and listeners == 1)

        with anyio.CancelScope(shield=True):
            welcomed: _Who | None = None
            try:
                welcomed = await welcome(conn, hello, join)
            finally:
                if welcomed is None:  # refused (or failed) after joining: nobody was announced
                    for who in joined:
                        for channel in who.channels:
                            await hub.leave(channel, conn)
            if welcomed is not None:
                assert joined == [welcomed], "the welcome must join(who) once, before it reads"
                if first and presence:
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
            with anyio.CancelScope(shield=True):
                for channel in who.channels:
                    listeners = await hub.leave(channel, conn)
                    if channel == who.presence_channel and listeners == 0 and presence:
                        await presence(conn, who, False)


#: What ``auth.closed`` tells a revoked visitor.
REVOKED_MESSAGE = "This chat session was closed by the site."


def auth_closed(reason: str) -> AuthClosed:
    """The frame a revoked visitor's sockets get before closing with AUTH_CLOSED."""
    return AuthClosed(
        reason=reason, message=REVOKED_MESSAGE, close_auth_type="revoked", clear_token=True
    )
