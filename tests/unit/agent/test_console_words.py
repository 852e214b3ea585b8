"""The console in the agent's language: ``Words`` over the one string table
(loader/console_strings.json), handed to the pure state and its text parsers."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_console_features import console, conv, opened, system
from test_console_state import EN, STRINGS, cs, message, summary

from porch_protocol import ConversationUpdated, ErrorFrame, NewMessage

DE, JA, AR = (cs.Words(STRINGS[locale]) for locale in ("de", "ja", "ar"))


def test_words_fill_their_placeholders_and_leave_unknown_ones() -> None:
    assert EN("typing", name="Ada") == "Ada is typing…"
    assert JA("typing", name="Ada") == "Ada さんが入力中…"
    assert EN("typing", name="Ada", unused=1) == "Ada is typing…"
    assert EN("typing") == "{name} is typing…"
    with pytest.raises(KeyError):
        EN("no_such_key")


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (EN, "Ann joined the chat"),
        (DE, "Ann ist dem Chat beigetreten"),
        (AR, "Ann في الدردشة الآن"),
    ],
)
def test_system_messages_are_worded_in_the_agents_language(t: cs.Words, expected: str) -> None:
    assert cs.system_text(system("agent_joined", "Ann"), t) == expected


def test_a_nameless_visitor_is_labelled_in_the_agents_language() -> None:
    assert cs.visitor_label(summary("c9", name=None), JA) == "訪問者 uid-c9"


def test_switching_language_rewords_what_comes_next_and_redraws_every_row() -> None:
    state = opened("c1", conv("c1"))
    state.set_words(DE)
    assert state.take_dirty() == (True, set())
    state.receive_frame(ErrorFrame(code="SERVER_ERROR", message="x", request_id=None))
    assert state.last_error == DE("error_server")
    state.receive_frame(ErrorFrame(code="SOMETHING_NEW", message="Server words", request_id=None))
    assert state.last_error == "Server words"  # an unknown code: the server's own message
    arrived = replace(message(1, author="system", text=""), event="chat_ended")
    state.receive_frame(NewMessage(message=arrived))
    assert state.announcements_to_make() == ["Der Chat ist beendet"]
    with pytest.raises(ValueError, match="höchstens"):
        state.send_reply("x" * 100_000, "k1")


def test_new_chat_notifications_are_worded_in_the_agents_language() -> None:
    state = console()
    state.set_words(AR)
    first = replace(conv("c1", name=None), last_message=message(1, text="Hello"))
    state.receive_frame(ConversationUpdated(conversation=first))
    (note,) = state.notifications_to_make()
    assert (note.title, note.body) == ("زائر uid-c1", "دردشة جديدة: Hello")


def test_settings_errors_name_the_line_in_the_agents_language() -> None:
    with pytest.raises(ValueError, match="営業時間、2 行目"):
        cs.parse_hours("UTC", "Mon 09:00-17:00\nXyz 09:00-10:00", JA)
    with pytest.raises(ValueError, match="Felder vor dem Chat, Zeile 1: die Art ist eine von text"):
        cs.parse_fields("a | b | colour", DE)
    with pytest.raises(ValueError, match="'middle'"):
        cs.parse_widgets("64f0d3e3c0ffee0000000001/a | en | middle | #2563eb",
                         ("64f0d3e3c0ffee0000000001",), AR)
