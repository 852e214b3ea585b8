"""The message writer: the group commit's database side, one per dialect.

:func:`write_posts` is the batch's whole procedure, written once and sans-I/O: a generator that
yields each statement (:class:`Statement`) and is sent back its rows, so it never touches a
connection. Each dialect's writer is only the I/O around it:

- :class:`SQLiteWriter` runs it on a thread of its own with a plain ``sqlite3`` connection,
  under ``BEGIN IMMEDIATE`` (SQLite's write lock first, so what is read is what the commit
  leaves): one hop from the event loop per batch. SQLAlchemy's sessions made three or four hops
  to aiosqlite's thread per statement, plus the pool's checkout and reset, and built ORM rows
  nobody needed.
- :class:`PostgresWriter` runs it on one asyncpg connection in a transaction that first locks
  the batch's conversations (``FOR UPDATE``, in id order so two writers never deadlock): what
  ``BEGIN IMMEDIATE`` gives SQLite, per conversation, so processes writing to different
  conversations never wait for each other.

The SQL is the dialects' common subset; placeholders are written ``?`` and a writer renumbers
them where its driver wants ``$n``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
from collections import Counter
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from porch_protocol import AgentBrief, ChatMessage, FileRef
from porch_protocol.wire import Author, MaskKind
from porch_server.storage import records
from porch_server.storage.db import SQLITE_BUSY_TIMEOUT, configure_sqlite
from porch_server.storage.models import StoredFile


@dataclass(frozen=True)
class NewPost:
    """A message for the writer: a visitor's or agent's, with its client id.

    ``author_name`` None means the visitor's display name as stored when the post is written.
    A ``guarded`` post is sent without reading anything first, and refused (written nowhere, the
    result None) unless what the sender assumed still holds. A visitor's (``agent_id`` None) is
    to the conversation its socket last knew as open: still the visitor's latest, not ended, and
    the visitor's session not revoked. An agent's (``agent_id`` and ``app_id`` set) is to a
    conversation of the agent's app that is not ended and that the agent is in; a resend of an
    agent's message is returned only from a conversation of that app."""

    conversation_id: str
    author: Author
    author_name: str | None
    text: str
    client_id: str
    now_ms: int
    file: StoredFile | None = None
    guarded: bool = False
    agent_id: int | None = None
    app_id: int | None = None
    #: What the visitor's privacy filter masked (``SendMessage.masked``).
    masked: tuple[MaskKind, ...] = ()


@dataclass(frozen=True, slots=True)
class WrittenTo:
    """A conversation and its visitor as the batch that wrote to it left them, in plain values:
    what the consoles' summary of a new message needs (:func:`records.written_summary`)."""

    id: str
    app_id: int
    visitor_id: int
    agent_read_seq: int
    ended: bool
    agent_ids: tuple[str, ...]
    rating: int | None
    offline: bool
    visitor_uid: str
    visitor_name: str | None
    visitor_nickname: str | None
    visitor_email: str | None
    referer: str | None
    source_title: str | None
    revoked: bool
    tags: tuple[str, ...]
    tags_version: int


@dataclass(frozen=True, slots=True)
class Written:
    """The outcome of a :class:`NewPost`: ``created`` is False for an idempotent resend; a
    created message comes with its conversation as the batch committed it."""

    message: ChatMessage
    created: bool
    conversation: WrittenTo | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of :func:`write_posts`. ``many`` runs ``sql`` once per row of ``params``
    and returns no rows. ``lock`` marks the statement that takes the conversations' row locks
    (the first; a dialect whose transaction already holds a write lock skips it)."""

    sql: str
    params: Sequence[Any] = ()
    many: bool = False
    lock: bool = False


#: What :func:`write_posts` is: statements out, rows in, the results at the end.
Procedure = Generator[Statement, list[Sequence[Any]], list["Written | None"]]


class MessageWriter(Protocol):
    """What the app's group commit writes through."""

    async def write(self, posts: Sequence[NewPost]) -> list[Written | None]:
        """Store ``posts`` in one transaction (see :func:`write_posts`); raises, rolled back,
        when the batch fails."""
        ...

    async def aclose(self) -> None: ...


