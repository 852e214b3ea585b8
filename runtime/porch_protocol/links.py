"""Links in chat text: the one implementation the visitor runtime and the agent console share.

:func:`split_links` cuts any text into :class:`LinkPart` pieces, in order: plain text
(``href`` is ``None``) and http(s) URLs (``href`` is the URL, exactly as written). Joined, the
pieces' texts give back the text. It never raises, whatever the text: it is run on every message
an agent or a visitor sends, and a message is replayed on every load, so an exception here would
be one the visitor can never get past (issue 16).

The rules, chosen to be safe and unsurprising rather than complete:

- a link starts at ``http://`` or ``https://`` (any case) at the start of a word, and runs to
  the next whitespace, control character, quote (``"``, ``'``) or angle bracket; no other
  scheme is ever a link (no ``javascript:``, no ``data:``);
- brackets must balance: a ``)``, ``]`` or ``}`` with no opener inside the link ends it, so
  ``(see https://x.example/a_(b))`` links ``https://x.example/a_(b)``, and a Markdown link
  ``[label](https://x.example)`` is shown as written with its URL linked;
- sentence punctuation at the end (``. , ; : ! ? * _ ~``) is text, not link;
- the host must be there and look like one: a name without the characters a browser refuses in
  a host (a bracketed IPv6 address is allowed), with an optional numeric port. Anything else
  stays text, so ``http://[x`` is just text.

No ``urllib.parse`` here: ``urlsplit`` raises ``ValueError`` on text such as
``https://example.com](https://example.com)``, which is how issue 16 began.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

__all__ = ["LinkPart", "is_web_url", "split_links"]


class LinkPart(NamedTuple):
    """A piece of text, and the URL it links to (``None`` for plain text)."""

    text: str
    href: str | None = None


#: Where a link may start: the scheme, at the start of a word.
_START = re.compile(r"\bhttps?://", re.IGNORECASE)
#: What ends a link's run of characters: whitespace, control characters, quotes, angle brackets.
_STOP = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>]")
#: Closing bracket -> its opener; an unmatched closer ends the link.
_PAIRS = {")": "(", "]": "[", "}": "{"}
#: Punctuation that ends a sentence rather than the link in front of it.
_TRAILING = ".,;:!?*_~"
#: Characters a browser refuses in a host name (the URL Standard's forbidden domain code points,
#: ASCII ones), besides the controls and spaces that already end a link.
_BAD_HOST = frozenset("#%/:<>?@[\\]^|\"'`{}")
_PORT = re.compile(r"[0-9]{0,5}")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")


def split_links(text: str) -> list[LinkPart]:
    """``text`` as plain pieces and http(s) links; no piece is empty, and no two plain pieces
    follow each other. Never raises, and takes time linear in the text's length: a rejected
    candidate is skipped whole, so no character is read twice by the Python loops."""
    parts: list[LinkPart] = []
    plain_from = 0
    position = 0
    while True:
        start = _START.search(text, position)
        if start is None:
            break
        url, is_link = _candidate(text, start.start())
        position = start.start() + max(len(url), len(start.group(0)))
        if not is_link:
            continue
        if start.start() > plain_from:
            parts.append(LinkPart(text[plain_from : start.start()]))
        parts.append(LinkPart(url, url))
        plain_from = position
    if plain_from < len(text):
        parts.append(LinkPart(text[plain_from:]))
    return parts


def is_web_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host (and at most a numeric port), for URLs
    that are not chat text, such as a file's. Never raises."""
    return _START.match(url) is not None and _has_host(url)


def _candidate(text: str, start: int) -> tuple[str, bool]:
    """The would-be link that starts at ``start`` (where a scheme matched), and whether it is
    one."""
    stop = _STOP.search(text, start)
    run = _balanced(text[start : stop.start() if stop else len(text)])
    run = run.rstrip(_TRAILING)
    return run, _has_host(run)


def _balanced(run: str) -> str:
    """``run`` up to its first closing bracket that has no opener before it."""
    open_brackets: list[str] = []
    for index, char in enumerate(run):
        if char in "([{":
            open_brackets.append(char)
        elif char in _PAIRS:
            if not open_brackets or open_brackets[-1] != _PAIRS[char]:
                return run[:index]
            open_brackets.pop()
    return run


def _has_host(url: str) -> bool:
    """Whether the authority after ``scheme://`` names a host (and at most a numeric port)."""
    slashes = url.find("//")
    if slashes < 0:
        return False
    after_scheme = url[slashes + 2 :]
    authority = re.split(r"[/\\?#]", after_scheme, maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        address, bracket, port = host_port[1:].partition("]")
        if not bracket or not _is_ipv6(address):
            return False
        if port and not port.startswith(":"):
            return False
        return _port_ok(port[1:])
    host, _, port = host_port.partition(":")
    if not host or _STOP.search(host) or any(char in _BAD_HOST for char in host):
        return False
    return _port_ok(port)


def _is_ipv6(address: str) -> bool:
    if _IPV6_CHARS.fullmatch(address) is None:  # no zone id ("%eth0"): browsers refuse one
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def _port_ok(port: str) -> bool:
    return _PORT.fullmatch(port) is not None and (not port or int(port) <= 65535)
