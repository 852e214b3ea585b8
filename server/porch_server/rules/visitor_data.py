"""Validating what a visitor (or the site through its host API) may store about itself: custom
attributes, events, tags, profile changes and the pre-chat and offline forms.

Pure functions that raise :class:`RequestFailed` with tawk.to's error codes; the socket answers
with an ``error`` carrying the code and the request's ``request_id``. The limits are documented
in docs/server.md.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from porch_protocol import MAX_TEXT_CHARS, FormAnswer, FormField, VisitorProfile
from porch_protocol.wire import Scalar
from porch_server.rules.apps import valid_key

#: Longest string value of an attribute or event metadata entry.
MAX_VALUE_CHARS = 255
#: Most custom attributes one visitor may have (after merging an update).
MAX_ATTRIBUTES = 50
#: Longest event name.
MAX_EVENT_NAME_CHARS = 100
#: Most tags one visitor may carry, and the longest tag.
MAX_TAGS = 10
MAX_TAG_CHARS = 255
#: Longest profile field (name, nickname, email, phone) and form answer.
MAX_PROFILE_CHARS = 200
#: Longest page URL (referer) and page title.
MAX_PAGE_FIELD_CHARS = 2000
MAX_ANSWER_CHARS = 1000

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOCALE = re.compile(r"^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,3}$")
#: The profile fields a visitor may change; referer and title come from the page.
PROFILE_FIELDS = ("name", "nickname", "email", "phone", "referer", "source_title")
#: Pre-chat and offline answers with these names fill the visitor's profile.
PROFILE_ANSWERS = ("name", "email", "phone")


class RequestFailed(Exception):
    """A request frame that cannot be carried out: ``code`` goes on the wire unchanged."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_scalars(values: Mapping[str, Scalar], current_count: int = 0) -> dict[str, Scalar]:
    """Attributes or event metadata: keys of letters, digits and ``-``; values strings of at
    most 255 characters (the wire already admits only strings, numbers and booleans); at most 50
    in all (``current_count`` counts stored keys the update does not name)."""
    for key, value in values.items():
        if not valid_key(key):
            raise RequestFailed(
                "CONTAINS_INVALID_KEY", f"key {key!r}: use only letters, digits and '-'"
            )
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise RequestFailed(
                "CONTAINS_INVALID_VALUE", f"{key}: at most {MAX_VALUE_CHARS} characters"
            )
    if current_count + len(values) > MAX_ATTRIBUTES:
        raise RequestFailed(
            "ATTRIBUTE_LIMIT_EXCEEDED", f"at most {MAX_ATTRIBUTES} attributes per visitor"
        )
    return dict(values)


def merge_attributes(
    stored: Mapping[str, Scalar], update: Mapping[str, Scalar]
) -> dict[str, Scalar]:
    """``stored`` updated with ``update``, once the update is valid and within the limit."""
    untouched = sum(1 for key in stored if key not in update)
    return {**stored, **check_scalars(update, untouched)}


def check_event_name(name: str) -> str:
    if not valid_key(name) or len(name) > MAX_EVENT_NAME_CHARS:
        raise RequestFailed(
            "INVALID_EVENT_NAME",
            f"event name {name[:120]!r}: 1-{MAX_EVENT_NAME_CHARS} letters, digits or '-'",
        )
    return name


def profile_problems(profile: VisitorProfile) -> dict[str, str]:
    """What is wrong with each field of ``profile`` that breaks a rule, by field name: the one
    place the profile's rules live, whichever way a profile arrives (hello, update, business
    login, pre-chat and offline forms). Names, nickname and phone: at most 200 characters of
    text without control characters; email: an email address; referer: an http(s) URL of at
    most 2,000 characters; page title: at most 2,000 characters."""
    problems: dict[str, str] = {}
    for name in PROFILE_FIELDS:
        value = getattr(profile, name)
        if value is None:
            continue
        limit = MAX_PAGE_FIELD_CHARS if name in ("referer", "source_title") else MAX_PROFILE_CHARS
        if len(value) > limit:
            problems[name] = f"{name}: at most {limit} characters"
        elif _CONTROL.search(value):
            problems[name] = f"{name}: control characters are not allowed"
    if profile.email and "email" not in problems and not _EMAIL.match(profile.email):
        problems["email"] = f"email {profile.email!r} is not an email address"
    if profile.referer and "referer" not in problems and not _is_web_url(profile.referer):
        problems["referer"] = "referer: must be an http or https URL"
    return problems


