"""What the host page and the visitor feel, measured in real headless Chromium against a real
server (``run.py`` drives this; docs/performance.md explains each figure).

Times from different frames are put on one clock: every probe records
``performance.timeOrigin + performance.now()`` (milliseconds since the epoch).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Frame, Page, Request
from playwright.sync_api import Error as PlaywrightError

from conftest import ROOT, PorchServer, serve_directory

#: Installed in every frame before its scripts. The top frame counts long tasks and layout
#: shifts; the launcher notes when it is first painted and when it is pressed.
PROBE = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const probe = (window.__bench = { longTasks: [], shift: 0 });
  const path = location.pathname;
  if (window.top === window) {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) probe.shift += e.value;
    }).observe({ type: "layout-shift", buffered: true });
  } else if (path.endsWith("/widget/launcher.html")) {
    document.addEventListener("DOMContentLoaded", () =>
      requestAnimationFrame(() => requestAnimationFrame(() => { probe.visibleAt = now(); })));
    addEventListener("pointerdown", () => { probe.pressedAt = probe.pressedAt || now(); }, true);
  }
})();
"""
#: Host API events reach the bench through a binding, so waiting for one runs no polling
#: script on the host page (which would count as its script time).
EVENTS = """
(() => {
  if (window.top !== window) return;
  const api = (window.TWTChatWidget = window.TWTChatWidget || {
    _q: [],
    on: function () { this._q.push(["on", Array.prototype.slice.call(arguments)]); },
  });
  for (const name of ["iframe_loaded", "runtime_mounted", "runtime_activated"]) {
    api.on(name, () => window.__benchEvent(name, performance.timeOrigin + performance.now()));
  }
  // tawk.js only: when the page's Tawk_API.onLoad code may run (the widget's settings are in).
  addEventListener("tawkLoad", () =>
    window.__benchEvent("tawkLoad", performance.timeOrigin + performance.now()), { once: true });
})();
"""
#: Paths whose requests are Porch's (everything else is the host page's own), and tawk.to's
#: embed URL, ``/<propertyId>/<widgetId>``, which the server answers with ``install/tawk.js``.
PORCH_PATHS = ("/install/", "/widget/", "/vendor/", "/api/", "/ws/")
TAWK_EMBED = re.compile(r"^https?://[^/]+/[0-9a-f]{24}/[a-z0-9]{1,50}/?(\?|$)")
#: The demo's tawk.to property and widget (``porch demo``; docs/migrating-from-tawk.md).
TAWK_PROPERTY, TAWK_WIDGET = "64f0d3e3c0ffee0000000001", "default"
#: The pre-boot's release time on preboot_memory()'s page (the default is 30 s).
PREBOOT_TIMEOUT_MS = 5000
#: CDP network profiles: (name, bits per second, round-trip ms).
NETWORKS = {"10mbit-40ms": (10e6, 40), "1.6mbit-150ms": (1.6e6, 150)}


def is_porch(url: str) -> bool:
    return any(p in url for p in PORCH_PATHS) or TAWK_EMBED.match(url) is not None


@dataclass
class Site:
    """Where the host page is and where Porch is served from."""

    name: str
    host_url: str
    #: The host script's URL (a glob): the baseline visit blocks it.
    script: str = "**/install/core.js*"
    #: ``native`` (core.js, window.TWTChatWidget) or ``tawk`` (tawk.js from tawk.to's snippet).
    variant: str = "native"


