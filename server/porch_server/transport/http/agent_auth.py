"""Agent logins: ``POST /api/v1/agent/login`` trades an email and password for a session,
``POST /api/v1/agent/logout`` ends it.

A login answers with a bearer token (for API clients) and sets it as an HttpOnly, SameSite=Strict
session cookie, so the console served at ``/agent/`` never holds the token in JavaScript; the
cookie is set only for this server's own origin. Only
the token's SHA-256 is stored.

Everything the cookie authenticates goes through :mod:`porch_server.transport.credentials`.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from porch_server.context import context_of
from porch_server.realtime.limits import Rule, address_of, retry_after, retry_message
from porch_server.rules.security import (
    AGENT_SESSION_TTL_MS,
    dummy_password_hash,
    random_token,
    token_hash,
    verify_password,
)
from porch_server.storage import store
from porch_server.storage.models import App
from porch_server.transport.credentials import (
    SESSION_COOKIE,
    CookieRefused,
    own_origin,
    session_token,
)
from porch_server.transport.http.bodies import BadBody, json_object
from porch_server.transport.http.cors import preflight, with_cors


def _error(request: Request, status: int, error: str, message: str) -> Response:
    return with_cors(request, JSONResponse({"error": error, "message": message}, status))


async def login(request: Request) -> Response:
    """``{"token", "agent": {"id", "name", "email", "appid", "role"}}`` plus the session cookie;
    401 on bad credentials."""
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
    # Failed attempts count, per account and per address: a wrong guess costs the guesser, an
    # agent who knows the password is never slowed down.
    buckets = (
        (Rule.LOGIN_PER_ACCOUNT, email.strip().lower()),
        (Rule.LOGIN_PER_ADDRESS, address_of(request.client)),
    )
    wait = max([await ctx.limiter.wait(rule, key) for rule, key in buckets])
    if wait:
        response = _error(request, 429, "rate_limited", retry_message("failed logins", wait))
        response.headers["Retry-After"] = retry_after(wait)
        return response

    async with ctx.sessions() as session:
        agent = await store.agent_by_email(session, email)
        stored = agent.password_hash if agent is not None else dummy_password_hash()
        # argon2 is deliberately slow: run it off the event loop so other sockets keep flowing.
        ok = await anyio.to_thread.run_sync(verify_password, password, stored)
        if agent is None or not ok:
            for rule, key in buckets:
                await ctx.limiter.take(rule, key)
            return _error(request, 401, "invalid_credentials", "wrong email or password")
        app = await session.get(App, agent.app_id)
        assert app is not None  # foreign key
        token = random_token(32)
        await store.add_agent_session(
            session, agent, token_hash(token), ctx.now_ms() + AGENT_SESSION_TTL_MS
        )
        await session.commit()
    agent_json = {
        "id": str(agent.id),
        "name": agent.name,
        "email": agent.email,
        "appid": app.appid,
        "role": agent.role,
    }
    response = JSONResponse({"token": token, "agent": agent_json})
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        # Login CSRF: a page elsewhere could sign this browser into an account of its choosing.
        # Only the console's own origin (or a client that sends no Origin) gets the cookie.
        return with_cors(request, response)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=AGENT_SESSION_TTL_MS // 1000,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return with_cors(request, response)


async def logout(request: Request) -> Response:
    """End the session named by the bearer token or cookie (if any) and clear the cookie; 204,
    so logging out twice is harmless. 403 for the cookie from another origin (or none): a page
    elsewhere must not log the agent out."""
    if request.method == "OPTIONS":
        return preflight(request)
    ctx = context_of(request)
    try:
        token = session_token(request)
    except CookieRefused as exc:
        return _error(request, 403, "forbidden_origin", str(exc))
    if token is not None:
        async with ctx.sessions() as session:
            await store.delete_agent_session(session, token_hash(token))
            await session.commit()
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return with_cors(request, response)
