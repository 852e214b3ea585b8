"""An asyncio TCP proxy that breaks connections on purpose, on a seeded random schedule.

It sits between the clients and a real ``porch`` server. Each accepted connection gets one
:class:`Fault`, drawn from the proxy's own ``random.Random(seed)`` while the proxy is *faulty*
(after :meth:`FaultProxy.heal`, new connections are clean and the faulty ones still open are
closed, as a network that came back would do). A fault is a way of carrying bytes:

- ``clean``: as they are;
- ``delay``: every chunk waits 0-60 ms (order kept: TCP never reorders within a connection);
- ``rechunk``: chunks are cut into random pieces sent with small gaps (other packet boundaries,
  so frames arrive split across reads);
- ``reorder``: a chunk is now and then held back and sent after the next one (at read
  boundaries, which are mostly frame boundaries: two frames change places; mid-frame it corrupts
  the stream, and the peer must refuse it with a close code);

and, for most connections, a way of ending after a random number of bytes (both directions
counted, so mid-frame or not, in the handshake, the hello, the welcome or later):

- ``cut``: both sides are closed (FIN), what was sent before arriving;
- ``drop``: nothing passes any more (the link died with data in flight) and, some time later,
  both sides are reset (RST);
- ``half_open``: nothing passes; one side (server or client) is closed at once, the other is
  left open and silent for a while (it cannot know), then closed.

Timing faults move real time (``asyncio.sleep``): the proxy is the network, not a test double of
the server, so there is nothing to await but the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

CARRIES = ("clean", "delay", "rechunk", "reorder")
ENDINGS = ("none", "cut", "drop", "half_open")


@dataclass(frozen=True)
class Fault:
    carry: str
    ending: str = "none"
    #: Bytes (both directions together) before the ending strikes.
    after_bytes: int = 0
    #: ``drop``/``half_open``: seconds the dead link stays silent before it is closed.
    silent_s: float = 0.0
    #: ``half_open``: which side is closed at once (``server`` or ``client``).
    closed_side: str = "server"

    @property
    def clean(self) -> bool:
        return self.carry == "clean" and self.ending == "none"

    @staticmethod
    def draw(rng: random.Random) -> Fault:
        return Fault(
            carry=rng.choice(CARRIES),
            ending="none" if rng.random() < 0.3 else rng.choice(ENDINGS[1:]),
            after_bytes=rng.randrange(0, 6_000),
            silent_s=rng.uniform(0.05, 1.5),
            closed_side=rng.choice(("server", "client")),
        )


@dataclass
class Counts:
    connections: int = 0
    faults: dict[str, int] = field(default_factory=dict)

    def add(self, fault: Fault) -> None:
        self.connections += 1
        names = ["clean"] if fault.clean else [fault.carry, fault.ending]
        for name in names:
            if (name == "clean" and not fault.clean) or name == "none":
                continue  # a faulty ending on a clean carry is counted as its ending
            self.faults[name] = self.faults.get(name, 0) + 1


class _Link:
    """One proxied connection: two pumps and the fault that rules them."""

    def __init__(
        self,
        fault: Fault,
        rng: random.Random,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.fault = fault
        self.rng = rng
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.passed = 0
        self.dead = asyncio.Event()
        self.closed = asyncio.Event()

    async def run(self) -> None:
        pumps = [
            asyncio.create_task(self._pump(self.client_reader, self.server_writer)),
            asyncio.create_task(self._pump(self.server_reader, self.client_writer)),
        ]
        struck = asyncio.create_task(self.dead.wait())
        await asyncio.wait([*pumps, struck], return_when=asyncio.FIRST_COMPLETED)
        if self.dead.is_set() and self.fault.ending in ("drop", "half_open"):
            await self._die()
        for task in (*pumps, struck):
            task.cancel()
        await asyncio.gather(*pumps, struck, return_exceptions=True)
        self.close(abort=self.fault.ending == "drop")

    async def _die(self) -> None:
        """The link is dead: nothing passes. ``half_open`` closes one side now; both are closed
        once the silence is over (or at once when the proxy heals)."""
        if self.fault.ending == "half_open":
            side = self.server_writer if self.fault.closed_side == "server" else self.client_writer
            side.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), self.fault.silent_s)

    def close(self, abort: bool = False) -> None:
        self.closed.set()
        for writer in (self.client_writer, self.server_writer):
            if abort and writer.transport is not None and not writer.transport.is_closing():
                writer.transport.abort()  # an RST, not a FIN
            else:
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held: bytes | None = None
        carry, ending = self.fault.carry, self.fault.ending
        try:
            while not self.dead.is_set():
                if held is not None:
                    # reorder: wait briefly for the next chunk to swap with; none, send it alone.
                    try:
                        chunk = await asyncio.wait_for(reader.read(65536), 0.02)
                    except TimeoutError:
                        writer.write(held)
                        held = None
                        continue
                    if not chunk:
                        writer.write(held)
                        return
                    writer.write(chunk + held)
                    held = None
                    await writer.drain()
                    continue
                chunk = await reader.read(65536)
                if not chunk:
                    return
                if ending != "none":
                    room = self.fault.after_bytes - self.passed
                    if room <= len(chunk):
                        # What lies beyond the fault's byte is lost in flight.
                        writer.write(chunk[: max(0, room)])
                        self.passed += len(chunk)
                        self.dead.set()
                        return
                self.passed += len(chunk)
                if carry == "delay":
                    await asyncio.sleep(self.rng.uniform(0, 0.06))
                    writer.write(chunk)
                elif carry == "rechunk":
                    while chunk:
                        size = self.rng.randint(1, max(1, len(chunk)))
                        writer.write(chunk[:size])
                        await writer.drain()
                        chunk = chunk[size:]
                        await asyncio.sleep(self.rng.uniform(0, 0.005))
                elif carry == "reorder" and self.rng.random() < 0.5:
                    held = chunk
                else:
                    writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            return


class FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to ``target_port``, breaking
    connections as described in the module docstring."""

    def __init__(self, target_port: int, seed: int) -> None:
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.faulty = True
        self.counts = Counts()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]

    def heal(self) -> None:
        """The network comes back: new connections are clean, and those still broken end (as a
        dead TCP connection eventually does)."""
        self.faulty = False
        for link in list(self._links):
            if not link.fault.clean:
                link.close()

    def cut_all(self) -> None:
        """Close every open connection at once (a reconnect storm's start)."""
        for link in list(self._links):
            link.close()

    @property
    def open_links(self) -> int:
        return len(self._links)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _draw(self) -> Fault:
        return Fault.draw(self.rng) if self.faulty else Fault("clean")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fault = self._draw()
        # Each link gets its own generator, seeded from the proxy's: the schedule stays the same
        # whatever order the links' pumps happen to run in.
        rng = random.Random(self.rng.random())
        self.counts.add(fault)
        try:
            upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()  # the server is down: the client sees its connection refused
            return
        link = _Link(fault, rng, (reader, writer), upstream)
        self._links.add(link)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            self._tasks.discard(task)
