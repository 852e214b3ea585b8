"""The agent console's state, sans I/O.

:class:`ConsoleState` takes inputs through methods (``receive_frame``, ``open_conversation``,
``send_reply``, ``connection_opened``, ``note_activity``, ...) and queues the frames to send
(``frames_to_send``), the texts to announce (``announcements_to_make``) and the new chats to
notify (``notifications_to_make``). It never touches the DOM, the network or a clock (callers
pass ``now`` in milliseconds), so CPython tests drive it directly (tests/unit/agent/).
``console.py`` is the only module that touches ``pyscript``/``js``: it feeds this state and draws
what it says. The list is drawn incrementally: every change records the ids of the rows it
touched (``take_dirty``), so one ``conversation.updated`` redraws one row.

Every text it makes (errors, system messages, notifications, a nameless visitor's label) is
worded by a :class:`Words`: one language of the console's string table,
``loader/console_strings.json``, which console.py gets from the page (docs/i18n.md).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from porch_protocol import (
    MAX_TEXT_CHARS,
    AgentHello,
    AgentInfo,
    AgentPresenceChanged,
    AgentWelcome,
    AppSettings,
    AppUpdated,
    AssignConversation,
    BusinessHours,
    ChangeTags,
    ChatMessage,
    CloseCode,
    ConversationDeleted,
    ConversationEnded,
    ConversationHistory,
    ConversationSummary,
    ConversationUpdated,
    EndConversation,
    ErrorFrame,
    FormField,
    LeaveConversation,
    Message,
    MessageAck,
    NewMessage,
    OpenConversation,
    OpeningHours,
    ReadUpdated,
    ReadUpTo,
    RequestDone,
    RevokeVisitor,
    SearchConversations,
    SearchResults,
    SendMessage,
    SetPresence,
    SetTyping,
    TagsUpdated,
    TawkWidgetSettings,
    TypingChanged,
    UpdateApp,
    VisitorDetails,
)
from porch_protocol.wire import (
    TAWK_PROPERTY_ID_PATTERN,
    TAWK_WIDGET_ID_PATTERN,
    WIDGET_LANGUAGES,
    WIDGET_POSITIONS,
    Status,
)

#: Frames the agent socket may receive; anything else is a protocol error.
AGENT_RECEIVES: frozenset[type[Message]] = frozenset(
    {
        AgentWelcome,
        ConversationUpdated,
        NewMessage,
        ConversationHistory,
        MessageAck,
        ErrorFrame,
        TypingChanged,
        ReadUpdated,
        ConversationEnded,
        ConversationDeleted,
        TagsUpdated,
        RequestDone,
        SearchResults,
        AgentPresenceChanged,
        AppUpdated,
    }
)

View = Literal["unassigned", "mine", "all"]
VIEWS: tuple[View, ...] = ("unassigned", "mine", "all")

#: A visitor's tags, as the server limits them.
MAX_TAGS = 10
#: While the agent keeps typing, ``typing.set`` true is repeated at most this often.
TYPING_REFRESH_MS = 4_000
#: Typing stops (``typing.set`` false) after this long without a keystroke.
TYPING_IDLE_MS = 5_000
#: An online agent with no activity in the console for this long is switched to away.
AWAY_AFTER_MS = 10 * 60_000

#: The strings (keys of the table) that word ``error`` codes answering the console's requests;
#: other codes show the server's message.
REQUEST_ERRORS = {
    "VERSION_CONFLICT": "error_version_conflict",
    "TAG_LIMIT_EXCEEDED": "error_tag_limit",
    "INVALID_TAGS": "error_invalid_tags",
    "SESSION_EXPIRED": "session_expired",
    "SERVER_ERROR": "error_server",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class Words:
    """The console's strings in one language: ``t("typing", name="Ada")`` is that language's
    ``"{name} is typing…"`` with the placeholder filled (values it does not name are ignored)."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = dict(table)

    def __call__(self, key: str, **values: object) -> str:
        return _PLACEHOLDER.sub(
            lambda m: str(values[m[1]]) if m[1] in values else m[0], self.table[key]
        )


class Connection(enum.Enum):
    """The agent socket as the status line shows it (the value is ``#status[data-state]``)."""

    #: No socket and none planned: logged out, or the token was refused.
    DISCONNECTED = "disconnected"
    #: The first socket of this login is opening, or it is open and the welcome has not come.
    CONNECTING = "connecting"
    #: The welcome arrived; frames flow both ways.
    CONNECTED = "connected"
    #: A socket dropped; another one is scheduled (see :func:`porch_protocol.backoff`).
    RECONNECTING = "reconnecting"


