"""Deleting what visitors left: their conversations (at their own request, or once the retention
period has passed) or everything of one visitor (``porch visitor delete``).

The rows go in the caller's transaction (the caller commits); what is returned names the
conversations gone (to tell consoles) and the uploads whose bytes :func:`remove_files` then
deletes from the data dir, after the commit, so a failed transaction never loses a file that is
still referenced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from porch_server.storage.models import (
    ChatMessageRow,
    Conversation,
    StoredFile,
    Visitor,
    VisitorEvent,
)


@dataclass(frozen=True)
class Erased:
    #: (conversation id, app row id, visitor row id) of each conversation deleted.
    conversations: tuple[tuple[str, int, int], ...]
    #: Uploads deleted: their bytes are the caller's to remove (:func:`remove_files`).
    file_ids: tuple[str, ...]


def files_dir(data_dir: Path) -> Path:
    """Where uploads' bytes live, one file per upload id (written by the upload endpoint)."""
    return data_dir / "files"


async def delete_conversations(
    session: AsyncSession, where: ColumnElement[bool], extra_files: Sequence[str] = ()
) -> Erased:
    """Delete the conversations ``where`` selects (a condition on :class:`Conversation`), their
    messages, and the files attached to them, plus ``extra_files``."""
    found = (
        await session.execute(
            select(Conversation.id, Conversation.app_id, Conversation.visitor_id).where(where)
        )
    ).all()
    ids = [row[0] for row in found]
    attached: list[str] = []
    if ids:
        attached = [
            file_id
            for file_id in await session.scalars(
                select(ChatMessageRow.file_id).where(
                    ChatMessageRow.conversation_id.in_(ids), ChatMessageRow.file_id.is_not(None)
                )
            )
            if file_id is not None
        ]
        await session.execute(delete(ChatMessageRow).where(ChatMessageRow.conversation_id.in_(ids)))
        await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    file_ids = tuple(dict.fromkeys([*attached, *extra_files]))
    if file_ids:
        await session.execute(delete(StoredFile).where(StoredFile.id.in_(file_ids)))
    return Erased(tuple((r[0], r[1], r[2]) for r in found), file_ids)


async def delete_visitor_conversations(session: AsyncSession, visitor_id: int) -> Erased:
    """Every conversation of the visitor (the visitor stays, with no history)."""
    return await delete_conversations(session, Conversation.visitor_id == visitor_id)


async def delete_visitor(session: AsyncSession, visitor: Visitor) -> Erased:
    """The visitor and everything of theirs: conversations, messages, every file they uploaded
    (attached or not), their events, and their record."""
    uploads = list(
        await session.scalars(
            select(StoredFile.id).where(
                StoredFile.uploader == "visitor", StoredFile.uploader_id == visitor.id
            )
        )
    )
    erased = await delete_conversations(session, Conversation.visitor_id == visitor.id, uploads)
    await session.execute(delete(VisitorEvent).where(VisitorEvent.visitor_id == visitor.id))
    await session.delete(visitor)
    return erased


async def delete_expired(session: AsyncSession, before_ms: int) -> Erased:
    """Conversations whose last activity is older than ``before_ms`` (the retention period)."""
    return await delete_conversations(session, Conversation.updated_at < before_ms)


def remove_files(data_dir: Path, file_ids: Iterable[str]) -> None:
    """Delete uploads' bytes (after the transaction that deleted their rows committed)."""
    for file_id in file_ids:
        (files_dir(data_dir) / file_id).unlink(missing_ok=True)
