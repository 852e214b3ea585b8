"""Reading small JSON request bodies, whatever their declared content type."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from porch_protocol.json_text import JSONRejected, read_json

#: Largest body the JSON endpoints read; theirs are a few hundred bytes.
MAX_BODY_BYTES = 16 * 1024


class BadBody(ValueError):
    """The body is too large, not JSON, or not a JSON object; the text says which."""


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object. Content-Type is not checked: the bootstrap is sent as
    ``text/plain`` on purpose (a "simple" request needs no CORS preflight)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadBody(f"body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        body = read_json(b"".join(chunks))
    except JSONRejected as exc:
        raise BadBody(f"body must be a JSON object: {exc}") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body
