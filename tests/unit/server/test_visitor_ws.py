"""``/ws/visitor``: hello and identity, business login, messages, fan-out, reads, errors."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import (
    SECRET,
    Porch,
    TestClient,
    WebSocketTestSession,
    expect_error,
    receive_close,
    receive_frame,
    receive_until,
    run_db,
    seed_app,
    send_frame,
)
from porch_protocol import (
    MAX_FRAME_CHARS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    BusinessLogin,
    CloseCode,
    ConversationHistory,
    ConversationUpdated,
    MessageAck,
    NewMessage,
    OpenConversation,
    PageStatusChanged,
    ReadUpTo,
    RequestDone,
    SendMessage,
    TawkLogin,
    TrackEvent,
    UpdateVisitor,
    VisitorDetails,
    VisitorHello,
    VisitorIdentity,
    VisitorProfile,
    VisitorWelcome,
)
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.rules.signing import (
    sign_business_user,
    tawk_hash,
    verify_business_user,
    verify_tawk_hash,
)
from porch_server.storage import store

#: The fake clock's start (conftest.FakeClock) in seconds: when the tests' logins are issued.
NOW_S = 1_700_000_000


def _ranstr(issued: int = NOW_S) -> str:
    return f"{issued}.{secrets.token_urlsafe(16)}"


def _login(sbs: str = "user-42", ranstr: str | None = None, **profile: str) -> BusinessLogin:
    """A login signed the way a site's backend signs it, with a fresh ``ranstr``."""
    ranstr = _ranstr() if ranstr is None else ranstr
    sbs_mm = sign_business_user(SECRET, sbs, ranstr, **profile)
    return BusinessLogin(sbs=sbs, ranstr=ranstr, sbs_mm=sbs_mm, **profile)


def _fails_to_log_in(porch: Porch, **hello: Any) -> None:
    ws = porch.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=porch.ticket(), **hello))
    expect_error(ws, "login_failed", fatal=True)
    assert receive_close(ws) == CloseCode.LOGIN_FAILED


def _send(ws: WebSocketTestSession, client_id: str, text: str = "hello") -> MessageAck:
    send_frame(ws, SendMessage(client_id=client_id, text=text))
    ack = receive_frame(ws)
    assert isinstance(ack, MessageAck), ack
    return ack


# --- hello and identity -------------------------------------------------------------------------


def test_first_hello_creates_a_visitor(porch: Porch) -> None:
    _, welcome = porch.visitor(profile=VisitorProfile(name="Vic"), locale="fr")
    assert welcome.source == "resolved"
    assert welcome.identity.bs and welcome.identity.bs_mm and welcome.visitor_uid
    assert welcome.fkid.isdigit()
    assert (welcome.conversation_id, welcome.messages, welcome.last_seq) == (None, (), 0)


def test_hello_with_valid_identity_restores_the_visitor(porch: Porch) -> None:
    ws, first = porch.visitor()
    ack = _send(ws, "c1")
    _, again = porch.visitor(identity=first.identity)
    assert again.source == "initial"
    assert (again.visitor_uid, again.identity) == (first.visitor_uid, first.identity)
    assert again.conversation_id == ack.message.conversation_id
    assert [m.text for m in again.messages] == ["hello"]
    assert again.last_seq == 1


def test_hello_carries_only_messages_after_last_seq(porch: Porch) -> None:
    ws, first = porch.visitor()
    for n in range(3):
        _send(ws, f"c{n}", f"m{n}")
    _, again = porch.visitor(identity=first.identity, last_seq=2)
    assert [(m.seq, m.text) for m in again.messages] == [(3, "m2")]


@pytest.mark.parametrize("tamper", ["signature", "bs"])
def test_hello_with_forged_identity_gets_a_new_visitor(porch: Porch, tamper: str) -> None:
    _, first = porch.visitor()
    bs, bs_mm = first.identity.bs, first.identity.bs_mm
    forged = (
        VisitorIdentity(bs=bs, bs_mm=bs_mm[::-1])
        if tamper == "signature"
        else VisitorIdentity(bs=bs + "x", bs_mm=bs_mm)
    )
    _, second = porch.visitor(identity=forged)
    assert second.source == "resolved"
    assert second.visitor_uid != first.visitor_uid


