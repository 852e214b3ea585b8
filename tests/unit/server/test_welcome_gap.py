"""A socket joins its fan-out channels before its welcome reads what it carries (issue 12: the
fault suite found a reply committed between the welcome's read and the join reaching neither the
welcome nor the socket, until the visitor's next reconnect)."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from conftest import FRAME_TIMEOUT, Porch, receive_frame, receive_until, send_frame
from porch_protocol import (
    ChatMessage,
    MessageAck,
    NewMessage,
    SendMessage,
    VisitorHello,
    VisitorWelcome,
)
from porch_server.transport.ws import chat


def test_a_reply_committed_while_a_welcome_is_read_follows_that_welcome(
    porch: Porch, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_tab, welcome = porch.visitor()
    send_frame(first_tab, SendMessage(client_id="v1", text="hello"))
    ack = receive_until(first_tab, MessageAck)
    agent, _ = porch.agent()

    # The next welcome stops after reading the conversation's messages, until the reply is in.
    reading, replied = threading.Event(), threading.Event()
    agent_briefs = chat.agent_briefs

    async def paused(*args: Any) -> Any:
        briefs = await agent_briefs(*args)
        reading.set()
        await anyio.to_thread.run_sync(replied.wait)
        return briefs

    monkeypatch.setattr(chat, "agent_briefs", paused)
    tab = porch.connect("/ws/visitor")
    hello = VisitorHello(ticket=porch.ticket(), identity=welcome.identity, last_seq=ack.message.seq)
    send_frame(tab, hello)
    assert reading.wait(FRAME_TIMEOUT)
    reply = SendMessage(client_id="a1", text="reply", conversation_id=ack.message.conversation_id)
    send_frame(agent, reply)
    stored = receive_until(agent, MessageAck).message
    replied.set()

    tab_welcome = receive_frame(tab)
    assert isinstance(tab_welcome, VisitorWelcome)  # still the first frame
    assert stored.id not in {m.id for m in tab_welcome.messages}
    delivered: list[ChatMessage] = []
    while stored.id not in {m.id for m in delivered}:
        frame = receive_until(tab, NewMessage)  # fails after FRAME_TIMEOUT if it never comes
        delivered.append(frame.message)
    assert [m.seq for m in delivered] == sorted(m.seq for m in delivered)
