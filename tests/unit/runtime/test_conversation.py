"""The runtime's conversation features as stories: page status and forms, typing, receipts,
ending and rating, uploads and the visitor-data requests. No browser, no server, no sleeps: time
is an injected clock and the server is the frames a test feeds in."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from test_core import Harness, agent_message, welcome

from porch_protocol import (
    AgentBrief,
    ChangeTags,
    ChatMessage,
    CloseCode,
    ConversationDeleted,
    ConversationEnded,
    DeleteConversations,
    EndConversation,
    ErrorFrame,
    FileRef,
    FormAnswer,
    FormField,
    MessageAck,
    NewMessage,
    PageStatusChanged,
    RateConversation,
    ReadUpdated,
    RequestDone,
    SendMessage,
    SetTyping,
    SubmitOffline,
    SubmitPrechat,
    TrackEvent,
    TypingChanged,
    UpdateVisitor,
    VisitorProfile,
    WidgetSettings,
)
from porch_runtime.bridge import BridgeError
from porch_runtime.core import (
    NOT_CONNECTED,
    TYPING_IDLE_SECONDS,
    TYPING_TIMER,
    UploadOrder,
    link_parts,
    type_allowed,
    validate_answers,
)

FIELDS = (
    FormField(name="name", label="Your name", required=True),
    FormField(name="email", label="Email", kind="email", required=True),
    FormField(name="topic", label="Topic", kind="select", options=("sales", "support")),
)
UPLOADS = WidgetSettings(
    app_name="Shop", upload_max_bytes=1000, upload_types=("image/*", "application/pdf")
)
REF = {
    "id": "f1",
    "name": "a.png",
    "size": 10,
    "content_type": "image/png",
    "url": "/files/f1/a.png",
}


def visitor_message(seq: int, client_id: str, conversation_id: str = "c1") -> ChatMessage:
    return ChatMessage(
        id=f"v{seq}",
        conversation_id=conversation_id,
        seq=seq,
        author="visitor",
        author_name="",
        text=f"mine {seq}",
        created_at=seq,
        client_id=client_id,
    )


def ann_joined() -> ChatMessage:
    """The system notice of agent Ann joining conversation c1, as its first message."""
    return ChatMessage(
        id="s1",
        conversation_id="c1",
        seq=1,
        author="system",
        author_name="",
        text="Ann joined",
        created_at=1,
        event="agent_joined",
        agent=AgentBrief(id="a1", name="Ann"),
    )


def last(h: Harness, kind: str) -> dict[str, Any]:
    return h.renders(kind)[-1]


def sent(h: Harness, cls: type) -> list[Any]:
    return [f for f in h.frames if isinstance(f, cls)]


class Clock:
    def __init__(self) -> None:
        self.ms = 10_000

    def __call__(self) -> int:
        return self.ms


# --- page status and the offline form ---------------------------------------------------------


def test_page_status_from_the_welcome_and_its_changes_reach_the_panel() -> None:
    h = Harness()
    h.connect(page_status="away")
    assert last(h, "render.page_status")["status"] == "away"
    assert last(h, "render.surface")["surface"] == "chat"
    h.server(PageStatusChanged(status="offline"))
    assert last(h, "render.page_status")["status"] == "offline"
    assert last(h, "render.surface")["surface"] == "offline"
    h.server(PageStatusChanged(status="online"))
    assert last(h, "render.surface")["surface"] == "chat"


def test_an_open_conversation_keeps_its_composer_when_the_page_goes_offline() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.server(PageStatusChanged(status="offline"))
    assert last(h, "render.page_status")["status"] == "offline"
    assert last(h, "render.surface")["surface"] == "chat"
    h.server(ConversationEnded(conversation_id="c1", by="agent"))
    assert last(h, "render.surface")["surface"] == "offline"


def test_an_unchanged_status_is_not_rendered_again() -> None:
    h = Harness()
    h.connect(page_status="online")
    count = len(h.renders("render.page_status"))
    h.server(PageStatusChanged(status="online"))
    assert len(h.renders("render.page_status")) == count


def test_offline_form_is_validated_here_and_nothing_is_sent_when_invalid() -> None:
    h = Harness()
    h.connect(page_status="offline")
    h.panel("ui.offline", name=" ", email="not-an-email", message="", questions={})
    form = last(h, "render.form")
    assert form["form"] == "offline" and form["state"] == "invalid"
    assert form["errors"] == {"name": "required", "email": "email", "message": "required"}
    assert sent(h, SubmitOffline) == []


def test_offline_form_is_sent_with_the_apps_questions_and_confirmed_with_its_message() -> None:
    h = Harness()
    widget = WidgetSettings(app_name="Shop", offline_message="Back at 9", prechat_fields=FIELDS)
    h.connect(page_status="offline", widget=widget)
    assert [f["name"] for f in last(h, "render.surface")["fields"]] == ["name", "email", "topic"]
    h.panel(
        "ui.offline",
        name=" Ada ",
        email="ada@example.com",
        message="Call me",
        questions={"name": "Ada", "email": "ada@example.com", "topic": "sales"},
    )
    assert last(h, "render.form")["state"] == "sending"
    (frame,) = sent(h, SubmitOffline)
    assert (frame.name, frame.email, frame.message) == ("Ada", "ada@example.com", "Call me")
    assert frame.questions[2] == FormAnswer(name="topic", value="sales", label="Topic")
    h.server(RequestDone(request_id=frame.request_id))
    assert last(h, "render.form")["state"] == "done"
    surface = last(h, "render.surface")
    assert surface["surface"] == "offline_sent" and surface["offline_message"] == "Back at 9"
    # The server makes the form a conversation: its messages arrive; the confirmation stays.
    h.server(NewMessage(message=visitor_message(1, "offline-1")))
    assert last(h, "render.surface")["surface"] == "offline_sent"
    h.server(PageStatusChanged(status="online"))
    assert last(h, "render.surface")["surface"] == "chat"


def test_a_server_error_on_a_form_is_shown_and_the_form_can_be_sent_again() -> None:
    h = Harness()
    h.connect(page_status="offline")
    h.panel("ui.offline", name="Ada", email="ada@example.com", message="Hi", questions={})
    first = sent(h, SubmitOffline)[0]
    h.server(ErrorFrame(code="SERVER_ERROR", message="db down", request_id=first.request_id))
    form = last(h, "render.form")
    assert form["state"] == "error" and form["error"] == "SERVER_ERROR"
    assert last(h, "render.surface")["surface"] == "offline"
    h.panel("ui.offline", name="Ada", email="ada@example.com", message="Hi", questions={})
    assert len(sent(h, SubmitOffline)) == 2
    assert sent(h, SubmitOffline)[1].request_id != first.request_id


# --- the pre-chat form ------------------------------------------------------------------------


def test_prechat_form_shows_before_the_first_chat_and_holds_early_messages() -> None:
    h = Harness()
    h.start()
    h.panel("ui.send", client_id="early", text="typed before Python loaded")
    h.opened()
    h.server(welcome(widget=WidgetSettings(app_name="S", prechat_fields=FIELDS)))
    assert last(h, "render.surface")["surface"] == "prechat"
    assert sent(h, SendMessage) == []  # held until the form is answered, never dropped
    h.panel("ui.prechat", answers={"name": "Ada", "email": "ada@"})
    assert last(h, "render.form")["errors"] == {"email": "email"}
    h.panel("ui.prechat", answers={"name": "Ada", "email": "ada@example.com", "topic": "nope"})
    assert last(h, "render.form")["errors"] == {"topic": "choice"}
    h.panel("ui.prechat", answers={"name": "Ada", "email": "ada@example.com"})
    (frame,) = sent(h, SubmitPrechat)
    assert [a.name for a in frame.answers] == ["name", "email"]
    assert frame.answers[0].label == "Your name"
    h.server(RequestDone(request_id=frame.request_id))
    assert last(h, "render.surface")["surface"] == "chat"
    assert [f.client_id for f in sent(h, SendMessage)] == ["early"]


def test_no_prechat_form_again_after_an_ended_chat() -> None:
    h = Harness()
    widget = WidgetSettings(app_name="S", prechat_fields=FIELDS)
    h.connect(messages=(agent_message(1),), widget=widget, ended=True)
    h.panel("ui.send", client_id="again", text="me again")
    assert last(h, "render.surface")["surface"] == "chat"
    assert [f.client_id for f in sent(h, SendMessage)] == ["again"]


def test_the_end_button_goes_while_disconnected() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    assert last(h, "render.conversation")["can_end"] is True
    h.closed(1006)
    assert last(h, "render.conversation")["can_end"] is False
    h.panel("ui.end")
    assert sent(h, EndConversation) == []


def test_no_prechat_form_for_a_visitor_who_already_has_a_conversation() -> None:
    h = Harness()
    h.connect(
        messages=(agent_message(1),), widget=WidgetSettings(app_name="S", prechat_fields=FIELDS)
    )
    assert last(h, "render.surface")["surface"] == "chat"


# --- typing -----------------------------------------------------------------------------------


def test_typing_is_sent_once_then_stopped_after_the_idle_time_measured_on_the_clock() -> None:
    clock = Clock()
    h = Harness(now_ms=clock)
    h.connect(messages=(agent_message(1),))
    for _ in range(5):
        h.panel("ui.typing", typing=True)
        clock.ms += 500
    assert sent(h, SetTyping) == [SetTyping(typing=True)]
    assert h.timers[-1] == (TYPING_TIMER, TYPING_IDLE_SECONDS)
    # The timer fires 4 s after the first keystroke, but the last one was 2 s ago: re-armed.
    clock.ms = 10_000 + int(TYPING_IDLE_SECONDS * 1000)
    h.runtime.timer_fired(TYPING_TIMER)
    h.drain()
    assert sent(h, SetTyping) == [SetTyping(typing=True)]
    assert h.timers[-1] == (TYPING_TIMER, pytest.approx(TYPING_IDLE_SECONDS - 2.0))
    clock.ms += 2_000
    h.runtime.timer_fired(TYPING_TIMER)
    h.drain()
    assert sent(h, SetTyping) == [SetTyping(typing=True), SetTyping(typing=False)]


def test_sending_or_leaving_the_composer_stops_typing() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.panel("ui.typing", typing=True)
    h.panel("ui.send", client_id="c", text="done")
    assert [f.typing for f in sent(h, SetTyping)] == [True, False]
    h.panel("ui.typing", typing=True)
    h.panel("ui.typing", typing=False)
    h.panel("ui.typing", typing=False)
    assert [f.typing for f in sent(h, SetTyping)] == [True, False, True, False]


def test_no_typing_is_sent_before_there_is_a_conversation() -> None:
    h = Harness()
    h.connect()
    h.panel("ui.typing", typing=True)
    assert sent(h, SetTyping) == []


def test_agents_typing_is_shown_until_they_stop_or_their_message_arrives() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.server(TypingChanged(conversation_id="c1", author="agent", name="Ann", typing=True))
    assert last(h, "render.typing")["names"] == ["Ann"]
    h.server(TypingChanged(conversation_id="other", author="agent", name="Bob", typing=True))
    h.server(TypingChanged(conversation_id="c1", author="visitor", name="", typing=True))
    assert last(h, "render.typing")["names"] == ["Ann"]
    h.server(NewMessage(message=agent_message(2)))
    assert last(h, "render.typing")["names"] == []
    h.server(TypingChanged(conversation_id="c1", author="agent", name="Ann", typing=True))
    h.closed(1006)
    assert last(h, "render.typing")["names"] == []


# --- read receipts ----------------------------------------------------------------------------


def test_seen_goes_under_the_visitors_last_message_the_agent_read() -> None:
    h = Harness()
    messages = (visitor_message(1, "a"), agent_message(2), visitor_message(3, "b"))
    h.connect(messages=messages, agent_read_seq=1)
    assert last(h, "render.receipt")["key"] == "visitor:a"
    h.server(ReadUpdated(conversation_id="c1", reader="visitor", seq=3))
    h.server(ReadUpdated(conversation_id="c1", reader="agent", seq=2))
    assert last(h, "render.receipt")["key"] == "visitor:a"
    h.server(ReadUpdated(conversation_id="c1", reader="agent", seq=3))
    assert last(h, "render.receipt")["key"] == "visitor:b"


def test_no_receipt_before_the_agent_read_anything() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "a"),))
    assert last(h, "render.receipt")["key"] is None


# --- ending, rating and the next conversation -------------------------------------------------


def test_the_visitor_ends_rates_and_the_next_message_starts_a_new_conversation() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "a"), agent_message(2)), agent_read_seq=1)
    assert last(h, "render.conversation")["can_end"] is True
    h.panel("ui.rate", rating=1, comment="")
    assert sent(h, RateConversation) == []  # nothing to rate before the end
    h.panel("ui.end")
    assert sent(h, EndConversation) == [EndConversation()]
    h.server(ConversationEnded(conversation_id="c1", by="visitor"))
    state = last(h, "render.conversation")
    assert (state["ended"], state["can_end"], state["rating"]) == (True, False, "prompt")
    h.panel("ui.rate", rating=-1, comment="slow")
    assert sent(h, RateConversation) == [RateConversation(rating=-1, comment="slow")]
    assert last(h, "render.conversation")["rating"] == "thanks"
    h.panel("ui.send", client_id="n1", text="one more thing")
    assert h.renders("render.clear")
    assert h.runtime.conversation_id is None and h.runtime.messages == {}
    assert last(h, "render.receipt")["key"] is None
    assert last(h, "render.conversation")["ended"] is False
    # The server starts conversation c2; its seqs start at 1 again.
    new = visitor_message(1, "n1", conversation_id="c2")
    h.server(MessageAck(client_id="n1", message=new))
    assert h.runtime.conversation_id == "c2" and h.runtime.last_seq == 1
    assert last(h, "render.conversation")["can_end"] is True


def test_an_agent_ending_the_chat_prompts_for_a_rating_and_a_welcome_remembers_it() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.server(ConversationEnded(conversation_id="c1", by="agent"))
    assert last(h, "render.conversation")["rating"] == "prompt"
    returning = Harness()
    returning.connect(messages=(agent_message(1),), ended=True, rating=0)
    state = last(returning, "render.conversation")
    assert (state["ended"], state["rating"]) == (True, "none")


def test_messages_of_another_conversation_replace_the_old_ones() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1), agent_message(2)))
    other = ChatMessage(
        id="x1",
        conversation_id="c9",
        seq=1,
        author="agent",
        author_name="Ann",
        text="new",
        created_at=5,
    )
    h.server(NewMessage(message=other))
    assert list(h.runtime.messages) == ["x1"] and h.runtime.conversation_id == "c9"
    assert len(h.renders("render.clear")) == 1


def test_system_notices_do_not_count_as_unread() -> None:
    h = Harness()
    h.connect()
    h.server(NewMessage(message=ann_joined()))
    h.server(NewMessage(message=agent_message(2)))
    h.panel("ui.shown", seq=2, seen=False)
    assert h.events("unread_count_changed") == [{"count": 1}]



def test_only_messages_that_arrive_live_from_others_are_announced() -> None:
    """Screen readers hear a message once (docs/widget.md, "Accessibility"): not the history a
    welcome brings, on a reload or a reconnect, and not the visitor's own words."""
    h = Harness()
    h.connect(messages=(agent_message(1, "old news"),))
    h.server(NewMessage(message=agent_message(2, "fresh")))
    h.server(NewMessage(message=visitor_message(3, "k3")))
    h.reconnect()
    h.server(welcome(conversation_id="c1", messages=(agent_message(4, "missed"),), last_seq=4))
    said = {m["message"]["text"]: m["announce"] for m in h.renders("render.message")}
    assert said == {"old news": False, "fresh": True, "mine 3": False, "missed": False}

