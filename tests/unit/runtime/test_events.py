"""The conversation events the runtime raises for the host page (docs/host-api.md, "Conversation
events"): each exactly once per real occurrence, never for a welcome's history or a reconnect's
replay, never twice for a resend."""

from __future__ import annotations

from typing import Any

from test_conversation import FIELDS, REF, UPLOADS, ann_joined, attach, sent, visitor_message
from test_core import Harness, agent_message, welcome

from porch_protocol import (
    AgentBrief,
    ChatMessage,
    ConversationEnded,
    ErrorFrame,
    FileRef,
    MessageAck,
    NewMessage,
    PageStatusChanged,
    RequestDone,
    SendMessage,
    SubmitOffline,
    SubmitPrechat,
    TagsUpdated,
    WidgetSettings,
)
from porch_protocol.wire import SystemEvent
from porch_runtime import bridge

CONVERSATION_EVENTS = (
    "page_status_changed",
    "chat_started",
    "chat_ended",
    "chat_message",
    "agent_joined",
    "agent_left",
    "chat_rated",
    "prechat_submitted",
    "offline_submitted",
    "file_uploaded",
    "tags_updated",
)


def system(
    seq: int, event: SystemEvent, agent: AgentBrief | None = None, conversation_id: str = "c1"
) -> ChatMessage:
    return ChatMessage(
        id=f"s{seq}",
        conversation_id=conversation_id,
        seq=seq,
        author="system",
        author_name="",
        text=event,
        created_at=seq,
        event=event,
        agent=agent,
    )


def conversation_events(h: Harness) -> list[tuple[str, Any]]:
    return [
        (m["name"], m["payload"])
        for m in h.host
        if m["type"] == "host.event" and m["name"] in CONVERSATION_EVENTS
    ]


def forget(h: Harness) -> None:
    h.host.clear()


def test_the_events_are_declared_for_the_host_sdk() -> None:
    assert set(CONVERSATION_EVENTS) <= bridge.RUNTIME_EVENTS


# --- page status ------------------------------------------------------------------------------


def test_page_status_is_announced_at_the_welcome_and_then_only_when_it_changes() -> None:
    h = Harness()
    h.connect(page_status="away")
    assert h.events("page_status_changed") == [{"status": "away"}]
    h.server(PageStatusChanged(status="away"))
    h.server(PageStatusChanged(status="offline"))
    h.server(PageStatusChanged(status="offline"))
    assert h.events("page_status_changed") == [{"status": "away"}, {"status": "offline"}]
    h.reconnect()
    h.server(welcome(page_status="offline"))
    assert len(h.events("page_status_changed")) == 2  # the same status after a reconnect
    h.reconnect()
    h.server(welcome(page_status="online"))
    assert h.events("page_status_changed")[-1] == {"status": "online"}
    assert len(h.events("page_status_changed")) == 3


def test_the_welcome_raises_page_status_after_the_identity_and_before_activation() -> None:
    h = Harness()
    h.connect()
    names = [m["name"] for m in h.host if m["type"] == "host.event"]
    assert names.index("visitor_auth_ready") < names.index("page_status_changed")
    assert names.index("page_status_changed") < names.index("runtime_activated")


# --- messages and conversations ---------------------------------------------------------------


def test_the_visitors_first_message_starts_a_chat_once_and_is_announced_once() -> None:
    h = Harness()
    h.connect()
    forget(h)
    h.panel("ui.send", client_id="a", text="hello")
    assert conversation_events(h) == []  # not before the server stored it
    stored = visitor_message(1, "a")
    h.server(MessageAck(client_id="a", message=stored))
    h.server(MessageAck(client_id="a", message=stored))  # a resend's answer
    assert conversation_events(h) == [
        ("chat_started", {"conversation_id": "c1"}),
        (
            "chat_message",
            {
                "author": "visitor",
                "conversation_id": "c1",
                "seq": 1,
                "text": "mine 1",
                "name": "",
                "event": None,
            },
        ),
    ]