def test_identity_of_another_app_is_not_accepted(porch: Porch) -> None:
    _, first = porch.visitor()
    seed_app(porch.settings.database_url, appid="other", secret=SECRET, agent_email=None)
    ticket = porch.bootstrap(appid="other")["ticket"]
    _, other = porch.visitor(ticket=ticket, identity=first.identity)
    assert other.source == "resolved"


# --- tickets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),
        lambda t: "e30." + t.split(".")[1],  # someone else's payload, our signature
        lambda t: t.split(".")[0],
        lambda t: "",
    ],
)
def test_forged_ticket_is_unauthorized(porch: Porch, mangle) -> None:  # type: ignore[no-untyped-def]
    ws = porch.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=mangle(porch.ticket())))
    expect_error(ws, "unauthorized", fatal=True)
    assert receive_close(ws) == CloseCode.UNAUTHORIZED


def test_expired_ticket_is_unauthorized(porch: Porch) -> None:
    ticket = porch.ticket()
    porch.clock.advance(24 * 3600 + 1)
    ws = porch.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=ticket))
    expect_error(ws, "unauthorized", fatal=True)
    assert receive_close(ws) == CloseCode.UNAUTHORIZED


def test_ticket_still_valid_just_before_expiry(porch: Porch) -> None:
    ticket = porch.ticket()
    porch.clock.advance(24 * 3600 - 1)
    _, welcome = porch.visitor(ticket=ticket)
    assert welcome.source == "resolved"


def test_ticket_for_removed_domain_is_refused(porch: Porch) -> None:
    ticket = porch.bootstrap(origin="https://x.acme.example")["ticket"]

    async def narrow(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, "acme")
        assert app is not None
        app.allowed_domains = ["shop.acme.test"]
        await session.commit()

    run_db(porch.settings.database_url, narrow)
    ws = porch.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=ticket))
    expect_error(ws, "domain_not_whitelisted", fatal=True)
    assert receive_close(ws) == CloseCode.DOMAIN_NOT_WHITELISTED


# --- business login -----------------------------------------------------------------------------


def test_business_login_resolves_to_the_business_user(porch: Porch) -> None:
    _, anonymous = porch.visitor()
    ws, welcome = porch.visitor(identity=anonymous.identity, login=_login(name="Bea"))
    assert welcome.source == "resolved"
    assert welcome.visitor_uid != anonymous.visitor_uid
    # The same business user on another device (fresh nonce) is the same visitor...
    _, elsewhere = porch.visitor(login=_login())
    assert elsewhere.visitor_uid == welcome.visitor_uid
    # ...and presenting the identity it was given keeps it as is.
    _, same = porch.visitor(identity=welcome.identity, login=_login())
    assert (same.source, same.visitor_uid) == ("initial", welcome.visitor_uid)
    agent, _ = porch.agent()
    assert receive_frame(ws) == PageStatusChanged(status="online")
    _send(ws, "b1")
    update = receive_until(agent, ConversationUpdated)
    assert update.conversation.visitor_name == "Bea"


_R = f"{NOW_S}.{'r' * 16}"


