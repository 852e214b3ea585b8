"""Signatures, tickets, tokens and passwords: every secret-dependent check lives here.

All comparisons of secret-derived values go through :func:`hmac.compare_digest` so their timing
says nothing about how much of a forgery was right.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: How long a bootstrap ticket stays valid: 24 hours, in milliseconds. Long enough for a tab left
#: open all day to reconnect; the origin inside it is re-checked on every connect anyway.
TICKET_TTL_MS = 24 * 60 * 60 * 1000

#: How long an agent login lasts: 30 days, in milliseconds.
AGENT_SESSION_TTL_MS = 30 * 24 * 60 * 60 * 1000

#: How long a visitor's upload token lasts: a welcome issues a fresh one on every connection.
UPLOAD_TOKEN_TTL_MS = 24 * 60 * 60 * 1000

#: argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, 64 MiB, p=4).
_HASHER = PasswordHasher()


def b64url(data: bytes) -> str:
    """Unpadded base64url, the form every token and signature takes on the wire."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac_sha256(key: str | bytes, message: str) -> bytes:
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key_bytes, message.encode("utf-8"), hashlib.sha256).digest()


def random_token(nbytes: int = 32) -> str:
    """A fresh unguessable urlsafe token (app secrets, agent tokens, visitor ids)."""
    return secrets.token_urlsafe(nbytes)


# --- visitor identities -------------------------------------------------------------------------


def sign_visitor(app_secret: str, bs: str) -> str:
    """The ``bs_mm`` the server hands out with a visitor's ``bs``: base64url HMAC-SHA256 of
    ``"visitor:" + bs`` under the app's secret."""
    return b64url(_hmac_sha256(app_secret, "visitor:" + bs))


def verify_visitor(app_secret: str, bs: str, bs_mm: str) -> bool:
    """Whether ``bs_mm`` is this app's signature of ``bs``; the caller must still check that the
    visitor exists in this app and is not revoked."""
    expected = sign_visitor(app_secret, bs)
    return hmac.compare_digest(expected.encode("ascii"), bs_mm.encode("utf-8"))


# --- bootstrap tickets --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """What a verified ticket vouches for: the host page's origin seen by bootstrap."""

    appid: str
    origin: str
    exp: int  # milliseconds since the epoch


def issue_ticket(server_secret: bytes, appid: str, origin: str, now_ms: int) -> tuple[str, int]:
    """A ticket for ``appid`` bound to ``origin``, and its expiry (ms). The runtime presents it in
    ``visitor.hello``; it is ``base64url(JSON) + "." + base64url(HMAC-SHA256(payload))``."""
    exp = now_ms + TICKET_TTL_MS
    body = json.dumps({"appid": appid, "origin": origin, "exp": exp}, separators=(",", ":"))
    payload = b64url(body.encode("utf-8"))
    return f"{payload}.{b64url(_hmac_sha256(server_secret, payload))}", exp


def verify_ticket(server_secret: bytes, ticket: str, now_ms: int) -> Ticket | None:
    """The ticket's claims, or None when it is malformed, forged or expired. On None the caller
    must refuse the connection (close 4401)."""
    payload, dot, signature = ticket.partition(".")
    if not dot:
        return None
    expected = b64url(_hmac_sha256(server_secret, payload))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
        return None
    try:
        claims = json.loads(_b64url_decode(payload))
    except (ValueError, binascii.Error):
        return None  # signed by us, so unreachable unless the secret leaked; refuse anyway
    if not isinstance(claims, dict):
        return None
    appid, origin, exp = claims.get("appid"), claims.get("origin"), claims.get("exp")
    if not (isinstance(appid, str) and isinstance(origin, str) and isinstance(exp, int)):
        return None
    if exp <= now_ms:
        return None
    return Ticket(appid=appid, origin=origin, exp=exp)


# --- agent tokens and passwords -----------------------------------------------------------------


def token_hash(token: str) -> str:
    """The SHA-256 hex stored for an agent token; look sessions up by this, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash in PHC form (``$argon2id$v=19$m=...``) with a fresh salt."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` string; False for any malformed one."""
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_password_hash() -> str:
    """A hash to verify against when an email is unknown, so a miss costs as long as a wrong
    password and response time does not reveal which emails are agents."""
    return hash_password(secrets.token_urlsafe(16))


# --- visitor upload tokens ----------------------------------------------------------------------


def issue_upload_token(server_secret: bytes, visitor_id: int, now_ms: int) -> str:
    """``"<visitor id>.<expiry ms>.<base64url HMAC>"``: lets one visitor upload files until the
    expiry; ``visitor.welcome`` hands it out."""
    payload = f"{visitor_id}.{now_ms + UPLOAD_TOKEN_TTL_MS}"
    return f"{payload}.{b64url(_hmac_sha256(server_secret, 'upload:' + payload))}"


def verify_upload_token(server_secret: bytes, token: str, now_ms: int) -> int | None:
    """The visitor id the token was issued to, or None when forged, malformed or expired."""
    payload, _, signature = token.rpartition(".")
    expected = b64url(_hmac_sha256(server_secret, "upload:" + payload))
    if not payload or not hmac.compare_digest(expected.encode(), signature.encode("utf-8")):
        return None
    visitor_id, _, exp = payload.partition(".")
    if not (visitor_id.isdigit() and exp.isdigit()) or int(exp) <= now_ms:
        return None
    return int(visitor_id)