def test_system_messages_carry_the_event_and_agent_for_the_panel_to_word() -> None:
    h = Harness()
    h.connect()
    h.server(NewMessage(message=ann_joined()))
    view = last(h, "render.message")["message"]
    assert (view["event"], view["agent_name"]) == ("agent_joined", "Ann")


# --- uploads ----------------------------------------------------------------------------------


def attach(
    h: Harness, upload_id: str = "u1", size: int = 10, content_type: str = "image/png"
) -> None:
    h.panel("ui.attach", upload_id=upload_id, name="a.png", size=size, content_type=content_type)


@pytest.mark.parametrize(
    ("widget", "token", "size", "content_type", "error"),
    [
        (WidgetSettings(app_name="S"), "tok", 10, "image/png", "uploads_disabled"),
        (UPLOADS, "", 10, "image/png", "uploads_disabled"),
        (UPLOADS, "tok", 0, "image/png", "empty_file"),
        (UPLOADS, "tok", 1001, "image/png", "too_large"),
        (UPLOADS, "tok", 10, "text/html", "type_not_allowed"),
    ],
)
def test_files_are_checked_before_any_upload(
    widget: WidgetSettings, token: str, size: int, content_type: str, error: str
) -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), widget=widget, upload_token=token)
    attach(h, size=size, content_type=content_type)
    notice = last(h, "render.upload_error")
    assert notice["error"] == error and notice["name"] == "a.png"
    assert h.runtime.uploads_to_start() == [] and h.runtime.uploads == {}


