"""The 9 languages of the spec, and Arabic and Hebrew (right to left), in real Chromium:
configuration, live switching, the browser-language fallback, normalization of what integrators
pass, and refusal of unsupported values; and the agent console in the agent's language (one
console boot: the browser's language, the console's own choice, remembered, right to left).

What the visitor sees and hears is read from the rendered DOM of both iframes: text, aria-labels,
placeholders, titles and ``<html lang>``. Only one test boots the Python runtime (to prove the
runtime-rendered text follows a switch too); the shell and the launcher need no runtime, and the
others keep Pyodide from loading at all so that opening the panel costs nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Frame, Locator, Page, Route, expect

from conftest import (
    EVENT_RECORDER,
    LAUNCHER,
    PANEL,
    AgentClient,
    PorchServer,
    open_chat,
    send_from_panel,
    wait_for_event,
)
from console_page import BOOT_TIMEOUT_MS, CONSOLE_STRINGS, ConsolePage, PyVisitor
from porch_protocol import MessageAck, NewMessage, SendMessage

SNIPPET = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>i18n host</title>
<script>
window.TWTChatWidget = window.TWTChatWidget || {
_q: [],
on: function () {
this._q.push(["on", Array.prototype.slice.call(arguments)]);
},
};
window.__twt = %s;
(function (n, t) {
var e = {
init: function () {
var n = t.createElement("script");
n.async = !0;
n.type = "text/javascript";
n.src = "/install/core.js?version=v1.2";
t.head.appendChild(n);
},
};
e.init();
})(window, document);
</script>
</head>
<body><p>A host page</p></body>
</html>"""

#: What the shell shows in each language the tests look at (from loader/strings.js).
SHELL = {
    "en": {"title": "Chat with us", "status": "Starting chat…", "send": "Send",
           "placeholder": "Write a message…", "composer": "Your message",
           "minimize": "Minimize chat", "messages": "Messages", "open": "Open chat",
           "close": "Close chat", "launcher": "Chat button", "frame": "Chat"},
    "ja": {"title": "チャットでお問い合わせ", "status": "チャットを起動しています…", "send": "送信",
           "placeholder": "メッセージを入力…", "composer": "メッセージ",
           "minimize": "チャットを最小化", "messages": "メッセージ", "open": "チャットを開く",
           "close": "チャットを閉じる", "launcher": "チャットボタン", "frame": "チャット"},
    "ru": {"title": "Напишите нам", "status": "Запуск чата…", "send": "Отправить",
           "placeholder": "Напишите сообщение…", "composer": "Ваше сообщение",
           "minimize": "Свернуть чат", "messages": "Сообщения", "open": "Открыть чат",
           "close": "Закрыть чат", "launcher": "Кнопка чата", "frame": "Чат"},
    "de": {"title": "Schreiben Sie uns", "open": "Chat öffnen", "close": "Chat schließen",
           "send": "Senden"},
}

#: Every string a visitor can see or a screen reader can speak, in one frame's document.
SPOKEN = """(skip) => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (skip && node.parentElement.closest(skip)) continue;
    if (node.parentElement.closest('[hidden], [aria-hidden="true"]')) continue;
    if (node.nodeValue.trim()) out.push(node.nodeValue.trim());
  }
  for (const el of document.querySelectorAll('*')) {
    for (const attr of ['aria-label', 'placeholder', 'title', 'alt', 'aria-description']) {
      if (el.hasAttribute(attr)) out.push(el.getAttribute(attr));
    }
  }
  return out;
}"""


def hold_runtime(page: Page) -> None:
    """Keep Pyodide from loading: the panel shell is all these tests look at."""

    def hold(route: Route) -> None:
        pass  # never answered; the request dies with the page

    page.route("**/vendor/pyodide/**", hold)


def serve(page: Page, server: PorchServer, config: dict[str, Any], name: str = "i18n.html") -> None:
    url = f"{server.url}/i18n-host/{name}"
    html = SNIPPET % json.dumps(config)
    page.route(url, lambda route: route.fulfill(content_type="text/html", body=html))
    page.goto(url)


