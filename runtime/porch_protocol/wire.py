"""Porch's wire protocol: the typed, versioned frames exchanged over WebSockets.

Every frame is one JSON object ``{"v": 1, "type": "<noun.verb>", ...fields}``. Each frame type is a
frozen dataclass registered with :func:`_message`; :func:`encode` turns one into text and
:func:`decode` turns text back into one, validating every field against the dataclass's type
hints. The rules follow msgspec's schema evolution: new fields get defaults, unknown fields are
ignored, a missing required field or a field of the wrong type is a :class:`ProtocolError` naming
the field.

This module is pure standard-library Python: the server imports it in CPython, the visitor runtime
and the agent console import the very same file inside Pyodide.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from porch_protocol.json_text import MAX_JSON_DEPTH, JSONRejected, read_json, write_json

PROTOCOL_VERSION = 1

#: Largest frame the server accepts from a client, in characters of JSON text.
MAX_FRAME_CHARS = 64 * 1024
#: Largest chat message text, in characters.
MAX_TEXT_CHARS = 5000
#: Largest identifier a client may choose (client message ids).
MAX_ID_CHARS = 64


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses; the client decides what to do from the code alone."""

    #: A frame was not JSON, not an object, of an unknown type or failed validation.
    PROTOCOL_ERROR = 4400
    #: The ticket, visitor token or agent token is missing, forged or expired.
    UNAUTHORIZED = 4401
    #: A business-user login (``sbs``/``sbs_mm``/``ranstr``) did not verify.
    LOGIN_FAILED = 4402
    #: The page embedding the widget is not on the app's allowed domains.
    DOMAIN_NOT_WHITELISTED = 4403
    #: The appid is unknown.
    INVALID_BOOTSTRAP = 4404
    #: An agent closed this visitor's authentication; the stored identity must be forgotten.
    AUTH_CLOSED = 4410


class ProtocolError(ValueError):
    """A frame that is not a valid message.

    ``code`` is stable and machine-readable (``bad_json``, ``bad_version``, ``unknown_type``,
    ``unexpected_type``, ``bad_field``, ``too_large``); the text says what was expected.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Author = Literal["visitor", "agent", "system"]
IdentitySource = Literal["initial", "resolved"]
#: An agent's presence, and the page status visitors see (derived from presence and hours).
Status = Literal["online", "away", "offline"]
Role = Literal["admin", "agent"]
#: tawk.to's satisfaction values: dislike, neutral, like.
Rating = Literal[-1, 0, 1]
#: What a ``system`` message records; clients render it in their own language from ``event``
#: and ``agent`` (``text`` is an English fallback for logs and old clients).
SystemEvent = Literal[
    "agent_joined", "agent_left", "transferred", "chat_ended", "rated", "offline_form", "prechat"
]
FieldKind = Literal["text", "email", "phone", "textarea", "select"]
#: What the visitor's privacy filter masked in a message (porch_runtime.privacy).
MaskKind = Literal["card", "iban", "pattern"]
#: A value in custom attributes and event metadata.
Scalar = str | int | float | bool

_REGISTRY: dict[str, type[Message]] = {}


class Message:
    """Base of every frame type. ``TYPE`` is the frame's ``type`` string."""

    TYPE: ClassVar[str]


_M = typing.TypeVar("_M", bound=type[Message])


def _message(type_name: str) -> typing.Callable[[_M], _M]:
    def register(cls: _M) -> _M:
        if type_name in _REGISTRY:
            raise RuntimeError(f"frame type {type_name!r} registered twice")
        cls.TYPE = type_name
        _REGISTRY[type_name] = cls
        return cls

    return register


# --- shared records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentBrief:
    """An agent as visitors may see them (the shape of tawk.to's ``onAgentJoinChat`` data)."""

    id: str
    name: str
    position: str = ""
    image: str = ""


@dataclass(frozen=True)
class FileRef:
    """An uploaded file. ``url`` is a path on the Porch server (``/files/<id>/<name>``); clients
    resolve it against the server's URL."""

    id: str
    name: str
    size: int
    content_type: str
    url: str