def test_an_upload_becomes_a_file_message_and_a_failure_can_be_retried() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), widget=UPLOADS, upload_token="tok")
    assert last(h, "render.conversation")["can_upload"] is True
    attach(h)
    assert last(h, "render.message")["message"]["state"] == "uploading"
    assert h.runtime.uploads_to_start() == [
        UploadOrder("u1", "http://chat.test/api/v1/files", "tok", "image/png", True)
    ]
    h.runtime.upload_failed("u1", "http_500")
    h.drain()
    failed = last(h, "render.message")
    assert failed["key"] == "visitor:u1" and failed["message"]["state"] == "failed"
    assert failed["message"]["error"] == "http_500"
    h.panel("ui.retry", client_id="u1")
    assert [o.upload_id for o in h.runtime.uploads_to_start()] == ["u1"]
    h.runtime.upload_finished("u1", REF)
    h.drain()
    assert sent(h, SendMessage) == [SendMessage("u1", "", None, "f1")]
    pending = last(h, "render.message")["message"]
    assert pending["state"] == "sending"
    assert pending["file"]["url"] == "http://chat.test/files/f1/a.png"
    assert pending["file"]["thumbnail"] is True
    stored = ChatMessage(
        id="m9",
        conversation_id="c1",
        seq=2,
        author="visitor",
        author_name="",
        text="",
        created_at=3,
        client_id="u1",
        file=FileRef(**REF),
    )
    h.server(MessageAck(client_id="u1", message=stored))
    assert last(h, "render.message")["key"] == "visitor:u1"
    assert h.runtime.outbox == {} and h.runtime.uploads == {}


