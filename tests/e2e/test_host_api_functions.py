"""window.TWTChatWidget's core functions and getters, in real Chromium (issue 3).

on / once / off, call, get (every getter), init (manual, idempotent), setLanguage,
scriptTagVersion, and the queue of calls made before init() completes. login(...) with its seven
positional arguments is proven against the server in test_host_api_identity.py; its rejection of
missing fields is in test_host_api_methods.py. None of these tests boots the Python runtime.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import LAUNCHER, PANEL, PorchServer, events, wait_for_event
from host_pages import Host, block_runtime

ROOT = Path(__file__).resolve().parents[2]
#: The launcher iframe's accessible title per runtime locale (core.js).
LAUNCHER_TITLES = {
    "en": "Chat", "zh-cn": "聊天", "zh-tw": "聊天", "ja": "チャット", "ko": "채팅", "de": "Chat",
    "fr": "Discussion", "pt": "Conversa", "ru": "Чат",
}


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    return Host(page, porch_server)


def test_on_once_and_off_with_and_without_a_handler(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    page.evaluate("""() => {
      const seen = window.__seen = {on: [], once: [], kept: [], all1: [], all2: []};
      const W = window.TWTChatWidget;
      W.on("visibility_changed", (p) => seen.on.push(p.visibility));
      W.once("visibility_changed", (p) => seen.once.push(p.visibility));
      window.__removed = (p) => seen.kept.push("removed handler ran: " + p.visibility);
      W.on("visibility_changed", window.__removed);
      W.on("visibility_changed", (p) => seen.kept.push(p.visibility));
      W.off("visibility_changed", window.__removed);
      W.on("destroyed", () => seen.all1.push("destroyed"));
      W.on("destroyed", () => seen.all2.push("destroyed"));
      W.off("destroyed");  // without a handler: every 'destroyed' handler so far goes
      W.on("destroyed", () => seen.all2.push("registered after off"));
      W.call("hide");
      W.call("show");
      W.call("hide");
    }""")
    seen = page.evaluate("window.__seen")
    assert seen["on"] == ["hidden", "minimized", "hidden"]
    assert seen["once"] == ["hidden"]
    assert seen["kept"] == ["hidden", "minimized", "hidden"]
    page.evaluate("TWTChatWidget.call('destroy')")
    expect(page.locator("iframe")).to_have_count(0)
    assert page.evaluate("window.__seen.all1.concat(window.__seen.all2)") == [
        "registered after off"]
    # A handler that is not a function is refused, loudly.
    page.evaluate("TWTChatWidget.on('visibility_changed', 'not a function')")
    host.wait_for_console("on/once(event, handler) needs an event name and a function")
    # A handler that throws does not stop the others.
    page.evaluate("""() => {
      window.__after = [];
      TWTChatWidget.on("initialized", () => { throw new Error("host bug"); });
      TWTChatWidget.on("initialized", () => window.__after.push("ran"));
      TWTChatWidget.init();
    }""")
    wait_for_event(page, "initialized", count=2)
    assert page.evaluate("window.__after") == ["ran"]
    host.wait_for_console("'initialized' handler threw", "host bug")


def test_manual_init_scriptTagVersion_get_and_the_queue_before_init(host: Host) -> None:
    """asyncInit: nothing until init(); scriptTagVersion() as soon as core.js has loaded; get()
    throws until init() completes; calls made meanwhile are applied in order, none lost."""
    page = host.page
    block_runtime(page)  # maximize boots the runtime; this test is about the host side only
    host.goto({"appid": "porch-demo", "asyncInit": True}, manual_init=True)
    page.wait_for_function("window.__coreLoaded === true")
    assert page.evaluate("TWTChatWidget.scriptTagVersion()") == "v1.2"
    error = page.evaluate("""() => {
      try { TWTChatWidget.get('state'); return null; } catch (e) { return e.message; }
    }""")
    assert error is not None and "get('state') called before init() completed" in error
    assert page.locator("iframe").count() == 0
    assert events(page, "initialized") == []

    page.evaluate("""() => {
      const W = window.TWTChatWidget;
      window.__order = [];
      W.call("set_theme", "light");
      W.call("maximize");
      W.setLanguage("JA-jp");
      W.call("set_theme", "dark");
      W.on("initialized", () => {
        // Made after the calls above, so applied after them.
        window.__order.push("initialized:" + W.get("state").visibility);
        W.call("set_language", "de");
        W.setLanguage("ko");
      });
      W.on("visibility_changed", (p) => window.__order.push("visibility:" + p.visibility));
      W.init();
      W.init();  // idempotent
    }""")
    wait_for_event(page, "initialized")
    expect(page.locator(LAUNCHER)).to_have_count(1)
    assert page.evaluate("window.__order") == ["initialized:minimized", "visibility:maximized"]
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "maximized"}
    assert page.evaluate("TWTChatWidget.get('theme')") == "dark"
    expect(page.locator(LAUNCHER)).to_have_attribute("title", "채팅")
    launcher_doc = page.frame_locator(LAUNCHER).locator("html")
    expect(launcher_doc).to_have_attribute("lang", "ko")
    expect(launcher_doc).to_have_attribute("data-theme", "dark")
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.frame_locator(PANEL).locator("html")).to_have_attribute("lang", "ko")
    expect(page.frame_locator(PANEL).locator("html")).to_have_attribute("data-theme", "dark")
    sdk_info = page.evaluate("TWTChatWidget.get('sdk_info')")
    assert sdk_info["scriptTagVersion"] == page.evaluate("TWTChatWidget.scriptTagVersion()")

    page.evaluate("TWTChatWidget.init()")  # a third call: still one instance
    assert len(events(page, "initialized")) == 1
    assert page.locator(LAUNCHER).count() == 1 and page.locator(PANEL).count() == 1
    assert host.console() == []


def test_every_getter_returns_its_documented_shape(host: Host) -> None:
    page = host.page
    host.goto(
        {"appid": "porch-demo", "theme": "system"}, src="{porch}/install/core.js?version=v7.3-rc1"
    )
    wait_for_event(page, "initialized")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    got = page.evaluate("""() => {
      const W = window.TWTChatWidget;
      return {state: W.get("state"), sdk_info: W.get("sdk_info"),
              unread_count: W.get("unread_count"), theme: W.get("theme")};
    }""")
    assert got == {
        "state": {"visibility": "minimized"},
        "sdk_info": {"version": version, "scriptTagVersion": "v7.3-rc1",
                     "compatibilityMode": "off", "transport": "mixed"},
        "unread_count": 0,
        "theme": "system",
    }
    assert page.evaluate("TWTChatWidget.scriptTagVersion()") == "v7.3-rc1"
    # Getters return copies: a page cannot change the widget's state through them.
    page.evaluate("TWTChatWidget.get('state').visibility = 'maximized'")
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "minimized"}
    error = page.evaluate("""() => {
      try { TWTChatWidget.get('secrets'); return null; } catch (e) { return e.message; }
    }""")
    assert error is not None and 'unknown getter "secrets"' in error


def test_setLanguage_normalizes_and_ignores_what_it_cannot_support(host: Host) -> None:
    page = host.page
    host.goto({"appid": "porch-demo", "language": "en"})
    wait_for_event(page, "initialized")
    launcher = page.locator(LAUNCHER)
    # docs/i18n.md "Normalization", in an order where each value changes the language.
    cases = [
        ("pt-BR", "pt"), ("zh_Hans_CN", "zh-cn"), ("zh-HK", "zh-tw"), ("zh-Hans-HK", "zh-cn"),
        ("zh-Hant", "zh-tw"), ("zh", "zh-cn"), ("zh-Hant-HK", "zh-tw"), ("zh-SG", "zh-cn"),
        ("EN-us", "en"), ("de-AT", "de"), ("ja-JP", "ja"), ("KO", "ko"), ("RU", "ru"),
        (" fr ", "fr"),
    ]
    for given, locale in cases:
        page.evaluate("(l) => TWTChatWidget.setLanguage(l)", given)
        expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", locale)
        expect(launcher).to_have_attribute("title", LAUNCHER_TITLES[locale])
    for n, bad in enumerate(["xx", "es", "english", "", 42, None], start=1):
        page.evaluate("(l) => TWTChatWidget.setLanguage(l)", bad)
        host.wait_for_console("set_language:", "is not a supported language", "keeping fr",
                              count=n)
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "fr")
    page.evaluate("TWTChatWidget.call('set_language', 'ja')")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "ja")
    expect(launcher).to_have_attribute("title", "チャット")
