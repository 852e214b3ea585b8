"""File uploads (``POST /api/v1/files``) and downloads (``GET /files/<id>/<name>``).

An upload is the raw request body, authorised by a visitor's upload token (from
``visitor.welcome``) or an agent's token (from any origin), or the session cookie (only from this
server's own origin: :func:`porch_server.transport.credentials.cookie_origin_ok`). It is
streamed to the
data dir (never under ``public/``) and stopped as soon as it passes the size limit (413). Its type
is decided by its first bytes, never by what the client claims: only the types in
:data:`UPLOAD_TYPES` are kept, and a declared type or a file name extension that disagrees with
the bytes is refused (415).
Downloads are served as attachments (images inline) with ``nosniff`` and a sandboxing CSP.
"""

from __future__ import annotations

import codecs
import os
import re
import secrets
import unicodedata
from pathlib import Path
from urllib.parse import quote, unquote

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from porch_server.context import Context, context_of
from porch_server.realtime.limits import Rule, retry_after, retry_message
from porch_server.rules.files import UPLOAD_TYPES
from porch_server.rules.security import verify_upload_token
from porch_server.storage import erasure, records, store
from porch_server.storage.models import StoredFile, Visitor
from porch_server.transport.credentials import CookieRefused, agent_from_request

#: Accepted content types, each with the first bytes that identify it (text has none: it is
#: accepted when the whole body is UTF-8 without control characters) and its file extensions.
_SIGNATURES: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ("image/jpeg", (b"\xff\xd8\xff",)),
    ("image/gif", (b"GIF87a", b"GIF89a")),
    ("application/pdf", (b"%PDF-",)),
)
_EXTENSIONS: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "text": "text/plain",
    "log": "text/plain",
    "csv": "text/plain",
    "md": "text/plain",
}
#: Shown inline by browsers; everything else downloads.
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: Claimed types that say nothing, so they never count as a mismatch.
_UNCLAIMED = frozenset({"", "application/octet-stream"})

MAX_NAME_CHARS = 255
DOWNLOAD_CSP = "default-src 'none'; sandbox"
_SNIFF_BYTES = 16
#: Control characters other than tab, newline, carriage return and form feed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def sniff(head: bytes) -> str | None:
    """The binary type the first bytes announce, or None (maybe text, decided later)."""
    for content_type, magics in _SIGNATURES:
        if any(head.startswith(m) for m in magics):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class _TextCheck:
    """Whether a stream is plain text: UTF-8 without NUL or other control characters."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.ok = True

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if not self.ok:
            return
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            self.ok = False
            return
        if _CONTROL.search(text):
            self.ok = False


def clean_name(raw: str) -> str | None:
    """A safe display and download name: the last path part, without control characters,
    at most 255 characters; None when nothing is left."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if name in ("", ".", ".."):
        return None
    return name[-MAX_NAME_CHARS:]


def _error(status: int, error: str, message: str) -> Response:
    return _with_cors(JSONResponse({"error": error, "message": message}, status))


def _with_cors(response: Response) -> Response:
    """Any origin may call with a bearer token (the widget's panel runs on the Porch origin or a
    static host's); the session cookie counts only from this server's own origin, and ``*``
    never lets another origin read an answer to a request sent with credentials."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _preflight() -> Response:
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "authorization, content-type, x-filename"
    response.headers["Access-Control-Max-Age"] = "600"
    return _with_cors(response)


async def _uploader(ctx: Context, request: Request) -> tuple[str, int, int] | None:
    """``(kind, row id, app id)`` of who may upload with this request, or None."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token:
        visitor_id = verify_upload_token(ctx.ticket_secret, token.strip(), ctx.now_ms())
        if visitor_id is not None:
            async with ctx.sessions() as session:
                visitor = await session.get(Visitor, visitor_id)
            if visitor is None or visitor.revoked_at is not None:
                return None
            return "visitor", visitor.id, visitor.app_id
    agent = await agent_from_request(ctx, request)
    if agent is None:
        return None
    return "agent", agent.id, agent.app_id


def _files_dir(ctx: Context) -> Path:
    return erasure.files_dir(ctx.settings.data_dir)