@dataclass(frozen=True)
class ChatMessage:
    """One persisted chat message. ``seq`` orders messages within their conversation.

    ``author == "system"`` messages carry ``event`` (and ``agent`` where one is involved);
    messages with ``file`` may have empty ``text``."""

    id: str
    conversation_id: str
    seq: int
    author: Author
    author_name: str
    text: str
    created_at: int  # milliseconds since the Unix epoch
    client_id: str | None = None
    file: FileRef | None = None
    event: SystemEvent | None = None
    agent: AgentBrief | None = None
    #: The visitor's browser masked these kinds of content before sending (card numbers, IBANs,
    #: the site's patterns): the agents see that something was there.
    masked: tuple[MaskKind, ...] = ()


@dataclass(frozen=True)
class VisitorIdentity:
    """A visitor token the server issued: ``bs`` is the visitor's public id, ``bs_mm`` the
    server's signature of it. The host page stores both and hands them back on the next load."""

    bs: str
    bs_mm: str


@dataclass(frozen=True)
class BusinessLogin:
    """A site's business user, signed by the site's backend (see docs/protocol.md, 'login')."""

    sbs: str
    sbs_mm: str
    ranstr: str
    name: str | None = None
    nickname: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class TawkLogin:
    """A tawk.to ``Tawk_API.login``: ``hash`` is the lowercase hex HMAC-SHA256 of ``user_id``,
    keyed with the app's secret (tawk.to's API key; docs/migrating-from-tawk.md). Other keys of
    the call become ``attributes``."""

    user_id: str
    hash: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    attributes: dict[str, Scalar] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class VisitorProfile:
    name: str | None = None
    nickname: str | None = None
    email: str | None = None
    phone: str | None = None
    referer: str | None = None
    source_title: str | None = None


@dataclass(frozen=True)
class FormField:
    """One question of an app's pre-chat form."""

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    options: tuple[str, ...] = ()  # for ``select``


@dataclass(frozen=True)
class FormAnswer:
    """One answered question (pre-chat fields, offline-form questions)."""

    name: str
    value: str
    label: str = ""


@dataclass(frozen=True)
class OpeningHours:
    """Open from ``opens`` to ``closes`` (``"HH:MM"``, local to the app's timezone) on
    ``weekday`` (0 = Monday)."""

    weekday: int
    opens: str
    closes: str


@dataclass(frozen=True)
class BusinessHours:
    timezone: str  # an IANA name, e.g. "Europe/Berlin"
    days: tuple[OpeningHours, ...]


#: What a tawk.to widget's settings may hold (the server's ``porch_server.rules.properties`` checks
#: them, the console reads them to explain a bad line; ``WIDGET_LANGUAGES`` are the visitor
#: runtime's locales, a test keeps the two equal). Ids are URL path segments: case-sensitive.
TAWK_PROPERTY_ID_PATTERN = "[0-9a-f]{24}"
TAWK_WIDGET_ID_PATTERN = "[a-z0-9]{1,50}"
WIDGET_LANGUAGES = ("en", "zh-cn", "zh-tw", "ja", "ko", "de", "fr", "pt", "ru", "ar", "he")
#: Launcher positions: bottom, centre or top, then right or left.
WIDGET_POSITIONS = ("br", "bl", "cr", "cl", "tr", "tl")


@dataclass(frozen=True)
class TawkWidgetSettings:
    """One widget of one of the app's tawk.to properties (docs/migrating-from-tawk.md):
    ``language`` one of :data:`WIDGET_LANGUAGES`, ``position`` one of :data:`WIDGET_POSITIONS`,
    ``colour`` ``#rrggbb``, ``greeting`` at most 500 characters (empty: the translated
    default)."""

    property_id: str
    widget_id: str
    language: str = "en"
    position: str = "br"
    colour: str = "#2563eb"
    greeting: str = ""


@dataclass(frozen=True)
class AppSettings:
    """An app as its admins edit it. ``business_hours`` None means always open.

    ``tawk_widgets`` are the widgets of the app's tawk.to properties, ordered by property then
    widget id; in ``app.update`` they are the whole list wanted (a widget left out is deleted),
    or None to leave them as they are (a console or API client that predates them must not
    delete an app's widgets by saving its other settings).
    ``tawk_properties`` are the ids of those properties, widgets or not; ``app.update`` ignores
    them (properties are made with ``porch property create``)."""

    appid: str
    name: str
    allowed_domains: tuple[str, ...]
    offline_message: str = ""
    business_hours: BusinessHours | None = None
    prechat_fields: tuple[FormField, ...] = ()
    tawk_widgets: tuple[TawkWidgetSettings, ...] | None = None
    tawk_properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class WidgetSettings:
    """What the visitor runtime needs to know of its app (never the secret)."""

    app_name: str
    offline_message: str = ""
    prechat_fields: tuple[FormField, ...] = ()
    upload_max_bytes: int = 0
    upload_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentInfo:
    """An agent as the console sees colleagues."""

    id: str
    name: str
    email: str
    role: Role
    presence: Status


