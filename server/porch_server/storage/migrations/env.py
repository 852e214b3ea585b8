"""Alembic environment: runs revisions against the URL given in ``config.attributes``.

Async URLs (``sqlite+aiosqlite``, ``postgresql+asyncpg``) run through an async engine on a fresh
event loop; sync URLs run directly.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from porch_server.storage.models import Base

config = context.config
database_url: str = config.attributes.get("database_url") or config.get_main_option(
    "sqlalchemy.url", ""
)


def _run(connection: Connection) -> None:
    # Batch mode lets later revisions alter columns on SQLite, which has no ALTER COLUMN.
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_online() -> None:
    if make_url(database_url).get_dialect().is_async:
        asyncio.run(_run_async())
        return
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def _run_offline() -> None:
    context.configure(url=database_url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
