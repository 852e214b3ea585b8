"""Deleting visitors' data (issue 13): the visitor's own request (``conversation.delete``),
``porch visitor delete``, and the retention job; rows, files on disk and what consoles hear."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import anyio
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import (
    APPID,
    FakeClock,
    Porch,
    TestClient,
    expect_error,
    receive_close,
    receive_until,
    run_db,
    send_frame,
)
from porch_protocol import (
    AuthClosed,
    CloseCode,
    ConversationDeleted,
    DeleteConversations,
    MessageAck,
    NewMessage,
    RequestDone,
    SendMessage,
    TrackEvent,
)
from porch_server import cli
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.realtime import retention
from porch_server.realtime.hub import MemoryHub
from porch_server.storage import erasure
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.models import (
    ChatMessageRow,
    Conversation,
    StoredFile,
    Visitor,
    VisitorEvent,
)
from support import services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
DAY = 24 * 60 * 60


def counts(database_url: str) -> dict[str, int]:
    async def work(session: AsyncSession) -> dict[str, int]:
        tables = {
            "visitors": Visitor,
            "conversations": Conversation,
            "messages": ChatMessageRow,
            "files": StoredFile,
            "events": VisitorEvent,
        }
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }

    return run_db(database_url, work)


def chat_with_a_file(porch: Porch, text: str = "hello") -> tuple[object, str, Path]:
    """A visitor with a conversation holding a message and an uploaded file (and an event);
    returns their socket, uid and the file's path on disk."""
    ws, welcome = porch.visitor()
    send_frame(ws, SendMessage(client_id="m1", text=text))
    receive_until(ws, MessageAck)
    upload = porch.client.post(
        "/api/v1/files",
        content=PNG,
        headers={"authorization": f"Bearer {welcome.upload_token}", "x-filename": quote("a.png")},
    )
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["id"]
    send_frame(ws, SendMessage(client_id="m2", text="", file_id=file_id))
    receive_until(ws, MessageAck)
    send_frame(ws, TrackEvent(request_id="e1", name="viewed-pricing"))
    receive_until(ws, RequestDone)
    path = porch.settings.data_dir / "files" / file_id
    assert path.exists()
    return ws, welcome.visitor_uid, path


def test_a_visitor_deletes_their_conversations_and_the_agents_hear_it(porch: Porch) -> None:
    agent, _ = porch.agent()
    ws, _uid, path = chat_with_a_file(porch)
    conversation = receive_until(agent, NewMessage).message.conversation_id
    send_frame(ws, DeleteConversations(request_id="d1"))
    assert receive_until(ws, RequestDone).request_id == "d1"
    assert receive_until(agent, ConversationDeleted).conversation_id == conversation
    left = counts(porch.settings.database_url)
    assert (left["conversations"], left["messages"], left["files"]) == (0, 0, 0)
    assert left["visitors"] == 1  # they stay, and may chat again
    assert not path.exists()
    send_frame(ws, SendMessage(client_id="m3", text="a fresh start"))
    ack = receive_until(ws, MessageAck)
    assert ack.message.conversation_id != conversation and ack.message.seq == 1


