"""The fault suite (``make test-faults``, docs/reliability.md): a real ``porch`` server process,
real WebSocket clients (the visitor runtime and an agent) behind a fault proxy, ``kill -9`` of
the server under write load, and a reconnect storm.

``FAULTS_PROFILE=ci`` (the default) fits a CI budget; ``FAULTS_PROFILE=long`` is run by hand.
Each test writes its figures to ``var/faults/<profile>-<test>.json`` and prints them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fault_clients import AgentClient, Changes, VisitorClient
from fault_proxy import FaultProxy
from porch_process import ROOT, PorchProcess
from schedules import run_many

from porch_runtime.core import State

PROFILE = os.environ.get("FAULTS_PROFILE", "ci")
PROFILES: dict[str, dict[str, int]] = {
    # 30 kill cycles, not 200: each restarts the server (1.5-3 s on a busy 2-core machine),
    # and the whole profile must stay within CI's few minutes; the long profile does 200.
    "ci": {"schedules": 200, "parallel": 8, "kill_cycles": 30, "storm": 1000},
    "long": {"schedules": 2000, "parallel": 8, "kill_cycles": 200, "storm": 1000},
}
SETTINGS = PROFILES[PROFILE]
#: The first seed; FAULTS_SEED moves the whole series (a new series every run, if wanted).
FIRST_SEED = int(os.environ.get("FAULTS_SEED", "1"))


def report(name: str, figures: dict[str, Any]) -> None:
    out = ROOT / "var" / "faults"
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"profile": PROFILE, **figures}, indent=2, sort_keys=True)
    (out / f"{PROFILE}-{name}.json").write_text(text + "\n")
    print(f"\n{name}: {text}")


@pytest.fixture(scope="module", autouse=True)
def _many_files() -> None:
    """A reconnect storm holds thousands of sockets in this process."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_every_acknowledged_message_survives_the_fault_schedules(workdir: Path) -> None:
    seeds = list(range(FIRST_SEED, FIRST_SEED + SETTINGS["schedules"]))

    async def go() -> dict[str, Any]:
        server = PorchProcess(workdir)
        await server.start()
        try:
            ticket, token = await server.ticket(), await server.agent_token()
            started = time.monotonic()
            outcomes = await run_many(
                seeds, SETTINGS["parallel"], server.port, ticket, token, str(server.db_path)
            )
            seconds = time.monotonic() - started
        finally:
            server.stop()
        faults: Counter[str] = Counter()
        for outcome in outcomes:
            faults.update(outcome.faults)
        return {
            "schedules": len(outcomes),
            "seeds": [seeds[0], seeds[-1]],
            "seconds": round(seconds, 1),
            "connections": sum(o.connections for o in outcomes),
            "faults_by_kind": dict(sorted(faults.items())),
            "visitor_messages": sum(o.visitor_messages for o in outcomes),
            "agent_messages": sum(o.agent_messages for o in outcomes),
            "stored_messages": sum(o.stored for o in outcomes),
            "visitor_sockets": sum(o.visitor_sockets for o in outcomes),
            "agent_sockets": sum(o.agent_sockets for o in outcomes),
            "slowest_schedule_s": round(max(o.seconds for o in outcomes), 1),
        }

    figures = asyncio.run(go())
    report("schedules", figures)
    assert figures["schedules"] == len(seeds)


# --- kill -9 under write load --------------------------------------------------------------------

#: Visitors writing during the kill cycles, each keeping this many messages in flight.
KILL_WRITERS = 16
IN_FLIGHT = 3


def integrity(db_path: Path) -> tuple[str, str]:
    """``PRAGMA integrity_check`` and the journal mode, on a connection of its own (opening the
    database after a crash is what recovers its WAL)."""
    db = sqlite3.connect(db_path, timeout=30)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        return str(check), str(mode)
    finally:
        db.close()


def stored_client_ids(db_path: Path) -> Counter[str]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT client_id FROM messages WHERE author = 'visitor'").fetchall()
        return Counter(row[0] for row in rows)
    finally:
        db.close()


def acknowledged(visitors: list[VisitorClient]) -> set[str]:
    return {
        m.client_id
        for v in visitors
        for m in v.runtime.messages.values()
        if m.author == "visitor" and m.client_id is not None
    }