def test_a_bad_upload_answer_fails_the_upload_and_keeps_it_for_a_retry() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), widget=UPLOADS, upload_token="tok")
    attach(h)
    h.runtime.upload_finished("u1", {"id": 3})
    h.drain()
    assert last(h, "render.message")["message"]["error"] == "bad_response"
    assert "u1" in h.runtime.uploads and sent(h, SendMessage) == []


def test_an_upload_attached_while_disconnected_starts_at_the_next_welcome() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), widget=UPLOADS, upload_token="tok")
    h.closed(1006)
    attach(h)
    assert h.runtime.uploads_to_start() == []
    h.runtime.timer_fired("reconnect")
    h.drain()
    h.opened()
    h.server(welcome(conversation_id="c1", widget=UPLOADS, upload_token="tok2", last_seq=1))
    assert h.runtime.uploads_to_start() == [
        UploadOrder("u1", "http://chat.test/api/v1/files", "tok2", "image/png", True)
    ]


def test_svg_and_foreign_urls_are_never_thumbnails_or_links() -> None:
    h = Harness()
    h.connect()
    svg = FileRef(id="f", name="x.svg", size=1, content_type="image/svg+xml", url="/files/f/x.svg")
    evil = FileRef(
        id="g", name="y.png", size=1, content_type="image/png", url="javascript:alert(1)"
    )
    for i, ref in enumerate((svg, evil), start=1):
        h.server(
            NewMessage(
                message=ChatMessage(
                    id=f"f{i}",
                    conversation_id="c1",
                    seq=i,
                    author="agent",
                    author_name="Ann",
                    text="",
                    created_at=i,
                    file=ref,
                )
            )
        )
    views = [m["message"]["file"] for m in h.renders("render.message")[-2:]]
    assert views[0]["thumbnail"] is False and views[0]["url"].endswith("/files/f/x.svg")
    assert views[1]["url"] == "" and views[1]["thumbnail"] is False


