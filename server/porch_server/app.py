"""The ASGI application: ``create_app(settings)`` wires routes, database and hub together.

Run migrations (:func:`porch_server.storage.migrate.upgrade`) before starting it; the app does not
create tables itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from porch_server.config import Settings
from porch_server.context import Context
from porch_server.realtime.hub import Hub, MemoryHub
from porch_server.realtime.limits import Limiter, MemoryLimiter
from porch_server.realtime.status import StatusBoard
from porch_server.storage import store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.group_commit import GroupCommit
from porch_server.transport.http.agent_auth import login, logout
from porch_server.transport.http.bootstrap import bootstrap
from porch_server.transport.http.static import EMBED_PATH, embed_script, static_app
from porch_server.transport.http.uploads import download, upload
from porch_server.transport.ws.agent_ws import agent_socket
from porch_server.transport.ws.visitor_ws import visitor_socket


async def healthz(_request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(
    settings: Settings, hub: Hub | None = None, limiter: Limiter | None = None
) -> Starlette:
    """The Porch server for ``settings``; ``hub`` and ``limiter`` default to fresh in-process
    ones."""
    the_hub = MemoryHub() if hub is None else hub
    the_limiter = MemoryLimiter(settings.limits, settings.clock) if limiter is None else limiter

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Context]]:
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            async with sessions() as session:
                secret = await store.ticket_secret(session)
            board = StatusBoard()

            shared = (settings, engine, sessions, the_hub, secret, board)
            writer = store.MessageWriter(settings.database_url)
            messages = GroupCommit(writer.write)
            messages.start()
            try:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(
                        board.watch,
                        sessions,
                        the_hub,
                        settings.now_ms,
                        settings.status_check_interval,
                    )
                    yield {"porch": Context(*shared, messages, the_limiter)}
                    tasks.cancel_scope.cancel()
            finally:
                await messages.aclose()  # what is queued is written before the engine goes
                await writer.aclose()
        finally:
            await engine.dispose()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/bootstrap", bootstrap, methods=["POST", "OPTIONS"]),
        Route("/api/v1/agent/login", login, methods=["POST", "OPTIONS"]),
        Route("/api/v1/agent/logout", logout, methods=["POST", "OPTIONS"]),
        Route("/api/v1/files", upload, methods=["POST", "OPTIONS"]),
        Route("/files/{file_id}/{name}", download, methods=["GET", "HEAD"]),
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/agent", agent_socket),
        Route(EMBED_PATH, embed_script(settings.public_dir), methods=["GET", "HEAD"]),
        Mount("/", app=static_app(settings.public_dir)),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
