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
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner, Result
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
from porch_server.storage import store
from porch_server.storage.migrate import alembic_config, upgrade
from porch_server.storage.models import Base


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
                "tawk_properties",
                "tawk_widgets",
                "alembic_version",
            }
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrading_a_0001_database_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    config = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(config, "0001")
    engine = create_engine(_sync_url(path))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO apps (id, appid, name, secret, allowed_domains, created_at) "
                    "VALUES (1, 'old', 'Old', 's', '[\"old.test\"]', 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO agents (id, app_id, email, name, password_hash, created_at) "
                    "VALUES (1, 1, 'a@old.test', 'A', 'x', 0)"
                )
            )
        upgrade(f"sqlite+aiosqlite:///{path}")
        with engine.connect() as connection:
            app = connection.execute(
                text("SELECT name, offline_message, business_hours, prechat_fields FROM apps")
            ).one()
            assert tuple(app) == ("Old", "", None, "[]")
            agent = connection.execute(text("SELECT role, status FROM agents")).one()
            assert tuple(agent) == ("agent", "online")
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


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)

    async def pragmas(session: AsyncSession) -> tuple[object, object, object]:
        journal = await session.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await session.scalar(text("PRAGMA foreign_keys"))
        synchronous = await session.scalar(text("PRAGMA synchronous"))
        return journal, foreign_keys, synchronous

    # synchronous 1 is NORMAL: durable across a process crash in WAL mode, one fsync fewer.
    assert run_db(url, pragmas) == ("wal", 1, 1)


def test_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9123",
            "PORCH_DATABASE_URL": "sqlite+aiosqlite:///x.db",
            "PORCH_WS_MAX_SIZE": "65536",
            "PORCH_WS_PING_INTERVAL": "7.5",
            "PORCH_BACKLOG": "512",
            "PORCH_UPLOAD_MAX_BYTES": "1000",
            "PORCH_DATA_DIR": "/srv/porch",
        }
    )
    assert (settings.port, settings.database_url) == (9123, "sqlite+aiosqlite:///x.db")
    assert (settings.ws_max_size, settings.ws_ping_interval, settings.backlog) == (65536, 7.5, 512)
    assert (settings.upload_max_bytes, settings.data_dir) == (1000, Path("/srv/porch"))
    with pytest.raises(ValueError, match="PORCH_BACKLOG"):
        Settings.from_env({"PORCH_BACKLOG": "lots"})
    default = Settings.from_env({})
    assert default.port == 8000 and default.database_url.endswith("/var/porch.db")
    assert default.public_dir.name == "public"


def _porch(*args: str, stdin: str | None = None) -> Result:
    """Run the ``porch`` command in-process."""
    return CliRunner().invoke(cli.main, list(args), input=stdin, prog_name="porch")