def frame_of(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(selector, state="attached")
    assert handle is not None
    content = handle.content_frame()
    assert content is not None
    return content


def expect_launcher(page: Page, locale: str, label: str) -> None:
    launcher = page.frame_locator(LAUNCHER)
    expect(launcher.locator("html")).to_have_attribute("lang", locale)
    expect(launcher.locator("#launcher")).to_have_accessible_name(label)


def expect_shell(page: Page, locale: str) -> None:
    """The panel shell (and the launcher, open) speak ``locale`` and nothing else."""
    s = SHELL[locale]
    panel = page.frame_locator(PANEL)
    expect(panel.locator("html")).to_have_attribute("lang", locale)
    expect(panel.get_by_role("dialog", name=s["title"])).to_be_visible()
    expect(panel.locator("#panel-status")).to_have_text(s["status"])
    expect(panel.get_by_role("textbox", name=s["composer"])).to_have_attribute(
        "placeholder", s["placeholder"])
    expect(panel.get_by_role("button", name=s["send"])).to_have_text(s["send"])
    expect(panel.get_by_role("button", name=s["minimize"])).to_have_attribute(
        "title", s["minimize"])
    expect(panel.get_by_role("log", name=s["messages"])).to_be_visible()
    assert frame_of(page, PANEL).evaluate("document.title") == s["title"]
    expect_launcher(page, locale, s["close"])
    assert frame_of(page, LAUNCHER).evaluate("document.title") == s["launcher"]
    expect(page.locator(LAUNCHER)).to_have_attribute("title", s["frame"])


def assert_no_latin(page: Page, skip: str | None = None) -> None:
    """No English (no Latin letter at all) in what either surface shows or says."""
    for selector in (LAUNCHER, PANEL):
        spoken = frame_of(page, selector).evaluate(SPOKEN, skip)
        latin = [text for text in spoken if re.search(r"[A-Za-z]", text)]
        assert spoken and not latin, f"{selector}: {latin}"


def test_language_from_config_translates_the_launcher_and_the_panel_shell(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "ja"})
    wait_for_event(page, "iframe_loaded")
    expect_launcher(page, "ja", SHELL["ja"]["open"])
    page.evaluate("TWTChatWidget.call('maximize')")
    # The shell is translated before any Python runs.
    expect_shell(page, "ja")
    assert_no_latin(page)


def test_set_language_switches_launcher_and_panel_live_and_refuses_unknown_values(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "ja"})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect_shell(page, "ja")
    page.evaluate("TWTChatWidget.setLanguage('ru')")
    expect_shell(page, "ru")
    expect(page.locator(PANEL)).to_have_attribute("title", "Окно чата")
    assert_no_latin(page)

    # Unsupported: the language stays, and the console says why.
    for bad in ("es", "xx", "", "english"):
        with page.expect_console_message(lambda m, bad=bad: is_refusal(m, bad)) as refusal:
            page.evaluate("(v) => TWTChatWidget.setLanguage(v)", bad)
        assert "ru" in refusal.value.text  # names the language it keeps
    # A later valid call is applied in order after the refused ones: nothing changed meanwhile.
    page.evaluate("TWTChatWidget.call('set_theme', 'dark')")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.frame_locator(PANEL).locator("html")).to_have_attribute("data-theme", "dark")
    expect_shell(page, "ru")


def is_refusal(message: ConsoleMessage, value: str) -> bool:
    return message.type == "error" and json.dumps(value) in message.text and (
        "not supported" in message.text or "not a supported" in message.text)


