"""The agent console's conversation features in its pure state (public/agent/console_state.py):
views, badges, search, typing, receipts, presence, tags, assignment, settings, links and the
dirty rows the list redraws."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_console_state import EN, cs, message, summary

from porch_protocol import (
    AGENT_SENDS,
    AgentBrief,
    AgentInfo,
    AgentPresenceChanged,
    AgentWelcome,
    AppSettings,
    AppUpdated,
    AssignConversation,
    BusinessHours,
    ChangeTags,
    ChatMessage,
    ConversationDeleted,
    ConversationEnded,
    ConversationHistory,
    ConversationSummary,
    ConversationUpdated,
    EndConversation,
    ErrorFrame,
    FileRef,
    FormField,
    LeaveConversation,
    NewMessage,
    OpenConversation,
    OpeningHours,
    ReadUpdated,
    ReadUpTo,
    RequestDone,
    SearchConversations,
    SearchResults,
    SendMessage,
    SetPresence,
    SetTyping,
    TagsUpdated,
    TypingChanged,
    UpdateApp,
    VisitorDetails,
    decode,
    encode,
)

ME = "a1"
ANN = AgentInfo(id="a2", name="Ann", email="ann@x", role="agent", presence="online")
BOB = AgentInfo(id="a3", name="Bob", email="bob@x", role="agent", presence="away")
SELF = AgentInfo(id=ME, name="Agent", email="agent@x", role="admin", presence="online")
APP = AppSettings(appid="demo", name="Demo", allowed_domains=("demo.example",))


def conv(cid: str, *, agents: tuple[str, ...] = (), **kw: object) -> ConversationSummary:
    """A summary; ``summary()``'s own keywords go to it, the others replace fields."""
    own = {k: kw.pop(k) for k in ("last_seq", "read", "updated_at", "name", "closed") if k in kw}
    return replace(summary(cid, **own), agent_ids=agents, **kw)  # type: ignore[arg-type]


def welcome(*summaries: ConversationSummary, **kw: object) -> AgentWelcome:
    fields: dict[str, object] = {"agents": (SELF, ANN, BOB), "role": "agent", **kw}
    return AgentWelcome(agent_id=ME, agent_name="Agent", conversations=summaries, **fields)  # type: ignore[arg-type]


def console(*summaries: ConversationSummary, **kw: object) -> cs.ConsoleState:
    state = cs.ConsoleState(EN)
    state.connection_started()
    state.connection_opened()
    state.receive_frame(welcome(*summaries, **kw))
    state.frames_to_send()
    state.take_dirty()
    return state


def opened(cid: str, *summaries: ConversationSummary, **kw: object) -> cs.ConsoleState:
    state = console(*summaries, **kw)
    state.open_conversation(cid)
    state.receive_frame(ConversationHistory(conversation_id=cid, messages=()))
    state.frames_to_send()
    state.take_dirty()
    return state


def ids(state: cs.ConsoleState) -> list[str]:
    return [s.id for s in state.visible()]


# --- login --------------------------------------------------------------------------------------


def test_a_cookie_session_says_hello_without_a_token() -> None:
    state = cs.ConsoleState(EN)
    state.connection_opened()
    (hello,) = state.frames_to_send()
    assert encode(hello) == '{"v":1,"type":"agent.hello","token":""}'


def test_the_welcome_brings_role_presence_colleagues_and_for_admins_the_app() -> None:
    state = console(role="admin", presence="away", app=APP)
    assert (state.role, state.presence, state.app) == ("admin", "away", APP)
    assert [a.name for a in state.colleagues()] == ["Ann", "Bob"]  # online first, not me


# --- views, badges, order -----------------------------------------------------------------------


def test_the_three_views_split_conversations_by_assignment() -> None:
    state = console(
        conv("free", updated_at=3),
        conv("mine", agents=(ME,), updated_at=2),
        conv("anns", agents=("a2",), updated_at=1),
        conv("ended", ended=True),
        conv("closed", closed=True),
    )
    assert state.view == "unassigned"
    assert ids(state) == ["free"]
    state.set_view("mine")
    assert ids(state) == ["mine"]
    state.set_view("all")
    assert ids(state) == ["free", "mine", "anns", "closed", "ended"]
    with pytest.raises(ValueError, match="view"):
        state.set_view("nobody")  # type: ignore[arg-type]


