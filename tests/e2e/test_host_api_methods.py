"""call(method, payload): every documented method, in real Chromium (issue 3: methods).

Visibility is owned by core.js, so these tests hold the Python runtime back (``block_runtime``):
maximize shows the panel shell at once, whether or not Python is ready, and that is what is
checked here. login against the server (a new identity, a bad signature) is in
test_host_api_identity.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from conftest import LAUNCHER, PANEL, PorchServer, events, wait_for_event
from host_pages import Host, block_runtime


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    block_runtime(page)
    return Host(page, porch_server)


def visibility(page: Page) -> str:
    return str(page.evaluate("TWTChatWidget.get('state').visibility"))


def test_maximize_minimize_hide_show_and_toggle(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    launcher, panel = page.locator(LAUNCHER), page.locator(PANEL)
    button = page.frame_locator(LAUNCHER).locator("#launcher")

    steps: list[tuple[str, str]] = [
        ("hide", "hidden"), ("show", "minimized"), ("show", "minimized"),
        ("maximize", "maximized"), ("maximize", "maximized"), ("show", "maximized"),
        ("minimize", "minimized"), ("minimize", "minimized"), ("toggle", "maximized"),
        ("toggle", "minimized"), ("maximize", "maximized"), ("hide", "hidden"),
        ("show", "minimized"),
    ]
    changes: list[str] = []
    for method, expected in steps:
        before = visibility(page)
        page.evaluate("(m) => TWTChatWidget.call(m)", method)
        assert visibility(page) == expected, method
        if expected != before:
            changes.append(expected)
        if expected == "hidden":
            # hide: everything invisible, but the iframes stay mounted.
            expect(launcher).to_be_hidden()
            expect(launcher).to_have_count(1)
            if panel.count():
                expect(panel).to_be_hidden()
        else:
            expect(launcher).to_be_visible()
            expect(button).to_have_attribute("aria-expanded", str(expected == "maximized").lower())
            if expected == "maximized":
                expect(panel).to_be_visible()
            elif panel.count():
                expect(panel).to_be_hidden()
    assert [e["payload"] for e in events(page, "visibility_changed")] == [
        {"visibility": v} for v in changes]
    assert page.locator(PANEL).count() == 1  # reopening reuses the mounted panel
    assert host.console() == []


def test_hide_from_maximized_and_show_restores_only_the_launcher(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize'); TWTChatWidget.call('hide')")
    expect(page.locator(PANEL)).to_be_hidden()
    expect(page.locator(LAUNCHER)).to_be_hidden()
    page.evaluate("TWTChatWidget.call('show')")
    assert visibility(page) == "minimized"
    expect(page.locator(LAUNCHER)).to_be_visible()
    expect(page.locator(PANEL)).to_be_hidden()


def _window_listeners(page: Page) -> list[str]:
    """Event types of the listeners on the host's window, as DevTools lists them."""
    cdp = page.context.new_cdp_session(page)
    try:
        window = cdp.send("Runtime.evaluate", {"expression": "window"})["result"]["objectId"]
        found: list[dict[str, Any]] = cdp.send(
            "DOMDebugger.getEventListeners", {"objectId": window})["listeners"]
        return [listener["type"] for listener in found]
    finally:
        cdp.detach()


