"""The visitor runtime's state machine, driven in memory as stories (no browser, no server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from porch_protocol import (
    AuthClosed,
    ChatMessage,
    CloseCode,
    MessageAck,
    NewMessage,
    ReadUpTo,
    SendMessage,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
    decode,
    encode,
)
from porch_runtime.bridge import BridgeError
from porch_runtime.core import (
    RECONNECT_TIMER,
    TRANSITIONS,
    Input,
    InvalidTransition,
    State,
    VisitorRuntime,
)

IDENTITY = VisitorIdentity(bs="b_1", bs_mm="sig_1")


class Harness:
    """A runtime plus everything it produced, kept so a test can read what happened."""

    def __init__(self, now_ms: Callable[[], int] = lambda: 1_000, **config: Any) -> None:
        self.runtime = VisitorRuntime(now_ms=now_ms, rng=lambda: 1.0)
        self.config = {
            "server_url": "http://chat.test",
            "ticket": "T",
            "locale": "en",
            **config,
        }
        self.host: list[dict[str, Any]] = []
        self.frames: list[Any] = []
        self.sockets: list[tuple[str, Any]] = []
        self.timers: list[tuple[str, float]] = []

    def drain(self) -> None:
        self.host += self.runtime.host_to_send()
        self.frames += [decode(t) for t in self.runtime.server_to_send()]
        self.sockets += self.runtime.socket_actions()
        self.timers += self.runtime.timers_to_set()

    def panel(self, type_: str, **fields: Any) -> None:
        self.runtime.receive_host({"v": 1, "type": type_, **fields})
        self.drain()

    def start(self) -> None:
        self.panel("runtime.start", config=self.config)

    def opened(self) -> None:
        self.runtime.socket_opened()
        self.drain()

    def server(self, frame: Any) -> None:
        self.runtime.receive_server(encode(frame))
        self.drain()

    def closed(self, code: int) -> None:
        self.runtime.socket_closed(code, "")
        self.drain()

    def reconnect(self, code: int = 1006) -> None:
        """The socket drops, the backoff timer fires and a new socket opens (hello sent)."""
        self.closed(code)
        self.runtime.timer_fired(RECONNECT_TIMER)
        self.drain()
        self.opened()

    def events(self, name: str) -> list[Any]:
        return [m["payload"] for m in self.host if m["type"] == "host.event" and m["name"] == name]

    def renders(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.host if m["type"] == type_]

    def connect(
        self,
        messages: tuple[ChatMessage, ...] = (),
        last_read_seq: int = 0,
        source: str = "resolved",
        **extra: Any,
    ) -> None:
        """Start, open and be welcomed; ``extra`` are more ``visitor.welcome`` fields."""
        self.start()
        self.opened()
        last_seq = max((m.seq for m in messages), default=0)
        self.server(
            welcome(
                **{
                    "source": source,
                    "conversation_id": "c1" if messages else None,
                    "messages": messages,
                    "last_read_seq": last_read_seq,
                    "last_seq": last_seq,
                    **extra,
                }
            )
        )


def welcome(**fields: Any) -> VisitorWelcome:
    """A ``visitor.welcome`` for a returning visitor with no conversation, unless told otherwise."""
    defaults: dict[str, Any] = {
        "visitor_uid": "u1",
        "fkid": "7",
        "identity": IDENTITY,
        "source": "initial",
        "conversation_id": None,
        "messages": (),
        "last_read_seq": 0,
        "last_seq": 0,
    }
    return VisitorWelcome(**{**defaults, **fields})


def agent_message(seq: int, text: str = "hello") -> ChatMessage:
    return ChatMessage(
        id=f"m{seq}",
        conversation_id="c1",
        seq=seq,
        author="agent",
        author_name="Ann",
        text=text,
        created_at=seq,
    )


def test_start_opens_the_visitor_socket_and_reports_connecting() -> None:
    h = Harness()
    h.start()
    assert h.sockets == [("open", "http://chat.test/ws/visitor")]
    assert h.events("runtime_mounted") == [None]
    assert h.events("connection_state_changed") == [{"status": "connecting"}]
    assert h.runtime.state is State.CONNECTING


def test_open_socket_says_hello_with_ticket_identity_and_profile() -> None:
    h = Harness(
        identity={"bs": "b_1", "bs_mm": "sig_1"},
        profile={"name": "Ada", "referer": "http://shop.test/p"},
    )
    h.start()
    h.opened()
    (hello,) = h.frames
    assert isinstance(hello, VisitorHello)
    assert hello.ticket == "T" and hello.identity == IDENTITY and hello.login is None
    assert hello.profile.name == "Ada" and hello.profile.referer == "http://shop.test/p"
    assert h.events("session_connected") == [{"status": "connected"}]
    assert h.events("connection_state_changed")[-1] == {"status": "connected"}


LOGIN = {"sbs": "user-1", "sbs_mm": "abc", "ranstr": "1700000000.rrrrrrrrrrrrrrrr"}


def test_business_login_goes_with_the_stored_identity_until_welcomed() -> None:
    """A ranstr is good for one login: the server lets a visitor present a used one again only
    together with the identity that login gave it. So the hello carries the host's stored
    identity with the login (the server ignores it unless it is that business user's)."""
    h = Harness(identity={"bs": "b_1", "bs_mm": "sig_1"}, login=LOGIN)
    h.start()
    h.opened()
    (hello,) = h.frames
    assert hello.identity == IDENTITY
    assert hello.login.sbs == "user-1" and hello.login.ranstr == LOGIN["ranstr"]
    # A socket lost before any welcome: the next hello still logs in.
    h.frames.clear()
    h.reconnect()
    assert h.frames[0].login is not None


def test_after_a_welcome_reconnects_present_the_identity_and_not_the_used_login() -> None:
    h = Harness(login=LOGIN)
    h.start()
    h.opened()
    assert h.frames[0].identity is None and h.frames[0].login is not None
    given = VisitorIdentity(bs="b_user1", bs_mm="sig_user1")
    h.server(welcome(identity=given, source="resolved"))
    h.frames.clear()
    h.reconnect()
    (hello,) = h.frames
    assert hello.identity == given and hello.login is None


def test_welcome_reports_identity_with_every_spec_field_and_activates_once() -> None:
    h = Harness()
    h.connect()
    assert h.events("visitor_auth_ready") == [
        {
            "bs": "b_1",
            "bs_mm": "sig_1",
            "fk_id": "7",
            "fkid": "7",
            "hasToken": True,
            "source": "resolved",
            "visitorUid": "u1",
        }
    ]
    assert h.events("runtime_activated") == [None]
    h.reconnect()
    h.server(welcome())
    assert h.events("runtime_activated") == [None]
    assert len(h.events("visitor_auth_ready")) == 2


def test_message_typed_before_the_connection_is_sent_after_welcome_and_acked() -> None:
    h = Harness()
    h.start()
    h.panel("ui.send", client_id="c-1", text="hi there")
    assert h.frames == []
    assert h.renders("render.message")[-1]["message"]["state"] == "sending"
    h.opened()
    h.server(welcome(source="resolved"))
    assert SendMessage(client_id="c-1", text="hi there") in h.frames
    stored = ChatMessage(
        id="m1",
        conversation_id="c1",
        seq=1,
        author="visitor",
        author_name="",
        text="hi there",
        created_at=5,
        client_id="c-1",
    )
    h.server(MessageAck(client_id="c-1", message=stored))
    last = h.renders("render.message")[-1]
    assert last["key"] == "visitor:c-1" and last["message"]["state"] == "sent"
    assert h.runtime.outbox == {}


def test_unacknowledged_messages_are_resent_with_the_same_client_id_after_reconnect() -> None:
    h = Harness()
    h.connect()
    h.panel("ui.send", client_id="c-9", text="are you there?")
    h.closed(1012)
    h.runtime.timer_fired(RECONNECT_TIMER)
    h.drain()
    h.frames.clear()
    h.opened()
    h.server(welcome())
    assert isinstance(h.frames[0], VisitorHello) and h.frames[0].identity == IDENTITY
    assert h.frames[1:] == [SendMessage(client_id="c-9", text="are you there?")]


def test_reconnect_resumes_from_the_last_seen_sequence_and_ignores_duplicates() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1), agent_message(2)))
    h.closed(1006)
    h.runtime.timer_fired(RECONNECT_TIMER)
    h.drain()
    h.frames.clear()
    h.opened()
    assert h.frames[0].last_seq == 2
    before = len(h.renders("render.message"))
    h.server(NewMessage(message=agent_message(2)))
    assert len(h.renders("render.message")) == before


