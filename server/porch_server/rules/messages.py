"""Validating a chat message, shared by the visitor and agent sockets."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import MAX_ID_CHARS, MAX_TEXT_CHARS, SendMessage
from porch_server.rules.visitor_data import RequestFailed
from porch_server.storage import store
from porch_server.storage.models import StoredFile


def message_problem(frame: SendMessage) -> str | None:
    """Why ``frame`` cannot be posted, or None when it can. The caller answers a problem with a
    non-fatal ``bad_message`` error and stores nothing."""
    # Stored exactly as sent; the strip only rejects blank messages (a file may go alone).
    if not frame.text.strip() and frame.file_id is None:
        return "text must not be empty"
    if len(frame.text) > MAX_TEXT_CHARS:
        return f"text must be at most {MAX_TEXT_CHARS} characters"
    if not frame.client_id:
        return "client_id must not be empty"
    if len(frame.client_id) > MAX_ID_CHARS:
        return f"client_id must be at most {MAX_ID_CHARS} characters"
    return None


async def attachment(
    session: AsyncSession, frame: SendMessage, uploader: str, uploader_id: int
) -> StoredFile | None:
    """The file ``frame`` attaches, which must be an upload of this very sender (so nobody can
    pass off someone else's file id); None without ``file_id``."""
    if frame.file_id is None:
        return None
    file = await store.file_by_id(session, frame.file_id)
    if file is None or (file.uploader, file.uploader_id) != (uploader, uploader_id):
        raise RequestFailed("bad_file", f"no upload {frame.file_id!r} of yours")
    return file
