"""``/ws/agent``: the agent console's socket.

The first frame must be ``agent.hello`` with a login token; the server answers
``agent.welcome`` (the app's conversations), then serves ``conversation.open``,
``message.send``, ``conversation.read`` and ``visitor.revoke`` for conversations of the agent's
app only.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.websockets import WebSocket

from porch_protocol import (
    AGENT_SENDS,
    AgentHello,
    AgentWelcome,
    CloseCode,
    ConversationHistory,
    ConversationUpdated,
    ErrorFrame,
    Message,
    MessageAck,
    NewMessage,
    OpenConversation,
    ReadUpTo,
    RevokeVisitor,
    SendMessage,
)
from porch_server import records, store
from porch_server.connection import Connection
from porch_server.context import Context, context_of
from porch_server.hub import Channel
from porch_server.messages import message_problem
from porch_server.security import token_hash
from porch_server.sessions import serve_session
from porch_server.visitor_ws import auth_closed

#: Conversations listed in a welcome, most recently updated first.
WELCOME_CONVERSATION_LIMIT = 200
#: Messages sent when a conversation is opened (the latest ones).
HISTORY_MESSAGE_LIMIT = 500

_AFTER_HELLO = AGENT_SENDS - {AgentHello}


@dataclass(frozen=True)
class _Agent:
    agent_id: int
    app_id: int
    name: str

    @property
    def channel(self) -> Channel:
        return Channel.agents(self.app_id)


async def agent_socket(websocket: WebSocket) -> None:
    ctx = context_of(websocket)

    async def welcome(conn: Connection, hello: AgentHello) -> _Agent | None:
        return await _welcome(ctx, conn, hello)

    async def handle(conn: Connection, who: _Agent, frame: Message) -> None:
        if isinstance(frame, OpenConversation):
            await _open(ctx, conn, who, frame)
        elif isinstance(frame, SendMessage):
            await _send(ctx, conn, who, frame)
        elif isinstance(frame, ReadUpTo):
            await _read_up_to(ctx, conn, who, frame)
        elif isinstance(frame, RevokeVisitor):
            await _revoke(ctx, conn, who, frame)

    await serve_session(
        websocket, ctx.hub, ctx.settings.hello_timeout, AgentHello, _AFTER_HELLO, welcome, handle
    )


async def _welcome(ctx: Context, conn: Connection, hello: AgentHello) -> _Agent | None:
    async with ctx.sessions() as session:
        agent = await store.agent_for_token(session, token_hash(hello.token), ctx.now_ms())
        if agent is None:
            conn.fail("unauthorized", "the token is invalid or expired", CloseCode.UNAUTHORIZED)
            return None
        summaries = await store.summaries(session, agent.app_id, WELCOME_CONVERSATION_LIMIT)
    conn.send(
        AgentWelcome(agent_id=str(agent.id), agent_name=agent.name, conversations=tuple(summaries))
    )
    return _Agent(agent_id=agent.id, app_id=agent.app_id, name=agent.name)


def _not_found(conn: Connection, conversation_id: str | None) -> None:
    conn.send(ErrorFrame(code="not_found", message=f"no conversation {conversation_id!r}"))


async def _open(ctx: Context, conn: Connection, who: _Agent, frame: OpenConversation) -> None:
    async with ctx.sessions() as session:
        conversation = await store.conversation_in_app(session, who.app_id, frame.conversation_id)
        if conversation is None:
            _not_found(conn, frame.conversation_id)
            return
        rows = await store.messages_after(session, conversation.id, 0, HISTORY_MESSAGE_LIMIT)
    conn.send(
        ConversationHistory(
            conversation_id=conversation.id,
            messages=tuple(records.chat_message(r) for r in rows),
        )
    )


async def _send(ctx: Context, conn: Connection, who: _Agent, frame: SendMessage) -> None:
    if frame.conversation_id is None:
        conn.send(ErrorFrame(code="bad_message", message="conversation_id is required"))
        return
    problem = message_problem(frame)
    if problem is not None:
        conn.send(ErrorFrame(code="bad_message", message=problem))
        return
    async with ctx.sessions() as session:
        conversation = await store.conversation_in_app(session, who.app_id, frame.conversation_id)
        if conversation is None:
            _not_found(conn, frame.conversation_id)
            return
        posted = await store.post_message(
            session,
            conversation,
            author="agent",
            author_name=who.name,
            text=frame.text,
            client_id=frame.client_id,
            now_ms=ctx.now_ms(),
        )
        message = records.chat_message(posted.message)
        summary = await store.summary(session, conversation) if posted.created else None
    conn.send(MessageAck(client_id=frame.client_id, message=message))
    if summary is None:
        return  # a resend: everyone else saw it the first time
    await ctx.hub.publish(Channel.visitor(conversation.visitor_id), [NewMessage(message)])
    await ctx.hub.publish(who.channel, [NewMessage(message)], exclude=conn)
    await ctx.hub.publish(who.channel, [ConversationUpdated(summary)])


async def _read_up_to(ctx: Context, conn: Connection, who: _Agent, frame: ReadUpTo) -> None:
    async with ctx.sessions() as session:
        conversation = None
        if frame.conversation_id is not None:
            conversation = await store.conversation_in_app(
                session, who.app_id, frame.conversation_id
            )
        if conversation is None:
            _not_found(conn, frame.conversation_id)
            return
        await store.mark_read(session, conversation, frame.seq, by="agent")
        await session.commit()
        summary = await store.summary(session, conversation)
    # Other consoles of the app update their unread badges.
    await ctx.hub.publish(who.channel, [ConversationUpdated(summary)])


async def _revoke(ctx: Context, conn: Connection, who: _Agent, frame: RevokeVisitor) -> None:
    async with ctx.sessions() as session:
        conversation = await store.conversation_in_app(session, who.app_id, frame.conversation_id)
        if conversation is None:
            _not_found(conn, frame.conversation_id)
            return
        visitor = await store.visitor_of(session, conversation)
        if visitor.revoked_at is None:
            visitor.revoked_at = ctx.now_ms()
            await session.commit()
        summary = await store.summary(session, conversation)
    await ctx.hub.close_channel(
        Channel.visitor(visitor.id), [auth_closed(frame.reason)], CloseCode.AUTH_CLOSED
    )
    await ctx.hub.publish(who.channel, [ConversationUpdated(summary)])
