"""Cross-tenant isolation as a matrix (issue 12): every frame a visitor or an agent may send,
and every HTTP route, tried against a victim by someone it does not belong to: an agent of
another app, another visitor of the same app, a visitor of another app, a non-admin agent and
another agent of the same app.

The victim is a visitor of app ``acme`` with a conversation holding a secret message, a file,
a tag and the admin in the chat. After every attempt the attacker's answers must hold none of
the victim's data, and at the end the victim's rows (visitor, conversation, messages, files,
events, app, agents and their sessions) must be exactly what they were, and the victim's
sockets must have seen nothing of it.

The frame and route lists are read from the protocol (``VISITOR_SENDS``, ``AGENT_SENDS``) and the
app's routes table: a new frame type or route fails
:func:`test_the_matrix_covers_every_frame_and_route` until it is added here.

Agents of one app share its conversations (a team inbox): an agent opening, answering or
ending a colleague's chat is by design, not a breach; what a colleague cannot do is act as
another agent (use their file, leave for them) or, without the admin role, change the app.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.testclient import WebSocketTestSession

from conftest import (
    ADMIN_EMAIL,
    AGENT_EMAIL,
    APPID,
    Porch,
    receive_frame,
    receive_until,
    run_db,
    seed_app,
    seeded_token,
    send_frame,
)
from porch_protocol import (
    AGENT_SENDS,
    VISITOR_SENDS,
    AgentHello,
    AgentWelcome,
    AppSettings,
    AssignConversation,
    ChangeTags,
    DeleteConversations,
    EndConversation,
    ErrorFrame,
    FormAnswer,
    LeaveConversation,
    Message,
    MessageAck,
    OpenConversation,
    RateConversation,
    ReadUpTo,
    RequestDone,
    RevokeVisitor,
    SearchConversations,
    SearchResults,
    SendMessage,
    SetPresence,
    SetTyping,
    SubmitOffline,
    SubmitPrechat,
    TrackEvent,
    UpdateApp,
    UpdateVisitor,
    VisitorHello,
    VisitorIdentity,
    VisitorProfile,
    encode,
)
from porch_server.app import create_app

OTHER_APPID = "acme2"
OTHER_ORIGIN = "https://acme2.example"
EVE = "eve@acme2.test"  # admin of the other app
SECRET_TEXT = "the victim's secret 4242"
VICTIM_NAME = "Victoria Victim"
VICTIM_EMAIL = "victoria@victim.test"


def _identity_of(world: World) -> VisitorIdentity:
    return world.victim_identity


@dataclass
class World:
    porch: Porch
    victim: WebSocketTestSession  # the victim visitor's socket
    boss: WebSocketTestSession  # the victim's app's admin, in the victim's chat
    conversation: str
    victim_file: str  # uploaded by the victim, attached in their chat
    boss_file: str  # uploaded by the admin
    other_conversation: str  # of a visitor of the other app
    other_upload_token: str
    victim_identity: VisitorIdentity


def _upload(porch: Porch, bearer: str) -> str:
    response = porch.client.post(
        "/api/v1/files",
        content=b"private notes",
        headers={"authorization": f"Bearer {bearer}", "x-filename": "notes.txt"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def world(porch: Porch) -> World:
    seed_app(
        porch.settings.database_url,
        appid=OTHER_APPID,
        secret="s2",
        domains=("acme2.example",),
        agent_email=EVE,
        agent_role="admin",
    )
    victim, welcome = porch.visitor(profile=VisitorProfile(name=VICTIM_NAME, email=VICTIM_EMAIL))
    victim_file = _upload(porch, welcome.upload_token)
    send_frame(victim, SendMessage(client_id="v1", text=SECRET_TEXT, file_id=victim_file))
    conversation = receive_until(victim, MessageAck).message.conversation_id
    send_frame(victim, ChangeTags(request_id="t", add=("vip",)))
    receive_until(victim, RequestDone)
    boss, _ = porch.agent(email=ADMIN_EMAIL)
    send_frame(boss, SendMessage(client_id="b1", text="hello", conversation_id=conversation))
    receive_until(boss, MessageAck)
    boss_file = _upload(porch, seeded_token(ADMIN_EMAIL))
    # The other app's visitor and its conversation, where the other app's agent may write.
    ticket = porch.bootstrap(appid=OTHER_APPID, origin=OTHER_ORIGIN)["ticket"]
    other, other_welcome = porch.visitor(ticket=ticket)
    send_frame(other, SendMessage(client_id="o1", text="hi"))
    other_conversation = receive_until(other, MessageAck).message.conversation_id
    # What the victim's sockets got so far is read: from here on they must get nothing.
    _attempt(victim, TrackEvent("ready", "ready"), False, -1)
    _attempt(boss, SearchConversations("ready", "x"), True, -1)
    return World(
        porch,
        victim,
        boss,
        conversation,
        victim_file,
        boss_file,
        other_conversation,
        other_welcome.upload_token,
        welcome.identity,
    )


# --- who attacks, with what ---------------------------------------------------------------------

#: Attacker -> frame type -> (frame maker, error codes acceptable as the answer; () = no error,
#: the frame acts on the attacker's own things).
Make = Callable[[World], Message]
Attempts = dict[str, tuple[Make, tuple[str, ...]]]

_NOT_FOUND = ("not_found",)

AGENT_OF_ANOTHER_APP: Attempts = {
    "conversation.open": (lambda w: OpenConversation(w.conversation), _NOT_FOUND),
    "message.send": (
        lambda w: SendMessage(client_id="e1", text="x", conversation_id=w.conversation),
        _NOT_FOUND,
    ),
    "conversation.read": (lambda w: ReadUpTo(seq=99, conversation_id=w.conversation), _NOT_FOUND),
    "visitor.revoke": (lambda w: RevokeVisitor(w.conversation), _NOT_FOUND),
    "typing.set": (lambda w: SetTyping(True, conversation_id=w.conversation), _NOT_FOUND),
    "conversation.end": (lambda w: EndConversation(w.conversation), _NOT_FOUND),
    "tags.change": (
        lambda w: ChangeTags(request_id="r", add=("pwned",), conversation_id=w.conversation),
        _NOT_FOUND,
    ),
    "presence.set": (lambda w: SetPresence("away"), ()),  # the sender's own presence only
    "conversation.assign": (
        lambda w: AssignConversation(w.conversation, agent_id="1"),
        _NOT_FOUND,
    ),
    "conversation.leave": (lambda w: LeaveConversation(w.conversation), _NOT_FOUND),
    "conversation.search": (lambda w: SearchConversations("r", "secret"), ()),
    "app.update": (
        lambda w: UpdateApp("r", AppSettings(APPID, "pwned", ("evil.example",))),
        ("invalid_app",),
    ),
}
#: The other app's agent attaching the victim's file in a conversation of its own app.
AGENT_OF_ANOTHER_APP_FILE: Make = lambda w: SendMessage(  # noqa: E731
    client_id="e2", text="x", conversation_id=w.other_conversation, file_id=w.victim_file
)

NON_ADMIN_AGENT: Attempts = {
    "app.update": (
        lambda w: UpdateApp("r", AppSettings(APPID, "pwned", ("evil.example",))),
        ("forbidden",),
    ),
}
ANOTHER_AGENT: Attempts = {
    "message.send": (  # the admin's upload, attached by a colleague
        lambda w: SendMessage(
            client_id="a1", text="x", conversation_id=w.conversation, file_id=w.boss_file
        ),
        ("bad_file",),
    ),
    "conversation.leave": (lambda w: LeaveConversation(w.conversation), ("not_in_conversation",)),
}

#: Visitors never name a conversation: frames act on the sender's own latest one, whatever
#: ``conversation_id`` they carry; a file must be the sender's own upload.
OTHER_VISITOR: Attempts = {
    "message.send": (
        lambda w: SendMessage(
            client_id="x1", text="x", conversation_id=w.conversation, file_id=w.victim_file
        ),
        ("bad_file",),
    ),
    "conversation.read": (lambda w: ReadUpTo(seq=99, conversation_id=w.conversation), ()),
    "typing.set": (lambda w: SetTyping(True, conversation_id=w.conversation), ()),
    # The attackers have no conversation of their own yet: nothing of theirs to end or rate.
    "conversation.end": (lambda w: EndConversation(w.conversation), ("not_found",)),
    "conversation.rate": (lambda w: RateConversation(-1, "pwned"), ("not_found",)),
    # Deletes the sender's own conversations (none here), never the victim's.
    "conversation.delete": (lambda w: DeleteConversations("r"), ()),
    "tags.change": (
        lambda w: ChangeTags(request_id="r", add=("pwned",), conversation_id=w.conversation),
        (),
    ),
    "visitor.update": (
        lambda w: UpdateVisitor("r", profile=VisitorProfile(name="pwned"), attributes={"a": 1}),
        (),
    ),
    "visitor.event": (lambda w: TrackEvent("r", "pwned"), ()),
    "prechat.submit": (
        lambda w: SubmitPrechat("r", (FormAnswer("name", "pwned"),)),
        ("INVALID_FORM",),
    ),
    "offline.submit": (lambda w: SubmitOffline("r", "pwned", "p@evil.test", "pwned"), ()),
}


def _route_paths(routes: list[BaseRoute]) -> set[str]:
    paths = set()
    for route in routes:
        if isinstance(route, Route | WebSocketRoute | Mount):
            paths.add(route.path or "/")
    return paths


#: Every route, and where its isolation is proven.
ROUTES = {
    "/healthz": "public: holds no tenant's data",
    "/readyz": "public: says whether the database and Redis answer",
    "/api/v1/bootstrap": "test_http_routes_give_nothing_of_another_tenant",
    "/api/v1/agent/login": "the email and password decide the account (test_agent_sessions.py)",
    "/api/v1/agent/logout": "test_http_routes_give_nothing_of_another_tenant",
    "/api/v1/files": "test_http_routes_give_nothing_of_another_tenant (and every bad_file)",
    "/files/{file_id}/{name}": "a capability URL (96-bit id and the name): docs/security.md",
    "/ws/visitor": "OTHER_VISITOR, for two visitors",
    "/ws/agent": "AGENT_OF_ANOTHER_APP, NON_ADMIN_AGENT, ANOTHER_AGENT",
    "/{property_id:tawk_property}/{widget_id:tawk_widget}": "public: the widget's script",
    "/": "public: the static site, and the root page (the Mount and the Route share it)",
}


def test_the_matrix_covers_every_frame_and_route(settings: Any) -> None:
    agent_frames = {c.TYPE for c in AGENT_SENDS - {AgentHello}}
    visitor_frames = {c.TYPE for c in VISITOR_SENDS - {VisitorHello}}
    assert set(AGENT_OF_ANOTHER_APP) == agent_frames
    assert set(OTHER_VISITOR) == visitor_frames
    assert set(ROUTES) == _route_paths(create_app(settings).routes)


# --- the run ------------------------------------------------------------------------------------


def _named_parameters(sql: str) -> str:
    """``?`` placeholders as ``:p0, :p1, ...``, which SQLAlchemy binds on any database."""
    numbers = itertools.count()
    return re.sub(r"\?", lambda _m: f":p{next(numbers)}", sql)


def _victim_rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything of the victim's app, read straight from the database (SQLite or PostgreSQL)."""
    queries = {
        "apps": "SELECT * FROM apps WHERE appid = ?",
        "agents": "SELECT * FROM agents WHERE app_id = (SELECT id FROM apps WHERE appid = ?)",
        "agent_sessions": "SELECT * FROM agent_sessions WHERE agent_id IN (SELECT id FROM agents"
        " WHERE app_id = (SELECT id FROM apps WHERE appid = ?)) ORDER BY 1",
        "victim": "SELECT * FROM visitors WHERE name = ? OR email = ?",
        "conversations": "SELECT * FROM conversations WHERE visitor_id IN (SELECT id FROM"
        " visitors WHERE name = ?) ORDER BY id",
        "messages": "SELECT * FROM messages WHERE conversation_id IN (SELECT id FROM"
        " conversations WHERE visitor_id IN (SELECT id FROM visitors WHERE name = ?))"
        " ORDER BY seq",
        "events": "SELECT * FROM visitor_events WHERE visitor_id IN (SELECT id FROM visitors"
        " WHERE name = ?)",
        "files": "SELECT * FROM files WHERE app_id = (SELECT id FROM apps WHERE appid = ?)"
        " ORDER BY id",
    }
    params = {"victim": (VICTIM_NAME, VICTIM_EMAIL)}

    async def read(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
        rows = {}
        for name, sql in queries.items():
            values = params.get(name, (VICTIM_NAME if "visitor" in sql else APPID,))
            statement = text(_named_parameters(sql))
            result = await session.execute(statement, {f"p{n}": v for n, v in enumerate(values)})
            rows[name] = [tuple(row) for row in result]
        return rows

    return run_db(database_url, read)


def _leaks(frames: list[Message]) -> list[str]:
    text = "".join(encode(f) for f in frames)
    return [s for s in (SECRET_TEXT, VICTIM_NAME, VICTIM_EMAIL, "vip") if s in text]


def _probe(ws: WebSocketTestSession, agent: bool, n: int) -> Message:
    if agent:
        return SearchConversations(f"probe-{n}", "no such words anywhere")
    return TrackEvent(f"probe-{n}", "probe")


def _attempt(ws: WebSocketTestSession, frame: Message, agent: bool, n: int) -> list[Message]:
    """Send ``frame``, then a probe; every frame the attacker got until the probe's answer."""
    send_frame(ws, frame)
    send_frame(ws, _probe(ws, agent, n))
    got = []
    while True:
        answer = receive_frame(ws)
        if getattr(answer, "request_id", None) == f"probe-{n}":
            return got
        got.append(answer)


def _run(
    ws: WebSocketTestSession, world: World, attempts: Attempts, agent: bool, who: str
) -> list[str]:
    """Every attempt; what went wrong, as readable lines."""
    problems = []
    for n, (frame_type, (make, codes)) in enumerate(sorted(attempts.items())):
        got = _attempt(ws, make(world), agent, n)
        errors = [f.code for f in got if isinstance(f, ErrorFrame)]
        if errors != list(codes[:1]) and not (codes and errors and errors[0] in codes):
            problems.append(f"{who} {frame_type}: errors {errors}, expected {codes or 'none'}")
        if frame_type == "conversation.search":
            results = [f for f in got if isinstance(f, SearchResults)]
            if not results or results[0].conversations:
                problems.append(f"{who} search found {results}")
        if leaked := _leaks(got):
            problems.append(f"{who} {frame_type} read {leaked}")
        for ack in (f for f in got if isinstance(f, MessageAck)):
            if ack.message.conversation_id == world.conversation:
                problems.append(f"{who} {frame_type} wrote into the victim's conversation")
    return problems


def test_no_one_reads_or_changes_what_is_not_theirs(world: World) -> None:
    porch = world.porch
    before = _victim_rows(porch.settings.database_url)
    assert all(before.values()), before  # the comparison below has something to compare
    problems: list[str] = []

    eve, eve_welcome = porch.agent(email=EVE)
    assert not _leaks([eve_welcome])
    problems += _run(eve, world, AGENT_OF_ANOTHER_APP, True, "other app's agent")
    got = _attempt(eve, AGENT_OF_ANOTHER_APP_FILE(world), True, 99)
    assert [f.code for f in got if isinstance(f, ErrorFrame)] == ["bad_file"]

    ann, ann_welcome = porch.agent(email=AGENT_EMAIL)  # role "agent" in the victim's app
    assert isinstance(ann_welcome, AgentWelcome) and ann_welcome.app is None  # no settings
    problems += _run(ann, world, NON_ADMIN_AGENT, True, "non-admin agent")
    problems += _run(ann, world, ANOTHER_AGENT, True, "another agent")

    problems += _run(porch.visitor()[0], world, OTHER_VISITOR, False, "other visitor")
    ticket = porch.bootstrap(appid=OTHER_APPID, origin=OTHER_ORIGIN)["ticket"]
    other_app_visitor, _ = porch.visitor(ticket=ticket)
    problems += _run(other_app_visitor, world, OTHER_VISITOR, False, "other app's visitor")
    # The victim's identity presented to the other app (signed with the victim app's secret).
    victim_identity = _identity_of(world)
    there = porch.bootstrap(appid=OTHER_APPID, origin=OTHER_ORIGIN, identity=victim_identity)
    assert there["resume"] is False
    _, welcome_there = porch.visitor(ticket=there["ticket"], identity=victim_identity)
    assert welcome_there.source == "resolved" and not _leaks([welcome_there])

    assert problems == []
    assert _victim_rows(porch.settings.database_url) == before
    # The victim and its admin saw nothing of it: the next thing each gets is its own probe.
    assert _attempt(world.victim, TrackEvent("v", "v"), False, 1000) == [RequestDone("v")]
    seen = _attempt(world.boss, SearchConversations("b", "x"), True, 1001)
    assert not [f for f in seen if getattr(f, "conversation_id", None) == world.conversation]


def test_http_routes_give_nothing_of_another_tenant(world: World) -> None:
    porch = world.porch
    # Bootstrap: the victim's app from the other app's site is refused...
    response = porch.client.post(
        "/api/v1/bootstrap",
        json={"appid": APPID},
        headers={"origin": OTHER_ORIGIN, "content-type": "text/plain"},
    )
    assert response.status_code == 403, response.text
    # ...and logging out with the other app's token ends only that session.
    response = porch.client.post(
        "/api/v1/agent/logout", headers={"authorization": f"Bearer {seeded_token(EVE)}"}
    )
    assert response.status_code == 204
    boss, _ = porch.agent(email=ADMIN_EMAIL)  # the victim app's admin is still logged in
    # An upload with the other app's visitor token belongs to that visitor, who cannot attach
    # it anywhere in the victim's app; the victim's file is not theirs either.
    theirs = _upload(porch, world.other_upload_token)
    send_frame(
        boss,
        SendMessage(client_id="b9", text="x", conversation_id=world.conversation, file_id=theirs),
    )
    assert receive_until(boss, ErrorFrame).code == "bad_file"
