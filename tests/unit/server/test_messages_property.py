"""Properties of message storage: text round-trips untouched; seqs stay unique under load."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conftest import Porch, expect_error, receive_frame, receive_until, send_frame
from porch_protocol import (
    MAX_TEXT_CHARS,
    AssignConversation,
    MessageAck,
    NewMessage,
    SendMessage,
)

#: Any text a message may hold: not blank, and no NUL (refused on every database, below).
_texts = st.text(min_size=1, max_size=MAX_TEXT_CHARS).filter(
    lambda t: t.strip() != "" and "\x00" not in t
)


def test_any_valid_text_round_trips_through_send_and_ack_as_is(porch: Porch) -> None:
    agent, _ = porch.agent()
    ws, welcome = porch.visitor()
    ids = (f"p{n}" for n in itertools.count())

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        database=None,  # examples depend on this socket, so replaying them elsewhere is moot
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(text=_texts)
    @example(text="<script>alert('x')</script>")
    @example(text="  padded\n")
    @example(text="emoji 👋🏽 and RTL שלום and \x01 and \u2028")
    @example(text="&lt;b&gt; &amp; {{template}} ${x}")
    def check(text: str) -> None:
        send_frame(ws, SendMessage(client_id=next(ids), text=text))
        ack = receive_frame(ws)
        assert isinstance(ack, MessageAck)
        assert ack.message.text == text
        seen = receive_until(agent, NewMessage)
        assert seen.message.text == text

    check()
    # ...and it was stored as is: a fresh hello reads it back from the database.
    _, again = porch.visitor(identity=welcome.identity, last_seq=0)
    assert "<script>alert('x')</script>" in [m.text for m in again.messages]


def test_a_message_with_nul_is_refused_and_the_socket_goes_on(porch: Porch) -> None:
    """PostgreSQL's text cannot hold NUL; rather than a server error on one database, every
    database refuses it with a clear, non-fatal error."""
    ws, _ = porch.visitor()
    send_frame(ws, SendMessage(client_id="nul", text="a\x00b"))
    error = expect_error(ws, "bad_message")
    assert "NUL" in error.message
    send_frame(ws, SendMessage(client_id="after", text="still here"))
    assert receive_until(ws, MessageAck).message.text == "still here"


def test_interleaved_senders_get_unique_consecutive_seqs(porch: Porch) -> None:
    visitor, _ = porch.visitor()
    send_frame(visitor, SendMessage(client_id="start", text="start"))
    conversation_id = receive_until(visitor, MessageAck).message.conversation_id
    agent, welcome = porch.agent()
    send_frame(
        agent, AssignConversation(conversation_id=conversation_id, agent_id=welcome.agent_id)
    )
    assert receive_until(visitor, NewMessage).message.seq == 2  # agent_joined
    # Send everything before reading any ack, so both handlers write at the same time.
    for n in range(15):
        send_frame(visitor, SendMessage(client_id=f"v{n}", text="v"))
        send_frame(agent, SendMessage(client_id=f"a{n}", text="a", conversation_id=conversation_id))
    seqs = [receive_until(visitor, MessageAck).message.seq for _ in range(15)]
    seqs += [receive_until(agent, MessageAck).message.seq for _ in range(15)]
    assert sorted(seqs) == list(range(3, 33))
