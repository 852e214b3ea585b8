"""A strict Content-Security-Policy on every Porch page (issue 12), as the real server sends it.

Porch's pages are the HTML files of ``public/`` except ``demo/`` (the demo is a sample of a
customer's page, which Porch does not control; it carries the installation snippet inline, as
customers' pages do). The list is read from the folder, so a new page is checked at once. Each
must forbid inline script and plugins, pin ``<base>`` and form targets, say who may frame it,
and load scripts only from Porch. Downloads get ``default-src 'none'; sandbox``
(test_hostile_uploads.py). Violations in a browser are caught where the pages run: the console's
e2e tests and test_xss_corpus.py fail on any ``securitypolicyviolation``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import ROOT, PorchServer

PUBLIC = ROOT / "public"
PAGES = sorted(
    "/" + str(p.relative_to(PUBLIC))
    for p in PUBLIC.rglob("*.html")
    if p.relative_to(PUBLIC).parts[0] != "demo"
)
#: Framed pages get their frame-ancestors from the app named in the URL (core.js adds it).
FRAMED = {"/widget/launcher.html", "/widget/panel.html"}


def _policies(server: PorchServer, path: str) -> list[dict[str, list[str]]]:
    query = "?appid=porch-demo&host=http://127.0.0.1:1" if path in FRAMED else ""
    response = httpx.get(f"{server.url}{path}{query}")
    assert response.status_code == 200, path
    assert response.headers["x-content-type-options"] == "nosniff"
    policies = []
    for header in response.headers.get_list("content-security-policy"):
        directives: dict[str, list[str]] = {}
        for part in header.split(";"):
            name, *values = part.split()
            directives[name] = values
        policies.append(directives)
    assert policies, f"{path} has no Content-Security-Policy"
    return policies


def _effective(policies: list[dict[str, list[str]]], directive: str) -> list[list[str]]:
    """Each policy's sources for ``directive`` (falling back to default-src, as browsers do for
    fetch directives); a browser enforces every policy, so one strict enough is enough."""
    found = []
    for policy in policies:
        if directive in policy:
            found.append(policy[directive])
        elif directive.endswith("-src") and "default-src" in policy:
            found.append(policy["default-src"])
    return found


def test_every_porch_page_is_listed() -> None:
    assert {"/agent/index.html", "/widget/launcher.html", "/widget/panel.html"} <= set(PAGES)


@pytest.mark.parametrize("path", PAGES)
def test_every_porch_page_has_a_strict_policy(porch_server: PorchServer, path: str) -> None:
    policies = _policies(porch_server, path)
    scripts = _effective(policies, "script-src")
    assert scripts, "no script-src or default-src"
    for sources in scripts:
        assert "'unsafe-inline'" not in sources and "*" not in sources
        assert not {"http:", "https:", "data:", "blob:"} & set(sources), sources
    assert any(s == ["'none'"] for s in _effective(policies, "object-src")), "plugins allowed"
    assert any(s == ["'none'"] for s in _effective(policies, "base-uri")), "<base> not pinned"
    assert any(s in (["'none'"], ["'self'"]) for s in _effective(policies, "form-action"))
    ancestors = _effective(policies, "frame-ancestors")
    assert ancestors, "anyone may frame it"
    for sources in ancestors:
        assert "*" not in sources and "http:" not in sources and "https:" not in sources
    if path in FRAMED:  # only the app's own domains, any port
        assert any(
            sorted(s)
            == sorted(
                f"{scheme}://{host}:*"
                for scheme in ("http", "https")
                for host in ("127.0.0.1", "localhost")
            )
            for s in ancestors
        ), ancestors


@pytest.mark.parametrize("path", sorted(FRAMED))
def test_a_framed_page_without_a_known_app_may_not_be_framed(
    porch_server: PorchServer, path: str
) -> None:
    response = httpx.get(f"{porch_server.url}{path}?appid=no-such-app")
    assert "frame-ancestors 'none'" in response.headers.get_list("content-security-policy")


def test_the_page_list_comes_from_the_folder() -> None:
    assert all(Path(PUBLIC, p.lstrip("/")).is_file() for p in PAGES)
