"""``POST /api/v1/agent/login``: trade an agent's email and password for a bearer token.

The console keeps the token and sends it in ``agent.hello``. Only its SHA-256 is stored.
"""

from __future__ import annotations

import secrets

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from porch_server import store
from porch_server.bodies import BadBody, json_object
from porch_server.context import context_of
from porch_server.cors import preflight, with_cors
from porch_server.models import App
from porch_server.security import (
    AGENT_SESSION_TTL_MS,
    dummy_password_hash,
    token_hash,
    verify_password,
)


def _error(request: Request, status: int, error: str, message: str) -> Response:
    return with_cors(request, JSONResponse({"error": error, "message": message}, status))


async def login(request: Request) -> Response:
    """``{"token", "agent": {"id", "name", "email", "appid"}}``, 401 on bad credentials."""
    if request.method == "OPTIONS":
        return preflight(request)
    ctx = context_of(request)
    try:
        body = await json_object(request)
        email, password = body.get("email"), body.get("password")
        if not (isinstance(email, str) and isinstance(password, str)):
            raise BadBody("'email' and 'password' are required strings")
    except BadBody as exc:
        return _error(request, 400, "invalid_request", str(exc))

    async with ctx.sessions() as session:
        agent = await store.agent_by_email(session, email)
        stored = agent.password_hash if agent is not None else dummy_password_hash()
        # scrypt is deliberately slow: run it off the event loop so other sockets keep flowing.
        ok = await anyio.to_thread.run_sync(verify_password, password, stored)
        if agent is None or not ok:
            return _error(request, 401, "invalid_credentials", "wrong email or password")
        app = await session.get(App, agent.app_id)
        assert app is not None  # foreign key
        token = secrets.token_urlsafe(32)
        await store.add_agent_session(
            session, agent, token_hash(token), ctx.now_ms() + AGENT_SESSION_TTL_MS
        )
        await session.commit()
    agent_json = {"id": str(agent.id), "name": agent.name, "email": agent.email, "appid": app.appid}
    return with_cors(request, JSONResponse({"token": token, "agent": agent_json}))