@pytest.mark.parametrize(
    "login",
    [
        BusinessLogin(sbs="user-42", ranstr=_R, sbs_mm="0" * 64),
        BusinessLogin(
            sbs="user-42", ranstr=_R, sbs_mm=sign_business_user(SECRET, "user-42", _R)[:-1]
        ),
        BusinessLogin(
            sbs="user-42", ranstr=_R, sbs_mm=sign_business_user(SECRET, "user-42", _R) + "0"
        ),
        BusinessLogin(sbs="user-43", ranstr=_R, sbs_mm=sign_business_user(SECRET, "user-42", _R)),
        BusinessLogin(sbs="user-42", ranstr=_R, sbs_mm=sign_business_user("wrong", "user-42", _R)),
        BusinessLogin(sbs="", ranstr=_R, sbs_mm=sign_business_user(SECRET, "", _R)),
        BusinessLogin(sbs="user-42", ranstr="", sbs_mm=sign_business_user(SECRET, "user-42", "")),
        BusinessLogin(sbs="user-42", ranstr=_R, sbs_mm="ünïcode"),
        # A ranstr without its issue time, or with too short a random part.
        BusinessLogin(
            sbs="user-42", ranstr="r" * 20, sbs_mm=sign_business_user(SECRET, "user-42", "r" * 20)
        ),
        BusinessLogin(
            sbs="user-42",
            ranstr=f"{NOW_S}.short",
            sbs_mm=sign_business_user(SECRET, "user-42", f"{NOW_S}.short"),
        ),
        # The old scheme, HMAC of "sbs:ranstr", no longer verifies.
        BusinessLogin(
            sbs="user-42",
            ranstr=_R,
            sbs_mm=hmac.new(SECRET.encode(), f"user-42:{_R}".encode(), hashlib.sha256).hexdigest(),
        ),
    ],
    ids=[
        "zeros",
        "short",
        "long",
        "other-user",
        "other-secret",
        "empty-sbs",
        "empty-ranstr",
        "unicode",
        "no-issue-time",
        "short-random",
        "old-scheme",
    ],
)
def test_bad_business_login_fails(porch: Porch, login: BusinessLogin) -> None:
    _fails_to_log_in(porch, login=login)


def test_business_login_signature_cannot_move_text_between_fields(porch: Porch) -> None:
    """The old message ``sbs + ":" + ranstr`` let sbs "u" with ranstr "x:r" sign sbs "u:x" with
    ranstr "r". Now fields are lines, and no field may hold a line break."""
    ranstr = _ranstr()
    # Text moved from one field into its neighbour changes the signed message.
    assert not verify_business_user(
        SECRET, "u", "1" + ranstr, sign_business_user(SECRET, "u1", ranstr)
    )
    swapped = sign_business_user(SECRET, "u", ranstr, name="A")
    assert not verify_business_user(SECRET, "u", ranstr, swapped, nickname="A")
    # The separator cannot be smuggled into a field: refused when signing...
    for fields in ({"sbs": "u\nx"}, {"name": "Ann\nann@evil.example"}, {"phone": "1\r2"}):
        with pytest.raises(ValueError, match="control characters"):
            sign_business_user(SECRET, **{"sbs": "u", "ranstr": ranstr, **fields})
    # ...and never verifying, even with the HMAC of the message it would make.
    forged = hmac.new(
        SECRET.encode(), f"porch-login-v2\nu\nx\n{ranstr}\n\n\n\n".encode(), hashlib.sha256
    ).hexdigest()
    assert not verify_business_user(SECRET, "u\nx", ranstr, forged)
    _fails_to_log_in(porch, login=BusinessLogin(sbs="u\nx", ranstr=ranstr, sbs_mm=forged))
    # The old example, signed the old way, fails on the wire.
    old = hmac.new(SECRET.encode(), f"u:x:{ranstr}".encode(), hashlib.sha256).hexdigest()
    _fails_to_log_in(porch, login=BusinessLogin(sbs="u:x", ranstr=ranstr, sbs_mm=old))


@pytest.mark.parametrize("field", ["name", "nickname", "email", "phone"])
def test_business_login_profile_fields_are_signed(porch: Porch, field: str) -> None:
    profile = {
        "name": "Ann Example",
        "nickname": "Ann",
        "email": "ann@example.com",
        "phone": "+351 210 000 000",
    }
    login = _login(**profile)
    tampered = replace(login, **{field: "mallory@evil.example"})
    _fails_to_log_in(porch, login=tampered)
    dropped = replace(login, **{field: None})
    _fails_to_log_in(porch, login=dropped)
    _, welcome = porch.visitor(login=login)  # untouched, it verifies (and is used up only now)
    assert welcome.source == "resolved"


