"""Fan-out across processes and machines over Redis: the :class:`~porch_server.realtime.hub.Hub`
and the page-status memory of a deployment of several Porch processes (``PORCH_REDIS_URL``).

Each process keeps its own sockets in a :class:`MemoryHub` and delivers to them directly; what it
publishes also goes out on one Redis pub/sub channel, and every other process delivers it to its
own peers on the same :class:`Channel`. One pub/sub channel for everything keeps joins free of
round trips (no SUBSCRIBE per socket); each process reads every frame, which is the right trade
for a handful of processes (docs/deploy.md has the figures).

Who listens where is counted in Redis, one hash per channel with a count per process, and each
process renews its heartbeat in a sorted set. A count is the sum over live processes, computed in
one Lua script with the change it makes, so two tabs joining in two processes at once still see
1 and 2, never 1 and 1; a process that died (``kill -9``, a lost machine) stops counting once its
heartbeat is older than ``PROCESS_TTL``, and its entries are dropped by the next count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any, cast

import redis.asyncio as redis

from porch_protocol import Message, decode, encode
from porch_server.realtime.hub import Channel, MemoryHub, Peer

log = logging.getLogger(__name__)

#: Seconds between a process's heartbeats, and after which a silent process no longer counts.
HEARTBEAT = 5.0
PROCESS_TTL = 30.0
#: Seconds between attempts to get the fan-out back after losing Redis.
RECONNECT = 1.0

_FANOUT = "porch:fanout"
_LIVE = "porch:processes"

#: KEYS: the channel's counts, the live processes. ARGV: this process, the change (-1, 0, 1),
#: the TTL in ms. Returns the listeners of live processes, after the change.
_COUNT = """
local delta = tonumber(ARGV[2])
if delta ~= 0 then
  local n = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
  if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
end
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  local seen = redis.call('ZSCORE', KEYS[2], fields[i])
  if seen and tonumber(seen) >= cutoff then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
return total
"""
#: KEYS: the live processes. ARGV: this process, how long (ms) a dead one is remembered.
#: Renews this process's heartbeat at Redis's clock (the machines' clocks may disagree).
_BEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[2]))
return 1
"""
#: How long a dead process stays in the live set (ignored, past its TTL) before it is dropped.
_FORGET_MS = 3_600_000


def _key(channel: Channel) -> str:
    return f"porch:listeners:{channel.role}:{channel.key}"


class RedisHub:
    """The :class:`~porch_server.realtime.hub.Hub` of a deployment of several processes."""

    def __init__(self, url: str, *, process_ttl: float = PROCESS_TTL) -> None:
        self._client: redis.Redis = redis.from_url(url)
        self._ttl_ms = int(process_ttl * 1000)
        self._local = MemoryHub()
        self.process = secrets.token_hex(8)
        self._count = self._client.register_script(_COUNT)
        self._beat = self._client.register_script(_BEAT)
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None

    async def start(self) -> None:
        await self._beat(keys=[_LIVE], args=[self.process, _FORGET_MS])
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(_FANOUT)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="redis-hub-listen"),
            loop.create_task(self._heartbeat(), name="redis-hub-heartbeat"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(redis.RedisError):
            if self._pubsub is not None:
                await self._pubsub.aclose()
            await self._client.zrem(_LIVE, self.process)  # our listeners stop counting now
        await self._client.aclose()

    async def ping(self) -> None:
        """Raise unless Redis answers (the readiness check)."""
        await self._client.ping()

    async def join(self, channel: Channel, peer: Peer) -> int:
        self._local.add(channel, peer)
        return await self._counted(channel, 1)

    async def leave(self, channel: Channel, peer: Peer) -> int:
        removed = self._local.remove(channel, peer)
        return await self._counted(channel, -1 if removed else 0)

    async def listener_count(self, channel: Channel) -> int:
        return await self._counted(channel, 0)

    async def _counted(self, channel: Channel, delta: int) -> int:
        total = await self._count(
            keys=[_key(channel), _LIVE], args=[self.process, delta, self._ttl_ms]
        )
        return int(cast(int, total))

    async def publish(
        self, channel: Channel, frames: Iterable[Message], *, exclude: Peer | None = None
    ) -> None:
        batch = tuple(frames)
        self._local.deliver(channel, batch, exclude)
        await self._send(channel, batch, None)

    async def close_channel(self, channel: Channel, frames: Iterable[Message], code: int) -> None:
        batch = tuple(frames)
        self._local.deliver(channel, batch, None, code)
        await self._send(channel, batch, code)

    async def _send(self, channel: Channel, frames: tuple[Message, ...], close: int | None) -> None:
        payload = {
            "from": self.process,
            "role": channel.role,
            "key": channel.key,
            "frames": [encode(frame) for frame in frames],
            "close": close,
        }
        await self._client.publish(_FANOUT, json.dumps(payload, separators=(",", ":")))

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    try:
                        self._deliver(message["data"])
                    except Exception:  # one bad message must not stop the fan-out
                        log.exception("a fan-out message from Redis could not be delivered")
            except redis.RedisError:
                # Redis restarted or the network dropped: the next listen reconnects and
                # subscribes again (readiness says not ready meanwhile).
                log.warning("lost the Redis fan-out; reconnecting in %.0f s", RECONNECT)
                await asyncio.sleep(RECONNECT)

    def _deliver(self, data: bytes) -> None:
        payload = json.loads(data)
        if payload["from"] == self.process:
            return  # delivered locally when published
        channel = Channel(payload["role"], int(payload["key"]))
        if not self._local.peers(channel):
            return
        frames = tuple(decode(text, max_chars=None) for text in payload["frames"])
        self._local.deliver(channel, frames, None, payload["close"])

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._beat(keys=[_LIVE], args=[self.process, _FORGET_MS])
            except redis.RedisError:
                log.warning("Redis heartbeat failed; retrying in %.0f s", HEARTBEAT)


class RedisStatusMemory:
    """What page status each app's visitors were last told, shared by every process, so a
    change is pushed once however many processes notice it; and which process runs the
    business-hours check (one at a time, taken over when it dies)."""

    def __init__(self, url: str) -> None:
        self._client: redis.Redis = redis.from_url(url)
        self._me = secrets.token_hex(8)

    async def told(self, app_id: int, status: str) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(f"porch:status:{app_id}", status, nx=True)
            pipe.sadd("porch:status:apps", app_id)
            await pipe.execute()

    async def swap(self, app_id: int, status: str) -> str | None:
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(f"porch:status:{app_id}", status, get=True)
            pipe.sadd("porch:status:apps", app_id)
            previous, _ = await pipe.execute()
        return previous.decode() if isinstance(previous, bytes) else previous

    async def apps(self) -> list[int]:
        return sorted(int(a) for a in await self._client.smembers("porch:status:apps"))

    async def lead(self, seconds: float) -> bool:
        """True when this process runs the periodic check for the next ``seconds``."""
        key = "porch:status:leader"
        ms = int(seconds * 1000)
        if await self._client.set(key, self._me, nx=True, px=ms):
            return True
        if await self._client.get(key) == self._me.encode():
            await self._client.pexpire(key, ms)
            return True
        return False

    async def aclose(self) -> None:
        await self._client.aclose()