@contextlib.contextmanager
def sites(server: PorchServer) -> Iterator[list[Site]]:
    """Three placements: the widget on another site than the host page (``localhost`` vs
    ``127.0.0.1``), both on one origin (the server's own demo page), and tawk.to's dashboard
    snippet (``public/demo/tawk.html``) on another site, with only its URL changed: the embed
    URL ``<Porch>/<propertyId>/<widgetId>`` instead of ``https://embed.tawk.to/...``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        demo = ROOT / "public" / "demo"
        shutil.copy(demo / "demo.css", folder / "demo.css")
        page = (demo / "index.html").read_text()
        widget = server.url.replace("127.0.0.1", "localhost")
        (folder / "index.html").write_text(
            page.replace('"/install/core.js', f'"{widget}/install/core.js')
        )
        # The demo's snippet takes the server from location.origin (it is served by Porch); here
        # it names Porch's site as a literal, as tawk.to's dashboard writes embed.tawk.to.
        embed = f"/{TAWK_PROPERTY}/{TAWK_WIDGET}"
        tawk = (demo / "tawk.html").read_text()
        snippet = f"location.origin+'{embed}'"
        if snippet not in tawk:
            raise RuntimeError(f"public/demo/tawk.html no longer loads {snippet}")
        (folder / "tawk.html").write_text(tawk.replace(snippet, f"'{widget}{embed}'"))
        # The cross-site page with a short `prebootTimeout`, for preboot_memory().
        short = 'appid: "porch-demo",'
        if short not in page:
            raise RuntimeError(f"public/demo/index.html no longer configures {short}")
        (folder / "preboot.html").write_text(
            (folder / "index.html")
            .read_text()
            .replace(short, f"{short} prebootTimeout: {PREBOOT_TIMEOUT_MS},")
        )
        with serve_directory(folder) as port:
            yield [
                Site("cross-site", f"http://127.0.0.1:{port}/index.html"),
                Site("same-origin", f"{server.url}/demo/"),
                Site(
                    "tawk cross-site",
                    f"http://127.0.0.1:{port}/tawk.html",
                    script=f"**{embed}*",
                    variant="tawk",
                ),
            ]


class Visit:
    """One page of a context, with every request and Porch's console lines recorded."""

    def __init__(self, context: BrowserContext, *, block: str | None = None) -> None:
        self.page: Page = context.new_page()
        self.page.add_init_script(PROBE)
        self.events: dict[str, float] = {}
        self.page.expose_binding(
            "__benchEvent", lambda _source, name, at: self.events.setdefault(name, at)
        )
        self.page.add_init_script(EVENTS)
        if block:
            self.page.route(block, lambda route: route.abort())
        self.finished: list[tuple[float, Request]] = []
        self.logs: list[str] = []
        self.page.on("requestfinished", lambda r: self.finished.append((self.clock(), r)))
        self.page.on("console", self._console)
        self.cdp = context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def _console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("[porch runtime]"):
            self.logs.append(message.text)

    def clock(self) -> float:
        """The epoch clock the probes use (one machine, one clock)."""
        return time.time() * 1000

    def script_ms(self) -> float:
        """Main-thread script time of the host page's renderer so far (its same-site frames
        included: they share its main thread)."""
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        return 1000 * next(m["value"] for m in metrics if m["name"] == "ScriptDuration")

    def settle(self) -> None:
        # Network idle, or 15 s at most (a loaded machine can keep a prefetch going that long).
        with contextlib.suppress(PlaywrightError):
            self.page.wait_for_load_state("networkidle", timeout=15_000)
        # Observers deliver entries asynchronously: let a frame pass before reading them.
        self.page.evaluate("new Promise((done) => requestAnimationFrame(() => setTimeout(done)))")

    def probe(self) -> dict[str, Any]:
        return dict(self.page.evaluate("window.__bench"))

    def frame_probe(self, path: str) -> dict[str, Any]:
        for frame in self.page.frames:
            if path in frame.url:
                return dict(frame.evaluate("window.__bench || {}"))
        return {}

    def event_at(self, name: str, timeout: float = 120) -> float:
        """When a host API event fired, on the epoch clock."""
        deadline = time.monotonic() + timeout
        while name not in self.events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} in {timeout} s")
            self.page.wait_for_timeout(10)  # lets the binding's calls in; runs nothing in the page
        return self.events[name]

    def panel_frame(self, timeout: float = 60) -> Frame:
        """The panel's frame once it has navigated, looked up from here: waiting with a selector
        would run script in the host page."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.page.frames:
                if "/widget/panel.html" in frame.url:
                    return frame
            self.page.wait_for_timeout(5)
        raise TimeoutError(f"no panel frame in {timeout} s")

    def porch_bytes(self, since: float = 0, until: float = float("inf")) -> dict[str, float]:
        """Encoded bytes and count of Porch's requests finished in [since, until]."""
        total = requests = pyodide = 0
        for at, request in self.finished:
            if not since <= at <= until or not is_porch(request.url):
                continue
            sizes = request.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            requests += 1
            if "/vendor/pyodide/" in request.url:
                pyodide += sizes["responseBodySize"]
        return {"bytes": total, "requests": requests, "pyodide_bytes": pyodide}

    def wait_for_log(self, *texts: str) -> None:
        """Until a runtime log line contains one of ``texts``."""
        if not any(t in line for t in texts for line in self.logs):
            self.page.wait_for_event(
                "console", lambda m: any(t in m.text for t in texts), timeout=60_000
            )

    def close(self) -> None:
        self.page.close()


#: Fields laid over the page's own ``window.__twt`` as it sets it (the bench's pages are the
#: demo's, which set it in their snippet).
TWT_OVERRIDES = """
((overrides) => {
  let config;
  Object.defineProperty(window, "__twt", {
    configurable: true,
    get: () => config,
    set: (value) => { config = Object.assign({}, value, overrides); },
  });
})(%s);
"""


