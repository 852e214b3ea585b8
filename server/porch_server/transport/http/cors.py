"""CORS for the two JSON endpoints the browser calls across origins (bootstrap, agent login).

Neither endpoint accepts cookies or other ambient credentials (a login sets its session cookie
only for the server's own origin), so reflecting the caller's ``Origin`` is safe; the
bootstrap's real domain check is its allowed-domains rule, not CORS.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

_PREFLIGHT_MAX_AGE = "600"


def with_cors(request: Request, response: Response) -> Response:
    """Let the calling page read ``response`` (errors included); returns ``response``."""
    origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def preflight(request: Request) -> Response:
    """The answer to an ``OPTIONS`` preflight for a POST with a JSON body."""
    response = Response(status_code=204)
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    requested = request.headers.get("access-control-request-headers")
    response.headers["Access-Control-Allow-Headers"] = requested or "content-type"
    response.headers["Access-Control-Max-Age"] = _PREFLIGHT_MAX_AGE
    return with_cors(request, response)
