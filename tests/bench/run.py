"""Porch's benchmark: what a visitor and the host page feel, measured in real Chromium.

``make bench`` runs this against a real server process and prints one table (and writes
``var/bench.json``). It asserts nothing: numbers vary with the machine, so they go in notes and
reviews, not in pass/fail tests.

Measured:
- the size of ``core.js`` (raw and gzip), the only script the host page runs;
- time from navigation to the launcher iframe being loaded;
- time from a click on the launcher to ``runtime_mounted`` (Python running) and to
  ``runtime_activated`` (connected, welcomed), in a fresh browser context (cold cache) and again
  in the same context (warm HTTP cache);
- long tasks on the host page and their total blocking time, from load to activation.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from test_long_tasks import LONG_TASK_OBSERVER  # noqa: E402

from conftest import CHROMIUM_ARGS, EVENT_RECORDER, LAUNCHER, PorchServer, chromium  # noqa: E402

ROUNDS = 3


def _event_time(page: Page, name: str) -> float:
    page.wait_for_function(
        "(n) => window.__porchEvents.some(e => e.name === n)", arg=name, timeout=120_000
    )
    return float(page.evaluate("(n) => window.__porchEvents.find(e => e.name === n).t", name))


def _one_visit(page: Page, url: str) -> dict[str, float]:
    page.goto(url)
    launcher = _event_time(page, "iframe_loaded")
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    clicked = float(page.evaluate("performance.now()"))
    mounted = _event_time(page, "runtime_mounted")
    activated = _event_time(page, "runtime_activated")
    tasks = page.evaluate("window.__longTasks")
    return {
        "launcher_ms": launcher,
        "click_to_mounted_ms": mounted - clicked,
        "click_to_activated_ms": activated - clicked,
        "long_tasks": len(tasks),
        "blocking_ms": sum(max(0.0, t["duration"] - 50) for t in tasks),
    }


def main() -> None:
    core = (ROOT / "public" / "install" / "core.js").read_bytes()
    results: dict[str, object] = {
        "core_js_bytes": len(core),
        "core_js_gzip_bytes": len(gzip.compress(core, 9)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = PorchServer(Path(tmp))
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                cold, warm = [], []
                for _ in range(ROUNDS):
                    context = browser.new_context()
                    for bucket in (cold, warm):
                        page = context.new_page()
                        page.add_init_script(EVENT_RECORDER)
                        page.add_init_script(LONG_TASK_OBSERVER)
                        # A new visitor each time: the warm run measures the HTTP cache only.
                        page.add_init_script("localStorage.clear()")
                        bucket.append(_one_visit(page, f"{server.url}/demo/"))
                        page.close()
                    context.close()
                browser.close()
        finally:
            server.stop()
    for label, runs in (("cold", cold), ("warm", warm)):
        for key in runs[0]:
            results[f"{label}_{key}_median"] = statistics.median(r[key] for r in runs)
            results[f"{label}_{key}_max"] = max(r[key] for r in runs)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench.json").write_text(json.dumps(results, indent=1))
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.0f}" if isinstance(value, float) else str(value)
        print(f"{key.ljust(width)}  {shown}")


if __name__ == "__main__":
    main()
