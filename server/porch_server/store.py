"""Queries. Each function takes an open :class:`AsyncSession` and leaves committing to the
caller, so a caller can group several calls in one transaction and commit before it answers."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from porch_protocol import AppSettings, ConversationSummary, VisitorProfile
from porch_protocol.wire import Author
from porch_server import apps, records
from porch_server.models import (
    Agent,
    AgentSession,
    App,
    ChatMessageRow,
    Conversation,
    ServerSetting,
    StoredFile,
    Visitor,
    VisitorEvent,
)
from porch_server.security import random_token

_TICKET_SECRET_KEY = "ticket_secret"


# --- server settings ----------------------------------------------------------------------------


async def ticket_secret(session: AsyncSession) -> bytes:
    """The server-wide ticket signing key, created (and committed) on first use so tickets stay
    valid across restarts."""
    found = await session.get(ServerSetting, _TICKET_SECRET_KEY)
    if found is None:
        session.add(ServerSetting(key=_TICKET_SECRET_KEY, value=secrets.token_hex(32)))
        try:
            await session.commit()
        except IntegrityError:  # another process created it first: use theirs
            await session.rollback()
        found = await session.get(ServerSetting, _TICKET_SECRET_KEY)
        assert found is not None
    return bytes.fromhex(found.value)


# --- apps and agents ----------------------------------------------------------------------------


async def app_by_appid(session: AsyncSession, appid: str) -> App | None:
    return await session.scalar(select(App).where(App.appid == appid))


async def all_apps(session: AsyncSession) -> list[App]:
    return list((await session.scalars(select(App).order_by(App.appid))).all())


async def create_app(
    session: AsyncSession,
    *,
    appid: str,
    name: str,
    allowed_domains: Sequence[str],
    secret: str,
    now_ms: int,
) -> App:
    app = App(
        appid=appid,
        name=name,
        secret=secret,
        allowed_domains=list(allowed_domains),
        created_at=now_ms,
    )
    session.add(app)
    await session.flush()
    return app


def apply_app_settings(app: App, settings: AppSettings) -> None:
    """Copy checked settings (:func:`porch_server.apps.checked_settings`) onto the app."""
    app.name = settings.name
    app.allowed_domains = list(settings.allowed_domains)
    app.offline_message = settings.offline_message
    app.business_hours = apps.hours_to_json(settings.business_hours)
    app.prechat_fields = apps.fields_to_json(settings.prechat_fields)


async def agent_by_email(session: AsyncSession, email: str) -> Agent | None:
    return await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))


async def create_agent(
    session: AsyncSession,
    *,
    app: App,
    email: str,
    name: str,
    password_hash: str,
    now_ms: int,
    role: str = "agent",
) -> Agent:
    agent = Agent(
        app_id=app.id,
        email=email.strip().lower(),
        name=name,
        password_hash=password_hash,
        created_at=now_ms,
        role=role,
        status="online",
    )
    session.add(agent)
    await session.flush()
    return agent


async def add_agent_session(
    session: AsyncSession, agent: Agent, token_hash: str, expires_at: int
) -> None:
    session.add(AgentSession(token_hash=token_hash, agent_id=agent.id, expires_at=expires_at))
    await session.flush()


async def agent_for_token(session: AsyncSession, token_hash: str, now_ms: int) -> Agent | None:
    """The agent logged in with this token, or None when unknown or expired."""
    row = await session.get(AgentSession, token_hash)
    if row is None or row.expires_at <= now_ms:
        return None
    return await session.get(Agent, row.agent_id)


async def agents_of_app(session: AsyncSession, app_id: int) -> list[Agent]:
    rows = await session.scalars(select(Agent).where(Agent.app_id == app_id).order_by(Agent.id))
    return list(rows.all())


async def agent_in_app(session: AsyncSession, app_id: int, agent_id: str) -> Agent | None:
    """The agent with this (wire) id when it belongs to the app."""
    if not agent_id.isdigit():
        return None
    agent = await session.get(Agent, int(agent_id))
    return agent if agent is not None and agent.app_id == app_id else None


async def delete_agent_session(session: AsyncSession, token_hash: str) -> None:
    row = await session.get(AgentSession, token_hash)
    if row is not None:
        await session.delete(row)


# --- visitors -----------------------------------------------------------------------------------


async def visitor_by_public_id(session: AsyncSession, app: App, bs: str) -> Visitor | None:
    return await session.scalar(
        select(Visitor).where(Visitor.app_id == app.id, Visitor.public_id == bs)
    )


async def visitor_by_external_id(session: AsyncSession, app: App, sbs: str) -> Visitor | None:
    return await session.scalar(
        select(Visitor).where(Visitor.app_id == app.id, Visitor.external_id == sbs)
    )


async def create_visitor(
    session: AsyncSession, app: App, now_ms: int, external_id: str | None = None
) -> Visitor:
    visitor = Visitor(
        app_id=app.id,
        public_id="v_" + random_token(18),
        uid="u_" + secrets.token_hex(12),
        external_id=external_id,
        created_at=now_ms,
    )
    session.add(visitor)
    await session.flush()
    return visitor


def apply_profile(visitor: Visitor, profile: VisitorProfile | None, locale: str | None) -> None:
    """Overwrite the visitor's fields with the non-null ones given."""
    if profile is not None:
        for name in ("name", "nickname", "email", "phone", "referer", "source_title"):
            value = getattr(profile, name)
            if value is not None:
                setattr(visitor, name, value)
    if locale:
        visitor.locale = locale


