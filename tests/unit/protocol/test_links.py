"""Link detection (porch_protocol.links), shared by the visitor runtime and the agent console.

Issue 16: an agent's ``See [https://example.com](https://example.com)`` made the runtime's
``urlsplit`` raise, which killed the visitor's widget on every load. Link detection must never
raise, for any text, and must give back the text it was given.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from porch_protocol import MAX_TEXT_CHARS, LinkPart, is_web_url, split_links

#: Pieces that make link-like text: schemes, brackets, the characters a URL's host cares about.
# fmt: off
_URLISH = st.sampled_from([
    "http://", "https://", "HTTPS://", "javascript:", "data:", "[", "]", "(", ")", "{", "}",
    ".", ",", ":", ";", "!", "@", "/", "?", "#", "%", "\\", "*", "_", "~", " ", "\n", "'", '"',
    "<", ">", "example.com", "a", "1", "::1", "8000", "ü", "\x00", "\u2028", "℀",
])
# fmt: on
_LINKISH_TEXT = st.lists(_URLISH, max_size=40).map("".join)
_ANY_TEXT = st.text(max_size=MAX_TEXT_CHARS)


def check_parts(text: str, parts: list[LinkPart]) -> None:
    """What must hold for every text: the parts give the text back, none is empty, plain parts
    never follow each other, and every link is an http(s) URL written as is."""
    assert "".join(p.text for p in parts) == text
    assert all(p.text for p in parts)
    assert all(a.href is not None or b.href is not None for a, b in itertools.pairwise(parts))
    for part in parts:
        if part.href is not None:
            assert part.href == part.text
            assert re.match(r"https?://", part.href, re.IGNORECASE)
            assert is_web_url(part.href)


@given(text=_ANY_TEXT)
def test_any_text_splits_without_raising_and_joins_back(text: str) -> None:
    check_parts(text, split_links(text))
    is_web_url(text)


@given(text=_LINKISH_TEXT)
@example(text="See [https://example.com](https://example.com)")
@example(text="http://[x")
@example(text="http://[::1")
@example(text="https://[::1]x/")
@example(text="http://a]b[c")
def test_link_like_text_splits_without_raising_and_joins_back(text: str) -> None:
    parts = split_links(text)
    check_parts(text, parts)
    for part in parts:
        if part.href is not None and part.href.isascii():
            # What made the runtime raise (issue 16) accepts every link found.
            url = urlsplit(part.href)
            assert url.scheme.lower() in ("http", "https") and url.netloc


def test_an_agents_markdown_link_is_shown_as_written_with_its_urls_linked() -> None:
    assert split_links("See [https://example.com](https://example.com)") == [
        LinkPart("See ["),
        LinkPart("https://example.com", "https://example.com"),
        LinkPart("]("),
        LinkPart("https://example.com", "https://example.com"),
        LinkPart(")"),
    ]
    assert split_links("[the docs](https://example.com/docs).") == [
        LinkPart("[the docs]("),
        LinkPart("https://example.com/docs", "https://example.com/docs"),
        LinkPart(")."),
    ]


def test_a_visitors_broken_url_is_text() -> None:
    assert split_links("http://[x") == [LinkPart("http://[x")]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "https://en.wikipedia.org/wiki/Foo_(bar)",
            [
                (
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                )
            ],
        ),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            [
                ("(see ", None),
                (
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                ),
                (")", None),
            ],
        ),
        ("no links", [("no links", None)]),
        ("", []),
        (
            "see https://a.example/x?y=1. ok",
            [
                ("see ", None),
                ("https://a.example/x?y=1", "https://a.example/x?y=1"),
                (". ok", None),
            ],
        ),
        ("HTTP://A.EXAMPLE", [("HTTP://A.EXAMPLE", "HTTP://A.EXAMPLE")]),
        ("javascript:alert(1) data:text/html,x", [("javascript:alert(1) data:text/html,x", None)]),
        (
            "javascript:http://x.example",
            [("javascript:", None), ("http://x.example", "http://x.example")],
        ),
        ("xhttp://a.example", [("xhttp://a.example", None)]),
        (
            '<a href="http://x.example">',
            [('<a href="', None), ("http://x.example", "http://x.example"), ('">', None)],
        ),
        (
            "**https://x.example**!",
            [("**", None), ("https://x.example", "https://x.example"), ("**!", None)],
        ),
        ("http://[::1]:8000/a", [("http://[::1]:8000/a", "http://[::1]:8000/a")]),
        ("http:// nothing", [("http:// nothing", None)]),
        ("http://a.example:99999/", [("http://a.example:99999/", None)]),
        ("https://a.example/?q=[1]", [("https://a.example/?q=[1]", "https://a.example/?q=[1]")]),
    ],
)
def test_only_http_and_https_urls_become_links(
    text: str, parts: list[tuple[str, str | None]]
) -> None:
    assert split_links(text) == [LinkPart(t, h) for t, h in parts]


def test_web_urls_for_files() -> None:
    assert is_web_url("http://chat.test/files/f1/a%20b.")
    assert is_web_url("https://[::1]:8443/files/f1/a.png")
    assert not is_web_url("javascript:alert(1)")
    assert not is_web_url("http://[x/files/f1")
    assert not is_web_url("http:///files/f1")
    assert not is_web_url("/files/f1")
