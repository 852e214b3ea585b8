"""Booting Python on a deliberate intent (issue 15, decision 1; docs/host-api.md, `loading`): the
pointer resting on the launcher (or keyboard focus on it) boots the hidden panel's worker without
connecting, a click then only connects, and a pre-boot no click follows is terminated after
`prebootTimeout`. `loading: "click"` boots nothing before the click; a tap is no pre-boot.

Cross-site, as sites deploy Porch. The runtime's worker is seen as Playwright sees it (its
creation and its close); its socket through the host API's events and Playwright's WebSocket
events, which both come only once the runtime connects."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, WebSocket, Worker

from conftest import LAUNCHER, PANEL, PorchServer, events, wait_for_event
from host_pages import Host

#: Every bridge message the host page receives, by type, in order (the launcher's and the panel's).
BRIDGE_RECORDER = """
window.__bridge = [];
window.addEventListener("message", (event) => {
  if (event.data && typeof event.data.type === "string") window.__bridge.push(event.data.type);
});
"""


class Runtime:
    """What the page's runtime workers and sockets did, as Playwright saw them."""

    def __init__(self, page: Page) -> None:
        self.workers: list[Worker] = []
        self.sockets: list[WebSocket] = []
        self.logs: list[str] = []
        page.on("worker", self._worker)
        page.on("websocket", lambda socket: self.sockets.append(socket))
        page.on("console", self._console)

    def _worker(self, worker: Worker) -> None:
        if "/widget/worker.js" in worker.url:
            self.workers.append(worker)

    def _console(self, message: ConsoleMessage) -> None:
        if message.text.startswith("[porch runtime]"):
            self.logs.append(message.text)

    def boots(self) -> list[str]:
        return [line for line in self.logs if "Pyodide booted" in line]


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    page.add_init_script(BRIDGE_RECORDER)
    return Host(page, porch_server)


def _launcher(page: Page) -> Any:
    return page.frame_locator(LAUNCHER).locator("#launcher")


def _wait_until_imported(page: Page, runtime: Runtime) -> None:
    """The worker's last boot step: the runtime imported and its adapter attached."""
    if not any("runtime imported at" in line for line in runtime.logs):
        page.wait_for_event("console", lambda m: "runtime imported at" in m.text, timeout=60_000)


def _bridge(page: Page) -> list[str]:
    return list(page.evaluate("window.__bridge"))


def test_a_pointer_resting_on_the_launcher_boots_python_and_a_click_only_connects(
    host: Host,
) -> None:
    page = host.page
    runtime = Runtime(page)
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "iframe_loaded")
    _launcher(page).hover()
    _wait_until_imported(page, runtime)
    # Booted: one worker, Python and the runtime in it; not connected, not started.
    assert len(runtime.workers) == 1
    assert len(runtime.boots()) == 1
    assert runtime.sockets == []
    names = [e["name"] for e in events(page)]
    assert "connection_state_changed" not in names and "runtime_mounted" not in names
    assert not page.locator(PANEL).is_visible()

    _launcher(page).click()
    wait_for_event(page, "runtime_activated")
    # The click connected the runtime that was there: no second worker, no second boot.
    assert len(runtime.workers) == 1
    assert len(runtime.boots()) == 1
    assert len(runtime.sockets) == 1
    assert "/ws/visitor" in runtime.sockets[0].url
    assert host.console() == []


def test_keyboard_focus_on_the_launcher_boots_python(host: Host) -> None:
    page = host.page
    runtime = Runtime(page)
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "iframe_loaded")
    page.wait_for_function("window.__bridge.includes('launcher.ready')")
    page.keyboard.press("Tab")  # the launcher's button is the page's only focusable element
    _wait_until_imported(page, runtime)
    assert "launcher.rest" in _bridge(page)
    assert len(runtime.workers) == 1
    assert runtime.sockets == []
    page.keyboard.press("Enter")
    wait_for_event(page, "runtime_activated")
    assert len(runtime.workers) == 1 and len(runtime.boots()) == 1


def test_a_pre_boot_no_click_follows_is_terminated_and_the_next_intent_boots_again(
    host: Host,
) -> None:
    page = host.page
    runtime = Runtime(page)
    host.goto({"appid": "porch-demo", "prebootTimeout": 1500})
    wait_for_event(page, "iframe_loaded")
    with page.expect_worker(lambda w: "/widget/worker.js" in w.url) as booting:
        _launcher(page).hover()
    with booting.value.expect_event("close", timeout=30_000):  # released after prebootTimeout
        pass
    assert runtime.sockets == []
    # The pointer leaves and comes back: a new intent, a new pre-boot; the click connects it.
    page.mouse.move(0, 0)
    _launcher(page).hover()
    page.wait_for_function("window.__bridge.filter(t => t === 'launcher.rest').length >= 2")
    _launcher(page).click()
    wait_for_event(page, "runtime_activated")
    assert len(runtime.workers) == 2
    assert len(runtime.sockets) == 1


def test_loading_click_boots_nothing_before_the_click(host: Host) -> None:
    page = host.page
    runtime = Runtime(page)
    host.goto({"appid": "porch-demo", "loading": "click"})
    wait_for_event(page, "iframe_loaded")
    _launcher(page).hover()
    page.wait_for_function("window.__bridge.includes('launcher.rest')")
    wait_for_event(page, "bridge_ready")
    # A message after the rest, through the panel and back into its page: had the rest pre-booted,
    # the panel would have created its worker before it applied this.
    page.evaluate("TWTChatWidget.call('set_theme', 'dark')")
    page.frame_locator(PANEL).locator("html[data-theme=dark]").wait_for(state="attached")
    assert runtime.workers == []
    _launcher(page).click()
    wait_for_event(page, "runtime_activated")
    assert len(runtime.workers) == 1


@pytest.mark.browser_context_args(has_touch=True)
def test_a_tap_is_the_intent_with_no_pre_boot_before_it(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "iframe_loaded")
    page.wait_for_function("window.__bridge.includes('launcher.ready')")
    _launcher(page).tap()
    wait_for_event(page, "runtime_activated")  # long after a rest would have been reported
    bridge = _bridge(page)
    assert "launcher.intent" in bridge and "launcher.toggle" in bridge
    assert "launcher.rest" not in bridge