def test_expired_or_future_business_login_fails(porch: Porch) -> None:
    # 24 hours is the most; a site's clock may be 5 minutes ahead.
    _fails_to_log_in(porch, login=_login(ranstr=_ranstr(NOW_S - 24 * 3600 - 1)))
    _fails_to_log_in(porch, login=_login(ranstr=_ranstr(NOW_S + 5 * 60 + 1)))
    porch.visitor(login=_login(ranstr=_ranstr(NOW_S - 24 * 3600)))
    porch.visitor(login=_login(ranstr=_ranstr(NOW_S + 5 * 60)))
    # A login rendered into a page the visitor opens hours later still works.
    login = _login()
    porch.clock.advance(23 * 3600)
    porch.visitor(login=login)
    late = _login(ranstr=_ranstr())
    porch.clock.advance(3600 + 1)
    _fails_to_log_in(porch, login=late)


def test_replayed_business_login_fails(porch: Porch) -> None:
    login = _login("victim-7", name="Vic")
    _, first = porch.visitor(login=login)
    # Someone who copied the page's login (a shared proxy log, the browser history) cannot use it,
    _fails_to_log_in(porch, login=login)
    # not with an anonymous identity of their own,
    _, anonymous = porch.visitor()
    _fails_to_log_in(porch, login=login, identity=anonymous.identity)
    # nor with another business user's identity,
    _, other = porch.visitor(login=_login("other-8"))
    _fails_to_log_in(porch, login=login, identity=other.identity)
    # nor with a forged one.
    forged = VisitorIdentity(bs=first.identity.bs, bs_mm=other.identity.bs_mm)
    _fails_to_log_in(porch, login=login, identity=forged)
    # One-time per app: the same ranstr (signed with that app's secret) is fresh on another app.
    seed_app(
        porch.settings.database_url,
        appid="acme2",
        secret="s2",
        domains=("acme2.example",),
        agent_email=None,
    )
    ticket = porch.bootstrap(appid="acme2", origin="https://acme2.example")["ticket"]
    ws = porch.connect("/ws/visitor")
    other_app = replace(login, sbs_mm=sign_business_user("s2", login.sbs, login.ranstr, name="Vic"))
    send_frame(ws, VisitorHello(ticket=ticket, login=other_app))
    assert isinstance(receive_frame(ws), VisitorWelcome)


def test_a_used_business_login_continues_with_the_identity_it_gave(porch: Porch) -> None:
    """A reloaded page, a restarted worker: the runtime presents the login again, with the
    identity its welcome gave. That visitor goes on; the login is not used again."""
    login = _login("user-42", name="Bea")
    ws, first = porch.visitor(login=login)
    _send(ws, "b1")
    _, again = porch.visitor(login=login, identity=first.identity, last_seq=0)
    assert (again.source, again.visitor_uid) == ("initial", first.visitor_uid)
    assert [m.text for m in again.messages] == ["hello"]
    # Even after the login expired (a page left open for two days).
    porch.clock.advance(2 * 24 * 3600)
    _, later = porch.visitor(login=login, identity=first.identity)
    assert later.visitor_uid == first.visitor_uid
    # A tampered copy still fails, identity or not.
    _fails_to_log_in(porch, login=replace(login, name="Mallory"), identity=first.identity)


def test_used_login_nonces_are_pruned_once_expired(porch: Porch) -> None:
    porch.visitor(login=_login())
    porch.visitor(login=_login(ranstr=_ranstr(NOW_S - 3600)))

    async def count(session: AsyncSession) -> int:
        rows = await session.execute(text("SELECT count(*) FROM login_nonces"))
        return int(rows.scalar_one())

    assert run_db(porch.settings.database_url, count) == 2
    porch.clock.advance(23 * 3600 + 1)  # the older one has expired, the other not yet
    porch.visitor(login=_login(ranstr=_ranstr(int(porch.clock.now))))
    assert run_db(porch.settings.database_url, count) == 2