def message_writer(database_url: str) -> MessageWriter:
    """The writer for the database at ``database_url``."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return SQLiteWriter(database_url)
    if backend == "postgresql":
        return PostgresWriter(database_url)
    raise ValueError(f"no message writer for {backend!r} databases (SQLite or PostgreSQL)")


#: The guard of a visitor's ``guarded`` post, in the UPDATE of :func:`write_posts`: the
#: conversation is its visitor's latest (the order of ``store.latest_conversation``), not
#: ended, and the visitor not revoked.
_GUARD_SQL = (
    "(ended_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM visitors v"
    " WHERE v.id = conversations.visitor_id AND v.revoked_at IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM conversations later"
    " WHERE later.visitor_id = conversations.visitor_id"
    " AND (later.created_at > conversations.created_at"
    " OR (later.created_at = conversations.created_at AND later.id > conversations.id))))"
)
_LOCK_SQL = "SELECT id FROM conversations WHERE id IN ({ids}) ORDER BY id FOR UPDATE"
#: What the guard of an agent's ``guarded`` post checks, per post: the conversation is of the
#: agent's app, not ended, and the agent is in it.
_AGENT_GUARD_SQL = (
    "SELECT id, app_id, ended_at IS NULL, agent_ids FROM conversations WHERE id IN ({ids})"
)
_INSERT_MESSAGES_SQL = (
    "INSERT INTO messages (id, conversation_id, seq, author, author_name, text, client_id,"
    " created_at, file_id, masked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: A resend's stored message, with its file. The keys are joined from a VALUES table: SQLite
#: answers ``(a, b, c) IN (VALUES ...)`` with a scan of every message (a batch's lookup then grew
#: with the table: 7.5 ms at 27,000 messages), the join with the unique index's searches.
_KNOWN_SQL = (
    "WITH k(conversation_id, author, client_id) AS (VALUES {rows})"
    " SELECT m.id, m.conversation_id, m.seq, m.author, m.author_name, m.text, m.client_id,"
    " m.created_at, m.event, m.agent, f.id, f.name, f.size, f.content_type, c.app_id, m.masked"
    " FROM k JOIN messages m ON m.conversation_id = k.conversation_id"
    " AND m.author = k.author AND m.client_id = k.client_id"
    " JOIN conversations c ON c.id = m.conversation_id"
    " LEFT JOIN files f ON f.id = m.file_id"
)
_WRITTEN_TO_SQL = (
    "SELECT c.id, c.app_id, c.visitor_id, c.agent_read_seq, c.ended_at IS NOT NULL, c.agent_ids,"
    " c.rating, c.offline, v.uid, v.name, v.nickname, v.email, v.referer, v.source_title,"
    " v.revoked_at IS NOT NULL, v.tags, v.tags_version"
    " FROM conversations c JOIN visitors v ON v.id = c.visitor_id WHERE c.id IN ({ids})"
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _json(value: Any) -> Any:
    """A JSON column's value as Python: SQLite and asyncpg both hand over its text."""
    return json.loads(value) if isinstance(value, str) else value


def _known_message(row: Sequence[Any]) -> ChatMessage:
    file = None
    if row[10] is not None:
        file = records.file_ref_of(row[10], row[11], row[12], row[13])
    agent = _json(row[9])
    return ChatMessage(
        id=row[0],
        conversation_id=row[1],
        seq=row[2],
        author=row[3],
        author_name=row[4],
        text=row[5],
        client_id=row[6],
        created_at=row[7],
        event=row[8],
        file=file,
        agent=AgentBrief(id=agent["id"], name=agent["name"]) if agent else None,
        masked=tuple(_json(row[15]) or ()),
    )


def _written_to(row: Sequence[Any]) -> WrittenTo:
    return WrittenTo(
        id=row[0],
        app_id=row[1],
        visitor_id=row[2],
        agent_read_seq=row[3],
        ended=bool(row[4]),
        agent_ids=tuple(str(a) for a in _json(row[5]) or ()),
        rating=row[6],
        offline=bool(row[7]),
        visitor_uid=row[8],
        visitor_name=row[9],
        visitor_nickname=row[10],
        visitor_email=row[11],
        referer=row[12],
        source_title=row[13],
        revoked=bool(row[14]),
        tags=tuple(_json(row[15]) or ()),
        tags_version=row[16],
    )


