"""``/ws/visitor``: the visitor runtime's socket.

The first frame must be ``visitor.hello`` with a bootstrap ticket; the server answers
``visitor.welcome`` (who the visitor is, and what they missed), then accepts the frames of
:data:`porch_protocol.VISITOR_SENDS`. Several sockets (tabs) may belong to one visitor. A visitor
only ever reaches its own latest conversation: no frame names another.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket

from porch_protocol import (
    VISITOR_SENDS,
    AgentBrief,
    BusinessLogin,
    ChangeTags,
    CloseCode,
    ConversationUpdated,
    DeleteConversations,
    EndConversation,
    FormAnswer,
    Message,
    RateConversation,
    ReadUpdated,
    ReadUpTo,
    RequestDone,
    SendMessage,
    SetTyping,
    SubmitOffline,
    SubmitPrechat,
    TrackEvent,
    TypingChanged,
    UpdateVisitor,
    VisitorHello,
    VisitorIdentity,
    VisitorProfile,
    VisitorWelcome,
)
from porch_protocol.wire import IdentitySource
from porch_server.context import Context, context_of
from porch_server.realtime import retention
from porch_server.realtime.hub import Channel
from porch_server.realtime.limits import Rule, address_of, retry_message
from porch_server.realtime.status import current_status
from porch_server.rules.apps import fields_from_json
from porch_server.rules.files import UPLOAD_TYPES
from porch_server.rules.messages import message_problem
from porch_server.rules.origins import hostname_allowed, origin_hostname
from porch_server.rules.security import (
    issue_upload_token,
    sign_visitor,
    verify_ticket,
    verify_visitor,
)
from porch_server.rules.signing import (
    ranstr_current,
    ranstr_expires_at,
    verify_business_user,
    verify_tawk_hash,
)
from porch_server.rules.visitor_data import (
    PROFILE_ANSWERS,
    RequestFailed,
    check_event_name,
    check_offline,
    check_prechat,
    check_profile,
    check_scalars,
    merge_attributes,
    usable_locale,
    usable_profile,
)
from porch_server.storage import erasure, records, store
from porch_server.storage.models import App, Conversation, Visitor
from porch_server.storage.writer import NewPost
from porch_server.transport.ws import chat
from porch_server.transport.ws.connection import TRY_AGAIN_LATER, Connection
from porch_server.transport.ws.sessions import serve_session

log = logging.getLogger(__name__)

#: Messages carried in a welcome; an older backlog is the runtime's to page in (not yet offered).
WELCOME_MESSAGE_LIMIT = 200

#: English fallbacks of ``rated`` system messages, by rating.
_RATING_TEXT = {
    -1: "The visitor disliked the chat",
    0: "The visitor rated the chat neutral",
    1: "The visitor liked the chat",
}
#: Longest rating comment kept, in characters.
MAX_COMMENT_CHARS = 1000

_AFTER_HELLO = VISITOR_SENDS - {VisitorHello}


class _Visitor:
    """Who this socket speaks for (fixed at hello), and the conversation it last knew as the
    visitor's open one: a message goes straight to the group commit as a ``guarded`` post, which
    reads nothing first; the writer refuses it if that no longer holds (an end, a newer
    conversation, a revocation) and the message takes the full path instead."""

    __slots__ = ("app_id", "conversation_id", "visitor_id")

    def __init__(self, app_id: int, visitor_id: int, conversation_id: str | None) -> None:
        self.app_id = app_id
        self.visitor_id = visitor_id
        self.conversation_id = conversation_id

    @property
    def channels(self) -> tuple[Channel, ...]:
        return (Channel.visitor(self.visitor_id), Channel.visitors(self.app_id))

    @property
    def presence_channel(self) -> Channel:
        return Channel.visitor(self.visitor_id)


class _LoginFailed(Exception):
    pass


class _TooManyVisitors(Exception):
    """The hello's address made too many new visitors lately; ``args[0]`` is the wait (s)."""


