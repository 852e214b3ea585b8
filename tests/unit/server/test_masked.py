"""``SendMessage.masked`` (the visitor's privacy filter, issue 13): stored with the message and
carried wherever the message goes: the acknowledgement, the agents' copy, a resend, the history
and the visitor's next welcome. An agent cannot set it."""

from __future__ import annotations

from conftest import Porch, receive_until, send_frame
from porch_protocol import (
    ConversationHistory,
    MessageAck,
    NewMessage,
    OpenConversation,
    SendMessage,
    VisitorHello,
    VisitorWelcome,
)

MASKED = "card •••• •••• •••• 1111"


def test_the_masked_flag_travels_and_is_stored_with_the_message(porch: Porch) -> None:
    agent, _ = porch.agent()
    visitor, _ = porch.visitor()
    # The first message opens the conversation (the full path), the second takes the fast one.
    for client_id in ("m1", "m2"):
        send_frame(visitor, SendMessage(client_id=client_id, text=MASKED, masked=("card",)))
        assert receive_until(visitor, MessageAck).message.masked == ("card",)
        assert receive_until(agent, NewMessage).message.masked == ("card",)
    # A resend gets the stored message back, flag included.
    send_frame(visitor, SendMessage(client_id="m2", text=MASKED, masked=("card",)))
    assert receive_until(visitor, MessageAck).message.masked == ("card",)


def test_history_and_welcome_carry_it_and_an_agent_cannot_set_it(porch: Porch) -> None:
    agent, _ = porch.agent()
    visitor, welcome = porch.visitor()
    send_frame(visitor, SendMessage(client_id="m1", text=MASKED, masked=("card", "pattern")))
    stored = receive_until(visitor, MessageAck).message
    send_frame(agent, OpenConversation(conversation_id=stored.conversation_id))
    history = receive_until(agent, ConversationHistory)
    assert [m.masked for m in history.messages] == [("card", "pattern")]
    send_frame(
        agent,
        SendMessage(
            client_id="a1", text="hi", conversation_id=stored.conversation_id, masked=("iban",)
        ),
    )
    assert receive_until(agent, MessageAck).message.masked == ()
    again = porch.connect("/ws/visitor")
    send_frame(again, VisitorHello(ticket=porch.ticket(), identity=welcome.identity))
    back = receive_until(again, VisitorWelcome)
    assert [m.masked for m in back.messages if m.author == "visitor"] == [("card", "pattern")]
