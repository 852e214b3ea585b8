"""The group commit writer: batching, order, failure isolation, shutdown (with a recording
``write_batch`` in place of the database), and the message writer, its database side, on the
suite's database (SQLite, or PostgreSQL with ``PORCH_TEST_DATABASE=postgresql``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import run_db, seed_app
from porch_server.storage import records, store
from porch_server.storage.db import SQLITE_BUSY_TIMEOUT, create_engine, session_factory
from porch_server.storage.group_commit import GroupCommit, WriterClosed
from porch_server.storage.migrate import upgrade
from porch_server.storage.models import App, ChatMessageRow, Conversation, StoredFile
from porch_server.storage.writer import (
    NewPost,
    SQLiteWriter,
    Written,
    message_writer,
    write_posts,
)

_T = TypeVar("_T")


@dataclass
class Ledger:
    """A stand-in database: ``write_batch`` commits a batch whole (or not at all when an item is
    in ``poison``) and records each commit; a result is the item's position in the ledger."""

    poison: set[str] = field(default_factory=set)
    committed: list[str] = field(default_factory=list)
    commits: list[list[str]] = field(default_factory=list)
    #: Set while a batch is "in the database", so a test can queue more meanwhile.
    writing: asyncio.Event | None = None
    release: asyncio.Event | None = None

    async def write_batch(self, items: Sequence[str]) -> list[int]:
        if self.writing is not None and self.release is not None:
            self.writing.set()
            await self.release.wait()
            self.writing = self.release = None
        bad = [item for item in items if item in self.poison]
        if bad:
            raise ValueError(f"cannot write {bad[0]}")
        start = len(self.committed)
        self.committed.extend(items)
        self.commits.append(list(items))
        return list(range(start, start + len(items)))


def run(work: Callable[[], Awaitable[_T]]) -> _T:
    return asyncio.run(work())


def test_concurrent_submits_share_one_commit_in_submission_order() -> None:
    ledger = Ledger()

    async def go() -> list[int]:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        ledger.writing, ledger.release = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(writer.submit("a0"))
        await ledger.writing.wait()  # "a0" is being written; the rest queue behind it
        rest = [asyncio.create_task(writer.submit(f"b{i}")) for i in range(5)]
        await asyncio.sleep(0)
        ledger.release.set()
        results = [await first] + [await task for task in rest]
        await writer.aclose()
        return results

    assert run(go) == [0, 1, 2, 3, 4, 5]
    assert ledger.commits == [["a0"], ["b0", "b1", "b2", "b3", "b4"]]


def test_batches_are_capped() -> None:
    ledger = Ledger()

    async def go() -> None:
        writer = GroupCommit(ledger.write_batch, max_batch=2)
        writer.start()
        await asyncio.gather(*(writer.submit(str(i)) for i in range(5)))
        await writer.aclose()

    run(go)
    assert ledger.commits == [["0", "1"], ["2", "3"], ["4"]]


def test_no_result_before_its_commit() -> None:
    ledger = Ledger()

    async def go() -> None:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        ledger.writing, ledger.release = asyncio.Event(), asyncio.Event()
        pending = asyncio.create_task(writer.submit("x"))
        await ledger.writing.wait()
        await asyncio.sleep(0)
        assert not pending.done() and ledger.committed == []
        ledger.release.set()
        assert await pending == 0
        assert ledger.committed == ["x"]
        await writer.aclose()

    run(go)


def test_a_failing_item_gets_its_error_and_the_others_are_written() -> None:
    ledger = Ledger(poison={"bad"})

    async def go() -> list[object]:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        results = await asyncio.gather(
            *(writer.submit(item) for item in ("a", "bad", "c")), return_exceptions=True
        )
        await writer.aclose()
        return results

    a, bad, c = run(go)
    assert isinstance(bad, ValueError) and "bad" in str(bad)
    assert ledger.committed == ["a", "c"]
    assert (a, c) == (0, 1)
    # The batch failed whole, then each item was written alone.
    assert ledger.commits == [["a"], ["c"]]


