"""``POST /api/v1/bootstrap``: the host page's first call, and the allowed-domain check.

The browser sets ``Origin`` to the host page's origin here (``core.js`` runs in the host page),
so this is the one place the domain whitelist can be trusted. Success returns a ticket bound to
that origin; the runtime presents it in ``visitor.hello``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from porch_server import store
from porch_server.bodies import BadBody, json_object
from porch_server.context import context_of
from porch_server.cors import preflight, with_cors
from porch_server.models import App
from porch_server.origins import hostname_allowed, origin_hostname
from porch_server.security import issue_ticket, verify_visitor
from porch_server.status import current_status


def _error(request: Request, status: int, error: str, message: str) -> Response:
    return with_cors(request, JSONResponse({"error": error, "message": message}, status))


def _identity(body: dict[str, Any]) -> tuple[str, str] | None:
    """``(bs, bs_mm)``, or None when absent; raises :class:`BadBody` when malformed."""
    identity = body.get("identity")
    if identity is None:
        return None
    if not isinstance(identity, dict):
        raise BadBody("'identity' must be an object with string 'bs' and 'bs_mm', or null")
    bs, bs_mm = identity.get("bs"), identity.get("bs_mm")
    if not (isinstance(bs, str) and isinstance(bs_mm, str)):
        raise BadBody("'identity' must be an object with string 'bs' and 'bs_mm', or null")
    return bs, bs_mm


async def _resume(
    session: AsyncSession, app: App, identity: tuple[str, str] | None
) -> tuple[bool, int]:
    """Whether a returning visitor has a conversation to resume, and its unread count."""
    if identity is None or not verify_visitor(app.secret, *identity):
        return False, 0
    visitor = await store.visitor_by_public_id(session, app, identity[0])
    if visitor is None or visitor.revoked_at is not None:
        return False, 0
    conversation = await store.latest_conversation(session, visitor)
    if conversation is None or conversation.last_seq == 0:
        return False, 0
    return True, await store.unread_for_visitor(session, conversation)


async def bootstrap(request: Request) -> Response:
    """Answer with ``{"v": 1, "ticket", "expires_at", "resume", "unread", "page_status"}`` or an
    error object."""
    if request.method == "OPTIONS":
        return preflight(request)
    ctx = context_of(request)
    try:
        body = await json_object(request)
        appid = body.get("appid")
        if not isinstance(appid, str) or not appid:
            raise BadBody("'appid' is required and must be a non-empty string")
        identity = _identity(body)
    except BadBody as exc:
        return _error(request, 400, "invalid_bootstrap", str(exc))

    origin = request.headers.get("origin")
    async with ctx.sessions() as session:
        app = await store.app_by_appid(session, appid)
        if app is None:
            return _error(request, 404, "invalid_bootstrap", f"unknown appid {appid!r}")
        if origin is None or not hostname_allowed(origin_hostname(origin), app.allowed_domains):
            return _error(
                request,
                403,
                "domain_not_whitelisted",
                f"origin {origin!r} is not on the allowed domains of app {appid!r}",
            )
        resume, unread = await _resume(session, app, identity)
        status = await current_status(session, ctx.hub, app, ctx.now_ms())

    ticket, expires_at = issue_ticket(ctx.ticket_secret, appid, origin, ctx.now_ms())
    payload = {
        "v": 1,
        "ticket": ticket,
        "expires_at": expires_at,
        "resume": resume,
        "unread": unread,
        "page_status": status,
    }
    return with_cors(request, JSONResponse(payload))
