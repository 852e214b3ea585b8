"""``POST /api/v1/bootstrap``: the host page's first call, and the allowed-domain check.

The browser sets ``Origin`` to the host page's origin here (``core.js`` runs in the host page),
so this is the one place the domain whitelist can be trusted. Success returns a ticket bound to
that origin; the runtime presents it in ``visitor.hello``.

The page names its app by ``appid`` (Porch's own snippet) or by a tawk.to ``property_id`` and
``widget_id`` (tawk.to's snippet pointed at Porch); the second form's answer also names the app
and carries the widget's settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from porch_server.context import context_of
from porch_server.realtime.status import current_status
from porch_server.rules import properties
from porch_server.rules.origins import hostname_allowed, origin_hostname
from porch_server.rules.security import issue_ticket, verify_visitor
from porch_server.storage import records, store
from porch_server.storage.models import App
from porch_server.transport.http.bodies import BadBody, json_object
from porch_server.transport.http.cors import preflight, with_cors


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


def _target(body: dict[str, Any]) -> str | tuple[str, str]:
    """The appid, or the tawk.to ``(property_id, widget_id)``; raises :class:`BadBody` unless
    exactly one of the two forms is given, well formed."""
    appid = body.get("appid")
    property_id, widget_id = body.get("property_id"), body.get("widget_id")
    tawk = property_id is not None or widget_id is not None
    if appid is not None and tawk:
        raise BadBody("give either 'appid' or 'property_id' and 'widget_id', not both")
    if not tawk:
        if not isinstance(appid, str) or not appid:
            raise BadBody(
                "'appid' is required and must be a non-empty string "
                "(or give 'property_id' and 'widget_id')"
            )
        return appid
    if not properties.valid_property_id(property_id):
        raise BadBody("'property_id' must be a string of 24 lowercase hex digits")
    if not properties.valid_widget_id(widget_id):
        raise BadBody("'widget_id' must be a string of 1-50 lowercase letters and digits")
    assert isinstance(property_id, str) and isinstance(widget_id, str)
    return property_id, widget_id


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
    """Answer with ``{"v": 1, "ticket", "expires_at", "resume", "unread", "page_status"}`` (plus
    ``"appid"`` and ``"widget"`` when the page named a tawk.to widget) or an error object."""
    if request.method == "OPTIONS":
        return preflight(request)
    ctx = context_of(request)
    try:
        body = await json_object(request)
        target = _target(body)
        identity = _identity(body)
    except BadBody as exc:
        return _error(request, 400, "invalid_bootstrap", str(exc))

    origin = request.headers.get("origin")
    widget: dict[str, str] | None = None
    async with ctx.sessions() as session:
        if isinstance(target, str):
            app = await store.app_by_appid(session, target)
            if app is None:
                return _error(request, 404, "invalid_bootstrap", f"unknown appid {target!r}")
            named = f"app {app.appid!r}"
        else:
            found = await store.app_of_tawk_widget(session, *target)
            if found is None:
                message = (
                    f"unknown property {target[0]!r}"
                    if await store.tawk_property(session, target[0]) is None
                    else f"property {target[0]!r} has no widget {target[1]!r}"
                )
                return _error(request, 404, "invalid_bootstrap", message)
            app, widget = found[0], dataclasses.asdict(records.tawk_widget_settings(found[1]))
            named = f"property {target[0]!r} (app {app.appid!r})"
        if origin is None or not hostname_allowed(origin_hostname(origin), app.allowed_domains):
            return _error(
                request,
                403,
                "domain_not_whitelisted",
                f"origin {origin!r} is not on the allowed domains of {named}",
            )
        resume, unread = await _resume(session, app, identity)
        status = await current_status(session, ctx.hub, app, ctx.now_ms())
        appid = app.appid

    ticket, expires_at = issue_ticket(ctx.ticket_secret, appid, origin, ctx.now_ms())
    payload: dict[str, Any] = {
        "v": 1,
        "ticket": ticket,
        "expires_at": expires_at,
        "resume": resume,
        "unread": unread,
        "page_status": status,
    }
    if widget is not None:
        payload["appid"] = appid
        payload["widget"] = widget
    return with_cors(request, JSONResponse(payload))
