"""Two sockets of one visitor at once (a tab's new socket while its old connection's last frames
are still handled, or two tabs), found by the long fault profile (issue 12)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from conftest import Porch, receive_until, send_frame
from porch_protocol import MessageAck, SendMessage
from porch_server.storage import store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.models import App, Conversation


def test_concurrent_marks_keep_the_highest_read_position(database_url: str) -> None:
    """Seed 191: the stored read position fell behind what the visitor had read: the older mark,
    computed from a row read before the newer one's commit, was written last."""
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


def test_two_tabs_writing_their_first_message_at_once_open_one_conversation(porch: Porch) -> None:
    """Issue 12 (the long fault profile, seed 667): a tab's message and its resend on a new
    socket, handled at once, each opened a conversation; the visitor's messages and the agent's
    replies were split between the two, and the runtime flipped from one to the other."""
    for attempt in range(6):
        first_tab, welcome = porch.visitor()
        second_tab, _ = porch.visitor(identity=welcome.identity)
        send_frame(first_tab, SendMessage(client_id=f"a{attempt}", text="one"))
        send_frame(second_tab, SendMessage(client_id=f"b{attempt}", text="two"))
        one = receive_until(first_tab, MessageAck).message.conversation_id
        two = receive_until(second_tab, MessageAck).message.conversation_id
        assert one == two
