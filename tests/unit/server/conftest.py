"""Fixtures for the server tests: a migrated SQLite file per test, a movable clock, a real app
behind Starlette's TestClient, and a :class:`Porch` harness that speaks the wire protocol."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import os
import shutil
import warnings
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from porch_protocol import (
    AgentHello,
    AgentWelcome,
    ErrorFrame,
    Message,
    VisitorHello,
    VisitorIdentity,
    VisitorWelcome,
    decode,
    encode,
)

with warnings.catch_warnings():
    # Starlette 1.10 prefers httpx2 for its TestClient; the project's test extras pin httpx,
    # which still works. Silence only this import-time notice (the suite runs with -W error).
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient, WebSocketTestSession

from porch_server.app import create_app
from porch_server.config import Settings
from porch_server.realtime.limits import Limits, Rate, Rule
from porch_server.rules.security import AGENT_SESSION_TTL_MS, hash_password, token_hash
from porch_server.storage import store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.migrate import upgrade
from porch_server.storage.models import Agent, App
from support import services

APPID = "acme"
SECRET = "acme-secret"
ORIGIN = "https://shop.acme.test"
AGENT_EMAIL = "ann@acme.test"
ADMIN_EMAIL = "boss@acme.test"
AGENT_PASSWORD = "correct horse"

#: The fake clock never moves by itself, so no bucket would ever refill: tests of other things
#: run without abuse limits (test_abuse_limits.py sets its own).
UNLIMITED = Limits({rule: Rate(10**9, 1) for rule in Rule}, 10**9)

#: Longest a test waits for a frame before failing (instead of hanging).
FRAME_TIMEOUT = 5.0

_T = TypeVar("_T")
_M = TypeVar("_M", bound=Message)


@dataclass
class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_db(database_url: str, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
    """Run ``work`` in a session on its own engine (outside any app)."""

    async def _go() -> _T:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_go())


def seeded_token(email: str) -> str:
    """The agent token :func:`seed_agent` stores a session for (argon2 makes every real login
    cost most of a second on a busy machine; tests of login itself still log in)."""
    return f"token-of-{email}"


@functools.cache
def _password_hash() -> str:
    return hash_password(AGENT_PASSWORD)


async def seed_agent(
    session: AsyncSession, app: App, email: str, *, name: str = "Ann", role: str = "agent"
) -> Agent:
    """An agent with password AGENT_PASSWORD and a session for :func:`seeded_token`, valid for
    the session lifetime from the fake clock's start."""
    agent = await store.create_agent(
        session,
        app=app,
        email=email,
        name=name,
        password_hash=_password_hash(),
        now_ms=0,
        role=role,
    )
    expires = int(FakeClock().now * 1000) + AGENT_SESSION_TTL_MS
    await store.add_agent_session(session, agent, token_hash(seeded_token(email)), expires)
    return agent


def seed_app(
    database_url: str,
    *,
    appid: str = APPID,
    secret: str = SECRET,
    domains: tuple[str, ...] = ("shop.acme.test", "*.acme.example"),
    agent_email: str | None = AGENT_EMAIL,
    agent_role: str = "agent",
) -> None:
    async def work(session: AsyncSession) -> None:
        app = await store.create_app(
            session, appid=appid, name=appid, allowed_domains=domains, secret=secret, now_ms=0
        )
        if agent_email is not None:
            await seed_agent(session, app, agent_email, role=agent_role)
        await session.commit()

    run_db(database_url, work)


def receive_frame(ws: WebSocketTestSession) -> Message:
    """The next frame from the server; fails after FRAME_TIMEOUT instead of hanging."""
    message = _receive(ws)
    assert message["type"] == "websocket.send", f"expected a frame, got {message}"
    return decode(message["text"])


def receive_until(ws: WebSocketTestSession, kind: type[_M]) -> _M:
    """The next frame of type ``kind``, skipping others (use where order is not the point)."""
    while True:
        frame = receive_frame(ws)
        if isinstance(frame, kind):
            return frame


def receive_close(ws: WebSocketTestSession) -> int:
    """Wait for the server to close the socket; returns the close code."""
    message = _receive(ws)
    assert message["type"] == "websocket.close", f"expected a close, got {message}"
    return int(message["code"])


#: Where :func:`_receive` waits: the test session's public ``receive()`` has no timeout.
_RECEIVER = ThreadPoolExecutor(thread_name_prefix="ws-receive")