def test_unread_counts_what_the_panel_rendered_out_of_sight_until_it_is_seen() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), last_read_seq=1)
    h.panel("ui.shown", seq=1, seen=False)
    assert h.events("unread_count_changed") == []
    h.server(NewMessage(message=agent_message(2)))
    assert h.events("unread_count_changed") == []  # not rendered yet: not counted yet
    h.panel("ui.shown", seq=2, seen=False)
    h.server(NewMessage(message=agent_message(3)))
    h.panel("ui.shown", seq=3, seen=False)
    assert h.events("unread_count_changed") == [{"count": 1}, {"count": 2}]
    h.panel("ui.shown", seq=3, seen=True)  # the visitor opens the panel
    assert h.events("unread_count_changed")[-1] == {"count": 0}
    assert [f for f in h.frames if isinstance(f, ReadUpTo)] == [ReadUpTo(seq=3)]


def test_a_reply_into_an_open_panel_never_flashes_the_unread_count() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1), agent_message(2)), last_read_seq=0)
    h.panel("ui.shown", seq=2, seen=True)
    h.server(NewMessage(message=agent_message(3)))
    h.panel("ui.shown", seq=3, seen=True)
    assert h.events("unread_count_changed") == []
    assert [f.seq for f in h.frames if isinstance(f, ReadUpTo)] == [2, 3]


