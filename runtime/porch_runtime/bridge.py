"""The panel <-> worker half of the bridge: message names and validation.

The panel forwards what the host page and the visitor do as ``{"v": 1, "type": ...}`` messages;
:func:`parse_panel_message` validates one and returns it with typed values, or raises
:class:`BridgeError` naming what was wrong. The JavaScript side (``loader/bridge.js``) keeps the
same name lists; ``tests/unit/runtime/test_docs.py`` checks the two agree.
"""

from __future__ import annotations

from typing import Any

from porch_protocol import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    BusinessLogin,
    ProtocolError,
    TawkLogin,
    VisitorIdentity,
    VisitorProfile,
)
from porch_protocol.wire import parse_value

VERSION = 1

#: What the panel may send the runtime.
PANEL_TO_RUNTIME = frozenset(
    {
        "runtime.start",
        "ui.send",
        "ui.retry",
        "ui.shown",
        "ui.locale",
        "ui.typing",
        "ui.end",
        "ui.rate",
        "ui.prechat",
        "ui.offline",
        "ui.attach",
        "ui.transcript",
        "ui.delete",
        "host.command",
    }
)
#: What the runtime sends the panel.
RUNTIME_TO_PANEL = frozenset(
    {
        "render.message",
        "render.status",
        "render.locale",
        "render.page_status",
        "render.surface",
        "render.form",
        "render.conversation",
        "render.receipt",
        "render.typing",
        "render.upload_error",
        "render.clear",
        "render.transcript",
        "render.deleted",
        "host.event",
        "host.result",
        "runtime.log",
    }
)
#: Commands of the host page's APIs that the runtime carries out (``host.command``, answered by
#: one ``host.result`` with the command's ``id``), with the error code a command whose arguments
#: are malformed gets: tawk.to's codes, which both public APIs report.
HOST_COMMANDS: dict[str, str] = {
    "visitor.update": "INVALID_ATTRIBUTES",
    "visitor.event": "INVALID_ATTRIBUTES",
    "tags.change": "INVALID_TAGS",
    "chat.end": "INVALID_ARGUMENTS",
}
#: Longest answer to a form question, and longest rating comment, in characters.
MAX_ANSWER_CHARS = 1000
#: Most answers a form message may carry.
MAX_ANSWERS = 50
#: Public host-page events the runtime raises (through ``host.event``).
RUNTIME_EVENTS = frozenset(
    {
        "runtime_mounted",
        "visitor_auth_ready",
        "runtime_activated",
        "connection_state_changed",
        "session_connected",
        "session_disconnected",
        "auth_closed",
        "bootstrap_failed",
        "unread_count_changed",
        # Conversation events (docs/host-api.md), which the Tawk_API layer builds on:
        "page_status_changed",
        "chat_started",
        "chat_ended",
        "chat_message",
        "agent_joined",
        "agent_left",
        "chat_rated",
        "prechat_submitted",
        "offline_submitted",
        "file_uploaded",
        "tags_updated",
    }
)
LOCALES = ("en", "zh-cn", "zh-tw", "ja", "ko", "de", "fr", "pt", "ru", "ar", "he")


class BridgeError(ValueError):
    """A bridge message that is not acceptable; nothing was changed."""


class CommandRefused(BridgeError):
    """A ``host.command`` that names itself (a valid ``id``) but cannot be carried out: it must
    still be answered, with ``code``, so the page's callback learns why."""

    def __init__(self, command_id: str, code: str, message: str) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.code = code


