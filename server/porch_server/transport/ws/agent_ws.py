"""``/ws/agent``: the agent console's socket.

The first frame must be ``agent.hello``: the console authenticates with its session cookie (only
when the handshake's ``Origin`` is this server's own, which stops cross-site WebSocket
hijacking), API clients with the ``token`` in the hello. The server answers ``agent.welcome``
(the app's conversations and team), then serves the frames of :data:`porch_protocol.AGENT_SENDS`
for conversations of the agent's app only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket

from porch_protocol import (
    AGENT_SENDS,
    AgentHello,
    AgentPresenceChanged,
    AgentWelcome,
    AppUpdated,
    AssignConversation,
    ChangeTags,
    CloseCode,
    ConversationHistory,
    ConversationUpdated,
    EndConversation,
    LeaveConversation,
    Message,
    OpenConversation,
    ReadUpdated,
    ReadUpTo,
    RequestDone,
    RevokeVisitor,
    SearchConversations,
    SearchResults,
    SendMessage,
    SetPresence,
    SetTyping,
    TypingChanged,
    UpdateApp,
)
from porch_server.context import Context, context_of
from porch_server.realtime.hub import Channel
from porch_server.realtime.status import agent_info, team
from porch_server.rules import apps, properties
from porch_server.rules.messages import message_problem
from porch_server.rules.security import token_hash
from porch_server.rules.visitor_data import RequestFailed
from porch_server.storage import records, store
from porch_server.storage.models import Agent, App, Conversation
from porch_server.storage.writer import NewPost
from porch_server.transport.credentials import SESSION_COOKIE, cookie_origin_ok
from porch_server.transport.ws import chat
from porch_server.transport.ws.connection import Connection
from porch_server.transport.ws.sessions import auth_closed, serve_session

#: Conversations listed in a welcome, most recently updated first.
WELCOME_CONVERSATION_LIMIT = 200
#: Messages sent when a conversation is opened (the latest ones).
HISTORY_MESSAGE_LIMIT = 500
#: Past conversations and events shown beside a conversation.
PAST_CONVERSATION_LIMIT = 20
EVENT_LIMIT = 100
#: Conversations a search returns.
SEARCH_LIMIT = 50

_AFTER_HELLO = AGENT_SENDS - {AgentHello}


@dataclass(frozen=True)
class _Agent:
    agent_id: int
    app_id: int
    admin: bool
    #: How the agent's messages are signed (agents are not renamed).
    name: str

    @property
    def channels(self) -> tuple[Channel, ...]:
        own = (Channel.agents(self.app_id), Channel.agent(self.agent_id))
        return (*own, Channel.admins(self.app_id)) if self.admin else own

    @property
    def presence_channel(self) -> Channel:
        return Channel.agent(self.agent_id)


async def agent_socket(websocket: WebSocket) -> None:
    ctx = context_of(websocket)
    cookie_token = websocket.cookies.get(SESSION_COOKIE)
    same_origin = cookie_origin_ok(websocket)

    async def welcome(
        conn: Connection, hello: AgentHello, join: Callable[[_Agent], Awaitable[None]]
    ) -> _Agent | None:
        token = hello.token or (cookie_token if same_origin else None)
        return await _welcome(ctx, conn, token, join)

    async def handle(conn: Connection, who: _Agent, frame: Message) -> None:
        if isinstance(frame, SendMessage) and await _send_known(ctx, conn, who, frame):
            return
        async with ctx.sessions() as session:
            agent = await session.get(Agent, who.agent_id)
            assert agent is not None
            await _HANDLERS[type(frame)](ctx, session, conn, agent, frame)

    async def presence(conn: Connection, who: _Agent, joined: bool) -> None:
        await _agent_presence(ctx, conn, who)

    await serve_session(
        websocket,
        ctx.hub,
        ctx.limiter,
        ctx.settings.hello_timeout,
        AgentHello,
        _AFTER_HELLO,
        welcome,
        handle,
        presence,
    )


async def _welcome(
    ctx: Context, conn: Connection, token: str | None, join: Callable[[_Agent], Awaitable[None]]
) -> _Agent | None:
    if not token:
        conn.fail(
            "unauthorized",
            "log in first: no token in agent.hello and no session cookie from this origin",
            CloseCode.UNAUTHORIZED,
        )
        return None
    async with ctx.sessions() as session:
        agent = await store.agent_for_token(session, token_hash(token), ctx.now_ms())
        if agent is None:
            conn.fail("unauthorized", "the token is invalid or expired", CloseCode.UNAUTHORIZED)
            return None
        who = _Agent(
            agent_id=agent.id, app_id=agent.app_id, admin=agent.role == "admin", name=agent.name
        )
        await join(who)  # before the reads below: see sessions.serve_session
        rows = await store.summary_rows(session, agent.app_id, WELCOME_CONVERSATION_LIMIT)
        colleagues = await team(session, ctx.hub, agent.app_id)
        app = await session.get(App, agent.app_id)
        assert app is not None
        settings = await store.app_settings(session, app) if agent.role == "admin" else None
    me = records.agent_info(agent, connected=True)
    conn.release(
        AgentWelcome(
            agent_id=str(agent.id),
            agent_name=agent.name,
            conversations=await chat.summaries(ctx, rows),
            role=me.role,
            presence=me.presence,
            # The presence hook runs after the welcome: show the agent as connected already.
            agents=tuple(me if c.id == me.id else c for c in colleagues),
            app=settings,
        )
    )
    return who


async def _agent_presence(ctx: Context, conn: Connection, who: _Agent) -> None:
    """An agent's first socket made them present, or their last one leaving offline:
    colleagues get ``agent.presence`` (not the joining socket: its welcome said it) and visitors
    maybe a new page status."""
    await _publish_presence(ctx, who.agent_id, who.app_id, exclude=conn)


async def _publish_presence(
    ctx: Context, agent_id: int, app_id: int, exclude: Connection | None = None
) -> None:
    async with ctx.sessions() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        info = await agent_info(ctx.hub, agent)
    changed = AgentPresenceChanged(agent=info)
    await ctx.hub.publish(Channel.agents(app_id), [changed], exclude=exclude)
    await ctx.status.refresh(ctx.sessions, ctx.hub, app_id, ctx.now_ms())


async def _conversation(
    session: AsyncSession, agent: Agent, conversation_id: str | None
) -> Conversation:
    """The named conversation of the agent's app; ``not_found`` for any other."""
    conversation = None
    if conversation_id is not None:
        conversation = await store.conversation_in_app(session, agent.app_id, conversation_id)
    if conversation is None:
        raise RequestFailed("not_found", f"no conversation {conversation_id!r}")
    return conversation