def test_the_writer_keeps_going_after_a_failure() -> None:
    ledger = Ledger(poison={"bad"})

    async def go() -> int:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        with pytest.raises(ValueError):
            await writer.submit("bad")
        result = await writer.submit("good")
        await writer.aclose()
        return result

    assert run(go) == 0
    assert ledger.committed == ["good"]


def test_shutdown_writes_what_is_queued_then_refuses() -> None:
    ledger = Ledger()

    async def go() -> list[int]:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        queued = [asyncio.create_task(writer.submit(str(i))) for i in range(3)]
        await asyncio.sleep(0)  # queued, not yet written
        await writer.aclose()
        with pytest.raises(WriterClosed):
            await writer.submit("late")
        return [await task for task in queued]

    assert run(go) == [0, 1, 2]
    assert ledger.committed == ["0", "1", "2"]


def test_a_cancelled_caller_still_has_its_item_written_once() -> None:
    ledger = Ledger()

    async def go() -> None:
        writer = GroupCommit(ledger.write_batch)
        writer.start()
        ledger.writing, ledger.release = asyncio.Event(), asyncio.Event()
        waiting = asyncio.create_task(writer.submit("x"))
        await ledger.writing.wait()
        waiting.cancel()
        ledger.release.set()
        await writer.aclose()

    run(go)
    assert ledger.committed == ["x"]


# --- the message writer ----------------------------------------------------------------


def _post(
    conversation_id: str, client_id: str, text: str = "hi", *, guarded: bool = False
) -> NewPost:
    return NewPost(
        conversation_id=conversation_id,
        author="visitor",
        author_name=None if guarded else "Visitor",
        text=text,
        client_id=client_id,
        now_ms=1_000,
        guarded=guarded,
    )


async def _conversations(session: AsyncSession, count: int) -> list[str]:
    app = await session.scalar(select(App).where(App.appid == "acme"))
    assert app is not None
    ids = []
    for _ in range(count):
        visitor = await store.create_visitor(session, app, 1_000)
        ids.append((await store.create_conversation(session, visitor, 1_000)).id)
    await session.commit()
    return ids


def _with_writer(
    database_url: str, work: Callable[..., Awaitable[_T]], handed: asyncio.Event | None = None
) -> _T:
    """Run ``work(writer, sessions)`` with a group commit over a ``store.MessageWriter``;
    ``handed`` is set each time a batch is handed to the database writer."""

    async def go() -> _T:
        engine = create_engine(database_url)
        sessions = session_factory(engine)
        database = message_writer(database_url)

        async def write(posts: Sequence[NewPost]) -> list[Written | None]:
            if handed is not None:
                handed.set()
            return await database.write(posts)

        writer = GroupCommit(write)
        writer.start()
        try:
            return await work(writer, sessions)
        finally:
            await writer.aclose()
            await database.aclose()
            await engine.dispose()

    return asyncio.run(go())


def test_post_messages_numbers_in_order_and_dedupes_within_and_across_batches(
    database_url: str,
) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[list[Written], list[Written], list[tuple[str, int, str | None]]]:
        async with sessions() as session:
            one, two = await _conversations(session, 2)
        first = await asyncio.gather(
            writer.submit(_post(one, "a")),
            writer.submit(_post(two, "a")),  # the same client id in another conversation
            writer.submit(_post(one, "b")),
            writer.submit(_post(one, "a", "resent")),  # a resend within the batch
        )
        again = await asyncio.gather(
            writer.submit(_post(one, "b", "resent")),  # a resend in a later batch
            writer.submit(_post(one, "c")),
        )
        async with sessions() as session:
            rows = await session.scalars(
                select(ChatMessageRow).order_by(ChatMessageRow.conversation_id, ChatMessageRow.seq)
            )
            stored = [(r.conversation_id, r.seq, r.client_id) for r in rows]
            last = {c.id: c.last_seq for c in await session.scalars(select(Conversation))}
            assert last == {one: 3, two: 1}
        return list(first), list(again), stored

    first, again, stored = _with_writer(database_url, work)
    assert [(p.message.seq, p.created) for p in first] == [
        (1, True),
        (1, True),
        (2, True),
        (1, False),
    ]
    assert first[3].message.id == first[0].message.id and first[3].message.text == "hi"
    assert [(p.message.seq, p.created) for p in again] == [(2, False), (3, True)]
    assert again[0].message.id == first[2].message.id
    one, two = first[0].message.conversation_id, first[1].message.conversation_id
    assert sorted(stored) == sorted([(one, 1, "a"), (one, 2, "b"), (one, 3, "c"), (two, 1, "a")])


