"""An app's settings as admins edit them: validation, business hours and the page status.

Pure functions of their arguments (no database, no clock), shared by the CLI
(``porch app create/edit``) and the console's ``app.update``, so both accept exactly the same
settings. The stored form of business hours and pre-chat fields is the wire records' JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from porch_protocol import AppSettings, BusinessHours, FormField, OpeningHours
from porch_protocol.wire import FieldKind, Status, parse_value

#: Longest offline message, in characters.
MAX_OFFLINE_MESSAGE_CHARS = 1000
#: Most pre-chat questions an app may ask.
MAX_PRECHAT_FIELDS = 10
MAX_APP_NAME_CHARS = 200

_KEY = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class InvalidSettings(ValueError):
    """App settings that cannot be saved; the text says which field and why."""


def valid_key(key: str) -> bool:
    """Letters, digits and ``-`` only, 1-100 characters: attribute keys, event names and
    pre-chat field names (which become attribute keys)."""
    return bool(_KEY.match(key))


# --- validation ---------------------------------------------------------------------------------


def clean_domains(domains: Iterable[str]) -> tuple[str, ...]:
    """Lowercased hostnames (``shop.example`` or ``*.example.com``); at least one."""
    cleaned = tuple(d.strip().lower() for d in domains)
    if not cleaned:
        raise InvalidSettings("allowed_domains: list at least one hostname")
    for domain in cleaned:
        if not _HOSTNAME.match(domain):
            raise InvalidSettings(
                f"allowed_domains: {domain!r} is not a hostname like shop.example or *.example.com"
            )
    return cleaned


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_APP_NAME_CHARS:
        raise InvalidSettings(f"name: must be 1-{MAX_APP_NAME_CHARS} characters")
    return name


def check_offline_message(text: str) -> str:
    if len(text) > MAX_OFFLINE_MESSAGE_CHARS:
        raise InvalidSettings(
            f"offline_message: must be at most {MAX_OFFLINE_MESSAGE_CHARS} characters"
        )
    return text


def check_hours(hours: BusinessHours | None) -> BusinessHours | None:
    if hours is None:
        return None
    try:
        ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSettings(
            f"business_hours.timezone: {hours.timezone!r} is not an IANA timezone"
        ) from exc
    for day in hours.days:
        if not 0 <= day.weekday <= 6:
            raise InvalidSettings("business_hours.days: weekday must be 0 (Monday) to 6 (Sunday)")
        if not (_CLOCK.match(day.opens) and _CLOCK.match(day.closes)):
            raise InvalidSettings("business_hours.days: times must be HH:MM (00:00-23:59)")
        if day.opens >= day.closes:
            raise InvalidSettings(
                f"business_hours.days: {day.opens}-{day.closes} must open before it closes"
            )
    return hours


def check_prechat_fields(fields: Sequence[FormField]) -> tuple[FormField, ...]:
    if len(fields) > MAX_PRECHAT_FIELDS:
        raise InvalidSettings(f"prechat_fields: at most {MAX_PRECHAT_FIELDS} fields")
    seen: set[str] = set()
    for field in fields:
        if not valid_key(field.name):
            raise InvalidSettings(
                f"prechat_fields: name {field.name!r} may hold only letters, digits and '-'"
            )
        if field.name in seen:
            raise InvalidSettings(f"prechat_fields: name {field.name!r} appears twice")
        seen.add(field.name)
        if not field.label.strip():
            raise InvalidSettings(f"prechat_fields: {field.name!r} needs a label")
        if field.kind == "select" and not field.options:
            raise InvalidSettings(f"prechat_fields: select {field.name!r} needs options")
    return tuple(fields)


def checked_settings(settings: AppSettings) -> AppSettings:
    """``settings`` cleaned and validated; raises :class:`InvalidSettings`."""
    return AppSettings(
        appid=settings.appid,
        name=check_name(settings.name),
        allowed_domains=clean_domains(settings.allowed_domains),
        offline_message=check_offline_message(settings.offline_message),
        business_hours=check_hours(settings.business_hours),
        prechat_fields=check_prechat_fields(settings.prechat_fields),
    )


# --- stored JSON <-> records --------------------------------------------------------------------


def hours_to_json(hours: BusinessHours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {
        "timezone": hours.timezone,
        "days": [{"weekday": d.weekday, "opens": d.opens, "closes": d.closes} for d in hours.days],
    }


def hours_from_json(raw: object) -> BusinessHours | None:
    if raw is None:
        return None
    hours: BusinessHours = parse_value(BusinessHours, raw, "business_hours")
    return hours


def fields_to_json(fields: Sequence[FormField]) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "label": f.label,
            "kind": f.kind,
            "required": f.required,
            "options": list(f.options),
        }
        for f in fields
    ]


def fields_from_json(raw: object) -> tuple[FormField, ...]:
    fields: tuple[FormField, ...] = parse_value(tuple[FormField, ...], raw or [], "prechat_fields")
    return fields


# --- business hours and page status -------------------------------------------------------------


def is_open(hours: BusinessHours | None, now_ms: int) -> bool:
    """Whether ``now_ms`` falls within the opening hours (local to their timezone); always
    true without hours."""
    if hours is None:
        return True
    local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(hours.timezone))
    clock = local.strftime("%H:%M")
    return any(
        day.weekday == local.weekday() and day.opens <= clock < day.closes for day in hours.days
    )


def page_status(hours: BusinessHours | None, presences: Iterable[Status], now_ms: int) -> Status:
    """What visitors see: ``online`` when an agent is online within business hours, ``away``
    when agents are connected but all away, ``offline`` otherwise or outside business hours.
    ``presences`` are the effective presences of the app's agents (``offline`` when no socket)."""
    if not is_open(hours, now_ms):
        return "offline"
    connected = [p for p in presences if p != "offline"]
    if "online" in connected:
        return "online"
    return "away" if connected else "offline"


