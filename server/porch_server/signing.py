"""The business-user login signature, public so a site's backend can import it.

A site that knows who its visitor is (a logged-in customer) passes ``sbs`` (its own user id), a
fresh random ``ranstr`` and ``sbs_mm`` to the widget; Porch then attaches the chat to that user on
every device. Only the site's backend knows the app secret, so only it can sign.
"""

from __future__ import annotations

import hashlib
import hmac


def sign_business_user(secret: str, sbs: str, ranstr: str) -> str:
    """The ``sbs_mm`` for business user ``sbs``: lowercase hex HMAC-SHA256, keyed with the app's
    secret (UTF-8), of ``sbs + ":" + ranstr`` (UTF-8).

    Compute it on your server and render it into the page with ``sbs`` and ``ranstr``; never ship
    the secret to a browser::

        >>> sign_business_user("porch-demo-secret", "user-42", "f81d4fae")  # doctest: +SKIP
        '3c5f...'   # 64 hex characters
    """
    message = f"{sbs}:{ranstr}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_business_user(secret: str, sbs: str, ranstr: str, sbs_mm: str) -> bool:
    """Whether ``sbs_mm`` signs ``sbs``/``ranstr`` under ``secret``, compared in constant time.
    Empty fields never verify."""
    if not (sbs and ranstr and sbs_mm):
        return False
    expected = sign_business_user(secret, sbs, ranstr)
    return hmac.compare_digest(expected.encode("ascii"), sbs_mm.encode("utf-8"))
