"""The database schema as typed SQLAlchemy models.

Every timestamp is an integer of milliseconds since the Unix epoch, the unit the wire uses, so no
conversion or timezone question arises anywhere. Change a model only together with a new Alembic
revision in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class App(Base):
    """A site using Porch. ``secret`` signs visitor identities and business logins; it never
    leaves the server."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(200))
    allowed_domains: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    offline_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: ``BusinessHours`` as JSON (see :mod:`porch_server.rules.apps`); None means always open.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``FormField`` list as JSON.
    prechat_fields: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")


class Agent(Base):
    """``role`` is ``admin`` or ``agent``; ``status`` is the presence the agent chose
    (``online``/``away``/``offline``), shown only while they have a socket open."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    status: Mapped[str] = mapped_column(String(16), default="online", server_default="online")


class AgentSession(Base):
    """A login. Only the token's SHA-256 is stored, so a database leak yields no usable token."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class Visitor(Base):
    """One browser (``public_id`` is the ``bs`` token) or one business user (``external_id``)."""

    __tablename__ = "visitors"
    __table_args__ = (UniqueConstraint("app_id", "external_id", name="uq_visitors_app_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    nickname: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    #: The site signed this email (tawk.to's secure mode ``hash``, a business login).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    phone: Mapped[str | None] = mapped_column(String(64))
    referer: Mapped[str | None] = mapped_column(Text)
    source_title: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    #: Custom attributes (``visitor.update``, pre-chat answers): key -> scalar.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    #: Bumped by every tag change; ``tags.change`` with a stale ``version`` is refused.
    tags_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class VisitorEvent(Base):
    """A custom event (``visitor.event``) with its metadata, in the order it happened."""

    __tablename__ = "visitor_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_app_updated", "app_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id"), index=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    visitor_read_seq: Mapped[int] = mapped_column(default=0)
    agent_read_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    #: Agent ids in the chat, the assignee first.
    agent_ids: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    ended_by: Mapped[str | None] = mapped_column(String(16))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Started from the offline form.
    offline: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class ChatMessageRow(Base):
    """A stored message. The two unique constraints give ordering (``seq``) and idempotent
    resends (``client_id`` per author)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        UniqueConstraint(
            "conversation_id", "author", "client_id", name="uq_messages_conversation_client"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int]
    author: Mapped[str] = mapped_column(String(16))
    author_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: For ``system`` messages: what happened, and the agent involved (``{"id", "name"}``).
    event: Mapped[str | None] = mapped_column(String(32))
    agent: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id"))
    #: What the visitor's privacy filter masked before sending (``SendMessage.masked``).
    masked: Mapped[list[str] | None] = mapped_column(JSON)
    #: Loaded with the message: a message and its attachment always go on the wire together.
    file: Mapped[StoredFile | None] = relationship(lazy="joined")


class StoredFile(Base):
    """An upload. The bytes live in the data dir under ``id``; ``uploader`` is ``visitor`` or
    ``agent`` and ``uploader_id`` their row id, so only the uploader can attach it."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    uploader: Mapped[str] = mapped_column(String(16))
    uploader_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ServerSetting(Base):
    """Server-wide values, e.g. the secret that signs bootstrap tickets."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TawkProperty(Base):
    """A tawk.to property (``id`` is its 24-hex propertyId) mapped to the app it chats for, so a
    site keeps tawk.to's embed snippet with only its URL changed."""

    __tablename__ = "tawk_properties"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class TawkWidget(Base):
    """One widget of a property, named by its widgetId within it, and what it shows (checked by
    :func:`porch_server.rules.properties.checked_widget`)."""

    __tablename__ = "tawk_widgets"

    property_id: Mapped[str] = mapped_column(ForeignKey("tawk_properties.id"), primary_key=True)
    widget_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    position: Mapped[str] = mapped_column(String(2))
    colour: Mapped[str] = mapped_column(String(7))
    greeting: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class LoginNonce(Base):
    """A business login's ``ranstr`` that verified once for this app, kept until it expires:
    its primary key makes the second use of a ``ranstr`` fail, in any number of processes."""

    __tablename__ = "login_nonces"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), primary_key=True)
    ranstr: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