def test_a_colleague_joining_moves_a_chat_out_of_unassigned() -> None:
    state = console(conv("c1", last_seq=1))
    state.receive_frame(ConversationUpdated(conversation=conv("c1", last_seq=1, agents=("a2",))))
    assert ids(state) == []
    state.receive_frame(ConversationUpdated(conversation=conv("c1", last_seq=1, agents=(ME,))))
    state.set_view("mine")
    assert ids(state) == ["c1"]


def test_the_list_is_sorted_by_latest_activity() -> None:
    state = console(conv("a", updated_at=1), conv("b", updated_at=2))
    assert ids(state) == ["b", "a"]
    state.receive_frame(NewMessage(message=replace(message(1, cid="a"), created_at=10)))
    assert ids(state) == ["a", "b"]


def test_view_badges_count_conversations_with_unread_messages() -> None:
    state = console(
        conv("free1", last_seq=3, read=1),
        conv("free2", last_seq=2, read=2),
        conv("mine", agents=(ME,), last_seq=1),
    )
    assert [state.view_badge(v) for v in cs.VIEWS] == [1, 1, 2]
    state.receive_frame(NewMessage(message=message(3, cid="free2")))
    assert state.view_badge("unassigned") == 2


def test_keyboard_neighbours_follow_the_visible_list_and_stop_at_its_ends() -> None:
    state = console(conv("a", updated_at=3), conv("b", updated_at=2), conv("c", updated_at=1))
    assert state.neighbour(1) == "a"  # nothing open: the first
    assert state.neighbour(-1) == "c"  # or the last
    state.open_conversation("b")
    assert (state.neighbour(1), state.neighbour(-1)) == ("c", "a")
    state.open_conversation("c")
    assert state.neighbour(1) is None
    assert console().neighbour(1) is None


def test_closing_the_open_conversation_returns_to_the_list() -> None:
    state = opened("c1", conv("c1"))
    state.close_conversation()
    assert state.open_id is None and state.messages == {} and state.details is None


# --- dirty rows ---------------------------------------------------------------------------------


def test_a_summary_update_marks_only_its_own_row() -> None:
    state = console(*(conv(f"c{i}") for i in range(200)))
    state.receive_frame(ConversationUpdated(conversation=conv("c7", last_seq=1)))
    assert state.take_dirty() == (False, {"c7"})
    assert state.take_dirty() == (False, set())


def test_a_welcome_view_change_or_search_redraws_the_list() -> None:
    state = console(conv("c1"))
    state.set_view("all")
    assert state.take_dirty()[0] is True
    state.search("ada", "r1")
    state.receive_frame(SearchResults(request_id="r1", conversations=()))
    assert state.take_dirty()[0] is True


def test_opening_a_conversation_marks_the_old_and_new_rows_current() -> None:
    state = console(conv("a"), conv("b"))
    state.open_conversation("a")
    state.take_dirty()
    state.open_conversation("b")
    assert state.take_dirty()[1] >= {"a", "b"}


# --- search -------------------------------------------------------------------------------------


def test_search_asks_the_server_and_shows_its_results_across_views() -> None:
    state = console(conv("live", updated_at=5))
    state.search("  ada  ", "r1")
    assert state.frames_to_send() == [SearchConversations(request_id="r1", query="ada")]
    old = conv("old", agents=("a2",), ended=True, updated_at=1)  # type: ignore[arg-type]
    state.receive_frame(SearchResults(request_id="r1", conversations=(old, conv("live"))))
    assert ids(state) == ["live", "old"]
    state.open_conversation("old")  # a result opens like any conversation
    assert state.frames_to_send() == [OpenConversation(conversation_id="old")]


def test_a_stale_search_answer_is_ignored_and_a_blank_query_ends_the_search() -> None:
    state = console(conv("c1"), conv("c2"))
    state.search("a", "r1")
    state.search("ad", "r2")
    state.receive_frame(SearchResults(request_id="r1", conversations=(conv("c1"),)))
    assert state.search_results is None
    state.receive_frame(SearchResults(request_id="r2", conversations=(conv("c2"),)))
    assert ids(state) == ["c2"]
    state.search("", "r3")
    assert state.search_results is None and state.frames_to_send()[-1].query == "ad"
    assert ids(state) == ["c1", "c2"]