def test_switching_language_reaches_what_the_runtime_renders(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    serve(page, porch_server, {"appid": "porch-demo", "language": "ja"})
    open_chat(page)
    panel = page.frame_locator(PANEL)
    expect(panel.locator("#panel-status")).to_have_text("オンライン")
    send_from_panel(page, "Hello from Tokyo")
    update = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    visitor = panel.locator('.message[data-author="visitor"]')
    expect(visitor).to_have_attribute("data-state", "sent")
    expect(visitor.locator(".message-meta")).to_have_text("あなた")

    page.evaluate("TWTChatWidget.call('minimize')")
    agent.send(SendMessage(client_id="i18n-1", text="Hi!",
                           conversation_id=update.message.conversation_id))
    assert isinstance(agent.wait_for(lambda f: isinstance(f, MessageAck)), MessageAck)
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    expect_launcher(page, "ja", "チャットを開く. 未読メッセージ 1 件")

    page.evaluate("TWTChatWidget.setLanguage('ru')")
    expect_launcher(page, "ru", "Открыть чат. Непрочитанных сообщений: 1")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(panel.locator("#panel-status")).to_have_text("В сети")  # noqa: RUF001
    expect(visitor.locator(".message-meta")).to_have_text("Вы")
    expect(panel.locator("html")).to_have_attribute("lang", "ru")
    # Everything but the conversation itself (its text and the agent's name are data) is Russian.
    # Agents' names are data too, in messages, notices and the announcer that repeats them.
    assert_no_latin(page, skip=".message:not(.greeting), .notice, #announcer")
    expect(panel.locator('.message[data-author="agent"] .message-text')).to_have_text("Hi!")


@pytest.mark.browser_context_args(locale="de-DE")
def test_without_configuration_the_browser_language_is_used(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo"})
    assert page.evaluate("navigator.languages[0]") == "de-DE"
    wait_for_event(page, "iframe_loaded")
    expect_launcher(page, "de", SHELL["de"]["open"])
    page.evaluate("TWTChatWidget.call('maximize')")
    panel = page.frame_locator(PANEL)
    expect(panel.get_by_role("dialog", name=SHELL["de"]["title"])).to_be_visible()
    expect(panel.get_by_role("button", name="Senden")).to_be_visible()
    expect_launcher(page, "de", SHELL["de"]["close"])


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        (["es-ES", "it", "fr-CA", "en-US"], "fr"),  # the first supported one, not the first one
        (["zh-HK", "en"], "zh-tw"),
        (["es", "it-IT"], "en"),  # nothing supported: English
    ],
)
def test_the_first_supported_browser_language_wins(
    page: Page, porch_server: PorchServer, languages: list[str], expected: str
) -> None:
    wanted, first = json.dumps(languages), json.dumps(languages[0])
    page.add_init_script(
        f"Object.defineProperty(Navigator.prototype, 'languages', {{get: () => {wanted}}});"
        f"Object.defineProperty(Navigator.prototype, 'language', {{get: () => {first}}});")
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo"})
    wait_for_event(page, "iframe_loaded")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", expected)


#: What integrators pass -> the runtime locale (docs/i18n.md).
NORMALIZED = [
    ("zh-CN", "zh-cn"), ("zh_Hans", "zh-cn"), ("zh", "zh-cn"), ("zh-SG", "zh-cn"),
    ("zh-Hans-CN", "zh-cn"), ("zh-TW", "zh-tw"), ("zh-Hant", "zh-tw"), ("zh-Hant-HK", "zh-tw"),
    ("zh-HK", "zh-tw"), ("zh_MO", "zh-tw"), ("ZH-tw", "zh-tw"), ("pt-BR", "pt"), ("pt_PT", "pt"),
    ("EN-us", "en"), ("en-GB", "en"), ("de-AT", "de"), ("de_CH", "de"), ("fr-CA", "fr"),
    ("ja-JP", "ja"), ("JA", "ja"), ("ko-KR", "ko"), ("ru-RU", "ru"), (" ru ", "ru"),
    ("ar-EG", "ar"), ("AR_sa", "ar"), ("he-IL", "he"), ("iw", "he"), ("iw_IL", "he"),
]


def test_set_language_normalizes_case_and_regional_variants(
    page: Page, porch_server: PorchServer
) -> None:
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "en"})
    wait_for_event(page, "iframe_loaded")
    html = page.frame_locator(LAUNCHER).locator("html")
    expect(html).to_have_attribute("lang", "en")
    for raw, expected in NORMALIZED:
        # Move away first, so each value is seen to take effect.
        other = "ko" if expected != "ko" else "ja"
        page.evaluate("(v) => TWTChatWidget.setLanguage(v)", other)
        expect(html).to_have_attribute("lang", other)
        page.evaluate("(v) => TWTChatWidget.setLanguage(v)", raw)
        expect(html, f"setLanguage({raw!r})").to_have_attribute("lang", expected)


