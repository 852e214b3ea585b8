"""The server's conversation model under Hypothesis (issue 12): a visitor and two agents drive
one visitor's chats through the real app, over its sockets (the in-process test client), in any
order: messages, claims (a first reply, ``conversation.assign`` to oneself), transfers, leaves,
ends from either side, ratings and tag changes with and without a version. A small model says
what each step must do; after each, the server's own summary (``conversation.search``) and what
each socket was pushed must agree with it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from starlette.testclient import WebSocketTestSession

from conftest import (
    ADMIN_EMAIL,
    AGENT_EMAIL,
    Porch,
    receive_frame,
    receive_until,
    seeded_token,
    send_frame,
)
from porch_protocol import (
    AgentHello,
    AgentWelcome,
    AssignConversation,
    ChangeTags,
    ConversationEnded,
    ConversationSummary,
    ConversationUpdated,
    EndConversation,
    ErrorFrame,
    LeaveConversation,
    Message,
    MessageAck,
    RateConversation,
    RequestDone,
    SearchConversations,
    SearchResults,
    SendMessage,
    TagsUpdated,
    TrackEvent,
    VisitorHello,
    VisitorWelcome,
)

TAGS = ("vip", "billing", "bug", "de", "fr", "refund", "new", "late", "a", "b", "c", "d")
_runs = itertools.count()


@dataclass
class Model:
    conversation_id: str | None = None
    #: Agent ids in the chat, the assignee first.
    agents: list[str] = field(default_factory=list)
    ended: bool = False
    rating: int | None = None
    tags: tuple[str, ...] = ()
    tags_version: int = 0


@dataclass
class Peer:
    """A socket and everything it was pushed."""

    ws: WebSocketTestSession
    summaries: dict[str, ConversationSummary] = field(default_factory=dict)
    tags: TagsUpdated | None = None
    ended: set[str] = field(default_factory=set)

    def until(self, done: Callable[[Message], bool]) -> Message:
        """Frames up to the first ``done`` accepts (kept as this socket's view); that frame."""
        while True:
            frame = receive_frame(self.ws)
            if isinstance(frame, ConversationUpdated):
                self.summaries[frame.conversation.id] = frame.conversation
            elif isinstance(frame, TagsUpdated):
                self.tags = frame
            elif isinstance(frame, ConversationEnded):
                self.ended.add(frame.conversation_id)
            if done(frame):
                return frame


class ConversationMachine(RuleBasedStateMachine):
    def __init__(self, porch: Porch) -> None:
        super().__init__()
        self.porch = porch
        self.run = next(_runs)
        self.requests = itertools.count()
        self.messages = itertools.count()
        self.model = Model()
        self.stack = contextlib.ExitStack()
        self.visitor = Peer(self.stack.enter_context(porch.client.websocket_connect("/ws/visitor")))
        send_frame(self.visitor.ws, VisitorHello(ticket=porch.ticket()))
        welcome = self.visitor.until(lambda f: isinstance(f, VisitorWelcome))
        assert isinstance(welcome, VisitorWelcome)
        self.uid = welcome.visitor_uid
        self.agents: dict[str, Peer] = {}
        for email in (AGENT_EMAIL, ADMIN_EMAIL):
            peer = Peer(self.stack.enter_context(porch.client.websocket_connect("/ws/agent")))
            send_frame(peer.ws, AgentHello(token=seeded_token(email)))
            hello = peer.until(lambda f: isinstance(f, AgentWelcome))
            assert isinstance(hello, AgentWelcome)
            self.agents[hello.agent_id] = peer
        self.ids = sorted(self.agents)

    def teardown(self) -> None:
        self.stack.close()

    # --- helpers --------------------------------------------------------------------------------

    def _request_id(self) -> str:
        return f"r{next(self.requests)}"

    def _visitor_barrier(self) -> None:
        """A request answered after everything the visitor sent before it was handled."""
        request_id = self._request_id()
        send_frame(self.visitor.ws, TrackEvent(request_id=request_id, name="barrier"))
        self.visitor.until(lambda f: isinstance(f, RequestDone) and f.request_id == request_id)

    def _outcome(self, peer: Peer, request_id: str | None = None) -> str | None:
        """Send a search on ``peer`` (a barrier) and return the error code of the frame sent
        just before it, if it failed, or of the request ``request_id``."""
        barrier = self._request_id()
        send_frame(peer.ws, SearchConversations(request_id=barrier, query=self._token()))
        errors: list[str] = []

        def done(frame: Message) -> bool:
            if isinstance(frame, ErrorFrame) and frame.request_id in (None, request_id):
                errors.append(frame.code)
            if isinstance(frame, RequestDone) and frame.request_id == request_id:
                errors.append("")
            return isinstance(frame, SearchResults) and frame.request_id == barrier

        peer.until(done)
        failed = [e for e in errors if e]
        return failed[0] if failed else None

    def _token(self) -> str:
        return f"run{self.run}token"

    def _expect(self, got: str | None, expected: str | None) -> None:
        assert got == expected, f"expected {expected or 'success'}, got {got or 'success'}"

    def _agent(self, index: int) -> tuple[str, Peer]:
        agent_id = self.ids[index]
        return agent_id, self.agents[agent_id]

    # --- the visitor ----------------------------------------------------------------------------

    @rule()
    def visitor_writes(self) -> None:
        client_id = f"v{next(self.messages)}"
        send_frame(self.visitor.ws, SendMessage(client_id=client_id, text=self._token()))
        ack = self.visitor.until(lambda f: isinstance(f, MessageAck) and f.client_id == client_id)
        assert isinstance(ack, MessageAck)
        cid = ack.message.conversation_id
        if self.model.conversation_id is None or self.model.ended:
            assert cid != self.model.conversation_id, "an ended chat must not get new messages"
            self.model = Model(cid, tags=self.model.tags, tags_version=self.model.tags_version)
        assert cid == self.model.conversation_id

    @rule()
    def visitor_ends(self) -> None:
        send_frame(self.visitor.ws, EndConversation())
        self._visitor_barrier_expecting(self._end_outcome())

    @rule(rating=st.sampled_from([-1, 0, 1]), comment=st.sampled_from(["", "thanks"]))
    def visitor_rates(self, rating: int, comment: str) -> None:
        send_frame(self.visitor.ws, RateConversation(rating=rating, comment=comment))
        expected = None if self.model.conversation_id else "not_found"
        self._visitor_barrier_expecting(expected)
        if expected is None:
            self.model.rating = rating

    def _visitor_barrier_expecting(self, expected: str | None) -> None:
        request_id = self._request_id()
        send_frame(self.visitor.ws, TrackEvent(request_id=request_id, name="barrier"))
        errors: list[str] = []

        def done(frame: Message) -> bool:
            if isinstance(frame, ErrorFrame) and frame.request_id is None:
                errors.append(frame.code)
            return isinstance(frame, RequestDone) and frame.request_id == request_id

        self.visitor.until(done)
        self._expect(errors[0] if errors else None, expected)

    def _end_outcome(self) -> str | None:
        if self.model.conversation_id is None:
            return "not_found"
        if self.model.ended:
            return "conversation_ended"
        self.model.ended = True
        return None

    # --- agents ---------------------------------------------------------------------------------

    @rule(who=st.integers(0, 1))
    def agent_replies(self, who: int) -> None:
        if self.model.conversation_id is None:
            return
        agent_id, peer = self._agent(who)
        client_id = f"a{next(self.messages)}"
        reply = SendMessage(client_id, self._token(), self.model.conversation_id)
        send_frame(peer.ws, reply)
        outcome = self._outcome(peer)
        if self.model.ended:
            self._expect(outcome, "conversation_ended")
            return
        self._expect(outcome, None)
        if agent_id not in self.model.agents:
            self.model.agents.append(agent_id)  # a first reply claims (or joins) the chat

    @rule(who=st.integers(0, 1), to=st.integers(0, 1))
    def agent_assigns(self, who: int, to: int) -> None:
        if self.model.conversation_id is None:
            return
        agent_id, peer = self._agent(who)
        target_id, _ = self._agent(to)
        send_frame(peer.ws, AssignConversation(self.model.conversation_id, target_id))
        outcome = self._outcome(peer)
        if self.model.ended:
            self._expect(outcome, "conversation_ended")
            return
        self._expect(outcome, None)
        agents = self.model.agents
        if target_id == agent_id:
            if agent_id not in agents:
                agents.append(agent_id)
        elif agents[:1] != [target_id]:
            self.model.agents = [target_id, *(a for a in agents if a not in (target_id, agent_id))]

    @rule(who=st.integers(0, 1))
    def agent_leaves(self, who: int) -> None:
        if self.model.conversation_id is None:
            return
        agent_id, peer = self._agent(who)
        send_frame(peer.ws, LeaveConversation(self.model.conversation_id))
        outcome = self._outcome(peer)
        if agent_id not in self.model.agents:
            self._expect(outcome, "not_in_conversation")
            return
        self._expect(outcome, None)
        self.model.agents.remove(agent_id)

    @rule(who=st.integers(0, 1))
    def agent_ends(self, who: int) -> None:
        if self.model.conversation_id is None:
            return
        _, peer = self._agent(who)
        send_frame(peer.ws, EndConversation(conversation_id=self.model.conversation_id))
        self._expect(self._outcome(peer), self._end_outcome())

    # --- tags (the visitor's, shared by their conversations) ------------------------------------

    @rule(
        by=st.integers(-1, 1),
        add=st.lists(st.sampled_from(TAGS), max_size=4),
        remove=st.lists(st.sampled_from(TAGS), max_size=2),
        versioned=st.booleans(),
        stale=st.booleans(),
    )
    def tags_change(
        self, by: int, add: list[str], remove: list[str], versioned: bool, stale: bool
    ) -> None:
        if by >= 0 and self.model.conversation_id is None:
            return
        version = None
        if versioned:
            version = self.model.tags_version - 1 if stale else self.model.tags_version
        request_id = self._request_id()
        frame = ChangeTags(
            request_id=request_id,
            add=tuple(add),
            remove=tuple(remove),
            conversation_id=self.model.conversation_id if by >= 0 else None,
            version=version,
        )
        peer = self.visitor if by < 0 else self._agent(by)[1]
        send_frame(peer.ws, frame)
        outcome = self._outcome(peer, request_id) if by >= 0 else self._visitor_request(request_id)
        expected = None
        tags = [t for t in self.model.tags if t not in remove]
        tags += [t for t in dict.fromkeys(add) if t not in tags and t not in remove]
        if version is not None and version != self.model.tags_version:
            expected = "VERSION_CONFLICT"
        elif len(tags) > 10:
            expected = "TAG_LIMIT_EXCEEDED"
        self._expect(outcome, expected)
        if expected is None:
            self.model.tags, self.model.tags_version = tuple(tags), self.model.tags_version + 1

    def _visitor_request(self, request_id: str) -> str | None:
        answer = self.visitor.until(
            lambda f: isinstance(f, (RequestDone, ErrorFrame)) and f.request_id == request_id
        )
        return answer.code if isinstance(answer, ErrorFrame) else None

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def the_server_and_every_socket_agree_with_the_model(self) -> None:
        model = self.model
        cid = model.conversation_id
        if cid is None:
            return
        found: dict[str, ConversationSummary] = {}
        for peer in self.agents.values():  # each search is also a barrier for that socket
            request_id = self._request_id()
            send_frame(peer.ws, SearchConversations(request_id=request_id, query=self._token()))
            results = peer.until(
                lambda f, r=request_id: isinstance(f, SearchResults) and f.request_id == r
            )
            assert isinstance(results, SearchResults)
            found = {s.id: s for s in results.conversations}
        stored = found[cid]
        want: dict[str, Any] = {
            "agent_ids": tuple(model.agents),
            "ended": model.ended,
            "rating": model.rating,
            "tags": model.tags,
            "tags_version": model.tags_version,
        }
        assert {k: getattr(stored, k) for k in want} == want
        for agent_id, agent in self.agents.items():
            pushed = agent.summaries.get(cid)
            if pushed is not None:
                assert (pushed.agent_ids, pushed.ended, pushed.rating) == (
                    stored.agent_ids,
                    stored.ended,
                    stored.rating,
                ), f"agent {agent_id}'s console is stale"
            if model.tags_version:
                assert agent.tags is not None
                assert (agent.tags.tags, agent.tags.version) == (model.tags, model.tags_version)
            assert (cid in agent.ended) == model.ended
        self._visitor_barrier()
        if model.tags_version:
            assert self.visitor.tags is not None
            assert (self.visitor.tags.tags, self.visitor.tags.version) == (
                model.tags,
                model.tags_version,
            )
        assert (cid in self.visitor.ended) == model.ended


def test_the_conversation_model_holds_for_any_order_of_actions(porch: Porch) -> None:
    run_state_machine_as_test(
        lambda: ConversationMachine(porch),
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_a_chat_restarted_within_the_same_millisecond_is_the_latest(porch: Porch) -> None:
    """Found by the machine above (the test clock stands still): the new conversation tied with
    the ended one on ``created_at``, and the random id sometimes made the ended one "latest", so
    the visitor's next end was refused as ``conversation_ended``."""
    for attempt in range(8):  # the ids are random: a tie went the wrong way about half the time
        ws, _ = porch.visitor()
        send_frame(ws, SendMessage(client_id=f"a{attempt}", text="first chat"))
        first = receive_until(ws, MessageAck).message.conversation_id
        send_frame(ws, EndConversation())
        receive_until(ws, ConversationEnded)
        send_frame(ws, SendMessage(client_id=f"b{attempt}", text="second chat"))
        second = receive_until(ws, MessageAck).message.conversation_id
        assert second != first
        send_frame(ws, EndConversation())
        ended = receive_until(ws, ConversationEnded)
        assert ended.conversation_id == second
