"""``GET /metrics``: this process's health in Prometheus's text format, when ``PORCH_METRICS``
is on (docs/server.md, "Metrics"; off by default).

It answers with the process's resident memory, CPU seconds and open file descriptors (the usual
``process_*`` names, read from ``/proc`` on Linux), the event loop's lag (:class:`LoopLag`), the
visitor and agent sockets this process holds (from its hub) and the chat messages its group
commit wrote. Each process answers for itself: with ``porch serve --workers N`` a scrape reaches
one of them, as any request does.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from porch_server.context import context_of

#: Seconds the lag monitor sleeps between two measurements: 20 wake-ups a second, so a scrape
#: every 5 s has 100 samples for its p99, at a cost too small to measure.
LAG_INTERVAL = 0.05

#: Upper bounds of the lag histogram's buckets, seconds (1-2-5 steps from 0.5 ms to 5 s).
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LoopLag:
    """How late the event loop runs a task that asked to sleep ``interval`` seconds: whatever
    holds the loop (a long callback, a full collection of the garbage collector, a burst of
    ready sockets) delays every socket of the process by as much. Kept as a histogram of fixed
    buckets: its memory stays the same however long the process runs, and a scraper gets the
    quantiles of any window from the difference of two scrapes."""

    def __init__(
        self,
        interval: float = LAG_INTERVAL,
        *,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        #: Measurements per bucket of :data:`LAG_BUCKETS`, the last for those above them all.
        self.counts = [0] * (len(LAG_BUCKETS) + 1)
        #: Seconds of lag measured in all.
        self.total = 0.0

    def record(self, lag: float) -> None:
        self.counts[bisect.bisect_left(LAG_BUCKETS, lag)] += 1
        self.total += lag

    async def watch(self) -> None:
        """Measure until cancelled (a task of the app's lifespan)."""
        while True:
            started = self._clock()
            await self._sleep(self.interval)
            self.record(max(0.0, self._clock() - started - self.interval))

    def exposition(self, name: str) -> list[str]:
        """The histogram's lines (cumulative buckets, ``_sum``, ``_count``)."""
        lines = [
            f"# HELP {name} How late the event loop ran a task that slept {self.interval:g} s.",
            f"# TYPE {name} histogram",
        ]
        below = 0
        for bound, count in zip((*LAG_BUCKETS, "+Inf"), self.counts, strict=True):
            below += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {below}')
        return [*lines, f"{name}_sum {self.total:.6f}", f"{name}_count {below}"]


def process_lines(proc: Path = Path("/proc/self")) -> list[str]:
    """The ``process_*`` metrics, from ``proc`` (none where there is no ``/proc``)."""
    if not (proc / "status").exists():
        return []
    rss_kib = next(
        int(line.split()[1])
        for line in (proc / "status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    times = os.times()
    return [
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {rss_kib * 1024}",
        "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.",
        "# TYPE process_cpu_seconds_total counter",
        f"process_cpu_seconds_total {times.user + times.system:.2f}",
        "# HELP process_open_fds Number of open file descriptors.",
        "# TYPE process_open_fds gauge",
        f"process_open_fds {len(os.listdir(proc / 'fd'))}",
    ]


async def metrics(request: Request) -> Response:
    ctx = context_of(request)
    assert ctx.lag is not None  # routed only with the setting on, which starts the monitor
    lines = process_lines()
    lines += ctx.lag.exposition("porch_event_loop_lag_seconds")
    lines += [
        "# HELP porch_sockets WebSockets this process holds, by side.",
        "# TYPE porch_sockets gauge",
        f'porch_sockets{{side="visitor"}} {ctx.hub.local_listeners("visitors")}',
        f'porch_sockets{{side="agent"}} {ctx.hub.local_listeners("agents")}',
        "# HELP porch_messages_written_total Chat messages the group commit wrote.",
        "# TYPE porch_messages_written_total counter",
        f"porch_messages_written_total {ctx.messages.committed}",
        "# HELP porch_message_batches_total Transactions the group commit wrote them in.",
        "# TYPE porch_message_batches_total counter",
        f"porch_message_batches_total {ctx.messages.batches}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type=CONTENT_TYPE)
