"""Read positions under concurrency (issue 12: the long fault profile found a visitor's stored
read position behind what the visitor had read: a tab's new socket and its old connection's
last frames marked reads at once, and the older mark, computed from a stale row, was written
last)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from porch_server.storage import store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.models import App, Conversation


def test_concurrent_marks_keep_the_highest_read_position(database_url: str) -> None:
    async def go() -> tuple[int, int]:
        engine = create_engine(database_url)
        sessions = session_factory(engine)
        try:
            async with sessions() as session:
                app = await session.scalar(select(App).where(App.appid == "acme"))
                assert app is not None
                visitor = await store.create_visitor(session, app, 1_000)
                conversation_id = (await store.create_conversation(session, visitor, 1_000)).id
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == conversation_id)
                    .values(last_seq=40)
                )
                await session.commit()

            async def mark(seq: int) -> None:
                async with sessions() as session:
                    conversation = await session.get(Conversation, conversation_id)
                    assert conversation is not None
                    for by in ("visitor", "agent"):
                        await store.mark_read(session, conversation, seq, by=by)  # type: ignore[arg-type]
                    await session.commit()

            await asyncio.gather(*(mark(seq) for seq in range(1, 41)))
            async with sessions() as session:
                stored = await session.get(Conversation, conversation_id)
                assert stored is not None
                return stored.visitor_read_seq, stored.agent_read_seq
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == (40, 40)
