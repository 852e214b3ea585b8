"""``POST /api/v1/files`` and ``GET /files/<id>/<name>``: who may upload, what is kept, how it
is served back, and attaching uploads to messages."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

import httpx
import pytest

from conftest import (
    AGENT_EMAIL,
    FakeClock,
    Porch,
    TestClient,
    expect_error,
    receive_until,
    seeded_token,
    send_frame,
)
from porch_protocol import ErrorFrame, FileRef, MessageAck, NewMessage, SendMessage
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.rules.security import UPLOAD_TOKEN_TTL_MS, issue_upload_token
from porch_server.transport.http.uploads import DOWNLOAD_CSP, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
GIF = b"GIF89a" + b"\x00" * 20
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20
PDF = b"%PDF-1.7\n" + b"x" * 20
EXE = b"MZ\x90\x00" + b"\x00" * 40


def _upload(
    porch: Porch,
    body: bytes,
    token: str | None,
    name: str = "photo.png",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    headers = {"content-type": content_type, "x-filename": quote(name)}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return porch.client.post("/api/v1/files", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "expected"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
     (PDF, "application/pdf"), (EXE, None), (b"plain words", None)],
)  # fmt: skip
def test_sniff_reads_magic_bytes(body: bytes, expected: str | None) -> None:
    assert sniff(body[:16]) == expected


def test_visitor_uploads_an_image_and_sends_it(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    assert welcome.widget is not None and welcome.widget.upload_max_bytes == 10 * 1024 * 1024
    assert "image/png" in welcome.widget.upload_types
    agent, _ = porch.agent()
    response = _upload(porch, PNG, welcome.upload_token, name="Ünïcode shot.png")
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    ref = FileRef(**response.json())
    assert (ref.name, ref.size, ref.content_type) == ("Ünïcode shot.png", len(PNG), "image/png")
    assert ref.url == f"/files/{ref.id}/{quote(ref.name, safe='')}"

    send_frame(ws, SendMessage(client_id="f1", text="", file_id=ref.id))
    ack = receive_until(ws, MessageAck)
    assert ack.message.file == ref and ack.message.text == ""
    assert receive_until(agent, NewMessage).message.file == ref

    download = porch.client.get(ref.url)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("inline;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == DOWNLOAD_CSP
    # Stored in the data dir, never under the public web root.
    assert (porch.settings.data_dir / "files" / ref.id).read_bytes() == PNG
    assert not any(porch.settings.public_dir.rglob(ref.id))


def test_text_is_accepted_and_downloads_as_an_attachment(porch: Porch) -> None:
    _, welcome = porch.visitor()
    body = "Order 42\nstatus: ünïcode ok\n".encode()
    response = _upload(porch, body, welcome.upload_token, name="notes.txt")
    assert response.status_code == 201, response.text
    ref = FileRef(**response.json())
    assert ref.content_type == "text/plain"
    download = porch.client.get(ref.url)
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"] == "text/plain; charset=utf-8"
    assert porch.client.get(f"/files/{ref.id}/other.txt").status_code == 404
    assert porch.client.get(f"/files/f_nope/{ref.name}").status_code == 404


@pytest.mark.parametrize(
    ("body", "name", "content_type", "complaint"),
    [
        (EXE, "setup.exe", "application/octet-stream", "not one of the accepted types"),
        (EXE, "photo.png", "image/png", "not one of the accepted types"),
        (PNG, "photo.png", "image/jpeg", "not image/jpeg as declared"),
        (PNG, "report.pdf", "application/octet-stream", "does not fit"),
        (PNG, "photo.exe", "application/octet-stream", "does not fit"),
        (b"bin\x00ary", "data.txt", "text/plain", "not one of the accepted types"),
        (b"\xff\xfe bad utf-8", "data.txt", "text/plain", "not one of the accepted types"),
        (b"", "empty.txt", "text/plain", "not one of the accepted types"),
    ],
    ids=["exe", "exe-as-png", "declared-mismatch", "ext-mismatch", "unknown-ext", "nul",
         "not-utf8", "empty"],
)  # fmt: skip
def test_unsupported_or_mismatched_uploads_are_415(
    porch: Porch, body: bytes, name: str, content_type: str, complaint: str
) -> None:
    _, welcome = porch.visitor()
    response = _upload(porch, body, welcome.upload_token, name=name, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_type"
    assert complaint in response.json()["message"]
    assert list((porch.settings.data_dir / "files").iterdir()) == []  # nothing kept


def test_oversized_upload_is_413_whether_declared_or_streamed(settings: Settings) -> None:
    small = replace(settings, upload_max_bytes=100)
    with TestClient(create_app(small)) as client:
        porch = Porch(client=client, settings=small, clock=FakeClock())
        with porch._stack:
            _, welcome = porch.visitor()
            declared = _upload(porch, PNG + b"\x00" * 100, welcome.upload_token)
            assert declared.status_code == 413

            def chunks() -> object:
                yield PNG
                yield b"\x00" * 100  # streamed without a length: stopped while reading

            streamed = client.post(
                "/api/v1/files",
                content=chunks(),  # type: ignore[arg-type]
                headers={"authorization": f"Bearer {welcome.upload_token}", "x-filename": "a.png"},
            )
            assert streamed.status_code == 413
            assert list((small.data_dir / "files").iterdir()) == []
            assert _upload(porch, PNG, welcome.upload_token).status_code == 201  # 48 bytes fit


def test_forged_expired_or_missing_tokens_are_401(porch: Porch) -> None:
    _, welcome = porch.visitor()
    visitor_id, expiry, signature = welcome.upload_token.split(".")
    forged = [
        None,
        "",
        f"{int(visitor_id) + 1}.{expiry}.{signature}",  # someone else's id, our signature
        f"{visitor_id}.{int(expiry) + 10**9}.{signature}",  # a longer life
        issue_upload_token(b"another server", int(visitor_id), porch.settings.now_ms()),
        welcome.upload_token[:-2],
        welcome.identity.bs_mm,
    ]
    for token in forged:
        assert _upload(porch, PNG, token).status_code == 401, token
    porch.clock.advance(UPLOAD_TOKEN_TTL_MS / 1000 + 1)
    assert _upload(porch, PNG, welcome.upload_token).status_code == 401


def test_a_file_name_is_required_and_cleaned(porch: Porch) -> None:
    _, welcome = porch.visitor()
    assert _upload(porch, PNG, welcome.upload_token, name="").status_code == 400
    response = _upload(porch, PNG, welcome.upload_token, name="../../etc/evil.png")
    assert response.status_code == 201 and response.json()["name"] == "evil.png"
    by_query = porch.client.post(
        "/api/v1/files?name=q.png",
        content=PNG,
        headers={"authorization": f"Bearer {welcome.upload_token}"},
    )
    assert by_query.status_code == 201 and by_query.json()["name"] == "q.png"


def test_preflight_allows_the_widgets_cross_origin_upload(porch: Porch) -> None:
    response = porch.client.options(
        "/api/v1/files",
        headers={
            "origin": "https://shop.acme.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, x-filename",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert "x-filename" in response.headers["access-control-allow-headers"]


def test_only_the_uploader_can_attach_a_file(porch: Porch) -> None:
    owner_ws, owner = porch.visitor()
    ref = FileRef(**_upload(porch, PNG, owner.upload_token).json())
    thief, _ = porch.visitor()
    send_frame(thief, SendMessage(client_id="t1", text="mine now", file_id=ref.id))
    expect_error(thief, "bad_file")
    send_frame(owner_ws, SendMessage(client_id="o1", text="hi"))
    conversation_id = receive_until(owner_ws, MessageAck).message.conversation_id
    agent, _ = porch.agent()
    send_frame(agent, SendMessage("a1", "x", conversation_id=conversation_id, file_id=ref.id))
    assert receive_until(agent, ErrorFrame).code == "bad_file"  # agents cannot either


def test_agents_upload_with_their_token(porch: Porch) -> None:
    ws, _ = porch.visitor()
    send_frame(ws, SendMessage(client_id="v1", text="send me the invoice"))
    conversation_id = receive_until(ws, MessageAck).message.conversation_id
    agent, _ = porch.agent()
    response = _upload(porch, PDF, seeded_token(AGENT_EMAIL), name="invoice.pdf")
    assert response.status_code == 201, response.text
    ref = FileRef(**response.json())
    send_frame(agent, SendMessage("a1", "here", conversation_id=conversation_id, file_id=ref.id))
    got = receive_until(ws, NewMessage).message
    while got.author != "agent":  # the agent_joined message comes first
        got = receive_until(ws, NewMessage).message
    assert got.file == ref
    assert porch.client.get(ref.url).headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize("origin", ["http://evil.testserver", "https://testserver", "null", None])
def test_an_upload_with_the_cookie_from_another_origin_is_refused(
    porch: Porch, origin: str | None
) -> None:
    """SameSite=Strict sends the cookie from any page of the same site: only the Origin check
    stops such a page from uploading as the agent."""
    porch.login()  # sets the session cookie on the client
    headers = {"x-filename": "a.pdf", **({"origin": origin} if origin else {})}
    response = porch.client.post("/api/v1/files", content=PDF, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "forbidden_origin"
    assert not (porch.settings.data_dir / "files").exists() or not any(
        (porch.settings.data_dir / "files").iterdir()
    )


def test_the_console_uploads_with_its_cookie_from_its_own_origin(porch: Porch) -> None:
    porch.login()
    headers = {"x-filename": "a.pdf", "origin": "http://testserver"}
    response = porch.client.post("/api/v1/files", content=PDF, headers=headers)
    assert response.status_code == 201, response.text


def test_bearer_uploads_work_from_any_origin_even_beside_a_cookie(porch: Porch) -> None:
    porch.login()  # a cookie is there too, but the bearer token is what authenticates
    _, welcome = porch.visitor()
    for token in (seeded_token(AGENT_EMAIL), welcome.upload_token):
        headers = {
            "x-filename": "a.pdf",
            "origin": "https://shop.example",
            "authorization": f"Bearer {token}",
        }
        response = porch.client.post("/api/v1/files", content=PDF, headers=headers)
        assert response.status_code == 201, response.text