# --- host commands ----------------------------------------------------------------------------


def _results(h: Harness) -> list[tuple[str, str | None, str]]:
    return [(m["id"], m["error"], m["message"]) for m in h.renders("host.result")]


def test_host_commands_become_requests_and_each_gets_one_result() -> None:
    h = Harness()
    h.connect()
    h.panel(
        "host.command",
        id="h1",
        name="visitor.update",
        args={"attributes": {"plan": "pro"}, "profile": {"name": "Ada"}},
    )
    h.panel(
        "host.command",
        id="h2",
        name="visitor.event",
        args={"name": "signup", "metadata": {"step": 2}},
    )
    h.panel("host.command", id="h3", name="tags.change", args={"add": ["vip"]})
    update, event, tags = sent(h, UpdateVisitor)[0], sent(h, TrackEvent)[0], sent(h, ChangeTags)[0]
    assert (update.profile, update.attributes) == (VisitorProfile(name="Ada"), {"plan": "pro"})
    assert (event.name, event.metadata, tags.add) == ("signup", {"step": 2}, ("vip",))
    assert len({update.request_id, event.request_id, tags.request_id}) == 3
    h.server(ErrorFrame(code="TAG_LIMIT_EXCEEDED", message="ten", request_id=tags.request_id))
    h.server(RequestDone(request_id=update.request_id))
    assert _results(h) == [("h3", "TAG_LIMIT_EXCEEDED", "ten"), ("h1", None, "")]
    h.closed(1006)
    assert _results(h)[2:] == [("h2", NOT_CONNECTED, "the connection was lost")]