def test_a_failed_search_shows_no_results_and_the_error() -> None:
    state = console(conv("c1"))
    state.search("x", "r1")
    state.receive_frame(ErrorFrame(code="SERVER_ERROR", message="boom", request_id="r1"))
    assert ids(state) == [] and state.last_error == EN(cs.REQUEST_ERRORS["SERVER_ERROR"])


# --- typing -------------------------------------------------------------------------------------


def test_the_visitors_typing_shows_until_they_stop_or_their_message_arrives() -> None:
    state = opened("c1", conv("c1"))
    state.receive_frame(
        TypingChanged(conversation_id="c1", author="visitor", name="Ada", typing=True)
    )
    assert state.typing == {"c1": "Ada"}
    state.receive_frame(NewMessage(message=message(1)))
    assert state.typing == {}
    state.receive_frame(
        TypingChanged(conversation_id="c1", author="visitor", name="Ada", typing=True)
    )
    state.receive_frame(
        TypingChanged(conversation_id="c1", author="visitor", name="Ada", typing=False)
    )
    assert state.typing == {}
    state.receive_frame(
        TypingChanged(conversation_id="c1", author="agent", name="Ann", typing=True)
    )
    assert state.typing == {}


def test_agent_typing_is_throttled_and_stops_on_send_idle_and_emptying() -> None:
    state = opened("c1", conv("c1"))
    on = SetTyping(typing=True, conversation_id="c1")
    off = SetTyping(typing=False, conversation_id="c1")
    state.reply_edited("h", now=1_000)
    state.reply_edited("he", now=1_500)
    assert state.frames_to_send() == [on]
    state.reply_edited("hel", now=1_000 + cs.TYPING_REFRESH_MS)
    assert state.frames_to_send() == [off, on]  # a refresh, never more often
    state.send_reply("hello", "k1")
    assert state.frames_to_send()[0] == off
    state.reply_edited("x", now=20_000)
    state.typing_idle(now=20_000 + cs.TYPING_IDLE_MS - 1)
    assert state.frames_to_send() == [on]
    state.typing_idle(now=20_000 + cs.TYPING_IDLE_MS)
    assert state.frames_to_send() == [off]
    state.reply_edited("y", now=30_000)
    state.reply_edited("  ", now=30_100)
    assert state.frames_to_send() == [on, off]
    state.typing_stopped()  # blur with nothing typed: nothing to stop
    assert state.frames_to_send() == []


def test_typing_stops_in_the_old_conversation_when_another_is_opened() -> None:
    state = opened("c1", conv("c1"), conv("c2"))
    state.reply_edited("h", now=1)
    state.frames_to_send()
    state.open_conversation("c2")
    assert state.frames_to_send() == [
        SetTyping(typing=False, conversation_id="c1"),
        OpenConversation(conversation_id="c2"),
    ]


def test_no_typing_is_sent_to_an_ended_conversation() -> None:
    state = opened("c1", conv("c1", ended=True))  # type: ignore[arg-type]
    state.reply_edited("h", now=1)
    assert state.frames_to_send() == []


# --- receipts, end, files -----------------------------------------------------------------------


def test_read_receipts_keep_the_highest_seq_the_visitor_saw() -> None:
    state = opened("c1", conv("c1"))
    state.receive_frame(ReadUpdated(conversation_id="c1", reader="visitor", seq=4))
    state.receive_frame(ReadUpdated(conversation_id="c1", reader="visitor", seq=2))
    state.receive_frame(ReadUpdated(conversation_id="c1", reader="agent", seq=9))
    assert state.visitor_read == {"c1": 4}


def test_ending_a_chat_sends_the_frame_and_the_ended_chat_takes_no_reply() -> None:
    state = opened("c1", conv("c1"))
    assert state.can_reply()
    state.end_conversation()
    assert state.frames_to_send() == [EndConversation(conversation_id="c1")]
    state.receive_frame(ConversationEnded(conversation_id="c1", by="agent"))
    assert state.open_summary is not None and state.open_summary.ended
    assert not state.can_reply()
    assert state.take_dirty()[1] == {"c1"}


def test_a_file_reply_sends_the_file_id_with_empty_text() -> None:
    state = opened("c1", conv("c1"))
    pending = state.send_reply("", "k1", file_id="f1", file_name="a.png")
    assert pending is not None and pending.file_name == "a.png"
    assert state.frames_to_send() == [
        SendMessage(client_id="k1", text="", conversation_id="c1", file_id="f1")
    ]