@dataclass(frozen=True)
class VisitorEventRecord:
    name: str
    metadata: dict[str, Scalar]
    created_at: int


@dataclass(frozen=True)
class ConversationSummary:
    """What the agent console lists for one conversation. ``closed`` once the visitor's
    authentication was revoked; ``ended`` once either side ended the chat."""

    id: str
    visitor_uid: str
    visitor_name: str | None
    visitor_email: str | None
    referer: str | None
    source_title: str | None
    last_seq: int
    agent_read_seq: int
    updated_at: int
    last_message: ChatMessage | None = None
    closed: bool = False
    ended: bool = False
    #: Agent ids in the chat; the first is the assignee.
    agent_ids: tuple[str, ...] = ()
    rating: Rating | None = None
    tags: tuple[str, ...] = ()
    tags_version: int = 0
    visitor_online: bool = False
    #: Started from the offline form rather than a live chat.
    offline: bool = False


@dataclass(frozen=True)
class VisitorDetails:
    """Everything the console shows beside a conversation."""

    uid: str
    name: str | None = None
    nickname: str | None = None
    email: str | None = None
    phone: str | None = None
    referer: str | None = None
    source_title: str | None = None
    locale: str | None = None
    attributes: dict[str, Scalar] = dataclasses.field(default_factory=dict)
    events: tuple[VisitorEventRecord, ...] = ()
    #: The site signed ``email`` (secure mode, a business login): the console says so.
    email_verified: bool = False
    #: The visitor's other conversations, newest first.
    past_conversations: tuple[ConversationSummary, ...] = ()


# --- visitor <-> server -------------------------------------------------------------------------


@_message("visitor.hello")
@dataclass(frozen=True)
class VisitorHello(Message):
    """First frame on ``/ws/visitor``. ``ticket`` comes from ``POST /api/v1/bootstrap``."""

    ticket: str
    locale: str = "en"
    identity: VisitorIdentity | None = None
    login: BusinessLogin | None = None
    profile: VisitorProfile = VisitorProfile()
    #: ``Tawk_API.login``, in place of ``login``.
    tawk_login: TawkLogin | None = None
    #: tawk.to's secure mode for ``profile.email`` (``Tawk_API.visitor.hash``).
    profile_hash: str | None = None
    #: Highest ``seq`` the runtime already shows; the welcome carries only newer messages.
    last_seq: int = 0


@_message("visitor.welcome")
@dataclass(frozen=True)
class VisitorWelcome(Message):
    """Answer to ``visitor.hello``. ``source`` is ``initial`` when the presented identity was
    accepted as is, ``resolved`` when the server issued a new one (first visit, login, expiry)."""

    visitor_uid: str
    fkid: str
    identity: VisitorIdentity
    source: IdentitySource
    conversation_id: str | None
    messages: tuple[ChatMessage, ...]
    last_read_seq: int
    last_seq: int
    page_status: Status = "online"
    widget: WidgetSettings | None = None
    #: Bearer token for ``POST /api/v1/files`` (uploads by this visitor).
    upload_token: str = ""
    #: The latest conversation was ended; the next message starts a new one.
    ended: bool = False
    rating: Rating | None = None
    agents: tuple[AgentBrief, ...] = ()
    tags: tuple[str, ...] = ()
    tags_version: int = 0
    #: Highest ``seq`` the agents have read (read receipts).
    agent_read_seq: int = 0


@_message("message.send")
@dataclass(frozen=True)
class SendMessage(Message):
    """Post a chat message. ``client_id`` is chosen by the sender and makes resending safe:
    the server stores one message per (conversation, author, client_id)."""

    client_id: str
    text: str
    #: Required from agents; visitors always write to their own conversation.
    conversation_id: str | None = None
    #: ``FileRef.id`` of a file the sender uploaded (``text`` may then be empty).
    file_id: str | None = None
    #: What the visitor's privacy filter masked in ``text`` (agents' messages carry none).
    masked: tuple[MaskKind, ...] = ()