def test_shown_never_moves_the_read_position_back_or_past_the_last_message() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1), agent_message(2)), last_read_seq=0)
    h.panel("ui.shown", seq=99, seen=True)
    h.panel("ui.shown", seq=1, seen=True)
    assert h.runtime.read_seq == 2
    assert [f for f in h.frames if isinstance(f, ReadUpTo)] == [ReadUpTo(seq=2)]


def test_messages_seen_while_disconnected_are_reported_read_at_the_next_welcome() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), last_read_seq=0)
    h.panel("ui.shown", seq=1, seen=False)
    h.closed(1006)
    h.panel("ui.shown", seq=1, seen=True)
    assert h.events("unread_count_changed") == [{"count": 1}, {"count": 0}]
    assert not any(isinstance(f, ReadUpTo) for f in h.frames)
    h.runtime.timer_fired(RECONNECT_TIMER)
    h.drain()
    h.opened()
    h.server(welcome(conversation_id="c1", last_seq=1))
    assert ReadUpTo(seq=1) in h.frames


def test_drop_reports_reconnecting_and_schedules_a_backoff_timer() -> None:
    h = Harness()
    h.connect()
    h.closed(1006)
    assert h.runtime.state is State.RECONNECTING
    assert h.events("session_disconnected") == [{"status": "reconnecting"}]
    assert h.events("connection_state_changed")[-1] == {"status": "reconnecting"}
    assert h.timers and h.timers[-1][0] == RECONNECT_TIMER
    h.runtime.timer_fired(RECONNECT_TIMER)
    h.drain()
    assert h.sockets[-1] == ("open", "http://chat.test/ws/visitor")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (CloseCode.LOGIN_FAILED, "login_failed"),
        (CloseCode.DOMAIN_NOT_WHITELISTED, "domain_not_whitelisted"),
        (CloseCode.INVALID_BOOTSTRAP, "invalid_bootstrap"),
        (CloseCode.UNAUTHORIZED, "invalid_bootstrap"),
    ],
)
def test_refusals_fail_the_bootstrap_and_never_reconnect(code: int, reason: str) -> None:
    h = Harness()
    h.start()
    h.opened()
    h.closed(code)
    assert h.events("bootstrap_failed") == [
        {"reason": reason, "source": "websocket", "mode": "embedded"}
    ]
    assert h.runtime.state is State.CLOSED
    assert h.timers == []