async def _open(
    ctx: Context, session: AsyncSession, conn: Connection, _agent: Agent, frame: OpenConversation
) -> None:
    conversation = await _conversation(session, _agent, frame.conversation_id)
    rows = await store.messages_after(session, conversation.id, 0, HISTORY_MESSAGE_LIMIT)
    visitor = await store.visitor_of(session, conversation)
    events = await store.visitor_events(session, visitor.id, EVENT_LIMIT)
    past_rows = await store.visitor_conversation_rows(
        session, visitor.id, PAST_CONVERSATION_LIMIT + 1
    )
    past = await chat.summaries(ctx, [r for r in past_rows if r[0].id != conversation.id])
    conn.send(
        ConversationHistory(
            conversation_id=conversation.id,
            messages=tuple(records.chat_message(r) for r in rows),
            visitor=records.visitor_details(visitor, events, past[:PAST_CONVERSATION_LIMIT]),
        )
    )


async def _send_known(ctx: Context, conn: Connection, who: _Agent, frame: SendMessage) -> bool:
    """The fast path of an agent's reply. The writer refuses it unless the conversation is of
    the agent's app, open, and the agent in it (the common case of a reply); False then, or when
    it does not apply (no conversation named, a file to check), and the caller takes the full
    path, which joins, reports what is wrong, or finds a resend."""
    if frame.conversation_id is None or frame.file_id is not None:
        return False
    post = NewPost(
        conversation_id=frame.conversation_id,
        author="agent",
        author_name=who.name,
        text=frame.text,
        client_id=frame.client_id,
        now_ms=ctx.now_ms(),
        guarded=True,
        agent_id=who.agent_id,
        app_id=who.app_id,
    )
    return await chat.post_fast(ctx, conn, frame, post)


