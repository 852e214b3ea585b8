"""The server's load generator: a separate process speaking the real visitor and agent protocol
over loopback WebSockets, bounded in connections and in time. It prints one JSON object.

    python tests/bench/load.py --url http://127.0.0.1:8000 --server-pid 1234 \\
        --connections 10000 --senders 50 --seconds 10 --deadline 300

Measured:
- ``connections``: visitors that completed ``visitor.hello`` and stay connected, idle; the server's
  RSS before and after gives the memory per idle connection;
- ``round_trip``: with all of them connected, one visitor's message to the agent (``message.new``
  at the agent) and the agent's reply back to that visitor, one at a time;
- ``routing``: ``--senders`` visitors sending as fast as their acks come back, for ``--seconds``:
  messages stored and acknowledged per second, and the latency from send to ack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from porch_protocol import (
    AgentHello,
    AgentWelcome,
    Message,
    MessageAck,
    NewMessage,
    SendMessage,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
    decode,
    encode,
)

APPID = "porch-demo"
#: How every ``message.new`` frame's text begins.
NEW_MESSAGE_PREFIX = '{"v":1,"type":"message.new",'

AGENT = ("agent@porch.demo", "porch-demo")


def rss_kib(pid: int) -> int:
    """The resident memory of ``pid`` and of its children (the workers of ``--workers N``)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total = int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_kib(int(child))
    return total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "min": min(values),
        "max": max(values),
    }