def test_a_file_message_is_announced_by_its_name() -> None:
    state = opened("c1", conv("c1"))
    ref = FileRef(id="f", name="cat.png", size=3, content_type="image/png", url="/files/f/cat.png")
    state.receive_frame(NewMessage(message=replace(message(1, text=""), text="", file=ref)))
    assert state.announcements_to_make() == ["Ada: cat.png"]


def test_the_history_brings_the_visitors_details() -> None:
    state = console(conv("c1"))
    state.open_conversation("c1")
    details = VisitorDetails(uid="u", name="Ada", attributes={"plan": "pro"})
    state.receive_frame(ConversationHistory(conversation_id="c1", messages=(), visitor=details))
    assert state.details == details


# --- assignment ---------------------------------------------------------------------------------


def test_join_assign_and_leave_name_the_open_conversation() -> None:
    state = opened("c1", conv("c1"))
    state.join()
    state.assign("a2")
    state.leave()
    assert state.frames_to_send() == [
        AssignConversation(conversation_id="c1", agent_id=ME),
        AssignConversation(conversation_id="c1", agent_id="a2"),
        LeaveConversation(conversation_id="c1"),
    ]


def test_the_assignee_is_the_first_agent_of_the_chat() -> None:
    state = console()
    assert state.assignee(conv("c", agents=("a2", ME))) == ANN
    assert state.assignee(conv("c")) is None


# --- tags ---------------------------------------------------------------------------------------


def test_tags_are_changed_as_a_diff_at_the_version_shown() -> None:
    state = opened("c1", conv("c1", tags=("vip", "old"), tags_version=3))  # type: ignore[arg-type]
    state.change_tags(cs.parse_tags("vip, new ,, new"), "r1")
    assert state.frames_to_send() == [
        ChangeTags(request_id="r1", add=("new",), remove=("old",), conversation_id="c1", version=3)
    ]
    state.change_tags(("vip", "old"), "r2")  # no change: nothing to send
    assert state.frames_to_send() == []


def test_more_than_ten_tags_are_refused_before_sending() -> None:
    state = opened("c1", conv("c1"))
    state.change_tags(tuple(f"t{i}" for i in range(11)), "r1")
    assert state.frames_to_send() == []
    assert state.last_error == EN(cs.REQUEST_ERRORS["TAG_LIMIT_EXCEEDED"], n=cs.MAX_TAGS)


def test_a_version_conflict_is_explained_and_the_new_tags_apply_to_every_visitor_chat() -> None:
    a = replace(conv("a"), visitor_uid="u1")
    b = replace(conv("b"), visitor_uid="u1")
    state = opened("a", a, b, conv("other"))
    state.change_tags(("x",), "r1")
    state.receive_frame(ErrorFrame(code="VERSION_CONFLICT", message="stale", request_id="r1"))
    assert state.last_error is not None and "changed these tags" in state.last_error
    state.receive_frame(TagsUpdated(visitor_uid="u1", tags=("y",), version=2))
    assert [state.conversations[i].tags for i in ("a", "b", "other")] == [("y",), ("y",), ()]
    assert state.take_dirty()[1] == {"a", "b"}
    state.receive_frame(ConversationUpdated(conversation=replace(a, last_seq=1)))  # older tags
    assert state.conversations["a"].tags == ("y",)


def test_request_done_clears_the_error_of_that_request() -> None:
    state = opened("c1", conv("c1"))
    state.last_error = "old"
    state.change_tags(("x",), "r1")
    state.receive_frame(RequestDone(request_id="r1"))
    assert state.last_error is None and state.requests == {}


# --- presence -----------------------------------------------------------------------------------


def test_presence_is_set_by_choice_and_colleagues_presence_is_tracked() -> None:
    state = console(conv("c1", agents=("a2",)))
    state.set_presence("away")
    assert state.frames_to_send() == [SetPresence(status="away")]
    state.set_presence("away")
    assert state.frames_to_send() == []
    state.receive_frame(AgentPresenceChanged(agent=replace(ANN, presence="offline")))
    assert state.agents["a2"].presence == "offline"
    assert state.take_dirty()[1] == {"c1"}  # its row shows the assignee's presence
    state.receive_frame(AgentPresenceChanged(agent=replace(SELF, presence="online")))
    assert state.presence == "online"


