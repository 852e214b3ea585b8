"""Turning database rows into the wire protocol's records."""

from __future__ import annotations

from typing import cast

from porch_protocol import ChatMessage, ConversationSummary
from porch_protocol.wire import Author
from porch_server.models import ChatMessageRow, Conversation, Visitor


def chat_message(row: ChatMessageRow) -> ChatMessage:
    return ChatMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        author=cast(Author, row.author),
        author_name=row.author_name,
        text=row.text,
        created_at=row.created_at,
        client_id=row.client_id,
    )


def conversation_summary(
    conversation: Conversation, visitor: Visitor, last: ChatMessageRow | None
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
    )