async def _send(
    ctx: Context, session: AsyncSession, conn: Connection, agent: Agent, frame: SendMessage
) -> None:
    if frame.conversation_id is None:
        raise RequestFailed("bad_message", "conversation_id is required")
    problem = message_problem(frame)
    if problem is not None:
        raise RequestFailed("bad_message", problem)
    conversation = await _conversation(session, agent, frame.conversation_id)
    file = await chat.attachment(session, frame, "agent", agent.id)
    if conversation.ended_at is not None or agent.id not in conversation.agent_ids:
        # A new message needs the chat open, and the first reply in a conversation the agent is
        # not in claims (or joins) it; a resend of a stored message does neither. In the common
        # case (open, joined) the writer alone tells a resend, with no lookup here.
        stored = await store.message_by_client_id(
            session, conversation.id, "agent", frame.client_id
        )
        if stored is None:
            chat.check_open(conversation)
            await chat.join(ctx, session, conversation, agent)  # commits with its system message
    post = NewPost(
        conversation_id=conversation.id,
        author="agent",
        author_name=agent.name,
        text=frame.text,
        client_id=frame.client_id,
        now_ms=ctx.now_ms(),
        file=file,
    )
    posted = await chat.post_and_publish(ctx, conn, post)  # nothing uncommitted in the session
    assert posted  # an agent's post is not guarded


async def _read_up_to(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: ReadUpTo
) -> None:
    conversation = await _conversation(session, agent, frame.conversation_id)
    await store.mark_read(session, conversation, frame.seq, by="agent")
    await session.commit()
    updated = await chat.summary(ctx, session, conversation)
    # Other consoles of the app update their unread badges; the visitor sees a read receipt.
    await ctx.hub.publish(Channel.agents(agent.app_id), [ConversationUpdated(updated)])
    receipt = ReadUpdated(
        conversation_id=conversation.id, reader="agent", seq=conversation.agent_read_seq
    )
    await ctx.hub.publish(Channel.visitor(conversation.visitor_id), [receipt])


async def _typing(
    ctx: Context, session: AsyncSession, conn: Connection, agent: Agent, frame: SetTyping
) -> None:
    """Relayed to the visitor's tabs and the other consoles, never stored."""
    conversation = await _conversation(session, agent, frame.conversation_id)
    changed = TypingChanged(
        conversation_id=conversation.id, author="agent", name=agent.name, typing=frame.typing
    )
    await ctx.hub.publish(Channel.visitor(conversation.visitor_id), [changed])
    await ctx.hub.publish(Channel.agents(agent.app_id), [changed], exclude=conn)


async def _end(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: EndConversation
) -> None:
    conversation = await _conversation(session, agent, frame.conversation_id)
    await chat.end(ctx, session, conversation, "agent", agent)


async def _tags(
    ctx: Context, session: AsyncSession, conn: Connection, agent: Agent, frame: ChangeTags
) -> None:
    conversation = await _conversation(session, agent, frame.conversation_id)
    visitor = await store.visitor_of(session, conversation)
    await chat.update_tags(ctx, session, visitor, frame.add, frame.remove, frame.version)
    conn.send(RequestDone(request_id=frame.request_id))


async def _presence(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: SetPresence
) -> None:
    agent.status = frame.status
    await session.commit()
    await _publish_presence(ctx, agent.id, agent.app_id)