def test_post_messages_failure_in_one_post_keeps_the_others(database_url: str) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[list[object], list[tuple[int, str | None]]]:
        async with sessions() as session:
            (one,) = await _conversations(session, 1)
        results = await asyncio.gather(
            writer.submit(_post(one, "a")),
            writer.submit(_post("c_missing", "x")),
            writer.submit(_post(one, "b")),
            return_exceptions=True,
        )
        async with sessions() as session:
            rows = await session.scalars(select(ChatMessageRow).order_by(ChatMessageRow.seq))
            return list(results), [(r.seq, r.client_id) for r in rows]

    results, stored = _with_writer(database_url, work)
    assert isinstance(results[1], LookupError)
    assert stored == [(1, "a"), (2, "b")]


def test_guarded_posts_are_refused_unless_the_conversation_is_the_visitors_open_latest(
    database_url: str,
) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[list[Written | None], Written | None, list[tuple[str, str, str]], str]:
        async with sessions() as session:
            open_, ended, superseded, revoked = await _conversations(session, 4)
            conversation = await session.get(Conversation, ended)
            assert conversation is not None
            conversation.ended_at = 2_000
            newer = await session.get(Conversation, superseded)
            assert newer is not None
            visitor = await store.visitor_of(session, newer)
            visitor.name = "Ada"
            await store.create_conversation(session, visitor, 3_000)
            gone = await session.get(Conversation, revoked)
            assert gone is not None
            (await store.visitor_of(session, gone)).revoked_at = 2_000
            await session.commit()
        results = await asyncio.gather(
            writer.submit(_post(open_, "a", guarded=True)),
            writer.submit(_post(ended, "a", guarded=True)),
            writer.submit(_post(superseded, "a", guarded=True)),
            writer.submit(_post(revoked, "a", guarded=True)),
            writer.submit(_post(superseded, "b")),  # unguarded: written (alone, after a retry)
        )
        resend = await writer.submit(_post(open_, "a", "again", guarded=True))
        async with sessions() as session:
            rows = await session.scalars(select(ChatMessageRow))
            stored = sorted((r.conversation_id, r.client_id or "", r.author_name) for r in rows)
        return list(results), resend, stored, open_

    results, resend, stored, open_id = _with_writer(database_url, work)
    written, ended, superseded, revoked, unguarded = results
    assert written is not None and written.created and written.message.seq == 1
    # The writer hands back what the consoles' summary needs, as committed.
    assert written.conversation is not None and written.conversation.id == open_id
    assert written.conversation.visitor_uid.startswith("u_") and not written.conversation.ended
    assert written.message.author_name == "Visitor"  # the display name of a nameless visitor
    assert ended is None and superseded is None and revoked is None
    assert unguarded is not None and unguarded.created
    assert resend is not None and not resend.created and resend.message.id == written.message.id
    one = written.message.conversation_id
    assert stored == sorted(
        [(one, "a", "Visitor"), (unguarded.message.conversation_id, "b", "Visitor")]
    )


def test_a_guarded_post_is_signed_with_the_visitors_name_as_written(database_url: str) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> Written | None:
        async with sessions() as session:
            (one,) = await _conversations(session, 1)
            conversation = await session.get(Conversation, one)
            assert conversation is not None
            (await store.visitor_of(session, conversation)).nickname = "ada99"
            await session.commit()
        return await writer.submit(_post(one, "a", guarded=True))

    posted = _with_writer(database_url, work)
    assert posted is not None and posted.message.author_name == "ada99"


