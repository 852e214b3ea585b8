"""Queries. Each function takes an open :class:`AsyncSession` and leaves committing to the
caller, so a caller can group several calls in one transaction and commit before it answers."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import (
    AgentBrief,
    AppSettings,
    ChatMessage,
    ConversationSummary,
    FileRef,
    TawkWidgetSettings,
    VisitorProfile,
)
from porch_protocol.wire import Author, MaskKind
from porch_server.rules import apps
from porch_server.rules.properties import WidgetSettings
from porch_server.rules.security import random_token
from porch_server.storage import records
from porch_server.storage.db import SQLITE_BUSY_TIMEOUT, configure_sqlite
from porch_server.storage.models import (
    Agent,
    AgentSession,
    App,
    ChatMessageRow,
    Conversation,
    LoginNonce,
    ServerSetting,
    StoredFile,
    TawkProperty,
    TawkWidget,
    Visitor,
    VisitorEvent,
)

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
    """Copy checked settings (:func:`porch_server.rules.apps.checked_settings`) onto the app."""
    app.name = settings.name
    app.allowed_domains = list(settings.allowed_domains)
    app.offline_message = settings.offline_message
    app.business_hours = apps.hours_to_json(settings.business_hours)
    app.prechat_fields = apps.fields_to_json(settings.prechat_fields)


# --- tawk.to properties and widgets ------------------------------------------------------------


async def tawk_property(session: AsyncSession, property_id: str) -> TawkProperty | None:
    return await session.get(TawkProperty, property_id)


async def tawk_widget(session: AsyncSession, property_id: str, widget_id: str) -> TawkWidget | None:
    return await session.get(TawkWidget, (property_id, widget_id))


async def app_of_tawk_property(session: AsyncSession, property_id: str) -> App | None:
    return await session.scalar(
        select(App)
        .join(TawkProperty, TawkProperty.app_id == App.id)
        .where(TawkProperty.id == property_id)
    )


async def app_of_tawk_widget(
    session: AsyncSession, property_id: str, widget_id: str
) -> tuple[App, TawkWidget] | None:
    """The app a property's widget chats for, and the widget; None when either is unknown."""
    row = (
        await session.execute(
            select(App, TawkWidget)
            .join(TawkProperty, TawkProperty.app_id == App.id)
            .join(TawkWidget, TawkWidget.property_id == TawkProperty.id)
            .where(TawkProperty.id == property_id, TawkWidget.widget_id == widget_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def create_tawk_property(
    session: AsyncSession, app: App, property_id: str, now_ms: int
) -> TawkProperty:
    prop = TawkProperty(id=property_id, app_id=app.id, created_at=now_ms)
    session.add(prop)
    await session.flush()
    return prop


async def create_tawk_widget(
    session: AsyncSession,
    prop: TawkProperty,
    widget_id: str,
    settings: WidgetSettings,
    now_ms: int,
) -> TawkWidget:
    widget = TawkWidget(property_id=prop.id, widget_id=widget_id, created_at=now_ms)
    apply_widget_settings(widget, settings)
    session.add(widget)
    await session.flush()
    return widget


def apply_widget_settings(widget: TawkWidget, settings: WidgetSettings) -> None:
    """Copy checked settings (:func:`porch_server.rules.properties.checked_widget`) onto the
    widget."""
    widget.language = settings.language
    widget.position = settings.position
    widget.colour = settings.colour
    widget.greeting = settings.greeting


def widget_settings(widget: TawkWidget) -> WidgetSettings:
    return WidgetSettings(
        language=widget.language,
        position=widget.position,
        colour=widget.colour,
        greeting=widget.greeting,
    )


async def tawk_properties(
    session: AsyncSession, app: App | None = None
) -> list[tuple[App, TawkProperty, list[TawkWidget]]]:
    """Every property (of ``app`` when given) with its app and widgets, ordered by appid,
    property id and widget id."""
    query = select(App, TawkProperty).join(TawkProperty, TawkProperty.app_id == App.id)
    if app is not None:
        query = query.where(App.id == app.id)
    pairs = (await session.execute(query.order_by(App.appid, TawkProperty.id))).all()
    widgets: dict[str, list[TawkWidget]] = {prop.id: [] for _, prop in pairs}
    if widgets:
        found = await session.scalars(
            select(TawkWidget)
            .where(TawkWidget.property_id.in_(list(widgets)))
            .order_by(TawkWidget.property_id, TawkWidget.widget_id)
        )
        for widget in found:
            widgets[widget.property_id].append(widget)
    return [(owner, prop, widgets[prop.id]) for owner, prop in pairs]


async def app_settings(session: AsyncSession, app: App) -> AppSettings:
    """The app as its admins see it, with its properties' widgets."""
    owned = await tawk_properties(session, app)
    return records.app_settings(app, [(prop.id, widgets) for _, prop, widgets in owned])


async def set_tawk_widgets(
    session: AsyncSession, app: App, wanted: Sequence[TawkWidgetSettings], now_ms: int
) -> None:
    """Make the widgets of ``app``'s properties exactly ``wanted`` (checked by
    :func:`porch_server.rules.properties.checked_widgets`, of the app's properties): new ones are
    added, the others' settings replaced, the missing ones deleted (their property stays)."""
    current = {
        (widget.property_id, widget.widget_id): widget
        for _, _, widgets in await tawk_properties(session, app)
        for widget in widgets
    }
    for want in wanted:
        settings = WidgetSettings(want.language, want.position, want.colour, want.greeting)
        widget = current.pop((want.property_id, want.widget_id), None)
        if widget is None:
            widget = TawkWidget(
                property_id=want.property_id, widget_id=want.widget_id, created_at=now_ms
            )
            session.add(widget)
        apply_widget_settings(widget, settings)
    for gone in current.values():
        await session.delete(gone)
    await session.flush()


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


async def use_login_nonce(
    session: AsyncSession, app: App, ranstr: str, expires_at_ms: int, now_ms: int
) -> bool:
    """Record that a business login with ``ranstr`` verified for ``app``; False when it was
    recorded before (a replay). One ``INSERT ... ON CONFLICT DO NOTHING`` on the table's primary
    key, so two servers cannot both accept the same ``ranstr`` (SQLite and PostgreSQL share the
    syntax). Expired entries are dropped first: an expired ``ranstr`` no longer verifies anyway."""
    await session.execute(delete(LoginNonce).where(LoginNonce.expires_at < now_ms))
    inserted = await session.execute(
        text(
            "INSERT INTO login_nonces (app_id, ranstr, expires_at)"
            " VALUES (:app_id, :ranstr, :expires_at) ON CONFLICT DO NOTHING"
        ),
        {"app_id": app.id, "ranstr": ranstr, "expires_at": expires_at_ms},
    )
    return bool(getattr(inserted, "rowcount", 0))


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


def apply_profile(
    visitor: Visitor,
    profile: VisitorProfile | None,
    locale: str | None,
    *,
    email_verified: bool = False,
) -> None:
    """Overwrite the visitor's fields with the non-null ones given. A new email is verified only
    when the caller checked the site's signature of it (``email_verified``)."""
    if profile is not None:
        for name in ("name", "nickname", "email", "phone", "referer", "source_title"):
            value = getattr(profile, name)
            if value is not None:
                setattr(visitor, name, value)
        if profile.email is not None:
            visitor.email_verified = email_verified
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
    """The outcome of :func:`post_message`: ``created`` is False for an idempotent resend."""

    message: ChatMessageRow
    created: bool


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
    """A message for :class:`MessageWriter`: a visitor's or agent's, with its client id.

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


#: The guard of a visitor's ``guarded`` post, in the UPDATE of :func:`_write_posts`: the
#: conversation is its visitor's latest (the order of :func:`latest_conversation`), not ended,
#: and the visitor not revoked.
_GUARD_SQL = (
    "(ended_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM visitors v"
    " WHERE v.id = conversations.visitor_id AND v.revoked_at IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM conversations later"
    " WHERE later.visitor_id = conversations.visitor_id"
    " AND (later.created_at > conversations.created_at"
    " OR (later.created_at = conversations.created_at AND later.id > conversations.id))))"
)
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


def _known_message(row: tuple[Any, ...]) -> ChatMessage:
    file = None
    if row[10] is not None:
        file = records.file_ref_of(row[10], row[11], row[12], row[13])
    agent = json.loads(row[9]) if row[9] is not None else None
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
        masked=tuple(json.loads(row[15])) if row[15] else (),
    )


def _written_to(row: tuple[Any, ...]) -> WrittenTo:
    return WrittenTo(
        id=row[0],
        app_id=row[1],
        visitor_id=row[2],
        agent_read_seq=row[3],
        ended=bool(row[4]),
        agent_ids=tuple(str(a) for a in json.loads(row[5] or "[]")),
        rating=row[6],
        offline=bool(row[7]),
        visitor_uid=row[8],
        visitor_name=row[9],
        visitor_nickname=row[10],
        visitor_email=row[11],
        referer=row[12],
        source_title=row[13],
        revoked=bool(row[14]),
        tags=tuple(json.loads(row[15] or "[]")),
        tags_version=row[16],
    )


def _write_posts(
    db: sqlite3.Connection, posts: Sequence[NewPost], files: Sequence[FileRef | None]
) -> list[Written | None]:
    """Store ``posts`` in order in one transaction and commit once (the group commit's batch).
    Runs on the writer's thread, with its own connection: the whole batch is one hop from the
    event loop. Each post gets the next ``seq`` of its conversation, or is the message already
    stored under its client id, earlier in this batch or before; a ``guarded`` post whose guard
    fails is None. Raises, having rolled back, when the transaction fails (an unknown
    conversation, a lost race, an unguarded post in a conversation whose guard failed: the group
    commit then writes each post alone).

    Four statements per batch, not per post: a lookup of the client ids, an UPDATE reserving each
    conversation's seqs (and checking the guards), a read of the conversations and visitors
    written to, a multi-row INSERT (and, when agents' guarded replies are among the posts, a read
    of their conversations to check each one's guard); all under ``BEGIN IMMEDIATE``, which waits
    for SQLite's write lock first, so what is read is what the commit leaves."""
    if not posts:
        return []
    keys: list[tuple[str, str, str]] = [(p.conversation_id, p.author, p.client_id) for p in posts]
    db.execute("BEGIN IMMEDIATE")
    try:
        unique = list(dict.fromkeys(keys))
        found = db.execute(
            _KNOWN_SQL.format(rows=", ".join(["(?, ?, ?)"] * len(unique))),
            tuple(value for key in unique for value in key),
        ).fetchall()
        known = {(row[1], row[3], row[6]): _known_message(row) for row in found}
        known_app = {(row[1], row[3], row[6]): row[14] for row in found}
        new: dict[tuple[str, str, str], int] = {}  # key -> index of the post that creates it
        for index, key in enumerate(keys):
            if key not in known and key not in new:
                new[key] = index
        by_agents = {k: i for k, i in new.items() if posts[i].agent_id is not None}
        if by_agents:
            ids = list({k[0] for k in by_agents})
            open_to = {
                cid: (app_id, json.loads(agent_ids or "[]"))
                for cid, app_id, is_open, agent_ids in db.execute(
                    _AGENT_GUARD_SQL.format(ids=_marks(len(ids))), ids
                )
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
            # One UPDATE reserves each conversation's seqs (post_message, for system messages,
            # may run at the same time on another connection and is serialized by the lock).
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
            reserved = db.execute(sql + " RETURNING id, last_seq", params).fetchall()
            next_seq = {cid: last - counts[cid] + 1 for cid, last in reserved}
            refused = counts.keys() - next_seq.keys()
            for i in new.values():
                if posts[i].conversation_id in refused and not posts[i].guarded:
                    raise LookupError(f"no open conversation {posts[i].conversation_id}")
            if next_seq:
                rows = db.execute(
                    _WRITTEN_TO_SQL.format(ids=_marks(len(next_seq))), list(next_seq)
                ).fetchall()
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
            db.executemany(_INSERT_MESSAGES_SQL, inserts)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
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


class MessageWriter:
    """The group commit's database side: :meth:`write` stores a batch of posts in one
    transaction (:func:`_write_posts`) on a connection and thread of its own, one hop from the
    event loop per batch. SQLAlchemy's sessions made three or four hops to aiosqlite's thread
    per statement, plus the pool's checkout and reset, and built ORM rows nobody needed."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            raise ValueError(f"the message writer needs an SQLite file, not {database_url!r}")
        self._path = url.database
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="porch-writer")

    async def write(self, posts: Sequence[NewPost]) -> list[Written | None]:
        """Store ``posts`` (see :func:`_write_posts`); raises, rolled back, when the batch
        fails."""
        # Read on the event loop: the files are the callers' sessions' rows.
        files = [records.file_ref(p.file) if p.file is not None else None for p in posts]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write, posts, files)

    def _write(
        self, posts: Sequence[NewPost], files: Sequence[FileRef | None]
    ) -> list[Written | None]:
        if self._db is None:
            # Autocommit mode: the transaction is _write_posts's own BEGIN IMMEDIATE ... COMMIT.
            db = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
            configure_sqlite(db)
            self._db = db
        return _write_posts(self._db, posts, files)

    async def aclose(self) -> None:
        """Close the connection (after the last write) and the thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


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