@_message("message.ack")
@dataclass(frozen=True)
class MessageAck(Message):
    """The message with ``client_id`` is stored (durably) as ``message``."""

    client_id: str
    message: ChatMessage


@_message("message.new")
@dataclass(frozen=True)
class NewMessage(Message):
    message: ChatMessage


@_message("conversation.read")
@dataclass(frozen=True)
class ReadUpTo(Message):
    """The sender has read every message up to ``seq``."""

    seq: int
    conversation_id: str | None = None


@_message("auth.closed")
@dataclass(frozen=True)
class AuthClosed(Message):
    """The server closed this visitor's authentication; the socket closes with
    :attr:`CloseCode.AUTH_CLOSED` right after."""

    reason: str
    message: str
    close_auth_type: str
    clear_token: bool


@_message("error")
@dataclass(frozen=True)
class ErrorFrame(Message):
    """A request failed. When ``fatal`` the server closes the socket next."""

    code: str
    message: str
    fatal: bool = False
    #: Set when the error answers a request frame (one with a ``request_id``).
    request_id: str | None = None


# --- agent <-> server ---------------------------------------------------------------------------


@_message("agent.hello")
@dataclass(frozen=True)
class AgentHello(Message):
    """First frame on ``/ws/agent``. The console authenticates with its session cookie and
    sends no ``token``; API clients send the ``token`` from ``POST /api/v1/agent/login``."""

    token: str = ""


@_message("agent.welcome")
@dataclass(frozen=True)
class AgentWelcome(Message):
    agent_id: str
    agent_name: str
    conversations: tuple[ConversationSummary, ...]
    role: Role = "agent"
    presence: Status = "online"
    agents: tuple[AgentInfo, ...] = ()
    #: Sent to admins only.
    app: AppSettings | None = None


@_message("conversation.updated")
@dataclass(frozen=True)
class ConversationUpdated(Message):
    conversation: ConversationSummary


@_message("conversation.open")
@dataclass(frozen=True)
class OpenConversation(Message):
    conversation_id: str


@_message("conversation.history")
@dataclass(frozen=True)
class ConversationHistory(Message):
    conversation_id: str
    messages: tuple[ChatMessage, ...]
    visitor: VisitorDetails | None = None


@_message("visitor.revoke")
@dataclass(frozen=True)
class RevokeVisitor(Message):
    """An agent closes the visitor's authentication (abuse, a shared computer); the visitor
    gets ``auth.closed``."""

    conversation_id: str
    reason: str = "revoked_by_agent"


# --- both sides ---------------------------------------------------------------------------------


@_message("typing.set")
@dataclass(frozen=True)
class SetTyping(Message):
    """The sender started or stopped typing. Agents name the conversation."""

    typing: bool
    conversation_id: str | None = None


@_message("typing.changed")
@dataclass(frozen=True)
class TypingChanged(Message):
    conversation_id: str
    author: Author
    name: str
    typing: bool


@_message("read.updated")
@dataclass(frozen=True)
class ReadUpdated(Message):
    """Read receipt: ``reader`` has read ``conversation_id`` up to ``seq``."""

    conversation_id: str
    reader: Author
    seq: int


@_message("conversation.end")
@dataclass(frozen=True)
class EndConversation(Message):
    conversation_id: str | None = None


@_message("conversation.ended")
@dataclass(frozen=True)
class ConversationEnded(Message):
    conversation_id: str
    by: Author


@_message("conversation.delete")
@dataclass(frozen=True)
class DeleteConversations(Message):
    """The visitor asks for every conversation of theirs to be deleted, with its messages and
    files; ``request.done`` once it is gone, and ``conversation.deleted`` for each one."""

    request_id: str


@_message("conversation.deleted")
@dataclass(frozen=True)
class ConversationDeleted(Message):
    """A conversation is gone for good (the visitor's request, ``porch visitor delete``, or the
    retention period): to the agents of its app and to its visitor."""

    conversation_id: str


@_message("tags.change")
@dataclass(frozen=True)
class ChangeTags(Message):
    """Add and remove the visitor's tags (at most 10; agents name the visitor by one of their
    conversations). With ``version`` the change applies only if the tags are still at that
    version (else ``VERSION_CONFLICT``)."""

    request_id: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    conversation_id: str | None = None
    version: int | None = None


@_message("tags.updated")
@dataclass(frozen=True)
class TagsUpdated(Message):
    """Tags belong to the visitor (every conversation of theirs shows them)."""

    visitor_uid: str
    tags: tuple[str, ...]
    version: int


