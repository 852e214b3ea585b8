"""Serving ``public/`` with the security headers each part of the site needs, precompressed
bodies and cache lifetimes.

The header rules are one table, :data:`HEADER_RULES`: every rule whose prefix starts the request
path adds its headers, in order (a later rule wins on the same header).

``tools/build_public.py`` writes a ``.br`` and a ``.gz`` sibling of each large built asset; a
browser that accepts one of them gets it with ``Content-Encoding`` (Brotli first: 2.77 MB instead
of 3.53 MB gzip for the 9.6 MB Pyodide wasm). A URL with a content hash (``?h=``) never changes,
so it is cached as ``immutable``.

tawk.to's embed URL, ``/<propertyId>/<widgetId>``, answers ``install/tawk.js`` for every known
widget (:func:`embed_script`): the script reads both ids from its own URL.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import stat
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from porch_server.context import Context, context_of
from porch_server.rules.properties import PROPERTY_ID_PATTERN, WIDGET_ID_PATTERN, valid_property_id
from porch_server.storage import store

log = logging.getLogger(__name__)

#: The panel page runs Pyodide in a worker: WebAssembly compilation ('wasm-unsafe-eval'), a
#: blob: worker, and a socket to wherever the chat server is. ``base-uri`` and ``form-action``
#: do not fall back to ``default-src``: without them an injected ``<base>`` or form could point
#: the page's relative URLs or a submission elsewhere (the forms are sent by script).
WIDGET_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
    "connect-src 'self' ws: wss: http: https:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)

_CROSS_ORIGIN_RESOURCE = {"Cross-Origin-Resource-Policy": "cross-origin"}

#: The agent console: its own scripts, styles and socket only, no inline script, and never in a
#: frame (it acts with the agent's session cookie, so a framing page could trick clicks out of an
#: agent). PyScript composes its worker hooks with ``Function()`` on the page ('unsafe-eval':
#: without it the console never starts, and PyScript falls back to fetching Pyodide from a CDN,
#: which 'self' blocks too); Pyodide, in a blob: worker that inherits this policy, compiles
#: WebAssembly ('wasm-unsafe-eval').
AGENT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; "
    "worker-src 'self' blob:; connect-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)

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
            "Content-Security-Policy": AGENT_CSP,
            "X-Frame-Options": "DENY",
        },
    ),
)


#: Pages a host page frames. Each is served with a ``frame-ancestors`` policy listing the allowed
#: domains of the app named by its ``?appid=`` or its tawk.to ``?property=`` (core.js puts one
#: there), so another site cannot frame the widget of an app that is not its own.
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
    """For the app named by ``?appid=``, or by ``?property=`` (a tawk.to propertyId: the
    Tawk_API build of core.js frames the launcher before its bootstrap has named the app)."""
    context: Context = scope["state"]["porch"]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    appid = query.get("appid", [""])[0]
    property_id = query.get("property", [""])[0]
    app = None
    async with context.sessions() as session:
        if appid:
            app = await store.app_by_appid(session, appid)
        elif valid_property_id(property_id):
            app = await store.app_of_tawk_property(session, property_id)
    return frame_ancestors(app.allowed_domains if app is not None else ())


#: Content codings of the precompressed siblings, in order of preference, and their suffixes.
ENCODINGS: tuple[tuple[str, str], ...] = (("br", ".br"), ("gzip", ".gz"))
#: For a URL that names its content (``?h=<hash>``): the bytes behind it never change.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Pyodide's files are fetched by Pyodide under fixed names; they change only with the pinned
#: Pyodide version, so a day without revalidation is safe (a stale wasm with a new snapshot
#: fails the snapshot boot, and the worker then boots without it).
VENDOR_MAX_AGE = "public, max-age=86400"


def accepted_encodings(accept_encoding: str) -> set[str]:
    """The content codings an ``Accept-Encoding`` header accepts (``q=0`` refuses one)."""
    accepted = set()
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            refused = float(quality) == 0
        except ValueError:
            refused = False
        if name.strip() and not refused:
            accepted.add(name.strip().lower())
    return accepted


def headers_for(path: str, query_string: str = "") -> dict[str, str]:
    """The extra headers a static response for ``path`` gets."""
    headers: dict[str, str] = {}
    for prefix, rule in HEADER_RULES:
        if path.startswith(prefix):
            headers.update(rule)
    if parse_qs(query_string).get("h", [""])[0]:
        headers["Cache-Control"] = IMMUTABLE
    elif path.startswith("/vendor/"):
        headers["Cache-Control"] = VENDOR_MAX_AGE
    return headers


class PrecompressedFiles(StaticFiles):
    """StaticFiles that answers with a file's precompressed sibling when the client accepts its
    coding, and names ``Accept-Encoding`` in ``Vary`` whenever a sibling exists, so a shared
    cache never hands one coding to a client that asked for another. A sibling without its
    source is served too: ``snapshot.bin`` exists only as ``snapshot.bin.br``/``.gz``."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] in ("GET", "HEAD"):
            siblings = await anyio.to_thread.run_sync(self._siblings, path)
            if siblings:
                accepted = accepted_encodings(Headers(scope=scope).get("accept-encoding", ""))
                for coding, (full_path, stat_result) in siblings.items():
                    if coding in accepted:
                        return self._encoded(path, coding, full_path, stat_result, scope)
                response = await super().get_response(path, scope)
                response.headers["Vary"] = "Accept-Encoding"
                return response
        return await super().get_response(path, scope)

    def _siblings(self, path: str) -> dict[str, tuple[str, os.stat_result]]:
        found = {}
        for coding, suffix in ENCODINGS:
            full_path, stat_result = self.lookup_path(path + suffix)
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                found[coding] = (full_path, stat_result)
        return found

    def _encoded(
        self,
        path: str,
        coding: str,
        full_path: str,
        stat_result: os.stat_result,
        scope: Scope,
    ) -> Response:
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if path.endswith(".mjs"):
            media_type = "text/javascript"
        response = FileResponse(
            full_path,
            stat_result=stat_result,
            media_type=media_type,
            headers={"Content-Encoding": coding, "Vary": "Accept-Encoding"},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class _WithHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        extra = headers_for(path, scope.get("query_string", b"").decode("latin-1"))
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
    return _WithHeaders(PrecompressedFiles(directory=public_dir, html=True))


# --- tawk.to's embed URL ------------------------------------------------------------------------


class _PropertyId(Convertor[str]):
    regex = PROPERTY_ID_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _WidgetId(Convertor[str]):
    regex = WIDGET_ID_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("tawk_property", _PropertyId())
register_url_convertor("tawk_widget", _WidgetId())

#: The route of tawk.to's embed URL. It matches only a 24-hex first segment and a
#: ``[a-z0-9]{1,50}`` second one, so it never shadows ``/agent/``, ``/api/``, ``/install/``,
#: ``/widget/``, ``/demo/``, ``/files/`` or any other path of the site.
EMBED_PATH = "/{property_id:tawk_property}/{widget_id:tawk_widget}"
#: The file every embed URL answers, relative to the public dir (built from loader/tawk.js).
EMBED_SCRIPT = "install/tawk.js"
EMBED_CONTENT_TYPE = "text/javascript; charset=utf-8"
#: The URL has no content hash and the script changes with each release: five minutes.
EMBED_CACHE = "public, max-age=300"
#: tawk.to's snippet loads the script with ``crossorigin='*'`` (anonymous CORS, no credentials).
_EMBED_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
    **_CROSS_ORIGIN_RESOURCE,
}


