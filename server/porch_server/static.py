"""Serving ``public/`` with the security headers each part of the site needs.

The header rules are one table, :data:`HEADER_RULES`: every rule whose prefix starts the request
path adds its headers, in order (a later rule wins on the same header).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: The panel page runs Pyodide in a worker: WebAssembly compilation ('wasm-unsafe-eval'), a
#: blob: worker, and a socket to wherever the chat server is.
WIDGET_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
    "connect-src 'self' ws: wss: http: https:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:"
)

_CROSS_ORIGIN_RESOURCE = {"Cross-Origin-Resource-Policy": "cross-origin"}

#: (path prefix, headers). Widget, vendor and install files are loaded from other origins in a
#: split deployment; the agent console is cross-origin isolated so a PyScript worker can use
#: SharedArrayBuffer.
HEADER_RULES: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("/", {"X-Content-Type-Options": "nosniff"}),
    ("/widget/", {"Content-Security-Policy": WIDGET_CSP, **_CROSS_ORIGIN_RESOURCE}),
    ("/vendor/", _CROSS_ORIGIN_RESOURCE),
    ("/install/", _CROSS_ORIGIN_RESOURCE),
    (
        "/agent/",
        {
            "Cross-Origin-Opener-Policy": "same-origin",
            "Cross-Origin-Embedder-Policy": "require-corp",
        },
    ),
)


def headers_for(path: str) -> dict[str, str]:
    """The extra headers a static response for ``path`` gets."""
    headers: dict[str, str] = {}
    for prefix, rule in HEADER_RULES:
        if path.startswith(prefix):
            headers.update(rule)
    return headers


class _WithHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = headers_for(scope.get("path", "/"))

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self._app(scope, receive, _send)


def static_app(public_dir: Path) -> ASGIApp:
    """An ASGI app serving ``public_dir`` (``/demo/`` serves ``/demo/index.html``); 404 for
    everything when the folder does not exist, so the API still works without a built site."""
    if not public_dir.is_dir():
        log.warning("public dir %s does not exist; static files will 404", public_dir)
        return _WithHeaders(PlainTextResponse("Not Found", status_code=404))
    return _WithHeaders(StaticFiles(directory=public_dir, html=True))
