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
from typing import Any

from porch_server.realtime.limits import Limits

#: The checkout's root: ``server/porch_server/config.py`` sits two folders below it.
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_database_url() -> str:
    """SQLite in ``<repo>/var/porch.db``; the folder is created when the database is opened."""
    return f"sqlite+aiosqlite:///{REPO_ROOT / 'var' / 'porch.db'}"


def default_public_dir() -> Path:
    return REPO_ROOT / "public"


def default_data_dir() -> Path:
    """Where uploads are stored: outside ``public/``, so the static site never serves them."""
    return REPO_ROOT / "var" / "data"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start. ``clock`` returns seconds since the epoch; tests
    replace it to move time (ticket and token expiry) without sleeping."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = field(default_factory=default_database_url)
    #: Redis, for a deployment of several processes (fan-out, presence, page status); None: one
    #: process, everything in memory.
    redis_url: str | None = None
    public_dir: Path = field(default_factory=default_public_dir)
    data_dir: Path = field(default_factory=default_data_dir)
    #: Largest upload, in bytes.
    upload_max_bytes: int = 10 * 1024 * 1024
    #: Seconds a new socket has to send its hello frame before it is closed.
    hello_timeout: float = 10.0
    #: Seconds between checks of business hours (the page status changes at opening time).
    status_check_interval: float = 30.0
    #: Conversations whose last activity is older than this many days are deleted, with their
    #: messages and files, by a job every ``retention_check_interval`` seconds; 0 keeps them.
    retention_days: float = 0.0
    retention_check_interval: float = 3600.0
    #: uvicorn: largest WebSocket message in bytes, ping interval in seconds, listen backlog.
    ws_max_size: int = 1024 * 1024
    ws_ping_interval: float = 20.0
    backlog: int = 2048
    #: Serve the demo (``porch demo``): the root URL then opens the demo page.
    demo: bool = False
    #: Serve ``GET /metrics`` (Prometheus text: memory, event-loop lag, sockets, messages) and
    #: measure the event loop's lag for it. Off by default: it tells anyone who can reach the
    #: port how busy the server is (docs/server.md, "Metrics").
    metrics: bool = False
    #: Abuse limits (docs/security.md); ``PORCH_LIMITS`` overrides some of them.
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (see :data:`ENVIRONMENT`); anything unset keeps its
        default. Raises ValueError naming the variable when a value does not parse."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, (name, parse) in ENVIRONMENT.items():
            raw = env.get(variable)
            if raw:
                try:
                    values[name] = parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{variable}={raw!r}: {exc}") from exc
        return replace(cls(), **values)

    def now_ms(self) -> int:
        """The current time in integer milliseconds, as every timestamp on the wire is."""
        return int(self.clock() * 1000)

    def to_env(self) -> dict[str, str]:
        """These settings as the environment :meth:`from_env` reads: how ``porch serve
        --workers N`` hands the command line's settings to its worker processes."""
        env = {}
        for variable, (name, _parse) in ENVIRONMENT.items():
            value = getattr(self, name)
            if value is not None:
                env[variable] = ("1" if value else "") if isinstance(value, bool) else str(value)
        return env


def _flag(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected 1/true/yes/on or 0/false/no/off")


#: Environment variable -> (Settings field, parser).
ENVIRONMENT: dict[str, tuple[str, Callable[[str], object]]] = {
    "PORT": ("port", int),
    "PORCH_HOST": ("host", str),
    "PORCH_DATABASE_URL": ("database_url", str),
    "PORCH_REDIS_URL": ("redis_url", str),
    "PORCH_RETENTION_DAYS": ("retention_days", float),
    "PORCH_RETENTION_INTERVAL": ("retention_check_interval", float),
    "PORCH_PUBLIC_DIR": ("public_dir", Path),
    "PORCH_DATA_DIR": ("data_dir", Path),
    "PORCH_UPLOAD_MAX_BYTES": ("upload_max_bytes", int),
    "PORCH_WS_MAX_SIZE": ("ws_max_size", int),
    "PORCH_WS_PING_INTERVAL": ("ws_ping_interval", float),
    "PORCH_BACKLOG": ("backlog", int),
    "PORCH_DEMO": ("demo", _flag),
    "PORCH_METRICS": ("metrics", _flag),
    "PORCH_LIMITS": ("limits", Limits.parse),
}