async def upload(request: Request) -> Response:
    """Store the body; answer ``201`` with the ``FileRef`` JSON, or an error object."""
    if request.method == "OPTIONS":
        return _preflight()
    ctx = context_of(request)
    try:
        who = await _uploader(ctx, request)
    except CookieRefused as exc:
        return _error(403, "forbidden_origin", str(exc))
    if who is None:
        return _error(401, "unauthorized", "send Authorization: Bearer <upload or agent token>")
    if who[0] == "visitor":
        wait = await ctx.limiter.take(Rule.UPLOADS_PER_VISITOR, str(who[1]))
        if wait:
            response = _error(429, "rate_limited", retry_message("uploads", wait))
            response.headers["Retry-After"] = retry_after(wait)
            return response
    try:
        raw_name = request.headers.get("x-filename") or request.query_params.get("name", "")
        name = clean_name(unquote(raw_name, errors="strict"))
    except UnicodeDecodeError:
        return _error(400, "bad_name", "the file name must be percent-encoded UTF-8")
    if name is None:
        return _error(400, "bad_name", "name the file in the X-Filename header or ?name=")
    limit = ctx.settings.upload_max_bytes
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > limit:
        return _error(413, "too_large", f"files may be at most {limit} bytes")

    file_id = "f_" + secrets.token_hex(12)
    folder = _files_dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_id
    size, head, text = 0, b"", _TextCheck()
    try:
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                if len(head) < _SNIFF_BYTES:
                    head += chunk[: _SNIFF_BYTES - len(head)]
                text.feed(chunk)
                await out.write(chunk)
        text.feed(b"", final=True)
        content_type = sniff(head) or ("text/plain" if text.ok and size else None)
        problem = _type_problem(content_type, request.headers.get("content-type", ""), name)
        if problem is not None:
            raise _Unsupported(problem)
    except _TooLarge:
        path.unlink(missing_ok=True)
        return _error(413, "too_large", f"files may be at most {limit} bytes")
    except _Unsupported as exc:
        path.unlink(missing_ok=True)
        return _error(415, "unsupported_type", str(exc))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    assert content_type is not None
    kind, uploader_id, app_id = who
    row = StoredFile(
        id=file_id,
        app_id=app_id,
        uploader=kind,
        uploader_id=uploader_id,
        name=name,
        size=size,
        content_type=content_type,
        created_at=ctx.now_ms(),
    )
    async with ctx.sessions() as session:
        await store.add_file(session, row)
        await session.commit()
    ref = records.file_ref(row)
    body = {
        "id": ref.id,
        "name": ref.name,
        "size": ref.size,
        "content_type": ref.content_type,
        "url": ref.url,
    }
    return _with_cors(JSONResponse(body, 201))


class _TooLarge(Exception):
    pass


class _Unsupported(Exception):
    pass


def _type_problem(content_type: str | None, declared: str, name: str) -> str | None:
    """Why a body of ``content_type`` (sniffed) may not be kept under this claim and name."""
    allowed = ", ".join(UPLOAD_TYPES)
    if content_type is None:
        return f"the content is not one of the accepted types ({allowed})"
    claimed = declared.split(";")[0].strip().lower()
    if claimed not in _UNCLAIMED and claimed != content_type:
        return f"the body is {content_type}, not {claimed} as declared"
    _, dot, extension = name.rpartition(".")
    if dot and _EXTENSIONS.get(extension.lower()) != content_type:
        return f"the name {name!r} does not fit its {content_type} content"
    return None


async def download(request: Request) -> Response:
    """The stored bytes; 404 unless both the id and the name match an upload."""
    ctx = context_of(request)
    file_id = request.path_params["file_id"]
    async with ctx.sessions() as session:
        row = await store.file_by_id(session, file_id)
    path = _files_dir(ctx) / file_id
    if row is None or row.name != request.path_params["name"] or not os.path.isfile(path):
        return JSONResponse({"error": "not_found", "message": "no such file"}, 404)
    disposition = "inline" if row.content_type in _INLINE_TYPES else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_CSP,
        # The widget shows images from another origin in a split deployment.
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Cache-Control": "private, max-age=86400",
    }
    media_type = row.content_type + ("; charset=utf-8" if row.content_type == "text/plain" else "")
    return FileResponse(path, media_type=media_type, headers=headers)
