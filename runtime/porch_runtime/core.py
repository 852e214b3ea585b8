"""The visitor runtime's state machine: sans-I/O, pure Python.

The runtime sits between the panel (which forwards what the host page and the visitor do) and the
chat server. Like python-websockets' protocol objects it performs no I/O: the adapter feeds it
inputs and carries out what it queues.

Inputs::

    receive_host(message)        a bridge message from the panel (a dict, validated here)
    socket_opened()              the WebSocket the runtime asked for is open
    receive_server(text)         one frame from the server
    socket_closed(code, reason)  the WebSocket closed (for whatever reason)
    timer_fired(name)            a timer the runtime asked for went off

Outputs (each call drains its queue)::

    host_to_send()     bridge messages for the panel: ``render.*`` for the renderer and
                       ``host.event`` for the host page's public events
    server_to_send()   frames (text) to write to the open WebSocket
    socket_actions()   ``("open", url)`` or ``("close", code)``
    timers_to_set()    ``(name, delay_seconds)``; setting a name again replaces the timer

Every transition of the connection state is in :data:`TRANSITIONS`; an input that is not valid
in the current state raises :class:`InvalidTransition` and leaves the state unchanged.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from porch_protocol import (
    AuthClosed,
    BusinessLogin,
    ChatMessage,
    CloseCode,
    ErrorFrame,
    MessageAck,
    NewMessage,
    ProtocolError,
    ReadUpTo,
    SendMessage,
    VisitorHello,
    VisitorIdentity,
    VisitorProfile,
    VisitorWelcome,
    decode,
    encode,
)
from porch_runtime import bridge

RECONNECT_TIMER = "reconnect"


class State(enum.Enum):
    """Connection state of the runtime."""

    #: Created; waiting for ``runtime.start`` from the panel.
    IDLE = "idle"
    #: A WebSocket was requested and is not open yet (first connection).
    CONNECTING = "connecting"
    #: The socket is open and ``visitor.hello`` is sent; waiting for ``visitor.welcome``.
    AUTHENTICATING = "authenticating"
    #: Welcomed: messages flow.
    READY = "ready"
    #: The connection dropped; a reconnect timer or a new socket is pending.
    RECONNECTING = "reconnecting"
    #: Terminal: the server refused this visitor (auth closed, login failed, domain refused).
    CLOSED = "closed"


class Input(enum.Enum):
    START = "start"
    SOCKET_OPENED = "socket_opened"
    WELCOME = "welcome"
    SOCKET_CLOSED = "socket_closed"
    RETRY = "retry"
    REFUSED = "refused"


#: (state, input) -> next state. Anything missing is an invalid transition.
TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.IDLE, Input.START): State.CONNECTING,
    (State.CONNECTING, Input.SOCKET_OPENED): State.AUTHENTICATING,
    (State.CONNECTING, Input.SOCKET_CLOSED): State.RECONNECTING,
    (State.AUTHENTICATING, Input.WELCOME): State.READY,
    (State.AUTHENTICATING, Input.SOCKET_CLOSED): State.RECONNECTING,
    (State.AUTHENTICATING, Input.REFUSED): State.CLOSED,
    (State.READY, Input.SOCKET_CLOSED): State.RECONNECTING,
    (State.READY, Input.REFUSED): State.CLOSED,
    (State.RECONNECTING, Input.RETRY): State.RECONNECTING,
    (State.RECONNECTING, Input.SOCKET_OPENED): State.AUTHENTICATING,
    (State.RECONNECTING, Input.SOCKET_CLOSED): State.RECONNECTING,
    (State.RECONNECTING, Input.REFUSED): State.CLOSED,
}

#: Public ``connection_state_changed`` status for each state.
PUBLIC_STATUS: dict[State, str] = {
    State.IDLE: "disconnected",
    State.CONNECTING: "connecting",
    State.AUTHENTICATING: "connected",
    State.READY: "connected",
    State.RECONNECTING: "reconnecting",
    State.CLOSED: "disconnected",
}

#: Close codes after which reconnecting cannot help, with the ``bootstrap_failed`` reason.
REFUSALS: dict[int, str] = {
    CloseCode.UNAUTHORIZED: "invalid_bootstrap",
    CloseCode.LOGIN_FAILED: "login_failed",
    CloseCode.DOMAIN_NOT_WHITELISTED: "domain_not_whitelisted",
    CloseCode.INVALID_BOOTSTRAP: "invalid_bootstrap",
}


class InvalidTransition(RuntimeError):
    """An input arrived that the current state does not accept."""

    def __init__(self, state: State, event: Input) -> None:
        expected = sorted(i.value for (s, i) in TRANSITIONS if s is state)
        super().__init__(
            f"{event.value!r} is not valid in state {state.value!r}; expected one of {expected}"
        )


def backoff(
    rng: Callable[[], float], initial: float = 0.5, factor: float = 2.0, cap: float = 15.0
) -> Iterator[float]:
    """Reconnect delays: exponential with jitter, capped; a pure generator, as in websockets."""
    delay = initial
    while True:
        yield delay * (0.5 + rng() / 2)
        delay = min(cap, delay * factor)


@dataclass
class _Outgoing:
    client_id: str
    text: str
    created_at: int
    failed: bool = False


@dataclass
class RuntimeConfig:
    server_url: str
    ticket: str
    locale: str = "en"
    identity: VisitorIdentity | None = None
    login: BusinessLogin | None = None
    profile: VisitorProfile = field(default_factory=VisitorProfile)


class VisitorRuntime:
    """One visitor's chat session. See the module docstring for the input/output contract."""

    def __init__(
        self,
        *,
        now_ms: Callable[[], int],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.state = State.IDLE
        self.config: RuntimeConfig | None = None
        self.locale = "en"
        self.identity: VisitorIdentity | None = None
        self.messages: dict[str, ChatMessage] = {}
        self.outbox: dict[str, _Outgoing] = {}
        self.last_seq = 0
        self.read_seq = 0
        #: Highest seq the panel has rendered (``ui.shown``); unread counts only up to it.
        self.shown_seq = 0
        self.unread = 0
        self.activated = False
        #: The last ``connection_state_changed`` status sent: the event reports changes only.
        self._public_status: str | None = None
        self._now_ms = now_ms
        self._rng = rng
        self._backoff: Iterator[float] = backoff(rng)
        self._host: list[dict[str, Any]] = []
        self._server: list[str] = []
        self._socket: list[tuple[str, Any]] = []
        self._timers: list[tuple[str, float]] = []

    # --- outputs --------------------------------------------------------------------------------

    def host_to_send(self) -> list[dict[str, Any]]:
        out, self._host = self._host, []
        return out

    def server_to_send(self) -> list[str]:
        out, self._server = self._server, []
        return out

    def socket_actions(self) -> list[tuple[str, Any]]:
        out, self._socket = self._socket, []
        return out

    def timers_to_set(self) -> list[tuple[str, float]]:
        out, self._timers = self._timers, []
        return out

    # --- inputs ---------------------------------------------------------------------------------

    def receive_host(self, raw: object) -> None:
        """Apply one message from the panel. Invalid messages raise :class:`bridge.BridgeError`
        and change nothing."""
        message = bridge.parse_panel_message(raw)
        kind = message["type"]
        if kind == "runtime.start":
            self._start(message)
        elif kind == "ui.send":
            self._send(message["client_id"], message["text"])
        elif kind == "ui.retry":
            self._retry(message["client_id"])
        elif kind == "ui.shown":
            self._shown(message["seq"], message["seen"])
        elif kind == "ui.locale":
            self.locale = message["locale"]
            self._render("render.locale", locale=self.locale)

    def socket_opened(self) -> None:
        self._transition(Input.SOCKET_OPENED)
        self._backoff = backoff(self._rng)
        assert self.config is not None
        hello = VisitorHello(
            ticket=self.config.ticket,
            locale=self.locale,
            identity=self.identity,
            login=self.config.login if self.identity is None else None,
            profile=self.config.profile,
            last_seq=self.last_seq,
        )
        self._server.append(encode(hello))
        self._announce_status()
        self._event("session_connected", {"status": "connected"})

    def receive_server(self, text: str) -> None:
        try:
            frame = decode(text)
        except ProtocolError as exc:
            self._log(f"dropped a server frame: {exc}")
            return
        if isinstance(frame, VisitorWelcome):
            self._welcome(frame)
        elif isinstance(frame, MessageAck):
            self.outbox.pop(frame.client_id, None)
            self._store(frame.message)
        elif isinstance(frame, NewMessage):
            self._store(frame.message)
        elif isinstance(frame, AuthClosed):
            self._auth_closed(frame.reason, frame.message, frame.close_auth_type, frame.clear_token)
        elif isinstance(frame, ErrorFrame):
            self._log(f"server error {frame.code}: {frame.message}")
        else:
            self._log(f"ignored unexpected frame {frame.TYPE!r}")

    def socket_closed(self, code: int, reason: str = "") -> None:
        if self.state in (State.CLOSED, State.IDLE):
            return
        if code == CloseCode.AUTH_CLOSED:
            self._auth_closed("revoked", reason or "authentication closed", "revoked", True)
            return
        refusal = REFUSALS.get(code)
        if refusal is not None:
            self._transition(Input.REFUSED)
            self._announce_status()
            self._event("session_disconnected", {"status": "disconnected"})
            self._event(
                "bootstrap_failed", {"reason": refusal, "source": "websocket", "mode": "embedded"}
            )
            return
        was_connected = self.state in (State.AUTHENTICATING, State.READY)
        self._transition(Input.SOCKET_CLOSED)
        self._announce_status()
        if was_connected:
            self._event("session_disconnected", {"status": "reconnecting"})
        self._timers.append((RECONNECT_TIMER, next(self._backoff)))

    def timer_fired(self, name: str) -> None:
        if name != RECONNECT_TIMER or self.state is not State.RECONNECTING:
            return
        self._transition(Input.RETRY)
        self._open_socket()

    # --- transitions ----------------------------------------------------------------------------

    def _transition(self, event: Input) -> None:
        next_state = TRANSITIONS.get((self.state, event))
        if next_state is None:
            raise InvalidTransition(self.state, event)
        self.state = next_state

    def _start(self, message: dict[str, Any]) -> None:
        config = message["config"]
        self.config = RuntimeConfig(
            server_url=config["server_url"],
            ticket=config["ticket"],
            locale=config["locale"],
            identity=config["identity"],
            login=config["login"],
            profile=config["profile"],
        )
        self.locale = config["locale"]
        # A business login replaces whatever anonymous identity the host had stored.
        self.identity = None if self.config.login is not None else self.config.identity
        self._transition(Input.START)
        self._event("runtime_mounted", None)
        self._render("render.locale", locale=self.locale)
        self._announce_status()
        self._open_socket()

    def _open_socket(self) -> None:
        assert self.config is not None
        self._socket.append(("open", self.config.server_url.rstrip("/") + "/ws/visitor"))

    def _welcome(self, frame: VisitorWelcome) -> None:
        self._transition(Input.WELCOME)
        self.identity = frame.identity
        if self.read_seq > frame.last_read_seq:
            # Seen while disconnected: the server must learn it too.
            self._server.append(encode(ReadUpTo(seq=self.read_seq)))
        self.read_seq = max(self.read_seq, frame.last_read_seq)
        for message in frame.messages:
            self._store(message)
        self.last_seq = max(self.last_seq, frame.last_seq)
        self._event(
            "visitor_auth_ready",
            {
                "bs": frame.identity.bs,
                "bs_mm": frame.identity.bs_mm,
                "fk_id": frame.fkid,
                "fkid": frame.fkid,
                "hasToken": True,
                "source": frame.source,
                "visitorUid": frame.visitor_uid,
            },
        )
        for pending in self.outbox.values():
            if not pending.failed:
                self._server.append(encode(SendMessage(pending.client_id, pending.text)))
        self._update_unread()
        self._render("render.status", status="ready")
        if not self.activated:
            self.activated = True
            self._event("runtime_activated", None)

    def _auth_closed(self, reason: str, text: str, close_type: str, clear_token: bool) -> None:
        self._transition(Input.REFUSED)
        self.identity = None
        self.outbox.clear()
        self._announce_status()
        self._event(
            "auth_closed",
            {
                "message": text,
                "reason": reason,
                "source": "websocket",
                "clearToken": clear_token,
                "closeAuthType": close_type,
                "closeCode": int(CloseCode.AUTH_CLOSED),
                "terminal": "web",
            },
        )
        self._socket.append(("close", 1000))

    # --- messages -------------------------------------------------------------------------------

    def _send(self, client_id: str, text: str) -> None:
        if self.state is State.CLOSED:
            self._render_pending(_Outgoing(client_id, text, self._now_ms(), failed=True))
            return
        if client_id in self.outbox:
            return
        pending = _Outgoing(client_id, text, self._now_ms())
        self.outbox[client_id] = pending
        self._render_pending(pending)
        if self.state is State.READY:
            self._server.append(encode(SendMessage(client_id, text)))

    def _retry(self, client_id: str) -> None:
        pending = self.outbox.get(client_id)
        if pending is None or self.state is State.CLOSED:
            return
        pending.failed = False
        self._render_pending(pending)
        if self.state is State.READY:
            self._server.append(encode(SendMessage(client_id, pending.text)))

    def _store(self, message: ChatMessage) -> None:
        """Keep and render a message; it counts as unread once the panel reports it shown."""
        if message.id in self.messages:
            return
        self.messages[message.id] = message
        self.last_seq = max(self.last_seq, message.seq)
        self._render(
            "render.message",
            key=_message_key(message.author, message.client_id, message.id),
            message=_message_view(message),
        )

    def _render_pending(self, pending: _Outgoing) -> None:
        self._render(
            "render.message",
            key=_message_key("visitor", pending.client_id, ""),
            message={
                "author": "visitor",
                "author_name": "",
                "text": pending.text,
                "seq": None,
                "created_at": pending.created_at,
                "state": "failed" if pending.failed else "sending",
            },
        )

    # --- unread ---------------------------------------------------------------------------------

    def _shown(self, seq: int, seen: bool) -> None:
        """The panel has rendered every message up to ``seq``; ``seen`` when it did so in an open
        panel of a visible tab. Seen messages are read, here and (now, or at the next welcome when
        offline) on the server."""
        self.shown_seq = max(self.shown_seq, min(seq, self.last_seq))
        if seen and self.shown_seq > self.read_seq:
            self.read_seq = self.shown_seq
            if self.state is State.READY:
                self._server.append(encode(ReadUpTo(seq=self.read_seq)))
        self._update_unread()

    def _update_unread(self) -> None:
        """Agents' messages the panel has rendered but the visitor has not seen. Counting only
        what the panel reported keeps the count from flashing up for a message that lands in an
        open panel and is read a moment later."""
        count = sum(
            1
            for m in self.messages.values()
            if m.author != "visitor" and self.read_seq < m.seq <= self.shown_seq
        )
        if count != self.unread:
            self.unread = count
            self._event("unread_count_changed", {"count": count})

    # --- output helpers -------------------------------------------------------------------------

    def _announce_status(self) -> None:
        status = PUBLIC_STATUS[self.state]
        self._render("render.status", status=self.state.value)
        if status != self._public_status:
            self._public_status = status
            self._event("connection_state_changed", {"status": status})

    def _event(self, name: str, payload: dict[str, Any] | None) -> None:
        self._host.append(
            {"v": bridge.VERSION, "type": "host.event", "name": name, "payload": payload}
        )

    def _render(self, kind: str, **fields: Any) -> None:
        self._host.append({"v": bridge.VERSION, "type": kind, **fields})

    def _log(self, text: str) -> None:
        self._host.append({"v": bridge.VERSION, "type": "runtime.log", "text": text})


def _message_key(author: str, client_id: str | None, message_id: str) -> str:
    """The renderer's key for a message: a visitor's own message keeps the key it had while it
    was pending, so the acknowledged message replaces the pending one in place."""
    return f"{author}:{client_id}" if client_id else message_id


def _message_view(message: ChatMessage) -> dict[str, Any]:
    return {
        "author": message.author,
        "author_name": message.author_name,
        "text": message.text,
        "seq": message.seq,
        "created_at": message.created_at,
        "state": "sent",
    }