async def receive(socket: ClientConnection, kind: type[Message], timeout: float = 30) -> Any:
    """The next frame of type ``kind``; others (status, typing, ...) are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            # No size limit, as in the runtime and the console: it guards the server against
            # its clients, and a console's welcome lists every open conversation.
            frame = decode(await socket.recv(), max_chars=None)
            if isinstance(frame, kind):
                return frame


async def await_frame(socket: ClientConnection, kind: type[Message], key: str, value: str) -> Any:
    """The next frame of type ``kind`` whose ``key`` (``client_id`` of the frame or of its
    ``message``) is ``value``, as parsed JSON; others are skipped. The hot loops use this rather
    than :func:`receive`: validating every frame into dataclasses took a third of this process's
    CPU, on the same two cores as the server it measures."""
    async with asyncio.timeout(30):
        while True:
            body = json.loads(await socket.recv())
            if body.get("type") == kind.TYPE:
                holder = body.get("message", body) if key == "message.client_id" else body
                if holder.get("client_id") == value:
                    return body


@dataclass
class Visitor:
    socket: ClientConnection
    welcome: VisitorWelcome
    sent: int = 0
    latencies: list[float] = field(default_factory=list)


async def open_visitor(
    ws_url: str, ticket: str, identity: VisitorIdentity | None = None, last_seq: int = 0
) -> Visitor:
    """A visitor's socket past its welcome: a new visitor, or with ``identity`` and
    ``last_seq`` the one the runtime resumes after a dropped socket (the welcome then carries
    what it missed)."""
    # No pings from this side: a browser's WebSocket never sends any (the server's own pings
    # still run), and 10,000 sockets pinging every 20 s cost both processes 500 frames a second.
    socket = await connect(
        ws_url + "/ws/visitor", compression=None, open_timeout=60, ping_interval=None
    )
    await socket.send(encode(VisitorHello(ticket=ticket, identity=identity, last_seq=last_seq)))
    return Visitor(socket, await receive(socket, VisitorWelcome, timeout=60))


async def ticket(client: httpx.AsyncClient, url: str) -> str:
    response = await client.post(
        f"{url}/api/v1/bootstrap",
        content=json.dumps({"appid": APPID, "identity": None}),
        headers={"Origin": url, "Content-Type": "text/plain"},
    )
    response.raise_for_status()
    return str(response.json()["ticket"])


async def connect_many(
    url: str, count: int, deadline: float, parallel: int = 64
) -> tuple[list[Visitor], list[str]]:
    """Open up to ``count`` visitors before ``deadline`` (monotonic seconds)."""
    ws_url = url.replace("http", "ws", 1)
    visitors: list[Visitor] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(timeout=30) as client:
        shared_ticket = await ticket(client, url)  # a ticket admits any number of hellos

        async def one() -> None:
            async with gate:
                if time.monotonic() > deadline:
                    return
                try:
                    visitors.append(await open_visitor(ws_url, shared_ticket))
                except Exception as exc:  # counted and reported, not fatal
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(one() for _ in range(count)))
    return visitors, errors


async def agent_socket(url: str) -> ClientConnection:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{url}/api/v1/agent/login", json={"email": AGENT[0], "password": AGENT[1]}
        )
        response.raise_for_status()
    socket = await connect(
        url.replace("http", "ws", 1) + "/ws/agent", compression=None, ping_interval=None
    )
    await socket.send(encode(AgentHello(token=response.json()["token"])))
    await receive(socket, AgentWelcome)
    return socket


async def round_trips(url: str, visitor: Visitor, count: int) -> list[float]:
    """Visitor -> agent -> visitor, one message at a time; milliseconds."""
    agent = await agent_socket(url)
    times = []
    try:
        for i in range(count):
            started = time.perf_counter()
            await visitor.socket.send(encode(SendMessage(client_id=f"rt-{i}", text=f"ping {i}")))
            seen = await await_frame(agent, NewMessage, "message.client_id", f"rt-{i}")
            await agent.send(
                encode(
                    SendMessage(
                        client_id=f"rt-reply-{i}",
                        text="pong",
                        conversation_id=seen["message"]["conversation_id"],
                    )
                )
            )
            await await_frame(visitor.socket, NewMessage, "message.client_id", f"rt-reply-{i}")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await agent.close()
    return times


async def route(url: str, senders: list[Visitor], seconds: float) -> dict[str, Any]:
    """Each sender sends, waits for its ack, sends again, until ``seconds`` pass, while an agent's
    console is connected (as on a staffed site): the server builds each message's summary and
    fans both out to it, and the console must have received every acknowledged message."""
    console = await agent_socket(url)
    received, expected, caught_up = 0, -1, asyncio.Event()

    async def drain() -> None:
        nonlocal received
        async for text in console:
            # The server writes ``v`` and ``type`` first (porch_protocol.encode): the frame's
            # type is its prefix, and this process need not parse the summaries (each message
            # comes with one) on the two cores it shares with the server it measures.
            if isinstance(text, str) and text.startswith(NEW_MESSAGE_PREFIX):
                received += 1
                if received == expected:
                    caught_up.set()

    draining = asyncio.create_task(drain())
    stop = time.monotonic() + seconds

    async def run(visitor: Visitor, number: int) -> None:
        while time.monotonic() < stop:
            client_id = f"load-{number}-{visitor.sent}"
            started = time.perf_counter()
            await visitor.socket.send(encode(SendMessage(client_id=client_id, text="load")))
            await await_frame(visitor.socket, MessageAck, "client_id", client_id)
            visitor.latencies.append((time.perf_counter() - started) * 1000)
            visitor.sent += 1

    began = time.monotonic()
    await asyncio.gather(*(run(v, n) for n, v in enumerate(senders)))
    elapsed = time.monotonic() - began
    latencies = [ms for v in senders for ms in v.latencies]
    # Every acknowledged message must reach the console too (it may trail the last acks a bit).
    expected = len(latencies)
    if received < expected:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(caught_up.wait(), 30)
    draining.cancel()
    await console.close()
    return {
        "senders": len(senders),
        "seconds": elapsed,
        "messages": len(latencies),
        "per_second": len(latencies) / elapsed,
        "ack_ms": summary(latencies),
        "console_received": received,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.deadline
    before = rss_kib(args.server_pid)
    started = time.monotonic()
    visitors, errors = await connect_many(args.url, args.connections, deadline)
    connect_seconds = time.monotonic() - started
    # The open sockets live until the end: keep this process's collector from scanning them all
    # again and again, which paused it (and so inflated the latencies it measures) with 10,000.
    gc.collect()
    gc.freeze()
    # Let the server settle (allocations freed after the handshakes) before reading its RSS.
    await asyncio.sleep(1)
    after = rss_kib(args.server_pid)
    result: dict[str, Any] = {
        "connections": {
            "wanted": args.connections,
            "open": len(visitors),
            "errors": len(errors),
            "first_errors": errors[:3],
            "seconds": connect_seconds,
            "server_rss_before_kib": before,
            "server_rss_after_kib": after,
            "kib_per_connection": (after - before) / max(1, len(visitors)),
        }
    }
    if visitors:
        result["round_trip_ms"] = summary(
            await round_trips(args.url, visitors[0], args.round_trips)
        )
        result["round_trip_ms"]["others_connected"] = len(visitors) - 1
        result["routing"] = await route(args.url, visitors[1 : 1 + args.senders], args.seconds)
    await asyncio.gather(*(v.socket.close() for v in visitors), return_exceptions=True)
    return result


def run_in_own_process(
    url: str,
    server_pid: int,
    log: Path,
    arguments: list[str],
    script: Path = Path(__file__),
    timeout: float = 900,
) -> dict[str, Any]:
    """Run this generator (or another ``script`` taking the same two options, soak.py's) in a
    process of its own against the server at ``url`` (whose RSS it reads by ``server_pid``) and
    return its figures, the JSON object it prints; on failure, the generator's error and the end
    of the server's ``log``. The one way the bench suites (run.py, scale.py) load a server."""
    done = subprocess.run(
        [sys.executable, str(script), "--url", url, "--server-pid", str(server_pid), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        return {
            "error": done.stderr[-2000:],
            "server_log": log.read_text(errors="replace")[-3000:] if log.exists() else "",
        }
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--deadline", type=float, default=300, help="seconds to connect at most")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