async def visitor_socket(websocket: WebSocket) -> None:
    ctx = context_of(websocket)

    async def welcome(
        conn: Connection, hello: VisitorHello, join: Callable[[_Visitor], Awaitable[None]]
    ) -> _Visitor | None:
        return await _welcome(ctx, conn, hello, join)

    async def handle(conn: Connection, who: _Visitor, frame: Message) -> None:
        if isinstance(frame, SendMessage):
            # Per socket, then per visitor (all tabs): one socket alone cannot use the
            # visitor's whole allowance, and opening tabs does not multiply it.
            # (A later socket may reuse this id; it then inherits at most a burst of debt.)
            wait = await ctx.limiter.take(Rule.MESSAGES_PER_CONNECTION, str(id(conn)))
            wait = wait or await ctx.limiter.take(Rule.MESSAGES_PER_VISITOR, str(who.visitor_id))
            if wait:
                raise RequestFailed("rate_limited", retry_message("messages", wait))
            if await _send_known(ctx, conn, who, frame):
                return
        async with ctx.sessions() as session:
            visitor = await session.get(Visitor, who.visitor_id)
            if visitor is None:  # deleted (porch visitor delete) while connected
                raise RequestFailed("SESSION_EXPIRED", "this visitor was deleted")
            if visitor.revoked_at is not None:
                # The sockets are being closed (auth.closed); a frame that raced it gets this.
                raise RequestFailed("SESSION_EXPIRED", "this visitor's session was closed")
            if isinstance(frame, SendMessage):
                who.conversation_id = await _send(ctx, session, conn, visitor, frame)
            else:
                await _HANDLERS[type(frame)](ctx, session, conn, visitor, frame)

    async def presence(_conn: Connection, who: _Visitor, joined: bool) -> None:
        await _visitor_presence(ctx, who)

    await serve_session(
        websocket,
        ctx.hub,
        ctx.limiter,
        ctx.settings.hello_timeout,
        VisitorHello,
        _AFTER_HELLO,
        welcome,
        handle,
        presence,
    )


async def _welcome(
    ctx: Context, conn: Connection, hello: VisitorHello, join: Callable[[_Visitor], Awaitable[None]]
) -> _Visitor | None:
    """Authenticate the hello, join the visitor's channels, then read and send
    ``visitor.welcome``; None (socket closing) on failure."""
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

        async def new_visitor_wait() -> float:
            address = address_of(conn.websocket.client)
            return await ctx.limiter.take(Rule.NEW_VISITORS_PER_ADDRESS, address)

        try:
            visitor, source = await _resolve_visitor(
                session, app, hello, ctx.now_ms(), new_visitor_wait
            )
        except _LoginFailed:
            conn.fail("login_failed", "the business login did not verify", CloseCode.LOGIN_FAILED)
            return None
        except _TooManyVisitors as exc:
            message = retry_message("new visitors from this address", exc.args[0])
            conn.fail("rate_limited", message, TRY_AGAIN_LATER)
            return None
        profile = usable_profile(hello.profile)
        signed = _email_signed(app, profile, hello.profile_hash)
        store.apply_profile(visitor, profile, usable_locale(hello.locale), email_verified=signed)
        await session.commit()
        who = _Visitor(app.id, visitor.id, None)
        await join(who)  # before the reads below: see sessions.serve_session

        conversation = await store.latest_conversation(session, visitor)
        rows = []
        agents: tuple[AgentBrief, ...] = ()
        if conversation is not None:
            rows = await store.messages_after(
                session, conversation.id, hello.last_seq, WELCOME_MESSAGE_LIMIT
            )
            agents = await chat.agent_briefs(session, conversation)
        status = await current_status(session, ctx.hub, app, ctx.now_ms())
    await ctx.status.told(app.id, status)
    conn.release(
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
            page_status=status,
            widget=records.widget_settings(app, ctx.settings.upload_max_bytes, UPLOAD_TYPES),
            upload_token=issue_upload_token(ctx.ticket_secret, visitor.id, ctx.now_ms()),
            ended=conversation is not None and conversation.ended_at is not None,
            rating=records.rating_of(conversation),
            agents=agents,
            tags=tuple(visitor.tags),
            tags_version=visitor.tags_version,
            agent_read_seq=conversation.agent_read_seq if conversation else 0,
        )
    )
    if conversation is not None and conversation.ended_at is None:
        who.conversation_id = conversation.id
    return who


async def _visitor_presence(ctx: Context, who: _Visitor) -> None:
    """A visitor's first tab connected or last tab left: consoles see ``visitor_online``
    change on the visitor's latest conversation."""
    async with ctx.sessions() as session:
        visitor = await session.get(Visitor, who.visitor_id)
        conversation = await store.latest_conversation(session, visitor) if visitor else None
        if conversation is None:
            return
        updated = await chat.summary(ctx, session, conversation)
    await ctx.hub.publish(Channel.agents(who.app_id), [ConversationUpdated(updated)])