def test_destroy_removes_every_surface_and_listener_and_init_works_again(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo", "theme": "system"})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    assert "message" in _window_listeners(page)

    page.evaluate("TWTChatWidget.call('destroy')")
    assert wait_for_event(page, "destroyed")["payload"] is None
    expect(page.locator("iframe")).to_have_count(0)
    assert "message" not in _window_listeners(page)
    page.emulate_media(color_scheme="dark")  # its media listener is gone too: nothing happens
    error = page.evaluate("""() => {
      try { TWTChatWidget.get('state'); return null; } catch (e) { return e.message; }
    }""")
    assert error is not None and "before init() completed (or after destroy)" in error

    # A later init() builds a fresh widget.
    page.evaluate("TWTChatWidget.init()")
    wait_for_event(page, "initialized", count=2)
    expect(page.locator(LAUNCHER)).to_have_count(1)
    assert page.locator(PANEL).count() == 0
    assert visibility(page) == "minimized"
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("data-theme", "dark")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(page.locator(PANEL)).to_be_visible()
    assert _window_listeners(page).count("message") == 1
    names = [e["name"] for e in events(page)]
    assert names.index("destroyed") < max(i for i, n in enumerate(names) if n == "initialized")
    assert host.console() == []


def test_set_theme_light_dark_and_system_following_the_os_live(host: Host) -> None:
    page = host.page
    page.emulate_media(color_scheme="light")
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    page.frame_locator(LAUNCHER).locator("#launcher").hover()  # intent: the panel loads, hidden
    wait_for_event(page, "bridge_ready")
    launcher_doc = page.frame_locator(LAUNCHER).locator("html")
    panel_doc = page.frame_locator(PANEL).locator("html")

    def shows(theme: str) -> None:
        expect(launcher_doc).to_have_attribute("data-theme", theme)
        expect(panel_doc).to_have_attribute("data-theme", theme)

    shows("light")
    page.evaluate("TWTChatWidget.call('set_theme', 'dark')")
    assert page.evaluate("TWTChatWidget.get('theme')") == "dark"
    shows("dark")
    page.evaluate("TWTChatWidget.call('set_theme', 'system')")
    shows("light")
    page.emulate_media(color_scheme="dark")
    shows("dark")
    assert page.evaluate("TWTChatWidget.get('theme')") == "system"
    page.emulate_media(color_scheme="light")
    shows("light")
    page.evaluate("TWTChatWidget.call('set_theme', 'light')")
    page.emulate_media(color_scheme="dark")  # an explicit theme no longer follows the OS
    shows("light")
    assert page.evaluate("TWTChatWidget.get('theme')") == "light"


def test_unknown_methods_and_bad_payloads_are_reported_and_change_nothing(host: Host) -> None:
    page = host.page
    stored = '{"bs":"earlier-visitor","bs_mm":"earlier-signature"}'
    page.add_init_script(
        f"localStorage.getItem('twt:porch-demo:visitor') || "
        f"localStorage.setItem('twt:porch-demo:visitor', {stored!r})")
    host.goto({"appid": "porch-demo", "theme": "dark", "language": "de"})
    wait_for_event(page, "initialized")
    page.frame_locator(LAUNCHER).locator("#launcher").hover()
    wait_for_event(page, "bridge_ready")
    page.evaluate("document.querySelector('iframe[data-twt-widget-surface=panel]').__same = true")

    def state() -> dict[str, Any]:
        return dict(page.evaluate("""() => ({
          visibility: TWTChatWidget.get('state').visibility,
          theme: TWTChatWidget.get('theme'),
          unread: TWTChatWidget.get('unread_count'),
          title: document.querySelector('iframe[data-twt-widget-surface=launcher]').title,
          identity: localStorage.getItem('twt:porch-demo:visitor'),
          panel: document.querySelectorAll('iframe').length === 2 &&
                 document.querySelector('iframe[data-twt-widget-surface=panel]').__same === true,
        })"""))

    before = state()
    assert before["identity"] == stored and before["panel"] is True
    bad: list[tuple[str, list[Any], str]] = [
        ("explode", [], 'unknown method "explode"; expected one of maximize, minimize, hide'),
        ("MAXIMIZE", [], 'unknown method "MAXIMIZE"'),
        ("set_theme", ["blue"], 'set_theme: expected one of light, dark, system, got "blue"'),
        ("set_theme", [], "set_theme: expected one of light, dark, system, got undefined"),
        ("set_language", [{"locale": "en"}],
         'set_language: {"locale":"en"} is not a supported'),
        ("login", ["sbs-only"], "call('login', payload) needs an object"),
        ("login", [{"sbs": "u1", "ranstr": "r"}], "login rejected: sbs_mm missing"),
        ("login", [{"sbs": "u1", "sbs_mm": "", "ranstr": ""}],
         "login rejected: sbs_mm, ranstr missing"),
        ("login", [{"sbs": "u1", "sbs_mm": "m", "ranstr": "r", "email": 5}],
         "login rejected: email must be a string"),
    ]
    for method, args, message in bad:
        page.evaluate("([m, args]) => TWTChatWidget.call(m, ...args)", [method, args])
        host.wait_for_console("[TWTChatWidget]", message)
        assert state() == before, method
    # The convenience form is checked the same way: all three signature fields are required.
    page.evaluate("TWTChatWidget.login('sbs-only')")
    host.wait_for_console("login rejected: sbs_mm, ranstr missing")
    page.evaluate("TWTChatWidget.login(undefined, 'm', 'r', 'Name')")
    host.wait_for_console("login rejected: sbs missing")
    assert state() == before
    assert events(page, "visibility_changed") == [] and events(page, "bootstrap_failed") == []
