"""The scale profile: ``make bench-scale`` (``SCALE_PROFILE=smoke`` for a quick run).

One table of processes x connections x messages per second on this machine, each shape with the
load generator (``load.py``) in its own process against real servers:

- ``sqlite x1``: one ``porch`` process on SQLite, fan-out in memory (the default deployment);
- ``postgres+redis xN``: ``porch serve --workers N`` on PostgreSQL with Redis fan-out, N = 1, 2, 4.

For each: connections held, server memory per idle connection (the RSS of every server process),
messages routed per second with the ack's p99, and the visitor → agent → visitor round trip.
Then the delay the Redis hop itself adds to a frame, measured between two hubs in one process.
PostgreSQL and Redis are Debian's servers, started for the run in temporary folders.
Results go to ``bench/results/<UTC time>-scale.md`` and ``.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import run_in_own_process  # noqa: E402

from conftest import PorchServer  # noqa: E402
from support import services  # noqa: E402

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "workers": [1, 2],
        "load": [
            "--connections",
            "200",
            "--round-trips",
            "30",
            "--senders",
            "10",
            "--seconds",
            "3",
            "--deadline",
            "60",
        ],
        "hops": 200,
    },
    "full": {
        "workers": [1, 2, 4],
        "load": [
            "--connections",
            "3000",
            "--round-trips",
            "200",
            "--senders",
            "100",
            "--seconds",
            "15",
            "--deadline",
            "300",
        ],
        "hops": 2000,
    },
}


def load(server: PorchServer, arguments: list[str]) -> dict[str, Any]:
    assert server.process is not None
    return run_in_own_process(server.url, server.process.pid, server.log_path, arguments)


@contextmanager
def running(server: PorchServer) -> Iterator[PorchServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop_or_kill()


def shapes(profile: dict[str, Any], workdir: Path, stack: ExitStack) -> Iterator[tuple[str, Any]]:
    """(name, a context manager running the server) per deployment shape."""
    yield "sqlite x1", running(PorchServer(_folder(workdir, "sqlite")))
    postgres = stack.enter_context(services.postgres())
    redis = stack.enter_context(services.redis())
    for workers in profile["workers"]:
        database = f"porch_{workers}"
        postgres.psql(f"CREATE DATABASE {database}")
        redis.flush()
        env = {"PORCH_DATABASE_URL": postgres.url(database), "PORCH_REDIS_URL": redis.url}
        # `porch demo` creates the demo app and agent the load generator signs in with; then
        # the real thing, `porch serve --workers N`, on the same database.
        seed = PorchServer(_folder(workdir, f"seed-{workers}"), env=env)
        with running(seed):
            pass
        server = PorchServer(_folder(workdir, f"pg-{workers}"), env=env, command="serve")
        server.extra_args = ["--workers", str(workers)]
        yield f"postgres+redis x{workers}", running(server)


def _folder(workdir: Path, name: str) -> Path:
    folder = workdir / name
    folder.mkdir()
    return folder


async def redis_hop(url: str, count: int) -> dict[str, float]:
    """Milliseconds from one hub's publish to the frame's delivery to a peer of another hub."""
    from porch_protocol import Message, TypingChanged
    from porch_server.realtime.hub import Channel
    from porch_server.realtime.redis_hub import RedisHub

    class Peer:
        def __init__(self) -> None:
            self.arrived = asyncio.Event()

        def send(self, frame: Message) -> None:
            self.arrived.set()

        def close(self, code: int) -> None:
            pass

    sender, receiver = RedisHub(url), RedisHub(url)
    await sender.start()
    await receiver.start()
    peer = Peer()
    channel = Channel.visitor(1)
    await receiver.join(channel, peer)
    frame = TypingChanged(conversation_id="c", typing=True, author="agent", name="Ann")
    times = []
    try:
        for _ in range(count):
            peer.arrived.clear()
            started = time.perf_counter()
            await sender.publish(channel, [frame])
            await asyncio.wait_for(peer.arrived.wait(), 10)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await sender.aclose()
        await receiver.aclose()
    ordered = sorted(times)
    return {
        "count": count,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Porch scale benchmark, {report['started']} ({report['profile']} profile)",
        "",
        f"Machine: {report['machine']}. Load generator in its own process; medians of one run.",
        "",
        "| shape | connections held | KiB per idle connection | routed msg/s | ack p50 / p99 ms "
        "| round trip p50 / p99 ms | console got every message |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in report["shapes"].items():
        if "error" in figures:
            lines.append(f"| {name} | error: {figures['error'][-200:]!r} | | | | | |")
            continue
        held = figures["connections"]
        routing = figures.get("routing", {})
        trip = figures.get("round_trip_ms", {})
        ack = routing.get("ack_ms", {})
        lines.append(
            f"| {name} | {held['open']} / {held['wanted']} | {held['kib_per_connection']:.1f} "
            f"| {routing.get('per_second', 0):,.0f} "
            f"| {ack.get('p50', 0):.1f} / {ack.get('p99', 0):.1f} "
            f"| {trip.get('p50', 0):.1f} / {trip.get('p99', 0):.1f} "
            f"| {'yes' if routing.get('console_received') == routing.get('messages') else 'no'} |"
        )
    hop = report["redis_hop_ms"]
    lines += [
        "",
        f"Redis fan-out hop (publish in one process → delivered in another), {hop['count']} "
        f"frames: p50 {hop['p50']:.2f} ms, p99 {hop['p99']:.2f} ms.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    profile = PROFILES[args.profile]
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = datetime.datetime.now(datetime.UTC)
    report: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "profile": args.profile,
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
        "shapes": {},
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        for name, server_context in shapes(profile, Path(tmp), stack):
            with server_context as server:
                report["shapes"][name] = load(server, profile["load"])
                print(name, json.dumps(report["shapes"][name])[:300], flush=True)
        redis = stack.enter_context(services.redis())
        report["redis_hop_ms"] = asyncio.run(redis_hop(redis.url, profile["hops"]))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (started.strftime("%Y-%m-%dT%H%M%SZ") + "-scale")
    text = markdown(report)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(text)


if __name__ == "__main__":
    main()