async def _assign(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: AssignConversation
) -> None:
    """Join (to self), or assign/transfer to a colleague: they become the assignee and the
    sender, if in the chat, leaves it."""
    conversation = await _conversation(session, agent, frame.conversation_id)
    chat.check_open(conversation)
    target = await store.agent_in_app(session, agent.app_id, frame.agent_id)
    if target is None:
        raise RequestFailed("not_found", f"no agent {frame.agent_id!r} in this app")
    if target.id == agent.id:
        await chat.join(ctx, session, conversation, agent)
        return
    if conversation.agent_ids[:1] == [target.id]:
        return  # already theirs
    others = [a for a in conversation.agent_ids if a not in (target.id, agent.id)]
    conversation.agent_ids = [target.id, *others]
    await chat.post_system(ctx, session, conversation, "transferred", agent=target)


async def _leave(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: LeaveConversation
) -> None:
    conversation = await _conversation(session, agent, frame.conversation_id)
    if agent.id not in conversation.agent_ids:
        raise RequestFailed("not_in_conversation", "you are not in this conversation")
    conversation.agent_ids = [a for a in conversation.agent_ids if a != agent.id]
    await chat.post_system(ctx, session, conversation, "agent_left", agent=agent)


async def _search(
    ctx: Context, session: AsyncSession, conn: Connection, agent: Agent, frame: SearchConversations
) -> None:
    query = frame.query.strip()
    rows = await store.search_rows(session, agent.app_id, query, SEARCH_LIMIT) if query else []
    conversations = await chat.summaries(ctx, rows)
    conn.send(SearchResults(request_id=frame.request_id, conversations=conversations))


async def _update_app(
    ctx: Context, session: AsyncSession, conn: Connection, agent: Agent, frame: UpdateApp
) -> None:
    if agent.role != "admin":
        raise RequestFailed("forbidden", "only admins may change the app's settings")
    app = await session.get(App, agent.app_id)
    assert app is not None
    if frame.app.appid != app.appid:
        raise RequestFailed("invalid_app", f"appid cannot change (it is {app.appid!r})")
    current = await store.app_settings(session, app)
    try:
        settings = apps.checked_settings(frame.app)
        wanted = frame.app.tawk_widgets
        widgets = (
            None if wanted is None else properties.checked_widgets(wanted, current.tawk_properties)
        )
    except apps.InvalidSettings as exc:
        raise RequestFailed("invalid_app", str(exc)) from exc
    # Nothing is written before every check passed; one commit for the app and its widgets.
    store.apply_app_settings(app, settings)
    if widgets is not None:
        await store.set_tawk_widgets(session, app, widgets, ctx.now_ms())
    await session.commit()
    conn.send(RequestDone(request_id=frame.request_id))
    updated = AppUpdated(app=await store.app_settings(session, app))
    await ctx.hub.publish(Channel.admins(app.id), [updated])
    await ctx.status.refresh(ctx.sessions, ctx.hub, app.id, ctx.now_ms())


async def _revoke(
    ctx: Context, session: AsyncSession, _conn: Connection, agent: Agent, frame: RevokeVisitor
) -> None:
    conversation = await _conversation(session, agent, frame.conversation_id)
    visitor = await store.visitor_of(session, conversation)
    if visitor.revoked_at is None:
        visitor.revoked_at = ctx.now_ms()
        await session.commit()
    await ctx.hub.close_channel(
        Channel.visitor(visitor.id), [auth_closed(frame.reason)], CloseCode.AUTH_CLOSED
    )
    updated = await chat.summary(ctx, session, conversation)
    await ctx.hub.publish(Channel.agents(agent.app_id), [ConversationUpdated(updated)])


_Handler = Callable[[Context, AsyncSession, Connection, Agent, Any], Awaitable[None]]
_HANDLERS: dict[type[Message], _Handler] = {
    OpenConversation: _open,
    SendMessage: _send,
    ReadUpTo: _read_up_to,
    RevokeVisitor: _revoke,
    SetTyping: _typing,
    EndConversation: _end,
    ChangeTags: _tags,
    SetPresence: _presence,
    AssignConversation: _assign,
    LeaveConversation: _leave,
    SearchConversations: _search,
    UpdateApp: _update_app,
}
