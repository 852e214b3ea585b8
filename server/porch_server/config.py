"""Server settings, read from the environment and overridden by command-line flags.

Build one with :meth:`Settings.from_env`, apply CLI overrides with :func:`dataclasses.replace`,
then hand it to :func:`porch_server.app.create_app`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

#: The checkout's root: ``server/porch_server/config.py`` sits two folders below it.
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_database_url() -> str:
    """SQLite in ``<repo>/var/porch.db``; the folder is created when the database is opened."""
    return f"sqlite+aiosqlite:///{REPO_ROOT / 'var' / 'porch.db'}"


def default_public_dir() -> Path:
    return REPO_ROOT / "public"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start. ``clock`` returns seconds since the epoch; tests
    replace it to move time (ticket and token expiry) without sleeping."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = field(default_factory=default_database_url)
    public_dir: Path = field(default_factory=default_public_dir)
    #: Seconds a new socket has to send its hello frame before it is closed.
    hello_timeout: float = 10.0
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``PORT`` and ``PORCH_DATABASE_URL``; anything unset keeps its default."""
        env = os.environ if environ is None else environ
        settings = cls()
        if env.get("PORT"):
            settings = replace(settings, port=int(env["PORT"]))
        if env.get("PORCH_DATABASE_URL"):
            settings = replace(settings, database_url=env["PORCH_DATABASE_URL"])
        return settings

    def now_ms(self) -> int:
        """The current time in integer milliseconds, as every timestamp on the wire is."""
        return int(self.clock() * 1000)
