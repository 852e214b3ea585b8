"""The ASGI application: ``create_app(settings)`` wires routes, database and hub together.

Run migrations (:func:`porch_server.storage.migrate.upgrade`) before starting it; the app does not
create tables itself.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import anyio
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute

from porch_server.config import Settings
from porch_server.context import Context, context_of
from porch_server.realtime import retention
from porch_server.realtime.hub import Hub, MemoryHub
from porch_server.realtime.limits import Limiter, MemoryLimiter
from porch_server.realtime.status import LocalStatusMemory, StatusBoard, StatusMemory
from porch_server.storage import store
from porch_server.storage.db import create_engine, session_factory
from porch_server.storage.group_commit import GroupCommit
from porch_server.storage.writer import message_writer
from porch_server.transport.http.agent_auth import login, logout
from porch_server.transport.http.bootstrap import bootstrap
from porch_server.transport.http.metrics import LoopLag, metrics
from porch_server.transport.http.static import EMBED_PATH, embed_script, static_app
from porch_server.transport.http.uploads import download, upload
from porch_server.transport.ws.agent_ws import agent_socket
from porch_server.transport.ws.visitor_ws import visitor_socket


async def healthz(_request: Request) -> Response:
    """Liveness: the process serves requests."""
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Readiness, for a load balancer: the database and (when configured) Redis answer. 503
    with what failed otherwise, so the balancer sends sockets to another process."""
    ctx = context_of(request)
    problems: dict[str, str] = {}
    try:
        async with ctx.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = type(exc).__name__
    try:
        await ctx.hub.ping()
    except Exception as exc:
        problems["redis"] = type(exc).__name__
    if problems:
        return JSONResponse({"ok": False, "failed": problems}, status_code=503)
    return JSONResponse({"ok": True})


_ROOT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Porch</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Porch</h1>
<p>This is a Porch chat server.</p>
<ul>
<li><a href="/agent/">Agent console</a>: where agents answer visitors.</li>
<li><code>/healthz</code>: liveness; <code>/readyz</code>: readiness (database and Redis).</li>
<li>Embed the widget with <code>/install/core.js</code>
(see the README's installation snippet).</li>
</ul></body></html>
"""


async def root(request: Request) -> Response:
    """The server's root URL: the demo page under ``porch demo``, else a page saying what this
    server is and where its console is (not a bare 404)."""
    if context_of(request).settings.demo:
        return RedirectResponse("/demo/", status_code=307)
    return HTMLResponse(_ROOT_PAGE, headers={"Content-Security-Policy": "default-src 'none'"})


def realtime_for(
    settings: Settings, hub: Hub | None = None
) -> tuple[Hub, StatusMemory, Limiter]:
    """Fan-out, page-status memory and abuse limits: in memory for one process, in Redis when
    ``settings.redis_url`` is set (every process then meets the same limits). A given ``hub``
    (tests watch a MemoryHub's peers) is used as it is; the limits live where it counts."""
    local_limits = MemoryLimiter(settings.limits, settings.clock)
    if settings.redis_url is None:
        return hub or MemoryHub(), LocalStatusMemory(), local_limits
    from porch_server.realtime.redis_hub import RedisHub, RedisLimiter, RedisStatusMemory

    the_hub = RedisHub(settings.redis_url) if hub is None else hub
    limiter = (
        RedisLimiter(the_hub, settings.limits, settings.clock)
        if isinstance(the_hub, RedisHub)
        else local_limits
    )
    return the_hub, RedisStatusMemory(settings.redis_url), limiter


def create_app(
    settings: Settings, hub: Hub | None = None, limiter: Limiter | None = None
) -> Starlette:
    """The Porch server for ``settings``; ``hub`` and ``limiter`` default to
    :func:`realtime_for`'s (docs/security.md, "Abuse limits")."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, Context]]:
        the_hub, memory, the_limiter = realtime_for(settings, hub)
        if limiter is not None:
            the_limiter = limiter
        engine = create_engine(settings.database_url)
        await the_hub.start()
        try:
            sessions = session_factory(engine)
            async with sessions() as session:
                secret = await store.ticket_secret(session)
            board = StatusBoard(memory)

            shared = (settings, engine, sessions, the_hub, secret, board)
            lag = LoopLag() if settings.metrics else None
            writer = message_writer(settings.database_url)
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
                    if settings.retention_days > 0:
                        await tasks.start(
                            retention.keep,
                            sessions,
                            the_hub,
                            settings.data_dir,
                            settings.now_ms,
                            settings.retention_days,
                            settings.retention_check_interval,
                        )
                    if lag is not None:
                        tasks.start_soon(lag.watch)
                    yield {"porch": Context(*shared, messages, the_limiter, lag)}
                    tasks.cancel_scope.cancel()
            finally:
                await messages.aclose()  # what is queued is written before the engine goes
                await writer.aclose()
        finally:
            await engine.dispose()
            await the_hub.aclose()
            await memory.aclose()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *([Route("/metrics", metrics, methods=["GET"])] if settings.metrics else []),
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


def app_from_env() -> Starlette:
    """One worker process of ``porch serve --workers N``: its settings come from the
    environment (:meth:`Settings.to_env`), as uvicorn starts each worker by import."""
    app = create_app(Settings.from_env())
    prepare_process()  # after the app exists, so that it is frozen with the modules
    return app


#: The cyclic garbage collector's thresholds for the server: young collections every 50,000
#: allocations, not 700 (fewer short-lived frames and rows survive into the old generations), and
#: a full collection considered after 100 middle ones, not 10. With 10,000 sockets held, each
#: full collection scans millions of objects and stopped the process for 1.5-4.8 s at a time.
SERVER_GC_THRESHOLDS = (50_000, 20, 100)


def prepare_process() -> None:
    """Tune a server process's garbage collector, once its modules are loaded."""
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    # What is loaded by now (modules, the app) lives as long as the process: the collector need
    # never scan it again.
    gc.collect()
    gc.freeze()
