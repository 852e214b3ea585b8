"""Matching a browser's ``Origin`` against an app's allowed domains."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


def origin_hostname(origin: str | None) -> str | None:
    """The lowercase hostname of an ``Origin`` header, or None for a missing, ``null`` or
    malformed one (which the caller must treat as not allowed)."""
    if not origin or origin == "null":
        return None
    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname:
        return None
    return hostname.lower()


def hostname_allowed(hostname: str | None, allowed_domains: Iterable[object]) -> bool:
    """Exact hostname match, or an entry ``*.example.com`` matching any subdomain of
    ``example.com`` (not ``example.com`` itself: list it separately). Ports are ignored."""
    if hostname is None:
        return False
    for entry in allowed_domains:
        if not isinstance(entry, str):
            continue
        domain = entry.strip().lower()
        if domain.startswith("*."):
            if hostname.endswith(domain[1:]) and len(hostname) > len(domain) - 1:
                return True
        elif hostname == domain:
            return True
    return False
