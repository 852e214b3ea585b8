"""Pure checks of business hours, the page status and the CLI's forms of settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from porch_protocol import BusinessHours, FormField, OpeningHours
from porch_server.rules.apps import (
    InvalidSettings,
    fields_from_json,
    fields_to_json,
    hours_from_json,
    hours_to_json,
    is_open,
    page_status,
    parse_hours,
    parse_prechat_field,
)

BERLIN_WEEKDAYS = parse_hours(["mon-fri 09:00-17:00"], "Europe/Berlin")


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("utc", "open_"),
    [
        ("2026-01-05T07:59", False),  # Monday 08:59 in Berlin (CET, UTC+1)
        ("2026-01-05T08:00", True),  # 09:00 opens
        ("2026-01-05T15:59", True),
        ("2026-01-05T16:00", False),  # 17:00 closes
        ("2026-07-06T07:00", True),  # Monday 09:00 in summer (CEST, UTC+2)
        ("2026-07-06T15:00", False),  # 17:00 CEST
        ("2026-01-10T10:00", False),  # Saturday
    ],
)
def test_is_open_uses_the_apps_timezone_with_dst(utc: str, open_: bool) -> None:
    assert is_open(BERLIN_WEEKDAYS, _ms(utc)) is open_


def test_no_hours_means_always_open() -> None:
    assert is_open(None, 0)


@pytest.mark.parametrize(
    ("presences", "inside", "status"),
    [
        (["online", "away"], True, "online"),
        (["away", "away", "offline"], True, "away"),
        (["offline"], True, "offline"),
        ([], True, "offline"),
        (["online"], False, "offline"),
    ],
)
def test_page_status(presences: list[str], inside: bool, status: str) -> None:
    now = _ms("2026-01-05T10:00" if inside else "2026-01-10T10:00")
    assert page_status(BERLIN_WEEKDAYS, presences, now) == status  # type: ignore[arg-type]


def test_parse_hours_days_ranges_and_lists() -> None:
    hours = parse_hours(["mon,wed-thu 10:00-12:00", "sun 08:00-09:30"], "UTC")
    assert [d.weekday for d in hours.days] == [0, 2, 3, 6]
    assert hours.days[-1] == OpeningHours(6, "08:00", "09:30")
    with pytest.raises(InvalidSettings, match="runs backwards"):
        parse_hours(["fri-mon 10:00-12:00"], "UTC")
    with pytest.raises(InvalidSettings, match="HH:MM"):
        parse_hours(["mon 24:00-25:00"], "UTC")


def test_prechat_field_forms() -> None:
    assert parse_prechat_field("email:Your email:email:required") == FormField(
        "email", "Your email", "email", required=True
    )
    assert parse_prechat_field("topic:Topic:select:optional:Sales|Support").options == (
        "Sales",
        "Support",
    )
    assert parse_prechat_field("note:Note") == FormField("note", "Note")
    with pytest.raises(InvalidSettings, match="required or optional"):
        parse_prechat_field("x:X:text:maybe")


def test_stored_json_round_trips() -> None:
    hours = BusinessHours("Asia/Tokyo", (OpeningHours(4, "09:00", "18:00"),))
    assert hours_from_json(hours_to_json(hours)) == hours
    assert hours_from_json(hours_to_json(None)) is None
    fields = (FormField("a", "A", "select", True, ("x", "y")), FormField("b", "B"))
    assert fields_from_json(fields_to_json(fields)) == fields
