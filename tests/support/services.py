"""Real PostgreSQL and Redis servers for tests: Debian's binaries, started on free ports in
temporary folders and stopped afterwards (no mocks, no fakeredis).

``make test`` installs the packages (``tools/ensure_services.sh``). PostgreSQL refuses to run as
root, so as root the cluster is owned by and run as Debian's ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_PG_BIN = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pg_bin() -> Path:
    versions = sorted(_PG_BIN.glob("*/bin/initdb"))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run `sh tools/ensure_services.sh`")
    return versions[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    """Run ``argv`` as ``postgres`` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop; kill it if it has not within 15 s."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(15)
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_port(port: int, what: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "porch"

    def url(self, database: str) -> str:
        """An asyncpg URL for ``database`` (the server trusts local connections)."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql and return its output (a failure raises)."""
        result = subprocess.run(
            [
                str(_pg_bin() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def backup(self, database: str, path: Path) -> None:
        """``pg_dump --format=custom``, as docs/deploy.md tells site owners to back up."""
        subprocess.run(
            [
                str(_pg_bin() / "pg_dump"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "--format=custom",
                "--file",
                str(path),
                database,
            ],
            check=True,
            capture_output=True,
        )

    def restore(self, path: Path, database: str) -> None:
        """A fresh ``database`` from a backup, as docs/deploy.md tells site owners to restore."""
        self.psql(f"CREATE DATABASE {database}")
        subprocess.run(
            [
                str(_pg_bin() / "pg_restore"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "--no-owner",
                "--dbname",
                database,
                str(path),
            ],
            check=True,
            capture_output=True,
        )


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster with a superuser ``porch`` (trust auth on loopback)."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="porch-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "porch",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        _as_postgres(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(root),
                # A test cluster: durability is not what is tested here, speed is welcome.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, "postgres", process, 30)
        server = Postgres(port)
        _wait_ready(server)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: Postgres) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            server.psql("SELECT 1")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class Redis:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        """Forget everything (each test starts from an empty Redis)."""
        with socket.create_connection(("127.0.0.1", self.port), 5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            reply = sock.recv(64)
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")


@contextlib.contextmanager
def redis() -> Iterator[Redis]:
    """A fresh Redis server with no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("Redis is not installed: run `sh tools/ensure_services.sh`")
    root = Path(tempfile.mkdtemp(prefix="porch-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            "10000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, "redis-server", process, 30)
        yield Redis(port)
    finally:
        _stop(process)
        shutil.rmtree(root, ignore_errors=True)
