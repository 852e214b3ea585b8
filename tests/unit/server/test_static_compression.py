"""Precompressed siblings and cache lifetimes of the static files
(``porch_server/transport/http/static.py``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from porch_server.transport.http.static import (
    IMMUTABLE,
    VENDOR_MAX_AGE,
    accepted_encodings,
    static_app,
)

WASM = bytes(range(256)) * 64
#: Not real Brotli: the server never decodes a sibling, so any marker bytes prove which file went.
BR_MARKER = b"brotli-encoded-bytes"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    pyodide = tmp_path / "vendor" / "pyodide"
    pyodide.mkdir(parents=True)
    (pyodide / "pyodide.asm.wasm").write_bytes(WASM)
    (pyodide / "pyodide.asm.wasm.gz").write_bytes(gzip.compress(WASM))
    (pyodide / "pyodide.asm.wasm.br").write_bytes(BR_MARKER)
    (pyodide / "snapshot.bin.gz").write_bytes(gzip.compress(b"snapshot"))
    (pyodide / "plain.json").write_text("{}")
    # Mounted as the real app mounts it, so a 404 is an answer and not an exception.
    return TestClient(Starlette(routes=[Mount("/", app=static_app(tmp_path))]))


def test_brotli_is_preferred_when_accepted(client: TestClient) -> None:
    response = client.get(
        "/vendor/pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "gzip, br"}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "br"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "application/wasm"
    assert response.headers["content-length"] == str(len(BR_MARKER))


def test_gzip_sibling_decodes_to_the_same_bytes(client: TestClient) -> None:
    response = client.get("/vendor/pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "application/wasm"
    assert response.content == WASM  # httpx inflated the gzip body


def test_a_client_without_those_codings_gets_the_file_as_is_with_vary(client: TestClient) -> None:
    response = client.get(
        "/vendor/pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "identity, br;q=0"}
    )
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == WASM


def test_a_file_without_siblings_has_no_vary(client: TestClient) -> None:
    response = client.get("/vendor/pyodide/plain.json", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers


def test_a_sibling_without_its_source_is_served_only_to_who_accepts_it(client: TestClient) -> None:
    url = "/vendor/pyodide/snapshot.bin?h=abc"
    encoded = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert encoded.headers["content-encoding"] == "gzip"
    assert encoded.content == b"snapshot"
    assert client.get(url, headers={"Accept-Encoding": "identity"}).status_code == 404


def test_conditional_request_for_an_encoded_file_is_not_modified(client: TestClient) -> None:
    first = client.get("/vendor/pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "br"})
    again = client.get(
        "/vendor/pyodide/pyodide.asm.wasm",
        headers={"Accept-Encoding": "br", "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_head_of_an_encoded_file_has_its_length_and_no_body(client: TestClient) -> None:
    response = client.head("/vendor/pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "br"})
    assert response.headers["content-length"] == str(len(BR_MARKER))
    assert response.content == b""


def test_hashed_urls_are_immutable_and_vendor_files_cached_a_day(client: TestClient) -> None:
    hashed = client.get("/vendor/pyodide/plain.json?h=0123abcd")
    assert hashed.headers["cache-control"] == IMMUTABLE
    assert client.get("/vendor/pyodide/plain.json").headers["cache-control"] == VENDOR_MAX_AGE


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br, zstd", {"gzip", "deflate", "br", "zstd"}),
        ("br;q=0, gzip;q=0.5", {"gzip"}),
        ("GZIP ; q=1", {"gzip"}),
        ("", set()),
        ("br;q=x", {"br"}),
    ],
)
def test_accept_encoding_parsing(header: str, expected: set[str]) -> None:
    assert accepted_encodings(header) == expected
