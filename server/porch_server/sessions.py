"""The life of one authenticated socket, shared by the visitor and agent endpoints.

Accept, read the hello, let the endpoint authenticate it and send its welcome, join the hub for
fan-out, hand every later frame to the endpoint, and leave the hub however the socket ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar, cast

from starlette.websockets import WebSocket

from porch_protocol import Message, ProtocolError
from porch_server.connection import Connection, receive_hello, reject_frame
from porch_server.hub import Channel, Hub


class Session(Protocol):
    """Who is on the socket once the welcome is sent; ``channel`` is where fan-out finds them."""

    @property
    def channel(self) -> Channel: ...


_Hello = TypeVar("_Hello", bound=Message)
_Who = TypeVar("_Who", bound=Session)


async def serve_session(
    websocket: WebSocket,
    hub: Hub,
    hello_timeout: float,
    hello_type: type[_Hello],
    after_hello: Iterable[type[Message]],
    welcome: Callable[[Connection, _Hello], Awaitable[_Who | None]],
    handle: Callable[[Connection, _Who, Message], Awaitable[None]],
) -> None:
    """Serve ``websocket`` until it closes.

    ``welcome`` authenticates the hello and sends the welcome, returning the session, or None once
    it has queued a fatal error (the socket then closes). ``handle`` gets each valid later frame;
    invalid ones are answered by :func:`~porch_server.connection.reject_frame`.
    """
    await websocket.accept()
    conn = Connection(websocket)
    who: _Who | None = None
    expected = tuple(after_hello)

    async def _read() -> None:
        nonlocal who
        hello = await receive_hello(conn, hello_type, hello_timeout)
        if hello is None:
            return
        who = await welcome(conn, cast(_Hello, hello))
        if who is None:
            return
        hub.join(who.channel, conn)
        while not conn.closing:
            frame = await conn.receive(expected)
            if isinstance(frame, ProtocolError):
                reject_frame(conn, frame)
            else:
                await handle(conn, who, frame)

    try:
        await conn.serve(_read)
    finally:
        if who is not None:
            hub.leave(who.channel, conn)