async def add_visitor_event(
    session: AsyncSession, visitor: Visitor, name: str, metadata: dict[str, Any], now_ms: int
) -> None:
    session.add(
        VisitorEvent(visitor_id=visitor.id, name=name, event_metadata=metadata, created_at=now_ms)
    )
    await session.flush()


async def visitor_events(session: AsyncSession, visitor_id: int, limit: int) -> list[VisitorEvent]:
    """The visitor's latest ``limit`` events, oldest first."""
    rows = await session.scalars(
        select(VisitorEvent)
        .where(VisitorEvent.visitor_id == visitor_id)
        .order_by(VisitorEvent.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def set_tags(
    session: AsyncSession, visitor: Visitor, tags: Sequence[str], expected_version: int
) -> bool:
    """Store ``tags`` if the visitor's tags are still at ``expected_version`` (one UPDATE, so
    two concurrent changes cannot both win); False when someone changed them first."""
    updated = await session.execute(
        update(Visitor)
        .where(Visitor.id == visitor.id, Visitor.tags_version == expected_version)
        .values(tags=list(tags), tags_version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(visitor)
    return bool(getattr(updated, "rowcount", 0))


# --- files --------------------------------------------------------------------------------------


async def add_file(session: AsyncSession, row: StoredFile) -> None:
    session.add(row)
    await session.flush()


async def file_by_id(session: AsyncSession, file_id: str) -> StoredFile | None:
    return await session.get(StoredFile, file_id)


# --- conversations and messages -----------------------------------------------------------------


async def latest_conversation(session: AsyncSession, visitor: Visitor) -> Conversation | None:
    return await session.scalar(
        select(Conversation)
        .where(Conversation.visitor_id == visitor.id)
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(1)
    )


async def conversation_in_app(
    session: AsyncSession, app_id: int, conversation_id: str
) -> Conversation | None:
    """The conversation when it belongs to this app; None otherwise, so agents of one app can
    never reach another app's data."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.app_id != app_id:
        return None
    return conversation


async def create_conversation(session: AsyncSession, visitor: Visitor, now_ms: int) -> Conversation:
    conversation = Conversation(
        id="c_" + secrets.token_hex(12),
        app_id=visitor.app_id,
        visitor_id=visitor.id,
        last_seq=0,
        visitor_read_seq=0,
        agent_read_seq=0,
        created_at=now_ms,
        updated_at=now_ms,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def messages_after(
    session: AsyncSession, conversation_id: str, after_seq: int, limit: int
) -> list[ChatMessageRow]:
    """The latest ``limit`` messages with ``seq > after_seq``, oldest first."""
    rows = await session.scalars(
        select(ChatMessageRow)
        .where(ChatMessageRow.conversation_id == conversation_id, ChatMessageRow.seq > after_seq)
        .order_by(ChatMessageRow.seq.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def unread_for_visitor(session: AsyncSession, conversation: Conversation) -> int:
    """Agent messages the visitor has not read yet."""
    count = await session.scalar(
        select(func.count())
        .select_from(ChatMessageRow)
        .where(
            ChatMessageRow.conversation_id == conversation.id,
            ChatMessageRow.author == "agent",
            ChatMessageRow.seq > conversation.visitor_read_seq,
        )
    )
    return count or 0


@dataclass(frozen=True)
class Posted:
    """The outcome of :func:`post_message` and :func:`post_messages`: ``created`` is False for
    an idempotent resend. From :func:`post_messages`, a created message also comes with its
    conversation and visitor as the batch committed them (what the consoles' summary needs, read
    in the same transaction)."""

    message: ChatMessageRow
    created: bool
    conversation: Conversation | None = None
    visitor: Visitor | None = None


async def message_by_client_id(
    session: AsyncSession, conversation_id: str, author: str, client_id: str
) -> ChatMessageRow | None:
    return await session.scalar(
        select(ChatMessageRow).where(
            ChatMessageRow.conversation_id == conversation_id,
            ChatMessageRow.author == author,
            ChatMessageRow.client_id == client_id,
        )
    )


async def post_message(
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: Author,
    author_name: str,
    text: str,
    client_id: str | None,
    now_ms: int,
    event: str | None = None,
    agent: dict[str, Any] | None = None,
    file: StoredFile | None = None,
) -> Posted:
    """Store a message with the next ``seq``, or return the one already stored under this
    ``client_id`` (system messages have none). Commits, together with any change already made
    in ``session`` (an assignment, an end): the caller may acknowledge as soon as this returns."""
    if client_id is not None:
        existing = await message_by_client_id(session, conversation.id, author, client_id)
        if existing is not None:
            return Posted(existing, created=False)
    # Incrementing in one UPDATE takes the write lock first, so two writers to one conversation
    # (visitor and agent at once) are serialized by the database and never share a seq.
    seq = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq + 1, updated_at=now_ms)
        .returning(Conversation.last_seq)
        .execution_options(synchronize_session=False)
    )
    assert seq is not None
    row = ChatMessageRow(
        id="m_" + secrets.token_hex(12),
        conversation_id=conversation.id,
        seq=seq,
        author=author,
        author_name=author_name,
        text=text,
        client_id=client_id,
        created_at=now_ms,
        event=event,
        agent=agent,
        file_id=file.id if file is not None else None,
        file=file,
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        # The same client_id raced in from another socket and won; that one is the message.
        await session.rollback()
        existing = (
            await message_by_client_id(session, conversation.id, author, client_id)
            if client_id is not None
            else None
        )
        if existing is None:
            raise
        return Posted(existing, created=False)
    await session.refresh(conversation)
    return Posted(row, created=True)


@dataclass(frozen=True)
class NewPost:
    """A message for :func:`post_messages`: a visitor's or agent's, with its client id.

    ``author_name`` None means the visitor's display name as stored when the post is written.
    A ``guarded`` post is a visitor's message to the conversation its socket last knew as open,
    sent without reading anything first: it is refused (written nowhere) unless that conversation
    is still the visitor's latest, not ended, and the visitor's session not revoked."""

    conversation_id: str
    author: Author
    author_name: str | None
    text: str
    client_id: str
    now_ms: int
    file: StoredFile | None = None
    guarded: bool = False


#: The guard of a ``guarded`` post, in the UPDATE of :func:`post_messages`: the conversation
#: is its visitor's latest (the order of :func:`latest_conversation`), not ended, and the visitor
#: not revoked.
_GUARD_SQL = (
    "(ended_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM visitors v"
    " WHERE v.id = conversations.visitor_id AND v.revoked_at IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM conversations later"
    " WHERE later.visitor_id = conversations.visitor_id"
    " AND (later.created_at > conversations.created_at"
    " OR (later.created_at = conversations.created_at AND later.id > conversations.id))))"
)
_INSERT_MESSAGES_SQL = (
    "INSERT INTO messages (id, conversation_id, seq, author, author_name, text, client_id,"
    " created_at, file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_WRITTEN_TO = (
    select(Conversation, Visitor)
    .join(Visitor, Visitor.id == Conversation.visitor_id)
    .where(Conversation.id.in_(bindparam("ids", expanding=True)))
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


async def post_messages(session: AsyncSession, posts: Sequence[NewPost]) -> list[Posted | None]:
    """Store ``posts`` in order in one transaction and commit once (the group commit's batch,
    :mod:`porch_server.group_commit`). Each gets the next ``seq`` of its conversation, or is the
    message already stored under its client id, earlier in this batch or before; a ``guarded``
    post whose guard fails is None. Raises, having rolled back, when the transaction fails (an
    unknown conversation, a lost race, an unguarded post in a conversation whose guard failed:
    the group commit then writes each post alone).

    Four statements per batch, not per post: a lookup of the client ids, an UPDATE reserving each
    conversation's seqs (and checking the guards), a read of the conversations and visitors
    written to, a multi-row INSERT. The hot ones are SQLite's SQL written out, not built with
    the ORM: building and compiling them cost more than running them."""
    keys: list[tuple[str, str, str]] = [(p.conversation_id, p.author, p.client_id) for p in posts]
    try:
        # aiosqlite's own connection, under the session's transaction: one hop to its thread per
        # statement (execute and fetch together), where SQLAlchemy's cursor takes three or four.
        raw = await (await session.connection()).get_raw_connection()
        db = raw.driver_connection
        assert isinstance(db, aiosqlite.Connection)
        unique = list(dict.fromkeys(keys))
        found = await db.execute_fetchall(
            "SELECT id FROM messages WHERE (conversation_id, author, client_id)"
            f" IN (VALUES {', '.join(['(?, ?, ?)'] * len(unique))})",
            tuple(value for key in unique for value in key),
        )
        known: dict[tuple[str, str, str | None], ChatMessageRow] = {}
        known_ids = [row[0] for row in found]
        if known_ids:  # resends are rare: load them whole, with their files
            rows = await session.scalars(
                select(ChatMessageRow).where(ChatMessageRow.id.in_(known_ids))
            )
            known = {(row.conversation_id, row.author, row.client_id): row for row in rows}
        new: dict[tuple[str, str, str], NewPost] = {}
        for key, post in zip(keys, posts, strict=True):
            if key not in known and key not in new:
                new[key] = post
        counts = Counter(post.conversation_id for post in new.values())
        updated_at = {post.conversation_id: post.now_ms for post in new.values()}  # the last's
        guarded = list({post.conversation_id for post in new.values() if post.guarded})
        next_seq: dict[str, int] = {}
        written: dict[str, tuple[Conversation, Visitor]] = {}
        if counts:
            # One UPDATE takes the write lock and reserves each conversation's seqs (post_message,
            # for system messages, may run at the same time and is serialized by that lock).
            ids = list(counts)
            when = " ".join(["WHEN ? THEN ?"] * len(ids))
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
            reserved = await db.execute_fetchall(sql + " RETURNING id, last_seq", params)
            next_seq = {cid: last - counts[cid] + 1 for cid, last in reserved}
            refused = counts.keys() - next_seq.keys()
            unguarded = [p for p in new.values() if p.conversation_id in refused and not p.guarded]
            if unguarded:
                raise LookupError(f"no open conversation {unguarded[0].conversation_id}")
            if next_seq:
                pairs = await session.execute(_WRITTEN_TO, {"ids": list(next_seq)})
                written = {c.id: (c, v) for c, v in pairs}
        created: dict[tuple[str, str, str], ChatMessageRow] = {}
        for key, post in new.items():
            if post.conversation_id not in next_seq:
                continue  # refused by its guard
            seq = next_seq[post.conversation_id]
            next_seq[post.conversation_id] = seq + 1
            _, visitor = written[post.conversation_id]
            created[key] = ChatMessageRow(
                id="m_" + secrets.token_hex(12),
                conversation_id=post.conversation_id,
                seq=seq,
                author=post.author,
                author_name=post.author_name
                if post.author_name is not None
                else records.display_name(visitor),
                text=post.text,
                client_id=post.client_id,
                created_at=post.now_ms,
                file_id=post.file.id if post.file is not None else None,
            )
        if created:
            await db.executemany(
                _INSERT_MESSAGES_SQL,
                [
                    (
                        row.id,
                        row.conversation_id,
                        row.seq,
                        row.author,
                        row.author_name,
                        row.text,
                        row.client_id,
                        row.created_at,
                        row.file_id,
                    )
                    for row in created.values()
                ],
            )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    for key, row in created.items():
        # The file row belongs to the caller's session; the message only points at it.
        set_committed_value(row, "file", new[key].file)
    results: list[Posted | None] = []
    for key, post in zip(keys, posts, strict=True):
        if key in known:
            results.append(Posted(known[key], created=False))
        elif key not in created:
            results.append(None)
        elif new[key] is post:
            conversation, visitor = written[post.conversation_id]
            results.append(Posted(created[key], True, conversation, visitor))
        else:
            # Only the first post under a client id created its message; a resend in the same
            # batch gets that message back as an existing one.
            results.append(Posted(created[key], created=False))
    return results


async def mark_read(
    session: AsyncSession, conversation: Conversation, seq: int, *, by: Author
) -> None:
    """Advance the reader's mark to ``seq`` (never backwards, never past ``last_seq``)."""
    await session.refresh(conversation)
    target = max(0, min(seq, conversation.last_seq))
    if by == "visitor":
        conversation.visitor_read_seq = max(conversation.visitor_read_seq, target)
    else:
        conversation.agent_read_seq = max(conversation.agent_read_seq, target)
    await session.flush()


async def summary(
    session: AsyncSession, conversation: Conversation, visitor_online: bool = False
) -> ConversationSummary:
    visitor = await session.get(Visitor, conversation.visitor_id)
    assert visitor is not None  # foreign key
    last = await session.scalar(
        select(ChatMessageRow).where(
            ChatMessageRow.conversation_id == conversation.id,
            ChatMessageRow.seq == conversation.last_seq,
        )
    )
    return records.conversation_summary(conversation, visitor, last, visitor_online)


def _summary_query() -> Any:
    return (
        select(Conversation, Visitor, ChatMessageRow)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .outerjoin(
            ChatMessageRow,
            and_(
                ChatMessageRow.conversation_id == Conversation.id,
                ChatMessageRow.seq == Conversation.last_seq,
            ),
        )
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )


async def summary_rows(
    session: AsyncSession, app_id: int, limit: int
) -> list[tuple[Conversation, Visitor, ChatMessageRow | None]]:
    """The app's conversations, most recently updated first, with what a summary needs."""
    result = await session.execute(
        _summary_query().where(Conversation.app_id == app_id).limit(limit)
    )
    return [(c, v, m) for c, v, m in result.unique()]


async def visitor_conversation_rows(
    session: AsyncSession, visitor_id: int, limit: int
) -> list[tuple[Conversation, Visitor, ChatMessageRow | None]]:
    """A visitor's conversations, most recently updated first."""
    result = await session.execute(
        _summary_query().where(Conversation.visitor_id == visitor_id).limit(limit)
    )
    return [(c, v, m) for c, v, m in result.unique()]


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its own ``%``, ``_`` and ``\\`` taken
    literally (the query says ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_rows(
    session: AsyncSession, app_id: int, query: str, limit: int
) -> list[tuple[Conversation, Visitor, ChatMessageRow | None]]:
    """The app's conversations whose visitor's name, nickname or email, or any message text,
    contains ``query`` (case-insensitive for ASCII, as SQLite's LIKE is)."""
    pattern = _like(query)
    in_text = (
        select(ChatMessageRow.conversation_id)
        .join(Conversation, Conversation.id == ChatMessageRow.conversation_id)
        .where(Conversation.app_id == app_id, ChatMessageRow.text.like(pattern, escape="\\"))
    )
    matches = or_(
        Visitor.name.like(pattern, escape="\\"),
        Visitor.nickname.like(pattern, escape="\\"),
        Visitor.email.like(pattern, escape="\\"),
        Conversation.id.in_(in_text),
    )
    result = await session.execute(
        _summary_query().where(Conversation.app_id == app_id, matches).limit(limit)
    )
    return [(c, v, m) for c, v, m in result.unique()]


async def visitor_of(session: AsyncSession, conversation: Conversation) -> Visitor:
    visitor = await session.get(Visitor, conversation.visitor_id)
    assert visitor is not None  # foreign key
    return visitor
