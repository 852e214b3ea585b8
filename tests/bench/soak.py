"""The soak: hours of a chat site squeezed into minutes, watching what grows.

    python tests/bench/soak.py --profile full --out bench/results     # make bench-soak
    python tests/bench/soak.py --profile short --out var/bench         # what the smoke bench runs

Starts a real ``porch demo`` process with ``PORCH_METRICS=1`` and its own SQLite file, then
drives it from a process of its own (this script again, with ``--url``) speaking the real
protocol through ``load.py``'s client: ``visitors`` visitors stay connected and chat (each sends a
message every ``message_every`` seconds on average and awaits its ack), an agent's console
replies to ``reply_share`` of them and is reloaded every ``console_every`` seconds; each visitor's
socket drops every ``blip_every`` seconds on average (cut without a close, as a network blip
does) and comes back after the runtime's backoff with its identity and ``last_seq``, as the widget
does; each visitor leaves after ``stay`` seconds on average (half of them ending their
conversation first) and a new one takes its place, so conversations accumulate as on a live site.

Every ``sample`` seconds it records the server's RSS (``/proc/<pid>/status``), the event loop's
lag p99 over the interval (from ``GET /metrics``'s histogram: measured inside the server), the
SQLite file and its WAL, the sockets the server holds, the messages it wrote, and the errors the
clients met. It writes ``<stem>.json`` (every sample), ``<stem>.md`` (the table and a verdict
per series: does it level off? see docs/performance.md, "Soak") and ``<stem>.png`` (the plot).
Nothing is asserted: the verdict is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import itertools
import json
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402

from porch_protocol import (  # noqa: E402
    EndConversation,
    SendMessage,
    VisitorIdentity,
    backoff,
    encode,
)

PROFILES: dict[str, dict[str, float]] = {
    # The smoke bench's: proves the soak works, in well under a minute.
    "short": {
        "visitors": 200,
        "seconds": 30,
        "sample": 2,
        "message_every": 5,
        "reply_share": 0.3,
        "blip_every": 20,
        "stay": 40,
        "console_every": 10,
    },
    # The full bench's: 1,000 visitors for 10 minutes; ~100 messages a second from visitors,
    # ~8 reconnects a second, ~3 visitors leaving and arriving a second.
    "full": {
        "visitors": 1000,
        "seconds": 600,
        "sample": 5,
        "message_every": 10,
        "reply_share": 0.3,
        "blip_every": 120,
        "stay": 300,
        "console_every": 60,
    },
}

#: The frames whose type this process must tell apart (``porch_protocol.encode`` writes ``v``
#: and ``type`` first, so a prefix tells; parsing every frame would cost the server's cores).
ACK = '{"v":1,"type":"message.ack",'
NEW = '{"v":1,"type":"message.new",'
ERROR = '{"v":1,"type":"error",'


@dataclass
class Counters:
    """What the clients did and met; the sampler reads the totals."""

    sent: int = 0
    acked: int = 0
    ack_ms: list[float] = field(default_factory=list)
    replies_sent: int = 0
    replies_live: int = 0
    caught_up: int = 0
    reconnects: int = 0
    arrivals: int = 0
    departures: int = 0
    ended: int = 0
    consoles: int = 0
    console_ms: list[float] = field(default_factory=list)
    connected: int = 0
    errors: int = 0
    #: Errors by kind: a failed connection or resume, an ``error`` frame's code, a timeout...
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    first_errors: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.kinds[kind] += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(f"{kind}: {detail}"[:300])


class Soak:
    def __init__(self, url: str, profile: dict[str, float], seed: int = 15) -> None:
        self.url = url
        self.ws_url = url.replace("http", "ws", 1)
        self.profile = profile
        self.counters = Counters()
        self.rng = random.Random(seed)
        self.ticket = ""
        #: When every visitor is in (the steady phase begins) and when it ends; monotonic.
        self.steady_from = math.inf
        self.stop_at = math.inf

    def wait(self, every: float) -> float:
        return self.rng.expovariate(1 / every)

    async def run(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            self.ticket = await load.ticket(client, self.url)
        started = time.monotonic()
        ramped = asyncio.Event()
        slots = int(self.profile["visitors"])
        opened = 0
        gate = asyncio.Semaphore(64)

        async def slot(number: int) -> None:
            nonlocal opened
            async with gate:
                first = await self.arrive()
            opened += 1
            if opened == slots:
                ramped.set()
            await self.chat(number, first)
            while time.monotonic() < self.stop_at:
                await self.chat(number, await self.arrive())

        async with asyncio.TaskGroup() as group:
            for number in range(slots):
                group.create_task(slot(number))
            await ramped.wait()
            self.steady_from = time.monotonic()
            self.stop_at = self.steady_from + self.profile["seconds"]
            ramp = self.steady_from - started
            group.create_task(self.console())
        return {"ramp_seconds": ramp, "seconds": time.monotonic() - started}

    async def arrive(self) -> load.Visitor | None:
        try:
            visitor = await load.open_visitor(self.ws_url, self.ticket)
        except Exception as exc:
            self.counters.error("connect", f"{type(exc).__name__}: {exc}")
            return None
        self.counters.arrivals += 1
        return visitor

    async def chat(self, number: int, visitor: load.Visitor | None) -> None:
        """One visitor's stay: messages, blips and resumes, then leaving for good."""
        if visitor is None:
            await asyncio.sleep(1)  # a failed arrival is retried by the slot, not at once
            return
        c = self.counters
        identity: VisitorIdentity = visitor.welcome.identity
        last_seq = visitor.welcome.last_seq
        stay_until = time.monotonic() + self.wait(self.profile["stay"])
        socket: ClientConnection | None = visitor.socket
        c.connected += 1
        next_message = time.monotonic() + self.wait(self.profile["message_every"])
        next_blip = time.monotonic() + self.wait(self.profile["blip_every"])
        try:
            # The end of the soak may be set after the stay began (during the ramp).
            while socket is not None and (now := time.monotonic()) < (
                leave_at := min(stay_until, self.stop_at)
            ):
                dropped = False
                try:
                    due = min(next_message, next_blip, leave_at)
                    last_seq = max(last_seq, await self.read(socket, due - now))
                    now = time.monotonic()
                    if now >= leave_at:
                        break
                    if now >= next_blip:
                        next_blip = now + self.wait(self.profile["blip_every"])
                        socket.transport.abort()  # no close frame: the connection is just gone
                        dropped = True
                    elif now >= next_message:
                        next_message = now + self.wait(self.profile["message_every"])
                        last_seq = max(last_seq, await self.send(socket, f"s{number}-{c.sent}"))
                except (ConnectionClosed, OSError, TimeoutError) as exc:
                    # The server closed or dropped it, or an ack never came: the runtime then
                    # reconnects as after a blip.
                    c.error("visitor socket", f"{type(exc).__name__}: {exc}")
                    dropped = True
                if dropped:
                    c.connected -= 1
                    socket = await self.resume(identity, last_seq)
                    if socket is not None:
                        c.connected += 1
        finally:
            if socket is not None:
                c.connected -= 1
                with contextlib.suppress(ConnectionClosed, OSError):
                    if self.rng.random() < 0.5:
                        await socket.send(encode(EndConversation()))
                        c.ended += 1
                    await socket.close()
            c.departures += 1

    async def resume(self, identity: VisitorIdentity, last_seq: int) -> ClientConnection | None:
        """What the runtime does after a dropped socket: wait its backoff, say hello again with
        the identity and the last ``seq`` it shows; the welcome brings what it missed. None
        when that fails too (the visitor is then gone)."""
        c = self.counters
        for delay in itertools.islice(backoff(self.rng.random), 5):
            await asyncio.sleep(delay)
            try:
                back = await load.open_visitor(self.ws_url, self.ticket, identity, last_seq)
            except Exception as exc:
                c.error("resume", f"{type(exc).__name__}: {exc}")
                continue
            if back.welcome.identity.bs != identity.bs:
                c.error("resume", "the server issued another identity")
            c.reconnects += 1
            c.caught_up += len(back.welcome.messages)
            return back.socket
        return None

    async def read(self, socket: ClientConnection, seconds: float) -> int:
        """Read what arrives for ``seconds``; the highest ``seq`` seen (0: none)."""
        seq = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                while True:
                    seq = max(seq, self.note(await socket.recv()))
        return seq

    def note(self, text: str | bytes) -> int:
        if not isinstance(text, str):
            return 0
        if text.startswith(NEW):
            self.counters.replies_live += 1
            return int(json.loads(text)["message"]["seq"])
        if text.startswith(ERROR):
            self.counters.error("error frame " + json.loads(text)["code"], text)
        return 0

    async def send(self, socket: ClientConnection, client_id: str) -> int:
        """Send a message and await its ack (reading what comes meanwhile); its ``seq``."""
        c = self.counters
        c.sent += 1
        started = time.perf_counter()
        await socket.send(encode(SendMessage(client_id=client_id, text=f"soak {client_id}")))
        seq = 0
        async with asyncio.timeout(30):
            while True:
                text = await socket.recv()
                if isinstance(text, str) and text.startswith(ACK):
                    body = json.loads(text)
                    if body["client_id"] == client_id:
                        c.acked += 1
                        c.ack_ms.append((time.perf_counter() - started) * 1000)
                        return max(seq, int(body["message"]["seq"]))
                seq = max(seq, self.note(text))

    async def console(self) -> None:
        """An agent's console, reloaded every ``console_every`` seconds (its welcome lists the
        conversations), replying to ``reply_share`` of the visitors' messages."""
        c = self.counters
        while time.monotonic() < self.stop_at:
            started = time.perf_counter()
            try:
                socket = await load.agent_socket(self.url)
            except Exception as exc:
                c.error("console", f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1)
                continue
            c.consoles += 1
            c.console_ms.append((time.perf_counter() - started) * 1000)
            reload_at = min(self.stop_at, time.monotonic() + self.profile["console_every"])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, reload_at - time.monotonic())):
                    async for text in socket:
                        if not isinstance(text, str):
                            continue
                        if text.startswith(ERROR):
                            c.error("console error frame " + json.loads(text)["code"], text)
                        if not text.startswith(NEW):
                            continue
                        message = json.loads(text)["message"]
                        if message["author"] == "visitor" and (
                            self.rng.random() < self.profile["reply_share"]
                        ):
                            c.replies_sent += 1
                            reply = SendMessage(
                                client_id=f"r{c.replies_sent}",
                                text="An agent's answer",
                                conversation_id=message["conversation_id"],
                            )
                            await socket.send(encode(reply))
            await socket.close()