async def _resolve_visitor(
    session: AsyncSession,
    app: App,
    hello: VisitorHello,
    now_ms: int,
    new_visitor_wait: Callable[[], Awaitable[float]],
) -> tuple[Visitor, IdentitySource]:
    """The visitor this hello speaks for, and whether its presented identity was kept. An
    anonymous visitor is created only when ``new_visitor_wait`` says 0 (else
    :class:`_TooManyVisitors`); a site's signed logins are not limited."""
    presented = None
    if hello.identity is not None and verify_visitor(
        app.secret, hello.identity.bs, hello.identity.bs_mm
    ):
        presented = await store.visitor_by_public_id(session, app, hello.identity.bs)
        if presented is not None and presented.revoked_at is not None:
            presented = None

    login = hello.login
    if login is not None:
        if not await _fresh_login(session, app, login, now_ms):
            # Expired or used before: a replay. Only the visitor this business user already is
            # may present it again, with the identity it was given (a reloaded page, a restarted
            # worker); anyone else fails as with a bad signature.
            if presented is None or presented.external_id != login.sbs:
                raise _LoginFailed
            return presented, "initial"
        visitor = await _business_visitor(session, app, login.sbs, now_ms)
        signed = VisitorProfile(
            name=login.name, nickname=login.nickname, email=login.email, phone=login.phone
        )
        # The v2 signature covers the email: the site vouches for it.
        store.apply_profile(visitor, usable_profile(signed), None, email_verified=True)
        return visitor, "initial" if presented is visitor else "resolved"

    tawk = hello.tawk_login
    if tawk is not None:
        if not verify_tawk_hash(app.secret, tawk.user_id, tawk.hash):
            raise _LoginFailed
        visitor = await _business_visitor(session, app, tawk.user_id, now_ms)
        given = VisitorProfile(name=tawk.name, email=tawk.email, phone=tawk.phone)
        store.apply_profile(visitor, usable_profile(given), None)
        try:
            visitor.attributes = merge_attributes(visitor.attributes, tawk.attributes)
        except RequestFailed as exc:
            log.info("a tawk.to login's attributes were not stored: %s", exc)
        return visitor, "initial" if presented is visitor else "resolved"

    if presented is not None:
        return presented, "initial"
    wait = await new_visitor_wait()
    if wait:
        raise _TooManyVisitors(wait)
    return await store.create_visitor(session, app, now_ms), "resolved"


def _email_signed(app: App, profile: VisitorProfile, digest: str | None) -> bool:
    """Whether ``digest`` is tawk.to's secure-mode hash of the profile's email."""
    return (
        digest is not None
        and profile.email is not None
        and verify_tawk_hash(app.secret, profile.email, digest)
    )


async def _business_visitor(
    session: AsyncSession, app: App, external_id: str, now_ms: int
) -> Visitor:
    """The visitor the site's own user ``external_id`` is (a business login or a tawk.to
    login: one namespace, so a site moving between them keeps its visitors)."""
    visitor = await store.visitor_by_external_id(session, app, external_id)
    if visitor is not None and visitor.revoked_at is not None:
        # The site vouches for this user again, but the revoked token must stay dead: detach
        # the old record and start a fresh one for the same business user.
        visitor.external_id = None
        await session.flush()
        visitor = None
    if visitor is None:
        visitor = await store.create_visitor(session, app, now_ms, external_id=external_id)
    return visitor


async def _fresh_login(session: AsyncSession, app: App, login: BusinessLogin, now_ms: int) -> bool:
    """True for a login signed by the app's secret (profile fields included) whose ``ranstr``
    is current and now used up; False for an authentic one that is expired or used before.
    Raises :class:`_LoginFailed` when the signature does not verify."""
    if not verify_business_user(
        app.secret,
        login.sbs,
        login.ranstr,
        login.sbs_mm,
        name=login.name,
        nickname=login.nickname,
        email=login.email,
        phone=login.phone,
    ):
        raise _LoginFailed
    expires_s = ranstr_expires_at(login.ranstr)
    assert expires_s is not None  # verified above
    if not ranstr_current(login.ranstr, now_ms / 1000):
        return False
    return await store.use_login_nonce(session, app, login.ranstr, expires_s * 1000, now_ms)


