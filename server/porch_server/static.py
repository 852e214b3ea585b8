"""Serving ``public/`` with the security headers each part of the site needs.

The header rules are one table, :data:`HEADER_RULES`: every rule whose prefix starts the request
path adds its headers, in order (a later rule wins on the same header).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from porch_server import store
from porch_server.context import Context

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


#: Pages a host page frames. Each is served with a ``frame-ancestors`` policy listing the allowed
#: domains of the app named by its ``?appid=`` (core.js puts it there), so another site cannot
#: frame the widget of an app that is not its own.
FRAMED_PAGES = frozenset({"/widget/panel.html", "/widget/launcher.html"})


def frame_ancestors(allowed_domains: Iterable[object]) -> str:
    """The CSP directive for an app's allowed hostnames (any scheme, any port); ``'none'`` when
    there are none. Entries that are not plain hostnames or ``*.`` wildcards are skipped, since
    they could otherwise inject directives."""
    sources = []
    for entry in allowed_domains:
        if not isinstance(entry, str):
            continue
        host = entry.strip().lower()
        bare = host[2:] if host.startswith("*.") else host
        if not bare or not all(c.isalnum() or c in "-." for c in bare):
            continue
        sources += [f"http://{host}:*", f"https://{host}:*"]
    return "frame-ancestors " + (" ".join(sources) if sources else "'none'")


async def _frame_ancestors_for(scope: Scope) -> str:
    context: Context = scope["state"]["porch"]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    appid = query.get("appid", [""])[0]
    async with context.sessions() as session:
        app = await store.app_by_appid(session, appid) if appid else None
    return frame_ancestors(app.allowed_domains if app is not None else ())


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
        path = scope.get("path", "/")
        extra = headers_for(path)
        ancestors = await _frame_ancestors_for(scope) if path in FRAMED_PAGES else None

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
                if ancestors is not None:
                    # A second policy: browsers enforce both, so this only adds the restriction.
                    headers.append("Content-Security-Policy", ancestors)
            await send(message)

        await self._app(scope, receive, _send)


def static_app(public_dir: Path) -> ASGIApp:
    """An ASGI app serving ``public_dir`` (``/demo/`` serves ``/demo/index.html``); 404 for
    everything when the folder does not exist, so the API still works without a built site."""
    if not public_dir.is_dir():
        log.warning("public dir %s does not exist; static files will 404", public_dir)
        return _WithHeaders(PlainTextResponse("Not Found", status_code=404))
    return _WithHeaders(StaticFiles(directory=public_dir, html=True))
