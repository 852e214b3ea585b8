"""``GET /metrics`` (off by default) and the event-loop lag monitor behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from conftest import FakeClock, Porch, TestClient, receive_until, send_frame
from porch_protocol import MessageAck, SendMessage
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.transport.http.metrics import LAG_BUCKETS, LoopLag


def samples(text: str) -> dict[str, float]:
    """A Prometheus text exposition's samples by name (labels included); comments checked."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")), line
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


class _Done(Exception):
    pass


def test_each_overshoot_lands_in_its_bucket_and_the_buckets_are_cumulative() -> None:
    now = [100.0]
    lags = [0.0001, 0.003, 0.003, 0.7, 9.0, -0.001]  # the last: a timer that fired early

    async def sleep(seconds: float) -> None:
        if not lags:
            raise _Done
        now[0] += seconds + lags.pop(0)

    monitor = LoopLag(0.05, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(_Done):
        asyncio.run(monitor.watch())

    lines = samples("\n".join(monitor.exposition("lag")))
    assert lines['lag_bucket{le="0.0005"}'] == 2  # 0.0001, and the early timer as 0
    assert lines['lag_bucket{le="0.002"}'] == 2
    assert lines['lag_bucket{le="0.005"}'] == 4
    assert lines['lag_bucket{le="0.5"}'] == 4
    assert lines['lag_bucket{le="1.0"}'] == 5
    assert lines['lag_bucket{le="5.0"}'] == 5
    assert lines['lag_bucket{le="+Inf"}'] == lines["lag_count"] == 6
    assert lines["lag_sum"] == pytest.approx(0.0001 + 0.003 + 0.003 + 0.7 + 9.0)
    assert len(monitor.counts) == len(LAG_BUCKETS) + 1


def test_a_blocked_event_loop_shows_as_lag() -> None:
    """The monitor sleeps 10 ms; the loop is then held for 100 ms, so it wakes at least 90 ms
    late (a lower bound: it cannot wake before the loop is free)."""

    async def block() -> float:
        monitor = LoopLag(0.01)
        watching = asyncio.create_task(monitor.watch())
        await asyncio.sleep(0)  # the monitor starts its first sleep
        time.sleep(0.1)  # what a long callback does to every task of the process
        while not monitor.total:
            await asyncio.sleep(0)
        watching.cancel()
        return monitor.total

    assert asyncio.run(block()) >= 0.09


def test_off_by_default(porch: Porch) -> None:
    assert Settings().metrics is False
    assert porch.client.get("/metrics").status_code == 404


def test_the_setting_comes_from_the_environment() -> None:
    assert Settings.from_env({"PORCH_METRICS": "1"}).metrics is True
    assert Settings.from_env({"PORCH_METRICS": "0"}).metrics is False


@pytest.fixture
def measured(settings: Settings, clock: FakeClock) -> Iterator[Porch]:
    on = replace(settings, metrics=True)
    with TestClient(create_app(on)) as client:
        harness = Porch(client=client, settings=on, clock=clock)
        with harness._stack:
            yield harness


def test_metrics_count_sockets_and_messages_and_give_memory_and_lag(measured: Porch) -> None:
    visitor, _ = measured.visitor()
    measured.agent()
    before = samples(measured.client.get("/metrics").text)
    send_frame(visitor, SendMessage(client_id="m1", text="hello"))
    receive_until(visitor, MessageAck)

    answer = measured.client.get("/metrics")
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = samples(answer.text)
    assert after['porch_sockets{side="visitor"}'] == 1
    assert after['porch_sockets{side="agent"}'] == 1
    assert before["porch_messages_written_total"] == 0
    assert after["porch_messages_written_total"] == 1
    assert after["porch_message_batches_total"] == 1
    assert after["process_resident_memory_bytes"] > 10_000_000  # a Python server, at least
    assert after["process_open_fds"] > 0
    lag = after['porch_event_loop_lag_seconds_bucket{le="+Inf"}']
    assert lag == after["porch_event_loop_lag_seconds_count"]
