"""The business-user login signature, public so a site's backend can import it.

A site that knows who its visitor is (a logged-in customer) passes ``sbs`` (its own user id), a
fresh ``ranstr`` and ``sbs_mm`` to the widget, with the user's name, nickname, email and phone if
it wants them shown; Porch then attaches the chat to that user on every device. Only the site's
backend knows the app secret, so only it can sign.

The signed message (docs/protocol.md, "Signatures") is one line per field, so no field can spill
into another::

    porch-login-v2\\n<sbs>\\n<ranstr>\\n<name>\\n<nickname>\\n<email>\\n<phone>

An absent profile field is the empty string, and no field may hold a control character (a
newline would make two messages equal). ``ranstr`` is ``<issued-at unix seconds>.<random>``:
the server refuses one older than :data:`LOGIN_MAX_AGE_S` (or issued more than
:data:`LOGIN_CLOCK_SKEW_S` in the future), and accepts each one once per app.
"""

from __future__ import annotations

import hashlib
import hmac
import re

#: The first line of the signed message: a signature made for another scheme never verifies.
LOGIN_SIGNATURE_VERSION = "porch-login-v2"
#: How long a signed login stays usable after it was issued (the widget boots lazily: a visitor
#: may open the chat long after the page was rendered).
LOGIN_MAX_AGE_S = 24 * 60 * 60
#: How far in the future an issue time may be (the site's clock ahead of Porch's).
LOGIN_CLOCK_SKEW_S = 5 * 60
#: ``<issued-at>.<random>``: seconds since the epoch in decimal, then at least 16 URL-safe
#: base64 characters (``secrets.token_urlsafe(16)`` gives 22); 128 characters at most.
_RANSTR = re.compile(r"(0|[1-9][0-9]{0,11})\.[A-Za-z0-9_-]{16,115}")
#: C0 and C1 control characters, DEL included.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _message(
    sbs: str,
    ranstr: str,
    name: str | None,
    nickname: str | None,
    email: str | None,
    phone: str | None,
) -> bytes:
    fields = (sbs, ranstr, name or "", nickname or "", email or "", phone or "")
    for value in fields:
        if _CONTROL.search(value):
            raise ValueError("a business login's fields may not hold control characters")
    return "\n".join((LOGIN_SIGNATURE_VERSION, *fields)).encode("utf-8")


def sign_business_user(
    secret: str,
    sbs: str,
    ranstr: str,
    *,
    name: str | None = None,
    nickname: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> str:
    """The ``sbs_mm`` for business user ``sbs``: lowercase hex HMAC-SHA256, keyed with the app's
    secret (UTF-8), of ``"porch-login-v2\\n" + sbs + "\\n" + ranstr + "\\n" + name + "\\n" +
    nickname + "\\n" + email + "\\n" + phone`` (UTF-8; an absent field is ``""``).

    ``ranstr`` must be fresh for every page you render:
    ``f"{int(time.time())}.{secrets.token_urlsafe(16)}"``. Pass the same name, nickname, email
    and phone you render into the page (they are what the signature vouches for). Raises
    ``ValueError`` for a field with a control character. Compute it on your server; never ship
    the secret to a browser::

        >>> ranstr = f"{int(time.time())}.{secrets.token_urlsafe(16)}"  # doctest: +SKIP
        >>> sign_business_user("porch-demo-secret", "user-42", ranstr, name="Ann")  # doctest: +SKIP
        '3c5f...'   # 64 hex characters
    """
    message = _message(sbs, ranstr, name, nickname, email, phone)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def ranstr_issued_at(ranstr: str) -> int | None:
    """The issue time (Unix seconds) a well-formed ``ranstr`` carries, or None."""
    match = _RANSTR.fullmatch(ranstr)
    return int(match.group(1)) if match else None


def ranstr_expires_at(ranstr: str) -> int | None:
    """When (Unix seconds) a well-formed ``ranstr`` stops being accepted, or None."""
    issued = ranstr_issued_at(ranstr)
    return None if issued is None else issued + LOGIN_MAX_AGE_S


def ranstr_current(ranstr: str, now_s: float) -> bool:
    """Whether a well-formed ``ranstr`` was issued at most :data:`LOGIN_MAX_AGE_S` before
    ``now_s`` and at most :data:`LOGIN_CLOCK_SKEW_S` after it."""
    issued = ranstr_issued_at(ranstr)
    return issued is not None and now_s - LOGIN_MAX_AGE_S <= issued <= now_s + LOGIN_CLOCK_SKEW_S


def verify_business_user(
    secret: str,
    sbs: str,
    ranstr: str,
    sbs_mm: str,
    *,
    name: str | None = None,
    nickname: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> bool:
    """Whether ``sbs_mm`` signs this login under ``secret``, compared in constant time. Empty
    ``sbs`` or ``sbs_mm``, a malformed ``ranstr`` and fields with control characters never
    verify. Whether the ``ranstr`` is current (:func:`ranstr_current`) and unused
    (:func:`porch_server.storage.store.use_login_nonce`) are separate questions."""
    if not (sbs and sbs_mm) or ranstr_issued_at(ranstr) is None:
        return False
    try:
        expected = sign_business_user(
            secret, sbs, ranstr, name=name, nickname=nickname, email=email, phone=phone
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), sbs_mm.encode("utf-8"))


def tawk_hash(secret: str, value: str) -> str:
    """tawk.to's secure-mode ``hash``: lowercase hex HMAC-SHA256 of ``value`` (a ``userId`` for
    ``Tawk_API.login``, an email for ``Tawk_API.visitor``), keyed with the app's secret, which is
    the property's API key (docs/migrating-from-tawk.md). Unlike a business login it carries no
    expiry or nonce: tawk.to's own scheme, kept so a site's backend does not change."""
    return hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_tawk_hash(secret: str, value: str, digest: str) -> bool:
    """Whether ``digest`` is :func:`tawk_hash` of ``value``, compared in constant time (any
    case of hex digits). Empty fields never verify."""
    if not (value and digest):
        return False
    expected = tawk_hash(secret, value)
    return hmac.compare_digest(expected.encode("ascii"), digest.lower().encode("utf-8"))