async def _open_conversation(ctx: Context, session: AsyncSession, visitor: Visitor) -> Conversation:
    """The visitor's current conversation; after an end (or before any) a new one. Two sockets
    of one visitor may get here at once (two tabs, or a tab's new socket while its old
    connection's last frame is handled): the visitor is locked first, so the second sees the
    conversation the first opened instead of opening another (issue 12)."""
    await store.lock_visitor(session, visitor)
    conversation = await store.latest_conversation(session, visitor)
    if conversation is None or conversation.ended_at is not None:
        conversation = await store.create_conversation(session, visitor, ctx.now_ms())
    return conversation


async def _latest(session: AsyncSession, visitor: Visitor) -> Conversation:
    conversation = await store.latest_conversation(session, visitor)
    if conversation is None:
        raise RequestFailed("not_found", "this visitor has no conversation yet")
    return conversation


async def _send_known(ctx: Context, conn: Connection, who: _Visitor, frame: SendMessage) -> bool:
    """The fast path of a message, to the conversation this socket knows as open. False when it
    does not apply (no such conversation yet, a file to check) or the writer refused it: the
    caller then takes the full path."""
    if who.conversation_id is None or frame.file_id is not None:
        return False
    post = NewPost(
        conversation_id=who.conversation_id,
        author="visitor",
        author_name=None,
        text=frame.text,
        client_id=frame.client_id,
        now_ms=ctx.now_ms(),
        guarded=True,
        masked=frame.masked,
    )
    if await chat.post_fast(ctx, conn, frame, post):
        return True
    who.conversation_id = None
    return False


async def _send(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: SendMessage
) -> str:
    """Post a message to the visitor's open conversation (a new one after an end, or before
    any); returns that conversation's id."""
    problem = message_problem(frame)
    if problem is not None:
        raise RequestFailed("bad_message", problem)
    file = await chat.attachment(session, frame, "visitor", visitor.id)
    conversation = await _open_conversation(ctx, session, visitor)
    post = NewPost(
        conversation_id=conversation.id,
        author="visitor",
        author_name=records.display_name(visitor),
        text=frame.text,
        client_id=frame.client_id,
        now_ms=ctx.now_ms(),
        file=file,
        masked=frame.masked,
    )
    await session.commit()
    posted = await chat.post_and_publish(ctx, conn, post)
    assert posted  # not guarded
    return conversation.id


async def _read_up_to(
    ctx: Context, session: AsyncSession, _conn: Connection, visitor: Visitor, frame: ReadUpTo
) -> None:
    conversation = await store.latest_conversation(session, visitor)
    if conversation is None:
        return
    await store.mark_read(session, conversation, frame.seq, by="visitor")
    await session.commit()
    receipt = ReadUpdated(
        conversation_id=conversation.id, reader="visitor", seq=conversation.visitor_read_seq
    )
    await ctx.hub.publish(Channel.agents(visitor.app_id), [receipt])


async def _typing(
    ctx: Context, session: AsyncSession, _conn: Connection, visitor: Visitor, frame: SetTyping
) -> None:
    """Relayed to the consoles, never stored; ignored when there is no open conversation."""
    conversation = await store.latest_conversation(session, visitor)
    if conversation is None or conversation.ended_at is not None:
        return
    changed = TypingChanged(
        conversation_id=conversation.id,
        author="visitor",
        name=records.display_name(visitor),
        typing=frame.typing,
    )
    await ctx.hub.publish(Channel.agents(visitor.app_id), [changed])


async def _end(
    ctx: Context,
    session: AsyncSession,
    _conn: Connection,
    visitor: Visitor,
    _frame: EndConversation,
) -> None:
    await chat.end(ctx, session, await _latest(session, visitor), "visitor", None)


async def _delete(
    ctx: Context,
    session: AsyncSession,
    conn: Connection,
    visitor: Visitor,
    frame: DeleteConversations,
) -> None:
    """The visitor's right to erasure: every conversation of theirs, messages and files."""
    erased = await erasure.delete_visitor_conversations(session, visitor.id)
    await session.commit()
    erasure.remove_files(ctx.settings.data_dir, erased.file_ids)
    conn.send(RequestDone(request_id=frame.request_id))
    await retention.announce(ctx.hub, erased)


async def _rate(
    ctx: Context,
    session: AsyncSession,
    _conn: Connection,
    visitor: Visitor,
    frame: RateConversation,
) -> None:
    conversation = await _latest(session, visitor)
    conversation.rating = frame.rating
    conversation.rating_comment = frame.comment[:MAX_COMMENT_CHARS]
    text = _RATING_TEXT[frame.rating]
    if frame.comment:
        text += f": {conversation.rating_comment}"
    await chat.post_system(ctx, session, conversation, "rated", text=text)