def visitor_label(summary: ConversationSummary, t: Words) -> str:
    """The visitor's name, or ``Visitor <first 6 chars of the uid>`` when they gave none."""
    name = (summary.visitor_name or "").strip()
    return name or t("visitor_unnamed", id=summary.visitor_uid[:6])


def unread_count(summary: ConversationSummary) -> int:
    return max(0, summary.last_seq - summary.agent_read_seq)


def in_view(summary: ConversationSummary, view: View, agent_id: str | None) -> bool:
    """``unassigned``: live chats no agent has joined; ``mine``: chats the agent is in;
    ``all``: everything."""
    if view == "unassigned":
        return not summary.agent_ids and not summary.ended and not summary.closed
    if view == "mine":
        return agent_id is not None and agent_id in summary.agent_ids
    return True


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


#: A rating's name in the keys that word it (``flag_rated_good``, ``event_rated_bad``, ...).
RATINGS = {1: "good", 0: "neutral", -1: "bad"}
#: System events worded with the agent's name (the table's keys).
_AGENT_EVENTS = {
    "agent_joined": "event_joined",
    "agent_left": "event_left",
    "transferred": "event_transferred",
}


def system_text(message: ChatMessage, t: Words, rating: int | None = None) -> str:
    """A ``system`` message in the console's words, from its ``event`` and ``agent``; the
    server's English ``text`` is the fallback for events this console does not know."""
    who = message.agent.name if message.agent else None
    if message.event in _AGENT_EVENTS and who:
        return t(_AGENT_EVENTS[message.event], name=who)
    if message.event == "chat_ended":
        return t("event_ended_by", name=who) if who else t("event_ended")
    if message.event == "rated" and rating is not None:
        return t(f"event_rated_{RATINGS[rating]}")
    # What the visitor wrote in the form follows the console's own words for it.
    if message.event == "offline_form":
        if message.text:
            return t("event_offline_form_text", text=message.text)
        return t("event_offline_form")
    if message.event == "prechat":
        return t("event_prechat_text", text=message.text) if message.text else t("event_prechat")
    return message.text


