"""Who is connected: the registry that fans frames out to visitor and agent sockets.

Socket handlers :meth:`Hub.join` when authenticated and :meth:`Hub.leave` in a ``finally``;
everyone else publishes through the hub and never touches a socket. :class:`Hub` is the interface;
:class:`MemoryHub` serves one process, :class:`porch_server.realtime.redis_hub.RedisHub` several
(processes or machines) over Redis.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from porch_protocol import Message

#: ``agents``/``admins``: the consoles of an app (admins also listen on ``admins``); ``agent``: one
#: agent's sockets (their presence); ``visitor``: one visitor's tabs; ``visitors``: every visitor
#: socket of an app (page status).
Role = Literal["agents", "admins", "agent", "visitor", "visitors"]


class Peer(Protocol):
    """One connected socket, as the hub sees it. Both methods must return at once (they queue);
    a slow socket must never hold up fan-out to the others."""

    def send(self, frame: Message) -> None: ...

    def close(self, code: int) -> None: ...


@dataclass(frozen=True)
class Channel:
    """Where a peer listens. ``key`` is the app's, agent's or visitor's row id (see ``role``)."""

    role: Role
    key: int

    @classmethod
    def agents(cls, app_id: int) -> Channel:
        return cls("agents", app_id)

    @classmethod
    def admins(cls, app_id: int) -> Channel:
        return cls("admins", app_id)

    @classmethod
    def agent(cls, agent_id: int) -> Channel:
        return cls("agent", agent_id)

    @classmethod
    def visitor(cls, visitor_id: int) -> Channel:
        return cls("visitor", visitor_id)

    @classmethod
    def visitors(cls, app_id: int) -> Channel:
        return cls("visitors", app_id)


class Hub(Protocol):
    async def start(self) -> None:
        """Get ready (connect, subscribe) before the first socket joins."""
        ...

    async def aclose(self) -> None: ...

    async def ping(self) -> None:
        """Raise unless the fan-out works (readiness)."""
        ...

    async def join(self, channel: Channel, peer: Peer) -> int:
        """Add ``peer`` to ``channel``; returns how many peers listen there now, in every
        process, this one included (1: the first, e.g. a visitor's first tab)."""
        ...

    async def leave(self, channel: Channel, peer: Peer) -> int:
        """Remove ``peer``; returns how many peers still listen there, in every process (0: the
        last left)."""
        ...

    async def listener_count(self, channel: Channel) -> int:
        """How many peers listen on ``channel`` (in every process: who is online)."""
        ...

    def local_listeners(self, role: Role) -> int:
        """How many peers of this process listen on channels of ``role`` (``visitors``: its
        visitor sockets, ``agents``: its consoles), for ``GET /metrics``."""
        ...

    async def publish(
        self, channel: Channel, frames: Iterable[Message], *, exclude: Peer | None = None
    ) -> None:
        """Queue ``frames``, in order, to every peer on ``channel`` except ``exclude``."""
        ...

    async def close_channel(self, channel: Channel, frames: Iterable[Message], code: int) -> None:
        """Send ``frames`` to every peer on ``channel``, then close each with ``code``."""
        ...


class MemoryHub:
    """The in-process :class:`Hub`; :class:`~porch_server.realtime.redis_hub.RedisHub` keeps
    its own peers in one too."""

    def __init__(self) -> None:
        self._peers: defaultdict[Channel, list[Peer]] = defaultdict(list)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def join(self, channel: Channel, peer: Peer) -> int:
        self.add(channel, peer)
        return len(self._peers[channel])

    async def leave(self, channel: Channel, peer: Peer) -> int:
        self.remove(channel, peer)
        return len(self._peers.get(channel, ()))

    def add(self, channel: Channel, peer: Peer) -> None:
        self._peers[channel].append(peer)

    def remove(self, channel: Channel, peer: Peer) -> bool:
        """Remove ``peer`` from ``channel``; False when it was not there."""
        peers = self._peers.get(channel)
        if peers is None or peer not in peers:
            return False
        peers.remove(peer)
        if not peers:
            del self._peers[channel]  # keep the registry as small as the set of live sockets
        return True

    async def listener_count(self, channel: Channel) -> int:
        return len(self._peers.get(channel, ()))

    def local_listeners(self, role: Role) -> int:
        return sum(len(peers) for channel, peers in self._peers.items() if channel.role == role)

    def peers(self, channel: Channel) -> tuple[Peer, ...]:
        """The peers listening on ``channel`` in this process now."""
        return tuple(self._peers.get(channel, ()))

    async def publish(
        self, channel: Channel, frames: Iterable[Message], *, exclude: Peer | None = None
    ) -> None:
        self.deliver(channel, tuple(frames), exclude)

    async def close_channel(self, channel: Channel, frames: Iterable[Message], code: int) -> None:
        self.deliver(channel, tuple(frames), None, code)

    def deliver(
        self,
        channel: Channel,
        frames: tuple[Message, ...],
        exclude: Peer | None,
        close: int | None = None,
    ) -> None:
        """Queue ``frames`` to this process's peers on ``channel`` (and close them with
        ``close``)."""
        for peer in self.peers(channel):
            if peer is not exclude:
                for frame in frames:
                    peer.send(frame)
                if close is not None:
                    peer.close(close)
