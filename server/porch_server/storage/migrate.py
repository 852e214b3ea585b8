"""Bring a database's schema up to date with the Alembic revisions shipped in this package.

Call :func:`upgrade` before serving (``porch serve``/``demo``/``migrate`` do). It runs its
own event loop, so call it from synchronous code, never from inside a running loop.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from porch_server.storage.db import ensure_sqlite_dir

_INI = Path(__file__).with_name("alembic.ini")


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``database_url``."""
    config = Config(str(_INI))
    # Passed as an attribute, not as sqlalchemy.url, so a '%' in a password needs no escaping.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Apply every pending migration; a no-op when the schema is current."""
    ensure_sqlite_dir(database_url)
    command.upgrade(alembic_config(database_url), "head")
