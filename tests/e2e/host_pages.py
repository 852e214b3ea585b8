"""Host pages for the host-API tests: the spec's installation snippet with any ``window.__twt``.

A test page is a customer's page on another site than Porch, as sites deploy it: it is served by
a plain static server on ``127.0.0.1`` (:class:`HostSite`, one per session) and loads
``http://localhost:<port>/install/core.js?version=v1.2`` from the Porch server, exactly as the
documented snippet does. The bootstrap request carries the host's origin, so the server's real
allowed-domain check applies. (A real server, not ``page.route``: Chromium files routed
responses under no address space and refuses them access to loopback servers.)

Every page also records what core.js writes to the console (``window.__porchConsole``), so a
test can await a console error with ``wait_for_function`` instead of sleeping.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Playwright, Route

from conftest import EVENT_RECORDER, PorchServer, serve_directory

#: core.js as the snippet loads it, from Porch's site (``{porch}``: Porch's origin).
SCRIPT_SRC = "{porch}/install/core.js?version=v1.2"

#: Installed before any page script: keeps every console.error/warn text in order.
CONSOLE_RECORDER = """
(() => {
  const seen = [];
  window.__porchConsole = seen;
  for (const level of ["error", "warn"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      seen.push(level + ": " + args.map(String).join(" "));
      original(...args);
    };
  }
})();
"""


class HostSite:
    """A customer's site: a static server on 127.0.0.1 serving the pages tests write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._server = serve_directory(directory)
        self.port = self._server.__enter__()
        self.url = f"http://127.0.0.1:{self.port}"

    def serve(self, name: str, html: str) -> str:
        (self.directory / name).write_text(html, encoding="utf-8")
        return f"{self.url}/{name}"

    def close(self) -> None:
        self._server.__exit__(None, None, None)


def porch_origin(server: PorchServer) -> str:
    """Porch's origin as a host page on the :class:`HostSite` sees it: another site."""
    return f"http://localhost:{server.port}"


def host_page(
    config: dict[str, Any] | str | None,
    *,
    title: str = "Porch API host",
    src: str = SCRIPT_SRC,
    body: str = "",
    manual_init: bool = False,
) -> str:
    """The documented snippet. ``config`` is written to ``window.__twt`` (a dict as JSON, a str
    as a raw JavaScript expression, None leaves it unset). ``manual_init`` uses the spec's
    asyncInit loader, which exposes ``window.__coreLoaded`` from the script's onload."""
    if config is None:
        config_js = ""
    else:
        value = config if isinstance(config, str) else json.dumps(config)
        config_js = f"window.__twt = {value};"
    if manual_init:
        loader = f"""
(function (d) {{
  var sdk = d.createElement("script");
  sdk.async = true;
  sdk.src = {json.dumps(src)};
  sdk.onload = function () {{ window.__coreLoaded = true; }};
  d.head.appendChild(sdk);
}})(document);"""
    else:
        loader = f"""
(function (n, t) {{
  var e = {{
    init: function () {{
      var n = t.createElement("script");
      n.async = !0;
      n.type = "text/javascript";
      n.src = {json.dumps(src)};
      t.head.appendChild(n);
    }},
  }};
  e.init();
}})(window, document);"""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<script>
window.TWTChatWidget = window.TWTChatWidget || {{
  _q: [],
  on: function () {{
    this._q.push(["on", Array.prototype.slice.call(arguments)]);
  }},
}};
{config_js}
{loader}
</script>
</head>
<body>
<main><h1>{title}</h1>{body}</main>
</body>
</html>"""


class Host:
    """Serves host pages (on the session's :class:`HostSite`) to one Playwright page and reads
    what core.js reported."""

    site: HostSite  #: set once per session by conftest's ``host_site`` fixture

    def __init__(self, page: Page, server: PorchServer) -> None:
        self.page = page
        self.server = server
        self.porch = porch_origin(server)
        page.add_init_script(EVENT_RECORDER)
        page.add_init_script(CONSOLE_RECORDER)

    def url(self, name: str) -> str:
        return f"{self.site.url}/{self._unique(name)}"

    def _unique(self, name: str) -> str:
        # One directory serves every test of the session: name each page for its test.
        return f"{id(self)}-{name}"

    def serve(self, name: str, html: str) -> str:
        return self.site.serve(self._unique(name), html.replace("{porch}", self.porch))

    def goto(
        self, config: dict[str, Any] | str | None, name: str = "page.html", **options: Any
    ) -> str:
        url = self.serve(name, host_page(config, **options))
        self.page.goto(url)
        return url

    def console(self) -> list[str]:
        return list(self.page.evaluate("window.__porchConsole"))

    def wait_for_console(self, *fragments: str, count: int = 1, timeout: float = 10_000) -> str:
        """Wait until ``count`` console errors/warnings contain every fragment; return the last."""
        handle = self.page.wait_for_function(
            """([parts, count]) => {
                 const hits = window.__porchConsole.filter(t => parts.every(p => t.includes(p)));
                 return hits.length >= count && hits[hits.length - 1]; }""",
            arg=[list(fragments), count], timeout=timeout,
        )
        return str(handle.json_value())

    def visitor(self, uid: str) -> dict[str, Any]:
        """The server's stored record of a visitor (by the visitorUid of visitor_auth_ready)."""
        with sqlite3.connect(self.server.workdir / "porch.db") as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM visitors WHERE uid = ?", (uid,)).fetchone()
        assert row is not None, f"no visitor {uid!r}"
        return dict(row)


def block_runtime(page: Page) -> None:
    """Keep the Python runtime from ever loading: the worker's Pyodide request never completes.
    For tests about the host side that open the panel but must not pay for a Pyodide boot."""

    def hold(route: Route) -> None:
        pass  # never fulfilled: the request stays pending until the page closes

    page.route("**/vendor/pyodide/**", hold)


def phone_device(playwright: Playwright, name: str) -> dict[str, Any]:
    """Playwright's descriptor of the phone ``name`` (viewport, pixel ratio, user agent, touch)
    as ``browser.new_context()`` options; the browser is Chromium whatever the phone's own is."""
    options = dict(playwright.devices[name])
    options.pop("default_browser_type")
    return options