def test_kill_9_during_group_commit_loses_no_acknowledged_message(workdir: Path) -> None:
    """Visitors write as fast as their acks come back (several in flight each, so the group
    commit writes batches); the server is killed with SIGKILL at a random moment, its database
    checked, and restarted; the clients reconnect and resend on their own."""
    cycles = SETTINGS["kill_cycles"]
    rng = random.Random(FIRST_SEED)

    async def go() -> dict[str, Any]:
        server = PorchProcess(workdir)
        await server.start()
        changes = Changes()
        ticket = await server.ticket()
        visitors = [
            VisitorClient(server.url, ticket, seed=i, time_scale=0.05, changes=changes)
            for i in range(KILL_WRITERS)
        ]
        sent: list[str] = []
        in_flight_at_kill: list[int] = []
        writing = True

        async def write(number: int, visitor: VisitorClient) -> None:
            count = 0
            while writing:
                if len(visitor.runtime.outbox) < IN_FLIGHT:
                    client_id = f"k{number}-{count}"
                    count += 1
                    sent.append(client_id)
                    visitor.send(client_id, f"write {client_id}")
                else:
                    await changes.until(
                        lambda v=visitor: len(v.runtime.outbox) < IN_FLIGHT or not writing,
                        3600,
                        "room",
                    )

        started = time.monotonic()
        for visitor in visitors:
            visitor.start()
        writers = [asyncio.create_task(write(n, v)) for n, v in enumerate(visitors)]
        try:
            for _ in range(cycles):
                await changes.until(
                    lambda: all(v.state is State.READY for v in visitors), 120, "all connected"
                )
                await asyncio.sleep(rng.uniform(0.05, 0.6))  # the kill lands anywhere in the load
                server.kill9()
                acked = acknowledged(visitors)
                in_flight_at_kill.append(sum(len(v.runtime.outbox) for v in visitors))
                check, mode = integrity(server.db_path)
                assert (check, mode) == ("ok", "wal")
                stored = stored_client_ids(server.db_path)
                lost = sorted(c for c in acked if stored[c] != 1)
                assert not lost, f"acknowledged but stored other than once: {lost[:10]}"
                await server.start()
            writing = False
            changes.notify()
            await asyncio.gather(*writers)
            await changes.until(
                lambda: all(v.state is State.READY and not v.runtime.outbox for v in visitors),
                120,
                "every message acknowledged",
            )
            stored = stored_client_ids(server.db_path)
        finally:
            for task in writers:
                task.cancel()
            for visitor in visitors:
                await visitor.aclose()
            server.stop()
        assert sorted(stored.elements()) == sorted(sent), "stored other than exactly once"
        assert integrity(server.db_path) == ("ok", "wal")
        return {
            "kill_cycles": cycles,
            "server_starts": server.starts,
            "writers": KILL_WRITERS,
            "messages_sent": len(sent),
            "messages_stored_once": sum(1 for n in stored.values() if n == 1),
            "kills_with_writes_in_flight": sum(1 for n in in_flight_at_kill if n),
            "mean_in_flight_at_kill": round(sum(in_flight_at_kill) / cycles, 1),
            "seconds": round(time.monotonic() - started, 1),
        }

    figures = asyncio.run(go())
    report("kill9", figures)


# --- reconnect storm -----------------------------------------------------------------------------


def test_a_reconnect_storm_of_1000_visitors_loses_nothing_and_leaves_none_behind(
    workdir: Path,
) -> None:
    """1,000 visitor runtimes (real backoff, not scaled) and a console connected through the
    proxy; every connection is cut at once; each visitor writes while cut off. All must be
    connected again, with every message stored once."""
    count = SETTINGS["storm"]

    async def go() -> dict[str, Any]:
        server = PorchProcess(workdir)
        await server.start()
        proxy = FaultProxy(server.port, seed=FIRST_SEED)
        proxy.heal()  # a clean network: the storm is the fault
        await proxy.start()
        changes = Changes()
        ticket, token = await server.ticket(), await server.agent_token()
        console = AgentClient(proxy.url, token, seed=0, time_scale=1.0, changes=changes)
        visitors = [
            VisitorClient(proxy.url, ticket, seed=i, time_scale=1.0, changes=changes)
            for i in range(count)
        ]

        def all_settled() -> bool:
            return all(v.state is State.READY and not v.runtime.outbox for v in visitors)

        try:
            console.start()
            started = time.monotonic()
            for number, visitor in enumerate(visitors):
                visitor.start()
                visitor.send(f"storm{number}-before", "before the storm")
            await changes.until(all_settled, 300, "all connected")
            connected_s = time.monotonic() - started
            before = {v: v.sockets_opened for v in visitors}
            proxy.cut_all()
            cut = time.monotonic()
            for number, visitor in enumerate(visitors):
                visitor.send(f"storm{number}-during", "written during the storm")
            await changes.until(
                lambda: all_settled()
                and all(v.sockets_opened > n for v, n in before.items()),
                300,
                "all reconnected",
            )
            reconnected_s = time.monotonic() - cut
            await changes.until(lambda: console.welcomed, 60, "the console back")
            stored = stored_client_ids(server.db_path)
        finally:
            await asyncio.gather(*(v.aclose() for v in visitors))
            await console.aclose()
            await proxy.aclose()
            server.stop()
        expected = sorted(f"storm{n}-{when}" for n in range(count) for when in ("before", "during"))
        assert sorted(stored.elements()) == expected
        stuck = [v.state.value for v in visitors if v.state is not State.READY]
        assert not stuck
        return {
            "visitors": count,
            "first_connect_s": round(connected_s, 1),
            "all_reconnected_and_acked_s": round(reconnected_s, 1),
            "messages_stored_once": len(expected),
            "visitor_sockets_opened": sum(v.sockets_opened for v in visitors),
        }

    figures = asyncio.run(go())
    report("storm", figures)