def test_host_commands_before_the_welcome_wait_for_it_in_order() -> None:
    h = Harness()
    h.start()
    h.panel("host.command", id="h1", name="tags.change", args={"add": ["a"]})
    h.panel("host.command", id="h2", name="visitor.event", args={"name": "x"})
    h.drain()
    assert h.frames == [] and _results(h) == []
    h.opened()
    h.server(welcome())
    assert [type(f) for f in h.frames if isinstance(f, ChangeTags | TrackEvent)] == [
        ChangeTags,
        TrackEvent,
    ]


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("visitor.update", {"attributes": {"a": [1]}}, "INVALID_ATTRIBUTES"),
        ("visitor.update", {"attributes": "x"}, "INVALID_ATTRIBUTES"),
        ("visitor.event", {"name": ""}, "INVALID_EVENT_NAME"),
        ("visitor.event", {"name": "x", "metadata": {"a": None}}, "INVALID_ATTRIBUTES"),
        ("tags.change", {"add": "vip"}, "INVALID_TAGS"),
        ("tags.change", {"add": [1]}, "INVALID_TAGS"),
        ("no.such", {}, "UNKNOWN_COMMAND"),
    ],
)
def test_a_malformed_command_is_answered_with_its_code(
    name: str, args: dict[str, Any], code: str
) -> None:
    h = Harness()
    h.connect()
    h.panel("host.command", id="bad", name=name, args=args)
    assert [(i, e) for i, e, _ in _results(h)] == [("bad", code)]
    assert not sent(h, UpdateVisitor) and not sent(h, TrackEvent) and not sent(h, ChangeTags)