def visit(
    context: BrowserContext,
    url: str,
    *,
    network: str | None = None,
    dwell_ms: float = 0,
    loading: str | None = None,
) -> dict[str, float]:
    """Load the host page, measure it before intent, then open the chat and measure that.
    ``loading`` overrides the page's ``window.__twt.loading``."""
    v = Visit(context)
    if loading:
        v.page.add_init_script(TWT_OVERRIDES % json.dumps({"loading": loading}))
    if network:
        bits, rtt = NETWORKS[network]
        v.cdp.send("Network.enable")
        v.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": rtt,
                "downloadThroughput": bits / 8,
                "uploadThroughput": bits / 8,
            },
        )
    v.page.goto(url)
    launcher_loaded = v.event_at("iframe_loaded")
    v.settle()
    loaded = v.clock()
    before = v.porch_bytes(until=loaded)
    core_start = float(
        v.page.evaluate(
            "performance.timeOrigin + performance.getEntriesByName('porch:core-start')[0].startTime"
        )
    )
    launcher = v.frame_probe("/widget/launcher.html")
    host = v.probe()
    result: dict[str, float] = {
        "pre_intent_bytes": before["bytes"],
        "pre_intent_requests": before["requests"],
        "pre_intent_pyodide_bytes": before["pyodide_bytes"],
        "pre_intent_script_ms": v.script_ms(),
        "launcher_visible_ms": launcher.get("visibleAt", launcher_loaded) - core_start,
    }
    if "tawkLoad" in v.events:
        result["tawk_load_ms"] = v.events["tawkLoad"] - core_start
    # The launcher's centre, from its fixed place (core.js: 72 px square, 16 px from the corner):
    # the mouse goes there without a locator, which would run script on the host page.
    viewport = v.page.viewport_size
    assert viewport is not None
    x, y = viewport["width"] - 16 - 36, viewport["height"] - 16 - 36
    script_before_click = v.script_ms()
    intent = v.clock()
    v.page.mouse.move(x, y)
    if dwell_ms:
        v.page.wait_for_timeout(dwell_ms)  # a visitor's pointer resting before the click
    v.page.mouse.down()
    v.page.mouse.up()
    # Polled every animation frame of the panel from the click on: the first frame with the
    # composer focused (focus events do not reach a probe in a frame that is not focused), or
    # the offline form's first field: the bench's app has no agent online, so a visitor with no
    # conversation gets that form, at once when a pre-booted runtime knows it before the panel
    # is drawn (a warm visit after a rest), else when the welcome says so.
    frame = v.panel_frame()
    focused_at = float(
        frame.wait_for_function(
            """() => document.activeElement
                     && ["composer-text", "offline-name"].includes(document.activeElement.id)
                     && performance.timeOrigin + performance.now()"""
        ).json_value()
    )
    v.page.keyboard.type("x")
    typed = frame.evaluate("document.activeElement.value") == "x"
    activated = v.event_at("runtime_activated")
    script_at_activation = v.script_ms()
    mounted = v.event_at("runtime_mounted")
    pressed = v.frame_probe("/widget/launcher.html")["pressedAt"]
    v.settle()
    opened = v.porch_bytes(since=intent, until=v.clock())
    host = v.probe()
    result.update(
        {
            "panel_focused_ms": focused_at - pressed,
            "typing_accepted": 1.0 if typed else 0.0,
            "click_to_mounted_ms": mounted - pressed,
            "click_to_activated_ms": activated - pressed,
            "first_open_bytes": opened["bytes"],
            "first_open_requests": opened["requests"],
            "host_long_tasks": len(host["longTasks"]),
            "host_layout_shift": host["shift"],
            "host_script_ms": script_at_activation - script_before_click,
            "total_script_ms": script_at_activation,
            "snapshot_from_cache": 1.0 if any("snapshot (cache)" in x for x in v.logs) else 0.0,
        }
    )
    if any("snapshot (" in x for x in v.logs) and not any("(cache)" in x for x in v.logs):
        # So that the next visit can find it (or we know it cannot).
        v.wait_for_log("kept the snapshot", "not kept", "could not keep")
    v.close()
    return result


