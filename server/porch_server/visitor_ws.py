"""``/ws/visitor``: the visitor runtime's socket.

The first frame must be ``visitor.hello`` with a bootstrap ticket; the server answers
``visitor.welcome`` (who the visitor is, and what they missed), then accepts ``message.send`` and
``conversation.read``. Several sockets (tabs) may belong to one visitor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket

from porch_protocol import (
    AuthClosed,
    CloseCode,
    ConversationUpdated,
    ErrorFrame,
    Message,
    MessageAck,
    NewMessage,
    ReadUpTo,
    SendMessage,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
)
from porch_protocol.wire import IdentitySource
from porch_server import records, store
from porch_server.connection import Connection
from porch_server.context import Context, context_of
from porch_server.hub import Channel
from porch_server.messages import message_problem
from porch_server.models import App, Visitor
from porch_server.origins import hostname_allowed, origin_hostname
from porch_server.security import sign_visitor, verify_ticket, verify_visitor
from porch_server.sessions import serve_session
from porch_server.signing import verify_business_user

#: Messages carried in a welcome; an older backlog is the runtime's to page in (not yet offered).
WELCOME_MESSAGE_LIMIT = 200

#: What ``auth.closed`` tells a revoked visitor.
REVOKED_MESSAGE = "This chat session was closed by the site."

_AFTER_HELLO = (SendMessage, ReadUpTo)


@dataclass(frozen=True)
class _Visitor:
    """Who this socket speaks for, fixed at hello."""

    app_id: int
    visitor_id: int

    @property
    def channel(self) -> Channel:
        return Channel.visitor(self.visitor_id)


class _LoginFailed(Exception):
    pass


async def visitor_socket(websocket: WebSocket) -> None:
    ctx = context_of(websocket)

    async def welcome(conn: Connection, hello: VisitorHello) -> _Visitor | None:
        return await _welcome(ctx, conn, hello)

    async def handle(conn: Connection, who: _Visitor, frame: Message) -> None:
        if isinstance(frame, SendMessage):
            await _send(ctx, conn, who, frame)
        elif isinstance(frame, ReadUpTo):
            await _read_up_to(ctx, who, frame)

    await serve_session(
        websocket, ctx.hub, ctx.settings.hello_timeout, VisitorHello, _AFTER_HELLO, welcome, handle
    )


async def _welcome(ctx: Context, conn: Connection, hello: VisitorHello) -> _Visitor | None:
    """Authenticate the hello and send ``visitor.welcome``; None (socket closing) on failure."""
    ticket = verify_ticket(ctx.ticket_secret, hello.ticket, ctx.now_ms())
    if ticket is None:
        conn.fail("unauthorized", "the ticket is invalid or expired", CloseCode.UNAUTHORIZED)
        return None
    async with ctx.sessions() as session:
        app = await store.app_by_appid(session, ticket.appid)
        if app is None:
            conn.fail(
                "invalid_bootstrap", f"unknown appid {ticket.appid!r}", CloseCode.INVALID_BOOTSTRAP
            )
            return None
        if not hostname_allowed(origin_hostname(ticket.origin), app.allowed_domains):
            conn.fail(
                "domain_not_whitelisted",
                f"origin {ticket.origin!r} is no longer allowed",
                CloseCode.DOMAIN_NOT_WHITELISTED,
            )
            return None
        try:
            visitor, source = await _resolve_visitor(session, app, hello, ctx.now_ms())
        except _LoginFailed:
            conn.fail("login_failed", "the business login did not verify", CloseCode.LOGIN_FAILED)
            return None
        store.apply_profile(visitor, hello.profile, hello.locale)
        await session.commit()

        conversation = await store.latest_conversation(session, visitor)
        rows = []
        if conversation is not None:
            rows = await store.messages_after(
                session, conversation.id, hello.last_seq, WELCOME_MESSAGE_LIMIT
            )
    conn.send(
        VisitorWelcome(
            visitor_uid=visitor.uid,
            fkid=str(visitor.id),
            identity=VisitorIdentity(
                bs=visitor.public_id, bs_mm=sign_visitor(app.secret, visitor.public_id)
            ),
            source=source,
            conversation_id=conversation.id if conversation else None,
            messages=tuple(records.chat_message(r) for r in rows),
            last_read_seq=conversation.visitor_read_seq if conversation else 0,
            last_seq=conversation.last_seq if conversation else 0,
        )
    )
    return _Visitor(app_id=app.id, visitor_id=visitor.id)


async def _resolve_visitor(
    session: AsyncSession, app: App, hello: VisitorHello, now_ms: int
) -> tuple[Visitor, IdentitySource]:
    """The visitor this hello speaks for, and whether its presented identity was kept."""
    presented = None
    if hello.identity is not None and verify_visitor(
        app.secret, hello.identity.bs, hello.identity.bs_mm
    ):
        presented = await store.visitor_by_public_id(session, app, hello.identity.bs)
        if presented is not None and presented.revoked_at is not None:
            presented = None

    login = hello.login
    if login is not None:
        if not verify_business_user(app.secret, login.sbs, login.ranstr, login.sbs_mm):
            raise _LoginFailed
        visitor = await store.visitor_by_external_id(session, app, login.sbs)
        if visitor is not None and visitor.revoked_at is not None:
            # The site vouches for this user again, but the revoked token must stay dead: detach
            # the old record and start a fresh one for the same business user.
            visitor.external_id = None
            await session.flush()
            visitor = None
        if visitor is None:
            visitor = await store.create_visitor(session, app, now_ms, external_id=login.sbs)
        for name in ("name", "nickname", "email", "phone"):
            value = getattr(login, name)
            if value is not None:
                setattr(visitor, name, value)
        return visitor, "initial" if presented is visitor else "resolved"

    if presented is not None:
        return presented, "initial"
    return await store.create_visitor(session, app, now_ms), "resolved"


def _display_name(visitor: Visitor) -> str:
    return visitor.name or visitor.nickname or "Visitor"


async def _send(ctx: Context, conn: Connection, who: _Visitor, frame: SendMessage) -> None:
    problem = message_problem(frame)
    if problem is not None:
        conn.send(ErrorFrame(code="bad_message", message=problem))
        return
    async with ctx.sessions() as session:
        visitor = await session.get(Visitor, who.visitor_id)
        assert visitor is not None
        conversation = await store.latest_conversation(session, visitor)
        if conversation is None:
            conversation = await store.create_conversation(session, visitor, ctx.now_ms())
        posted = await store.post_message(
            session,
            conversation,
            author="visitor",
            author_name=_display_name(visitor),
            text=frame.text,
            client_id=frame.client_id,
            now_ms=ctx.now_ms(),
        )
        message = records.chat_message(posted.message)
        summary = await store.summary(session, conversation) if posted.created else None
    conn.send(MessageAck(client_id=frame.client_id, message=message))
    if summary is None:
        return  # a resend: everyone else saw it the first time
    await ctx.hub.publish(who.channel, [NewMessage(message)], exclude=conn)
    await ctx.hub.publish(
        Channel.agents(who.app_id), [NewMessage(message), ConversationUpdated(summary)]
    )


async def _read_up_to(ctx: Context, who: _Visitor, frame: ReadUpTo) -> None:
    async with ctx.sessions() as session:
        visitor = await session.get(Visitor, who.visitor_id)
        assert visitor is not None
        conversation = await store.latest_conversation(session, visitor)
        if conversation is None:
            return
        await store.mark_read(session, conversation, frame.seq, by="visitor")
        await session.commit()


def auth_closed(reason: str) -> AuthClosed:
    """The frame a revoked visitor's sockets get before closing with AUTH_CLOSED."""
    return AuthClosed(
        reason=reason, message=REVOKED_MESSAGE, close_auth_type="revoked", clear_token=True
    )