@pytest.mark.parametrize(("raw", "expected"), [("zh_Hans", "zh-cn"), ("zh-Hant-HK", "zh-tw"),
                                               ("pt-BR", "pt"), ("EN-us", "en"), ("de-AT", "de")])
def test_configured_language_is_normalized_the_same_way(
    page: Page, porch_server: PorchServer, raw: str, expected: str
) -> None:
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": raw})
    wait_for_event(page, "iframe_loaded")
    expect(page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", expected)


@pytest.mark.browser_context_args(locale="de-DE")
def test_an_unsupported_configured_language_falls_back_to_the_browser_and_says_why(
    page: Page, porch_server: PorchServer
) -> None:
    page.add_init_script(EVENT_RECORDER)
    with page.expect_console_message(lambda m: is_refusal(m, "es")) as refusal:
        serve(page, porch_server, {"appid": "porch-demo", "language": "es"})
    assert "window.__twt.language" in refusal.value.text
    wait_for_event(page, "iframe_loaded")
    expect_launcher(page, "de", SHELL["de"]["open"])


def test_an_explicit_chinese_script_wins_over_the_region(
    page: Page, porch_server: PorchServer
) -> None:
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "zh-Hans-HK"})
    wait_for_event(page, "iframe_loaded")
    html = page.frame_locator(LAUNCHER).locator("html")
    expect(html).to_have_attribute("lang", "zh-cn", timeout=2_000)


@pytest.mark.browser_context_args(viewport={"width": 360, "height": 640})
def test_a_phone_sized_panel_fits_long_languages_and_long_words(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "ru"})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    panel = page.frame_locator(PANEL)
    send = panel.get_by_role("button", name="Отправить")
    composer = panel.get_by_role("textbox", name="Ваше сообщение")
    expect(send).to_be_visible()
    # The send button shrinks to its icon, so the Russian placeholder has room on one line.
    send_box, composer_box = send.bounding_box(), composer.bounding_box()
    assert send_box is not None and composer_box is not None
    assert send_box["width"] <= 48 and composer_box["width"] >= 220
    word = "Donaudampfschifffahrtsgesellschaftskapitänsmützenhalterung/" * 3
    composer.fill(word)
    composer.press("Enter")  # shown at once, before any runtime
    expect(panel.locator('.message[data-author="visitor"] .message-text')).to_have_text(word)
    overflow = frame_of(page, PANEL).evaluate(
        "() => [document.documentElement, document.getElementById('messages')]"
        ".map(el => el.scrollWidth - el.clientWidth)")
    assert overflow == [0, 0]


# --- right to left -------------------------------------------------------------------------------