def test_cli_create_app_and_agent_then_login(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    db = ("--database-url", url)
    created = _porch("app", "create", *db, "--appid", "shop", "--name", "Shop",
                     "--domain", "Shop.Test", "--domain", "*.shop.test")  # fmt: skip
    assert created.exit_code == 0, created.output
    appid, secret = created.stdout.split()
    assert appid == "shop" and len(secret) >= 40
    added = _porch("agent", "add", *db, "--app", "shop", "--email", "Bo@Shop.Test", "--name", "Bo",
                   "--role", "admin", "--password-stdin", stdin="long enough pw\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "long enough pw" not in added.output  # never echoed

    again = _porch("app", "create", *db, "--appid", "shop", "--name", "again", "--domain", "x.y")
    assert again.exit_code == 2 and "already exists" in again.output
    unknown = _porch("agent", "add", *db, "--app", "nope", "--email", "x@y.z", "--name", "X",
                     "--password-stdin", stdin="long enough pw\n")  # fmt: skip
    assert unknown.exit_code == 2 and "no app with appid 'nope'" in unknown.output
    short = _porch("agent", "add", *db, "--app", "shop", "--email", "c@shop.test", "--name", "C",
                   "--password-stdin", stdin="short\n")  # fmt: skip
    assert short.exit_code == 2 and "at least 8" in short.output
    fixed = _porch("app", "create", *db, "--appid", "fixed", "--name", "F", "--domain", "f.test",
                   "--secret", "my-secret")  # fmt: skip
    assert fixed.stdout.split() == ["fixed", "my-secret"]
    listed = _porch("agent", "list", *db)
    assert listed.stdout.splitlines() == ["shop\tbo@shop.test\tBo\tadmin"]

    settings = replace(Settings(), database_url=url, public_dir=tmp_path, clock=FakeClock())
    with TestClient(create_app(settings)) as client:
        login = client.post(
            "/api/v1/agent/login", json={"email": "bo@shop.test", "password": "long enough pw"}
        )
        assert login.status_code == 200 and login.json()["agent"]["appid"] == "shop"
        assert login.json()["agent"]["role"] == "admin"
        boot = client.post(
            "/api/v1/bootstrap", json={"appid": "shop"}, headers={"origin": "https://a.shop.test"}
        )
        assert boot.status_code == 200


def test_cli_agent_password_prompt_hides_and_confirms(tmp_path: Path) -> None:
    db = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    assert (
        _porch("app", "create", *db, "--appid", "a", "--name", "A", "--domain", "a.test").exit_code
        == 0
    )
    added = _porch("agent", "add", *db, "--app", "a", "--email", "p@a.test", "--name", "P",
                   stdin="secret-pw-1\nsecret-pw-1\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "secret-pw-1" not in added.output and "Password" in added.output


def test_cli_app_settings_hours_prechat_and_edit(tmp_path: Path) -> None:
    db = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    created = _porch("app", "create", *db, "--appid", "biz", "--name", "Biz",
                     "--domain", "biz.test", "--offline-message", "Leave a note",
                     "--hours", "mon-fri 09:00-17:00",
                     "--hours", "sat 10:00-12:00", "--timezone", "Europe/Berlin",
                     "--prechat-field", "name:Your name:text:required",
                     "--prechat-field", "topic:Topic:select:optional:Sales|Support")  # fmt: skip
    assert created.exit_code == 0, created.output
    listed = _porch("app", "list", *db).stdout
    assert "mon 09:00-17:00" in listed and "sat 10:00-12:00 (Europe/Berlin)" in listed
    assert "prechat: name*, topic" in listed

    edited = _porch("app", "edit", "biz", *db, "--always-open", "--no-prechat", "--name", "B2")
    assert edited.exit_code == 0, edited.output
    assert (
        "B2" in edited.stdout and "always open" in edited.stdout and "prechat: -" in edited.stdout
    )

    async def stored(session: AsyncSession) -> tuple[object, object, str]:
        app = await store.app_by_appid(session, "biz")
        assert app is not None
        return app.business_hours, app.prechat_fields, app.offline_message

    assert run_db(db[1], stored) == (None, [], "Leave a note")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--hours", "mon-fri 09:00-17:00"), "--timezone"),
        (("--timezone", "Europe/Berlin"), "--hours"),
        (("--hours", "mon-fri 9-5", "--timezone", "UTC"), "HH:MM"),
        (("--hours", "funday 09:00-10:00", "--timezone", "UTC"), "days are"),
        (("--hours", "mon 10:00-09:00", "--timezone", "UTC"), "open before it closes"),
        (("--hours", "mon 09:00-10:00", "--timezone", "Mars/Base"), "IANA"),
        (("--prechat-field", "bad name:Label"), "letters, digits"),
        (("--prechat-field", "x:X:colour"), "kind must be"),
        (("--prechat-field", "x:X:select:required"), "needs options"),
        (("--domain", "not a host"), "not a hostname"),
    ],
)
def test_cli_refuses_bad_app_settings_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], complaint: str
) -> None:
    db = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    result = _porch("app", "create", *db, "--name", "N", "--domain", "ok.test", *args)
    assert result.exit_code == 2
    assert complaint in result.output


def test_cli_edit_of_unknown_app_says_how_to_list(tmp_path: Path) -> None:
    db = ("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    result = _porch("app", "edit", "ghost", *db, "--name", "X")
    assert result.exit_code == 2 and "porch app list" in result.output


def test_demo_banner_lines() -> None:
    assert demo.banner(8123).splitlines() == [
        "Porch demo is running.",
        "  Host page:      http://127.0.0.1:8123/demo/",
        "  Agent console:  http://127.0.0.1:8123/agent/",
        "  Agent login:    agent@porch.demo / porch-demo",
        "  Tawk.to page:   http://127.0.0.1:8123/demo/tawk.html",
        "  Tawk.to embed:  http://127.0.0.1:8123/64f0d3e3c0ffee0000000001/default",
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
        expected = demo.banner(port).splitlines()
        banner = [process.stdout.readline().rstrip("\n") for _ in expected]
        assert banner == expected
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
        assert login.json()["agent"]["role"] == "admin"
        boot = httpx.post(
            f"{base}/api/v1/bootstrap",
            content='{"appid": "porch-demo"}',
            headers={"origin": f"http://localhost:{port}", "content-type": "text/plain"},
        )
        assert boot.status_code == 200
        by_widget = httpx.post(
            f"{base}/api/v1/bootstrap",
            json={"property_id": demo.DEMO_PROPERTY_ID, "widget_id": demo.DEMO_WIDGET_ID},
            headers={"origin": f"http://127.0.0.1:{port}"},
        )
        assert by_widget.json()["appid"] == demo.DEMO_APPID
        embed = httpx.get(f"{base}/{demo.DEMO_PROPERTY_ID}/{demo.DEMO_WIDGET_ID}")
        assert embed.status_code == 404 and "not built" in embed.text  # no tawk.js in tmp_path
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