def test_the_writers_summary_is_the_committed_conversations(database_url: str) -> None:
    """What the writer reads for the consoles (no ORM, its own connection) is the summary the
    ORM reads back after the commit, for a conversation with every summary field set."""

    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[Written | None, object]:
        async with sessions() as session:
            (one,) = await _conversations(session, 1)
            conversation = await session.get(Conversation, one)
            assert conversation is not None
            conversation.agent_ids = [7, 3]
            conversation.rating = -1
            conversation.offline = True
            conversation.agent_read_seq = 0
            visitor = await store.visitor_of(session, conversation)
            visitor.nickname, visitor.email = "ada99", "ada@example.com"
            visitor.referer, visitor.source_title = "https://example.com/", "Shop"
            visitor.tags, visitor.tags_version = ["vip", "new"], 4
            await session.commit()
        written = await writer.submit(_post(one, "a"))
        async with sessions() as session:
            conversation = await session.get(Conversation, one)
            assert conversation is not None
            return written, await store.summary(session, conversation, visitor_online=True)

    written, expected = _with_writer(database_url, work)
    assert written is not None and written.conversation is not None
    assert records.written_summary(written.conversation, written.message, True) == expected


def test_a_resend_gets_its_stored_file_back(database_url: str) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[Written | None, Written | None]:
        async with sessions() as session:
            (one,) = await _conversations(session, 1)
            conversation = await session.get(Conversation, one)
            assert conversation is not None
            file = StoredFile(
                id="f_1",
                app_id=conversation.app_id,
                uploader="visitor",
                uploader_id=conversation.visitor_id,
                name="a b.png",
                size=10,
                content_type="image/png",
                created_at=1_000,
            )
            await store.add_file(session, file)
            await session.commit()
        post = dataclasses.replace(_post(one, "a", ""), file=file)
        first = await writer.submit(post)
        again = await writer.submit(post)
        return first, again

    first, again = _with_writer(database_url, work)
    assert first is not None and first.created and first.message.file is not None
    assert first.message.file.url == "/files/f_1/a%20b.png"
    assert again is not None and not again.created and again.message == first.message


def test_the_writer_waits_for_another_connections_write_and_keeps_seqs_apart(
    database_url: str,
) -> None:
    """A system message written through the ORM holds the write lock: the writer's batch, handed
    to the database writer meanwhile, waits for it (no ack before that commit), then takes the
    next seq."""
    handed = asyncio.Event()

    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> list[int]:
        async with sessions() as session:
            (one,) = await _conversations(session, 1)
        async with sessions() as session:
            conversation = await session.get(Conversation, one)
            assert conversation is not None
            conversation.ended_at = None
            await session.execute(
                update(Conversation).where(Conversation.id == one).values(updated_at=2_000)
            )  # the session's transaction now holds the write lock
            pending = asyncio.ensure_future(writer.submit(_post(one, "a")))
            await handed.wait()  # the batch is in the writer, which wants the lock
            assert not pending.done()
            await store.post_message(
                session,
                conversation,
                author="system",
                author_name="",
                text="joined",
                client_id=None,
                now_ms=2_000,
            )  # commits
        written = await pending
        assert written is not None
        async with sessions() as session:
            rows = await session.scalars(select(ChatMessageRow).order_by(ChatMessageRow.seq))
            return [r.seq for r in rows if r.author == "system"] + [written.message.seq]

    assert _with_writer(database_url, work, handed) == [1, 2]


