"""The agent console's state, sans I/O.

:class:`ConsoleState` takes inputs through methods (``receive_frame``, ``open_conversation``,
``send_reply``, ``revoke_visitor``, ``connection_opened``, ``connection_lost``) and queues the
frames to send (``frames_to_send``) and the texts to announce (``announcements_to_make``). It never
touches the DOM, the network or a clock, so CPython tests drive it directly (tests/unit/agent/).
``console.py`` is the only module that touches ``pyscript``/``js``: it feeds this state and draws
what it says.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from porch_protocol import (
    MAX_TEXT_CHARS,
    AgentHello,
    AgentWelcome,
    ChatMessage,
    CloseCode,
    ConversationHistory,
    ConversationSummary,
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

#: Frames the agent socket may receive; anything else is a protocol error.
AGENT_RECEIVES: frozenset[type[Message]] = frozenset(
    {AgentWelcome, ConversationUpdated, NewMessage, ConversationHistory, MessageAck, ErrorFrame}
)


class Connection(enum.Enum):
    """The agent socket as the status line shows it (the value is ``#status[data-state]``)."""

    #: No socket and none planned: logged out, or the token was refused.
    DISCONNECTED = "disconnected"
    #: The first socket of this login is opening, or it is open and the welcome has not come.
    CONNECTING = "connecting"
    #: The welcome arrived; frames flow both ways.
    CONNECTED = "connected"
    #: A socket dropped; another one is scheduled (see :func:`backoff`).
    RECONNECTING = "reconnecting"


def backoff(
    initial: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Seconds to wait before each reconnection attempt: exponential, capped, with full jitter
    kept above half the nominal delay so a fleet of consoles does not reconnect in lockstep."""
    delay = initial
    while True:
        yield delay * (0.5 + rng() / 2)
        delay = min(delay * factor, cap)


def visitor_label(summary: ConversationSummary) -> str:
    """The visitor's name, or ``Visitor <first 6 chars of the uid>`` when they gave none."""
    name = (summary.visitor_name or "").strip()
    return name or f"Visitor {summary.visitor_uid[:6]}"


def unread_count(summary: ConversationSummary) -> int:
    return max(0, summary.last_seq - summary.agent_read_seq)


def remove_typed_newline(value: str, caret_utf16: int) -> str:
    """``value`` without the newline the browser inserted just before the caret.

    In a PyScript worker a keydown handler runs after the browser's default action, so by the
    time Enter-to-send is handled the textarea already holds the Enter's newline. The caret
    (``selectionStart``) counts UTF-16 code units, Python counts code points: convert first.
    """
    units = value.encode("utf-16-le")
    cut = 2 * caret_utf16
    if 2 <= cut <= len(units) and units[cut - 2 : cut] == "\n".encode("utf-16-le"):
        return (units[: cut - 2] + units[cut:]).decode("utf-16-le")
    return value


@dataclass(frozen=True)
class PendingMessage:
    """A reply sent but not yet acknowledged; resent with the same ``client_id`` after a
    reconnect (the server stores one message per client id, so a resend never duplicates)."""

    client_id: str
    conversation_id: str
    text: str


class ConsoleState:
    """Everything the console knows about one agent login."""

    def __init__(self) -> None:
        self.connection = Connection.DISCONNECTED
        self.agent_id: str | None = None
        self.agent_name: str | None = None
        self.conversations: dict[str, ConversationSummary] = {}
        self.open_id: str | None = None
        #: The open conversation's messages by seq (history plus live ones).
        self.messages: dict[int, ChatMessage] = {}
        self.pending: dict[str, PendingMessage] = {}
        #: The latest ErrorFrame's text, for an error line; cleared by the next welcome.
        self.last_error: str | None = None
        self._to_send: list[Message] = []
        self._to_announce: list[str] = []

    # --- outputs --------------------------------------------------------------------------------

    def frames_to_send(self) -> list[Message]:
        """Frames queued since the last call; the caller must send them in order."""
        frames, self._to_send = self._to_send, []
        return frames

    def announcements_to_make(self) -> list[str]:
        """Texts for the polite live region (new messages in the open conversation)."""
        texts, self._to_announce = self._to_announce, []
        return texts

    def conversation_order(self) -> list[ConversationSummary]:
        """Summaries newest first (ties broken by id so the order is stable)."""
        return sorted(self.conversations.values(), key=lambda s: (-s.updated_at, s.id))

    def open_messages(self) -> list[ChatMessage]:
        return [self.messages[seq] for seq in sorted(self.messages)]

    def open_pending(self) -> list[PendingMessage]:
        return [p for p in self.pending.values() if p.conversation_id == self.open_id]

    @property
    def open_summary(self) -> ConversationSummary | None:
        return self.conversations.get(self.open_id) if self.open_id else None

    # --- connection -----------------------------------------------------------------------------

    def connection_started(self) -> None:
        """A socket is being opened (the first of this login, or a reconnection)."""
        if self.connection is Connection.DISCONNECTED:
            self.connection = Connection.CONNECTING

    def connection_opened(self, token: str) -> None:
        """The socket is open: queue the hello. The welcome will finish the handshake."""
        self._to_send.append(AgentHello(token=token))

    def connection_lost(self, code: int) -> bool:
        """The socket closed with ``code``. Returns whether the caller should reconnect: not when
        the token was refused (4401), in which case the caller must go back to the login form."""
        if code == CloseCode.UNAUTHORIZED:
            self.connection = Connection.DISCONNECTED
            return False
        self.connection = Connection.RECONNECTING
        return True

    # --- agent actions --------------------------------------------------------------------------

    def open_conversation(self, conversation_id: str) -> None:
        """Show ``conversation_id``: its history is requested; ``ReadUpTo`` follows the history."""
        if conversation_id not in self.conversations:
            raise KeyError(f"unknown conversation {conversation_id!r}")
        self.open_id = conversation_id
        self.messages = {}
        if self.connection is Connection.CONNECTED:
            self._to_send.append(OpenConversation(conversation_id=conversation_id))

    def send_reply(self, text: str, client_id: str) -> PendingMessage | None:
        """Queue the agent's reply to the open conversation. Returns the pending message, or
        ``None`` when there is nothing to send (blank text, no open conversation)."""
        text = text.strip()
        if not text or self.open_id is None:
            return None
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"a message is at most {MAX_TEXT_CHARS} characters")
        pending = PendingMessage(client_id=client_id, conversation_id=self.open_id, text=text)
        self.pending[client_id] = pending
        if self.connection is Connection.CONNECTED:
            self._to_send.append(self._send_frame(pending))
        return pending

    def revoke_visitor(self) -> None:
        """Close the open conversation's visitor session (the caller has asked for confirmation)."""
        if self.open_id is not None:
            self._to_send.append(RevokeVisitor(conversation_id=self.open_id))

    # --- frames from the server -----------------------------------------------------------------

    def receive_frame(self, frame: Message) -> None:
        handler = self._HANDLERS.get(type(frame))
        if handler is None:
            raise TypeError(f"an agent console does not expect {frame.TYPE!r}")
        handler(self, frame)

    def _receive_welcome(self, frame: AgentWelcome) -> None:
        self.connection = Connection.CONNECTED
        self.agent_id, self.agent_name = frame.agent_id, frame.agent_name
        self.last_error = None
        self.conversations = {s.id: s for s in frame.conversations}
        if self.open_id is not None and self.open_id not in self.conversations:
            self.open_id, self.messages = None, {}
        if self.open_id is not None:
            # Back after a drop: refetch what was missed, then resend what was never acked.
            self._to_send.append(OpenConversation(conversation_id=self.open_id))
        self._to_send.extend(self._send_frame(p) for p in self.pending.values())

    def _receive_updated(self, frame: ConversationUpdated) -> None:
        self._merge_summary(frame.conversation)

    def _receive_history(self, frame: ConversationHistory) -> None:
        if frame.conversation_id != self.open_id:
            return  # the agent has moved on to another conversation
        self.messages = {m.seq: m for m in frame.messages}
        for message in frame.messages:
            self._settle_pending(message)
        self._mark_read(always=True)

    def _receive_new(self, frame: NewMessage) -> None:
        message = frame.message
        summary = self.conversations.get(message.conversation_id)
        if summary is not None and message.seq > summary.last_seq:
            self.conversations[summary.id] = replace(
                summary,
                last_seq=message.seq,
                last_message=message,
                updated_at=max(summary.updated_at, message.created_at),
            )
        if message.conversation_id != self.open_id or message.seq in self.messages:
            return
        self.messages[message.seq] = message
        own = self._settle_pending(message)
        if message.author != "agent" or not own:
            self._to_announce.append(f"{message.author_name}: {message.text}")
        self._mark_read()

    def _receive_ack(self, frame: MessageAck) -> None:
        message = frame.message
        self.pending.pop(frame.client_id, None)
        if message.conversation_id == self.open_id:
            self.messages[message.seq] = message
        summary = self.conversations.get(message.conversation_id)
        if summary is not None and message.seq >= summary.last_seq:
            self.conversations[summary.id] = replace(
                summary,
                last_seq=message.seq,
                last_message=message,
                agent_read_seq=max(summary.agent_read_seq, message.seq),
                updated_at=max(summary.updated_at, message.created_at),
            )

    def _receive_error(self, frame: ErrorFrame) -> None:
        self.last_error = frame.message

    _HANDLERS: ClassVar[dict[type[Message], Callable[..., None]]] = {
        AgentWelcome: _receive_welcome,
        ConversationUpdated: _receive_updated,
        ConversationHistory: _receive_history,
        NewMessage: _receive_new,
        MessageAck: _receive_ack,
        ErrorFrame: _receive_error,
    }

    # --- helpers --------------------------------------------------------------------------------

    def _send_frame(self, pending: PendingMessage) -> SendMessage:
        return SendMessage(
            client_id=pending.client_id, text=pending.text, conversation_id=pending.conversation_id
        )

    def _settle_pending(self, message: ChatMessage) -> bool:
        """Drop the pending reply this stored message stands for; returns whether there was one."""
        if message.author == "agent" and message.client_id in self.pending:
            del self.pending[message.client_id]
            return True
        return False

    def _merge_summary(self, incoming: ConversationSummary) -> None:
        # Frames can cross: never let a late summary move a sequence number backwards.
        known = self.conversations.get(incoming.id)
        if known is not None:
            if known.last_seq > incoming.last_seq:
                incoming = replace(
                    incoming, last_seq=known.last_seq, last_message=known.last_message
                )
            if known.agent_read_seq > incoming.agent_read_seq:
                incoming = replace(incoming, agent_read_seq=known.agent_read_seq)
        self.conversations[incoming.id] = incoming

    def _mark_read(self, always: bool = False) -> None:
        """The agent is looking at the open conversation, so everything in it is read. Opening a
        conversation (``always``) reports its last seq even if the server already has it."""
        summary = self.open_summary
        if summary is None:
            return
        last = max(max(self.messages, default=0), summary.last_seq)
        if last > 0 and (always or last > summary.agent_read_seq):
            self.conversations[summary.id] = replace(summary, agent_read_seq=last)
            self._to_send.append(ReadUpTo(seq=last, conversation_id=summary.id))