def test_business_login_signature_is_a_versioned_line_per_field() -> None:
    # Pinned independently so site backends in any language can reproduce it.
    message = b"porch-login-v2\nsbs\n1700000000.abcdefghijklmnop\nAnn\n\nann@example.com\n"
    expected = hmac.new(b"key", message, hashlib.sha256).hexdigest()
    assert (
        sign_business_user(
            "key", "sbs", "1700000000.abcdefghijklmnop", name="Ann", email="ann@example.com"
        )
        == expected
    )
    # Absent and empty fields sign alike.
    assert (
        sign_business_user(
            "key",
            "sbs",
            "1700000000.abcdefghijklmnop",
            nickname="",
            phone=None,
            name="Ann",
            email="ann@example.com",
        )
        == expected
    )


# --- messages -----------------------------------------------------------------------------------


def test_send_is_acked_and_fans_out_to_agents_and_other_tabs(porch: Porch) -> None:
    agent, _ = porch.agent()  # first, so the tabs see no page status change
    tab1, welcome = porch.visitor()
    tab2, _ = porch.visitor(identity=welcome.identity)
    ack = _send(tab1, "c1", "Is anyone there?")
    message = ack.message
    assert (ack.client_id, message.author, message.seq, message.text) == (
        "c1",
        "visitor",
        1,
        "Is anyone there?",
    )
    assert message.id.startswith("m_") and message.conversation_id.startswith("c_")
    assert message.created_at == porch.settings.now_ms()
    assert receive_frame(tab2) == NewMessage(message)
    # Consoles get the new summary first, then the message.
    update = receive_frame(agent)
    assert isinstance(update, ConversationUpdated)
    assert update.conversation.id == message.conversation_id
    assert update.conversation.last_message == message
    assert update.conversation.visitor_uid == welcome.visitor_uid
    assert receive_frame(agent) == NewMessage(message)
    # The sender gets no NewMessage echo: its next frame is the next ack.
    assert _send(tab1, "c2").message.seq == 2


def test_resend_with_same_client_id_is_idempotent(porch: Porch) -> None:
    tab1, welcome = porch.visitor()
    tab2, _ = porch.visitor(identity=welcome.identity)
    first = _send(tab1, "same", "once")
    assert receive_frame(tab2) == NewMessage(first.message)
    again = _send(tab1, "same", "once")
    assert again.message == first.message
    # Nothing was fanned out for the resend: tab2's next frame is the following message.
    following = _send(tab1, "next")
    assert receive_frame(tab2) == NewMessage(following.message)
    assert following.message.seq == 2


def test_resend_after_reconnect_is_idempotent(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    first = _send(ws, "c1")
    ws2, _ = porch.visitor(identity=welcome.identity, last_seq=1)
    assert _send(ws2, "c1").message == first.message


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (SendMessage(client_id="c", text="   \n\t"), "empty"),
        (SendMessage(client_id="c", text="x" * (MAX_TEXT_CHARS + 1)), "at most"),
        (SendMessage(client_id="", text="hi"), "client_id"),
        (SendMessage(client_id="c" * (MAX_ID_CHARS + 1), text="hi"), "client_id"),
    ],
)
def test_invalid_message_gets_non_fatal_error(
    porch: Porch, frame: SendMessage, problem: str
) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, frame)
    assert problem in expect_error(ws, "bad_message").message
    assert _send(ws, "ok").message.seq == 1  # nothing stored, socket still usable


def test_longest_allowed_message_is_stored(porch: Porch) -> None:
    ws, _ = porch.visitor()
    text = "é" * MAX_TEXT_CHARS
    assert _send(ws, "c" * MAX_ID_CHARS, text).message.text == text


