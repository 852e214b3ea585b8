"""Conversation operations shared by the visitor and agent sockets: summaries with who is
online, posting and fanning out messages (system ones included), ending, tags.

Each function opens no session of its own unless it says so; the caller's transaction is
committed by :func:`porch_server.storage.store.post_message` before anything is published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import (
    AgentBrief,
    ChatMessage,
    ConversationEnded,
    ConversationSummary,
    ConversationUpdated,
    MessageAck,
    NewMessage,
    SendMessage,
    TagsUpdated,
)
from porch_protocol.wire import Author, SystemEvent
from porch_server.context import Context
from porch_server.realtime.hub import Channel, Peer
from porch_server.rules.messages import message_problem
from porch_server.rules.visitor_data import RequestFailed, change_tags
from porch_server.storage import records, store
from porch_server.storage.models import Agent, ChatMessageRow, Conversation, StoredFile, Visitor
from porch_server.storage.writer import NewPost
from porch_server.transport.ws.connection import Connection

#: English fallbacks of system events (clients word them from ``event`` and ``agent``).
_SYSTEM_TEXT: dict[SystemEvent, str] = {
    "agent_joined": "{agent} joined the chat",
    "agent_left": "{agent} left the chat",
    "transferred": "The chat was transferred to {agent}",
    "chat_ended": "The chat ended",
    "rated": "The visitor rated the chat",
    "offline_form": "The visitor left a message",
    "prechat": "The visitor answered the pre-chat form",
}


async def visitor_online(ctx: Context, visitor_id: int) -> bool:
    return await ctx.hub.listener_count(Channel.visitor(visitor_id)) > 0


async def summaries(
    ctx: Context, rows: Sequence[tuple[Conversation, Visitor, ChatMessageRow | None]]
) -> tuple[ConversationSummary, ...]:
    return tuple(
        [records.conversation_summary(c, v, m, await visitor_online(ctx, v.id)) for c, v, m in rows]
    )


async def summary(
    ctx: Context, session: AsyncSession, conversation: Conversation
) -> ConversationSummary:
    online = await visitor_online(ctx, conversation.visitor_id)
    return await store.summary(session, conversation, online)


async def agent_briefs(session: AsyncSession, conversation: Conversation) -> tuple[AgentBrief, ...]:
    """The agents in the chat as the visitor sees them, the assignee first."""
    briefs = []
    for agent_id in conversation.agent_ids:
        agent = await session.get(Agent, int(agent_id))
        if agent is not None:
            briefs.append(records.agent_brief(agent))
    return tuple(briefs)


async def post_fast(ctx: Context, conn: Connection, frame: SendMessage, post: NewPost) -> bool:
    """The fast path of a typed message (``post`` is ``guarded``): no session, no read; the
    writer checks the sender's assumptions in its own transaction. False when the writer refused
    it: the caller then takes the full path, which reports what is wrong or finds a resend."""
    problem = message_problem(frame)
    if problem is not None:
        raise RequestFailed("bad_message", problem)
    return await post_and_publish(ctx, conn, post)


async def attachment(
    session: AsyncSession, frame: SendMessage, uploader: str, uploader_id: int
) -> StoredFile | None:
    """The file ``frame`` attaches, which must be an upload of this very sender (so nobody can
    pass off someone else's file id); None without ``file_id``."""
    if frame.file_id is None:
        return None
    file = await store.file_by_id(session, frame.file_id)
    if file is None or (file.uploader, file.uploader_id) != (uploader, uploader_id):
        raise RequestFailed("bad_file", f"no upload {frame.file_id!r} of yours")
    return file


async def post_and_publish(ctx: Context, conn: Connection, post: NewPost) -> bool:
    """Write a visitor's or agent's message through the group commit, publish it (with the
    conversation's summary as the writer's transaction left it) unless it is a resend, then
    acknowledge it to ``conn``. False when a ``guarded`` post was refused: nothing was written
    or sent. The caller commits its own session first: whatever it holds (a new conversation,
    an assignment) must be visible to the writer.

    The ack comes last so that an acknowledged message has been published: a console that
    subscribes after the ack lists the message and gets no late update for it."""
    written = await ctx.messages.submit(post)
    if written is None:
        return False
    message = written.message
    if written.created:  # a resend was published the first time
        to = written.conversation
        assert to is not None
        if not await ctx.hub.listener_count(Channel.agents(to.app_id)):
            # No console open anywhere: the visitor's other tabs get the message, and no
            # summary is built for nobody.
            channel = Channel.visitor(to.visitor_id)
            await ctx.hub.publish(channel, [NewMessage(message)], exclude=conn)
        else:
            online = await visitor_online(ctx, to.visitor_id)
            updated = records.written_summary(to, message, online)
            await _publish(ctx, to.app_id, to.visitor_id, message, updated, conn)
    conn.send(MessageAck(client_id=post.client_id, message=message))
    return True


async def publish_message(
    ctx: Context,
    conversation: Conversation,
    message: ChatMessage,
    updated: ConversationSummary,
    sender: Peer | None = None,
) -> None:
    """A new message reaches the visitor's tabs and the app's consoles (not ``sender``, who got
    its ack), with the conversation's new summary for the consoles.

    Consoles get the summary *before* the message: a console words some system messages (a
    rating) from the summary, so the summary must be current whenever the message is drawn."""
    await _publish(ctx, conversation.app_id, conversation.visitor_id, message, updated, sender)


async def _publish(
    ctx: Context,
    app_id: int,
    visitor_id: int,
    message: ChatMessage,
    updated: ConversationSummary,
    sender: Peer | None,
) -> None:
    new = NewMessage(message)
    await ctx.hub.publish(Channel.visitor(visitor_id), [new], exclude=sender)
    await ctx.hub.publish(Channel.agents(app_id), [ConversationUpdated(updated)])
    await ctx.hub.publish(Channel.agents(app_id), [new], exclude=sender)


async def post_system(
    ctx: Context,
    session: AsyncSession,
    conversation: Conversation,
    event: SystemEvent,
    *,
    agent: Agent | None = None,
    text: str | None = None,
) -> ChatMessage:
    """Post a ``system`` message recording ``event`` (committing whatever the session holds)
    and publish it to both sides."""
    wording = (
        text if text is not None else _SYSTEM_TEXT[event].format(agent=agent.name if agent else "")
    )
    return await post_with_changes(
        ctx,
        session,
        conversation,
        author="system",
        author_name="",
        text=wording,
        event=event,
        agent=records.agent_json(agent) if agent is not None else None,
    )


async def post_with_changes(
    ctx: Context,
    session: AsyncSession,
    conversation: Conversation,
    *,
    author: Author,
    author_name: str,
    text: str,
    event: SystemEvent | None = None,
    agent: dict[str, Any] | None = None,
) -> ChatMessage:
    """Post a message without a client id in the same transaction as the changes ``session``
    holds (an assignment, an end, a form's answers), and publish it to both sides.

    Messages with a client id (what visitors and agents type) go through the group commit
    (:func:`post_and_publish`) instead; a message that records a change must commit with it, so
    it takes the session's transaction."""
    posted = await store.post_message(
        session,
        conversation,
        author=author,
        author_name=author_name,
        text=text,
        client_id=None,
        now_ms=ctx.now_ms(),
        event=event,
        agent=agent,
    )
    message = records.chat_message(posted.message)
    await publish_message(ctx, conversation, message, await summary(ctx, session, conversation))
    return message


async def join(
    ctx: Context, session: AsyncSession, conversation: Conversation, agent: Agent
) -> None:
    """Add ``agent`` to the chat (no-op when already in it), with an ``agent_joined`` message."""
    if agent.id in conversation.agent_ids:
        return
    conversation.agent_ids = [*conversation.agent_ids, agent.id]
    await post_system(ctx, session, conversation, "agent_joined", agent=agent)


def check_open(conversation: Conversation) -> None:
    if conversation.ended_at is not None:
        raise RequestFailed("conversation_ended", f"conversation {conversation.id} has ended")


async def end(
    ctx: Context, session: AsyncSession, conversation: Conversation, by: Author, agent: Agent | None
) -> None:
    """End the chat: ``conversation.ended`` to both sides and a ``chat_ended`` message. The
    visitor's next message starts a new conversation."""
    check_open(conversation)
    conversation.ended_at = ctx.now_ms()
    conversation.ended_by = by
    await post_system(ctx, session, conversation, "chat_ended", agent=agent)
    ended = ConversationEnded(conversation_id=conversation.id, by=by)
    await ctx.hub.publish(Channel.visitor(conversation.visitor_id), [ended])
    await ctx.hub.publish(Channel.agents(conversation.app_id), [ended])


async def update_tags(
    ctx: Context,
    session: AsyncSession,
    visitor: Visitor,
    add: Sequence[str],
    remove: Sequence[str],
    version: int | None,
) -> None:
    """Apply a ``tags.change`` and publish ``tags.updated`` to the visitor's tabs and the
    consoles. With ``version`` the change applies only at that version (else
    ``VERSION_CONFLICT``); without, it retries on top of a concurrent change."""
    while True:
        await session.refresh(visitor)
        if version is not None and version != visitor.tags_version:
            raise RequestFailed(
                "VERSION_CONFLICT",
                f"tags are at version {visitor.tags_version}, not {version}",
            )
        tags = change_tags(visitor.tags, add, remove)
        if await store.set_tags(session, visitor, tags, visitor.tags_version):
            await session.commit()
            break
    updated = TagsUpdated(
        visitor_uid=visitor.uid, tags=tuple(visitor.tags), version=visitor.tags_version
    )
    await ctx.hub.publish(Channel.visitor(visitor.id), [updated])
    await ctx.hub.publish(Channel.agents(visitor.app_id), [updated])