def write_posts(posts: Sequence[NewPost], files: Sequence[FileRef | None]) -> Procedure:
    """Store ``posts`` in order in one transaction (the group commit's batch); the caller runs
    the statements inside its transaction and commits once this returns. Each post gets the
    next ``seq`` of its conversation, or is the message already stored under its client id,
    earlier in this batch or before; a ``guarded`` post whose guard fails is None. Raises when
    the batch cannot be written as a whole (an unknown conversation, an unguarded post in a
    conversation whose guard failed): the caller rolls back and the group commit then writes
    each post alone.

    Four statements per batch, not per post (after the lock): a lookup of the client ids, an
    UPDATE reserving each conversation's seqs (and checking the guards), a read of the
    conversations and visitors written to, a multi-row INSERT (and, when agents' guarded replies
    are among the posts, a read of their conversations to check each one's guard)."""
    if not posts:
        return []
    keys: list[tuple[str, str, str]] = [(p.conversation_id, p.author, p.client_id) for p in posts]
    touched = sorted({p.conversation_id for p in posts})
    yield Statement(_LOCK_SQL.format(ids=_marks(len(touched))), touched, lock=True)
    unique = list(dict.fromkeys(keys))
    found = yield Statement(
        _KNOWN_SQL.format(rows=", ".join(["(?, ?, ?)"] * len(unique))),
        tuple(value for key in unique for value in key),
    )
    known = {(row[1], row[3], row[6]): _known_message(row) for row in found}
    known_app = {(row[1], row[3], row[6]): row[14] for row in found}
    new: dict[tuple[str, str, str], int] = {}  # key -> index of the post that creates it
    for index, key in enumerate(keys):
        if key not in known and key not in new:
            new[key] = index
    by_agents = {k: i for k, i in new.items() if posts[i].agent_id is not None}
    if by_agents:
        ids = list({k[0] for k in by_agents})
        rows = yield Statement(_AGENT_GUARD_SQL.format(ids=_marks(len(ids))), ids)
        open_to = {
            cid: (app_id, _json(agent_ids) or [])
            for cid, app_id, is_open, agent_ids in rows
            if is_open
        }
        for key, i in by_agents.items():
            app_id, agent_ids = open_to.get(key[0], (None, ()))
            if app_id != posts[i].app_id or posts[i].agent_id not in agent_ids:
                del new[key]  # refused: its result is None
    counts = Counter(posts[i].conversation_id for i in new.values())
    updated_at = {posts[i].conversation_id: posts[i].now_ms for i in new.values()}  # last's
    guarded = list(
        {
            posts[i].conversation_id
            for i in new.values()
            if posts[i].guarded and posts[i].agent_id is None
        }
    )
    next_seq: dict[str, int] = {}
    written: dict[str, WrittenTo] = {}
    if counts:
        # One UPDATE reserves each conversation's seqs (store.post_message, for system
        # messages, may run at the same time on another connection and waits for the lock).
        # The casts tell PostgreSQL the parameters' types, which it cannot infer in a CASE.
        ids = list(counts)
        when = " ".join(["WHEN ? THEN CAST(? AS BIGINT)"] * len(ids))
        sql = (
            f"UPDATE conversations SET last_seq = last_seq + CASE id {when} END,"
            f" updated_at = CASE id {when} END WHERE id IN ({_marks(len(ids))})"
        )
        params: list[Any] = [v for cid in ids for v in (cid, counts[cid])]
        params += [v for cid in ids for v in (cid, updated_at[cid])]
        params += ids
        if guarded:
            sql += f" AND (id NOT IN ({_marks(len(guarded))}) OR {_GUARD_SQL})"
            params += guarded
        reserved = yield Statement(sql + " RETURNING id, last_seq", params)
        next_seq = {cid: last - counts[cid] + 1 for cid, last in reserved}
        refused = counts.keys() - next_seq.keys()
        for i in new.values():
            if posts[i].conversation_id in refused and not posts[i].guarded:
                raise LookupError(f"no open conversation {posts[i].conversation_id}")
        if next_seq:
            rows = yield Statement(
                _WRITTEN_TO_SQL.format(ids=_marks(len(next_seq))), list(next_seq)
            )
            written = {row[0]: _written_to(row) for row in rows}
    created: dict[tuple[str, str, str], ChatMessage] = {}
    inserts = []
    for key, i in new.items():
        post = posts[i]
        if post.conversation_id not in next_seq:
            continue  # refused by its guard
        seq = next_seq[post.conversation_id]
        next_seq[post.conversation_id] = seq + 1
        to = written[post.conversation_id]
        file = files[i]
        message = ChatMessage(
            id="m_" + secrets.token_hex(12),
            conversation_id=post.conversation_id,
            seq=seq,
            author=post.author,
            author_name=post.author_name
            if post.author_name is not None
            else records.signature(to.visitor_name, to.visitor_nickname),
            text=post.text,
            created_at=post.now_ms,
            client_id=post.client_id,
            file=file,
            masked=post.masked,
        )
        created[key] = message
        inserts.append(
            (
                message.id,
                message.conversation_id,
                seq,
                message.author,
                message.author_name,
                message.text,
                message.client_id,
                message.created_at,
                file.id if file is not None else None,
                json.dumps(post.masked) if post.masked else None,
            )
        )
    if inserts:
        yield Statement(_INSERT_MESSAGES_SQL, inserts, many=True)
    results: list[Written | None] = []
    for index, key in enumerate(keys):
        if key in known:
            post = posts[index]
            if post.guarded and post.agent_id is not None and known_app[key] != post.app_id:
                results.append(None)  # not this agent's app: the full path says not_found
            else:
                results.append(Written(known[key], created=False))
        elif key not in created:
            results.append(None)
        elif new[key] == index:
            results.append(Written(created[key], True, written[key[0]]))
        elif posts[index].agent_id is not None and posts[index].app_id != written[key[0]].app_id:
            results.append(None)  # another app's agent: the full path says not_found
        else:
            # Only the first post under a client id created its message; a resend in the same
            # batch gets that message back as an existing one.
            results.append(Written(created[key], created=False))
    return results


