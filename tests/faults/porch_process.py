"""A real ``porch demo`` server process for the fault suite: its own SQLite file, a fixed port
(so a restart after ``kill -9`` answers where the clients reconnect), started, stopped, killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
APPID = "porch-demo"
AGENT = ("agent@porch.demo", "porch-demo")
#: Per-address and per-socket limits far above what the suite does (``PORCH_LIMITS``).
LIMITS = (
    "connections_per_address=100000 new_visitors_per_address=1000000/60"
    " messages_per_connection=1000000/1 messages_per_visitor=1000000/1"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PorchProcess:
    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "porch.db"
        self.env = {
            **os.environ,
            "PORCH_DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}",
            "PORCH_DATA_DIR": str(workdir / "data"),
            "PYTHONUNBUFFERED": "1",
            # Every client of this suite comes from 127.0.0.1, as if thousands of people shared
            # one address; the abuse limits (docs/security.md) have tests of their own.
            "PORCH_LIMITS": LIMITS,
            **env,
        }
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "porch_server", "demo", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        async with asyncio.timeout(timeout), httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)  # a port that is not listening yet has no event

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    async def ticket(self) -> str:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{self.url}/api/v1/bootstrap",
                content=json.dumps({"appid": APPID, "identity": None}),
                headers={"Origin": self.url, "Content-Type": "text/plain"},
            )
        response.raise_for_status()
        return str(response.json()["ticket"])

    async def agent_token(self) -> str:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{self.url}/api/v1/agent/login", json={"email": AGENT[0], "password": AGENT[1]}
            )
        response.raise_for_status()
        return str(response.json()["token"])

    def db(self) -> sqlite3.Connection:
        """A read-only connection to the server's database (WAL: it reads beside the server)."""
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