def test_a_command_without_an_id_cannot_be_answered_and_is_refused() -> None:
    h = Harness()
    h.connect()
    with pytest.raises(BridgeError, match="id"):
        h.panel("host.command", name="chat.end", args={})


def test_a_command_after_the_server_refused_the_visitor_fails_at_once() -> None:
    h = Harness()
    h.connect()
    h.closed(CloseCode.LOGIN_FAILED)
    h.panel("host.command", id="late", name="tags.change", args={"add": ["a"]})
    assert [(i, e) for i, e, _ in _results(h)] == [("late", "SESSION_EXPIRED")]


def test_chat_end_ends_the_open_conversation_and_answers() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "a"),))
    h.panel("host.command", id="end", name="chat.end")
    assert sent(h, EndConversation) and _results(h) == [("end", None, "")]


# --- pure helpers and the bridge --------------------------------------------------------------


def test_only_http_urls_become_links_and_markup_stays_text() -> None:
    text = "See https://ex.com/a?b=1. <b>bold</b> javascript:alert(1) (http://x.io/p)"
    parts = link_parts(text)
    assert [p.get("href") for p in parts if "href" in p] == [
        "https://ex.com/a?b=1",
        "http://x.io/p",
    ]
    assert "".join(p["text"] for p in parts) == text
    assert link_parts("<a href='http://evil'>x</a>") == [
        {"text": "<a href='"},
        {"text": "http://evil", "href": "http://evil"},
        {"text": "'>x</a>"},
    ]
    assert link_parts("plain") == [{"text": "plain"}]


MARKDOWN_LINK = "See [https://example.com](https://example.com)"


def test_an_agents_markdown_link_is_rendered_with_its_url_linked_on_every_load() -> None:
    """Issue 16: this message made the runtime raise, and it came back with every welcome."""
    for arrival in ("welcome", "live"):
        h = Harness()
        if arrival == "welcome":
            h.connect(messages=(agent_message(1, MARKDOWN_LINK),))
        else:
            h.connect()
            h.server(NewMessage(message=agent_message(1, MARKDOWN_LINK)))
        shown = last(h, "render.message")["message"]
        assert shown["text"] == MARKDOWN_LINK
        assert [p.get("href") for p in shown["parts"]] == [
            None,
            "https://example.com",
            None,
            "https://example.com",
            None,
        ]
        assert "".join(p["text"] for p in shown["parts"]) == MARKDOWN_LINK


def test_a_visitors_broken_url_is_shown_and_sent() -> None:
    """Issue 16: ``http://[x`` raised while the pending message was rendered: never sent."""
    h = Harness()
    h.connect()
    h.panel("ui.send", client_id="c-x", text="http://[x")
    assert SendMessage(client_id="c-x", text="http://[x") in h.frames
    pending = last(h, "render.message")
    assert pending["key"] == "visitor:c-x"
    assert pending["message"]["parts"] == [{"text": "http://[x"}]


def test_a_file_url_the_browser_could_not_use_is_dropped_not_raised() -> None:
    h = Harness()
    h.connect()
    ref = FileRef(**{**REF, "url": "http://[x/files/f1/a.png"})
    h.server(NewMessage(message=replace(agent_message(1, ""), file=ref)))
    assert last(h, "render.message")["message"]["file"]["url"] == ""


