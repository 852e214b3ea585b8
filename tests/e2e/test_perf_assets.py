"""What the performance levers do, as behaviour (docs/performance.md has the numbers): Chromium
gets the runtime's big files Brotli-encoded and they decode to the very bytes of the build, and a
pointer on the launcher prefetches them from the (still hidden) panel once its page is there (and
nothing loads them before that). A pointer that rests also boots the runtime: test_preboot.py."""

from __future__ import annotations

import hashlib

from playwright.sync_api import Page, Request

from conftest import LAUNCHER, ROOT, PorchServer, wait_for_event
from host_pages import Host

#: What the worker fetches for a snapshot boot: the trimmed standard library, not the full one.
PREFETCHED = (
    "pyodide.asm.wasm",
    "python_stdlib_trimmed.zip?h=",
    "pyodide.asm.mjs",
    "snapshot.bin?h=",
)


def _is_prefetch(request: Request) -> bool:
    return request.all_headers().get("sec-purpose") == "prefetch"


def test_brotli_assets_decode_to_the_built_bytes(page: Page, porch_server: PorchServer) -> None:
    """The runtime's big files, and the console's string table (73 KB, render-blocking)."""
    page.goto(f"{porch_server.url}/demo/")
    for path in (
        "vendor/pyodide/pyodide.asm.wasm",
        "vendor/pyodide/pyodide.asm.mjs",
        "agent/i18n.js",
    ):
        url = f"{porch_server.url}/{path}"
        with page.expect_response(url) as response_info:
            digest = page.evaluate(
                """async (url) => {
                     const body = await (await fetch(url)).arrayBuffer();
                     const hash = await crypto.subtle.digest("SHA-256", body);
                     return Array.from(new Uint8Array(hash),
                       (b) => b.toString(16).padStart(2, "0")).join("");
                   }""",
                url,
            )
        assert response_info.value.headers["content-encoding"] == "br"
        assert digest == hashlib.sha256((ROOT / "public" / path).read_bytes()).hexdigest()


def test_a_pointer_on_the_launcher_prefetches_the_runtime(
    page: Page, porch_server: PorchServer
) -> None:
    """With `loading: "click"`: with the default, a resting pointer boots the worker, which then
    fetches the files itself (test_preboot.py)."""
    host = Host(page, porch_server)
    requested: list[Request] = []
    page.on("request", lambda r: requested.append(r))
    host.goto({"appid": "porch-demo", "loading": "click"})
    launcher = page.frame_locator(LAUNCHER).locator("#launcher")
    launcher.wait_for()
    assert not [r for r in requested if "/vendor/pyodide/" in r.url]
    with page.expect_request("**/snapshot.bin?h=*"):
        launcher.hover()
    prefetched = [r for r in requested if "/vendor/pyodide/" in r.url]
    for name in PREFETCHED:
        assert any(name in r.url for r in prefetched), (name, [r.url for r in prefetched])
    assert not [r for r in prefetched if "/python_stdlib.zip" in r.url or "lock.json" in r.url]
    # The browser's own prefetch (<link rel=prefetch>), not a fetch() through page script, from
    # the panel, after its own page and script (which the prefetch would otherwise hold up).
    assert all(_is_prefetch(r) for r in prefetched)
    assert {r.frame.url.split("?")[0] for r in prefetched} == {f"{host.porch}/widget/panel.html"}
    first = requested.index(prefetched[0])
    assert any("/widget/panel.js" in r.url for r in requested[:first])
    # Prefetching is not booting: no runtime worker until the click.
    assert not [r for r in requested if "worker.js" in r.url and not _is_prefetch(r)]
    launcher.click()
    wait_for_event(page, "runtime_activated")