def baseline_visit(
    context: BrowserContext, url: str, block: str = "**/install/core.js*"
) -> dict[str, float]:
    """The same host page with Porch's script (``block``) blocked: what the page costs alone."""
    v = Visit(context, block=block)
    v.page.goto(url)
    v.settle()
    loaded_script = v.script_ms()
    viewport = v.page.viewport_size
    assert viewport is not None
    v.page.mouse.move(viewport["width"] - 52, viewport["height"] - 52)
    v.page.mouse.down()
    v.page.mouse.up()
    v.page.wait_for_timeout(1000)  # as long as a warm runtime takes to be ready, about
    host = v.probe()
    result = {
        "pre_intent_script_ms": loaded_script,
        "host_script_ms": v.script_ms() - loaded_script,
        "total_script_ms": v.script_ms(),
        "host_long_tasks": float(len(host["longTasks"])),
        "host_layout_shift": host["shift"],
    }
    v.close()
    return result


PLAIN_BOOT = """async (indexURL) => {
  const code = `
    const started = performance.now();
    const { loadPyodide } = await import("${indexURL}pyodide.mjs");
    await loadPyodide({ indexURL: "${indexURL}" });
    postMessage(performance.now() - started);`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  return await new Promise((resolve, reject) => {
    const worker = new Worker(url, { type: "module" });
    worker.onerror = (event) => reject(new Error(event.message));
    worker.onmessage = (event) => resolve(event.data);
  });
}"""


def plain_pyodide(browser: Browser, server: PorchServer) -> dict[str, float]:
    """A plain ``loadPyodide`` in a worker, fresh context, from the same server: the baseline of
    the runtime figures."""
    context = browser.new_context()
    v = Visit(context)
    v.page.goto(f"{server.url}/healthz")
    elapsed = float(v.page.evaluate(PLAIN_BOOT, f"{server.url}/vendor/pyodide/"))
    v.settle()
    used = v.porch_bytes()
    context.close()
    return {"plain_boot_ms": elapsed, "plain_boot_bytes": used["bytes"]}


def chromium_pss(browser: Browser) -> dict[str, float]:
    """Proportional set size (bytes) of each of Chromium's processes (``/proc/<pid>/smaps_rollup``,
    the processes as CDP's ``SystemInfo.getProcessInfo`` lists them), summed by process type:
    what the browser as a whole holds, the wasm memory of a worker included."""
    cdp = browser.new_browser_cdp_session()
    processes = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    cdp.detach()
    pss: dict[str, float] = {}
    for process in processes:
        try:
            rollup = Path(f"/proc/{process['id']}/smaps_rollup").read_text()
        except OSError:
            continue  # gone meanwhile
        kib = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
        pss[process["type"]] = pss.get(process["type"], 0) + kib * 1024
    pss["total"] = sum(pss.values())
    return pss


def preboot_memory(browser: Browser, url: str) -> dict[str, float]:
    """What a pre-boot costs the browser's memory, and that it is given back: Chromium's PSS
    (all processes) with the page loaded, once the pointer resting on the launcher has booted
    the runtime (imported, not connected), and once the pre-boot is released (``url``'s page sets
    a short ``prebootTimeout``) and its worker gone."""
    context = browser.new_context()
    v = Visit(context)
    v.page.goto(url)
    v.event_at("iframe_loaded")
    v.settle()
    loaded = chromium_pss(browser)["total"]
    viewport = v.page.viewport_size
    assert viewport is not None
    with v.page.expect_worker(lambda w: "/widget/worker.js" in w.url) as booting:
        v.page.mouse.move(viewport["width"] - 52, viewport["height"] - 52)
    v.wait_for_log("runtime imported at")
    v.settle()
    booted = chromium_pss(browser)["total"]
    with booting.value.expect_event("close", timeout=PREBOOT_TIMEOUT_MS + 30_000):
        pass
    v.page.wait_for_timeout(1000)  # the renderer returns the worker's pages after its teardown
    released = chromium_pss(browser)["total"]
    context.close()
    return {
        "preboot_memory_bytes": booted - loaded,
        "preboot_released_bytes": booted - released,
        "preboot_left_bytes": released - loaded,
    }


#: When the agent console's body gets ``data-ready="true"`` (console.py sets it once its Python
#: has started and bound its controls), on the page's own clock: ms since navigation started.
CONSOLE_READY = """
new MutationObserver((_records, observer) => {
  if (document.body && document.body.dataset.ready === "true") {
    window.__consoleReadyAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-ready"] });
"""


def console_ready(context: BrowserContext, server: PorchServer) -> dict[str, float]:
    """The agent console (``/agent/``, PyScript in a worker) usable after navigation starts."""
    page = context.new_page()
    page.add_init_script(CONSOLE_READY)
    page.goto(f"{server.url}/agent/")
    ready = float(page.wait_for_function("window.__consoleReadyAt", timeout=120_000).json_value())
    page.close()
    return {"console_ready_ms": ready}