def _sqlite_database(tmp_path: Path) -> str:
    """A migrated, seeded SQLite file, for tests of SQLite's own behaviour whatever database the
    suite runs on."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sqlite.db'}"
    upgrade(url)
    seed_app(url)
    return url


def test_the_writers_statements_search_indexes_rather_than_scan_tables(tmp_path: Path) -> None:
    """A batch's cost must not grow with the number of stored messages: every statement the
    writer's procedure yields finds its rows through an index (SQLite's query plan says SEARCH,
    never SCAN of a table; the VALUES list of the lookup is the one table walked). SQLite's
    planner, whatever database the suite runs on: PostgreSQL's picks scans for tiny tables."""
    url = _sqlite_database(tmp_path)
    one, two = run_db(url, lambda session: _conversations(session, 2))
    posts = [_post(one, "a", guarded=True), _post(two, "b"), _agent_post(two, "c", 1, 1)]
    db = sqlite3.connect(tmp_path / "sqlite.db", isolation_level=None)
    plans: list[tuple[str, list[str]]] = []
    try:
        db.execute("BEGIN IMMEDIATE")
        procedure = write_posts(posts, [None] * len(posts))
        rows: Any = None
        with contextlib.suppress(StopIteration):
            while True:
                statement = procedure.send(rows)
                rows = []
                if statement.lock or statement.many:
                    continue
                explain = db.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.params)
                plans.append((statement.sql, [row[3] for row in explain]))
                rows = db.execute(statement.sql, statement.params).fetchall()
        db.execute("ROLLBACK")
    finally:
        db.close()
    assert len(plans) == 4  # the lookup, the agent's guard, the UPDATE (guarded), the read
    for sql, plan in plans:
        scans = [s for s in plan if s.startswith("SCAN") and "CONSTANT ROW" not in s]
        assert scans in ([], ["SCAN k"]), (sql, plan)


def _agent_post(conversation_id: str, client_id: str, agent_id: int, app_id: int) -> NewPost:
    return NewPost(
        conversation_id=conversation_id,
        author="agent",
        author_name="Ann",
        text="reply",
        client_id=client_id,
        now_ms=1_000,
        guarded=True,
        agent_id=agent_id,
        app_id=app_id,
    )


def test_an_agents_guarded_post_needs_its_app_an_open_chat_and_the_agent_in_it(
    database_url: str,
) -> None:
    async def work(
        writer: GroupCommit[NewPost, Written | None],
        sessions: Callable[[], AsyncSession],
    ) -> tuple[list[Written | None], list[Written | None], int]:
        async with sessions() as session:
            joined, not_in, ended = await _conversations(session, 3)
            app_id = 0
            for cid, agents, end in ((joined, [5], None), (not_in, [6], None), (ended, [5], 9)):
                conversation = await session.get(Conversation, cid)
                assert conversation is not None
                conversation.agent_ids, conversation.ended_at = agents, end
                app_id = conversation.app_id
            await session.commit()
        first = await asyncio.gather(
            writer.submit(_agent_post(joined, "a", 5, app_id)),
            writer.submit(_agent_post(not_in, "a", 5, app_id)),
            writer.submit(_agent_post(ended, "a", 5, app_id)),
            writer.submit(_agent_post(joined, "b", 5, app_id + 1)),  # another app's agent
            writer.submit(_agent_post(joined, "a", 7, app_id + 1)),  # ... resending in-batch
        )
        later = await asyncio.gather(
            writer.submit(_agent_post(joined, "a", 5, app_id)),  # a resend: the stored one
            writer.submit(_agent_post(joined, "a", 7, app_id + 1)),  # not to another app
        )
        return list(first), list(later), app_id

    first, later, app_id = _with_writer(database_url, work)
    written, not_in, ended, other_app, other_resend = first
    assert written is not None and written.created and written.message.seq == 1
    assert written.message.author_name == "Ann"
    assert written.conversation is not None and written.conversation.app_id == app_id
    assert not_in is None and ended is None and other_app is None and other_resend is None
    resend, other_later = later
    assert resend is not None and not resend.created and resend.message == written.message
    assert other_later is None


def test_the_engine_and_the_writer_wait_for_the_write_lock_as_long(tmp_path: Path) -> None:
    database_url = _sqlite_database(tmp_path)

    async def go() -> list[int]:
        engine = create_engine(database_url)
        writer = SQLiteWriter(database_url)
        try:
            async with engine.connect() as connection:
                raw = await connection.get_raw_connection()
                rows = await raw.driver_connection.execute_fetchall("PRAGMA busy_timeout")
            return [rows[0][0], await writer.pragma("busy_timeout")]
        finally:
            await writer.aclose()
            await engine.dispose()

    expected = int(SQLITE_BUSY_TIMEOUT * 1000)
    assert asyncio.run(go()) == [expected, expected]
