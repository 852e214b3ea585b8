"""Fan-out across processes and machines over Redis: the :class:`~porch_server.realtime.hub.Hub`,
the page-status memory and the abuse limiter of a deployment of several Porch processes
(``PORCH_REDIS_URL``).

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as redis

from porch_protocol import Message, decode, encode
from porch_server.realtime.hub import Channel, MemoryHub, Peer, Role
from porch_server.realtime.limits import Limits, Rule

log = logging.getLogger(__name__)

#: Seconds between a process's heartbeats, and after which a silent process no longer counts.
HEARTBEAT = 5.0
PROCESS_TTL = 30.0
#: Seconds a listener count read from Redis is reused by :meth:`RedisHub.listener_count`.
COUNT_CACHE = 1.0
#: Seconds between attempts to get the fan-out back after losing Redis.
RECONNECT = 1.0
#: Seconds a closing hub waits for its published frames to go out and for its tasks to end. A
#: shutdown must end: redis-py can turn a cancellation inside a pub/sub read into a
#: ConnectionError (redis/redis-py#2717), which the listener would take for a lost connection.
CLOSE_WAIT = 5.0

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


@dataclass(frozen=True)
class _ConnectionsOf:
    """What :class:`RedisLimiter` counts like a channel's listeners: one address's sockets."""

    address: str


#: Redis connections a process opens at most; beyond, a call waits up to POOL_WAIT seconds for
#: one to be free. redis-py's own pool raises at its limit instead, and under a burst (100
#: visitors sending at once, each message asking the limiter) that failed messages outright.
POOL_SIZE = 64
POOL_WAIT = 10.0


def connect(url: str) -> redis.Redis:
    """A client whose calls queue for a connection rather than fail when all are busy."""
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_WAIT)
    return redis.Redis.from_pool(pool)  # closing the client closes its pool


def _key(counted: Channel | _ConnectionsOf) -> str:
    if isinstance(counted, _ConnectionsOf):
        return f"porch:connections:{counted.address}"
    return f"porch:listeners:{counted.role}:{counted.key}"


class RedisHub:
    """The :class:`~porch_server.realtime.hub.Hub` of a deployment of several processes."""

    def __init__(
        self, url: str, *, process_ttl: float = PROCESS_TTL, count_cache: float = COUNT_CACHE
    ) -> None:
        self._client: redis.Redis = connect(url)
        self._ttl_ms = int(process_ttl * 1000)
        self._count_cache = count_cache
        self._local = MemoryHub()
        self.process = secrets.token_hex(8)
        self._count = self._client.register_script(_COUNT)
        self._beat = self._client.register_script(_BEAT)
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.close_wait = CLOSE_WAIT
        self._pubsub: Any = None
        #: Channel -> (when read, total) of :meth:`listener_count`.
        self._counts: dict[Channel, tuple[float, int]] = {}
        #: Payloads waiting for the publisher task, and the future that wakes it.
        self._outbox: list[str] = []
        self._wake: asyncio.Future[None] | None = None
        #: Set while the outbox is empty and its last batch went out.
        self._sent = asyncio.Event()

    async def start(self) -> None:
        await self._beat(keys=[_LIVE], args=[self.process, _FORGET_MS])
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(_FANOUT)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="redis-hub-listen"),
            loop.create_task(self._heartbeat(), name="redis-hub-heartbeat"),
            loop.create_task(self._publisher(), name="redis-hub-publisher"),
        ]

    async def aclose(self) -> None:
        self._closing = True
        try:
            await asyncio.wait_for(self.flush(), self.close_wait)
        except TimeoutError:
            log.warning("closing with %d fan-out frames not sent to Redis", len(self._outbox))
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.close_wait)
            for task in pending:
                log.warning("closing without task %s, which did not end when cancelled", task)
        with contextlib.suppress(redis.RedisError):
            if self._pubsub is not None:
                await self._pubsub.aclose()
            await self._client.zrem(_LIVE, self.process)  # our listeners stop counting now
        await self._client.aclose()

    async def flush(self) -> None:
        """Wait until everything published so far went out to Redis (at shutdown)."""
        if self._tasks and not self._tasks[-1].done():
            await self._sent.wait()

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
        """From Redis at most once a second per channel: summaries read it for every message
        (is the visitor online, is any console open), and a round trip each would halve the
        messages a process routes. First and last tabs are decided by :meth:`join` and
        :meth:`leave`, which always ask Redis."""
        cached = self._counts.get(channel)
        if cached is not None and time.monotonic() - cached[0] < self._count_cache:
            return cached[1]
        return await self._counted(channel, 0)

    def local_listeners(self, role: Role) -> int:
        return self._local.local_listeners(role)

    async def count(self, counted: Channel | _ConnectionsOf, delta: int) -> int:
        """Change this process's count of ``counted`` by ``delta``; the total over live
        processes, after the change (one Lua script: atomic)."""
        args: list[str | int] = [self.process, delta, self._ttl_ms]
        return int(cast(int, await self._count(keys=[_key(counted), _LIVE], args=args)))

    async def _counted(self, channel: Channel, delta: int) -> int:
        total = await self.count(channel, delta)
        if total:
            self._counts[channel] = (time.monotonic(), total)
        else:
            self._counts.pop(channel, None)  # the cache stays as small as the live channels
        return total

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
        self._outbox.append(json.dumps(payload, separators=(",", ":")))
        self._sent.clear()
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _publisher(self) -> None:
        """Send what was published, in order, many payloads per round trip (one pipeline):
        a message's fan-out is three publishes, and awaiting each one's round trip held up
        the socket that sent it."""
        while True:
            while not self._outbox:
                self._sent.set()
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
            batch, self._outbox = self._outbox, []
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for payload in batch:
                        pipe.publish(_FANOUT, payload)
                    await pipe.execute()
            except redis.RedisError:
                # Redis is gone: these frames are lost to other processes' sockets, which
                # resume from the database when they reconnect; readiness says not ready.
                log.warning("Redis refused %d fan-out frames", len(batch))

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    try:
                        self._deliver(message["data"])
                    except Exception:  # one bad message must not stop the fan-out
                        log.exception("a fan-out message from Redis could not be delivered")
            except redis.RedisError:
                if self._closing:
                    return  # a cancellation redis-py reported as a lost connection
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
        self._client: redis.Redis = connect(url)
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


#: A token bucket (realtime/limits.py's rules). KEYS: the bucket. ARGV: burst, seconds for the
#: whole burst, now (seconds), whether to take a token (1) or only look (0). Returns the
#: seconds to wait as text ("0": allowed, and taken if asked): Redis would truncate a number.
_BUCKET = """
local burst = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local refill = burst / per
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * refill)
if tokens < 1 then
  return tostring((1 - tokens) / refill)
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 't', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(per * 1000))
end
return '0'
"""


class RedisLimiter:
    """The :class:`~porch_server.realtime.limits.Limiter` of several processes: the same
    buckets, kept in Redis so a client spreading its attempts over processes meets one limit.
    Open sockets per address are counted like the hub's listeners (per process, live processes
    only), so a process that dies does not leave its addresses over the limit. ``clock`` is
    the settings' (all processes' clocks are assumed roughly in step: a skew of a second moves
    a refill by a second)."""

    def __init__(self, hub: RedisHub, limits: Limits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._hub = hub
        self._clock = clock
        self._bucket = hub._client.register_script(_BUCKET)

    async def take(self, rule: Rule, key: str) -> float:
        return await self._ask(rule, key, take=True)

    async def wait(self, rule: Rule, key: str) -> float:
        return await self._ask(rule, key, take=False)

    async def _ask(self, rule: Rule, key: str, *, take: bool) -> float:
        rate = self.limits.rates[rule]
        answer = await self._bucket(
            keys=[f"porch:limit:{rule.value}:{key}"],
            args=[rate.burst, rate.per_seconds, repr(self._clock()), 1 if take else 0],
        )
        return float(answer)

    async def open_connection(self, address: str) -> bool:
        channel = _ConnectionsOf(address)
        if await self._hub.count(channel, 1) <= self.limits.connections_per_address:
            return True
        await self._hub.count(channel, -1)
        return False

    async def close_connection(self, address: str) -> None:
        await self._hub.count(_ConnectionsOf(address), -1)
