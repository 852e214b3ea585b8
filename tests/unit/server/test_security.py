"""Pure checks of tickets, identities, passwords and domain matching."""

from __future__ import annotations

import pytest

from porch_server.rules.origins import hostname_allowed, origin_hostname
from porch_server.rules.security import (
    TICKET_TTL_MS,
    hash_password,
    issue_ticket,
    sign_visitor,
    verify_password,
    verify_ticket,
    verify_visitor,
)
from porch_server.rules.signing import verify_business_user

KEY = b"k" * 32
NOW = 1_700_000_000_000


def test_ticket_round_trips_until_expiry() -> None:
    ticket, exp = issue_ticket(KEY, "acme", "https://shop.test", NOW)
    assert exp == NOW + TICKET_TTL_MS
    claims = verify_ticket(KEY, ticket, NOW + TICKET_TTL_MS - 1)
    assert claims is not None and (claims.appid, claims.origin) == ("acme", "https://shop.test")
    assert verify_ticket(KEY, ticket, NOW + TICKET_TTL_MS) is None


def test_ticket_signed_with_another_key_is_rejected() -> None:
    ticket, _ = issue_ticket(b"other", "acme", "https://shop.test", NOW)
    assert verify_ticket(KEY, ticket, NOW) is None


def test_ticket_with_swapped_payload_is_rejected() -> None:
    good, _ = issue_ticket(KEY, "acme", "https://shop.test", NOW)
    other, _ = issue_ticket(KEY, "evil", "https://evil.test", NOW)
    assert verify_ticket(KEY, other.split(".")[0] + "." + good.split(".")[1], NOW) is None


@pytest.mark.parametrize("junk", ["", ".", "a.b", "é.é", "x" * 500])
def test_junk_ticket_is_rejected(junk: str) -> None:
    assert verify_ticket(KEY, junk, NOW) is None


def test_visitor_signature_verifies_only_for_its_app() -> None:
    bs_mm = sign_visitor("secret", "v_abc")
    assert verify_visitor("secret", "v_abc", bs_mm)
    assert not verify_visitor("other", "v_abc", bs_mm)
    assert not verify_visitor("secret", "v_abd", bs_mm)
    assert not verify_visitor("secret", "v_abc", bs_mm[:-1])
    assert not verify_visitor("secret", "v_abc", "ü" * len(bs_mm))


def test_business_signature_rejects_empty_fields() -> None:
    assert not verify_business_user("secret", "", "r", "")


def test_password_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second and first.startswith("$argon2id$")
    assert verify_password("pw", first) and verify_password("pw", second)
    assert not verify_password("pW", first)


@pytest.mark.parametrize(
    "stored", ["", "plain", "$argon2id$v=19$m=65536,t=3,p=4$!!$!!", "md5$a$b$c$d$e"]
)
def test_malformed_password_hash_never_verifies(stored: str) -> None:
    assert not verify_password("pw", stored)


@pytest.mark.parametrize(
    ("origin", "hostname"),
    [
        ("https://Shop.Example.com:8443", "shop.example.com"),
        ("http://127.0.0.1:8000", "127.0.0.1"),
        ("null", None),
        (None, None),
        ("file:///etc/passwd", None),
        ("not a url", None),
    ],
)
def test_origin_hostname(origin: str | None, hostname: str | None) -> None:
    assert origin_hostname(origin) == hostname


@pytest.mark.parametrize(
    ("hostname", "allowed"),
    [
        ("example.com", True),
        ("a.example.com", False),
        ("a.b.test", True),
        ("b.test", False),
        ("xb.test", False),
        ("localhost", True),
        (None, False),
    ],
)
def test_hostname_allowed(hostname: str | None, allowed: bool) -> None:
    assert hostname_allowed(hostname, ["example.com", "*.b.test", "LOCALHOST", 7]) is allowed
