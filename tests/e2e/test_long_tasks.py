"""The host page must not feel Porch: no long task from page load to an activated runtime.

The widget is served from the host's own origin here, so the launcher and panel iframes share the
host page's renderer process and main thread: any long task they caused would show up in the host
page's ``longtask`` entries (the worst case for a customer's site).
"""

from __future__ import annotations

from playwright.sync_api import Page

from conftest import PorchServer, open_chat

LONG_TASK_OBSERVER = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__longTasks.push({
      start: entry.startTime, duration: entry.duration,
      name: entry.name,
      where: entry.attribution.map((a) => a.containerSrc || a.containerType || a.name),
    });
  }
}).observe({ type: "longtask", buffered: true });
"""


def test_no_long_task_on_the_host_from_load_until_the_runtime_is_activated(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    page.add_init_script(LONG_TASK_OBSERVER)
    page.goto(f"{porch_server.url}/demo/")
    assert page.evaluate("PerformanceObserver.supportedEntryTypes.includes('longtask')")
    open_chat(page)
    # Entries are delivered asynchronously: let one more frame pass before reading them.
    page.evaluate("new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)))")
    assert page.evaluate("window.__longTasks") == []
