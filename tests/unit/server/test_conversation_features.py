"""Presence and page status, assignment, typing, read receipts, ending and rating, history and
search: the conversation features, over real sockets against a real SQLite file."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.testclient import WebSocketTestSession

from conftest import (
    ADMIN_EMAIL,
    SECRET,
    FakeClock,
    Porch,
    TestClient,
    expect_error,
    receive_frame,
    receive_until,
    run_db,
    seed_app,
    send_frame,
)
from porch_protocol import (
    AgentPresenceChanged,
    AssignConversation,
    BusinessHours,
    ConversationEnded,
    ConversationHistory,
    ConversationUpdated,
    EndConversation,
    ErrorFrame,
    LeaveConversation,
    MessageAck,
    NewMessage,
    OpenConversation,
    OpeningHours,
    PageStatusChanged,
    RateConversation,
    ReadUpdated,
    ReadUpTo,
    SearchConversations,
    SearchResults,
    SendMessage,
    SetPresence,
    SetTyping,
    TypingChanged,
    VisitorProfile,
)
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.rules import apps
from porch_server.storage import store


def _say(ws: WebSocketTestSession, client_id: str, text: str = "hello") -> MessageAck:
    send_frame(ws, SendMessage(client_id=client_id, text=text))
    return receive_until(ws, MessageAck)


def _set_hours(porch: Porch, hours: BusinessHours | None) -> None:
    async def work(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, "acme")
        assert app is not None
        app.business_hours = apps.hours_to_json(hours)
        await session.commit()

    run_db(porch.settings.database_url, work)


# --- presence and page status -------------------------------------------------------------------


def test_page_status_follows_agent_presence(porch: Porch) -> None:
    visitor, welcome = porch.visitor()
    assert welcome.page_status == "offline"  # nobody is connected
    assert porch.bootstrap()["page_status"] == "offline"
    boss, _ = porch.agent(email=ADMIN_EMAIL)
    assert receive_frame(visitor) == PageStatusChanged(status="online")
    assert porch.bootstrap()["page_status"] == "online"

    ann, ann_welcome = porch.agent()
    ann_info = receive_until(boss, AgentPresenceChanged).agent
    assert (ann_info.id, ann_info.presence) == (ann_welcome.agent_id, "online")
    send_frame(boss, SetPresence(status="away"))
    assert receive_until(ann, AgentPresenceChanged).agent.presence == "away"
    send_frame(ann, SetPresence(status="away"))
    assert receive_frame(visitor) == PageStatusChanged(status="away")  # everyone is away
    send_frame(ann, SetPresence(status="online"))
    assert receive_frame(visitor) == PageStatusChanged(status="online")

    ann.close()
    gone = receive_until(boss, AgentPresenceChanged).agent
    while gone.presence != "offline":
        gone = receive_until(boss, AgentPresenceChanged).agent
    assert gone.id == ann_welcome.agent_id
    assert receive_frame(visitor) == PageStatusChanged(status="away")  # only Boss, away

    _, again = porch.agent(email=ADMIN_EMAIL)  # the chosen presence is kept across logins
    assert again.presence == "away"


def test_welcome_tells_role_team_and_admins_the_settings(porch: Porch) -> None:
    _, ann = porch.agent()
    assert (ann.role, ann.presence, ann.app) == ("agent", "online", None)
    _, boss = porch.agent(email=ADMIN_EMAIL)
    assert boss.role == "admin" and boss.app is not None and boss.app.appid == "acme"
    team = {a.email: a for a in boss.agents}
    assert team["ann@acme.test"].presence == "online" and team[ADMIN_EMAIL].role == "admin"


def test_outside_business_hours_the_page_is_offline(porch: Porch) -> None:
    # The fake clock says Tuesday 2023-11-14 22:13 UTC: closed in Berlin (23:13).
    _set_hours(porch, BusinessHours("Europe/Berlin", (OpeningHours(1, "09:00", "17:00"),)))
    porch.agent()
    _, welcome = porch.visitor()
    assert welcome.page_status == "offline"
    _set_hours(porch, BusinessHours("Europe/Berlin", (OpeningHours(1, "09:00", "23:30"),)))
    _, welcome = porch.visitor()
    assert welcome.page_status == "online"


def test_opening_time_reaches_connected_visitors_without_anyone_acting(
    settings: Settings, clock: FakeClock
) -> None:
    # The fake clock starts on Tuesday 2023-11-14 at 22:13:20 UTC.
    quick = replace(settings, status_check_interval=0.02)
    with TestClient(create_app(quick)) as client:
        porch = Porch(client=client, settings=quick, clock=clock)
        with porch._stack:
            _set_hours(porch, BusinessHours("UTC", (OpeningHours(1, "22:14", "23:00"),)))
            porch.agent()
            visitor, welcome = porch.visitor()
            assert welcome.page_status == "offline"
            clock.advance(60)  # 22:14:20: open
            assert receive_frame(visitor) == PageStatusChanged(status="online")
            clock.advance(3600)  # 23:14:20: closed again
            assert receive_frame(visitor) == PageStatusChanged(status="offline")


# --- assignment ---------------------------------------------------------------------------------


def test_join_transfer_and_leave_post_system_messages(porch: Porch) -> None:
    visitor, visitor_welcome = porch.visitor()
    conversation_id = _say(visitor, "v1").message.conversation_id
    ann, ann_welcome = porch.agent()
    boss, boss_welcome = porch.agent(email=ADMIN_EMAIL)

    send_frame(ann, AssignConversation(conversation_id, ann_welcome.agent_id))
    joined = receive_until(visitor, NewMessage).message
    assert (joined.author, joined.event) == ("system", "agent_joined")
    assert joined.agent is not None and joined.agent.id == ann_welcome.agent_id
    update = receive_until(boss, ConversationUpdated).conversation
    assert update.agent_ids == (ann_welcome.agent_id,)

    send_frame(ann, AssignConversation(conversation_id, boss_welcome.agent_id))  # transfer
    moved = receive_until(visitor, NewMessage).message
    assert (moved.event, moved.agent and moved.agent.name) == ("transferred", "Boss")
    _, again = porch.visitor(identity=visitor_welcome.identity)
    assert [a.name for a in again.agents] == ["Boss"]

    send_frame(ann, LeaveConversation(conversation_id))
    expect_error_skipping(ann, "not_in_conversation")
    send_frame(boss, LeaveConversation(conversation_id))
    left = receive_until(visitor, NewMessage).message
    assert (left.event, left.agent and left.agent.name) == ("agent_left", "Boss")
    send_frame(ann, AssignConversation(conversation_id, "999"))
    expect_error_skipping(ann, "not_found")


def expect_error_skipping(ws: WebSocketTestSession, code: str) -> ErrorFrame:
    """The next error frame (other frames may come first) has ``code``."""
    frame = receive_until(ws, ErrorFrame)
    assert frame.code == code, frame
    return frame


def test_agents_cannot_assign_in_another_apps_conversation(porch: Porch) -> None:
    visitor, _ = porch.visitor()
    conversation_id = _say(visitor, "v1").message.conversation_id
    seed_app(porch.settings.database_url, appid="other", secret=SECRET, agent_email="o@o.test")
    other, welcome = porch.agent(email="o@o.test")
    for frame in (
        AssignConversation(conversation_id, welcome.agent_id),
        LeaveConversation(conversation_id),
        EndConversation(conversation_id),
        SetTyping(True, conversation_id),
        SearchConversations("s1", "hello"),
    ):
        send_frame(other, frame)
        if isinstance(frame, SearchConversations):
            assert receive_until(other, SearchResults).conversations == ()
        else:
            expect_error(other, "not_found")


# --- typing and read receipts -------------------------------------------------------------------


def test_typing_is_relayed_both_ways_and_never_stored(porch: Porch) -> None:
    visitor, welcome = porch.visitor(profile=VisitorProfile(name="Vic"))
    conversation_id = _say(visitor, "v1").message.conversation_id
    ann, _ = porch.agent()
    boss, _ = porch.agent(email=ADMIN_EMAIL)
    send_frame(visitor, SetTyping(typing=True))
    expected = TypingChanged(conversation_id, "visitor", "Vic", True)
    assert receive_until(ann, TypingChanged) == expected
    assert receive_until(boss, TypingChanged) == expected
    send_frame(ann, SetTyping(typing=True, conversation_id=conversation_id))
    assert receive_until(visitor, TypingChanged) == TypingChanged(
        conversation_id, "agent", "Ann", True
    )
    assert receive_until(boss, TypingChanged).author == "agent"
    send_frame(ann, SetTyping(typing=True))  # agents must name the conversation
    expect_error_skipping(ann, "not_found")
    _, again = porch.visitor(identity=welcome.identity)
    assert again.last_seq == 1  # nothing was stored


def test_read_receipts_reach_the_other_side(porch: Porch) -> None:
    visitor, welcome = porch.visitor()
    conversation_id = _say(visitor, "v1").message.conversation_id
    ann, _ = porch.agent()
    send_frame(ann, ReadUpTo(seq=1, conversation_id=conversation_id))
    assert receive_until(visitor, ReadUpdated) == ReadUpdated(conversation_id, "agent", 1)
    send_frame(ann, SendMessage("a1", "hi", conversation_id=conversation_id))
    reply = receive_until(ann, MessageAck).message
    send_frame(visitor, ReadUpTo(seq=reply.seq))
    assert receive_until(ann, ReadUpdated) == ReadUpdated(conversation_id, "visitor", reply.seq)
    _, again = porch.visitor(identity=welcome.identity)
    assert again.agent_read_seq == 1


# --- end, rate, history -------------------------------------------------------------------------


def test_visitor_ends_then_the_next_message_starts_a_new_conversation(porch: Porch) -> None:
    visitor, welcome = porch.visitor()
    first = _say(visitor, "v1").message.conversation_id
    ann, _ = porch.agent()
    send_frame(visitor, EndConversation())
    # The chat_ended message comes first, then conversation.ended.
    ended = receive_until(ann, ConversationUpdated).conversation
    assert ended.ended and ended.last_message is not None
    assert ended.last_message.event == "chat_ended"
    assert receive_until(visitor, ConversationEnded) == ConversationEnded(first, "visitor")
    assert receive_until(ann, ConversationEnded) == ConversationEnded(first, "visitor")
    _, again = porch.visitor(identity=welcome.identity)
    assert again.ended and again.conversation_id == first
    send_frame(visitor, EndConversation())
    expect_error_skipping(visitor, "conversation_ended")
    send_frame(ann, SendMessage("a1", "too late", conversation_id=first))
    expect_error_skipping(ann, "conversation_ended")

    second = _say(visitor, "v2", "one more thing").message
    assert second.conversation_id != first and second.seq == 1
    send_frame(ann, OpenConversation(second.conversation_id))
    history = receive_until(ann, ConversationHistory)
    assert history.visitor is not None
    assert [c.id for c in history.visitor.past_conversations] == [first]


def test_agent_ends_and_visitor_rates(porch: Porch) -> None:
    visitor, welcome = porch.visitor()
    send_frame(visitor, RateConversation(rating=1))
    expect_error_skipping(visitor, "not_found")  # nothing to rate yet
    conversation_id = _say(visitor, "v1").message.conversation_id
    ann, _ = porch.agent()
    send_frame(ann, EndConversation(conversation_id))
    closing = receive_until(visitor, NewMessage).message
    assert closing.event == "chat_ended" and closing.agent is not None
    assert receive_until(visitor, ConversationEnded).by == "agent"
    send_frame(visitor, RateConversation(rating=-1, comment="slow"))
    # The summary with the rating reaches the console before the rated message, which the
    # console words from it (ann's own chat_ended frames are ahead of both).
    update = receive_until(ann, ConversationUpdated)
    while update.conversation.rating is None:
        update = receive_until(ann, ConversationUpdated)
    assert update.conversation.rating == -1
    rated = receive_frame(ann)
    assert isinstance(rated, NewMessage) and rated.message.event == "rated"
    assert "slow" in rated.message.text
    _, again = porch.visitor(identity=welcome.identity)
    assert again.rating == -1


# --- search -------------------------------------------------------------------------------------


def test_search_finds_by_name_email_and_text_literally(porch: Porch) -> None:
    vic, _ = porch.visitor(profile=VisitorProfile(name="Victoria", email="vic@example.test"))
    first = _say(vic, "v1", "my order 100% broke").message.conversation_id
    porch.clock.advance(1)
    bob, _ = porch.visitor(profile=VisitorProfile(name="Bob"))
    second = _say(bob, "b1", "where is my parcel_box").message.conversation_id
    ann, _ = porch.agent()

    def search(query: str) -> list[str]:
        send_frame(ann, SearchConversations(request_id=query or "empty", query=query))
        results = receive_until(ann, SearchResults)
        assert results.request_id == (query or "empty")
        return [c.id for c in results.conversations]

    assert search("victoria") == [first]
    assert search("EXAMPLE.test") == [first]
    assert search("parcel") == [second]
    assert search("my") == [second, first]  # newest first
    assert search("100%") == [first]
    assert search("0%b") == []  # % is literal, not a wildcard
    assert search("l_b") == [second]
    assert search("r_b") == []  # _ is literal too
    assert search("  ") == []


def test_summaries_say_whether_the_visitor_is_online(porch: Porch) -> None:
    tab1, welcome = porch.visitor()
    _say(tab1, "v1")
    ann, listing = porch.agent()
    assert listing.conversations[0].visitor_online
    tab2, _ = porch.visitor(identity=welcome.identity)
    tab1.close()  # one tab left: still online, so no update
    tab2.close()
    # The first update ann sees: "v1" was published before its ack, so none comes for it.
    update = receive_until(ann, ConversationUpdated).conversation
    assert not update.visitor_online
    _, later = porch.agent()
    assert not later.conversations[0].visitor_online
    porch.visitor(identity=welcome.identity)
    assert receive_until(ann, ConversationUpdated).conversation.visitor_online