def check_profile(profile: VisitorProfile, code: str = "CONTAINS_INVALID_VALUE") -> VisitorProfile:
    """``profile`` if every field keeps the rules; else :class:`RequestFailed` with ``code``
    and the first problem (for requests the visitor or the site made on purpose)."""
    problems = profile_problems(profile)
    if problems:
        raise RequestFailed(code, next(iter(problems.values())))
    return profile


def usable_profile(profile: VisitorProfile) -> VisitorProfile:
    """``profile`` without the fields that break the rules. For what arrives with a connection
    (the page's URL and title, a business login's fields): refusing would cost the visitor the
    chat over a field nobody typed, so a bad field is just not stored."""
    problems = profile_problems(profile)
    return dataclasses.replace(profile, **dict.fromkeys(problems)) if problems else profile


def usable_locale(locale: str) -> str | None:
    """``locale`` if it has the shape of a language tag (``en``, ``pt-BR``, ``zh_Hant``)."""
    return locale if _LOCALE.match(locale) else None


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[x": an unbalanced IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def change_tags(
    current: Sequence[str], add: Iterable[str], remove: Iterable[str]
) -> tuple[str, ...]:
    """The tags after adding and removing (order kept, no duplicates)."""
    add, remove = tuple(add), tuple(remove)
    for tag in (*add, *remove):
        if not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise RequestFailed(
                "INVALID_TAGS", f"tags must be non-empty strings of at most {MAX_TAG_CHARS} chars"
            )
    result = [t for t in current if t not in remove]
    for tag in add:
        if tag not in result and tag not in remove:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise RequestFailed("TAG_LIMIT_EXCEEDED", f"a visitor may have at most {MAX_TAGS} tags")
    return tuple(result)


def check_prechat(
    fields: Sequence[FormField], answers: Sequence[FormAnswer]
) -> tuple[FormAnswer, ...]:
    """The answers to the app's fields, labelled and in the fields' order; unknown names are
    refused so nothing is silently dropped."""
    by_name = {a.name: a for a in answers}
    unknown = sorted(set(by_name) - {f.name for f in fields})
    if unknown:
        raise RequestFailed("INVALID_FORM", f"no pre-chat field named {unknown[0]!r}")
    result = []
    for field in fields:
        answer = by_name.get(field.name)
        value = answer.value.strip() if answer is not None else ""
        if not value:
            if field.required:
                raise RequestFailed("INVALID_FORM", f"{field.name}: this field is required")
            continue
        _check_answer(field.name, value, field.kind == "email")
        if field.kind == "select" and value not in field.options:
            raise RequestFailed("INVALID_FORM", f"{field.name}: choose one of the options")
        result.append(FormAnswer(name=field.name, value=value, label=field.label))
    return tuple(result)


def check_offline(
    name: str, email: str, message: str, questions: Sequence[FormAnswer]
) -> tuple[str, str, str]:
    """The offline form's name, email and message, stripped; each is required."""
    name, email = name.strip(), email.strip()
    if not name:
        raise RequestFailed("INVALID_FORM", "name: this field is required")
    _check_answer("name", name, False)
    if not email:
        raise RequestFailed("INVALID_FORM", "email: this field is required")
    _check_answer("email", email, True)
    if not message.strip():
        raise RequestFailed("INVALID_FORM", "message: this field is required")
    if len(message) > MAX_TEXT_CHARS:
        raise RequestFailed("INVALID_FORM", f"message: at most {MAX_TEXT_CHARS} characters")
    if "\x00" in message:
        raise RequestFailed("INVALID_FORM", "message: must not hold a NUL character")
    for question in questions:
        _check_answer(question.name or "question", question.value, False)
    return name, email, message


def _check_answer(name: str, value: str, is_email: bool) -> None:
    if len(value) > MAX_ANSWER_CHARS:
        raise RequestFailed("INVALID_FORM", f"{name}: at most {MAX_ANSWER_CHARS} characters")
    if is_email and not _EMAIL.match(value):
        raise RequestFailed("INVALID_FORM", f"{name}: {value!r} is not an email address")
    if "\x00" in value:
        raise RequestFailed("INVALID_FORM", f"{name}: must not hold a NUL character")
