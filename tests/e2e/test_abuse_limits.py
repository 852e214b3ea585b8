"""Abuse limits on a real server with its default limits (tests/unit/server/test_abuse_limits.py
proves each one's bound and recovery with a fake clock): a flooding visitor is refused, and a
quiet visitor's round trips meanwhile are measured, not asserted (docs/security.md has the
figures)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from raw_clients import own_server, receive, round_trip, run_async, visitor

#: Round trips measured before and during the flood, over QUIET visitors in turn, each at a
#: person's pace (PACE seconds apart, under the 5 a second a socket may send).
ROUND_TRIPS = 160
QUIET = 4
PACE = 0.06
#: Flooding sockets (one visitor, several tabs: each has its own limit, all share one).
FLOOD_SOCKETS = 4


async def _flood(
    open_tab: Callable[[], Awaitable[ClientConnection]],
    stop: asyncio.Event,
    answers: Counter[str],
) -> None:
    """Send ``message.send`` as fast as the socket takes it, reading the answers meanwhile;
    when the server drops the socket (1013: it queued 512 unread answers), reconnect as the
    visitor's runtime would, and go on."""
    n = 0
    while not stop.is_set():
        ws = await open_tab()
        reader = asyncio.create_task(_count_answers(ws, answers))
        try:
            while not stop.is_set() and not reader.done():
                n += 1
                frame = {"v": 1, "type": "message.send", "client_id": f"f{n}", "text": "x"}
                await ws.send(json.dumps(frame))
                if n % 50 == 0:
                    await asyncio.sleep(0)  # let the reader run, as any client's loop would
        except ConnectionClosed:
            pass  # the reader counts it
        finally:
            answers["sent"] += n
            n = 0
            await ws.close()
            await reader


async def _count_answers(ws: ClientConnection, answers: Counter[str]) -> None:
    try:
        while True:
            frame = await receive(ws)
            answers[frame.get("code") or frame["type"]] += 1
    except ConnectionClosed as closed:
        answers[f"closed {closed.rcvd.code if closed.rcvd else 'by us'}"] += 1


async def _round_trips(quiet: list[ClientConnection], tag: str) -> list[float]:
    times = []
    for n in range(ROUND_TRIPS):
        started = time.perf_counter()
        await round_trip(quiet[n % len(quiet)], f"{tag}-{n}")
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PACE)
    return times


def _figures(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95)]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"


def test_a_flooding_visitor_is_refused_and_another_keeps_its_round_trips(tmp_path: Path) -> None:
    with own_server(tmp_path, PORCH_LIMITS="") as server:  # "" = the defaults

        async def run() -> tuple[list[float], list[float], Counter[str], float]:
            async with httpx.AsyncClient(timeout=30) as http:
                quiet = [(await visitor(http, server))[0] for _ in range(QUIET)]
                first_tab, welcome = await visitor(http, server)
                await first_tab.close()  # the flooder's tabs reconnect with its identity

                async def open_tab() -> ClientConnection:
                    return (await visitor(http, server, identity=welcome["identity"]))[0]

                before = await _round_trips(quiet, "before")
                stop, answers = asyncio.Event(), Counter[str]()
                started = time.perf_counter()
                floods = [
                    asyncio.create_task(_flood(open_tab, stop, answers))
                    for _ in range(FLOOD_SOCKETS)
                ]
                during = await _round_trips(quiet, "during")
                stop.set()
                await asyncio.gather(*floods)
                seconds = time.perf_counter() - started
                for ws in quiet:
                    await ws.close()
                return before, during, answers, seconds

        before, during, answers, seconds = run_async(run)
    print(f"\nquiet visitor's round trip alone: {_figures(before)}")
    print(f"while {FLOOD_SOCKETS} tabs of another flood: {_figures(during)}")
    print(f"the flood, {seconds:.1f} s: {dict(answers)}")
    # The flooder got its visitor's burst (40) and then 10 a second, however many tabs and
    # reconnections it used; the rest was refused or never read. The quiet visitors got every
    # message acknowledged (round_trip awaited each).
    assert answers["message.ack"] <= 40 + 10 * seconds + 1
    assert answers["rate_limited"] > answers["message.ack"]
    assert len(during) == ROUND_TRIPS