# --- command-line forms -------------------------------------------------------------------------


def parse_hours(specs: Sequence[str], timezone: str) -> BusinessHours:
    """Opening hours from ``"mon-fri 09:00-17:00"``-style specs (days: ``mon``..``sun``, ranges
    and commas, e.g. ``"mon,wed,fri 10:00-12:00"``)."""
    days: list[OpeningHours] = []
    for spec in specs:
        try:
            day_part, time_part = spec.strip().lower().split()
            opens, closes = time_part.split("-")
        except ValueError as exc:
            raise InvalidSettings(f"hours {spec!r}: expected DAYS HH:MM-HH:MM") from exc
        for weekday in _parse_days(day_part, spec):
            days.append(OpeningHours(weekday=weekday, opens=opens, closes=closes))
    hours = check_hours(BusinessHours(timezone=timezone, days=tuple(days)))
    assert hours is not None
    return hours


def _parse_days(text: str, spec: str) -> list[int]:
    weekdays: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise InvalidSettings(f"hours {spec!r}: days are {', '.join(_DAYS)} (e.g. mon-fri)")
        start, end = _DAYS.index(first), _DAYS.index(last or first)
        if end < start:
            raise InvalidSettings(f"hours {spec!r}: {part} runs backwards")
        weekdays.extend(range(start, end + 1))
    return weekdays


def parse_prechat_field(spec: str) -> FormField:
    """A field from ``name:Label[:kind[:required[:option|option...]]]``, e.g.
    ``email:Your email:email:required`` or ``topic:Topic:select:optional:Sales|Support``."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 5:
        raise InvalidSettings(
            f"prechat field {spec!r}: expected name:Label[:kind[:required|optional[:a|b]]]"
        )
    name, label = parts[0], parts[1]
    kind = parts[2] if len(parts) > 2 and parts[2] else "text"
    kinds: tuple[str, ...] = get_args(FieldKind)
    if kind not in kinds:
        raise InvalidSettings(f"prechat field {spec!r}: kind must be one of {', '.join(kinds)}")
    required_word = parts[3] if len(parts) > 3 else "optional"
    if required_word not in ("required", "optional"):
        raise InvalidSettings(f"prechat field {spec!r}: say required or optional")
    options = tuple(o for o in parts[4].split("|") if o) if len(parts) > 4 else ()
    field = FormField(
        name=name,
        label=label,
        kind=cast(FieldKind, kind),
        required=required_word == "required",
        options=options,
    )
    check_prechat_fields([field])
    return field
