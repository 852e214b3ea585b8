"""Validating a chat message, shared by the visitor and agent sockets."""

from __future__ import annotations

from porch_protocol import MAX_ID_CHARS, MAX_TEXT_CHARS, SendMessage


def message_problem(frame: SendMessage) -> str | None:
    """Why ``frame`` cannot be posted, or None when it can. The caller answers a problem with a
    non-fatal ``bad_message`` error and stores nothing."""
    # Stored exactly as sent; the strip only rejects blank messages (a file may go alone).
    if not frame.text.strip() and frame.file_id is None:
        return "text must not be empty"
    if len(frame.text) > MAX_TEXT_CHARS:
        return f"text must be at most {MAX_TEXT_CHARS} characters"
    if "\x00" in frame.text:
        # PostgreSQL's text cannot hold NUL: refused on every database alike, not a 500 on one.
        return "text must not hold a NUL character"
    if not frame.client_id:
        return "client_id must not be empty"
    if len(frame.client_id) > MAX_ID_CHARS:
        return f"client_id must be at most {MAX_ID_CHARS} characters"
    return None
