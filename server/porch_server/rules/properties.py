"""tawk.to properties and widgets: their ids and a widget's settings.

A site moving from tawk.to keeps its embed snippet and changes only the URL, so Porch must know
the snippet's ``propertyId`` and ``widgetId``. A property belongs to one Porch app; a property has
one or more widgets, each with its own language, launcher position, colour and greeting.

Pure functions of their arguments (no database, no clock; only the two id generators draw
random bits), shared by the CLI, the bootstrap and the embed route, so all of them accept exactly
the same ids and settings. Ids are
case-sensitive: they are URL path segments, and tawk.to writes them in lowercase.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace

from porch_protocol import TawkWidgetSettings
from porch_protocol.wire import (
    TAWK_PROPERTY_ID_PATTERN,
    TAWK_WIDGET_ID_PATTERN,
    WIDGET_LANGUAGES,
    WIDGET_POSITIONS,
)
from porch_server.rules.apps import InvalidSettings

# The values are the protocol's (the console reads them too); the rules are here.
#: A tawk.to propertyId: 24 lowercase hex digits (a MongoDB ObjectId).
PROPERTY_ID_PATTERN = TAWK_PROPERTY_ID_PATTERN
#: A tawk.to widgetId: ``default``, or tawk's generated ``1`` + 9 characters, or any of these.
WIDGET_ID_PATTERN = TAWK_WIDGET_ID_PATTERN

#: Porch's locales (``porch_runtime.bridge.LOCALES``; the server never imports the runtime, a
#: test keeps the two equal).
LANGUAGES = WIDGET_LANGUAGES
#: Launcher positions: bottom, centre or top, then right or left.
POSITIONS = WIDGET_POSITIONS
MAX_GREETING_CHARS = 500
#: The widget's own accent colour (``--accent`` in ``loader/widget.css``).
DEFAULT_COLOUR = "#2563eb"

# Matched with fullmatch: ``$`` would also accept a trailing newline.
_PROPERTY_ID = re.compile(PROPERTY_ID_PATTERN)
_WIDGET_ID = re.compile(WIDGET_ID_PATTERN)
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
#: Control characters a greeting may not hold (tab and newline are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True, slots=True)
class WidgetSettings:
    """What one widget shows; the stored and the bootstrap answer's form."""

    language: str = "en"
    position: str = "br"
    colour: str = DEFAULT_COLOUR
    greeting: str = ""


def valid_property_id(value: object) -> bool:
    return isinstance(value, str) and bool(_PROPERTY_ID.fullmatch(value))


def valid_widget_id(value: object) -> bool:
    return isinstance(value, str) and bool(_WIDGET_ID.fullmatch(value))


def check_property_id(value: str) -> str:
    if not valid_property_id(value):
        raise InvalidSettings(
            f"property id: {value!r} is not 24 lowercase hex digits (like 64f0d3e3c0ffee0000000001)"
        )
    return value


def check_widget_id(value: str) -> str:
    if not valid_widget_id(value):
        raise InvalidSettings(
            f"widget id: {value!r} must be 1-50 lowercase letters and digits (like default)"
        )
    return value


def check_language(value: str) -> str:
    """A Porch locale; ``zh_CN`` and ``ZH-cn`` are read as ``zh-cn``."""
    language = value.strip().lower().replace("_", "-")
    if language not in LANGUAGES:
        raise InvalidSettings(f"language: {value!r} is not one of {', '.join(LANGUAGES)}")
    return language


def check_position(value: str) -> str:
    position = value.strip().lower()
    if position not in POSITIONS:
        raise InvalidSettings(
            f"position: {value!r} is not one of {', '.join(POSITIONS)} "
            "(b/c/t = bottom/centre/top, then r/l = right/left)"
        )
    return position


def check_colour(value: str) -> str:
    """``#rrggbb`` in lowercase; ``#RRGGBB`` and ``rrggbb`` are accepted."""
    match = _COLOUR.fullmatch(value.strip())
    if match is None:
        raise InvalidSettings(f"colour: {value!r} is not a colour like #2563eb")
    return "#" + match.group(1).lower()


def check_greeting(value: str) -> str:
    if len(value) > MAX_GREETING_CHARS:
        raise InvalidSettings(f"greeting: must be at most {MAX_GREETING_CHARS} characters")
    if _CONTROL.search(value):
        raise InvalidSettings("greeting: must not hold control characters")
    return value


def checked_widget(settings: WidgetSettings) -> WidgetSettings:
    """``settings`` cleaned and validated; raises :class:`InvalidSettings`."""
    return WidgetSettings(
        language=check_language(settings.language),
        position=check_position(settings.position),
        colour=check_colour(settings.colour),
        greeting=check_greeting(settings.greeting),
    )


def checked_widgets(
    widgets: Sequence[TawkWidgetSettings], own_properties: Collection[str]
) -> tuple[TawkWidgetSettings, ...]:
    """An admin's list of widgets (``AppSettings.tawk_widgets``) cleaned and validated by the
    rules above, each of one of ``own_properties`` (the app's); raises
    :class:`InvalidSettings` naming the entry (``line 2``, counted from 1 as the console's lines
    are) and its field."""
    cleaned: list[TawkWidgetSettings] = []
    seen: set[tuple[str, str]] = set()
    for number, widget in enumerate(widgets, 1):
        where = f"tawk_widgets, line {number} ({widget.property_id}/{widget.widget_id})"
        try:
            check_property_id(widget.property_id)
            check_widget_id(widget.widget_id)
            settings = checked_widget(
                WidgetSettings(widget.language, widget.position, widget.colour, widget.greeting)
            )
        except InvalidSettings as exc:
            raise InvalidSettings(f"{where}: {exc}") from exc
        if widget.property_id not in own_properties:
            # The same words for another app's property and an unknown one: an admin learns
            # nothing of other apps.
            raise InvalidSettings(
                f"{where}: property {widget.property_id!r} is not one of this app's "
                f"({', '.join(sorted(own_properties)) or 'none yet'}; "
                "create one with porch property create)"
            )
        key = (widget.property_id, widget.widget_id)
        if key in seen:
            raise InvalidSettings(f"{where}: this widget is listed twice")
        seen.add(key)
        cleaned.append(replace(widget, **asdict(settings)))
    return tuple(cleaned)


def new_property_id() -> str:
    """A fresh propertyId of tawk.to's shape, from the system's CSPRNG."""
    return secrets.token_hex(12)


def new_widget_id() -> str:
    """A fresh widgetId of the shape tawk.to generates: ``1`` and 9 letters or digits."""
    return "1" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(9))