def test_a_resumed_conversation_and_its_history_raise_nothing() -> None:
    h = Harness()
    h.connect(
        messages=(ann_joined(), agent_message(2), visitor_message(3, "old")),
        agents=(AgentBrief(id="a1", name="Ann"),),
        tags=("vip",),
        ended=False,
    )
    assert [name for name, _ in conversation_events(h)] == ["page_status_changed"]
    forget(h)
    h.server(NewMessage(message=agent_message(4, "still there?")))
    assert conversation_events(h) == [
        (
            "chat_message",
            {
                "author": "agent",
                "conversation_id": "c1",
                "seq": 4,
                "text": "still there?",
                "name": "Ann",
                "event": None,
            },
        )
    ]


def test_messages_replayed_after_a_reconnect_are_not_announced() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.reconnect()
    forget(h)
    # Ann wrote twice and ended the chat while this tab was away.
    h.server(
        welcome(
            conversation_id="c1",
            messages=(agent_message(2), agent_message(3), system(4, "chat_ended")),
            last_seq=4,
            ended=True,
        )
    )
    assert conversation_events(h) == []
    h.server(NewMessage(message=agent_message(3)))  # a late duplicate
    assert conversation_events(h) == []


def test_a_message_stored_before_the_drop_is_announced_once_by_its_resend() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.panel("ui.send", client_id="lost", text="mine 2")
    h.reconnect()  # the server stored it, but the ack never came
    forget(h)
    stored = visitor_message(2, "lost")
    h.server(welcome(conversation_id="c1", messages=(stored,), last_seq=2))
    assert conversation_events(h) == []
    assert [f.client_id for f in sent(h, SendMessage)][-1] == "lost"  # resent, same client id
    h.server(MessageAck(client_id="lost", message=stored))
    h.server(MessageAck(client_id="lost", message=stored))
    assert [(name, p["seq"]) for name, p in conversation_events(h)] == [("chat_message", 2)]


def test_messages_from_the_visitors_other_tab_and_agents_are_announced_once() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    forget(h)
    other_tab = visitor_message(2, "tab-2")
    h.server(NewMessage(message=other_tab))
    h.server(NewMessage(message=other_tab))
    h.server(NewMessage(message=agent_message(3, "hi")))
    assert [(name, p["author"], p["seq"]) for name, p in conversation_events(h)] == [
        ("chat_message", "visitor", 2),
        ("chat_message", "agent", 3),
    ]


def test_the_visitor_ending_then_writing_again_ends_one_chat_and_starts_another() -> None:
    h = Harness()
    h.connect(messages=(visitor_message(1, "a"), agent_message(2)))
    forget(h)
    h.panel("ui.end")
    h.server(NewMessage(message=system(3, "chat_ended")))
    h.server(ConversationEnded(conversation_id="c1", by="visitor"))
    h.server(ConversationEnded(conversation_id="c1", by="visitor"))
    h.server(ConversationEnded(conversation_id="c0", by="agent"))  # not the shown one
    h.panel("ui.rate", rating=1, comment="great")
    h.server(NewMessage(message=system(4, "rated")))
    h.panel("ui.send", client_id="n1", text="one more thing")
    h.server(MessageAck(client_id="n1", message=visitor_message(1, "n1", conversation_id="c2")))
    assert [(name, p) for name, p in conversation_events(h) if name != "chat_message"] == [
        ("chat_ended", {"conversation_id": "c1", "by": "visitor"}),
        ("chat_rated", {"rating": 1, "comment": "great"}),
        ("chat_started", {"conversation_id": "c2"}),
    ]
    messages = [p for name, p in conversation_events(h) if name == "chat_message"]
    assert [(p["author"], p["event"], p["conversation_id"]) for p in messages] == [
        ("system", "chat_ended", "c1"),
        ("system", "rated", "c1"),
        ("visitor", None, "c2"),
    ]


def test_an_ended_chat_seen_at_the_welcome_is_not_announced() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), ended=True)
    h.server(ConversationEnded(conversation_id="c1", by="agent"))
    assert h.events("chat_ended") == []
    assert h.events("chat_started") == []


def test_an_agent_ending_the_chat_says_so() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.server(ConversationEnded(conversation_id="c1", by="agent"))
    assert h.events("chat_ended") == [{"conversation_id": "c1", "by": "agent"}]


