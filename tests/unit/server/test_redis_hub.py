"""The Redis fan-out with two hubs standing for two processes, on a real Redis server: frames
cross, counts add up atomically, a dead process stops counting, the page status is pushed once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
import redis

from conftest import FakeClock, Porch
from porch_protocol import Message, PageStatusChanged, TypingChanged
from porch_server.realtime.hub import Channel
from porch_server.realtime.limits import Limits, Rate, Rule
from porch_server.realtime.redis_hub import RedisHub, RedisLimiter, RedisStatusMemory
from support import services

_T = TypeVar("_T")


@dataclass
class Socket:
    """A peer that records what the hub queued for it."""

    frames: list[Message] = field(default_factory=list)
    closed: int | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, frame: Message) -> None:
        self.frames.append(frame)
        self.arrived.set()

    def close(self, code: int) -> None:
        self.closed = code
        self.arrived.set()

    async def next_arrival(self) -> None:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()


@pytest.fixture
def redis_url(redis_server: services.Redis) -> str:
    redis_server.flush()
    return redis_server.url


def run(work: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(work())


@contextlib.asynccontextmanager
async def _hubs(url: str, count: int, **options: float) -> AsyncIterator[list[RedisHub]]:
    hubs = [RedisHub(url, **options) for _ in range(count)]
    for hub in hubs:
        await hub.start()
    try:
        yield hubs
    finally:
        for hub in hubs:
            await hub.aclose()


TYPING = TypingChanged(conversation_id="c1", typing=True, author="visitor", name="Vi")


def test_a_frame_published_in_one_process_reaches_peers_in_the_other(redis_url: str) -> None:
    async def work() -> tuple[list[Message], list[Message], list[Message]]:
        async with _hubs(redis_url, 2) as (a, b):
            sender, here, there = Socket(), Socket(), Socket()
            channel = Channel.agents(1)
            for hub, peer in ((a, sender), (a, here), (b, there)):
                await hub.join(channel, peer)
            await a.publish(channel, [TYPING], exclude=sender)
            await there.next_arrival()
            return sender.frames, here.frames, there.frames

    sender, here, there = run(work)
    assert sender == [] and here == [TYPING] and there == [TYPING]


def test_close_channel_closes_sockets_in_every_process(redis_url: str) -> None:
    async def work() -> tuple[int | None, list[Message]]:
        async with _hubs(redis_url, 2) as (a, b):
            there = Socket()
            await b.join(Channel.visitor(7), there)
            await a.close_channel(Channel.visitor(7), [TYPING], 4001)
            while there.closed is None:
                await there.next_arrival()
            return there.closed, there.frames

    assert run(work) == (4001, [TYPING])


def test_counts_add_up_across_processes_and_tell_the_first_and_the_last(redis_url: str) -> None:
    async def work() -> list[int]:
        async with _hubs(redis_url, 2, count_cache=0) as (a, b):
            tab1, tab2 = Socket(), Socket()
            channel = Channel.visitor(3)
            # Two tabs joining at once in two processes: exactly one of them is the first.
            joined = sorted(await asyncio.gather(a.join(channel, tab1), b.join(channel, tab2)))
            counted = [await a.listener_count(channel), await b.listener_count(channel)]
            left = [await a.leave(channel, tab1), await b.leave(channel, tab2)]
            again = await a.leave(channel, tab1)  # a second leave changes nothing
            return [*joined, *counted, *left, again]

    assert run(work) == [1, 2, 2, 2, 1, 0, 0]


def test_counts_read_for_summaries_are_reused_for_a_moment(redis_url: str) -> None:
    """listener_count is read for every message's summary: within COUNT_CACHE it costs no
    round trip, so it may lag another process's join by that much (joins and leaves, which
    decide first and last tabs, always ask Redis)."""

    async def work() -> list[int]:
        async with _hubs(redis_url, 2, count_cache=60) as (a, b):
            channel = Channel.agents(4)
            await a.join(channel, Socket())
            seen = [await a.listener_count(channel)]
            await b.join(channel, Socket())
            seen.append(await a.listener_count(channel))  # still the cached 1
            seen.append(await b.listener_count(channel))  # b's own join refreshed it
            return seen

    assert run(work) == [1, 1, 2]


def test_a_process_that_stops_beating_stops_counting(redis_url: str) -> None:
    async def work() -> tuple[int, int]:
        async with _hubs(redis_url, 1, process_ttl=0.5, count_cache=0) as (alive,):
            dead = RedisHub(redis_url, process_ttl=0.5)
            await dead.start()
            await dead.join(Channel.agent(9), Socket())
            before = await alive.listener_count(Channel.agent(9))
            for task in dead._tasks:  # a kill -9: no goodbye, no more heartbeats
                task.cancel()
            await asyncio.sleep(0.8)  # past the TTL: time is what is under test here
            after = await alive.listener_count(Channel.agent(9))
            await dead.aclose()
            return before, after

    assert run(work) == (1, 0)


def test_the_page_status_is_remembered_once_for_every_process(redis_url: str) -> None:
    async def work() -> tuple[list[str | None], list[int], list[bool]]:
        one, two = RedisStatusMemory(redis_url), RedisStatusMemory(redis_url)
        try:
            await one.told(5, "online")
            await two.told(5, "away")  # told before: the first answer stands
            swaps = [await one.swap(5, "away"), await two.swap(5, "away")]
            leaders = [await one.lead(10), await two.lead(10), await one.lead(10)]
            return swaps, await two.apps(), leaders
        finally:
            await one.aclose()
            await two.aclose()

    swaps, apps, leaders = run(work)
    assert swaps == ["online", "away"]  # only the first process sees a change to push
    assert apps == [5]
    assert leaders == [True, False, True]


def test_a_page_status_frame_survives_the_trip_through_redis(redis_url: str) -> None:
    async def work() -> list[Message]:
        async with _hubs(redis_url, 2) as (a, b):
            visitor = Socket()
            await b.join(Channel.visitors(1), visitor)
            await a.publish(Channel.visitors(1), [PageStatusChanged(status="away")])
            await visitor.next_arrival()
            return visitor.frames

    assert run(work) == [PageStatusChanged(status="away")]


def test_an_app_with_a_redis_url_counts_its_sockets_in_redis(porch: Porch, redis_url: str) -> None:
    """The whole server on Redis (``make test`` also runs the server suite so): a visitor's
    socket is counted where every process can see it, and stops counting when it closes."""
    client = redis.Redis.from_url(redis_url)
    try:
        ws, welcome = porch.visitor()
        keys = client.keys("porch:listeners:visitor:*")
        assert len(keys) == 1 and sum(int(v) for v in client.hvals(keys[0])) == 1
        ws.close()
        deadline = time.monotonic() + 5  # the server sees the close on its own schedule
        while client.hvals(keys[0]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.hvals(keys[0]) == []
        assert porch.settings.redis_url == redis_url and welcome.identity.bs
    finally:
        client.close()


def test_two_processes_meet_one_limit(redis_url: str) -> None:
    """A client spreading its attempts over processes meets the same bucket and the same count
    of open sockets; the fake clock refills it without sleeping."""
    clock = FakeClock()
    limits = Limits({rule: Rate(3, 30) for rule in Rule}, connections_per_address=2)

    async def work() -> tuple[list[float], float, list[bool], bool]:
        async with _hubs(redis_url, 2) as (a, b):
            one, two = RedisLimiter(a, limits, clock), RedisLimiter(b, limits, clock)
            taken = [await one.take(Rule.LOGIN_PER_ADDRESS, "10.0.0.1") for _ in range(2)]
            taken.append(await two.take(Rule.LOGIN_PER_ADDRESS, "10.0.0.1"))
            taken.append(await two.take(Rule.LOGIN_PER_ADDRESS, "10.0.0.1"))  # the 4th: refused
            clock.advance(10)  # one token back (3 per 30 s)
            later = await one.take(Rule.LOGIN_PER_ADDRESS, "10.0.0.1")
            opened = [await one.open_connection("10.0.0.2"), await two.open_connection("10.0.0.2")]
            opened.append(await two.open_connection("10.0.0.2"))  # a third: refused
            await one.close_connection("10.0.0.2")
            return taken, later, opened, await two.open_connection("10.0.0.2")

    taken, later, opened, after_close = run(work)
    assert taken[:3] == [0.0, 0.0, 0.0] and taken[3] == pytest.approx(10.0)
    assert later == 0.0
    assert opened == [True, True, False] and after_close


def test_a_burst_beyond_the_connection_pool_queues_instead_of_failing(redis_url: str) -> None:
    """Found by the scale bench: 100 visitors sending at once made redis-py's pool (100 at most)
    raise, and messages failed. Calls now wait for a free connection."""
    limits = Limits({rule: Rate(1000, 1) for rule in Rule}, connections_per_address=1000)

    async def work() -> list[float]:
        async with _hubs(redis_url, 1) as (hub,):
            limiter = RedisLimiter(hub, limits, FakeClock())
            calls = (limiter.take(Rule.MESSAGES_PER_VISITOR, f"v{n}") for n in range(300))
            return list(await asyncio.gather(*calls))

    assert run(work) == [0.0] * 300


def test_closing_ends_even_when_a_task_does_not_end_when_cancelled(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found when the PostgreSQL + Redis suite hung once at an app's shutdown: redis-py can turn
    a cancellation inside a pub/sub read into a ConnectionError, and the listener took it for a
    lost connection and listened again. Closing now waits a bounded time for its tasks."""
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue  # swallowed, as the listener did

    async def work() -> bool:
        hub = RedisHub(redis_url)
        await hub.start()
        hub.close_wait = 0.2
        task = asyncio.get_running_loop().create_task(stubborn())
        hub._tasks.append(task)
        # Without the bound, aclose awaits the stubborn task forever: wait_for raises.
        await asyncio.wait_for(hub.aclose(), 5)
        still_running = not task.done()
        released.set()
        await task
        return still_running

    assert run(work)  # closed while the stubborn task was still running
    assert "did not end when cancelled" in caplog.text