def test_answers_validation_and_allowed_types() -> None:
    assert validate_answers(FIELDS, {"name": "A", "email": "a@b.co"}) == {}
    assert validate_answers(FIELDS, {}) == {"name": "required", "email": "required"}
    assert type_allowed("image/webp", ("image/*",)) and type_allowed("x/y", ())
    assert not type_allowed("application/zip", ("image/*", "application/pdf"))


@pytest.mark.parametrize(
    "message",
    [
        {"v": 1, "type": "ui.rate", "rating": 2},
        {"v": 1, "type": "ui.rate", "rating": True},
        {"v": 1, "type": "ui.rate", "rating": 1, "comment": "x" * 1001},
        {"v": 1, "type": "ui.typing", "typing": "yes"},
        {"v": 1, "type": "ui.prechat", "answers": ["a"]},
        {"v": 1, "type": "ui.prechat", "answers": {"a": 1}},
        {"v": 1, "type": "ui.offline", "name": 3},
        {"v": 1, "type": "ui.attach", "upload_id": "u", "name": "a", "size": -1},
        {"v": 1, "type": "ui.attach", "upload_id": "", "name": "a", "size": 1},
    ],
)
def test_invalid_feature_messages_are_rejected(message: dict[str, Any]) -> None:
    h = Harness()
    h.connect()
    with pytest.raises(BridgeError):
        h.runtime.receive_host(message)


# --- the visitor's copy, and the visitor's deletion ---------------------------------------------


def test_the_transcript_is_the_shown_conversation_as_text() -> None:
    file_message = replace(agent_message(3, ""), file=FileRef(**REF), created_at=1_700_000_060_000)
    h = Harness(now_ms=lambda: 1_700_000_000_000)
    h.connect(
        messages=(
            replace(
                visitor_message(1, "c1"), text="hi", author_name="Ada", created_at=1_700_000_000_000
            ),
            replace(agent_message(2, "hello Ada"), created_at=1_700_000_030_000),
            file_message,
        ),
        widget=WidgetSettings(app_name="Shop"),
    )
    h.panel("ui.transcript")
    assert last(h, "render.transcript") == {
        "v": 1,
        "type": "render.transcript",
        "name": "chat-2023-11-14.txt",
        "text": "Chat with Shop\n\n"
        "2023-11-14 22:13 UTC Ada: hi\n"
        "2023-11-14 22:13 UTC Ann: hello Ada\n"
        "2023-11-14 22:14 UTC Ann: [file: a.png http://chat.test/files/f1/a.png]\n",
    }


def test_deleting_asks_the_server_and_clears_the_panel_once_it_is_done() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "c1"),))
    assert last(h, "render.conversation")["has_history"] is True
    h.panel("ui.delete")
    (request,) = [f for f in h.frames if isinstance(f, DeleteConversations)]
    assert h.renders("render.clear") == []  # nothing is gone before the server says so
    h.server(RequestDone(request_id=request.request_id))
    assert h.renders("render.clear") != []
    assert last(h, "render.conversation")["has_history"] is False
    assert last(h, "render.deleted")["error"] is None
    assert h.runtime.messages == {} and h.runtime.conversation_id is None


def test_deleting_while_disconnected_says_so_and_keeps_everything() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "c1"),))
    h.closed(1006)
    h.panel("ui.delete")
    assert last(h, "render.deleted")["error"] == NOT_CONNECTED
    assert h.runtime.conversation_id == "c1"


def test_a_conversation_deleted_elsewhere_leaves_this_tab_too() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "c1"),))
    h.server(ConversationDeleted(conversation_id="other"))
    assert h.runtime.conversation_id == "c1"
    h.server(ConversationDeleted(conversation_id="c1"))
    assert h.runtime.conversation_id is None
    assert h.renders("render.clear") != []