def message_words(message: ChatMessage, t: Words) -> str:
    """What a message says, in one line: its text, its system wording or its file's name."""
    if message.author == "system":
        return system_text(message, t)
    if message.text:
        return message.text
    return message.file.name if message.file else ""


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags as an agent types them: comma-separated, trimmed, no blanks, no repeats."""
    seen: dict[str, None] = {}
    for part in text.split(","):
        tag = part.strip()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


@dataclass(frozen=True)
class PendingMessage:
    """A reply sent but not yet acknowledged; resent with the same ``client_id`` after a
    reconnect (the server stores one message per client id, so a resend never duplicates)."""

    client_id: str
    conversation_id: str
    text: str
    #: An uploaded file's id, and its name to show while sending.
    file_id: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class Notification:
    """A new chat to make a sound and a desktop notification for."""

    conversation_id: str
    title: str
    body: str


class ConsoleState:
    """Everything the console knows about one agent login, worded by ``t``."""

    def __init__(self, t: Words) -> None:
        self.t = t
        self.connection = Connection.DISCONNECTED
        self.agent_id: str | None = None
        self.agent_name: str | None = None
        self.role = "agent"
        self.presence: Status = "online"
        #: True while the presence is ``away`` because the agent was idle, not by choice.
        self.auto_away = False
        self.last_activity = 0
        #: Colleagues (and the agent) by id, with their presence.
        self.agents: dict[str, AgentInfo] = {}
        #: The app's settings; admins only.
        self.app: AppSettings | None = None
        self.conversations: dict[str, ConversationSummary] = {}
        self.view: View = "unassigned"
        #: The search box's query while a search is shown, and its results' ids.
        self.search_query = ""
        self.search_results: list[str] | None = None
        self._search_request: str | None = None
        self.open_id: str | None = None
        #: The open conversation's messages by seq (history plus live ones).
        self.messages: dict[int, ChatMessage] = {}
        #: The open conversation's visitor, from its history.
        self.details: VisitorDetails | None = None
        self.pending: dict[str, PendingMessage] = {}
        #: Who is typing in which conversation (visitors' names).
        self.typing: dict[str, str] = {}
        #: Read receipts: the highest seq each conversation's visitor has seen.
        self.visitor_read: dict[str, int] = {}
        #: The latest error's text, for an error line; cleared by the next welcome.
        self.last_error: str | None = None
        #: Requests sent and not answered yet, by request id: what they were.
        self.requests: dict[str, str] = {}
        self._typing_in: str | None = None  # the conversation our typing.set true went to
        self._typing_sent_at = 0
        self._last_keystroke = 0
        self._to_send: list[Message] = []
        self._to_announce: list[str] = []
        self._to_notify: list[Notification] = []
        self._dirty: set[str] = set()
        self._list_reset = True

    # --- outputs --------------------------------------------------------------------------------

    def frames_to_send(self) -> list[Message]:
        """Frames queued since the last call; the caller must send them in order."""
        frames, self._to_send = self._to_send, []
        return frames

    def announcements_to_make(self) -> list[str]:
        """Texts for the polite live region (new messages in the open conversation)."""
        texts, self._to_announce = self._to_announce, []
        return texts

    def notifications_to_make(self) -> list[Notification]:
        """New chats since the last call (sound and desktop notification)."""
        notes, self._to_notify = self._to_notify, []
        return notes

    def take_dirty(self) -> tuple[bool, set[str]]:
        """What the list needs redrawn since the last call: ``(reset, ids)``. ``reset`` means
        the visible set may have changed wholesale (welcome, view, search); else only the rows
        ``ids`` changed (and may have moved)."""
        reset, dirty = self._list_reset, self._dirty
        self._list_reset, self._dirty = False, set()
        return reset, dirty

    def visible(self) -> list[ConversationSummary]:
        """The list as shown: the search results, else the current view, plus the open
        conversation (joining it must not make it vanish); by latest activity (ties broken by id
        so the order is stable)."""
        if self.search_results is not None:
            found = [self.conversations[i] for i in self.search_results if i in self.conversations]
        else:
            found = [
                s
                for s in self.conversations.values()
                if s.id == self.open_id or in_view(s, self.view, self.agent_id)
            ]
        return sorted(found, key=lambda s: (-s.updated_at, s.id))

    def conversation_order(self) -> list[ConversationSummary]:
        """Every known conversation, newest first."""
        return sorted(self.conversations.values(), key=lambda s: (-s.updated_at, s.id))

    def view_badge(self, view: View) -> int:
        """How many conversations in ``view`` have unread messages."""
        return sum(
            1
            for s in self.conversations.values()
            if unread_count(s) and in_view(s, view, self.agent_id)
        )

    def neighbour(self, step: int) -> str | None:
        """The conversation ``step`` rows from the open one in the visible list (the first or
        last when none is open); ``None`` past either end or when the list is empty."""
        ids = [s.id for s in self.visible()]
        if not ids:
            return None
        if self.open_id not in ids:
            return ids[0] if step > 0 else ids[-1]
        index = ids.index(self.open_id) + step
        return ids[index] if 0 <= index < len(ids) else None

    def open_messages(self) -> list[ChatMessage]:
        return [self.messages[seq] for seq in sorted(self.messages)]

    def open_pending(self) -> list[PendingMessage]:
        return [p for p in self.pending.values() if p.conversation_id == self.open_id]

    @property
    def open_summary(self) -> ConversationSummary | None:
        return self.conversations.get(self.open_id) if self.open_id else None

    def can_reply(self) -> bool:
        summary = self.open_summary
        return summary is not None and not summary.closed and not summary.ended

    def assignee(self, summary: ConversationSummary) -> AgentInfo | None:
        return self.agents.get(summary.agent_ids[0]) if summary.agent_ids else None

    def colleagues(self) -> list[AgentInfo]:
        """Other agents, online first, then by name (for assign/transfer)."""
        order = {"online": 0, "away": 1, "offline": 2}
        others = [a for a in self.agents.values() if a.id != self.agent_id]
        return sorted(others, key=lambda a: (order[a.presence], a.name.lower(), a.id))

    # --- connection -----------------------------------------------------------------------------

    def connection_started(self) -> None:
        """A socket is being opened (the first of this login, or a reconnection)."""
        if self.connection is Connection.DISCONNECTED:
            self.connection = Connection.CONNECTING

    def connection_opened(self, token: str = "") -> None:
        """The socket is open: queue the hello (no token: the session cookie authenticates).
        The welcome will finish the handshake."""
        self._to_send.append(AgentHello(token=token))

    def connection_lost(self, code: int) -> bool:
        """The socket closed with ``code``. Returns whether the caller should reconnect: not when
        the session was refused (4401), in which case the caller must go back to the login form."""
        self._typing_in = None
        if code == CloseCode.UNAUTHORIZED:
            self.connection = Connection.DISCONNECTED
            return False
        self.connection = Connection.RECONNECTING
        return True

    # --- agent actions --------------------------------------------------------------------------

    def set_words(self, t: Words) -> None:
        """The agent chose another language: word what comes next with ``t``, and redraw every
        row (their labels change)."""
        self.t = t
        self._list_reset = True

    def set_view(self, view: View) -> None:
        """Show one of :data:`VIEWS`; leaves any search."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}")
        self.view = view
        self.search_query, self.search_results, self._search_request = "", None, None
        self._list_reset = True

    def search(self, query: str, request_id: str) -> None:
        """Search by visitor name, email or text; a blank query goes back to the view."""
        query = query.strip()
        if query == self.search_query:
            return
        self.search_query = query
        if not query:
            self.search_results, self._search_request = None, None
            self._list_reset = True
            return
        self._search_request = request_id
        self._request(SearchConversations(request_id=request_id, query=query), "search")

    def open_conversation(self, conversation_id: str) -> None:
        """Show ``conversation_id``: its history is requested; ``ReadUpTo`` follows the history."""
        if conversation_id not in self.conversations:
            raise KeyError(f"unknown conversation {conversation_id!r}")
        self.typing_stopped()
        self._dirty.update(i for i in (self.open_id, conversation_id) if i)
        self.open_id = conversation_id
        self.messages = {}
        self.details = None
        if self.connection is Connection.CONNECTED:
            self._to_send.append(OpenConversation(conversation_id=conversation_id))

    def close_conversation(self) -> None:
        """Back to the list: nothing open."""
        self.typing_stopped()
        if self.open_id:
            self._dirty.add(self.open_id)
        self.open_id, self.messages, self.details = None, {}, None

    def send_reply(
        self,
        text: str,
        client_id: str,
        file_id: str | None = None,
        file_name: str | None = None,
    ) -> PendingMessage | None:
        """Queue the agent's reply (text, or a file uploaded as ``file_id``) to the open
        conversation. Returns the pending message, or ``None`` when there is nothing to send
        (blank text and no file, no open conversation)."""
        text = text.strip()
        if (not text and file_id is None) or self.open_id is None:
            return None
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(self.t("reply_too_long", n=MAX_TEXT_CHARS))
        self.typing_stopped()
        pending = PendingMessage(
            client_id=client_id,
            conversation_id=self.open_id,
            text=text,
            file_id=file_id,
            file_name=file_name,
        )
        self.pending[client_id] = pending
        if self.connection is Connection.CONNECTED:
            self._to_send.append(self._send_frame(pending))
        return pending

    def reply_edited(self, text: str, now: int) -> None:
        """The reply box changed: say we are typing (throttled), or stopped when emptied."""
        if not text.strip():
            self.typing_stopped()
            return
        self._last_keystroke = now
        if self.open_id is None or not self.can_reply():
            return
        if self._typing_in != self.open_id or now - self._typing_sent_at >= TYPING_REFRESH_MS:
            self.typing_stopped()
            self._typing_in, self._typing_sent_at = self.open_id, now
            self._send_if_connected(SetTyping(typing=True, conversation_id=self.open_id))

    def typing_idle(self, now: int) -> None:
        """Called now and then: typing stops after :data:`TYPING_IDLE_MS` without a keystroke."""
        if self._typing_in is not None and now - self._last_keystroke >= TYPING_IDLE_MS:
            self.typing_stopped()

    def typing_stopped(self) -> None:
        """The agent sent, left the reply box or moved on: stop the typing indicator."""
        if self._typing_in is not None:
            conversation_id, self._typing_in = self._typing_in, None
            self._send_if_connected(SetTyping(typing=False, conversation_id=conversation_id))

    def revoke_visitor(self) -> None:
        """Close the open conversation's visitor session (the caller has asked for confirmation)."""
        if self.open_id is not None:
            self._to_send.append(RevokeVisitor(conversation_id=self.open_id))

    def end_conversation(self) -> None:
        if self.open_id is not None:
            self.typing_stopped()
            self._to_send.append(EndConversation(conversation_id=self.open_id))

    def assign(self, agent_id: str) -> None:
        """Join the open conversation (``agent_id`` is ours), or assign/transfer it."""
        if self.open_id is not None:
            self._to_send.append(
                AssignConversation(conversation_id=self.open_id, agent_id=agent_id)
            )

    def join(self) -> None:
        if self.agent_id is not None:
            self.assign(self.agent_id)

    def leave(self) -> None:
        if self.open_id is not None:
            self._to_send.append(LeaveConversation(conversation_id=self.open_id))

    def change_tags(self, wanted: tuple[str, ...], request_id: str) -> None:
        """Make the open conversation's visitor's tags ``wanted``, at the version shown (a
        colleague's change in between is a ``VERSION_CONFLICT``)."""
        summary = self.open_summary
        if summary is None:
            return
        if len(wanted) > MAX_TAGS:
            self.last_error = self.t(REQUEST_ERRORS["TAG_LIMIT_EXCEEDED"], n=MAX_TAGS)
            return
        add = tuple(t for t in wanted if t not in summary.tags)
        remove = tuple(t for t in summary.tags if t not in wanted)
        if not add and not remove:
            return
        frame = ChangeTags(
            request_id=request_id,
            add=add,
            remove=remove,
            conversation_id=summary.id,
            version=summary.tags_version,
        )
        self._request(frame, "tags")

    def set_presence(self, status: Status) -> None:
        """The agent chose a presence (never automatic: that is :meth:`check_idle`)."""
        self.auto_away = False
        self._change_presence(status)

    def note_activity(self, now: int) -> None:
        """The agent used the console: back online if idleness made them away."""
        self.last_activity = now
        if self.auto_away:
            self.auto_away = False
            self._change_presence("online")

    def check_idle(self, now: int) -> None:
        """Called now and then: an online agent idle for :data:`AWAY_AFTER_MS` becomes away."""
        if self.presence == "online" and now - self.last_activity >= AWAY_AFTER_MS:
            self._change_presence("away")
            self.auto_away = True

    def update_app(self, app: AppSettings, request_id: str) -> None:
        """Admins save the app's settings."""
        if self.role != "admin":
            raise PermissionError("only admins edit the app")
        self._request(UpdateApp(request_id=request_id, app=app), "app")

    # --- frames from the server -----------------------------------------------------------------

    def receive_frame(self, frame: Message) -> None:
        handler = self._HANDLERS.get(type(frame))
        if handler is None:
            raise TypeError(f"an agent console does not expect {frame.TYPE!r}")
        handler(self, frame)

    def _receive_welcome(self, frame: AgentWelcome) -> None:
        first = self.connection is not Connection.CONNECTED and self.agent_id is None
        self.connection = Connection.CONNECTED
        self.agent_id, self.agent_name = frame.agent_id, frame.agent_name
        self.role, self.app = frame.role, frame.app
        self.agents = {a.id: a for a in frame.agents}
        self.last_error = None
        self.requests = {}
        known = set(self.conversations)
        self.conversations = {s.id: s for s in frame.conversations}
        self._list_reset = True
        if not first:
            # Chats that started while the socket was down are new chats too.
            for summary in frame.conversations:
                if summary.id not in known:
                    self._notify_if_new_chat(summary)
        if first:
            self.presence = frame.presence
        elif frame.presence != self.presence:
            # Keep the agent's own choice across a reconnection (the server may reset it).
            self._to_send.append(SetPresence(status=self.presence))
        if self.open_id is not None and self.open_id not in self.conversations:
            self.open_id, self.messages, self.details = None, {}, None
        if self.open_id is not None:
            # Back after a drop: refetch what was missed, then resend what was never acked.
            self._to_send.append(OpenConversation(conversation_id=self.open_id))
        self._to_send.extend(self._send_frame(p) for p in self.pending.values())
        if self.search_query:
            self.search_results = None
            query, self.search_query = self.search_query, ""
            self.search(query, f"{self._search_request or 'search'}-again")

    def _receive_updated(self, frame: ConversationUpdated) -> None:
        incoming = frame.conversation
        if incoming.id not in self.conversations:
            self._notify_if_new_chat(incoming)
        self._merge_summary(incoming)
        if incoming.ended:
            self.typing.pop(incoming.id, None)

    def _receive_history(self, frame: ConversationHistory) -> None:
        if frame.conversation_id != self.open_id:
            return  # the agent has moved on to another conversation
        self.messages = {m.seq: m for m in frame.messages}
        self.details = frame.visitor
        for old in frame.visitor.past_conversations if frame.visitor else ():
            if old.id not in self.conversations:  # so the details panel can open them
                self._put(old)
        for message in frame.messages:
            self._settle_pending(message)
        self._mark_read(always=True)

    def _receive_new(self, frame: NewMessage) -> None:
        message = frame.message
        summary = self.conversations.get(message.conversation_id)
        if summary is not None and message.seq > summary.last_seq:
            self._put(
                replace(
                    summary,
                    last_seq=message.seq,
                    last_message=message,
                    updated_at=max(summary.updated_at, message.created_at),
                )
            )
        if message.author == "visitor":
            self.typing.pop(message.conversation_id, None)
        if message.conversation_id != self.open_id or message.seq in self.messages:
            return
        self.messages[message.seq] = message
        own = self._settle_pending(message)
        if message.author != "agent" or not own:
            words = message_words(message, self.t)
            self._to_announce.append(
                words if message.author == "system" else f"{message.author_name}: {words}"
            )
        self._mark_read()

    def _receive_ack(self, frame: MessageAck) -> None:
        message = frame.message
        self.pending.pop(frame.client_id, None)
        if message.conversation_id == self.open_id:
            self.messages[message.seq] = message
        summary = self.conversations.get(message.conversation_id)
        if summary is not None and message.seq >= summary.last_seq:
            self._put(
                replace(
                    summary,
                    last_seq=message.seq,
                    last_message=message,
                    agent_read_seq=max(summary.agent_read_seq, message.seq),
                    updated_at=max(summary.updated_at, message.created_at),
                )
            )

    def _receive_error(self, frame: ErrorFrame) -> None:
        kind = self.requests.pop(frame.request_id, None) if frame.request_id else None
        if kind == "search" and frame.request_id == self._search_request:
            self.search_results = []
            self._list_reset = True
        key = REQUEST_ERRORS.get(frame.code)
        self.last_error = self.t(key, n=MAX_TAGS) if key else frame.message

    def _receive_done(self, frame: RequestDone) -> None:
        if self.requests.pop(frame.request_id, None) is not None:
            self.last_error = None

    def _receive_typing(self, frame: TypingChanged) -> None:
        if frame.author != "visitor":
            return  # colleagues' typing is not shown
        if frame.typing:
            self.typing[frame.conversation_id] = frame.name
        else:
            self.typing.pop(frame.conversation_id, None)

    def _receive_read(self, frame: ReadUpdated) -> None:
        if frame.reader == "visitor":
            seen = self.visitor_read.get(frame.conversation_id, 0)
            self.visitor_read[frame.conversation_id] = max(seen, frame.seq)

    def _receive_ended(self, frame: ConversationEnded) -> None:
        summary = self.conversations.get(frame.conversation_id)
        if summary is not None and not summary.ended:
            self._put(replace(summary, ended=True))
        self.typing.pop(frame.conversation_id, None)
        if self._typing_in == frame.conversation_id:
            self._typing_in = None

    def _receive_tags(self, frame: TagsUpdated) -> None:
        for summary in list(self.conversations.values()):
            if summary.visitor_uid == frame.visitor_uid and summary.tags_version <= frame.version:
                self._put(replace(summary, tags=frame.tags, tags_version=frame.version))

    def _receive_search(self, frame: SearchResults) -> None:
        self.requests.pop(frame.request_id, None)
        if frame.request_id != self._search_request:
            return  # an older query's answer
        for summary in frame.conversations:
            if summary.id not in self.conversations:
                self.conversations[summary.id] = summary
        self.search_results = [s.id for s in frame.conversations]
        self._list_reset = True

    def _receive_presence(self, frame: AgentPresenceChanged) -> None:
        self.agents[frame.agent.id] = frame.agent
        if frame.agent.id == self.agent_id:
            self.presence = frame.agent.presence
        # Rows name their assignee's presence.
        self._dirty.update(
            s.id for s in self.conversations.values() if s.agent_ids[:1] == (frame.agent.id,)
        )

    def _receive_app(self, frame: AppUpdated) -> None:
        self.app = frame.app

    def _receive_deleted(self, frame: ConversationDeleted) -> None:
        """Gone for good (the visitor asked, ``porch visitor delete``, retention): its row and
        unsent replies go, and it closes if it was open."""
        gone = frame.conversation_id
        self.conversations.pop(gone, None)
        self.pending = {k: p for k, p in self.pending.items() if p.conversation_id != gone}
        if self.open_id == gone:
            self.open_id, self.messages, self.details = None, {}, None
        self._list_reset = True

    _HANDLERS: ClassVar[dict[type[Message], Callable[..., None]]] = {
        AgentWelcome: _receive_welcome,
        ConversationUpdated: _receive_updated,
        ConversationHistory: _receive_history,
        NewMessage: _receive_new,
        MessageAck: _receive_ack,
        ErrorFrame: _receive_error,
        RequestDone: _receive_done,
        TypingChanged: _receive_typing,
        ReadUpdated: _receive_read,
        ConversationEnded: _receive_ended,
        TagsUpdated: _receive_tags,
        SearchResults: _receive_search,
        AgentPresenceChanged: _receive_presence,
        AppUpdated: _receive_app,
        ConversationDeleted: _receive_deleted,
    }

    # --- helpers --------------------------------------------------------------------------------

    def _send_frame(self, pending: PendingMessage) -> SendMessage:
        return SendMessage(
            client_id=pending.client_id,
            text=pending.text,
            conversation_id=pending.conversation_id,
            file_id=pending.file_id,
        )

    def _send_if_connected(self, frame: Message) -> None:
        if self.connection is Connection.CONNECTED:
            self._to_send.append(frame)

    def _request(self, frame: SearchConversations | ChangeTags | UpdateApp, kind: str) -> None:
        self.requests[frame.request_id] = kind
        self._to_send.append(frame)

    def _change_presence(self, status: Status) -> None:
        if status != self.presence:
            self.presence = status
            self._send_if_connected(SetPresence(status=status))

    def _notify_if_new_chat(self, summary: ConversationSummary) -> None:
        if summary.ended or summary.closed:
            return
        if summary.agent_ids and self.agent_id not in summary.agent_ids:
            return  # a colleague's chat
        last = summary.last_message
        body = self.t("flag_offline" if summary.offline else "notify_new_chat")
        if last is not None and last.text:
            body = f"{body}: {last.text[:120]}"
        title = visitor_label(summary, self.t)
        self._to_notify.append(Notification(conversation_id=summary.id, title=title, body=body))

    def _put(self, summary: ConversationSummary) -> None:
        """Store a changed summary and mark its row for redrawing."""
        self.conversations[summary.id] = summary
        self._dirty.add(summary.id)

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
            if known.tags_version > incoming.tags_version:
                incoming = replace(incoming, tags=known.tags, tags_version=known.tags_version)
        self._put(incoming)

    def _mark_read(self, always: bool = False) -> None:
        """The agent is looking at the open conversation, so everything in it is read. Opening a
        conversation (``always``) reports its last seq even if the server already has it."""
        summary = self.open_summary
        if summary is None:
            return
        last = max(max(self.messages, default=0), summary.last_seq)
        if last > 0 and (always or last > summary.agent_read_seq):
            self._put(replace(summary, agent_read_seq=last))
            self._to_send.append(ReadUpTo(seq=last, conversation_id=summary.id))