def _file_refs(posts: Sequence[NewPost]) -> list[FileRef | None]:
    # Read on the event loop: the files are the callers' sessions' rows.
    return [records.file_ref(p.file) if p.file is not None else None for p in posts]


class SQLiteWriter:
    """:func:`write_posts` on a ``sqlite3`` connection and thread of its own."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            raise ValueError(f"the SQLite writer needs an SQLite file, not {database_url!r}")
        self._path = url.database
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porch-writer")

    async def write(self, posts: Sequence[NewPost]) -> list[Written | None]:
        files = _file_refs(posts)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write, posts, files)

    async def pragma(self, name: str) -> object:
        """``PRAGMA name`` on the writer's own connection (opened if need be): the settings its
        transactions run with, which may differ from the engine's connections'."""
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._pragma, name)

    def _pragma(self, name: str) -> object:
        row = self._connection().execute(f"PRAGMA {name}").fetchone()
        return None if row is None else row[0]

    def _connection(self) -> sqlite3.Connection:
        """The writer's connection; only its thread may use it."""
        if self._db is None:
            # Autocommit mode: the transaction is our own BEGIN IMMEDIATE ... COMMIT.
            db = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
            configure_sqlite(db)
            self._db = db
        return self._db

    def _write(
        self, posts: Sequence[NewPost], files: Sequence[FileRef | None]
    ) -> list[Written | None]:
        db = self._connection()
        procedure = write_posts(posts, files)
        db.execute("BEGIN IMMEDIATE")
        try:
            rows: Any = None  # a generator's first send is None
            while True:
                try:
                    statement = procedure.send(rows)
                except StopIteration as done:
                    results: list[Written | None] = done.value
                    break
                if statement.lock:
                    rows = []  # BEGIN IMMEDIATE holds the database's write lock already
                elif statement.many:
                    db.executemany(statement.sql, statement.params)
                    rows = []
                else:
                    rows = db.execute(statement.sql, statement.params).fetchall()
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return results

    async def aclose(self) -> None:
        """Close the connection (after the last write) and the thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1, $2, ...`` (the writer's SQL has no other ``?``)."""
    counter = iter(range(1, 1 << 30))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class PostgresWriter:
    """:func:`write_posts` on an asyncpg connection of its own (opened on first use, opened
    again after the server dropped it)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"the PostgreSQL writer needs a PostgreSQL URL, not {database_url!r}")
        # asyncpg's own DSN: the URL without SQLAlchemy's "+driver".
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._db: Any = None

    async def write(self, posts: Sequence[NewPost]) -> list[Written | None]:
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL needs the driver

        files = _file_refs(posts)
        if self._db is None or self._db.is_closed():
            self._db = await asyncpg.connect(self._dsn)
        db = self._db
        procedure = write_posts(posts, files)
        async with db.transaction():
            rows: Any = None  # a generator's first send is None
            while True:
                try:
                    statement = procedure.send(rows)
                except StopIteration as done:
                    results: list[Written | None] = done.value
                    break
                sql = _numbered(statement.sql)
                if statement.many:
                    await db.executemany(sql, statement.params)
                    rows = []
                else:
                    rows = list(await db.fetch(sql, *statement.params))
        return results

    async def aclose(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