# --- sampling -----------------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


LAG = "porch_event_loop_lag_seconds_bucket"


def lag_buckets(metrics: dict[str, float]) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of the lag histogram, in order."""
    pairs = []
    for name, count in metrics.items():
        if name.startswith(LAG + '{le="'):
            bound = name[len(LAG) + 5 : -2]
            pairs.append((float("inf") if bound == "+Inf" else float(bound), count))
    return sorted(pairs)


def quantile(
    share: float, before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> float | None:
    """The ``share`` quantile of the measurements between two scrapes of the histogram,
    interpolated within its bucket as Prometheus's ``histogram_quantile`` does (the largest
    finite bound when it falls above them all); None without measurements."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1]
    if total <= 0:
        return None
    rank = share * total
    lower, below = 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def waited_for_cpu(pid: int) -> float:
    """Seconds the server's main thread (its event loop) has spent runnable but waiting for a
    CPU (``/proc/<pid>/task/<pid>/schedstat``'s second field): on a machine others load, lag
    that this explains is the machine's, not the server's."""
    return int((Path(f"/proc/{pid}/task/{pid}/schedstat")).read_text().split()[1]) / 1e9


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def sample(
    soak: Soak, server_pid: int, database: Path, every: float, samples: list[dict[str, Any]]
) -> None:
    """Append a sample every ``every`` seconds until cancelled."""
    began = time.monotonic()
    previous: tuple[float, dict[str, float], float, float] | None = None
    loads_seen = 0
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            metrics = parse_metrics((await client.get(soak.url + "/metrics")).text)
            now = time.monotonic()
            waited = waited_for_cpu(server_pid)
            mine = time.process_time()  # this process's CPU: it shares the machine's cores
            c = soak.counters
            row: dict[str, Any] = {
                "t": now - began,
                "rss_mb": load.rss_kib(server_pid) * 1024 / 1e6,
                "db_mb": file_size(database) / 1e6,
                "wal_mb": file_size(database.with_name(database.name + "-wal")) / 1e6,
                "visitor_sockets": metrics['porch_sockets{side="visitor"}'],
                "agent_sockets": metrics['porch_sockets{side="agent"}'],
                "open_fds": metrics.get("process_open_fds"),
                "messages_written": metrics["porch_messages_written_total"],
                "clients_connected": c.connected,
                "sent": c.sent,
                "acked": c.acked,
                "replies_sent": c.replies_sent,
                "reconnects": c.reconnects,
                "arrivals": c.arrivals,
                "errors": c.errors,
                # The console's loads in this interval (none in most: one a minute).
                "console_welcome_ms": max(c.console_ms[loads_seen:], default=None),
                "steady": soak.steady_from <= now <= soak.stop_at,
            }
            if previous is not None:
                then, before, waited_before, mine_before = previous
                seconds = now - then
                written = row["messages_written"] - before["porch_messages_written_total"]
                row["msg_per_s"] = written / seconds
                row["cpu_percent"] = 100 * (
                    metrics["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]
                ) / seconds
                row["cpu_wait_percent"] = 100 * (waited - waited_before) / seconds
                row["driver_cpu_percent"] = 100 * (mine - mine_before) / seconds
                p99 = quantile(0.99, lag_buckets(before), lag_buckets(metrics))
                p50 = quantile(0.5, lag_buckets(before), lag_buckets(metrics))
                row["lag_p99_ms"] = None if p99 is None else p99 * 1000
                row["lag_p50_ms"] = None if p50 is None else p50 * 1000
            samples.append(row)
            previous = (now, metrics, waited, mine)
            loads_seen = len(c.console_ms)
            await asyncio.sleep(every)


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    profile = profile_of(args.profile, args.seconds)
    soak = Soak(args.url, profile)
    samples: list[dict[str, Any]] = []
    sampler = asyncio.create_task(
        sample(soak, args.server_pid, args.database, profile["sample"], samples)
    )
    timing = await soak.run()
    await asyncio.sleep(profile["sample"])  # one sample after the last visitor left
    sampler.cancel()
    c = soak.counters
    return {
        **timing,
        "profile": profile,
        "samples": samples,
        "totals": {
            "sent": c.sent,
            "acked": c.acked,
            "ack_ms": load.summary(c.ack_ms),
            "replies_sent": c.replies_sent,
            "replies_live": c.replies_live,
            "caught_up_in_welcomes": c.caught_up,
            "reconnects": c.reconnects,
            "arrivals": c.arrivals,
            "departures": c.departures,
            "conversations_ended": c.ended,
            "console_reloads": c.consoles,
            "console_welcome_ms": load.summary(c.console_ms),
            "errors": c.errors,
            "error_kinds": dict(c.kinds),
            "first_errors": c.first_errors,
        },
    }


# --- the report ---------------------------------------------------------------------------------

#: The series judged for levelling off: key, label, unit, and the smallest rise over a third of
#: the steady phase that counts as growth (below it is noise).
SERIES: tuple[tuple[str, str, str, float], ...] = (
    ("rss_mb", "server RSS", "MB", 2.0),
    ("lag_p99_ms", "event-loop lag p99", "ms", 2.0),
    ("wal_mb", "SQLite WAL file", "MB", 1.0),
    ("db_kb_per_message", "SQLite file per message written", "KB", 0.05),
    ("open_fds", "server's open file descriptors", "", 20.0),
    ("console_welcome_ms", "a console's load (login to welcome)", "ms", 50.0),
)


def with_derived(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in samples:
        written = row["messages_written"]
        row["db_kb_per_message"] = row["db_mb"] * 1000 / written if written else None
    return samples


def rise(points: list[tuple[float, float]], span: float) -> float:
    """How much a line through ``points`` (t, value) rises over ``span`` seconds. Its slope is
    Theil and Sen's, the median of the slopes between every two points: one spike (a pause of
    the machine, a burst of welcomes) does not tilt it as it would a least-squares line."""
    slopes = sorted(
        (v2 - v1) / (t2 - t1)
        for i, (t1, v1) in enumerate(points)
        for t2, v2 in points[i + 1 :]
        if t2 > t1
    )
    return span * statistics.median(slopes) if slopes else 0.0


def verdict(samples: list[dict[str, Any]], key: str, floor: float) -> dict[str, Any]:
    """Does ``key`` level off over the steady phase? Its first and last thirds (by time) each
    get a line (:func:`rise`); the rise of each over a third's length is compared. It levels off
    when the last third rises at most half as much as the first, or by no more than the
    tolerance: 5 % of the last third's mean or ``floor``, whichever is larger."""
    points = [(s["t"], s[key]) for s in samples if s["steady"] and s.get(key) is not None]
    if len(points) < 6:
        return {"verdict": "too few samples"}
    start, end = points[0][0], points[-1][0]
    third = (end - start) / 3
    first = [p for p in points if p[0] <= start + third]
    last = [p for p in points if p[0] >= end - third]
    last_mean = sum(v for _, v in last) / len(last)
    result = {
        "first_mean": sum(v for _, v in first) / len(first),
        "last_mean": last_mean,
        "rise_first": rise(first, third),
        "rise_last": rise(last, third),
        "tolerance": max(floor, 0.05 * abs(last_mean)),
    }
    grows = result["rise_last"] > max(result["tolerance"], result["rise_first"] / 2)
    result["verdict"] = "GROWS" if grows else "levels off"
    return result


def num(value: Any, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any], plot_name: str, level: int = 1) -> str:
    """The soak's section: settings, totals, verdicts, the samples; ``level`` of its title."""
    title = "#" * level
    if "error" in report:
        return f"{title} Soak\n\nThe soak failed:\n\n```\n{report['error']}\n```\n"
    p, totals, samples = report["profile"], report["totals"], report["samples"]
    kinds = ", ".join(f"{kind}: {n}" for kind, n in totals["error_kinds"].items())
    kinds = f" ({kinds})" if kinds else ""
    lines = [
        f"{title} Soak ({report['name']} profile), {report['started']}",
        "",
        f"{p['visitors']:.0f} visitors for {p['seconds']:.0f} s after a ramp of "
        f"{report['ramp_seconds']:.0f} s: a message every {p['message_every']:g} s each "
        f"(an agent's console answering {p['reply_share']:.0%}, reloaded every "
        f"{p['console_every']:g} s), a dropped socket every {p['blip_every']:g} s each "
        f"(resumed after the runtime's backoff), a stay of {p['stay']:g} s on average. "
        f"Load average {report['load_start']:.1f} at the start, {report['load_end']:.1f} at the "
        f"end; {os.cpu_count()} cores. SQLite, one server process.",
        "",
        f"Visitors sent {totals['sent']:,} messages ({totals['acked']:,} acknowledged, ack p50 "
        f"{totals['ack_ms'].get('p50', 0):.0f} ms, p99 {totals['ack_ms'].get('p99', 0):.0f} ms); "
        f"the console answered {totals['replies_sent']:,}; {totals['reconnects']:,} resumes "
        f"(their welcomes carried {totals['caught_up_in_welcomes']:,} missed messages); "
        f"{totals['arrivals']:,} visitors arrived, {totals['departures']:,} left "
        f"({totals['conversations_ended']:,} ending their conversation); "
        f"{totals['console_reloads']} console loads (welcome p50 "
        f"{totals['console_welcome_ms'].get('p50', 0):.0f} ms, max "
        f"{totals['console_welcome_ms'].get('max', 0):.0f} ms); "
        f"**{totals['errors']} errors**{kinds}.",
        "",
        "| series (steady phase) | first third | last third | rise over the first third "
        "| over the last | tolerance | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label, unit, _floor in SERIES:
        v = report["verdicts"][key]
        if "first_mean" not in v:
            lines.append(f"| {label} | | | | | | {v['verdict']} |")
            continue
        digits = 2 if unit == "KB" else 1
        lines.append(
            f"| {label} ({unit or 'count'}) | {num(v['first_mean'], digits)} "
            f"| {num(v['last_mean'], digits)} | {v['rise_first']:+.{digits}f} "
            f"| {v['rise_last']:+.{digits}f} | {num(v['tolerance'], digits)} | {v['verdict']} |"
        )
    lines += [
        "",
        f"![RSS, loop lag, SQLite and traffic over the soak]({plot_name})",
        "",
        "| t (s) | visitor sockets | msg/s written | server CPU % | its loop waiting for a CPU % "
        "| load generator CPU % | RSS MB | lag p50 / p99 ms | SQLite MB | WAL MB | open fds "
        "| errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    step = max(1, len(samples) // 24)
    for row in samples[::step]:
        lines.append(
            f"| {row['t']:.0f}{'' if row['steady'] else ' (ramp/end)'} "
            f"| {row['visitor_sockets']:,.0f} | {num(row.get('msg_per_s'), 0)} "
            f"| {num(row.get('cpu_percent'), 0)} | {num(row.get('cpu_wait_percent'), 0)} "
            f"| {num(row.get('driver_cpu_percent'), 0)} "
            f"| {row['rss_mb']:.1f} "
            f"| {num(row.get('lag_p50_ms'))} / {num(row.get('lag_p99_ms'))} "
            f"| {row['db_mb']:.1f} | {row['wal_mb']:.1f} | {num(row['open_fds'], 0)} "
            f"| {row['errors']} |"
        )
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """RSS, loop lag, SQLite sizes and traffic against time, the steady phase's thirds marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    samples = report["samples"]
    minutes = [s["t"] / 60 for s in samples]
    steady = [s["t"] / 60 for s in samples if s["steady"]]

    def series(key: str) -> tuple[list[float], list[float]]:
        pairs = [(s["t"] / 60, s[key]) for s in samples if s.get(key) is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    figure, axes = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    panels = [
        ("server RSS (MB)", [("rss_mb", "RSS")]),
        ("event-loop lag (ms)", [("lag_p99_ms", "p99"), ("lag_p50_ms", "p50")]),
        ("SQLite (MB)", [("db_mb", "database file"), ("wal_mb", "WAL")]),
        (
            "traffic",
            [
                ("msg_per_s", "messages written / s"),
                ("cpu_percent", "server CPU %"),
                ("cpu_wait_percent", "its event loop waiting for a CPU, %"),
            ],
        ),
    ]
    for axis, (title, keys) in zip(axes, panels, strict=True):
        for key, label in keys:
            axis.plot(*series(key), label=label, linewidth=1.2)
        axis.set_ylabel(title)
        axis.grid(alpha=0.3)
        if steady:
            axis.axvspan(minutes[0], steady[0], color="0.9", zorder=0)
            axis.axvspan(steady[-1], minutes[-1], color="0.9", zorder=0)
            third = (steady[-1] - steady[0]) / 3
            for edge in (steady[0] + third, steady[-1] - third):
                axis.axvline(edge, color="0.6", linestyle=":", linewidth=1)
        axis.legend(loc="upper left", fontsize=8)
    sockets = axes[3].twinx()
    sockets.plot(*series("visitor_sockets"), color="tab:green", linewidth=1, label="sockets")
    sockets.set_ylabel("visitor sockets")
    sockets.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("minutes (grey: the ramp and the leaving; dotted: the steady thirds)")
    figure.suptitle(f"Porch soak, {report['name']} profile, {report['started']}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def profile_of(name: str, seconds: float | None) -> dict[str, float]:
    """The profile ``name``, its steady phase ``seconds`` long if given."""
    return PROFILES[name] | ({"seconds": seconds} if seconds else {})


def run(name: str, stem: Path, seconds: float | None = None) -> dict[str, Any]:
    """Run the soak against a server of its own (for ``seconds`` rather than the profile's, if
    given); returns the report and writes ``<stem>.png``."""
    from conftest import PorchServer  # here: the driver's process needs none of e2e's fixtures

    profile = profile_of(name, seconds)
    report: dict[str, Any] = {
        "name": name,
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = PorchServer(Path(tmp), env={"PORCH_METRICS": "1"})
        server.start()
        assert server.process is not None
        try:
            report |= load.run_in_own_process(
                server.url,
                server.process.pid,
                server.log_path,
                [
                    *("--profile", name, "--seconds", str(profile["seconds"])),
                    *("--database", str(Path(tmp) / "porch.db")),
                ],
                script=Path(__file__),
                timeout=profile["seconds"] + 900,
            )
        finally:
            server.stop_or_kill()
    report["load_end"] = os.getloadavg()[0]
    if "error" in report:
        return report
    with_derived(report["samples"])
    report["verdicts"] = {
        key: verdict(report["samples"], key, floor) for key, _, _, floor in SERIES
    }
    plot(report, stem.with_suffix(".png"))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seconds", type=float, help="the steady phase (default: the profile's)")
    # The driver's, when run.py's process runs this script against its server:
    parser.add_argument("--url")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--database", type=Path)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.url:
        print(json.dumps(asyncio.run(drive(args))))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H%M%SZ") + "-soak")
    report = run(args.profile, stem, args.seconds)
    text = markdown(report, stem.with_suffix(".png").name)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(text)
    print(f"wrote {stem}.md, .json and .png")


if __name__ == "__main__":
    main()
