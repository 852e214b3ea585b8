"""Every abuse limit (realtime/limits.py) triggers at its bound and recovers when time passes
(the fake clock moves; nothing sleeps). docs/security.md lists them with their defaults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from conftest import (
    AGENT_EMAIL,
    AGENT_PASSWORD,
    FakeClock,
    Porch,
    expect_error,
    receive_close,
    receive_until,
    send_frame,
)
from porch_protocol import ErrorFrame, MessageAck, SendMessage, VisitorHello, VisitorWelcome
from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.realtime.limits import Limits, MemoryLimiter, Rate, Rule

#: Small enough to reach in a test: 3 at once, all back after 30 s (one every 10 s).
SMALL = Limits({rule: Rate(3, 30) for rule in Rule}, connections_per_address=100)
TRY_AGAIN_LATER = 1013


@contextlib.contextmanager
def _serving(settings: Settings, clock: FakeClock, limits: Limits) -> Iterator[Porch]:
    with TestClient(create_app(replace(settings, limits=limits))) as client:
        harness = Porch(client=client, settings=settings, clock=clock)
        with harness._stack:
            yield harness


@pytest.fixture
def limited(settings: Settings, clock: FakeClock) -> Iterator[Porch]:
    with _serving(settings, clock, SMALL) as porch:
        yield porch


def _login(porch: Porch, password: str, email: str = AGENT_EMAIL) -> int:
    response = porch.client.post("/api/v1/agent/login", json={"email": email, "password": password})
    if response.status_code == 429:
        assert response.json()["error"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1
    return response.status_code


def test_failed_logins_per_account_lock_it_then_time_unlocks_it(
    limited: Porch, clock: FakeClock
) -> None:
    assert [_login(limited, "wrong") for _ in range(3)] == [401] * 3
    # Locked: even the right password is not tried (no argon2 for the guesser either).
    assert _login(limited, AGENT_PASSWORD) == 429
    assert _login(limited, "wrong", email=AGENT_EMAIL.upper()) == 429  # one account, any case
    clock.advance(10)  # one attempt back
    assert _login(limited, AGENT_PASSWORD) == 200
    assert _login(limited, AGENT_PASSWORD) == 200  # success costs nothing


def test_failed_logins_per_address_stop_guessing_many_accounts(
    limited: Porch, clock: FakeClock
) -> None:
    assert [_login(limited, "x", email=f"n{i}@acme.test") for i in range(3)] == [401] * 3
    assert _login(limited, AGENT_PASSWORD) == 429
    clock.advance(10)
    assert _login(limited, AGENT_PASSWORD) == 200


def _send(ws: object, client_id: str) -> None:
    send_frame(ws, SendMessage(client_id=client_id, text="hi"))  # type: ignore[arg-type]


def test_visitor_messages_per_socket_are_limited_and_recover(
    limited: Porch, clock: FakeClock
) -> None:
    ws, _ = limited.visitor()
    for n in range(3):
        _send(ws, f"m{n}")
        assert receive_until(ws, MessageAck).client_id == f"m{n}"
    _send(ws, "m3")
    error = expect_error(ws, "rate_limited")
    assert "try again in 10 s" in error.message
    clock.advance(10)
    _send(ws, "m3")  # the same client id: the refused one was not stored
    assert receive_until(ws, MessageAck).message.seq == 4


def test_visitor_messages_per_visitor_count_every_tab(settings: Settings, clock: FakeClock) -> None:
    limits = Limits({**SMALL.rates, Rule.MESSAGES_PER_CONNECTION: Rate(100, 1)}, 100)
    with _serving(settings, clock, limits) as porch:
        first, welcome = porch.visitor()
        second, _ = porch.visitor(identity=welcome.identity)
        for n, ws in enumerate((first, second, first)):
            _send(ws, f"t{n}")
            receive_until(ws, MessageAck)
        _send(second, "t3")
        error = receive_until(second, ErrorFrame)  # after the other tab's message.new
        assert (error.code, error.fatal) == ("rate_limited", False)
        clock.advance(10)
        _send(second, "t3")
        receive_until(second, MessageAck)


def test_new_visitors_per_address_are_limited_but_returning_ones_connect(
    limited: Porch, clock: FakeClock
) -> None:
    welcomes = [limited.visitor()[1] for _ in range(3)]
    ws = limited.connect("/ws/visitor")
    send_frame(ws, VisitorHello(ticket=limited.ticket()))
    assert "new visitors" in expect_error(ws, "rate_limited", fatal=True).message
    assert receive_close(ws) == TRY_AGAIN_LATER
    # A visitor who already has an identity is not new.
    _, back = limited.visitor(identity=welcomes[0].identity)
    assert back.visitor_uid == welcomes[0].visitor_uid
    clock.advance(10)
    _, fresh = limited.visitor()
    assert fresh.visitor_uid not in {w.visitor_uid for w in welcomes}


def test_uploads_per_visitor_are_limited_and_recover(limited: Porch, clock: FakeClock) -> None:
    _, welcome = limited.visitor()

    def upload() -> int:
        response = limited.client.post(
            "/api/v1/files",
            content=b"notes",
            headers={"authorization": f"Bearer {welcome.upload_token}", "x-filename": "a.txt"},
        )
        return response.status_code

    assert [upload() for _ in range(4)] == [201, 201, 201, 429]
    clock.advance(10)
    assert upload() == 201


def test_open_sockets_per_address_are_limited_and_free_when_one_closes(
    settings: Settings, clock: FakeClock
) -> None:
    with _serving(settings, clock, replace(SMALL, connections_per_address=4)) as limited:
        _four_then_one_more(limited)


def _four_then_one_more(limited: Porch) -> None:
    first = limited.client.websocket_connect("/ws/visitor")
    first.__enter__()
    for _ in range(3):
        limited.connect("/ws/visitor")
    with limited.client.websocket_connect("/ws/agent") as refused:  # both kinds count
        assert "too many open sockets" in expect_error(refused, "rate_limited", fatal=True).message
        assert receive_close(refused) == TRY_AGAIN_LATER
    first.__exit__(None, None, None)  # returns once the server's handler has ended
    _, welcome = limited.visitor()
    assert isinstance(welcome, VisitorWelcome)


def test_limits_parse_and_name_what_is_wrong() -> None:
    limits = Limits.parse("login_per_address=5/60, connections_per_address=7")
    assert limits.rates[Rule.LOGIN_PER_ADDRESS] == Rate(5, 60.0)
    assert limits.rates[Rule.LOGIN_PER_ACCOUNT] == Limits().rates[Rule.LOGIN_PER_ACCOUNT]
    assert limits.connections_per_address == 7
    for bad in (
        "nope=1/1",
        "login_per_account=0/5",
        "login_per_account=3",
        "login_per_account=3/0",
        "connections_per_address=0",
        "login_per_account=3/inf",
    ):
        with pytest.raises(ValueError, match="expected name=burst/seconds"):
            Limits.parse(bad)
    assert Limits.parse(str(SMALL)) == SMALL  # how porch serve --workers passes them on
    assert Settings.from_env(replace(Settings(), limits=SMALL).to_env()).limits == SMALL
    assert Settings.from_env({"PORCH_LIMITS": "uploads_per_visitor=2/9"}).limits.rates[
        Rule.UPLOADS_PER_VISITOR
    ] == Rate(2, 9.0)


def test_a_memory_limiter_forgets_full_buckets() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(SMALL, clock)

    async def fill() -> None:
        for n in range(10_001):
            assert await limiter.take(Rule.UPLOADS_PER_VISITOR, str(n)) == 0
        clock.advance(30)
        await limiter.take(Rule.UPLOADS_PER_VISITOR, "one more")  # sweeps the full ones

    asyncio.run(fill())
    assert len(limiter._buckets) == 1