def test_auth_closed_reports_every_field_and_stops() -> None:
    h = Harness()
    h.connect()
    h.server(
        AuthClosed(
            reason="revoked_by_agent", message="closed", close_auth_type="revoked", clear_token=True
        )
    )
    assert h.events("auth_closed") == [
        {
            "message": "closed",
            "reason": "revoked_by_agent",
            "source": "websocket",
            "clearToken": True,
            "closeAuthType": "revoked",
            "closeCode": 4410,
            "terminal": "web",
        }
    ]
    assert h.sockets[-1] == ("close", 1000)
    h.closed(CloseCode.AUTH_CLOSED)
    assert len(h.events("auth_closed")) == 1
    assert h.timers == []


def test_a_message_sent_after_auth_closed_is_shown_as_failed_not_lost_silently() -> None:
    h = Harness()
    h.connect()
    h.closed(CloseCode.AUTH_CLOSED)
    h.panel("ui.send", client_id="late", text="hello?")
    assert h.renders("render.message")[-1]["message"]["state"] == "failed"
    assert not any(isinstance(f, SendMessage) for f in h.frames)


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        {"type": "ui.send"},
        {"v": 2, "type": "ui.send", "client_id": "a", "text": "b"},
        {"v": 1, "type": "nope"},
        {"v": 1, "type": "ui.send", "client_id": "", "text": "x"},
        {"v": 1, "type": "ui.send", "client_id": "a", "text": "   "},
        {"v": 1, "type": "ui.send", "client_id": "a", "text": "x" * 5001},
        {"v": 1, "type": "ui.shown", "seq": -1, "seen": True},
        {"v": 1, "type": "ui.shown", "seq": True, "seen": True},
        {"v": 1, "type": "ui.shown", "seq": 1, "seen": "yes"},
        {"v": 1, "type": "ui.shown"},
        {"v": 1, "type": "ui.locale", "locale": "xx"},
        {"v": 1, "type": "runtime.start", "config": {"server_url": "", "ticket": "t"}},
        {
            "v": 1,
            "type": "runtime.start",
            "config": {"server_url": "u", "ticket": "t", "identity": {"bs": 1}},
        },
    ],
)
def test_invalid_panel_messages_are_rejected_and_change_nothing(message: Any) -> None:
    h = Harness()
    with pytest.raises(BridgeError):
        h.runtime.receive_host(message)
    h.drain()
    assert h.runtime.state is State.IDLE and h.host == [] and h.sockets == []


def test_invalid_transition_raises_and_keeps_the_state() -> None:
    h = Harness()
    with pytest.raises(InvalidTransition, match="expected one of"):
        h.runtime.socket_opened()
    assert h.runtime.state is State.IDLE


def test_a_refused_second_start_keeps_the_running_sessions_ticket_and_locale() -> None:
    """Issue 12: the state is checked before the new config is kept."""
    h = Harness(locale="de")
    h.connect()
    with pytest.raises(InvalidTransition):
        h.panel("runtime.start", config={"server_url": "http://x", "ticket": "T2", "locale": "fr"})
    assert h.runtime.config is not None and h.runtime.config.ticket == "T"
    assert h.runtime.locale == "de" and h.runtime.state is State.READY
    h.reconnect()
    hello = h.frames[-1]
    assert isinstance(hello, VisitorHello) and (hello.ticket, hello.locale) == ("T", "de")