def test_a_conversation_started_elsewhere_starts_here_once_and_a_stale_one_never() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), ended=True)
    forget(h)
    # Another tab (or an agent) opened conversation c2: its first message arrives live.
    h.server(NewMessage(message=visitor_message(1, "tab-2", conversation_id="c2")))
    h.server(NewMessage(message=agent_message(9)))  # a late message of c1, seen before
    assert h.events("chat_started") == [{"conversation_id": "c2"}]


def test_rating_is_announced_only_when_sent() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),))
    h.panel("ui.rate", rating=0, comment="")
    assert h.events("chat_rated") == []  # not ended: nothing was sent
    h.server(ConversationEnded(conversation_id="c1", by="agent"))
    h.panel("ui.rate", rating=-1, comment="slow")
    assert h.events("chat_rated") == [{"rating": -1, "comment": "slow"}]


# --- agents -----------------------------------------------------------------------------------


def test_agents_joining_and_leaving_live_are_announced() -> None:
    ann, bob = AgentBrief(id="a1", name="Ann"), AgentBrief(id="a2", name="Bob")
    h = Harness()
    h.connect()
    h.panel("ui.send", client_id="a", text="hi")
    h.server(MessageAck(client_id="a", message=visitor_message(1, "a")))
    forget(h)
    h.server(NewMessage(message=system(2, "agent_joined", ann)))
    h.server(NewMessage(message=system(2, "agent_joined", ann)))  # the same message again
    h.server(NewMessage(message=system(3, "transferred", bob)))  # Bob was not in the chat
    h.server(NewMessage(message=system(4, "transferred", ann)))  # Ann still is
    h.server(NewMessage(message=system(5, "agent_left", bob)))
    assert [(n, p) for n, p in conversation_events(h) if n != "chat_message"] == [
        ("agent_joined", {"id": "a1", "name": "Ann", "position": "", "image": ""}),
        ("agent_joined", {"id": "a2", "name": "Bob", "position": "", "image": ""}),
        ("agent_left", {"id": "a2", "name": "Bob"}),
    ]
    assert [p["event"] for n, p in conversation_events(h) if n == "chat_message"] == [
        "agent_joined",
        "transferred",
        "transferred",
        "agent_left",
    ]


def test_agents_already_in_a_resumed_chat_are_not_announced() -> None:
    ann = AgentBrief(id="a1", name="Ann", position="Support", image="https://x.test/a.png")
    h = Harness()
    h.connect(messages=(ann_joined(), agent_message(2)), agents=(ann,))
    h.server(NewMessage(message=system(3, "transferred", ann)))
    assert h.events("agent_joined") == []
    h.server(NewMessage(message=system(4, "agent_left", ann)))
    h.server(NewMessage(message=system(5, "agent_joined", ann)))
    assert h.events("agent_left") == [{"id": "a1", "name": "Ann"}]
    assert h.events("agent_joined") == [
        {"id": "a1", "name": "Ann", "position": "Support", "image": "https://x.test/a.png"}
    ]


# --- forms ------------------------------------------------------------------------------------


def test_the_prechat_form_is_announced_when_the_server_accepted_it() -> None:
    h = Harness()
    h.start()
    h.panel("ui.send", client_id="early", text="typed early")
    h.opened()
    h.server(welcome(widget=WidgetSettings(app_name="S", prechat_fields=FIELDS)))
    forget(h)
    h.panel("ui.prechat", answers={"name": "Ada", "email": "ada@"})  # invalid: not sent
    h.panel("ui.prechat", answers={"name": "Ada", "email": "ada@example.com"})
    first = sent(h, SubmitPrechat)[0]
    h.server(ErrorFrame(code="SERVER_ERROR", message="db down", request_id=first.request_id))
    assert conversation_events(h) == []
    h.panel("ui.prechat", answers={"name": " Ada ", "email": "ada@example.com", "topic": "sales"})
    frame = sent(h, SubmitPrechat)[1]
    # The server opens the conversation with the form's notice, then answers the request.
    h.server(NewMessage(message=system(1, "prechat")))
    h.server(RequestDone(request_id=frame.request_id))
    h.server(RequestDone(request_id=frame.request_id))  # answered twice: one event
    h.server(MessageAck(client_id="early", message=visitor_message(2, "early")))
    assert [name for name, _ in conversation_events(h)] == [
        "chat_started",
        "chat_message",
        "prechat_submitted",
        "chat_message",
    ]
    assert h.events("prechat_submitted") == [
        {
            "answers": [
                {"name": "name", "label": "Your name", "value": "Ada"},
                {"name": "email", "label": "Email", "value": "ada@example.com"},
                {"name": "topic", "label": "Topic", "value": "sales"},
            ]
        }
    ]