# --- the settings panel's text fields -------------------------------------------------------------

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_LINE = re.compile(r"^(\w{3})\s+(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})$")
_FIELD_KINDS = ("text", "email", "phone", "textarea", "select")


def parse_lines(text: str) -> tuple[str, ...]:
    """One entry per line (allowed domains), trimmed, blanks dropped."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def format_hours(hours: BusinessHours | None) -> str:
    if hours is None:
        return ""
    return "\n".join(f"{WEEKDAYS[d.weekday]} {d.opens}-{d.closes}" for d in hours.days)


def parse_hours(timezone: str, text: str, t: Words) -> BusinessHours | None:
    """Business hours from lines ``Mon 09:00-17:00``; no lines means always open."""
    days = []
    for number, line in enumerate(parse_lines(text), 1):
        where = t("hours_line", line=number)
        match = _HOURS_LINE.match(line)
        if match is None or match.group(1).title() not in WEEKDAYS:
            raise ValueError(t("hours_format", where=where, example="'Mon 09:00-17:00'"))
        opens, closes = match.group(2), match.group(3)
        if not (_is_time(opens) and _is_time(closes) and opens < closes):
            raise ValueError(t("hours_order", where=where))
        days.append(OpeningHours(WEEKDAYS.index(match.group(1).title()), opens, closes))
    if not days:
        return None
    if not timezone.strip():
        raise ValueError(t("hours_timezone", example="Europe/Berlin"))
    return BusinessHours(timezone=timezone.strip(), days=tuple(days))


def _is_time(hh_mm: str) -> bool:
    hours, minutes = hh_mm.split(":")
    return int(hours) < 24 and int(minutes) < 60


def format_fields(fields: tuple[FormField, ...]) -> str:
    lines = []
    for f in fields:
        parts = [f.name, f.label, f.kind, "required" if f.required else "optional"]
        lines.append(" | ".join(parts + list(f.options)))
    return "\n".join(lines)


def parse_fields(text: str, t: Words) -> tuple[FormField, ...]:
    """Pre-chat fields from lines ``name | label | kind | required|optional | options…``."""
    fields = []
    for number, line in enumerate(parse_lines(text), 1):
        where = t("fields_line", line=number)
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(t("fields_format", where=where, example="'name | label | kind'"))
        kind = parts[2] if len(parts) > 2 and parts[2] else "text"
        if kind not in _FIELD_KINDS:
            raise ValueError(t("fields_kind", where=where, kinds=", ".join(_FIELD_KINDS)))
        required = len(parts) > 3 and parts[3] == "required"
        options = tuple(p for p in parts[4:] if p)
        if kind == "select" and not options:
            raise ValueError(t("fields_options", where=where))
        fields.append(FormField(parts[0], parts[1], kind, required, options))  # type: ignore[arg-type]
    return tuple(fields)


# tawk.to widgets: ``propertyId/widgetId | language | position | colour | greeting``. The server
# checks every widget again with the CLI's rules (porch_server/rules/properties.py); these
# checks only name the line to fix before anything is sent. A greeting may hold ``|`` (it is
# the last part); its newlines are written ``\n`` and its backslashes ``\\``, so one widget
# stays one line.
WIDGETS_FORMAT = "propertyId/widgetId | language | position | colour | greeting"
_WIDGET_IDS = re.compile(rf"({TAWK_PROPERTY_ID_PATTERN})/({TAWK_WIDGET_ID_PATTERN})")
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
_GREETING_ESCAPE = re.compile(r"\\\\|\\n")


def format_widgets(widgets: tuple[TawkWidgetSettings, ...]) -> str:
    return "\n".join(
        f"{w.property_id}/{w.widget_id} | {w.language} | {w.position} | {w.colour} | "
        + w.greeting.replace("\\", "\\\\").replace("\n", "\\n")
        for w in widgets
    )


def parse_widgets(
    text: str, properties: tuple[str, ...], t: Words
) -> tuple[TawkWidgetSettings, ...]:
    """The widgets of lines like ``64f0d3e3c0ffee0000000001/default | de | bl | #0f766e | Hallo``,
    each of one of ``properties`` (the app's), each once; the greeting may be left out."""
    widgets: list[TawkWidgetSettings] = []
    seen: set[str] = set()
    for number, line in enumerate(parse_lines(text), 1):
        where = t("widgets_line", line=number)
        parts = [p.strip() for p in line.split("|", 4)]
        if len(parts) < 4:
            raise ValueError(t("widgets_format", where=where, example=f"'{WIDGETS_FORMAT}'"))
        ids, language, position, colour = parts[:4]
        match = _WIDGET_IDS.fullmatch(ids)
        if match is None:
            raise ValueError(
                t(
                    "widgets_ids",
                    where=where,
                    ids=repr(ids),
                    format="propertyId/widgetId",
                    example="64f0d3e3c0ffee0000000001/default",
                )
            )
        property_id, widget_id = match.groups()
        if property_id not in properties:
            raise ValueError(
                t(
                    "widgets_property",
                    where=where,
                    property=property_id,
                    properties=", ".join(properties) or "—",
                )
            )
        if ids in seen:
            raise ValueError(t("widgets_twice", where=where, ids=ids))
        seen.add(ids)
        language = language.lower().replace("_", "-")
        if language not in WIDGET_LANGUAGES:
            raise ValueError(
                t(
                    "widgets_language",
                    where=where,
                    value=repr(parts[1]),
                    allowed=", ".join(WIDGET_LANGUAGES),
                )
            )
        position = position.lower()
        if position not in WIDGET_POSITIONS:
            raise ValueError(
                t(
                    "widgets_position",
                    where=where,
                    value=repr(parts[2]),
                    allowed=", ".join(WIDGET_POSITIONS),
                )
            )
        colour_match = _COLOUR.fullmatch(colour)
        if colour_match is None:
            raise ValueError(
                t("widgets_colour", where=where, value=repr(colour), example="#2563eb")
            )
        greeting = _GREETING_ESCAPE.sub(
            lambda m: "\n" if m.group() == "\\n" else "\\", parts[4] if len(parts) > 4 else ""
        )
        widgets.append(
            TawkWidgetSettings(
                property_id=property_id,
                widget_id=widget_id,
                language=language,
                position=position,
                colour="#" + colour_match.group(1).lower(),
                greeting=greeting,
            )
        )
    return tuple(widgets)
