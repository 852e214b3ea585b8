"""Who is connected: the registry that fans frames out to visitor and agent sockets.

Socket handlers :meth:`Hub.join` when authenticated and :meth:`Hub.leave` in a ``finally``;
everyone else publishes through the hub and never touches a socket. :class:`Hub` is the interface
a multi-process deployment would implement over Redis pub/sub; :class:`MemoryHub` serves one
process.
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
    def join(self, channel: Channel, peer: Peer) -> None: ...

    def leave(self, channel: Channel, peer: Peer) -> None: ...

    async def listener_count(self, channel: Channel) -> int:
        """How many peers listen on ``channel`` (in every process: who is online)."""
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
    """The in-process :class:`Hub`."""

    def __init__(self) -> None:
        self._peers: defaultdict[Channel, list[Peer]] = defaultdict(list)

    def join(self, channel: Channel, peer: Peer) -> None:
        self._peers[channel].append(peer)

    def leave(self, channel: Channel, peer: Peer) -> None:
        peers = self._peers.get(channel)
        if peers is None:
            return
        if peer in peers:
            peers.remove(peer)
        if not peers:
            del self._peers[channel]  # keep the registry as small as the set of live sockets

    async def listener_count(self, channel: Channel) -> int:
        return len(self._peers.get(channel, ()))

    def peers(self, channel: Channel) -> tuple[Peer, ...]:
        """The peers listening on ``channel`` now (tests use this to await joins)."""
        return tuple(self._peers.get(channel, ()))

    async def publish(
        self, channel: Channel, frames: Iterable[Message], *, exclude: Peer | None = None
    ) -> None:
        frames = tuple(frames)
        for peer in self.peers(channel):
            if peer is not exclude:
                for frame in frames:
                    peer.send(frame)

    async def close_channel(self, channel: Channel, frames: Iterable[Message], code: int) -> None:
        frames = tuple(frames)
        for peer in self.peers(channel):
            for frame in frames:
                peer.send(frame)
            peer.close(code)
