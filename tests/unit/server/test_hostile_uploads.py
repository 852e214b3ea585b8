"""Hostile uploads (issue 12): what could run as a page of Porch's origin is refused, and what is
kept is served inert. The server never decodes an image or inflates anything, so a
decompression bomb is stored (if at all) as the bytes it is.

tests/e2e/test_xss_corpus.py opens kept files in Chromium; this file checks the answers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from conftest import Porch
from porch_server.transport.http.uploads import DOWNLOAD_CSP

SCRIPT = b"<script>parent.__pwned = 1; alert(1)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">' + SCRIPT + b"</svg>"
HTML = b"<!doctype html><html><body>" + SCRIPT + b"</body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _upload(porch: Porch, name: str, body: bytes, **headers: str) -> tuple[int, dict[str, str]]:
    _, welcome = porch.visitor()
    response = porch.client.post(
        "/api/v1/files",
        content=body,
        headers={"authorization": f"Bearer {welcome.upload_token}", "x-filename": name, **headers},
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("name", "body", "headers"),
    [
        ("evil.svg", SVG, {}),
        ("evil.svg", SVG, {"content-type": "image/svg+xml"}),
        ("evil.html", HTML, {}),
        ("cat.png", HTML, {}),  # HTML disguised as an image, by name
        ("cat", HTML, {"content-type": "image/png"}),  # ... or by declared type
        ("cat.jpg", PNG, {}),  # an image, but not the one it claims
        ("page.txt", PNG + HTML, {"content-type": "text/html"}),
        ("bomb.txt", gzip.compress(b"\0" * 10_000_000), {"content-encoding": "gzip"}),
        ("bomb.zip", b"PK\x03\x04" + b"\0" * 100, {}),
        ("notes.txt", b"NUL \x00 in text", {}),
    ],
    ids=[
        "svg-with-script",
        "svg-declared",
        "html",
        "html-named-png",
        "html-declared-png",
        "png-named-jpg",
        "declared-html",
        "gzip-bomb",
        "zip",
        "nul-text",
    ],
)
def test_what_could_run_or_lies_about_its_type_is_refused(
    porch: Porch, name: str, body: bytes, headers: dict[str, str]
) -> None:
    status, answer = _upload(porch, name, body, **headers)
    assert (status, answer["error"]) == (415, "unsupported_type"), answer
    files = Path(porch.settings.data_dir) / "files"
    assert not files.exists() or not any(files.iterdir())  # nothing kept


@pytest.mark.parametrize(
    ("name", "body", "content_type", "disposition"),
    [
        # A GIF whose bytes are also a script (the GIFAR trick): an image, inline, never a page.
        ("anim.gif", b"GIF89a/*" + SCRIPT + b"*/=1;", "image/gif", "inline"),
        ("shot.png", PNG + HTML, "image/png", "inline"),  # a PNG with a page appended
        ("doc.pdf", b"%PDF-1.7\n/JS (app.alert(1))\n" + HTML, "application/pdf", "attachment"),
        ("page.txt", HTML, "text/plain; charset=utf-8", "attachment"),  # HTML kept as text
        ("evil.txt", SVG, "text/plain; charset=utf-8", "attachment"),
    ],
    ids=["gif-polyglot", "png-polyglot", "pdf-with-js", "html-as-text", "svg-as-text"],
)
def test_polyglots_that_are_kept_are_served_inert(
    porch: Porch, name: str, body: bytes, content_type: str, disposition: str
) -> None:
    status, answer = _upload(porch, name, body)
    assert status == 201, answer
    response = porch.client.get(answer["url"])
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"].startswith(disposition + ";")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == DOWNLOAD_CSP
    assert "sandbox" in DOWNLOAD_CSP and "default-src 'none'" in DOWNLOAD_CSP


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..%2F..%2Fsecret.txt", "secret.txt"),
        ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
        ("/abs/path.txt", "path.txt"),
        ("%2e%2e%2f%2e%2e%2fx.txt", "x.txt"),
        ("a%00b.txt", "ab.txt"),
        ("%E2%80%AEtxt.exe.txt", "txt.exe.txt"),  # right-to-left override removed
    ],
)
def test_path_traversal_names_keep_only_their_last_part(
    porch: Porch, raw: str, kept: str, tmp_path: Path
) -> None:
    status, answer = _upload(porch, raw, b"plain words")
    assert status == 201, answer
    assert answer["name"] == kept
    # Stored under a random id in the data dir, whatever the name said.
    files = Path(porch.settings.data_dir) / "files"
    assert [p.name for p in files.iterdir()] == [answer["id"]]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "secret.txt").exists()
    download = porch.client.get(answer["url"])
    assert download.status_code == 200 and download.content == b"plain words"


def test_a_download_needs_the_exact_id_and_name(porch: Porch) -> None:
    status, answer = _upload(porch, "a.txt", b"private")
    assert status == 201
    file_id = answer["id"]
    for url in (
        f"/files/{file_id}/b.txt",
        f"/files/{file_id[:-1]}{'1' if file_id[-1] == '0' else '0'}/a.txt",
        f"/files/{file_id}/..%2Fa.txt",
        "/files/..%2F..%2Fporch.db/a.txt",
    ):
        assert porch.client.get(url).status_code == 404, url
