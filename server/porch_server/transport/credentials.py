"""Who an agent's request or socket speaks for: a bearer token, or the console's session cookie
from this server's own origin. The one place both transports (HTTP and the agent socket) take
agent credentials from.

SameSite=Strict keeps the cookie from other *sites*, not from other origins of the same site
(``evil.example.com`` next to ``chat.example.com``). So everything the cookie authenticates (the
console's socket, uploads, logout) goes through one check, :func:`cookie_origin_ok`: the
request's ``Origin`` must be this server's own; a missing one is refused too. A bearer token
is not ambient, so it works from any origin.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from porch_server.context import Context
from porch_server.rules.security import token_hash
from porch_server.storage import store
from porch_server.storage.models import Agent

#: The console's session cookie; its value is the bearer token.
SESSION_COOKIE = "porch_session"


class CookieRefused(Exception):
    """The session cookie would authenticate a request that did not come from this server's own
    origin (cross-site request forgery from a page of the same site, or no ``Origin`` at all)."""


def cookie_origin_ok(conn: HTTPConnection) -> bool:
    """Whether the session cookie may authenticate ``conn``: its ``Origin`` is this server's own.
    Browsers send ``Origin`` on every WebSocket handshake and every POST, so a missing one is a
    refusal too. The one check for every use of the cookie."""
    return conn.headers.get("origin") == own_origin(conn)


def refused_cookie_message(conn: HTTPConnection) -> str:
    """Why :func:`cookie_origin_ok` said no, for the error's ``message``."""
    origin = conn.headers.get("origin")
    sent = "no Origin header" if origin is None else f"Origin {origin!r}"
    return (
        f"the session cookie counts only on requests with Origin {own_origin(conn)!r}, this one "
        f"has {sent}; API clients send Authorization: Bearer <token>"
    )


def session_token(conn: HTTPConnection) -> str | None:
    """The agent token a request carries: ``Authorization: Bearer`` first, then the cookie.
    Raises :class:`CookieRefused` when the cookie is all it has and it came from elsewhere."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = conn.cookies.get(SESSION_COOKIE) or None
    if cookie is not None and not cookie_origin_ok(conn):
        raise CookieRefused(refused_cookie_message(conn))
    return cookie


async def agent_from_request(ctx: Context, conn: HTTPConnection) -> Agent | None:
    """The agent logged in on this request (bearer token or session cookie), or None.
    Raises :class:`CookieRefused` like :func:`session_token`."""
    token = session_token(conn)
    if token is None:
        return None
    async with ctx.sessions() as session:
        return await store.agent_for_token(session, token_hash(token), ctx.now_ms())


def own_origin(conn: HTTPConnection) -> str:
    """This server's origin as the browser sees it (``http(s)://host[:port]``)."""
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', conn.url.netloc)}"
