""":class:`Connection`'s outbox: frames leave in order, a writer that went idle wakes for the
next frame, and a client that stops reading is dropped with 1013 once the outbox is full."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.websockets import WebSocket

from porch_protocol import RequestDone, decode
from porch_server.transport.ws.connection import OUTBOX_LIMIT, Connection


class FakeSocket:
    """The send side of a WebSocket; ``unblock`` gates the writer like a client not reading."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: int | None = None
        self.unblock = asyncio.Event()
        self.unblock.set()
        self.two_sent = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self.unblock.wait()
        self.sent.append(text)
        if len(self.sent) == 2:
            self.two_sent.set()

    async def close(self, code: int) -> None:
        self.closed = code


def _done(n: int) -> RequestDone:
    return RequestDone(request_id=f"r{n}")


def _run(work: Any) -> Any:
    return asyncio.run(work())


def test_frames_leave_in_order_and_an_idle_writer_wakes_for_the_next() -> None:
    async def work() -> tuple[list[str], int | None]:
        socket = FakeSocket()
        conn = Connection(cast(WebSocket, socket))

        async def reader() -> None:
            conn.send(_done(1))
            conn.send(_done(2))
            await socket.two_sent.wait()  # the writer drained the outbox and waits, idle
            conn.send(_done(3))
            conn.close(4000)
            conn.send(_done(4))  # after the close: ignored

        await asyncio.wait_for(conn.serve(reader), 5)
        frames = [decode(text) for text in socket.sent]
        return [f.request_id for f in frames if isinstance(f, RequestDone)], socket.closed

    sent, closed = _run(work)
    assert sent == ["r1", "r2", "r3"]
    assert closed == 4000


def test_a_client_that_stops_reading_is_dropped_with_1013() -> None:
    async def work() -> tuple[int, int | None]:
        socket = FakeSocket()
        socket.unblock.clear()  # the client reads nothing
        conn = Connection(cast(WebSocket, socket))

        async def reader() -> None:
            for n in range(OUTBOX_LIMIT + 10):
                conn.send(_done(n))
            socket.unblock.set()

        await asyncio.wait_for(conn.serve(reader), 5)
        return len(socket.sent), socket.closed

    sent, closed = _run(work)
    # One frame was taken by the writer before the client stopped; the outbox held the limit.
    assert sent <= OUTBOX_LIMIT + 1
    assert closed == 1013


class GoneSocket(FakeSocket):
    """A client that hung up: every send fails, so the writer stops at its first frame."""

    async def send_text(self, text: str) -> None:
        raise OSError("gone")


def test_a_frame_being_handled_is_finished_when_the_client_hangs_up() -> None:
    """The writer stops (the client is gone) while a frame is handled: the handling is not
    cancelled half-way, and the reader is ended right after it."""

    async def work() -> list[str]:
        socket = GoneSocket()
        conn = Connection(cast(WebSocket, socket))
        steps: list[str] = []
        stopped = asyncio.Event()

        async def one_frame() -> None:
            steps.append("started")
            conn.send(_done(1))  # the writer fails to send it and stops
            await asyncio.sleep(0.05)  # awaits (a database hop) after the writer stopped
            steps.append("finished")

        async def reader() -> None:
            try:
                await conn.handle(one_frame())
                steps.append("read on")  # must not happen: the connection is over
            finally:
                stopped.set()

        await asyncio.wait_for(conn.serve(reader), 5)
        assert stopped.is_set()
        return steps

    assert _run(work) == ["started", "finished"]


def test_a_reader_waiting_for_a_frame_is_cancelled_when_the_writer_stops() -> None:
    async def work() -> bool:
        socket = GoneSocket()
        conn = Connection(cast(WebSocket, socket))
        waited_out = False

        async def reader() -> None:
            nonlocal waited_out
            conn.send(_done(1))
            await asyncio.sleep(10)  # a client's next frame, which never comes
            waited_out = True

        await asyncio.wait_for(conn.serve(reader), 5)
        return waited_out

    assert _run(work) is False
