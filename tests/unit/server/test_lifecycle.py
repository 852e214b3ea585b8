"""Migrations, restarts, the CLI and the demo: the server as an operator runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import (
    FakeClock,
    Porch,
    TestClient,
    receive_frame,
    run_db,
    send_frame,
)
from porch_protocol import MessageAck, SendMessage
from porch_server import cli, demo
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.migrate import upgrade
from porch_server.models import Base


def _sync_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_migrations_create_the_schema_the_models_describe(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "fresh.db"  # the folder is created too
    upgrade(f"sqlite+aiosqlite:///{path}")
    upgrade(f"sqlite+aiosqlite:///{path}")  # a second run is a no-op
    engine = create_engine(_sync_url(path))
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= {
                "apps",
                "agents",
                "agent_sessions",
                "visitors",
                "conversations",
                "messages",
                "server_settings",
                "alembic_version",
            }
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_restart_keeps_acked_messages_tickets_and_logins(
    settings: Settings, clock: FakeClock
) -> None:
    with TestClient(create_app(settings)) as client:
        first = Porch(client=client, settings=settings, clock=clock)
        with first._stack:
            ws, welcome = first.visitor()
            send_frame(ws, SendMessage(client_id="c1", text="survive the restart"))
            ack = receive_frame(ws)
            assert isinstance(ack, MessageAck)
            ticket, token = first.ticket(), first.login()

    with TestClient(create_app(settings)) as client:
        second = Porch(client=client, settings=settings, clock=clock)
        with second._stack:
            _, restored = second.visitor(ticket=ticket, identity=welcome.identity)
            assert restored.source == "initial"
            assert restored.messages == (ack.message,)
            _, agent = second.agent(token)
            assert agent.conversations[0].id == ack.message.conversation_id


def test_sqlite_runs_in_wal_mode_with_foreign_keys(settings: Settings) -> None:
    async def pragmas(session: AsyncSession) -> tuple[object, object]:
        journal = await session.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await session.scalar(text("PRAGMA foreign_keys"))
        return journal, foreign_keys

    assert run_db(settings.database_url, pragmas) == ("wal", 1)


def test_settings_from_env() -> None:
    settings = Settings.from_env({"PORT": "9123", "PORCH_DATABASE_URL": "sqlite+aiosqlite:///x.db"})
    assert (settings.port, settings.database_url) == (9123, "sqlite+aiosqlite:///x.db")
    default = Settings.from_env({})
    assert default.port == 8000 and default.database_url.endswith("/var/porch.db")
    assert default.public_dir.name == "public"


def test_cli_create_app_and_agent_then_login(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert cli.main(["create-app", "--database-url", url, "--appid", "shop", "--name", "Shop",
                     "--domain", "Shop.Test", "--domain", "*.shop.test"]) == 0  # fmt: skip
    secret = capsys.readouterr().out.strip()
    assert len(secret) >= 40
    assert cli.main(["create-agent", "--database-url", url, "--appid", "shop", "--email",
                     "Bo@Shop.Test", "--name", "Bo", "--password", "pw"]) == 0  # fmt: skip
    assert cli.main(["create-app", "--database-url", url, "--appid", "shop", "--name", "again",
                     "--domain", "x"]) == 1  # fmt: skip
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["create-agent", "--database-url", url, "--appid", "nope", "--email", "x@y",
                     "--name", "X", "--password", "pw"]) == 1  # fmt: skip
    assert cli.main(["create-app", "--database-url", url, "--appid", "fixed", "--name", "F",
                     "--domain", "f.test", "--secret", "my-secret"]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == "my-secret"

    settings = replace(Settings(), database_url=url, public_dir=tmp_path, clock=FakeClock())
    with TestClient(create_app(settings)) as client:
        login = client.post("/api/v1/agent/login", json={"email": "bo@shop.test", "password": "pw"})
        assert login.status_code == 200 and login.json()["agent"]["appid"] == "shop"
        boot = client.post(
            "/api/v1/bootstrap", json={"appid": "shop"}, headers={"origin": "https://a.shop.test"}
        )
        assert boot.status_code == 200


def test_demo_banner_lines() -> None:
    assert demo.banner(8123).splitlines() == [
        "Porch demo is running.",
        "  Host page:      http://127.0.0.1:8123/demo/",
        "  Agent console:  http://127.0.0.1:8123/agent/",
        "  Agent login:    agent@porch.demo / porch-demo",
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_command_migrates_seeds_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "PORT": str(port), "PORCH_DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "porch_server", "demo", "--public-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        banner = [process.stdout.readline().rstrip("\n") for _ in range(4)]
        assert banner == demo.banner(port).splitlines()
        for line in process.stderr:  # wait for uvicorn to say it is listening
            if "Uvicorn running on" in line:
                break
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json() == {"ok": True}
        login = httpx.post(
            f"{base}/api/v1/agent/login",
            json={"email": demo.DEMO_AGENT_EMAIL, "password": demo.DEMO_AGENT_PASSWORD},
        )
        assert login.json()["agent"]["appid"] == demo.DEMO_APPID
        boot = httpx.post(
            f"{base}/api/v1/bootstrap",
            content='{"appid": "porch-demo"}',
            headers={"origin": f"http://localhost:{port}", "content-type": "text/plain"},
        )
        assert boot.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def test_demo_constants_are_what_the_docs_promise() -> None:
    assert (demo.DEMO_APPID, demo.DEMO_SECRET) == ("porch-demo", "porch-demo-secret")
    assert (demo.DEMO_AGENT_EMAIL, demo.DEMO_AGENT_PASSWORD) == ("agent@porch.demo", "porch-demo")
    assert set(demo.DEMO_DOMAINS) == {"127.0.0.1", "localhost"}