def _embed_missing(message: str) -> Response:
    """A 404 a browser can still read and a developer can still understand: a JS comment."""
    return Response(
        f"/* Porch: {message} */\n",
        status_code=404,
        media_type=EMBED_CONTENT_TYPE,
        headers={**_EMBED_HEADERS, "Cache-Control": "no-store"},
    )


def embed_script(public_dir: Path) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of :data:`EMBED_PATH`: the bytes of :data:`EMBED_SCRIPT` (a precompressed
    sibling when the client accepts it) for a known property's widget, 404 otherwise."""
    files = PrecompressedFiles(directory=public_dir, check_dir=False)

    async def embed(request: Request) -> Response:
        property_id = request.path_params["property_id"]
        widget_id = request.path_params["widget_id"]
        async with context_of(request).sessions() as session:
            widget = await store.tawk_widget(session, property_id, widget_id)
        if widget is None:
            return _embed_missing(f"no widget {widget_id} in property {property_id}")
        try:
            response = await files.get_response(EMBED_SCRIPT, request.scope)
        except HTTPException:
            log.warning("%s is missing from %s; build it with make build", EMBED_SCRIPT, public_dir)
            return _embed_missing(f"{EMBED_SCRIPT} is not built on this server (make build)")
        response.headers.update(_EMBED_HEADERS)
        response.headers["Cache-Control"] = EMBED_CACHE
        if response.status_code == 200:
            response.headers["Content-Type"] = EMBED_CONTENT_TYPE
        return response

    return embed
