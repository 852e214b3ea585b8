"""How the launcher loads, as behaviour (docs/performance.md has the times): before intent the
widget costs its page and one script, well inside the 20 KB budget; the page paints the button with
its own inlined styles, without waiting for that script; a repeat visit does not fetch the script
again (its URL names its content), nor the panel's and the worker's."""

from __future__ import annotations

from playwright.sync_api import Page, Request, Route, expect

from conftest import LAUNCHER, PorchServer

#: Porch's paths (everything else on the demo page is the page's own).
PORCH_PATHS = ("/install/", "/widget/", "/vendor/", "/api/")
BUDGET_BEFORE_INTENT = 20 * 1024
PANEL = 'iframe[data-twt-widget-surface="panel"]'


def _porch_requests(page: Page) -> list[Request]:
    finished: list[Request] = []
    page.on("requestfinished", lambda r: finished.append(r))
    return finished


def _widget_paths(requests: list[Request]) -> list[str]:
    return sorted(r.url.split("/widget/")[1].split("?")[0] for r in requests if "/widget/" in r.url)


def _assert_named_by_content_and_immutable(script: Request) -> None:
    assert "?h=" in script.url
    response = script.response()
    assert response is not None and "immutable" in response.headers["cache-control"]


def test_before_intent_the_widget_costs_one_page_and_one_script_within_budget(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    finished = _porch_requests(page)
    page.goto(f"{porch_server.url}/demo/")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-label", "Open chat"
    )
    page.wait_for_load_state("networkidle")
    porch = [r for r in finished if any(p in r.url for p in PORCH_PATHS)]
    assert _widget_paths(porch) == ["launcher.html", "launcher.js"]
    sizes = [r.sizes() for r in porch]
    spent = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
    assert 0 < spent <= BUDGET_BEFORE_INTENT, spent
    _assert_named_by_content_and_immutable(next(r for r in porch if "/widget/launcher.js" in r.url))


def test_the_launcher_is_painted_by_its_page_alone(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    """With its script held back, the button is already there, styled, and the page has finished
    loading its document: the script never stands between the page and its first paint."""
    page = recorded_page
    page.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => { window.__parsed = true; })"
    )
    held: list[Route] = []
    page.route("**/widget/launcher.js*", lambda route: held.append(route))
    # Not until "load": the launcher frame's load waits for the script held here.
    page.goto(f"{porch_server.url}/demo/", wait_until="domcontentloaded")
    button = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(button).to_be_visible()
    style = button.evaluate(
        "el => [getComputedStyle(el).borderRadius, getComputedStyle(el).backgroundColor]"
    )
    assert style == ["50%", "rgb(37, 99, 235)"]
    assert held, "the launcher's script was requested"
    launcher = next(f for f in page.frames if "/widget/launcher.html" in f.url)
    assert launcher.evaluate("window.__parsed === true")
    # Released, the script takes over the button: the host's state reaches it.
    held[0].continue_()
    page.evaluate("TWTChatWidget.call('set_language', 'de')")
    expect(button).to_have_attribute("aria-label", "Chat öffnen")


def test_the_panel_and_worker_scripts_are_named_by_their_content_and_cached_as_immutable(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    """So a repeat visit takes them from the cache without asking the server (as the launcher's):
    a revalidation of the worker's script was a round trip before the runtime could start."""
    page = recorded_page
    finished = _porch_requests(page)
    page.goto(f"{porch_server.url}/demo/")
    with page.expect_request_finished(lambda r: "/widget/worker.js" in r.url) as worker:
        page.frame_locator(LAUNCHER).locator("#launcher").click()
    expect(page.frame_locator(PANEL).locator("#composer-text")).to_be_focused()
    _assert_named_by_content_and_immutable(next(r for r in finished if "/widget/panel.js" in r.url))
    _assert_named_by_content_and_immutable(worker.value)