def test_a_form_sent_while_the_connection_drops_is_not_announced() -> None:
    h = Harness()
    h.connect(page_status="offline")
    h.panel("ui.offline", name="Ada", email="ada@example.com", message="Hi", questions={})
    frame = sent(h, SubmitOffline)[0]
    h.closed(1006)
    h.server(RequestDone(request_id=frame.request_id))  # too late: it was failed already
    assert h.events("offline_submitted") == []


def test_the_offline_form_is_announced_when_the_server_accepted_it() -> None:
    h = Harness()
    h.connect(page_status="offline", widget=WidgetSettings(app_name="S", prechat_fields=FIELDS))
    forget(h)
    h.panel(
        "ui.offline",
        name=" Ada ",
        email="ada@example.com",
        message="Call me",
        questions={"name": "Ada", "email": "ada@example.com", "topic": "support"},
    )
    (frame,) = sent(h, SubmitOffline)
    h.server(NewMessage(message=system(1, "offline_form")))
    offline = ChatMessage(
        id="v2",
        conversation_id="c1",
        seq=2,
        author="visitor",
        author_name="Ada",
        text="Call me",
        created_at=2,
    )
    h.server(NewMessage(message=offline))
    h.server(RequestDone(request_id=frame.request_id))
    assert [name for name, _ in conversation_events(h)] == [
        "chat_started",
        "chat_message",
        "chat_message",
        "offline_submitted",
    ]
    assert h.events("chat_message")[1]["name"] == "Ada"
    assert h.events("offline_submitted") == [
        {
            "name": "Ada",
            "email": "ada@example.com",
            "message": "Call me",
            "questions": [
                {"name": "name", "label": "Your name", "value": "Ada"},
                {"name": "email", "label": "Email", "value": "ada@example.com"},
                {"name": "topic", "label": "Topic", "value": "support"},
            ],
        }
    ]


# --- files and tags ---------------------------------------------------------------------------


def test_an_upload_is_announced_with_its_absolute_url_once_it_is_a_stored_message() -> None:
    h = Harness()
    h.connect(messages=(agent_message(1),), widget=UPLOADS, upload_token="tok")
    forget(h)
    attach(h)
    h.runtime.upload_finished("u1", REF)
    h.drain()
    assert conversation_events(h) == []
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
    h.server(MessageAck(client_id="u1", message=stored))
    assert h.events("file_uploaded") == [
        {
            "url": "http://chat.test/files/f1/a.png",
            "name": "a.png",
            "content_type": "image/png",
            "size": 10,
        }
    ]
    assert len(h.events("chat_message")) == 1
    # Another tab's upload is that tab's to announce; here it is a message.
    h.server(NewMessage(message=ChatMessage(**{**stored.__dict__, "id": "m10", "seq": 3})))
    assert len(h.events("file_uploaded")) == 1
    assert len(h.events("chat_message")) == 2


def test_tags_are_announced_when_the_list_changes() -> None:
    h = Harness()
    h.connect(tags=("vip",), tags_version=3)
    h.server(TagsUpdated(visitor_uid="u1", tags=("vip",), version=4))
    assert h.events("tags_updated") == []
    h.server(TagsUpdated(visitor_uid="u1", tags=("vip", "lead"), version=5))
    h.server(TagsUpdated(visitor_uid="u1", tags=("vip", "lead"), version=5))
    h.server(TagsUpdated(visitor_uid="u1", tags=(), version=6))
    assert h.events("tags_updated") == [{"tags": ["vip", "lead"]}, {"tags": []}]
    h.reconnect()
    h.server(welcome(tags=("changed", "offline"), tags_version=9))
    assert len(h.events("tags_updated")) == 2
