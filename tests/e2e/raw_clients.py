"""Raw protocol clients for the hostile-input tests: asyncio WebSockets and HTTP against a real
``porch demo`` process, speaking the wire protocol by hand so a test can send what no honest
client would.

Each hostile test starts a server of its own (:func:`own_server`): what it sends may create
visitors, change settings or trip abuse limits, which must not leak into the shared server of
the other e2e tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect

from conftest import PorchServer

#: The demo app's allowed domains are 127.0.0.1 and localhost (any port).
HOST_ORIGIN = "http://127.0.0.1:1"
DEMO_APPID = "porch-demo"
DEMO_SECRET = "porch-demo-secret"
DEMO_AGENT = ("agent@porch.demo", "porch-demo")

_T = TypeVar("_T")


@contextlib.contextmanager
def own_server(workdir: Path, **env: str) -> Iterator[PorchServer]:
    """A ``porch demo`` process of the test's own, with extra environment ``env``."""
    server = PorchServer(workdir)
    server.env.update(env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_async(work: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``work`` in an event loop on a thread of its own: Playwright's sync API may already
    run a loop on the test's thread."""
    result: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(work()))  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised on the test's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def ws_url(server: PorchServer, path: str) -> str:
    return server.url.replace("http", "ws", 1) + path


async def ticket(http: httpx.AsyncClient, server: PorchServer, appid: str = DEMO_APPID) -> str:
    response = await http.post(
        f"{server.url}/api/v1/bootstrap",
        content=json.dumps({"appid": appid}),
        headers={"origin": HOST_ORIGIN, "content-type": "text/plain"},
    )
    response.raise_for_status()
    return str(response.json()["ticket"])


async def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def receive_type(ws: ClientConnection, *types: str, timeout: float = 30) -> dict[str, Any]:
    """The next frame whose type is one of ``types``, skipping others."""
    while True:
        frame = await receive(ws, timeout)
        if frame["type"] in types:
            return frame


async def visitor(
    http: httpx.AsyncClient, server: PorchServer, **hello: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    """A visitor socket after its welcome (``hello``'s fields go into ``visitor.hello``)."""
    ws = await connect(ws_url(server, "/ws/visitor"), origin=HOST_ORIGIN)  # type: ignore[arg-type]
    frame = {"v": 1, "type": "visitor.hello", "ticket": await ticket(http, server), **hello}
    await ws.send(json.dumps(frame))
    welcome = await receive(ws)
    assert welcome["type"] == "visitor.welcome", welcome
    return ws, welcome


async def agent_token(
    http: httpx.AsyncClient, server: PorchServer, email: str, password: str
) -> str:
    response = await http.post(
        f"{server.url}/api/v1/agent/login", json={"email": email, "password": password}
    )
    response.raise_for_status()
    return str(response.json()["token"])


async def agent(server: PorchServer, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """An agent socket after its welcome, authenticated by ``token`` in ``agent.hello``."""
    ws = await connect(ws_url(server, "/ws/agent"), max_size=None)
    await ws.send(json.dumps({"v": 1, "type": "agent.hello", "token": token}))
    welcome = await receive(ws)
    assert welcome["type"] == "agent.welcome", welcome
    return ws, welcome


async def round_trip(ws: ClientConnection, client_id: str, text: str = "ping") -> dict[str, Any]:
    """Send a visitor message and return its ``message.ack``."""
    await ws.send(
        json.dumps({"v": 1, "type": "message.send", "client_id": client_id, "text": text})
    )
    return await receive_type(ws, "message.ack")