def parse_panel_message(raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BridgeError("bridge message must be an object")
    if raw.get("v") != VERSION:
        raise BridgeError(f"bridge message version must be {VERSION}, got {raw.get('v')!r}")
    kind = raw.get("type")
    if kind not in PANEL_TO_RUNTIME:
        raise BridgeError(
            f"unknown bridge message {kind!r}; expected one of {sorted(PANEL_TO_RUNTIME)}"
        )
    if kind == "runtime.start":
        return {"type": kind, "config": _start_config(raw.get("config"))}
    if kind == "host.command":
        return _host_command(raw)
    if kind == "ui.send":
        text = _string(raw, "text", MAX_TEXT_CHARS)
        if not text.strip():
            raise BridgeError("ui.send: text is empty")
        return {"type": kind, "client_id": _string(raw, "client_id", MAX_ID_CHARS), "text": text}
    if kind == "ui.retry":
        return {"type": kind, "client_id": _string(raw, "client_id", MAX_ID_CHARS)}
    if kind == "ui.typing":
        return {"type": kind, "typing": _bool(raw, "typing")}
    if kind in ("ui.end", "ui.transcript", "ui.delete"):
        return {"type": kind}
    if kind == "ui.rate":
        rating = raw.get("rating")
        if isinstance(rating, bool) or rating not in (-1, 0, 1):
            raise BridgeError(f"ui.rate: rating must be -1, 0 or 1, got {rating!r}")
        return {"type": kind, "rating": rating, "comment": _text(raw, "comment", MAX_ANSWER_CHARS)}
    if kind == "ui.prechat":
        return {"type": kind, "answers": _answers(raw, "answers")}
    if kind == "ui.offline":
        return {
            "type": kind,
            "name": _text(raw, "name", MAX_ANSWER_CHARS),
            "email": _text(raw, "email", MAX_ANSWER_CHARS),
            "message": _text(raw, "message", MAX_TEXT_CHARS),
            "questions": _answers(raw, "questions"),
        }
    if kind == "ui.attach":
        size = raw.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BridgeError(f"ui.attach: size must be a non-negative integer, got {size!r}")
        return {
            "type": kind,
            "upload_id": _string(raw, "upload_id", MAX_ID_CHARS),
            "name": _string(raw, "name", MAX_ANSWER_CHARS),
            "size": size,
            # Browsers report "" for a type they do not know.
            "content_type": _text(raw, "content_type", 255) or "application/octet-stream",
        }
    if kind == "ui.shown":
        seq, seen = raw.get("seq"), raw.get("seen")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise BridgeError(f"ui.shown: seq must be a non-negative integer, got {seq!r}")
        if not isinstance(seen, bool):
            raise BridgeError(f"ui.shown: seen must be true or false, got {seen!r}")
        return {"type": kind, "seq": seq, "seen": seen}
    locale = raw.get("locale")
    if locale not in LOCALES:
        raise BridgeError(f"ui.locale: expected one of {list(LOCALES)}, got {locale!r}")
    return {"type": kind, "locale": locale}


def _host_command(raw: dict[str, Any]) -> dict[str, Any]:
    """``{"type", "id", "name", "args"}`` with typed args. Without a usable ``id`` nothing can
    be answered: :class:`BridgeError`; with one, :class:`CommandRefused`."""
    command_id = _string(raw, "id", MAX_ID_CHARS)
    name, args = raw.get("name"), raw.get("args", {})
    if not isinstance(name, str) or name not in HOST_COMMANDS:
        known = ", ".join(sorted(HOST_COMMANDS))
        raise CommandRefused(
            command_id, "UNKNOWN_COMMAND", f"unknown command {name!r}; expected one of {known}"
        )
    try:
        return {"type": "host.command", "id": command_id, "name": name, "args": _args(name, args)}
    except (BridgeError, ProtocolError) as exc:
        code = HOST_COMMANDS[name]
        if name == "visitor.event" and isinstance(args, dict):
            event = args.get("name")
            code = code if isinstance(event, str) and event else "INVALID_EVENT_NAME"
        raise CommandRefused(command_id, code, f"{name}: {exc}") from None


def _args(name: str, args: object) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise BridgeError("args must be an object")
    if name == "visitor.update":
        digest = args.get("hash")
        if digest is not None and not isinstance(digest, str):
            raise BridgeError("hash must be a string")
        return {
            "attributes": _scalars(args.get("attributes", {}), "attributes"),
            "profile": _optional(VisitorProfile, args.get("profile"), "profile"),
            "hash": digest,
        }
    if name == "visitor.event":
        event = args.get("name")
        if not isinstance(event, str) or not event:
            raise BridgeError("name must be a non-empty string")
        return {"name": event, "metadata": _scalars(args.get("metadata", {}), "metadata")}
    if name == "tags.change":
        return {"add": _tags(args.get("add", [])), "remove": _tags(args.get("remove", []))}
    return {}


def _scalars(value: object, where: str) -> dict[str, str | int | float | bool]:
    """Attributes or metadata: an object of strings, numbers and booleans (the server judges
    keys and lengths, with tawk.to's codes)."""
    if not isinstance(value, dict):
        raise BridgeError(f"{where} must be an object")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise BridgeError(f"{where}.{key} must be a string, number or boolean")
    return dict(value)


def _tags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise BridgeError("tags must be an array of strings")
    return tuple(value)


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if not isinstance(value, bool):
        raise BridgeError(f"{raw.get('type')}: {key} must be true or false, got {value!r}")
    return value


def _text(raw: dict[str, Any], key: str, limit: int) -> str:
    """A string that may be empty (a form field left blank: the runtime judges it)."""
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise BridgeError(f"{raw.get('type')}: {key} must be a string")
    if len(value) > limit:
        raise BridgeError(f"{raw.get('type')}: {key} is longer than {limit} characters")
    return value


def _answers(raw: dict[str, Any], key: str) -> dict[str, str]:
    """Form answers: an object of field name -> text."""
    value = raw.get(key, {})
    if not isinstance(value, dict) or len(value) > MAX_ANSWERS:
        raise BridgeError(f"{raw.get('type')}: {key} must be an object of at most {MAX_ANSWERS}")
    for name, answer in value.items():
        if not isinstance(answer, str) or len(answer) > MAX_ANSWER_CHARS:
            raise BridgeError(
                f"{raw.get('type')}: {key}.{name} must be a string of at most "
                f"{MAX_ANSWER_CHARS} characters"
            )
    return dict(value)


def _string(raw: dict[str, Any], key: str, limit: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise BridgeError(f"{raw.get('type')}: {key} must be a non-empty string")
    if len(value) > limit:
        raise BridgeError(f"{raw.get('type')}: {key} is longer than {limit} characters")
    return value


def _start_config(config: object) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise BridgeError("runtime.start: config must be an object")
    for key in ("server_url", "ticket"):
        if not isinstance(config.get(key), str) or not config[key]:
            raise BridgeError(f"runtime.start: config.{key} must be a non-empty string")
    locale = config.get("locale", "en")
    if locale not in LOCALES:
        raise BridgeError(f"runtime.start: config.locale must be one of {list(LOCALES)}")
    try:
        identity = _optional(VisitorIdentity, config.get("identity"), "config.identity")
        login = _optional(BusinessLogin, config.get("login"), "config.login")
        tawk_login = _optional(TawkLogin, config.get("tawk_login"), "config.tawk_login")
        profile_hash = _optional(str, config.get("profile_hash"), "config.profile_hash")
        profile = _optional(VisitorProfile, config.get("profile"), "config.profile")
    except ProtocolError as exc:
        raise BridgeError(f"runtime.start: {exc}") from exc
    privacy_filter = config.get("privacy_filter", True)
    patterns = config.get("privacy_patterns", [])
    if not isinstance(privacy_filter, bool):
        raise BridgeError("runtime.start: config.privacy_filter must be true or false")
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise BridgeError("runtime.start: config.privacy_patterns must be an array of strings")
    return {
        "server_url": config["server_url"],
        "ticket": config["ticket"],
        "privacy_filter": privacy_filter,
        "privacy_patterns": tuple(patterns),
        "locale": locale,
        "identity": identity,
        "login": login,
        "tawk_login": tawk_login,
        "profile_hash": profile_hash,
        "profile": profile if profile is not None else VisitorProfile(),
    }


def _optional(cls: type, raw: object, where: str) -> Any:
    return None if raw is None else parse_value(cls, raw, where)