def test_the_cli_deletes_a_visitor_and_everything_of_theirs(porch: Porch) -> None:
    ws, uid, path = chat_with_a_file(porch)
    other_ws, _ = porch.visitor()
    send_frame(other_ws, SendMessage(client_id="o1", text="someone else"))
    receive_until(other_ws, MessageAck)
    before = counts(porch.settings.database_url)
    result = CliRunner().invoke(
        cli.main,
        ["visitor", "delete", uid, "--database-url", porch.settings.database_url],
        env={"PORCH_DATA_DIR": str(porch.settings.data_dir)},
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"Deleted 1 visitor(s) ({uid}): 1 conversation(s), 1 file(s)\n"
    after = counts(porch.settings.database_url)
    assert after == {
        "visitors": before["visitors"] - 1,
        "conversations": before["conversations"] - 1,
        "messages": before["messages"] - 2,
        "files": before["files"] - 1,
        "events": before["events"] - 1,
    }
    assert not path.exists()
    # Still connected: the deleted visitor's next request is refused, not a server error.
    send_frame(ws, TrackEvent(request_id="e2", name="after"))
    expect_error(ws, "SESSION_EXPIRED")


def test_the_cli_names_what_it_cannot_find(porch: Porch) -> None:
    url = ["--database-url", porch.settings.database_url]
    missing = CliRunner().invoke(cli.main, ["visitor", "delete", "u_nobody", *url])
    assert missing.exit_code == 2 and "no visitor 'u_nobody'" in missing.output
    half = CliRunner().invoke(cli.main, ["visitor", "delete", "--email", "a@b.c", *url])
    assert half.exit_code == 2 and "--app and --email go together" in half.output
    none = CliRunner().invoke(
        cli.main, ["visitor", "delete", "--app", APPID, "--email", "a@b.c", *url]
    )
    assert none.exit_code == 0 and none.output.startswith("Deleted 0 visitor(s)")


def test_retention_deletes_only_conversations_older_than_the_period(
    settings: Settings, clock: FakeClock
) -> None:
    kept = replace(settings, retention_days=30)
    with TestClient(create_app(kept)) as client:
        porch = Porch(client=client, settings=kept, clock=clock)
        with porch._stack:
            _ws, _uid, old_file = chat_with_a_file(porch, "old")
            clock.advance(20 * DAY)
            recent, _ = porch.visitor()
            send_frame(recent, SendMessage(client_id="r1", text="recent"))
            receive_until(recent, MessageAck)
            clock.advance(15 * DAY)  # the first chat is 35 days old, the second 15

            async def purge() -> erasure.Erased:
                engine = create_engine(kept.database_url)
                try:
                    return await retention.purge(
                        session_factory(engine),
                        MemoryHub(),
                        kept.data_dir,
                        kept.now_ms() - 30 * retention.DAY_MS,
                    )
                finally:
                    await engine.dispose()

            erased = anyio.run(purge)
            assert len(erased.conversations) == 1 and len(erased.file_ids) == 1
            assert not old_file.exists()
            left = counts(kept.database_url)
            assert (left["conversations"], left["messages"]) == (1, 1)


def test_the_retention_job_runs_at_start_when_configured(
    settings: Settings, clock: FakeClock
) -> None:
    """The app's lifespan starts the job, and its first run is over before the server takes
    its first request: a conversation already too old is gone at startup."""
    with TestClient(create_app(settings)) as client:
        porch = Porch(client=client, settings=settings, clock=clock)
        with porch._stack:
            chat_with_a_file(porch)
    clock.advance(2 * DAY)
    kept = replace(settings, retention_days=1, retention_check_interval=3600)
    with TestClient(create_app(kept)) as client:
        porch = Porch(client=client, settings=kept, clock=clock)
        with porch._stack:
            assert counts(kept.database_url)["conversations"] == 0
            _agent, welcome = porch.agent()
            assert welcome.conversations == ()


def test_over_redis_the_cli_tells_running_processes_at_once(
    settings: Settings, clock: FakeClock, redis_server: services.Redis
) -> None:
    """With several processes (Redis), ``porch visitor delete`` is heard live: consoles drop the
    conversation and the visitor's open widget is closed with ``auth.closed``."""
    redis_server.flush()
    clustered = replace(settings, redis_url=redis_server.url)
    with TestClient(create_app(clustered)) as client:
        porch = Porch(client=client, settings=clustered, clock=clock)
        with porch._stack:
            agent, _ = porch.agent()
            ws, uid, _path = chat_with_a_file(porch)
            conversation = receive_until(agent, NewMessage).message.conversation_id
            result = CliRunner().invoke(
                cli.main,
                ["visitor", "delete", uid, "--database-url", clustered.database_url],
                env={
                    "PORCH_DATA_DIR": str(clustered.data_dir),
                    "PORCH_REDIS_URL": redis_server.url,
                },
            )
            assert result.exit_code == 0, result.output
            assert receive_until(agent, ConversationDeleted).conversation_id == conversation
            closed = receive_until(ws, AuthClosed)
            assert closed.clear_token
            assert receive_close(ws) == CloseCode.AUTH_CLOSED