@pytest.mark.parametrize("code", [CloseCode.UNAUTHORIZED, CloseCode.AUTH_CLOSED])
def test_a_refusal_before_the_socket_opened_closes_the_runtime(code: int) -> None:
    """Every live state judges a close code the same way, CONNECTING included."""
    h = Harness()
    h.start()
    h.closed(code)
    assert h.runtime.state is State.CLOSED and h.timers == []


def test_a_hello_resumes_below_a_seq_that_never_arrived() -> None:
    """Issue 12 (the fault suite): seq 3 arrived, seq 2 was still in flight when the socket
    dropped. Resuming after 3 would lose 2 for good; the hello resumes after 1."""
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.server(NewMessage(message=agent_message(3)))
    h.reconnect()
    hello = h.frames[-1]
    assert isinstance(hello, VisitorHello) and hello.last_seq == 1
    replay = (agent_message(2), agent_message(3))
    h.server(welcome(conversation_id="c1", messages=replay, last_seq=3))
    assert sorted(m.seq for m in h.runtime.messages.values()) == [1, 2, 3]
    h.reconnect()
    assert h.frames[-1].last_seq == 3


def test_an_older_backlog_than_the_welcome_carries_is_not_asked_for_again() -> None:
    """A welcome carries the latest messages only: the runtime resumes after them, not after
    the backlog it was never sent."""
    h = Harness()
    h.connect(messages=tuple(agent_message(seq) for seq in range(301, 501)))
    h.reconnect()
    hello = h.frames[-1]
    assert isinstance(hello, VisitorHello) and hello.last_seq == 500


def test_garbage_from_the_server_is_logged_and_ignored() -> None:
    h = Harness()
    h.connect()
    before = dict(h.runtime.messages)
    h.runtime.receive_server("{not json")
    h.runtime.receive_server(json.dumps({"v": 1, "type": "message.new", "message": {"id": 1}}))
    h.drain()
    assert h.runtime.messages == before
    assert [m["type"] for m in h.host[-2:]] == ["runtime.log", "runtime.log"]


def test_locale_change_is_rendered() -> None:
    h = Harness()
    h.start()
    h.panel("ui.locale", locale="ja")
    assert h.renders("render.locale")[-1] == {"v": 1, "type": "render.locale", "locale": "ja"}


def test_every_state_has_a_documented_transition_out_or_is_terminal() -> None:
    sources = {state for (state, _) in TRANSITIONS}
    assert sources == set(State) - {State.CLOSED}
    assert (State.IDLE, Input.START) in TRANSITIONS


def test_failed_reconnect_attempts_report_reconnecting_once() -> None:
    h = Harness()
    h.connect()
    for _ in range(3):
        h.closed(1006)
        h.runtime.timer_fired(RECONNECT_TIMER)
        h.drain()
    statuses = [p["status"] for p in h.events("connection_state_changed")]
    assert statuses == ["connecting", "connected", "reconnecting"]
    h.opened()
    assert h.events("connection_state_changed")[-1] == {"status": "connected"}


def test_unread_is_restored_from_the_servers_read_position() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1), agent_message(2), agent_message(3)), last_read_seq=1)
    h.panel("ui.shown", seq=3, seen=False)
    assert h.events("unread_count_changed") == [{"count": 2}]


def test_a_welcome_larger_than_the_client_frame_cap_is_accepted() -> None:
    # 200 long messages make a welcome far beyond the 64 KiB the server accepts from clients.
    messages = tuple(agent_message(seq, "x" * 1000) for seq in range(1, 201))
    h = Harness()
    h.connect(messages=messages)
    assert h.events("runtime_activated") == [None]
    assert len(h.renders("render.message")) == 200
