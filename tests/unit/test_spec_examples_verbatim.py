"""The spec's examples, as run by tests/e2e/test_spec_examples.py, are the spec's own text.

Each example is cut out of the host API spec (``shared/spec/002_1061752f7952472b.txt``) by the
headings and sentences around it, the two placeholders are substituted (the core.js URL and the
appid: nothing else may differ), and the result must appear in its page under
``tests/e2e/pages/spec/``. Conversely every ``<script>`` of those pages must be spec text, so no
page can help an example with code of its own. When the spec changes, this test names the page
that has drifted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "tests" / "e2e" / "pages" / "spec"
SPEC_NAME = "002_1061752f7952472b.txt"
#: The only two substitutions allowed between the spec and a page.
SUBSTITUTIONS = {
    ".../install/core.js?version=v1.2": "/install/core.js?version=v1.2",
    "YOUR_APPID": "porch-demo",
}


def find_spec() -> Path:
    """The spec lives in the shared folder next to the repository (``../shared``); CI checks it
    out there too. ``PORCH_SPEC`` overrides the location."""
    if os.environ.get("PORCH_SPEC"):
        return Path(os.environ["PORCH_SPEC"])
    for base in (ROOT, *ROOT.parents):
        candidate = base / "shared" / "spec" / SPEC_NAME
        if candidate.is_file():
            return candidate
        candidate = base.parent / "shared" / "spec" / SPEC_NAME
        if candidate.is_file():
            return candidate
    raise AssertionError(f"the host API spec {SPEC_NAME} is not in ../shared/spec (set PORCH_SPEC)")


def _index(lines: list[str], marker: str, prefix: bool = False) -> int:
    hits = [
        i for i, line in enumerate(lines) if (line.startswith(marker) if prefix else line == marker)
    ]
    assert len(hits) == 1, f"spec: expected one line {'starting with ' if prefix else ''}{marker!r}"
    return hits[0]


def _between(
    lines: list[str], start: str, end: str | None, *, prefix: bool = False, inclusive: bool = False
) -> str:
    """The lines after ``start`` up to (not including) ``end``; with ``inclusive``, the block
    from ``start`` through ``end`` itself."""
    first = _index(lines, start, prefix and not inclusive)
    last = len(lines) if end is None else _index(lines, end, prefix)
    chunk = lines[first : last + 1] if inclusive else lines[first + 1 : last]
    return "\n".join(chunk).strip("\n")


def spec_examples(text: str) -> dict[str, str]:
    """Every runnable example of the spec, by name."""
    lines = text.splitlines()
    return {
        "snippet": _between(lines, "Installation Snippet", "Configuration Options"),
        "async-init": _between(
            lines,
            "To delay widget iframe creation, set asyncInit: true",
            "init() is idempotent",
            prefix=True,
        ),
        "entry-contract": _between(
            lines,
            "window.TWTChatWidget is the unified public API entry point",
            "Core Functions",
            prefix=True,
        ),
        "visitor-auth-ready": _between(
            lines, "The host-sdk writes ITP identity back", "State Events", prefix=True
        ),
        "open-after-init": _between(
            lines, "Open the Window After Initialization", "Custom Entry Button"
        ),
        "custom-entry-button": _between(
            lines, "Custom Entry Button", "launcher: 'custom' disables", prefix=True
        ),
        "hover-popup": _between(lines, "<!doctype html>", "</html>", inclusive=True),
        "unread-title": _between(
            lines, "Sync Unread Count to the Page Title", "Observe Connection Status"
        ),
        "connection-status": _between(lines, "Observe Connection Status", "Switch Theme"),
        "switch-theme": _between(lines, "Switch Theme", "Switch Language"),
        "switch-language": _between(lines, "Switch Language", None),
    }


def substitute(text: str) -> str:
    for placeholder, value in SUBSTITUTIONS.items():
        text = text.replace(placeholder, value)
    return text


#: page -> the examples it is made of. Fragments that "assume that the SDK has already been
#: installed" are the installation snippet plus the fragment.
PAGE_EXAMPLES = {
    "open-after-init.html": ["snippet", "open-after-init"],
    "entry-contract.html": ["snippet", "entry-contract"],
    "custom-entry-button.html": ["custom-entry-button"],
    "hover-popup.html": ["hover-popup"],
    "unread-title.html": ["snippet", "unread-title"],
    "connection-status.html": ["snippet", "connection-status"],
    "switch-theme.html": ["snippet", "switch-theme"],
    "switch-language.html": ["snippet", "switch-language"],
    "async-init.html": ["async-init"],
    "visitor-auth-ready.html": ["snippet", "visitor-auth-ready"],
}

SPEC_TEXT = find_spec().read_text(encoding="utf-8")
EXAMPLES = spec_examples(SPEC_TEXT)


def _scripts(html: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"<script\b[^>]*>(.*?)</script>", html, re.S)]


def test_every_example_of_the_spec_has_a_page() -> None:
    used = {name for names in PAGE_EXAMPLES.values() for name in names}
    assert used == set(EXAMPLES)
    assert sorted(p.name for p in PAGES.glob("*.html")) == sorted(PAGE_EXAMPLES)


def test_examples_are_cut_where_the_spec_says() -> None:
    # Guards the cutting itself: each example is code, starting and ending where code does.
    assert EXAMPLES["snippet"].startswith("<!-- Start of ... code -->")
    assert EXAMPLES["snippet"].endswith("<!-- End of ... code -->")
    assert EXAMPLES["async-init"].startswith("<script>")
    assert EXAMPLES["async-init"].endswith("</script>")
    assert EXAMPLES["custom-entry-button"].startswith('<button id="open-chat">')
    assert EXAMPLES["custom-entry-button"].endswith("></script>")
    assert EXAMPLES["hover-popup"].endswith("</html>")
    for name in (
        "entry-contract",
        "visitor-auth-ready",
        "open-after-init",
        "unread-title",
        "connection-status",
        "switch-theme",
        "switch-language",
    ):
        assert EXAMPLES[name].startswith(("window.TWTChatWidget.on(", "var originalTitle")), name
        assert EXAMPLES[name].endswith("});"), name
    for text in EXAMPLES.values():
        assert not any(placeholder in substitute(text) for placeholder in SUBSTITUTIONS)


@pytest.mark.parametrize("page", sorted(PAGE_EXAMPLES))
def test_the_page_contains_its_examples_verbatim(page: str) -> None:
    html = (PAGES / page).read_text(encoding="utf-8")
    for name in PAGE_EXAMPLES[page]:
        assert substitute(EXAMPLES[name]) in html, f"{page} has drifted from the spec's {name!r}"


@pytest.mark.parametrize("page", sorted(PAGE_EXAMPLES))
def test_every_script_of_the_page_is_spec_text(page: str) -> None:
    html = (PAGES / page).read_text(encoding="utf-8")
    spec = substitute(SPEC_TEXT)
    scripts = _scripts(html)
    assert scripts, page
    for script in scripts:
        assert script.strip("\n") in spec, (
            f"{page} runs code that is not in the spec:\n{script[:300]}"
        )
    # No handlers hidden in attributes either.
    assert not re.search(r"\son[a-z]+\s*=", re.sub(r"<script\b.*?</script>", "", html, flags=re.S))
