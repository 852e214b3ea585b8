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
    upload_finished(id, file)    the adapter's upload of ``id`` answered with a ``FileRef`` object
    upload_failed(id, reason)    the adapter's upload of ``id`` failed

The host page's APIs reach the runtime as ``host.command`` messages (visitor data, tags, ending
the chat): each is answered by exactly one ``host.result`` with the command's ``id``, once the
server has answered the request it became. Commands given before the runtime is connected wait
for the welcome, in order.

Outputs (each call drains its queue)::

    host_to_send()     bridge messages for the panel: ``render.*`` for the renderer and
                       ``host.event`` for the host page's public events
    server_to_send()   frames (text) to write to the open WebSocket
    socket_actions()   ``("open", url)`` or ``("close", code)``
    timers_to_set()    ``(name, delay_seconds)``; setting a name again replaces the timer
    uploads_to_start() :class:`UploadOrder` s: files the adapter must POST to the server

Every transition of the connection state is in :data:`TRANSITIONS`; an input that is not valid
in the current state raises :class:`InvalidTransition` before it changes anything: a refused
input leaves the runtime exactly as it was.
"""

from __future__ import annotations

import enum
import itertools
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, cast
from urllib.parse import urljoin

from porch_protocol import (
    AgentBrief,
    AuthClosed,
    BusinessLogin,
    ChangeTags,
    ChatMessage,
    CloseCode,
    ConversationDeleted,
    ConversationEnded,
    DeleteConversations,
    EndConversation,
    ErrorFrame,
    FileRef,
    FormAnswer,
    FormField,
    Message,
    MessageAck,
    NewMessage,
    PageStatusChanged,
    ProtocolError,
    RateConversation,
    ReadUpdated,
    ReadUpTo,
    RequestDone,
    SendMessage,
    SetTyping,
    SubmitOffline,
    SubmitPrechat,
    TagsUpdated,
    TawkLogin,
    TrackEvent,
    TypingChanged,
    UpdateVisitor,
    VisitorHello,
    VisitorIdentity,
    VisitorProfile,
    VisitorWelcome,
    WidgetSettings,
    backoff,
    decode,
    encode,
    is_web_url,
    split_links,
)
from porch_protocol.wire import MaskKind, Rating, parse_value
from porch_runtime import bridge, privacy

RECONNECT_TIMER = "reconnect"
TYPING_TIMER = "typing"
#: Seconds without a keystroke after which the visitor no longer counts as typing.
TYPING_IDLE_SECONDS = 4.0
#: Error code of a request that could not reach the server (not one of the server's codes).
NOT_CONNECTED = "NOT_CONNECTED"
#: Images the panel may show inline as a thumbnail (no SVG: it can carry script).
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
    # A close code is judged whatever the state it finds: a refusal is final even before open.
    (State.CONNECTING, Input.REFUSED): State.CLOSED,
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


@dataclass
class _Outgoing:
    client_id: str
    text: str
    created_at: int
    failed: bool = False
    file: FileRef | None = None
    masked: tuple[MaskKind, ...] = ()


@dataclass
class _Upload:
    """A file the visitor attached, until the server stored it (then it is an outgoing message
    with the same client id)."""

    upload_id: str
    name: str
    size: int
    content_type: str
    created_at: int
    failed: bool = False
    error: str = ""
    #: Handed to the adapter and not answered yet (uploads do not need the WebSocket).
    started: bool = False


@dataclass(frozen=True)
class UploadOrder:
    """POST the panel's file ``upload_id`` to ``url`` with ``Authorization: Bearer <token>``;
    with ``strip_metadata``, its bytes through :func:`porch_runtime.privacy.strip_metadata`."""

    upload_id: str
    url: str
    token: str
    content_type: str = ""
    strip_metadata: bool = False


@dataclass
class RuntimeConfig:
    server_url: str
    ticket: str
    locale: str = "en"
    identity: VisitorIdentity | None = None
    login: BusinessLogin | None = None
    tawk_login: TawkLogin | None = None
    profile_hash: str | None = None
    profile: VisitorProfile = field(default_factory=VisitorProfile)
    #: The privacy filters (porch_runtime.privacy) apply unless the site turned them off.
    privacy_filter: bool = True
    privacy_patterns: tuple[str, ...] = ()


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
        #: A welcome came on this runtime's connection: hellos no longer carry the login.
        self._welcomed = False
        self.messages: dict[str, ChatMessage] = {}
        self.outbox: dict[str, _Outgoing] = {}
        self.last_seq = 0
        #: Seqs up to this one were never sent to this runtime (a backlog older than a welcome
        #: carries), as opposed to sent and missed; see :meth:`_resume_seq`.
        self._backlog_seq = 0
        #: The ``last_seq`` the latest hello resumed after.
        self._hello_seq = 0
        self.read_seq = 0
        #: Highest seq the panel has rendered (``ui.shown``); unread counts only up to it.
        self.shown_seq = 0
        self.unread = 0
        self.activated = False
        #: The conversation shown; None before the first message (or after an ended chat, once
        #: the visitor writes again: the server then starts a new one).
        self.conversation_id: str | None = None
        self.page_status = "online"
        self.widget = WidgetSettings(app_name="")
        self.upload_token = ""
        self.ended = False
        self.rating: int | None = None
        #: The visitor rated in this session (the panel thanks them).
        self.rated_now = False
        #: Highest seq the agents have read (the "Seen" receipt).
        self.agent_read_seq = 0
        self.prechat_done = False
        self.offline_sent = False
        self.tags: tuple[str, ...] = ()
        self.tags_version = 0
        self.uploads: dict[str, _Upload] = {}
        #: Agents typing now, by name.
        self.agents_typing: set[str] = set()
        self.typing = False
        self._last_keystroke_ms = 0
        #: Unanswered request frames: request id -> kind (the frame's type).
        self.requests: dict[str, str] = {}
        self._request_ids = itertools.count(1)
        #: What the panel was last told (surface, conversation, receipt): renders on change only.
        self._rendered: dict[str, Any] = {}
        #: The last ``connection_state_changed`` status sent: the event reports changes only.
        self._public_status: str | None = None
        self._now_ms = now_ms
        self._rng = rng
        self._backoff: Iterator[float] = backoff(rng)
        self._host: list[dict[str, Any]] = []
        self._server: list[str] = []
        self._socket: list[tuple[str, Any]] = []
        self._timers: list[tuple[str, float]] = []
        self._uploads: list[UploadOrder] = []
        #: Host commands given before the welcome, run at it in order.
        self._waiting_commands: list[dict[str, Any]] = []
        #: Request id -> the host command it carries out, until the server answers it.
        self._command_of: dict[str, str] = {}
        #: The page status the host page was last told (``page_status_changed`` on change only).
        self._public_page_status: str | None = None
        #: Conversations this runtime has known (from a welcome or live): ``chat_started`` is
        #: raised once, for one that starts while connected.
        self._conversations_seen: set[str] = set()
        #: Messages the host page was told of (``chat_message``): never twice for one id.
        self._announced: set[str] = set()
        #: Agents in the shown conversation, by id: the welcome's ``agents``, then live joins
        #: and leaves (``agent_joined``, ``agent_left``).
        self.agents: dict[str, AgentBrief] = {}
        #: Request id -> the event its ``request.done`` raises (a form the server accepted).
        self._request_events: dict[str, tuple[str, dict[str, Any]]] = {}
        #: The site's privacy patterns, compiled at runtime.start.
        self._patterns: list[re.Pattern[str]] = []

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

    def uploads_to_start(self) -> list[UploadOrder]:
        out, self._uploads = self._uploads, []
        return out

    # --- inputs ---------------------------------------------------------------------------------

    def receive_host(self, raw: object) -> None:
        """Apply one message from the panel. Invalid messages raise :class:`bridge.BridgeError`
        and change nothing."""
        try:
            message = bridge.parse_panel_message(raw)
        except bridge.CommandRefused as refused:
            self._command_result(refused.command_id, refused.code, str(refused))
            return
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
        elif kind == "ui.typing":
            self._typing_input(message["typing"])
        elif kind == "ui.end":
            self._end()
        elif kind == "ui.rate":
            self._rate(message["rating"], message["comment"])
        elif kind == "ui.prechat":
            self._submit_prechat(message["answers"])
        elif kind == "ui.offline":
            self._submit_offline(message)
        elif kind == "ui.attach":
            self._attach(message)
        elif kind == "ui.transcript":
            self._render(
                "render.transcript",
                name=time.strftime("chat-%Y-%m-%d.txt", time.gmtime(self._now_ms() / 1000)),
                text=transcript(self.widget.app_name, self.messages, self._server_url()),
            )
        elif kind == "ui.delete":
            self._request(DeleteConversations(request_id=self._new_request_id()))
        elif kind == "host.command":
            self._host_command(message)

    def socket_opened(self) -> None:
        self._transition(Input.SOCKET_OPENED)
        self._backoff = backoff(self._rng)
        assert self.config is not None
        hello = VisitorHello(
            ticket=self.config.ticket,
            locale=self.locale,
            identity=self.identity,
            # Until a welcome names the visitor: then the identity it gave is enough (a ranstr is
            # good for one login; the server lets this visitor present it again only with it).
            login=self.config.login if not self._welcomed else None,
            tawk_login=self.config.tawk_login if not self._welcomed else None,
            profile_hash=self.config.profile_hash,
            profile=self.config.profile,
            last_seq=self._resume_seq(),
        )
        self._hello_seq = hello.last_seq
        self._server.append(encode(hello))
        self._announce_status()
        self._event("session_connected", {"status": "connected"})

    def receive_server(self, text: str) -> None:
        try:
            frame = decode(text, max_chars=None)
        except ProtocolError as exc:
            self._log(f"dropped a server frame: {exc}")
            return
        if isinstance(frame, VisitorWelcome):
            self._welcome(frame)
        elif isinstance(frame, MessageAck):
            pending = self.outbox.pop(frame.client_id, None)
            self._store(frame.message, live=True)
            if pending is not None:
                # The first acknowledgement (a resend's repeat finds the outbox empty), even of a
                # message a welcome replayed: stored before the connection dropped, it was never
                # announced.
                self._announce_message(frame.message)
                if frame.message.file is not None:
                    self._announce_upload(frame.message.file)
        elif isinstance(frame, NewMessage):
            if self._store(frame.message, live=True):
                self._announce_message(frame.message)
        elif isinstance(frame, AuthClosed):
            self._auth_closed(frame.reason, frame.message, frame.close_auth_type, frame.clear_token)
        elif isinstance(frame, ErrorFrame) and frame.request_id is not None:
            self._resolve(frame.request_id, frame.code, frame.message)
        elif isinstance(frame, ErrorFrame):
            self._log(f"server error {frame.code}: {frame.message}")
        elif isinstance(frame, RequestDone):
            self._resolve(frame.request_id, None, "")
        elif isinstance(frame, PageStatusChanged):
            self.page_status = frame.status
            self._render_page_status()
            self._announce_page_status()
        elif isinstance(frame, TypingChanged):
            self._agent_typing(frame)
        elif isinstance(frame, ReadUpdated):
            if frame.reader == "agent" and frame.conversation_id == self.conversation_id:
                self.agent_read_seq = max(self.agent_read_seq, frame.seq)
                self._render_receipt()
        elif isinstance(frame, ConversationEnded):
            self._ended(frame.conversation_id, frame.by)
        elif isinstance(frame, ConversationDeleted):
            if frame.conversation_id == self.conversation_id:
                self._reset_conversation()
        elif isinstance(frame, TagsUpdated):
            changed = frame.tags != self.tags
            self.tags, self.tags_version = frame.tags, frame.version
            if changed:
                self._event("tags_updated", {"tags": list(frame.tags)})
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
        self._connection_lost()
        self._announce_status()
        if was_connected:
            self._event("session_disconnected", {"status": "reconnecting"})
        self._timers.append((RECONNECT_TIMER, next(self._backoff)))

    def timer_fired(self, name: str) -> None:
        if name == TYPING_TIMER:
            self._typing_idle()
            return
        if name != RECONNECT_TIMER or self.state is not State.RECONNECTING:
            return
        self._transition(Input.RETRY)
        self._open_socket()

    def upload_finished(self, upload_id: str, raw: object) -> None:
        """The server stored the upload: ``raw`` is its answer (a ``FileRef`` object)."""
        upload = self.uploads.get(upload_id)
        if upload is None:
            return
        try:
            ref = parse_value(FileRef, raw, "upload")
        except ProtocolError as exc:
            self._log(f"upload {upload_id}: unexpected answer: {exc}")
            self.upload_failed(upload_id, "bad_response")
            return
        del self.uploads[upload_id]
        pending = _Outgoing(upload_id, "", upload.created_at, file=ref)
        self.outbox[upload_id] = pending
        self._render_pending(pending)
        self._send_outgoing(pending)

    def upload_failed(self, upload_id: str, reason: str) -> None:
        """The upload did not reach the server; the adapter keeps the file for a retry."""
        upload = self.uploads.get(upload_id)
        if upload is None:
            return
        upload.failed, upload.error, upload.started = True, reason, False
        self._render_upload(upload)

    # --- host commands (the host page's APIs) --------------------------------------------------

    def _host_command(self, command: dict[str, Any]) -> None:
        if self.state is State.READY:
            self._run_command(command)
        elif self.state is State.CLOSED:
            self._command_result(command["id"], "SESSION_EXPIRED", "the chat session was closed")
        else:
            self._waiting_commands.append(command)

    def _run_command(self, command: dict[str, Any]) -> None:
        name, args = command["name"], command["args"]
        request_id = self._new_request_id()
        frame: Message
        if name == "visitor.update":
            frame = UpdateVisitor(
                request_id=request_id,
                profile=args["profile"],
                attributes=args["attributes"],
                hash=args["hash"],
            )
        elif name == "visitor.event":
            frame = TrackEvent(request_id=request_id, name=args["name"], metadata=args["metadata"])
        elif name == "tags.change":
            frame = ChangeTags(request_id=request_id, add=args["add"], remove=args["remove"])
        else:  # chat.end: ending what is not open is already done
            self._end()
            self._command_result(command["id"], None, "")
            return
        self._command_of[request_id] = command["id"]
        self._request(frame)

    def _command_result(self, command_id: str, error: str | None, text: str) -> None:
        self._host.append(
            {
                "v": bridge.VERSION,
                "type": "host.result",
                "id": command_id,
                "error": error,
                "message": text,
            }
        )

    # --- transitions ----------------------------------------------------------------------------

    def _transition(self, event: Input) -> None:
        next_state = TRANSITIONS.get((self.state, event))
        if next_state is None:
            raise InvalidTransition(self.state, event)
        self.state = next_state

    def _start(self, message: dict[str, Any]) -> None:
        # The state is checked before anything is kept: a refused second start must leave the
        # running session's ticket, identity and locale as they were.
        self._transition(Input.START)
        config = message["config"]
        self.config = RuntimeConfig(
            server_url=config["server_url"],
            ticket=config["ticket"],
            locale=config["locale"],
            identity=config["identity"],
            login=config["login"],
            tawk_login=config["tawk_login"],
            profile_hash=config["profile_hash"],
            profile=config["profile"],
            privacy_filter=config["privacy_filter"],
            privacy_patterns=config["privacy_patterns"],
        )
        self._patterns, problems = privacy.compile_patterns(self.config.privacy_patterns)
        for problem in problems:
            self._log(problem)
        self.locale = config["locale"]
        # With a business login, the stored identity goes along: the server keeps it only if it
        # is that business user's (a reload presenting a login already used), else the login wins.
        self.identity = self.config.identity
        self._welcomed = False
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
        self._welcomed = True
        if frame.conversation_id is not None:
            self._adopt_conversation(frame.conversation_id, live=False)
            self.agents = {agent.id: agent for agent in frame.agents}
        self.page_status = frame.page_status
        if frame.widget is not None:
            self.widget = frame.widget
        self.upload_token = frame.upload_token
        self.ended, self.rating = frame.ended, frame.rating
        self.agent_read_seq = max(self.agent_read_seq, frame.agent_read_seq)
        self.tags, self.tags_version = frame.tags, frame.tags_version
        if self.read_seq > frame.last_read_seq:
            # Seen while disconnected: the server must learn it too.
            self._server.append(encode(ReadUpTo(seq=self.read_seq)))
        self.read_seq = max(self.read_seq, frame.last_read_seq)
        if frame.messages and frame.messages[0].seq > self._hello_seq + 1:
            # The welcome carries only the latest messages: the older ones are a backlog.
            self._backlog_seq = frame.messages[0].seq - 1
        for message in frame.messages:
            self._store(message, live=False)  # history: no public events
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
        self._flush_outbox()
        waiting, self._waiting_commands = self._waiting_commands, []
        for command in waiting:
            self._run_command(command)
        for upload in self.uploads.values():
            if not upload.failed and not upload.started:
                self._start_upload(upload)
        self._update_unread()
        self._render("render.status", status="ready")
        self._render_page_status()
        self._announce_page_status()
        self._render_conversation()
        self._render_receipt()
        if not self.activated:
            self.activated = True
            self._event("runtime_activated", None)

    def _resume_seq(self) -> int:
        """The seq a hello resumes after: the highest one up to which no message is missing.
        Not simply the highest held: fan-out may deliver a conversation's seqs out of order (a
        system message and a group-committed one are published by different tasks; a network
        may swap frames), so a socket can drop with a lower seq still in flight after a higher
        one arrived, and resuming after the highest would skip it for good (issue 12)."""
        held = {m.seq for m in self.messages.values()}
        resume = self._backlog_seq
        while resume + 1 in held:
            resume += 1
        return resume

    def _auth_closed(self, reason: str, text: str, close_type: str, clear_token: bool) -> None:
        self._transition(Input.REFUSED)
        self.identity = None
        self.outbox.clear()
        self._connection_lost()
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
        self._stop_typing()
        self._continue_after_end()
        masked: tuple[MaskKind, ...] = ()
        if self.config is not None and self.config.privacy_filter:
            filtered = privacy.mask_text(text, self._patterns)
            text, masked = filtered.text, filtered.kinds
        pending = _Outgoing(client_id, text, self._now_ms(), masked=masked)
        self.outbox[client_id] = pending
        self._render_pending(pending)
        if not self._prechat_pending():
            self._send_outgoing(pending)

    def _send_outgoing(self, pending: _Outgoing) -> None:
        if self.state is State.READY:
            file_id = pending.file.id if pending.file is not None else None
            frame = SendMessage(pending.client_id, pending.text, None, file_id, pending.masked)
            self._server.append(encode(frame))

    def _flush_outbox(self) -> None:
        """Send what waits (after a welcome, or once the pre-chat form is answered)."""
        if self._prechat_pending():
            return
        for pending in self.outbox.values():
            if not pending.failed:
                self._send_outgoing(pending)

    def _retry(self, client_id: str) -> None:
        if self.state is State.CLOSED:
            return
        upload = self.uploads.get(client_id)
        if upload is not None and upload.failed:
            upload.failed, upload.error = False, ""
            self._render_upload(upload)
            if self.state is State.READY:
                self._start_upload(upload)
            return
        pending = self.outbox.get(client_id)
        if pending is None:
            return
        pending.failed = False
        self._render_pending(pending)
        self._send_outgoing(pending)

    def _store(self, message: ChatMessage, *, live: bool) -> bool:
        """Keep and render a message; it counts as unread once the panel reports it shown.
        ``live`` when it arrived while connected (not a welcome's history). False when it was
        already kept."""
        if message.id in self.messages:
            return False
        self._adopt_conversation(message.conversation_id, live=live)
        self.messages[message.id] = message
        self.last_seq = max(self.last_seq, message.seq)
        if message.author == "agent" and message.author_name in self.agents_typing:
            self.agents_typing.discard(message.author_name)
            self._render_typing()
        self._render(
            "render.message",
            key=_message_key(message.author, message.client_id, message.id),
            message=_message_view(message, self._server_url()),
            # Screen readers hear a message once, when it arrives: not the history a welcome
            # brings (a reload, a reconnect), and never the visitor's own words.
            announce=live and message.author != "visitor",
        )
        self._render_conversation()
        self._render_receipt()
        return True

    def _render_pending(self, pending: _Outgoing) -> None:
        self._render(
            "render.message",
            key=_message_key("visitor", pending.client_id, ""),
            message={
                "author": "visitor",
                "author_name": "",
                "text": pending.text,
                "parts": link_parts(pending.text),
                "seq": None,
                "created_at": pending.created_at,
                "state": "failed" if pending.failed else "sending",
                "event": None,
                "agent_name": "",
                "file": _file_view(pending.file, self._server_url()),
                "error": "",
            },
        )

    def _server_url(self) -> str:
        return self.config.server_url if self.config is not None else ""

    # --- conversations: one at a time; an ended one gives way to a new one ----------------------

    def _adopt_conversation(self, conversation_id: str, *, live: bool) -> None:
        """Messages of another conversation (a new one after an end, maybe started in another
        tab) replace the old one's: seqs count per conversation. One never known before that
        arrives ``live`` (not with a welcome) has just started: ``chat_started``."""
        if conversation_id == self.conversation_id:
            return
        if self.conversation_id is not None:
            self._reset_conversation()
        self.conversation_id = conversation_id
        if conversation_id not in self._conversations_seen:
            self._conversations_seen.add(conversation_id)
            if live:
                self._event("chat_started", {"conversation_id": conversation_id})

    def _continue_after_end(self) -> None:
        """The visitor writes after the chat ended: the server starts a new conversation, so the
        ended one's messages, receipts and rating go."""
        if self.ended:
            self._reset_conversation()

    def _reset_conversation(self) -> None:
        self.conversation_id = None
        # The visitor has chatted before: the pre-chat questions are not asked again.
        self.prechat_done = True
        self.messages.clear()
        self.last_seq = self.read_seq = self.shown_seq = self.agent_read_seq = 0
        self._backlog_seq = 0
        self.ended, self.rating, self.rated_now = False, None, False
        self.agents_typing.clear()
        self.agents.clear()
        self._render("render.clear")
        self._render_typing()
        self._render_conversation()
        self._render_receipt()
        self._update_unread()

    def _end(self) -> None:
        if self.state is State.READY and self.conversation_id is not None and not self.ended:
            self._stop_typing()
            self._server.append(encode(EndConversation()))

    def _ended(self, conversation_id: str, by: str) -> None:
        if conversation_id != self.conversation_id:
            return
        was_ended, self.ended = self.ended, True
        self._stop_typing()
        self.agents_typing.clear()
        self._render_typing()
        self._render_conversation()
        if not was_ended:
            self._event("chat_ended", {"conversation_id": conversation_id, "by": by})

    def _rate(self, rating: int, comment: str) -> None:
        if self.state is not State.READY or not self.ended:
            return
        value = cast(Rating, rating)  # the bridge accepted only -1, 0 or 1
        self._server.append(encode(RateConversation(rating=value, comment=comment)))
        self.rating, self.rated_now = value, True
        self._render_conversation()
        self._event("chat_rated", {"rating": value, "comment": comment})

    def _render_conversation(self) -> None:
        if self.ended and self.rating is None:
            rating = "prompt"
        elif self.rated_now:
            rating = "thanks"
        else:
            rating = "none"
        self._render_changed(
            "render.conversation",
            can_end=(
                self.state is State.READY and self.conversation_id is not None and not self.ended
            ),
            ended=self.ended,
            rating=rating,
            can_upload=self._can_upload(),
            has_history=self.conversation_id is not None,
        )
        self._render_surface()

    # --- read receipts --------------------------------------------------------------------------

    def _render_receipt(self) -> None:
        """ "Seen" goes under the visitor's last message the agents have read."""
        read = [
            m
            for m in self.messages.values()
            if m.author == "visitor" and m.seq <= self.agent_read_seq
        ]
        last = max(read, key=lambda m: m.seq, default=None)
        key = None if last is None else _message_key(last.author, last.client_id, last.id)
        self._render_changed("render.receipt", key=key)

    # --- typing ---------------------------------------------------------------------------------

    def _typing_input(self, typing: bool) -> None:
        """The panel reports every keystroke (and blur as ``False``); the server hears only when
        typing starts and stops, stop being a send, a blur or :data:`TYPING_IDLE_SECONDS`
        without a keystroke."""
        if not typing:
            self._stop_typing()
            return
        self._last_keystroke_ms = self._now_ms()
        if self.typing or self.state is not State.READY or self.conversation_id is None:
            return
        self.typing = True
        self._server.append(encode(SetTyping(typing=True)))
        self._timers.append((TYPING_TIMER, TYPING_IDLE_SECONDS))

    def _typing_idle(self) -> None:
        if not self.typing:
            return
        idle = (self._now_ms() - self._last_keystroke_ms) / 1000
        if idle >= TYPING_IDLE_SECONDS:
            self._stop_typing()
        else:
            self._timers.append((TYPING_TIMER, TYPING_IDLE_SECONDS - idle))

    def _stop_typing(self) -> None:
        if self.typing:
            self.typing = False
            if self.state is State.READY:
                self._server.append(encode(SetTyping(typing=False)))

    def _agent_typing(self, frame: TypingChanged) -> None:
        if frame.author != "agent" or frame.conversation_id != self.conversation_id:
            return
        if frame.typing:
            self.agents_typing.add(frame.name)
        else:
            self.agents_typing.discard(frame.name)
        self._render_typing()

    def _render_typing(self) -> None:
        self._render_changed("render.typing", names=sorted(self.agents_typing))

    def _connection_lost(self) -> None:
        """What only lives with a connection: typing (both ways) and unanswered requests."""
        self.typing = False
        if self.agents_typing:
            self.agents_typing.clear()
            self._render_typing()
        for request_id in list(self.requests):
            self._resolve(request_id, NOT_CONNECTED, "the connection was lost")
        self._render_conversation()

    # --- page status and forms ------------------------------------------------------------------

    def _render_page_status(self) -> None:
        self._render_changed("render.page_status", status=self.page_status)
        self._render_surface()

    def _prechat_pending(self) -> bool:
        """The app asks questions before a chat, and this visitor has no conversation yet."""
        return (
            bool(self.widget.prechat_fields)
            and self.conversation_id is None
            and not self.prechat_done
        )

    def _render_surface(self) -> None:
        """What the panel shows under the messages: the composer, or a form instead of it. An open
        conversation keeps its composer when the page goes offline (the agents read it later);
        a visitor without one gets the offline form."""
        open_conversation = self.conversation_id is not None and not self.ended
        if self.page_status == "offline" and self.offline_sent:
            # The form became a conversation; the confirmation stays while the page is offline.
            surface = "offline_sent"
        elif self.page_status == "offline" and not open_conversation:
            surface = "offline"
        elif self._prechat_pending():
            surface = "prechat"
        else:
            surface = "chat"
        self._render_changed(
            "render.surface",
            surface=surface,
            fields=[asdict(f) for f in self.widget.prechat_fields],
            offline_message=self.widget.offline_message,
        )

    def _submit_prechat(self, answers: dict[str, str]) -> None:
        errors = validate_answers(self.widget.prechat_fields, answers)
        if errors:
            self._render("render.form", form="prechat", state="invalid", errors=errors, error="")
            return
        frame = SubmitPrechat(
            request_id=self._new_request_id(),
            answers=_answers(self.widget.prechat_fields, answers),
        )
        self._render("render.form", form="prechat", state="sending", errors={}, error="")
        self._request_events[frame.request_id] = (
            "prechat_submitted",
            {"answers": _answers_payload(frame.answers)},
        )
        self._request(frame)

    def _submit_offline(self, message: dict[str, Any]) -> None:
        contact = (
            FormField(name="name", label="", required=True),
            FormField(name="email", label="", kind="email", required=True),
            FormField(name="message", label="", kind="textarea", required=True),
        )
        answers = {k: message[k] for k in ("name", "email", "message")}
        errors = {
            **validate_answers(contact, answers),
            **validate_answers(self.widget.prechat_fields, message["questions"]),
        }
        if errors:
            self._render("render.form", form="offline", state="invalid", errors=errors, error="")
            return
        frame = SubmitOffline(
            request_id=self._new_request_id(),
            name=answers["name"].strip(),
            email=answers["email"].strip(),
            message=answers["message"].strip(),
            questions=_answers(self.widget.prechat_fields, message["questions"]),
        )
        self._render("render.form", form="offline", state="sending", errors={}, error="")
        self._request_events[frame.request_id] = (
            "offline_submitted",
            {
                "name": frame.name,
                "email": frame.email,
                "message": frame.message,
                "questions": _answers_payload(frame.questions),
            },
        )
        self._request(frame)

    # --- requests -------------------------------------------------------------------------------

    def _new_request_id(self) -> str:
        return f"r{next(self._request_ids)}"

    def _request(self, frame: Message) -> str:
        """Send a request frame; its ``request_id`` is answered by ``request.done`` or an
        ``error`` naming it. Without a connection it fails at once: nothing is sent twice."""
        request_id: str = getattr(frame, "request_id")  # noqa: B009 - every request frame has one
        self.requests[request_id] = frame.TYPE
        if self.state is State.READY:
            self._server.append(encode(frame))
        else:
            self._resolve(request_id, NOT_CONNECTED, "not connected to the chat server")
        return request_id

    def _resolve(self, request_id: str, error: str | None, text: str) -> None:
        kind = self.requests.pop(request_id, None)
        if kind is None:
            self._log(f"answer to an unknown request {request_id!r}")
            return
        accepted = self._request_events.pop(request_id, None)
        command_id = self._command_of.pop(request_id, None)
        if command_id is not None:
            self._command_result(command_id, error, text)
            return
        if kind == "conversation.delete":
            # The visitor asked for their history to be deleted: it is gone here too.
            if error is None:
                self._reset_conversation()
            self._render("render.deleted", error=error)
            return
        form = {"prechat.submit": "prechat", "offline.submit": "offline"}.get(kind)
        if form is None:
            return
        if error is not None:
            self._render("render.form", form=form, state="error", errors={}, error=error)
            return
        if form == "prechat":
            self.prechat_done = True
            self._flush_outbox()
        else:
            self.offline_sent = True
        self._render("render.form", form=form, state="done", errors={}, error="")
        self._render_surface()
        if accepted is not None:
            self._event(*accepted)

    # --- uploads --------------------------------------------------------------------------------

    def _can_upload(self) -> bool:
        return self.widget.upload_max_bytes > 0 and bool(self.upload_token)

    def _attach(self, message: dict[str, Any]) -> None:
        upload_id = message["upload_id"]
        if upload_id in self.uploads or upload_id in self.outbox:
            return
        error = ""
        if not self._can_upload():
            error = "uploads_disabled"
        elif message["size"] == 0:
            error = "empty_file"
        elif message["size"] > self.widget.upload_max_bytes:
            error = "too_large"
        elif not type_allowed(message["content_type"], self.widget.upload_types):
            error = "type_not_allowed"
        if error:
            self._render(
                "render.upload_error",
                error=error,
                name=message["name"],
                max_bytes=self.widget.upload_max_bytes,
            )
            return
        self._continue_after_end()
        upload = _Upload(
            upload_id, message["name"], message["size"], message["content_type"], self._now_ms()
        )
        self.uploads[upload_id] = upload
        self._render_upload(upload)
        if self.state is State.READY:
            self._start_upload(upload)

    def _start_upload(self, upload: _Upload) -> None:
        upload.started = True
        url = self._server_url().rstrip("/") + "/api/v1/files"
        strip = upload.content_type in privacy.METADATA_TYPES and (
            self.config is None or self.config.privacy_filter
        )
        self._uploads.append(
            UploadOrder(upload.upload_id, url, self.upload_token, upload.content_type, strip)
        )

    def _render_upload(self, upload: _Upload) -> None:
        self._render(
            "render.message",
            key=_message_key("visitor", upload.upload_id, ""),
            message={
                "author": "visitor",
                "author_name": "",
                "text": "",
                "parts": [],
                "seq": None,
                "created_at": upload.created_at,
                "state": "failed" if upload.failed else "uploading",
                "event": None,
                "agent_name": "",
                "file": {
                    "name": upload.name,
                    "size": upload.size,
                    "content_type": upload.content_type,
                    "url": "",
                    "thumbnail": False,
                },
                "error": upload.error,
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
        """Agents' messages the panel has rendered but the visitor has not seen (system notices,
        such as an agent joining, are not messages to the visitor and do not count). Counting only
        what the panel reported keeps the count from flashing up for a message that lands in an
        open panel and is read a moment later."""
        count = sum(
            1
            for m in self.messages.values()
            if m.author == "agent" and self.read_seq < m.seq <= self.shown_seq
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

    def _announce_page_status(self) -> None:
        if self.page_status != self._public_page_status:
            self._public_page_status = self.page_status
            self._event("page_status_changed", {"status": self.page_status})

    def _announce_message(self, message: ChatMessage) -> None:
        """The public events of a message stored live, once per message: ``chat_message``, and
        for an agent joining or leaving ``agent_joined`` / ``agent_left``."""
        if message.id in self._announced:
            return
        self._announced.add(message.id)
        self._event(
            "chat_message",
            {
                "author": message.author,
                "conversation_id": message.conversation_id,
                "seq": message.seq,
                "text": message.text,
                "name": "" if message.author == "system" else message.author_name,
                "event": message.event,
            },
        )
        agent = message.agent
        if message.author != "system" or agent is None:
            return
        # A transfer names only the new assignee, who may already be in the chat; who handed
        # it over is not said, so no agent_left for them.
        if message.event == "agent_joined" or (
            message.event == "transferred" and agent.id not in self.agents
        ):
            self.agents[agent.id] = agent
            self._event(
                "agent_joined",
                {
                    "id": agent.id,
                    "name": agent.name,
                    "position": agent.position,
                    "image": agent.image,
                },
            )
        elif message.event == "agent_left":
            self.agents.pop(agent.id, None)
            self._event("agent_left", {"id": agent.id, "name": agent.name})

    def _announce_upload(self, ref: FileRef) -> None:
        """The visitor's own upload is a stored message now (``file_uploaded``)."""
        view = _file_view(ref, self._server_url())
        assert view is not None
        self._event(
            "file_uploaded",
            {
                "url": view["url"],
                "name": ref.name,
                "content_type": ref.content_type,
                "size": ref.size,
            },
        )

    def _event(self, name: str, payload: dict[str, Any] | None) -> None:
        self._host.append(
            {"v": bridge.VERSION, "type": "host.event", "name": name, "payload": payload}
        )

    def _render(self, kind: str, **fields: Any) -> None:
        self._host.append({"v": bridge.VERSION, "type": kind, **fields})

    def _render_changed(self, kind: str, **fields: Any) -> None:
        """Render ``kind`` only when it differs from what the panel was last told."""
        if self._rendered.get(kind) != fields:
            self._rendered[kind] = fields
            self._render(kind, **fields)

    def _log(self, text: str) -> None:
        self._host.append({"v": bridge.VERSION, "type": "runtime.log", "text": text})


def transcript(app_name: str, messages: dict[str, ChatMessage], server_url: str) -> str:
    """The conversation as plain text, for the visitor to keep: one line per message, oldest
    first, times in UTC, files by name and address."""
    lines = [f"Chat with {app_name or 'us'}", ""]
    for message in sorted(messages.values(), key=lambda m: m.seq):
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(message.created_at / 1000))
        who = "*" if message.author == "system" else f"{message.author_name or message.author}:"
        text = message.text
        if message.file is not None:
            url = _file_url(message.file.url, server_url)
            text = f"{text} [file: {message.file.name} {url}]".strip()
        lines.append(f"{when} {who} {text}")
    return "\n".join(lines) + "\n"


def _message_key(author: str, client_id: str | None, message_id: str) -> str:
    """The renderer's key for a message: a visitor's own message keeps the key it had while it
    was pending, so the acknowledged message replaces the pending one in place."""
    return f"{author}:{client_id}" if client_id else message_id


def _message_view(message: ChatMessage, server_url: str) -> dict[str, Any]:
    """What the panel renders. System messages carry ``event`` and ``agent_name`` so the panel
    words them in the visitor's language; ``text`` stays as the fallback for unknown events."""
    return {
        "author": message.author,
        "author_name": message.author_name,
        "text": message.text,
        "parts": link_parts(message.text),
        "seq": message.seq,
        "created_at": message.created_at,
        "state": "sent",
        "event": message.event,
        "agent_name": message.agent.name if message.agent is not None else "",
        "file": _file_view(message.file, server_url),
        "error": "",
    }


def _file_view(ref: FileRef | None, server_url: str) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "name": ref.name,
        "size": ref.size,
        "content_type": ref.content_type,
        "url": (url := _file_url(ref.url, server_url)),
        "thumbnail": bool(url) and ref.content_type in THUMBNAIL_TYPES,
    }


def _file_url(url: str, server_url: str) -> str:
    """A file's URL resolved against the server's, kept only when it is an http(s) URL; ``""``
    otherwise. ``urljoin`` raises ``ValueError`` on some malformed URLs: that too is ``""``."""
    if not server_url:
        return ""
    try:
        url = urljoin(server_url, url)
    except ValueError:
        return ""
    return url if is_web_url(url) else ""


def link_parts(text: str) -> list[dict[str, str]]:
    """``text`` in the panel's shape: ``{"text"}`` runs and ``{"text", "href"}`` links, as
    :func:`porch_protocol.split_links` cuts it (the console uses the same function). The panel
    builds links as DOM nodes; everything else, markup included, stays text. Never raises."""
    return [
        {"text": part.text} if part.href is None else {"text": part.text, "href": part.href}
        for part in split_links(text)
    ]


def validate_answers(fields: tuple[FormField, ...], answers: dict[str, str]) -> dict[str, str]:
    """Field name -> error code (``required``, ``email``, ``choice``) for every bad answer."""
    errors: dict[str, str] = {}
    for f in fields:
        value = answers.get(f.name, "").strip()
        if not value:
            if f.required:
                errors[f.name] = "required"
        elif f.kind == "email" and not _EMAIL.match(value):
            errors[f.name] = "email"
        elif f.kind == "select" and value not in f.options:
            errors[f.name] = "choice"
    return errors


def _answers(fields: tuple[FormField, ...], answers: dict[str, str]) -> tuple[FormAnswer, ...]:
    """The answered questions, in the form's order, each with its label for the agents."""
    return tuple(
        FormAnswer(name=f.name, value=answers[f.name].strip(), label=f.label)
        for f in fields
        if answers.get(f.name, "").strip()
    )


def _answers_payload(answers: tuple[FormAnswer, ...]) -> list[dict[str, str]]:
    """Form answers as the host page's events carry them."""
    return [{"name": a.name, "label": a.label, "value": a.value} for a in answers]


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    """``allowed`` lists media types (``image/png``) or families (``image/*``); empty allows
    any type."""
    if not allowed:
        return True
    family = content_type.split("/", 1)[0] + "/*"
    return content_type.lower() in allowed or family.lower() in allowed