@_message("request.done")
@dataclass(frozen=True)
class RequestDone(Message):
    """The request frame with ``request_id`` succeeded (failures are ``error`` frames)."""

    request_id: str


# --- visitor -> server, after hello -------------------------------------------------------------


@_message("visitor.update")
@dataclass(frozen=True)
class UpdateVisitor(Message):
    """Change the visitor's profile and custom attributes (keys: letters, digits and ``-``).
    Fails with the tawk.to error codes (``ATTRIBUTE_LIMIT_EXCEEDED``, ...)."""

    request_id: str
    profile: VisitorProfile | None = None
    attributes: dict[str, Scalar] = dataclasses.field(default_factory=dict)
    #: tawk.to's secure mode: HMAC-SHA256 of the profile's email with the app's secret. Given,
    #: it must sign the email (else ``INVALID_ATTRIBUTES``) and the email shows as verified.
    hash: str | None = None


@_message("visitor.event")
@dataclass(frozen=True)
class TrackEvent(Message):
    request_id: str
    name: str
    metadata: dict[str, Scalar] = dataclasses.field(default_factory=dict)


@_message("conversation.rate")
@dataclass(frozen=True)
class RateConversation(Message):
    """The visitor's satisfaction with their latest ended (or current) conversation."""

    rating: Rating
    comment: str = ""


@_message("prechat.submit")
@dataclass(frozen=True)
class SubmitPrechat(Message):
    request_id: str
    answers: tuple[FormAnswer, ...]


@_message("offline.submit")
@dataclass(frozen=True)
class SubmitOffline(Message):
    """The offline form; it becomes a conversation in the console."""

    request_id: str
    name: str
    email: str
    message: str
    questions: tuple[FormAnswer, ...] = ()


# --- server -> visitor --------------------------------------------------------------------------


@_message("status.changed")
@dataclass(frozen=True)
class PageStatusChanged(Message):
    status: Status


# --- agent -> server, after hello ---------------------------------------------------------------


@_message("presence.set")
@dataclass(frozen=True)
class SetPresence(Message):
    status: Status


@_message("conversation.assign")
@dataclass(frozen=True)
class AssignConversation(Message):
    """Join (``agent_id`` is the sender), assign or transfer to ``agent_id``."""

    conversation_id: str
    agent_id: str


@_message("conversation.leave")
@dataclass(frozen=True)
class LeaveConversation(Message):
    conversation_id: str


@_message("conversation.search")
@dataclass(frozen=True)
class SearchConversations(Message):
    """Find conversations by visitor name, email or message text."""

    request_id: str
    query: str


@_message("app.update")
@dataclass(frozen=True)
class UpdateApp(Message):
    """Admins only; ``appid`` cannot change."""

    request_id: str
    app: AppSettings


# --- server -> agent ----------------------------------------------------------------------------


@_message("conversation.search_results")
@dataclass(frozen=True)
class SearchResults(Message):
    request_id: str
    conversations: tuple[ConversationSummary, ...]


@_message("agent.presence")
@dataclass(frozen=True)
class AgentPresenceChanged(Message):
    agent: AgentInfo


@_message("app.updated")
@dataclass(frozen=True)
class AppUpdated(Message):
    app: AppSettings


VISITOR_SENDS: frozenset[type[Message]] = frozenset(
    {
        VisitorHello,
        SendMessage,
        ReadUpTo,
        SetTyping,
        EndConversation,
        RateConversation,
        ChangeTags,
        UpdateVisitor,
        TrackEvent,
        SubmitPrechat,
        SubmitOffline,
        DeleteConversations,
    }
)
AGENT_SENDS: frozenset[type[Message]] = frozenset(
    {
        AgentHello,
        OpenConversation,
        SendMessage,
        ReadUpTo,
        RevokeVisitor,
        SetTyping,
        EndConversation,
        ChangeTags,
        SetPresence,
        AssignConversation,
        LeaveConversation,
        SearchConversations,
        UpdateApp,
    }
)


# --- encoding -----------------------------------------------------------------------------------


def encode(message: Message) -> str:
    """The frame's JSON text, with ``v`` and ``type`` first."""
    return write_json(_frame_encoder(type(message))(message))


