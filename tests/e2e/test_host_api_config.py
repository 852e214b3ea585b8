"""window.__twt, field by field, in real Chromium (issue 3: configuration).

None of these tests boots the Python runtime: what they check is decided by core.js and the
bootstrap request. The fields that must reach the server (sbs/sbs_mm/ranstr, name, nickname,
email, phone, referer, source_title) are proven in test_host_api_identity.py and
test_host_api_events.py, where a runtime is booted anyway.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, expect

from conftest import LAUNCHER, PANEL, PorchServer, events, wait_for_event
from host_pages import Host, block_runtime

DEFAULT_Z_INDEX = "2147483647"


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    return Host(page, porch_server)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (None, "window.__twt.appid is required"),
        ({}, "window.__twt.appid is required"),
        ({"appid": ""}, "window.__twt.appid is required"),
        ({"appid": 42}, "window.__twt.appid must be a string"),
        ('"porch-demo"', "window.__twt must be an object"),
    ],
    ids=["no-config", "no-appid", "empty-appid", "number-appid", "string-config"],
)
def test_a_missing_appid_fails_the_bootstrap_and_names_the_field(
    host: Host, config: object, named: str
) -> None:
    page = host.page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    host.goto(config)
    failed = wait_for_event(page, "bootstrap_failed")
    assert failed["payload"] == {
        "reason": "invalid_bootstrap", "source": "config", "mode": "embedded"}
    host.wait_for_console("[TWTChatWidget]", named)
    host.wait_for_console("appid is required")
    assert page.locator("iframe").count() == 0
    assert events(page, "initialized") == []
    assert not any("/api/v1/bootstrap" in u for u in requested)


def test_an_unknown_appid_is_refused_by_the_server_and_cleans_up(host: Host) -> None:
    page = host.page
    with page.expect_response("**/api/v1/bootstrap") as response:
        host.goto({"appid": "no-such-app"})
    assert response.value.status == 404
    failed = wait_for_event(page, "bootstrap_failed")
    assert failed["payload"] == {
        "reason": "invalid_bootstrap", "source": "http", "mode": "embedded"}
    host.wait_for_console("bootstrap refused", "no-such-app")
    expect(page.locator("iframe")).to_have_count(0)
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "hidden"}
    # The launcher was drawn before the server answered, so the page saw it disappear.
    assert events(page, "visibility_changed")[-1]["payload"] == {"visibility": "hidden"}


def test_language_theme_and_z_index_apply_to_both_surfaces(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo", "language": "ZH_hant", "theme": "dark", "zIndex": 9999})
    wait_for_event(page, "iframe_loaded")
    launcher = page.locator(LAUNCHER)
    expect(launcher).to_have_attribute("title", "聊天")
    expect(launcher).to_have_css("z-index", "9999")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "zh-tw")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate("TWTChatWidget.get('theme')") == "dark"
    # Intent (a pointer on the launcher) creates the panel: same language, theme and z-index.
    page.frame_locator(LAUNCHER).locator("#launcher").hover()
    wait_for_event(page, "bridge_ready")
    panel = page.locator(PANEL)
    expect(panel).to_have_css("z-index", "9999")
    expect(panel).to_have_attribute("title", "聊天視窗")
    expect(page.frame_locator(PANEL).locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.frame_locator(PANEL).locator("html")).to_have_attribute("lang", "zh-tw")
    assert host.console() == []


@pytest.mark.browser_context_args(locale="fr-FR")
def test_without_a_language_the_browser_language_is_used(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo"})
    expect(page.locator(LAUNCHER)).to_have_attribute("title", "Discussion")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "fr")
    # The defaults of the other fields: light theme, default z-index.
    assert page.evaluate("TWTChatWidget.get('theme')") == "light"
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("data-theme", "light")
    expect(page.locator(LAUNCHER)).to_have_css("z-index", DEFAULT_Z_INDEX)


@pytest.mark.browser_context_args(locale="sv-SE")
def test_an_unsupported_language_is_reported_and_falls_back_to_the_browser_then_english(
    host: Host,
) -> None:
    page = host.page
    host.goto({"appid": "porch-demo", "language": "klingon"})
    host.wait_for_console("window.__twt.language", '"klingon"', "not supported")
    # Swedish is not supported either: English.
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(LAUNCHER)).to_have_attribute("title", "Chat")


def test_a_custom_launcher_creates_no_launcher_iframe_and_the_page_opens_the_panel(
    host: Host,
) -> None:
    page = host.page
    block_runtime(page)
    host.goto({"appid": "porch-demo", "launcher": "custom"})
    wait_for_event(page, "initialized")
    assert page.locator(LAUNCHER).count() == 0
    assert page.locator("iframe").count() == 0
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(page.locator(PANEL)).to_be_visible()
    assert page.locator(LAUNCHER).count() == 0
    page.evaluate("TWTChatWidget.call('minimize')")
    expect(page.locator(PANEL)).to_be_hidden()
    assert wait_for_event(page, "iframe_loaded")["payload"] == {"surface": "panel"}
    assert len(events(page, "iframe_loaded")) == 1
    assert [e["payload"]["visibility"] for e in events(page, "visibility_changed")] == [
        "maximized", "minimized"]


def test_fields_of_the_wrong_type_are_reported_by_name_and_ignored(host: Host) -> None:
    page = host.page
    wrong = {
        "appid": "porch-demo", "asyncInit": "yes", "language": 5, "theme": "blue",
        "launcher": "none", "zIndex": "9999", "sbs": 1, "sbs_mm": 2, "ranstr": 3, "name": 4,
        "nickname": [], "email": {}, "phone": 6, "referer": 7, "source_title": False,
        "loading": "lazy", "bootTimeout": -5, "prebootTimeout": 0,
    }
    host.goto(wrong)
    # Nothing crashed: the widget started (asyncInit "yes" is not true) with every default.
    wait_for_event(page, "initialized")
    expect(page.locator(LAUNCHER)).to_have_count(1)
    for field in wrong:
        if field != "appid":
            host.wait_for_console(f"window.__twt.{field} must be", "ignored")
    assert not any("appid" in line for line in host.console())
    assert page.evaluate("TWTChatWidget.get('theme')") == "light"
    expect(page.locator(LAUNCHER)).to_have_css("z-index", DEFAULT_Z_INDEX)
    # The bad business-login fields were dropped, not sent half-formed.
    assert not any("login rejected" in line for line in host.console())
    assert events(page, "bootstrap_failed") == []


def test_an_incomplete_business_login_at_startup_is_rejected_and_the_visitor_stays_anonymous(
    host: Host,
) -> None:
    page = host.page
    host.goto({"appid": "porch-demo", "sbs": "user-1", "ranstr": "r1"})
    wait_for_event(page, "initialized")
    host.wait_for_console("login rejected", "sbs_mm")
    assert events(page, "bootstrap_failed") == []
    expect(page.locator(LAUNCHER)).to_have_count(1)


def test_loading_click_boots_nothing_before_a_click_and_the_others_are_covered_elsewhere(
    host: Host,
) -> None:
    """'click': a pointer on the launcher loads the panel shell and prefetches the runtime's files
    into the HTTP cache (docs/performance.md), only a click (or maximize) starts the runtime
    worker. 'intent' (a resting pointer boots it) is proven in test_preboot.py, 'eager' in
    test_host_api_events.py."""
    page = host.page
    block_runtime(page)
    runtime_requests: list[str] = []

    def note(request: Request) -> None:
        # The worker itself, not the launcher's prefetch of its file.
        if "worker.js" in request.url and request.all_headers().get("sec-purpose") != "prefetch":
            runtime_requests.append(request.url)

    page.on("request", note)
    host.goto({"appid": "porch-demo", "loading": "click"})
    wait_for_event(page, "iframe_loaded")
    assert page.locator(PANEL).count() == 0
    with page.expect_request("**/vendor/pyodide/pyodide.asm.wasm"):  # the intent's prefetch
        page.frame_locator(LAUNCHER).locator("#launcher").hover()
    wait_for_event(page, "bridge_ready")
    expect(page.locator(PANEL)).to_be_hidden()
    assert runtime_requests == []
    with page.expect_request("**/widget/worker.js?h=*"):
        page.frame_locator(LAUNCHER).locator("#launcher").click()
    expect(page.locator(PANEL)).to_be_visible()
