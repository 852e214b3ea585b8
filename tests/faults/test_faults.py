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
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from porch_process import ROOT, PorchProcess
from schedules import run_many

PROFILE = os.environ.get("FAULTS_PROFILE", "ci")
PROFILES: dict[str, dict[str, int]] = {
    "ci": {"schedules": 200, "parallel": 8, "kill_cycles": 40, "storm": 1000},
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