def test_arabic_and_hebrew_mirror_the_launcher_and_the_panel(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    page.add_init_script(EVENT_RECORDER)
    serve(page, porch_server, {"appid": "porch-demo", "language": "ar"})
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    panel = page.frame_locator(PANEL)
    for surface in (LAUNCHER, PANEL):
        html = page.frame_locator(surface).locator("html")
        expect(html).to_have_attribute("lang", "ar")
        expect(html).to_have_attribute("dir", "rtl")
    expect(panel.get_by_role("dialog", name="تحدّث معنا")).to_be_visible()

    def x(selector: str) -> float:
        box = panel.locator(selector).bounding_box()
        assert box is not None
        return box["x"]

    # The heading at the start (right), the buttons at the end (left); the send button after
    # the composer, so on its left.
    assert x("#panel-title") > x("#minimize")
    assert x("#composer-text") > x("#composer-send")
    # What people write runs its own way: English in the Arabic panel reads left to right.
    send = panel.locator("#composer-text")
    send.fill("Order 42 please")
    send.press("Enter")
    english = panel.locator('.message[data-author="visitor"] .message-text').last
    expect(english).to_have_text("Order 42 please")
    assert english.evaluate("el => getComputedStyle(el).direction") == "ltr"

    page.evaluate("TWTChatWidget.setLanguage('he')")
    expect(panel.locator("html")).to_have_attribute("lang", "he")
    expect(panel.locator("html")).to_have_attribute("dir", "rtl")
    expect(panel.get_by_role("dialog", name="שוחחו איתנו")).to_be_visible()
    page.evaluate("TWTChatWidget.setLanguage('en')")
    expect(panel.locator("html")).to_have_attribute("dir", "ltr")
    assert x("#panel-title") < x("#minimize")
    assert x("#composer-text") < x("#composer-send")
    # ... and Hebrew in the English panel reads right to left.
    send.fill("שלום, הזמנה 42")
    send.press("Enter")
    hebrew = panel.locator('.message[data-author="visitor"] .message-text').last
    expect(hebrew).to_have_text("שלום, הזמנה 42")
    assert hebrew.evaluate("el => getComputedStyle(el).direction") == "rtl"


@pytest.mark.browser_context_args(locale="he-IL")
def test_the_agent_console_speaks_the_browsers_language_or_the_chosen_one_and_mirrors_for_rtl(
    page: Page, porch_server: PorchServer
) -> None:
    he, ar = CONSOLE_STRINGS["he"], CONSOLE_STRINGS["ar"]
    html = page.locator("html")
    page.goto(f"{porch_server.url}/agent/")
    # The page is Hebrew, right to left, before Python has booted (i18n.js runs in <head>).
    expect(html).to_have_attribute("lang", "he")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.locator("#login-submit")).to_have_text(he["login_submit"])
    expect(page.locator("#search")).to_have_attribute("placeholder", he["search_placeholder"])
    expect(page).to_have_title(he["page_title"])
    expect(page.locator("#language")).to_have_value("he")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=BOOT_TIMEOUT_MS)
    console = ConsolePage(page, porch_server.url).log_in()
    expect(page.locator("#status")).to_have_text(he["status_connected"])

    visitor = PyVisitor(porch_server.url, name="Rana")
    try:
        conversation = visitor.say("Order 42 please")
        console.open_conversation(conversation)
        row = console.row(conversation)
        # Python's words are Hebrew too: the row's assignee, the list's view badge label.
        expect(row.locator(".conversation-assignee")).to_have_text(he["view_unassigned"])

        def x(selector: str) -> float:
            box = page.locator(selector).bounding_box()
            assert box is not None
            return box["x"]

        def direction(locator: Locator) -> str:
            return str(locator.evaluate("el => getComputedStyle(el).direction"))

        # Mirrored: the list at the right, the visitor's details at the left; the conversation's
        # title at the right of its actions.
        assert x(".conversation-list") > x("section.conversation") > x("#details")
        assert x("#conversation-title") > x("#join")
        # The visitor is online: the row's green edge is at its start, the right.
        edge = "el => getComputedStyle(el).boxShadow"
        assert "-4px 0px 0px" in row.evaluate(edge)
        # What people write runs its own way: English in the Hebrew console, left to right.
        expect(console.message_with_text("Order 42 please")).to_be_visible()
        text = console.message_with_text("Order 42 please").locator(".message-text")
        assert direction(text) == "ltr"
        assert direction(row.locator(".conversation-last")) == "ltr"

        console.choose_language("en")
        assert x(".conversation-list") < x("section.conversation") < x("#details")
        assert "-4px" not in row.evaluate(edge)
        expect(row.locator(".conversation-assignee")).to_have_text("Unassigned")

        console.choose_language("ar")
        assert x(".conversation-list") > x("section.conversation") > x("#details")
        expect(row.locator(".conversation-assignee")).to_have_text(ar["view_unassigned"])
        reply = page.locator("#reply-text")
        expect(reply).to_have_attribute("placeholder", ar["reply_placeholder"])
    finally:
        visitor.close()
    # The choice is remembered (localStorage) over the browser's Hebrew, before Python boots.
    page.reload()
    expect(html).to_have_attribute("lang", "ar")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.locator("#conversations-heading")).to_have_text(ar["conversations_heading"])