def test_an_idle_agent_goes_away_and_comes_back_online_on_activity() -> None:
    state = console()
    state.note_activity(now=0)
    state.check_idle(now=cs.AWAY_AFTER_MS - 1)
    assert state.presence == "online"
    state.check_idle(now=cs.AWAY_AFTER_MS)
    assert state.presence == "away" and state.auto_away
    state.note_activity(now=cs.AWAY_AFTER_MS + 5)
    assert state.presence == "online"
    assert state.frames_to_send() == [SetPresence(status="away"), SetPresence(status="online")]


def test_activity_never_overrides_a_chosen_away() -> None:
    state = console()
    state.set_presence("away")
    state.note_activity(now=1)
    state.check_idle(now=cs.AWAY_AFTER_MS * 2)
    assert state.presence == "away"
    assert state.frames_to_send() == [SetPresence(status="away")]


def test_a_reconnection_restores_the_chosen_presence() -> None:
    state = console()
    state.set_presence("away")
    state.frames_to_send()
    state.connection_lost(1006)
    state.connection_opened()
    state.receive_frame(welcome(presence="online"))
    assert SetPresence(status="away") in state.frames_to_send()


# --- notifications ------------------------------------------------------------------------------


def test_a_new_unassigned_chat_notifies_once_and_a_colleagues_chat_does_not() -> None:
    state = console()
    first = replace(conv("c1", last_seq=1), last_message=message(1, text="Hello there"))
    state.receive_frame(ConversationUpdated(conversation=first))
    state.receive_frame(ConversationUpdated(conversation=replace(first, last_seq=2)))
    state.receive_frame(ConversationUpdated(conversation=conv("c2", agents=("a2",))))
    assert state.notifications_to_make() == [
        cs.Notification(conversation_id="c1", title="Ada", body="New chat: Hello there")
    ]
    assert state.notifications_to_make() == []


def test_an_offline_form_chat_is_announced_as_such() -> None:
    state = console()
    state.receive_frame(ConversationUpdated(conversation=replace(conv("c1"), offline=True)))
    assert state.notifications_to_make()[0].body == "Offline form"


def test_the_first_welcome_notifies_nothing_but_chats_missed_while_offline_do() -> None:
    state = console(conv("old"))
    assert state.notifications_to_make() == []
    state.connection_lost(1006)
    state.receive_frame(welcome(conv("old"), conv("new")))
    assert [n.conversation_id for n in state.notifications_to_make()] == ["new"]


# --- settings -----------------------------------------------------------------------------------


def test_only_admins_update_the_app_and_the_update_is_shown() -> None:
    with pytest.raises(PermissionError):
        console().update_app(APP, "r1")
    state = console(role="admin", app=APP)
    changed = replace(APP, name="Shop", offline_message="Back soon")
    state.update_app(changed, "r1")
    assert state.frames_to_send() == [UpdateApp(request_id="r1", app=changed)]
    state.receive_frame(AppUpdated(app=changed))
    assert state.app == changed


# --- wording and links --------------------------------------------------------------------------


def system(event: str, agent: str | None = None, text: str = "") -> ChatMessage:
    brief = AgentBrief(id="a2", name=agent) if agent else None
    base = message(1, author="system", text=text or "fallback")
    return replace(base, text=text, event=event, agent=brief)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("msg", "rating", "expected"),
    [
        (system("agent_joined", "Ann"), None, "Ann joined the chat"),
        (system("agent_left", "Ann"), None, "Ann left the chat"),
        (system("transferred", "Ann"), None, "The chat was transferred to Ann"),
        (system("chat_ended", "Ann"), None, "Ann ended the chat"),
        (system("chat_ended"), None, "The chat ended"),
        (system("rated"), 1, "The visitor rated the chat good"),
        (system("rated"), -1, "The visitor rated the chat bad"),
        (
            system("offline_form", text="Call me"),
            None,
            "Message left with the offline form: Call me",
        ),
        (system("prechat", text="Topic: billing"), None, "Pre-chat form: Topic: billing"),
        (replace(system("agent_joined"), text="Someone joined"), None, "Someone joined"),
    ],
)
def test_system_messages_are_worded_from_their_event(
    msg: ChatMessage, rating: int | None, expected: str
) -> None:
    assert cs.system_text(msg, EN, rating) == expected


def test_tags_typed_with_commas_are_trimmed_and_deduplicated() -> None:
    assert cs.parse_tags(" vip, new,, vip ,") == ("vip", "new")