def test_read_seq_is_clamped_and_never_goes_back(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    _send(ws, "c1")
    _send(ws, "c2")

    def read_seq() -> int:
        _, again = porch.visitor(identity=welcome.identity)
        return again.last_read_seq

    def read_up_to(seq: int) -> None:
        send_frame(ws, ReadUpTo(seq=seq))
        # Frames are handled in order: once a later request is done, the read is stored.
        send_frame(ws, TrackEvent(request_id=f"sync-{seq}", name="sync"))
        assert receive_until(ws, RequestDone).request_id == f"sync-{seq}"

    read_up_to(99)
    assert read_seq() == 2  # clamped to last_seq
    read_up_to(1)
    assert read_seq() == 2  # never backwards


def test_read_seq_drives_bootstrap_unread(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    ack = _send(ws, "c1")
    agent, _ = porch.agent()
    send_frame(
        agent, SendMessage(client_id="a1", text="hi", conversation_id=ack.message.conversation_id)
    )
    reply = receive_until(ws, NewMessage).message
    while reply.author != "agent":  # the agent_joined system message comes first
        reply = receive_until(ws, NewMessage).message
    assert porch.bootstrap(identity=welcome.identity)["unread"] == 1
    send_frame(ws, ReadUpTo(seq=reply.seq))
    _send(ws, "sync")  # frames are handled in order: the read is stored once this is acked
    assert porch.bootstrap(identity=welcome.identity)["unread"] == 0


# --- protocol errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        '{"v": 2, "type": "visitor.hello", "ticket": "t"}',
        "x" * (MAX_FRAME_CHARS + 1),
    ],
    ids=["not-json", "not-object", "bad-version", "too-large"],
)
def test_malformed_first_frame_closes_4400(porch: Porch, text: str) -> None:
    ws = porch.connect("/ws/visitor")
    ws.send_text(text)
    assert receive_frame(ws).fatal  # type: ignore[attr-defined]
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_first_frame_must_be_hello(porch: Porch) -> None:
    ws = porch.connect("/ws/visitor")
    send_frame(ws, SendMessage(client_id="c", text="hi"))
    assert "visitor.hello" in expect_error(ws, "unexpected_type", fatal=True).message
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


def test_bad_json_after_hello_closes_4400(porch: Porch) -> None:
    ws, _ = porch.visitor()
    ws.send_text("{oops")
    expect_error(ws, "bad_json", fatal=True)
    assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"v": 1, "type": "message.send", "client_id": 5, "text": "hi"}', "bad_field"),
        ('{"v": 1, "type": "message.send", "text": "hi"}', "bad_field"),
        ('{"v": 1, "type": "agent.hello", "token": "t"}', "unexpected_type"),
        ('{"v": 1, "type": "visitor.hello", "ticket": "t"}', "unexpected_type"),
        ('{"v": 1, "type": "no.such"}', "unknown_type"),
    ],
)
def test_bad_frame_after_hello_is_non_fatal(porch: Porch, text: str, code: str) -> None:
    ws, _ = porch.visitor()
    ws.send_text(text)
    expect_error(ws, code)
    assert _send(ws, "still-ok").message.seq == 1


def test_silent_socket_is_closed_after_hello_timeout(settings: Settings) -> None:
    quick = replace(settings, hello_timeout=0.05)
    with TestClient(create_app(quick)) as client, client.websocket_connect("/ws/visitor") as ws:
        expect_error(ws, "hello_timeout", fatal=True)
        assert receive_close(ws) == CloseCode.PROTOCOL_ERROR


# --- tawk.to's login (Tawk_API.login) ------------------------------------------------------------


def _tawk_login(user_id: str = "1234", **fields: Any) -> TawkLogin:
    """As a site's backend signs it for tawk.to: HMAC-SHA256 of the userId with the API key."""
    digest = hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return TawkLogin(user_id=user_id, hash=digest, **fields)


