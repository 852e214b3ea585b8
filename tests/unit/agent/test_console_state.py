"""The agent console's pure state (public/agent/console_state.py), in CPython.

The module ships as a static file for the browser, not as a package, so it is loaded by path.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porch_protocol import (
    AGENT_SENDS,
    MAX_TEXT_CHARS,
    AgentHello,
    AgentWelcome,
    ChatMessage,
    ConversationHistory,
    ConversationSummary,
    ConversationUpdated,
    ErrorFrame,
    MessageAck,
    NewMessage,
    OpenConversation,
    ReadUpTo,
    RevokeVisitor,
    SendMessage,
    VisitorIdentity,
    VisitorWelcome,
    decode,
    encode,
)

_PATH = Path(__file__).resolve().parents[3] / "public" / "agent" / "console_state.py"
_spec = importlib.util.spec_from_file_location("console_state", _PATH)
assert _spec is not None and _spec.loader is not None
cs = importlib.util.module_from_spec(_spec)
sys.modules["console_state"] = cs
_spec.loader.exec_module(cs)

Connection = cs.Connection
#: The console's English strings, from its one table (the page hands console.py the agent's
#: language of the same table).
STRINGS = json.loads((_PATH.parents[2] / "loader" / "console_strings.json").read_text())
EN = cs.Words(STRINGS["en"])


def summary(
    cid: str = "c1",
    *,
    last_seq: int = 0,
    read: int = 0,
    updated_at: int = 0,
    name: str | None = "Ada",
    closed: bool = False,
) -> ConversationSummary:
    return ConversationSummary(
        id=cid,
        visitor_uid=f"uid-{cid}-0123456789",
        visitor_name=name,
        visitor_email=None,
        referer=None,
        source_title=None,
        last_seq=last_seq,
        agent_read_seq=read,
        updated_at=updated_at,
        closed=closed,
    )


def message(
    seq: int,
    *,
    cid: str = "c1",
    author: str = "visitor",
    text: str | None = None,
    client_id: str | None = None,
) -> ChatMessage:
    return ChatMessage(
        id=f"{cid}-m{seq}",
        conversation_id=cid,
        seq=seq,
        author=author,  # type: ignore[arg-type]
        author_name="Ada" if author == "visitor" else "Agent",
        text=text or f"message {seq}",
        created_at=1_000 + seq,
        client_id=client_id,
    )


def connected(*summaries: ConversationSummary) -> cs.ConsoleState:
    state = cs.ConsoleState(EN)
    state.connection_started()
    state.connection_opened("token")
    state.receive_frame(AgentWelcome(agent_id="a1", agent_name="Agent", conversations=summaries))
    assert state.frames_to_send() == [AgentHello(token="token")]
    return state


def opened(cid: str = "c1", *history: ChatMessage, **kw: object) -> cs.ConsoleState:
    state = connected(summary(cid, last_seq=len(history), **kw))  # type: ignore[arg-type]
    state.open_conversation(cid)
    state.receive_frame(ConversationHistory(conversation_id=cid, messages=history))
    state.frames_to_send()
    return state


# --- connection ----------------------------------------------------------------------------------


def test_a_login_connects_then_the_welcome_lists_conversations_newest_first() -> None:
    state = cs.ConsoleState(EN)
    assert state.connection is Connection.DISCONNECTED
    state.connection_started()
    assert state.connection is Connection.CONNECTING
    state.connection_opened("tok")
    assert state.frames_to_send() == [AgentHello(token="tok")]
    state.receive_frame(
        AgentWelcome(
            agent_id="a1",
            agent_name="Agent",
            conversations=(
                summary("old", updated_at=1),
                summary("new", updated_at=5),
                summary("mid", updated_at=3),
            ),
        )
    )
    assert state.connection is Connection.CONNECTED
    assert [s.id for s in state.conversation_order()] == ["new", "mid", "old"]


def test_a_dropped_socket_reconnects_but_a_refused_token_does_not() -> None:
    state = connected()
    assert state.connection_lost(1006) is True
    assert state.connection is Connection.RECONNECTING
    state.connection_started()
    assert state.connection is Connection.RECONNECTING  # still "re"connecting until the welcome
    assert state.connection_lost(4401) is False
    assert state.connection is Connection.DISCONNECTED


def test_after_a_reconnect_the_open_conversation_is_refetched_and_unacked_replies_resent() -> None:
    state = opened("c1", message(1))
    state.send_reply("are you there?", "cid-1")
    state.frames_to_send()
    state.connection_lost(1006)
    state.send_reply("hello?", "cid-2")  # typed while offline: kept, not sent
    assert state.frames_to_send() == []
    state.connection_started()
    state.connection_opened("token")
    state.receive_frame(
        AgentWelcome(
            agent_id="a1", agent_name="Agent", conversations=(summary("c1", last_seq=1, read=1),)
        )
    )
    assert state.frames_to_send() == [
        AgentHello(token="token"),
        OpenConversation(conversation_id="c1"),
        SendMessage(client_id="cid-1", text="are you there?", conversation_id="c1"),
        SendMessage(client_id="cid-2", text="hello?", conversation_id="c1"),
    ]


def test_a_welcome_without_the_open_conversation_closes_it() -> None:
    state = opened("c1", message(1))
    state.connection_lost(1006)
    state.receive_frame(AgentWelcome(agent_id="a1", agent_name="Agent", conversations=()))
    assert state.open_id is None and state.open_messages() == []


# --- reading -------------------------------------------------------------------------------------


def test_opening_a_conversation_fetches_its_history_then_reads_up_to_its_last_seq() -> None:
    state = connected(summary("c1", last_seq=2, read=0))
    state.open_conversation("c1")
    assert state.frames_to_send() == [OpenConversation(conversation_id="c1")]
    state.receive_frame(
        ConversationHistory(conversation_id="c1", messages=(message(1), message(2)))
    )
    assert [m.seq for m in state.open_messages()] == [1, 2]
    assert state.frames_to_send() == [ReadUpTo(seq=2, conversation_id="c1")]
    assert cs.unread_count(state.conversations["c1"]) == 0


def test_history_of_a_conversation_the_agent_left_is_ignored() -> None:
    state = connected(summary("c1", last_seq=1), summary("c2", last_seq=1))
    state.open_conversation("c1")
    state.open_conversation("c2")
    state.frames_to_send()
    state.receive_frame(ConversationHistory(conversation_id="c1", messages=(message(1),)))
    assert state.open_messages() == [] and state.frames_to_send() == []


def test_opening_an_unknown_conversation_raises() -> None:
    with pytest.raises(KeyError):
        connected().open_conversation("nope")


def test_a_new_visitor_message_in_the_open_conversation_is_shown_announced_and_read() -> None:
    state = opened("c1", message(1))
    state.receive_frame(NewMessage(message=message(2, text="still there?")))
    assert [m.seq for m in state.open_messages()] == [1, 2]
    assert state.announcements_to_make() == ["Ada: still there?"]
    assert state.frames_to_send() == [ReadUpTo(seq=2, conversation_id="c1")]
    state.receive_frame(NewMessage(message=message(2, text="still there?")))  # a duplicate
    assert len(state.open_messages()) == 2 and state.announcements_to_make() == []


def test_a_message_in_another_conversation_updates_its_summary_and_unread_count() -> None:
    state = opened("c1", message(1))
    state.receive_frame(ConversationUpdated(conversation=summary("c2", last_seq=1, updated_at=9)))
    state.receive_frame(NewMessage(message=message(2, cid="c2", text="hi")))
    other = state.conversations["c2"]
    assert other.last_message is not None and other.last_message.text == "hi"
    assert cs.unread_count(other) == 2
    assert state.conversation_order()[0].id == "c2"
    assert state.announcements_to_make() == [] and state.frames_to_send() == []


def test_a_late_summary_never_moves_sequence_numbers_back() -> None:
    state = opened("c1", message(1), message(2))
    state.receive_frame(ConversationUpdated(conversation=summary("c1", last_seq=1, read=0)))
    merged = state.conversations["c1"]
    assert (merged.last_seq, merged.agent_read_seq) == (2, 2)


# --- replying ------------------------------------------------------------------------------------


def test_a_reply_is_pending_until_acked_then_becomes_a_message() -> None:
    state = opened("c1", message(1))
    pending = state.send_reply("  Hi Ada  ", "cid-1")
    assert pending == cs.PendingMessage(client_id="cid-1", conversation_id="c1", text="Hi Ada")
    assert state.frames_to_send() == [
        SendMessage(client_id="cid-1", text="Hi Ada", conversation_id="c1")
    ]
    assert state.open_pending() == [pending]
    stored = message(2, author="agent", text="Hi Ada", client_id="cid-1")
    state.receive_frame(MessageAck(client_id="cid-1", message=stored))
    assert state.open_pending() == [] and state.open_messages()[-1] == stored
    state.receive_frame(NewMessage(message=stored))  # the server's echo to every agent
    assert len(state.open_messages()) == 2
    assert state.announcements_to_make() == []
    assert cs.unread_count(state.conversations["c1"]) == 0


def test_an_echo_before_the_ack_settles_the_pending_reply_silently() -> None:
    state = opened("c1", message(1))
    state.send_reply("Hi", "cid-1")
    state.receive_frame(
        NewMessage(message=message(2, author="agent", text="Hi", client_id="cid-1"))
    )
    assert state.open_pending() == [] and state.announcements_to_make() == []


def test_another_agents_reply_is_announced() -> None:
    state = opened("c1", message(1))
    state.receive_frame(NewMessage(message=message(2, author="agent", text="I'll take it")))
    assert state.announcements_to_make() == ["Agent: I'll take it"]


def test_blank_replies_and_replies_without_an_open_conversation_send_nothing() -> None:
    state = opened("c1")
    assert state.send_reply(" \n\t ", "x") is None
    assert connected(summary()).send_reply("hi", "x") is None
    assert state.frames_to_send() == []


def test_an_overlong_reply_is_refused() -> None:
    state = opened("c1")
    with pytest.raises(ValueError, match=str(MAX_TEXT_CHARS)):
        state.send_reply("x" * (MAX_TEXT_CHARS + 1), "x")
    assert state.pending == {}


def test_closing_the_visitor_session_revokes_the_open_conversation() -> None:
    state = opened("c1", message(1))
    state.revoke_visitor()
    assert state.frames_to_send() == [RevokeVisitor(conversation_id="c1")]
    connected(summary()).revoke_visitor()  # nothing open: nothing to revoke


# --- frames --------------------------------------------------------------------------------------


def test_an_error_frame_is_kept_for_display_until_the_next_welcome() -> None:
    state = connected()
    state.receive_frame(ErrorFrame(code="not_found", message="No such conversation"))
    assert state.last_error == "No such conversation"
    state.receive_frame(AgentWelcome(agent_id="a1", agent_name="Agent", conversations=()))
    assert state.last_error is None


def test_a_frame_meant_for_visitors_is_refused() -> None:
    welcome = VisitorWelcome(
        visitor_uid="u",
        fkid="f",
        identity=VisitorIdentity(bs="u", bs_mm="s"),
        source="initial",
        conversation_id=None,
        messages=(),
        last_read_seq=0,
        last_seq=0,
    )
    with pytest.raises(TypeError, match=r"visitor\.welcome"):
        connected().receive_frame(welcome)
    assert welcome.TYPE not in {t.TYPE for t in cs.AGENT_RECEIVES}


def test_everything_the_console_sends_is_a_valid_agent_frame() -> None:
    state = opened("c1", message(1))
    state.send_reply("hi", "cid")
    state.revoke_visitor()
    state.receive_frame(NewMessage(message=message(2)))
    frames = state.frames_to_send()
    assert frames
    for frame in frames:
        assert decode(encode(frame), AGENT_SENDS) == frame


# --- display helpers -----------------------------------------------------------------------------


def test_a_visitor_without_a_name_is_labelled_by_their_short_uid() -> None:
    assert cs.visitor_label(summary(name="Ada"), EN) == "Ada"
    assert cs.visitor_label(summary("c9", name=None), EN) == "Visitor uid-c9"
    assert cs.visitor_label(summary("c9", name="   "), EN) == "Visitor uid-c9"


def test_unread_is_last_seq_minus_agent_read_seq_and_never_negative() -> None:
    assert cs.unread_count(summary(last_seq=5, read=3)) == 2
    assert cs.unread_count(summary(last_seq=1, read=4)) == 0


@pytest.mark.parametrize(
    ("value", "caret", "expected"),
    [
        ("hello\n", 6, "hello"),
        ("hel\nlo", 4, "hello"),
        ("😀 hi\n", 6, "😀 hi"),  # the emoji is two UTF-16 units before the caret
        ("hello", 5, "hello"),  # no newline at the caret: untouched
        ("line\nnext", 2, "line\nnext"),
        ("\n", 0, "\n"),
    ],
)
def test_enter_to_send_removes_only_the_newline_the_enter_typed(
    value: str, caret: int, expected: str
) -> None:
    assert cs.remove_typed_newline(value, caret) == expected


@given(st.text(), st.data())
def test_removing_a_typed_newline_restores_the_text_before_it(
    text: str, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(text)))
    before, after = text[:cut], text[cut:]
    caret = len((before + "\n").encode("utf-16-le")) // 2
    assert cs.remove_typed_newline(before + "\n" + after, caret) == text
