"""Conversations deleted for good, told to whoever shows them; and the retention job that deletes
those older than the server's retention period (``PORCH_RETENTION_DAYS``) on a schedule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import anyio
from anyio.abc import TaskStatus
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from porch_protocol import ConversationDeleted
from porch_server.realtime.hub import Channel, Hub
from porch_server.storage import erasure

log = logging.getLogger(__name__)

DAY_MS = 24 * 60 * 60 * 1000


async def announce(hub: Hub, erased: erasure.Erased) -> None:
    """``conversation.deleted`` to the agents of each conversation's app and to its visitor."""
    for conversation_id, app_id, visitor_id in erased.conversations:
        gone = [ConversationDeleted(conversation_id=conversation_id)]
        await hub.publish(Channel.agents(app_id), gone)
        await hub.publish(Channel.visitor(visitor_id), gone)


async def purge(
    sessions: async_sessionmaker[AsyncSession], hub: Hub, data_dir: Path, before_ms: int
) -> erasure.Erased:
    """Delete every conversation last active before ``before_ms``, then its files, then say so."""
    async with sessions() as session:
        erased = await erasure.delete_expired(session, before_ms)
        await session.commit()
    erasure.remove_files(data_dir, erased.file_ids)
    await announce(hub, erased)
    if erased.conversations:
        log.info("retention: deleted %d conversations", len(erased.conversations))
    return erased


async def keep(
    sessions: async_sessionmaker[AsyncSession],
    hub: Hub,
    data_dir: Path,
    now_ms: Callable[[], int],
    days: float,
    interval: float,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Delete the conversations older than ``days`` now, then every ``interval`` seconds, until
    cancelled. Started with ``TaskGroup.start``, the first run is over before it returns: a
    server starts with nothing past the period. Each process of a cluster may run it: deleting
    is idempotent."""
    while True:
        try:
            await purge(sessions, hub, data_dir, now_ms() - int(days * DAY_MS))
        except Exception:  # a failed run must not stop the next ones (nor the server's start)
            log.exception("the retention job failed; it runs again in %s s", interval)
        task_status.started()
        task_status = anyio.TASK_STATUS_IGNORED
        await anyio.sleep(interval)
