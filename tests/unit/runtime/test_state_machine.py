"""The visitor runtime's state machine under Hypothesis: any order of inputs (panel messages,
socket events, server frames, timers), checked after each step against the transition table and
the delivery rules (issue 12).

An input the state does not accept must raise ``InvalidTransition`` and change nothing at all;
every other input must move along a row of ``TRANSITIONS``. Whatever happens, a message the
visitor typed is in the outbox, acknowledged, or the session is closed; the unread count is what
the panel was shown and not seen; no frame waits for a socket that is not open; a hello resumes
at or below every seq the runtime is missing.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from porch_protocol import (
    AuthClosed,
    ChatMessage,
    CloseCode,
    MessageAck,
    NewMessage,
    SendMessage,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
    decode,
    encode,
)
from porch_runtime.core import (
    RECONNECT_TIMER,
    TRANSITIONS,
    TYPING_TIMER,
    InvalidTransition,
    State,
    VisitorRuntime,
)

CLOSE_CODES = [1000, 1001, 1006, 1011, 1012, 1013, 4400, *(int(c) for c in CloseCode)]
CONFIG = {"server_url": "http://chat.test", "ticket": "T", "locale": "en"}


class RuntimeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runtime = VisitorRuntime(now_ms=lambda: 1_000, rng=lambda: 0.5)
        #: The server's side of the one conversation: seq -> message.
        self.stored: dict[int, ChatMessage] = {}
        #: Client ids the visitor typed.
        self.typed: list[str] = []
        #: The runtime asked for a socket (``open``) that has not opened or failed yet.
        self.open_requested = False
        self.socket_open = False
        self.timers: set[str] = set()
        self.frames: list[Any] = []
        self.announced: dict[str, int] = {}
        self.statuses: list[str] = []
        #: The panel is open in a visible tab.
        self.seen = False

    # --- driving --------------------------------------------------------------------------------

    def _apply(self, step: Any) -> None:
        """Run one input; a refused one must leave the runtime exactly as it was and queue
        nothing (the queues are drained after every step, so they are empty before it)."""
        before_state = self.runtime.state
        before = self._observable()
        try:
            step()
        except InvalidTransition:
            assert self._observable() == before, "a refused input changed the runtime"
            r = self.runtime
            queued = (r.host_to_send(), r.server_to_send(), r.socket_actions(), r.timers_to_set())
            assert queued == ([], [], [], []), f"a refused input queued {queued}"
            return
        after_state = self.runtime.state
        if after_state is not before_state:
            rows = {to for (src, _), to in TRANSITIONS.items() if src is before_state}
            assert after_state in rows, (before_state, after_state)
        self._drain()

    def _observable(self) -> Any:
        r = self.runtime
        return (
            r.state,
            copy.deepcopy(r.config),
            r.locale,
            r.identity,
            dict(r.messages),
            {k: (v.client_id, v.text, v.failed) for k, v in r.outbox.items()},
            r.conversation_id,
            r.last_seq,
            r.read_seq,
            r.shown_seq,
            r.unread,
        )

    def _drain(self) -> None:
        runtime = self.runtime
        rendered = False
        for message in runtime.host_to_send():
            rendered = rendered or message["type"] == "render.message"
            if message["type"] == "host.event":
                if message["name"] == "chat_message":
                    key = f"{message['payload']['conversation_id']}:{message['payload']['seq']}"
                    self.announced[key] = self.announced.get(key, 0) + 1
                elif message["name"] == "connection_state_changed":
                    self.statuses.append(message["payload"]["status"])
        for action, _argument in runtime.socket_actions():
            if action == "open":
                assert runtime.state in (State.CONNECTING, State.RECONNECTING)
                self.open_requested = True
            else:
                self.socket_open = self.open_requested = False
        frames = runtime.server_to_send()
        if frames:
            assert self.socket_open, f"frames queued with no open socket: {frames}"
            self.frames += [decode(f) for f in frames]
        for name, delay in runtime.timers_to_set():
            assert delay >= 0
            self.timers.add(name)
        if rendered:
            self._report_shown()

    def _message(self, seq: int, author: str, client_id: str | None = None) -> ChatMessage:
        return ChatMessage(
            id=f"m{seq}",
            conversation_id="c1",
            seq=seq,
            author=author,  # type: ignore[arg-type]
            author_name="Ann" if author == "agent" else "",
            text=f"text {seq}",
            created_at=seq,
            client_id=client_id,
        )

    def _server(self, frame: Any) -> None:
        self._apply(lambda: self.runtime.receive_server(encode(frame)))

    # --- the panel ------------------------------------------------------------------------------

    @rule()
    def start(self) -> None:
        start = {"v": 1, "type": "runtime.start", "config": CONFIG}
        self._apply(lambda: self.runtime.receive_host(start))

    @rule(text=st.sampled_from(["hi", "hello there", "ok"]))
    def type_a_message(self, text: str) -> None:
        client_id = f"c{len(self.typed)}"
        self.typed.append(client_id)
        message = {"v": 1, "type": "ui.send", "client_id": client_id, "text": text}
        self._apply(lambda: self.runtime.receive_host(message))

    @rule(seen=st.booleans())
    def panel_visibility(self, seen: bool) -> None:
        """The panel is opened or minimized (or its tab hidden): it reports what it shows."""
        self.seen = seen
        self._report_shown()

    def _report_shown(self) -> None:
        """What panel.js does after rendering: ``ui.shown`` with the highest seq rendered."""
        message = {"v": 1, "type": "ui.shown", "seq": self.runtime.last_seq, "seen": self.seen}
        self._apply(lambda: self.runtime.receive_host(message))

    # --- the socket -----------------------------------------------------------------------------

    @precondition(lambda self: self.open_requested)
    @rule()
    def socket_opens(self) -> None:
        def step() -> None:
            self.runtime.socket_opened()
            self.socket_open, self.open_requested = True, False

        self._apply(step)
        hello = self.frames[-1] if self.frames else None
        if self.socket_open and isinstance(hello, VisitorHello):
            held = {m.seq for m in self.runtime.messages.values()}
            missing = [s for s in range(1, self.runtime.last_seq + 1) if s not in held]
            assert not missing or hello.last_seq < min(missing), (hello.last_seq, missing)

    @precondition(
        lambda self: not self.open_requested and self.runtime.state is not State.RECONNECTING
    )
    @rule()
    def a_stray_open_event(self) -> None:
        """No socket was asked for (an adapter bug): the runtime refuses the event. (While
        reconnecting it cannot tell: the socket it asks for at each retry opens there.)"""
        state = self.runtime.state
        self._apply(self.runtime.socket_opened)
        assert self.runtime.state is state

    @precondition(lambda self: self.open_requested or self.socket_open)
    @rule(code=st.sampled_from(CLOSE_CODES))
    def socket_closes(self, code: int) -> None:
        def step() -> None:
            self.socket_open = self.open_requested = False
            self.runtime.socket_closed(code, "")

        self._apply(step)

    @rule(name=st.sampled_from([RECONNECT_TIMER, TYPING_TIMER]))
    def timer_fires(self, name: str) -> None:
        if name in self.timers:
            self.timers.discard(name)
            self._apply(lambda: self.runtime.timer_fired(name))

    # --- the server -----------------------------------------------------------------------------

    @precondition(lambda self: self.socket_open)
    @rule()
    def welcome(self) -> None:
        """The messages after the hello's ``last_seq``."""
        hellos = [f for f in self.frames if isinstance(f, VisitorHello)]
        after = hellos[-1].last_seq if hellos else 0
        messages = tuple(m for s, m in sorted(self.stored.items()) if s > after)
        frame = VisitorWelcome(
            visitor_uid="u1",
            fkid="1",
            identity=VisitorIdentity(bs="b", bs_mm="sig"),
            source="resolved",
            conversation_id="c1" if self.stored else None,
            messages=messages,
            last_read_seq=0,
            last_seq=max(self.stored, default=0),
        )
        self._server(frame)

    @precondition(lambda self: self.socket_open and self.frames)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        """The server stores one of the messages sent on this socket (once per client id)."""
        hello = max(i for i, f in enumerate(self.frames) if isinstance(f, VisitorHello))
        sent = [f.client_id for f in self.frames[hello:] if isinstance(f, SendMessage)]
        if not sent:
            return
        client_id = data.draw(st.sampled_from(sent))
        stored = next((m for m in self.stored.values() if m.client_id == client_id), None)
        if stored is None:
            stored = self._message(len(self.stored) + 1, "visitor", client_id)
            self.stored[stored.seq] = stored
        self._server(MessageAck(client_id=client_id, message=stored))

    @precondition(lambda self: self.socket_open)
    @rule(author=st.sampled_from(["agent", "system"]), deliver=st.booleans())
    def other_side_writes(self, author: str, deliver: bool) -> None:
        """An agent's message or a system notice is stored; it reaches this socket, or not (the
        socket drops before it is sent: the next welcome must bring it)."""
        message = self._message(len(self.stored) + 1, author)
        self.stored[message.seq] = message
        if deliver:
            self._server(NewMessage(message=message))

    @precondition(lambda self: self.socket_open)
    @rule()
    def two_messages_out_of_order(self) -> None:
        """Two messages stored; the later one is delivered first (two tasks publish, or the
        network swapped two frames), and the earlier one is still in flight (it may never come,
        if the socket drops next)."""
        first = self._message(len(self.stored) + 1, "system")
        second = self._message(len(self.stored) + 2, "agent")
        self.stored[first.seq], self.stored[second.seq] = first, second
        self._server(NewMessage(message=second))

    @precondition(lambda self: self.socket_open)
    @rule(seq=st.integers(1, 8))
    def an_old_message_again(self, seq: int) -> None:
        """A stored message delivered again (a welcome overlapping fan-out, a reordered frame)."""
        if seq in self.stored:
            self._server(NewMessage(message=self.stored[seq]))

    @precondition(lambda self: self.socket_open)
    @rule()
    def auth_closed(self) -> None:
        self._server(AuthClosed(
                reason="revoked", message="bye", close_auth_type="revoked", clear_token=True
            ))

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def nothing_typed_is_lost(self) -> None:
        runtime = self.runtime
        if runtime.state is State.CLOSED:
            return
        acked = {m.client_id for m in runtime.messages.values()}
        for client_id in self.typed:
            assert client_id in runtime.outbox or client_id in acked, client_id

    @invariant()
    def the_unread_count_is_shown_but_not_seen_agent_messages(self) -> None:
        r = self.runtime
        assert r.read_seq <= max(r.shown_seq, r.read_seq) <= max(r.last_seq, r.read_seq)
        shown = [m for m in r.messages.values() if r.read_seq < m.seq <= r.shown_seq]
        expected = sum(1 for m in shown if m.author == "agent")
        assert r.unread == expected

    @invariant()
    def each_message_is_announced_once(self) -> None:
        assert all(n == 1 for n in self.announced.values()), self.announced

    @invariant()
    def the_host_page_hears_of_changes_only(self) -> None:
        assert all(a != b for a, b in zip(self.statuses, self.statuses[1:], strict=False))

    @invariant()
    def a_dropped_connection_plans_a_retry(self) -> None:
        idle = not (self.socket_open or self.open_requested)
        if self.runtime.state is State.RECONNECTING and idle:
            assert RECONNECT_TIMER in self.timers


RuntimeMachine.TestCase.settings = settings(max_examples=500, stateful_step_count=40, deadline=None)
TestRuntimeMachine = RuntimeMachine.TestCase