async def _tags(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: ChangeTags
) -> None:
    await chat.update_tags(ctx, session, visitor, frame.add, frame.remove, frame.version)
    conn.send(RequestDone(request_id=frame.request_id))


async def _publish_visitor_changed(ctx: Context, session: AsyncSession, visitor: Visitor) -> None:
    """Consoles refresh the name and email they list for the visitor's latest conversation."""
    conversation = await store.latest_conversation(session, visitor)
    if conversation is not None:
        updated = await chat.summary(ctx, session, conversation)
        await ctx.hub.publish(Channel.agents(visitor.app_id), [ConversationUpdated(updated)])


async def _update(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: UpdateVisitor
) -> None:
    attributes = merge_attributes(visitor.attributes, frame.attributes)
    if frame.profile is not None:
        profile = check_profile(frame.profile)
        signed = frame.hash is not None
        if signed:
            app = await session.get(App, visitor.app_id)
            assert app is not None
            if not _email_signed(app, profile, frame.hash):
                raise RequestFailed(
                    "INVALID_ATTRIBUTES", "hash: not the HMAC-SHA256 of the email with the API key"
                )
        store.apply_profile(visitor, profile, None, email_verified=signed)
    visitor.attributes = attributes
    await session.commit()
    conn.send(RequestDone(request_id=frame.request_id))
    await _publish_visitor_changed(ctx, session, visitor)


async def _event(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: TrackEvent
) -> None:
    name = check_event_name(frame.name)
    metadata = check_scalars(frame.metadata)
    await store.add_visitor_event(session, visitor, name, metadata, ctx.now_ms())
    await session.commit()
    conn.send(RequestDone(request_id=frame.request_id))


def _answers_text(title: str, answers: tuple[FormAnswer, ...]) -> str:
    lines = [title, *(f"{a.label or a.name}: {a.value}" for a in answers)]
    return "\n".join(lines)


async def _prechat(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: SubmitPrechat
) -> None:
    app = await session.get(App, visitor.app_id)
    assert app is not None
    answers = check_prechat(fields_from_json(app.prechat_fields), frame.answers)
    _store_answers(visitor, answers)
    conversation = await _open_conversation(ctx, session, visitor)
    await chat.post_system(
        ctx, session, conversation, "prechat", text=_answers_text("Pre-chat form", answers)
    )
    conn.send(RequestDone(request_id=frame.request_id))


def _store_answers(visitor: Visitor, answers: tuple[FormAnswer, ...]) -> None:
    """Name, email and phone fill the profile; other answers become custom attributes."""
    profile = {a.name: a.value for a in answers if a.name in PROFILE_ANSWERS}
    store.apply_profile(visitor, check_profile(VisitorProfile(**profile), "INVALID_FORM"), None)
    others = {a.name: a.value for a in answers if a.name not in PROFILE_ANSWERS}
    if others:
        visitor.attributes = merge_attributes(visitor.attributes, others)


async def _offline(
    ctx: Context, session: AsyncSession, conn: Connection, visitor: Visitor, frame: SubmitOffline
) -> None:
    name, email, text = check_offline(frame.name, frame.email, frame.message, frame.questions)
    profile = check_profile(VisitorProfile(name=name, email=email), "INVALID_FORM")
    store.apply_profile(visitor, profile, None)
    conversation = await store.create_conversation(session, visitor, ctx.now_ms())
    conversation.offline = True
    details = (FormAnswer("name", name, "Name"), FormAnswer("email", email, "Email"))
    await chat.post_system(
        ctx,
        session,
        conversation,
        "offline_form",
        text=_answers_text("Offline form", details + tuple(frame.questions)),
    )
    await chat.post_with_changes(
        ctx, session, conversation, author="visitor", author_name=name, text=text
    )
    conn.send(RequestDone(request_id=frame.request_id))


_Handler = Callable[[Context, AsyncSession, Connection, Visitor, Any], Awaitable[None]]
_HANDLERS: dict[type[Message], _Handler] = {
    ReadUpTo: _read_up_to,
    SetTyping: _typing,
    EndConversation: _end,
    DeleteConversations: _delete,
    RateConversation: _rate,
    ChangeTags: _tags,
    UpdateVisitor: _update,
    TrackEvent: _event,
    SubmitPrechat: _prechat,
    SubmitOffline: _offline,
}
