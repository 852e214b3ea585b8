"""Queries. Each function takes an open :class:`AsyncSession` and leaves committing to the
caller, so a caller can group several calls in one transaction and commit before it answers."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import (
    AppSettings,
    ConversationSummary,
    TawkWidgetSettings,
    VisitorProfile,
)
from porch_protocol.wire import Author
from porch_server.rules import apps
from porch_server.rules.properties import WidgetSettings
from porch_server.rules.security import random_token
from porch_server.storage import records
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


async def lock_visitor(session: AsyncSession, visitor: Visitor) -> None:
    """Hold the visitor's row until the session's transaction ends: what the transaction reads
    next is what was committed before, and another transaction locking the visitor waits for
    this one. An UPDATE that changes nothing: PostgreSQL locks the row, SQLite takes its write
    lock (SQLite has no ``SELECT ... FOR UPDATE``)."""
    await session.execute(
        update(Visitor)
        .where(Visitor.id == visitor.id)
        .values(revoked_at=Visitor.revoked_at)
        .execution_options(synchronize_session=False)
    )


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
    """A new conversation of ``visitor``, created after its latest one even within the same
    millisecond: :func:`latest_conversation` orders by ``created_at``, and a tie (broken by the
    random id) made an ended chat look latest again after a quick restart (issue 12)."""
    latest = await latest_conversation(session, visitor)
    if latest is not None:
        now_ms = max(now_ms, latest.created_at + 1)
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


async def mark_read(
    session: AsyncSession, conversation: Conversation, seq: int, *, by: Author
) -> None:
    """Advance the reader's mark to ``seq`` (never backwards, never past ``last_seq``) in one
    UPDATE that reads and writes the row together: computed from a row read earlier, a mark could
    be written back over a higher one committed meanwhile (a tab's new socket and its old
    connection's last frames marking at once; found by the fault suite, issue 12)."""
    column = Conversation.visitor_read_seq if by == "visitor" else Conversation.agent_read_seq
    target = case((Conversation.last_seq < seq, Conversation.last_seq), else_=max(0, seq))
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values({column: case((column < target, target), else_=column)})
        .execution_options(synchronize_session=False)
    )
    await session.refresh(conversation)


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
    contains ``query``, case-insensitively (ILIKE on PostgreSQL, where a trigram index serves
    it; ``lower() LIKE lower()`` on SQLite, which folds ASCII only)."""
    pattern = _like(query)
    in_text = (
        select(ChatMessageRow.conversation_id)
        .join(Conversation, Conversation.id == ChatMessageRow.conversation_id)
        .where(Conversation.app_id == app_id, ChatMessageRow.text.ilike(pattern, escape="\\"))
    )
    matches = or_(
        Visitor.name.ilike(pattern, escape="\\"),
        Visitor.nickname.ilike(pattern, escape="\\"),
        Visitor.email.ilike(pattern, escape="\\"),
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