def test_every_new_frame_the_console_sends_is_a_valid_agent_frame() -> None:
    state = opened("c1", conv("c1"), role="admin", app=APP)
    state.reply_edited("x", now=1)
    state.send_reply("", "k", file_id="f")
    state.end_conversation()
    state.join()
    state.leave()
    state.change_tags(("a",), "r1")
    state.set_presence("away")
    state.search("q", "r2")
    state.update_app(APP, "r3")
    frames = state.frames_to_send()
    assert len({type(f) for f in frames}) >= 9
    for frame in frames:
        assert decode(encode(frame), AGENT_SENDS) == frame


def test_read_up_to_follows_a_new_message_in_the_open_conversation() -> None:
    state = opened("c1", conv("c1"))
    state.receive_frame(NewMessage(message=message(1)))
    assert state.frames_to_send() == [ReadUpTo(seq=1, conversation_id="c1")]


# --- settings text fields -----------------------------------------------------------------------


def test_business_hours_round_trip_through_their_text_form() -> None:
    hours = cs.parse_hours("Europe/Berlin", "Mon 09:00-17:00\n\n sun 10:00 - 12:30 ", EN)
    assert hours == BusinessHours(
        timezone="Europe/Berlin",
        days=(OpeningHours(0, "09:00", "17:00"), OpeningHours(6, "10:00", "12:30")),
    )
    assert cs.format_hours(hours) == "Mon 09:00-17:00\nSun 10:00-12:30"
    assert cs.parse_hours("", "  ", EN) is None and cs.format_hours(None) == ""


@pytest.mark.parametrize(
    ("timezone", "text", "error"),
    [
        ("UTC", "Monday 9-5", "line 1"),
        ("UTC", "Mon 09:00-17:00\nXyz 09:00-10:00", "line 2"),
        ("UTC", "Mon 17:00-09:00", "before closing"),
        ("UTC", "Mon 09:00-24:30", "before closing"),
        ("", "Mon 09:00-17:00", "timezone"),
    ],
)
def test_bad_business_hours_name_the_line_and_the_rule(
    timezone: str, text: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        cs.parse_hours(timezone, text, EN)


def test_prechat_fields_round_trip_through_their_text_form() -> None:
    text = "name | Your name | text | required\ntopic | Topic | select | optional | Sales | Help"
    fields = cs.parse_fields(text, EN)
    assert fields == (
        FormField("name", "Your name", "text", True),
        FormField("topic", "Topic", "select", False, ("Sales", "Help")),
    )
    assert cs.parse_fields(cs.format_fields(fields), EN) == fields
    assert cs.parse_fields("email | Email", EN) == (FormField("email", "Email"),)


@pytest.mark.parametrize(
    ("text", "error"),
    [("justname", "line 1"), ("a | b | colour", "kind is one of"), ("a | b | select", "options")],
)
def test_bad_prechat_fields_name_the_line_and_the_rule(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        cs.parse_fields(text, EN)


def test_domains_are_one_per_line() -> None:
    assert cs.parse_lines(" shop.example \n\n*.shop.example") == ("shop.example", "*.shop.example")


def test_the_open_conversation_stays_listed_when_it_leaves_the_view() -> None:
    state = opened("c1", conv("c1"), conv("c2"))
    state.receive_frame(ConversationUpdated(conversation=conv("c1", agents=(ME,))))
    assert ids(state) == ["c1", "c2"]
    state.close_conversation()
    assert ids(state) == ["c2"]


def test_a_system_message_is_announced_in_the_consoles_words() -> None:
    state = opened("c1", conv("c1"))
    joined = replace(system("agent_joined", "Ann"), author_name="")
    state.receive_frame(NewMessage(message=joined))
    assert state.announcements_to_make() == ["Ann joined the chat"]


def test_a_deleted_conversation_leaves_the_list_and_closes_if_open() -> None:
    state = opened("c1", conv("c1"), conv("c2"))
    state.send_reply("still there?", "r1")
    state.frames_to_send()
    state.receive_frame(ConversationDeleted(conversation_id="c2"))
    assert state.open_id == "c1" and ids(state) == ["c1"]
    state.receive_frame(ConversationDeleted(conversation_id="c1"))
    assert state.open_id is None and state.messages == {} and ids(state) == []
    assert state.pending == {}  # nothing to resend into a conversation that is gone
    assert state.take_dirty()[0]  # the list is redrawn
