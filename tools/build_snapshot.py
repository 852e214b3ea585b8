"""Make the Pyodide memory snapshot the runtime worker boots from.

A snapshot is Pyodide's memory right after start-up, with the standard-library modules the runtime
imports already imported. Booting from it skips most of Pyodide's start-up (measured on 2 cores:
1.2-2.3 s instead of 5-7 s). It is made in headless Chromium by the very Pyodide files that will
serve it, and stored gzipped (31 MB -> 6 MB): the worker inflates it with DecompressionStream, so
any static host can serve it without compression settings.

``loadPyodide({_makeSnapshot})`` / ``_loadSnapshot`` are private Pyodide APIs: the snapshot is
keyed to the pinned Pyodide version and to :data:`PRELOADED`, rebuilt when either changes, and the
worker falls back to a plain boot whenever it is missing or fails to load.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

#: Modules imported once, before the snapshot is taken: the standard-library ones the runtime
#: imports, and the runtime's own pure-Python modules (the protocol's ~70 dataclasses take seconds
#: to create in Pyodide on a slow machine; in the snapshot they are already made). Never ``js``
#: or anything holding JavaScript objects: those cannot be snapshotted, which is why
#: ``porch_runtime.browser`` is imported by the worker after the boot.
PRELOADED = (
    "json",
    "random",
    "secrets",
    "enum",
    "dataclasses",
    "typing",
    "types",
    "collections.abc",
    "porch_protocol",
    "porch_runtime.bridge",
    "porch_runtime.core",
)
#: Where the worker unpacks ``porch_runtime.zip``; the snapshot's imported packages remember
#: this path, so the worker must use the same one.
RUNTIME_DIR = "/porch"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MAKE_SNAPSHOT = """async ([indexURL, runtimeURL]) => {
  const code = `
    import { loadPyodide } from "${indexURL}pyodide.mjs";
    const py = await loadPyodide({ indexURL: "${indexURL}", _makeSnapshot: true });
    const runtime = await (await fetch("${runtimeURL}")).arrayBuffer();
    py.unpackArchive(runtime, "zip", { extractDir: "__RUNTIME_DIR__" });
    py.runPython("import sys; sys.path.insert(0, '__RUNTIME_DIR__')");
    py.runPython(${JSON.stringify("import " + __PRELOADED__)});
    const snapshot = py.makeMemorySnapshot();
    const gzip = await new Response(new Blob([snapshot]).stream()
      .pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    postMessage(gzip, [gzip]);`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const bytes = await new Promise((resolve, reject) => {
    const worker = new Worker(url, { type: "module" });
    worker.onerror = (event) => reject(new Error(event.message));
    worker.onmessage = (event) => resolve(new Uint8Array(event.data));
  });
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}""".replace("__PRELOADED__", json.dumps(", ".join(PRELOADED))).replace(
    "__RUNTIME_DIR__", RUNTIME_DIR
)


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def build_snapshot(out: Path, pyodide_version: str, runtime_hash: str) -> str:
    """Write ``vendor/pyodide/snapshot.bin.gz`` under ``out`` if it is missing or stale (another
    Pyodide, other preloaded modules, another runtime zip); return a short hash of it for
    cache-busting, or ``""`` when no snapshot could be made (the worker then boots without one)."""
    folder = out / "vendor" / "pyodide"
    target, meta_path = folder / "snapshot.bin.gz", folder / "snapshot.json"
    key = {"pyodide": pyodide_version, "preloaded": list(PRELOADED), "runtime": runtime_hash}
    if (
        target.exists()
        and meta_path.exists()
        and json.loads(meta_path.read_text()).get("key") == key
    ):
        return str(json.loads(meta_path.read_text())["hash"])
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("no Playwright: skipping the Pyodide snapshot (the runtime boots without one)")
        return ""
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            # The system's Chromium where there is one (Debian's package), else Playwright's own.
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{origin}/widget/build.json")
            encoded = page.evaluate(
                MAKE_SNAPSHOT,
                [f"{origin}/vendor/pyodide/", f"{origin}/widget/porch_runtime.zip"],
            )
            browser.close()
    except PlaywrightError as exc:
        print(f"no usable Chromium ({exc.message.splitlines()[0]}): skipping the Pyodide snapshot")
        return ""
    finally:
        server.shutdown()
    data = base64.b64decode(encoded)
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()[:16]
    meta_path.write_text(json.dumps({"key": key, "hash": digest, "bytes": len(data)}, indent=1))
    print(f"made the Pyodide snapshot: {len(data) / 1e6:.1f} MB gzipped")
    return digest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