def compile_codecs() -> None:
    """Compile every frame type's decoder and encoder now rather than at its first use. The build
    calls this before it takes the browser runtime's memory snapshot (tools/build_snapshot.py),
    so that a restored runtime never runs Python's compiler: there, its first use costs the lazy
    compilation of the compiler's wasm functions, on the way to the first frame."""
    for cls in _REGISTRY.values():
        _fast_decoder(cls)
        _frame_encoder(cls)


def decode(
    text: str | bytes,
    expected: Iterable[type[Message]] | None = None,
    *,
    max_chars: int | None = MAX_FRAME_CHARS,
) -> Message:
    """Parse and validate one frame.

    ``expected`` restricts which frame types are acceptable here (e.g. :data:`VISITOR_SENDS` on
    the server's visitor socket); anything else raises :class:`ProtocolError` with code
    ``unexpected_type``. ``max_chars`` guards the server against its clients: with it, the text
    is also held to :data:`~porch_protocol.json_text.MAX_JSON_DEPTH` levels. Clients reading the
    server's frames pass None, since a welcome or a history may be far larger.

    Text that is not strict JSON is ``bad_json``; JSON holding a value no peer can represent (a
    lone surrogate, an integer past 2**53) is ``bad_field``, like any other invalid field.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("bad_json", "frame is not UTF-8 text") from exc
    if max_chars is not None and len(text) > max_chars:
        raise ProtocolError("too_large", f"frame is {len(text)} chars, limit {max_chars}")
    try:
        body = read_json(text, max_depth=MAX_JSON_DEPTH if max_chars is not None else None)
    except JSONRejected as exc:
        if exc.code == "bad_json":
            raise ProtocolError("bad_json", f"frame: {exc}") from None
        type_name = exc.value.get("type") if isinstance(exc.value, dict) else None
        raise ProtocolError("bad_field", f"{type_name}.{exc}" if type_name else str(exc)) from None
    return from_dict(body, expected)


def from_dict(body: object, expected: Iterable[type[Message]] | None = None) -> Message:
    """Validate an already-parsed frame (see :func:`decode`)."""
    if not isinstance(body, dict):
        raise ProtocolError("bad_json", "frame must be a JSON object")
    if body.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            "bad_version", f"frame version must be {PROTOCOL_VERSION}, got {body.get('v')!r}"
        )
    type_name = body.get("type")
    cls = _REGISTRY.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise ProtocolError("unknown_type", f"unknown frame type {type_name!r}")
    if expected is not None:
        allowed = expected if isinstance(expected, frozenset | set) else set(expected)
        if cls not in allowed:
            names = ", ".join(sorted(c.TYPE for c in allowed))
            raise ProtocolError(
                "unexpected_type", f"{type_name!r} is not valid here; expected {names}"
            )
    try:
        value = _fast_decoder(cls)(body)
    except _Mismatch:
        value = _parse_checked(cls, body, cls.TYPE)  # raises the ProtocolError that names it
    assert isinstance(value, Message)
    return value


def frame_types() -> dict[str, type[Message]]:
    """Every registered frame type by its ``type`` string (docs and tests use this)."""
    return dict(_REGISTRY)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def parse_value(tp: Any, raw: Any, where: str) -> Any:
    """Validate ``raw`` (parsed JSON) as type ``tp`` (a record dataclass, str, int, ...);
    ``where`` names it in the :class:`ProtocolError` raised on mismatch."""
    try:
        return _fast_decoder(tp)(raw)
    except _Mismatch:
        return _parse_checked(tp, raw, where)


def _parse_checked(tp: Any, raw: Any, where: str) -> Any:
    """:func:`parse_value`'s reference: walks the type hints for every value, and names the
    failing field. The compiled decoders (:func:`_fast_decoder`) accept exactly what this
    accepts and build the same values; on anything they refuse, this runs and says why."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(raw, dict):
            raise ProtocolError("bad_field", f"{where}: expected an object")
        hints = _hints(tp)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(tp):
            if f.name in raw:
                kwargs[f.name] = _parse_checked(hints[f.name], raw[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ProtocolError("bad_field", f"{where}: missing required field {f.name!r}")
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if raw is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        for option in inner[:-1]:
            try:
                return _parse_checked(option, raw, where)
            except ProtocolError:
                continue
        return _parse_checked(inner[-1], raw, where)
    if origin is dict:
        if not isinstance(raw, dict):
            raise ProtocolError("bad_field", f"{where}: expected an object")
        item = typing.get_args(tp)[1]
        return {k: _parse_checked(item, v, f"{where}.{k}") for k, v in raw.items()}
    if origin is Literal:
        # bool is an int in Python: keep true from passing as 1.
        if isinstance(raw, bool) or raw not in typing.get_args(tp):
            allowed = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ProtocolError("bad_field", f"{where}: expected one of {allowed}, got {raw!r}")
        return raw
    if origin is tuple:
        if not isinstance(raw, list):
            raise ProtocolError("bad_field", f"{where}: expected a list")
        item = typing.get_args(tp)[0]
        return tuple(_parse_checked(item, r, f"{where}[{i}]") for i, r in enumerate(raw))
    if tp is bool:
        if not isinstance(raw, bool):
            raise ProtocolError("bad_field", f"{where}: expected true or false")
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ProtocolError("bad_field", f"{where}: expected an integer")
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ProtocolError("bad_field", f"{where}: expected a number")
        return raw
    if tp is str:
        if not isinstance(raw, str):
            raise ProtocolError("bad_field", f"{where}: expected a string")
        return raw
    raise TypeError(f"{where}: no decoder for {tp!r}")  # a bug in this module, not bad input


# --- compiled codecs ----------------------------------------------------------------------------
#
# Every frame is decoded and encoded on the server's event loop, and walking the type hints per
# value (``typing.get_origin``, ``dataclasses.fields``, a path string per field) cost several
# times the JSON parsing itself. So each type gets, on its first use (none at import: the runtime
# restores its interpreter from a snapshot and must not pay for types it never sees), a decoder
# that checks the very same rules with the checks written out, and each frame type an encoder
# that builds its JSON object with a dict display. A value the compiled decoder refuses is handed
# to :func:`_parse_checked`, which raises the error naming the field: errors cost what they did,
# valid frames a fraction.


class _Mismatch(Exception):
    """A compiled decoder refused a value; :func:`_parse_checked` says why."""


_Decoder = typing.Callable[[Any], Any]
_DECODERS: dict[Any, _Decoder] = {}
_SCALARS = (str, int, float, bool)


def _fast_decoder(tp: Any) -> _Decoder:
    decoder = _DECODERS.get(tp)
    if decoder is None:
        decoder = _DECODERS[tp] = _compile_decoder(tp)
    return decoder


def _scalar_check(tp: Any, name: str) -> str | None:
    """A Python condition true when ``name`` is NOT a valid ``tp`` (a scalar or a Literal of
    scalars), or None when ``tp`` is neither."""
    if tp is str:
        return f"not isinstance({name}, str)"
    if tp is bool:
        return f"not isinstance({name}, bool)"
    if tp is int:
        return f"isinstance({name}, bool) or not isinstance({name}, int)"
    if tp is float:
        return f"isinstance({name}, bool) or not isinstance({name}, (int, float))"
    if typing.get_origin(tp) is Literal:
        args = typing.get_args(tp)
        if all(type(a) in (str, int) for a in args):
            return f"isinstance({name}, bool) or {name} not in {args!r}"
    return None


def _compile_decoder(tp: Any) -> _Decoder:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _compile_record_decoder(tp)
    check = _scalar_check(tp, "raw")
    if check is not None:
        code = f"def decode(raw):\n    if {check}:\n        raise _Mismatch\n    return raw\n"
        namespace: dict[str, Any] = {"_Mismatch": _Mismatch}
        exec(code, namespace)
        return typing.cast(_Decoder, namespace["decode"])
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        nullable = type(None) in options
        inner = [_fast_decoder(o) for o in options if o is not type(None)]

        def decode_union(raw: Any) -> Any:
            if raw is None and nullable:
                return None
            for option in inner:
                try:
                    return option(raw)
                except _Mismatch:
                    continue
            raise _Mismatch

        return decode_union
    if origin is dict:
        value_decoder = _fast_decoder(typing.get_args(tp)[1])

        def decode_dict(raw: Any) -> Any:
            if not isinstance(raw, dict):
                raise _Mismatch
            return {k: value_decoder(v) for k, v in raw.items()}

        return decode_dict
    if origin is tuple:
        item_decoder = _fast_decoder(typing.get_args(tp)[0])

        def decode_tuple(raw: Any) -> Any:
            if not isinstance(raw, list):
                raise _Mismatch
            return tuple([item_decoder(r) for r in raw])

        return decode_tuple

    def refuse(_raw: Any) -> Any:  # no rule for it: the reference raises the TypeError
        raise _Mismatch

    return refuse


def _compile_record_decoder(cls: type) -> _Decoder:
    """``def decode(raw)`` for the dataclass ``cls``: each present field checked (scalars
    inline, others by their own decoder), each missing one required or left to its default."""
    hints = _hints(cls)
    namespace: dict[str, Any] = {"_Mismatch": _Mismatch, "cls": cls}
    lines = [
        "def decode(raw):",
        "    if not isinstance(raw, dict):",
        "        raise _Mismatch",
        "    kwargs = {}",
    ]
    for i, f in enumerate(dataclasses.fields(cls)):
        value = f"v{i}"
        lines += [f"    if {f.name!r} in raw:", f"        {value} = raw[{f.name!r}]"]
        check = _scalar_check(hints[f.name], value)
        if check is not None:
            lines += [f"        if {check}:", "            raise _Mismatch"]
        else:
            namespace[f"d{i}"] = _fast_decoder(hints[f.name])
            lines.append(f"        {value} = d{i}({value})")
        lines.append(f"        kwargs[{f.name!r}] = {value}")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            lines += ["    else:", "        raise _Mismatch"]
    lines.append("    return cls(**kwargs)")
    exec("\n".join(lines) + "\n", namespace)
    return typing.cast(_Decoder, namespace["decode"])


_Encoder = typing.Callable[[Any], dict[str, Any]]
_FRAME_ENCODERS: dict[type, _Encoder] = {}
_RECORD_ENCODERS: dict[type, _Encoder] = {}


def _record_encoder(cls: type) -> _Encoder:
    encoder = _RECORD_ENCODERS.get(cls)
    if encoder is None:
        encoder = _RECORD_ENCODERS[cls] = _compile_encoder(cls, frame=False)
    return encoder


def _frame_encoder(cls: type) -> _Encoder:
    encoder = _FRAME_ENCODERS.get(cls)
    if encoder is None:
        encoder = _FRAME_ENCODERS[cls] = _compile_encoder(cls, frame=True)
    return encoder


def _holds_record(tp: Any) -> bool:
    """Whether a value of type ``tp`` may contain a dataclass (which JSON cannot take as is)."""
    if dataclasses.is_dataclass(tp):
        return True
    return any(_holds_record(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _compile_encoder(cls: type, *, frame: bool) -> _Encoder:
    """``def encode(o)``: the JSON object of ``o`` as :func:`_to_json` makes it (``v`` and
    ``type`` first for a frame), with each field's conversion chosen once from its type: none for
    what :mod:`json` writes as is (scalars, tuples and dicts of them), the record's encoder for
    a record or an optional one, :func:`_to_json` for anything else holding records."""
    hints = _hints(cls)
    namespace: dict[str, Any] = {"_to_json": _to_json}
    type_name = typing.cast(type[Message], cls).TYPE if frame else ""
    items = [f'"v": {PROTOCOL_VERSION}', f'"type": {type_name!r}'] if frame else []
    for i, f in enumerate(dataclasses.fields(cls)):
        if frame and f.name in ("v", "type"):
            raise TypeError(f"{cls.__name__}.{f.name} would hide the frame's own {f.name!r}")
        tp = hints[f.name]
        value = f"o.{f.name}"
        if not _holds_record(tp):
            items.append(f"{f.name!r}: {value}")
            continue
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if dataclasses.is_dataclass(tp):
            namespace[f"e{i}"] = _record_encoder(tp)  # type: ignore[arg-type]
            items.append(f"{f.name!r}: e{i}({value})")
        elif (
            typing.get_origin(tp) in (typing.Union, types.UnionType)
            and len(options) == 1
            and dataclasses.is_dataclass(options[0])
        ):
            namespace[f"e{i}"] = _record_encoder(options[0])  # type: ignore[arg-type]
            items.append(f"{f.name!r}: None if {value} is None else e{i}({value})")
        elif typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            namespace[f"e{i}"] = _record_encoder(typing.get_args(tp)[0])
            items.append(f"{f.name!r}: [e{i}(x) for x in {value}]")
        else:
            items.append(f"{f.name!r}: _to_json({value})")
    code = "def encode(o):\n    return {" + ", ".join(items) + "}\n"
    exec(code, namespace)
    return typing.cast(_Encoder, namespace["encode"])