def test_a_tawk_login_resolves_to_the_sites_user_with_profile_and_attributes(porch: Porch) -> None:
    _, anonymous = porch.visitor()
    login = _tawk_login(
        name="First Last", email="fl@example.test", attributes={"store": "Midvalley"}
    )
    ws, welcome = porch.visitor(identity=anonymous.identity, tawk_login=login)
    assert welcome.source == "resolved" and welcome.visitor_uid != anonymous.visitor_uid
    _, again = porch.visitor(tawk_login=_tawk_login())  # another device, the same user
    assert again.visitor_uid == welcome.visitor_uid
    # One namespace with business logins: a site moving from tawk.to keeps its users.
    _, business = porch.visitor(login=_login(sbs="1234"))
    assert business.visitor_uid == welcome.visitor_uid
    agent, _ = porch.agent()
    assert receive_frame(ws) == PageStatusChanged(status="online")
    _send(ws, "t1")
    update = receive_until(agent, ConversationUpdated).conversation
    assert (update.visitor_name, update.visitor_email) == ("First Last", "fl@example.test")
    send_frame(agent, OpenConversation(update.id))
    visitor = receive_until(agent, ConversationHistory).visitor
    assert visitor is not None and visitor.attributes == {"store": "Midvalley"}


@pytest.mark.parametrize(
    "login",
    [
        TawkLogin(user_id="1234", hash="0" * 64),
        replace(_tawk_login(), user_id="12345"),
        replace(_tawk_login(), hash=""),
        TawkLogin(user_id="", hash=hmac.new(SECRET.encode(), b"", hashlib.sha256).hexdigest()),
    ],
    ids=["forged", "another-user", "empty-hash", "empty-user"],
)
def test_a_bad_tawk_login_fails(porch: Porch, login: TawkLogin) -> None:
    _fails_to_log_in(porch, tawk_login=login)


def test_a_tawk_hash_in_capitals_verifies() -> None:
    digest = hmac.new(SECRET.encode(), b"1234", hashlib.sha256).hexdigest()
    assert verify_tawk_hash(SECRET, "1234", digest.upper())
    assert tawk_hash(SECRET, "1234") == digest


# --- tawk.to's secure mode: a signed email shows as verified -------------------------------------


def _details_of(porch: Porch, ws: WebSocketTestSession) -> VisitorDetails:
    conversation_id = _send(ws, f"c{secrets.token_hex(3)}").message.conversation_id
    agent, _ = porch.agent()
    send_frame(agent, OpenConversation(conversation_id))
    details = receive_until(agent, ConversationHistory).visitor
    assert details is not None
    return details


@pytest.mark.parametrize(
    ("digest", "verified"),
    [(tawk_hash(SECRET, "v@example.test"), True), ("0" * 64, False), (None, False)],
    ids=["signed", "forged", "unsigned"],
)
def test_a_hello_email_is_verified_only_with_its_hash(
    porch: Porch, digest: str | None, verified: bool
) -> None:
    profile = VisitorProfile(name="Vee", email="v@example.test")
    ws, _ = porch.visitor(profile=profile, profile_hash=digest)
    details = _details_of(porch, ws)
    assert (details.email, details.email_verified) == ("v@example.test", verified)


def test_an_update_with_a_hash_must_sign_its_email(porch: Porch) -> None:
    ws, _ = porch.visitor()
    signed = UpdateVisitor(
        request_id="s",
        profile=VisitorProfile(name="Sig", email="s@example.test"),
        hash=tawk_hash(SECRET, "s@example.test"),
    )
    send_frame(ws, replace(signed, request_id="bad", hash="0" * 64))
    assert expect_error(ws, "INVALID_ATTRIBUTES").request_id == "bad"
    send_frame(ws, replace(signed, request_id="no-email", profile=VisitorProfile(name="Sig")))
    assert expect_error(ws, "INVALID_ATTRIBUTES").request_id == "no-email"
    send_frame(ws, signed)
    assert receive_until(ws, RequestDone).request_id == "s"
    assert _details_of(porch, ws).email_verified is True
    # A new email without a hash is the visitor's word again.
    send_frame(ws, UpdateVisitor(request_id="u", profile=VisitorProfile(email="o@example.test")))
    assert receive_until(ws, RequestDone).request_id == "u"
    assert _details_of(porch, ws).email_verified is False


def test_a_business_logins_email_is_verified(porch: Porch) -> None:
    ws, _ = porch.visitor(login=_login(name="Bea", email="bea@example.test"))
    assert _details_of(porch, ws).email_verified is True
