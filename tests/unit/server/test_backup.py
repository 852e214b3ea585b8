"""A backup, made and restored the way docs/deploy.md says, serves the same conversations:
``pg_dump --format=custom`` / ``pg_restore`` on PostgreSQL, SQLite's online backup (what the
``sqlite3`` shell's ``.backup`` runs) on SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from conftest import ON_POSTGRES, Porch, TestClient, receive_until, send_frame
from porch_protocol import MessageAck, SendMessage
from porch_server.app import create_app
from support import services


def _restored_copy(porch: Porch, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    url = make_url(porch.settings.database_url)
    if ON_POSTGRES:
        server: services.Postgres = request.getfixturevalue("postgres_server")
        assert url.database is not None
        server.backup(url.database, tmp_path / "porch.dump")
        server.restore(tmp_path / "porch.dump", "porch_restored")
        return server.url("porch_restored")
    assert url.database is not None
    live, copy = sqlite3.connect(url.database), sqlite3.connect(tmp_path / "restored.db")
    try:
        live.backup(copy)  # online: the server keeps writing meanwhile
    finally:
        live.close()
        copy.close()
    return f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"


def test_a_restored_backup_serves_the_same_conversation(
    porch: Porch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ws, welcome = porch.visitor()
    for n in range(3):
        send_frame(ws, SendMessage(client_id=f"b{n}", text=f"before the backup {n}"))
        receive_until(ws, MessageAck)
    restored_url = _restored_copy(porch, tmp_path, request)

    restored = replace(porch.settings, database_url=restored_url)
    with TestClient(create_app(restored)) as client:
        other = Porch(client=client, settings=restored, clock=porch.clock)
        with other._stack:  # closes its sockets, as the porch fixture does
            again_ws, again = other.visitor(identity=welcome.identity, last_seq=0)
            texts = [m.text for m in again.messages]
            assert texts == [f"before the backup {n}" for n in range(3)]
            # ...and it goes on: the next message gets the next sequence number.
            send_frame(again_ws, SendMessage(client_id="after", text="after the restore"))
            assert receive_until(again_ws, MessageAck).message.seq == 4