def _receive(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next message from the server, or a failure after FRAME_TIMEOUT instead of a hang (a
    receive still waiting then ends when the test's sockets close)."""
    try:
        message: dict[str, Any] = _RECEIVER.submit(ws.receive).result(timeout=FRAME_TIMEOUT)
    except concurrent.futures.TimeoutError:
        raise AssertionError(f"nothing from the server within {FRAME_TIMEOUT} s") from None
    return message


def send_frame(ws: WebSocketTestSession, frame: Message) -> None:
    ws.send_text(encode(frame))


@dataclass
class Porch:
    """A running server plus helpers that speak its HTTP and WebSocket APIs."""

    client: TestClient
    settings: Settings
    clock: FakeClock
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def bootstrap(
        self,
        *,
        appid: str = APPID,
        origin: str | None = ORIGIN,
        identity: VisitorIdentity | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"appid": appid, "identity": None}
        if identity is not None:
            body["identity"] = {"bs": identity.bs, "bs_mm": identity.bs_mm}
        headers = {"content-type": "text/plain"}
        if origin is not None:
            headers["origin"] = origin
        response = self.client.post("/api/v1/bootstrap", json=body, headers=headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def ticket(self) -> str:
        return str(self.bootstrap()["ticket"])

    def connect(self, path: str) -> WebSocketTestSession:
        """An open socket, closed when the test ends."""
        return self._stack.enter_context(self.client.websocket_connect(path))

    def visitor(self, **hello: Any) -> tuple[WebSocketTestSession, VisitorWelcome]:
        """A visitor socket past its hello; ``hello`` overrides VisitorHello fields."""
        ws = self.connect("/ws/visitor")
        hello.setdefault("ticket", self.ticket())
        send_frame(ws, VisitorHello(**hello))
        welcome = receive_frame(ws)
        assert isinstance(welcome, VisitorWelcome), welcome
        return ws, welcome

    def login(self, email: str = AGENT_EMAIL, password: str = AGENT_PASSWORD) -> str:
        response = self.client.post(
            "/api/v1/agent/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def agent(
        self, token: str | None = None, email: str = AGENT_EMAIL
    ) -> tuple[WebSocketTestSession, AgentWelcome]:
        """An agent socket past its welcome, with ``token`` or the seeded one of ``email``."""
        ws = self.connect("/ws/agent")
        send_frame(ws, AgentHello(token=token or seeded_token(email)))
        welcome = receive_frame(ws)
        assert isinstance(welcome, AgentWelcome), welcome
        return ws, welcome


def expect_error(ws: WebSocketTestSession, code: str, *, fatal: bool = False) -> ErrorFrame:
    frame = receive_frame(ws)
    assert isinstance(frame, ErrorFrame), frame
    assert (frame.code, frame.fatal) == (code, fatal), frame
    return frame


#: ``PORCH_TEST_DATABASE=postgresql`` runs the suite on a real PostgreSQL server that the
#: session starts (``make test`` runs it on both); anything else, on SQLite files.
ON_POSTGRES = os.environ.get("PORCH_TEST_DATABASE") == "postgresql"


def _seed_template(url: str) -> None:
    upgrade(url)
    seed_app(url)

    async def add_admin(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, APPID)
        assert app is not None
        await seed_agent(session, app, ADMIN_EMAIL, name="Boss", role="admin")
        await session.commit()

    run_db(url, add_admin)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.Postgres]:
    with services.postgres() as server:
        yield server


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """A migrated, seeded database made once; each test gets a copy (migrating and hashing a
    password per test would triple the suite's time). A file path on SQLite, a database name
    on PostgreSQL."""
    if ON_POSTGRES:
        server: services.Postgres = request.getfixturevalue("postgres_server")
        server.psql("CREATE DATABASE porch_template")
        _seed_template(server.url("porch_template"))
        return "porch_template"
    path = tmp_path_factory.mktemp("template") / "porch.db"
    _seed_template(f"sqlite+aiosqlite:///{path}")
    return str(path)


_copies = itertools.count()


@pytest.fixture
def database_url(tmp_path: Path, _template_db: str, request: pytest.FixtureRequest) -> str:
    if ON_POSTGRES:
        server: services.Postgres = request.getfixturevalue("postgres_server")
        name = f"porch_test_{next(_copies)}"
        server.psql(f"CREATE DATABASE {name} TEMPLATE {_template_db}")
        return server.url(name)
    path = tmp_path / "porch.db"
    shutil.copyfile(_template_db, path)  # the engine was disposed, so the WAL is checkpointed
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def public_dir(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    for name in (
        "index.html",
        "demo/index.html",
        "widget/panel.html",
        "widget/launcher.html",
        "agent/index.html",
        "vendor/lib.js",
        "install/snippet.js",
    ):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<!-- {name} -->")
    return root


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: ``PORCH_TEST_REDIS=1`` runs every app of the suite with its fan-out, presence and page
#: status in a real Redis server that the session starts (``make test`` does, on PostgreSQL).
ON_REDIS = os.environ.get("PORCH_TEST_REDIS") == "1"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.Redis]:
    with services.redis() as server:
        yield server


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str | None:
    """A flushed Redis for this test, or None when the suite runs in memory."""
    if not ON_REDIS:
        return None
    server: services.Redis = request.getfixturevalue("redis_server")
    server.flush()
    return server.url


@pytest.fixture
def settings(
    database_url: str, redis_url: str | None, public_dir: Path, clock: FakeClock, tmp_path: Path
) -> Settings:
    return replace(
        Settings(),
        database_url=database_url,
        redis_url=redis_url,
        public_dir=public_dir,
        data_dir=tmp_path / "data",
        clock=clock,
        limits=UNLIMITED,
    )


@pytest.fixture
def porch(settings: Settings, clock: FakeClock) -> Iterator[Porch]:
    with TestClient(create_app(settings)) as client:
        harness = Porch(client=client, settings=settings, clock=clock)
        with harness._stack:
            yield harness
