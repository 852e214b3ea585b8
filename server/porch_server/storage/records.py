"""Turning database rows into the wire protocol's records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from porch_protocol import (
    AgentBrief,
    AgentInfo,
    AppSettings,
    ChatMessage,
    ConversationSummary,
    FileRef,
    TawkWidgetSettings,
    VisitorDetails,
    VisitorEventRecord,
    WidgetSettings,
)
from porch_protocol.wire import Author, MaskKind, Rating, Role, Scalar, Status, SystemEvent
from porch_server.rules.apps import fields_from_json, hours_from_json
from porch_server.storage.models import (
    Agent,
    App,
    ChatMessageRow,
    Conversation,
    StoredFile,
    TawkWidget,
    Visitor,
    VisitorEvent,
)

if TYPE_CHECKING:  # the store imports this module
    from porch_server.storage.writer import WrittenTo


def file_ref(row: StoredFile) -> FileRef:
    return file_ref_of(row.id, row.name, row.size, row.content_type)


def file_ref_of(file_id: str, name: str, size: int, content_type: str) -> FileRef:
    return FileRef(
        id=file_id,
        name=name,
        size=size,
        content_type=content_type,
        url=f"/files/{file_id}/{quote(name, safe='')}",
    )


def agent_brief(agent: Agent) -> AgentBrief:
    return AgentBrief(id=str(agent.id), name=agent.name)


def agent_json(agent: Agent) -> dict[str, Any]:
    """How a message stores the agent a system event names."""
    return {"id": str(agent.id), "name": agent.name}


def agent_info(agent: Agent, connected: bool) -> AgentInfo:
    """``presence`` is the agent's chosen status while connected, ``offline`` otherwise."""
    return AgentInfo(
        id=str(agent.id),
        name=agent.name,
        email=agent.email,
        role=cast(Role, agent.role),
        presence=cast(Status, agent.status) if connected else "offline",
    )


def chat_message(row: ChatMessageRow) -> ChatMessage:
    agent = row.agent
    return ChatMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        author=cast(Author, row.author),
        author_name=row.author_name,
        text=row.text,
        created_at=row.created_at,
        client_id=row.client_id,
        file=file_ref(row.file) if row.file is not None else None,
        event=cast(SystemEvent | None, row.event),
        agent=AgentBrief(id=agent["id"], name=agent["name"]) if agent else None,
        masked=cast(tuple[MaskKind, ...], tuple(row.masked or ())),
    )


def display_name(visitor: Visitor) -> str:
    """How the visitor's messages are signed."""
    return signature(visitor.name, visitor.nickname)


def signature(name: str | None, nickname: str | None) -> str:
    """How a visitor of this name and nickname signs messages (:func:`display_name` of a row;
    the message writer has the two values, not the row)."""
    return name or nickname or "Visitor"


def rating_of(conversation: Conversation | None) -> Rating | None:
    return cast(Rating | None, conversation.rating) if conversation is not None else None


def conversation_summary(
    conversation: Conversation,
    visitor: Visitor,
    last: ChatMessageRow | None,
    visitor_online: bool = False,
) -> ConversationSummary:
    """What the agent console lists; ``closed`` once the visitor's authentication was revoked."""
    return ConversationSummary(
        id=conversation.id,
        visitor_uid=visitor.uid,
        visitor_name=visitor.name or visitor.nickname,
        visitor_email=visitor.email,
        referer=visitor.referer,
        source_title=visitor.source_title,
        last_seq=conversation.last_seq,
        agent_read_seq=conversation.agent_read_seq,
        updated_at=conversation.updated_at,
        last_message=chat_message(last) if last is not None else None,
        closed=visitor.revoked_at is not None,
        ended=conversation.ended_at is not None,
        agent_ids=tuple(str(a) for a in conversation.agent_ids),
        rating=rating_of(conversation),
        tags=tuple(visitor.tags),
        tags_version=visitor.tags_version,
        visitor_online=visitor_online,
        offline=conversation.offline,
    )


def written_summary(
    to: WrittenTo, message: ChatMessage, visitor_online: bool
) -> ConversationSummary:
    """The summary of a conversation that ``message`` was just written to, from what the
    writer's transaction read (:class:`porch_server.storage.writer.WrittenTo`): the message is
    its latest as far as this summary goes; a later one of the same batch publishes its own right
    after."""
    return ConversationSummary(
        id=to.id,
        visitor_uid=to.visitor_uid,
        visitor_name=to.visitor_name or to.visitor_nickname,
        visitor_email=to.visitor_email,
        referer=to.referer,
        source_title=to.source_title,
        last_seq=message.seq,
        agent_read_seq=to.agent_read_seq,
        updated_at=message.created_at,
        last_message=message,
        closed=to.revoked,
        ended=to.ended,
        agent_ids=to.agent_ids,
        rating=cast(Rating | None, to.rating),
        tags=to.tags,
        tags_version=to.tags_version,
        visitor_online=visitor_online,
        offline=to.offline,
    )


def visitor_details(
    visitor: Visitor,
    events: Iterable[VisitorEvent],
    past: Iterable[ConversationSummary],
) -> VisitorDetails:
    return VisitorDetails(
        uid=visitor.uid,
        name=visitor.name,
        nickname=visitor.nickname,
        email=visitor.email,
        phone=visitor.phone,
        referer=visitor.referer,
        source_title=visitor.source_title,
        locale=visitor.locale,
        attributes=cast(dict[str, Scalar], dict(visitor.attributes)),
        email_verified=visitor.email_verified,
        events=tuple(
            VisitorEventRecord(
                name=e.name, metadata=dict(e.event_metadata), created_at=e.created_at
            )
            for e in events
        ),
        past_conversations=tuple(past),
    )


def app_settings(app: App, tawk: Iterable[tuple[str, Iterable[TawkWidget]]] = ()) -> AppSettings:
    """``tawk``: the app's tawk.to property ids with their widgets, in the order to show them
    (:func:`porch_server.storage.store.tawk_properties` orders by property then widget id)."""
    listed = [(property_id, list(widgets)) for property_id, widgets in tawk]
    return AppSettings(
        appid=app.appid,
        name=app.name,
        allowed_domains=tuple(str(d) for d in app.allowed_domains),
        offline_message=app.offline_message,
        business_hours=hours_from_json(app.business_hours),
        prechat_fields=fields_from_json(app.prechat_fields),
        tawk_widgets=tuple(tawk_widget_settings(w) for _, widgets in listed for w in widgets),
        tawk_properties=tuple(property_id for property_id, _ in listed),
    )


def tawk_widget_settings(widget: TawkWidget) -> TawkWidgetSettings:
    return TawkWidgetSettings(
        property_id=widget.property_id,
        widget_id=widget.widget_id,
        language=widget.language,
        position=widget.position,
        colour=widget.colour,
        greeting=widget.greeting,
    )


def widget_settings(app: App, upload_max_bytes: int, upload_types: Iterable[str]) -> WidgetSettings:
    return WidgetSettings(
        app_name=app.name,
        offline_message=app.offline_message,
        prechat_fields=fields_from_json(app.prechat_fields),
        upload_max_bytes=upload_max_bytes,
        upload_types=tuple(upload_types),
    )
