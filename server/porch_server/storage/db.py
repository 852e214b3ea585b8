"""The async database engine and session factory.

Create one engine per process with :func:`create_engine`, make sessions with
:func:`session_factory`, and call ``await engine.dispose()`` at shutdown so no connection leaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine


def ensure_sqlite_dir(database_url: str) -> None:
    """Create the folder of a file-based SQLite database so the first start just works."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    configure_sqlite(dbapi_connection)


def configure_sqlite(dbapi_connection: Any) -> None:
    """The settings every connection to Porch's SQLite database gets (the engine's and the
    message writer's)."""
    # WAL lets readers proceed while a message is being written; foreign keys are off by default
    # in SQLite and we rely on them. synchronous=NORMAL in WAL mode: a commit is durable across a
    # crash or restart of the process (the WAL is in the OS's hands once written), only a power
    # loss or OS crash may lose the last commits; it saves an fsync per commit (docs/server.md).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


#: Seconds a connection waits for SQLite's write lock before "database is locked" (sqlite3's
#: default is 5). SQLite's busy handler polls with growing sleeps rather than queueing, so with
#: 64 handshakes writing their visitors at once on a loaded machine, one was seen to starve
#: past 5 s and its socket failed; a wait is bounded by the other transactions, which are short.
SQLITE_BUSY_TIMEOUT = 30.0


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine; on SQLite, WAL (synchronous=NORMAL) and foreign keys are switched on for
    every connection."""
    ensure_sqlite_dir(database_url)
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    engine = _create_async_engine(
        database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT} if sqlite else {}
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded rows usable after commit (we send them on the wire then)."""
    return async_sessionmaker(engine, expire_on_commit=False)
