"""Accessibility of the launcher, the panel and the agent console, in real Chromium (WCAG 2.2 AA,
docs/widget.md "Accessibility"): axe-core on every state in every language and theme, keyboard
only, what a screen reader is told (roles, names, states, the live region), and emulated media
(reduced motion, forced colours, zoom).

axe-core comes from node_modules (package.json pins it) and is evaluated in each frame over the
DevTools protocol: no CDN, and no page's CSP loosened. The shell's semantics need no runtime and
are checked without one; each state group that does boots Python once and switches languages and
themes inside the page.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Frame, Page, Route, expect

from conftest import (
    LAUNCHER,
    PANEL,
    ROOT,
    AgentClient,
    PorchServer,
    send_from_panel,
    wait_for_event,
    wait_for_status,
)
from console_page import ConsolePage, PyVisitor
from host_pages import Host
from panel import Upload, VisitorPanel
from porch_protocol import FormField, MessageAck, NewMessage, SendMessage
from widget_support import (  # noqa: F401 (the *_fixture imports register fixtures)
    ChangeSettings,
    SetPresenceStatus,
    app_settings_fixture,
    open_visitor,
    presence_fixture,
    start_conversation,
    tiny_png,
    upload_as_agent,
)

AXE_SOURCE = (ROOT / "node_modules" / "axe-core" / "axe.min.js").read_text()
#: The rule sets of WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
#: Every language of loader/strings.js (tests/unit/test_strings.py keeps that list).
LANGUAGES = ["en", "zh-cn", "zh-tw", "ja", "ko", "de", "fr", "pt", "ru", "ar", "he"]
THEMES = ["light", "dark"]


def axe_violations(frame: Frame) -> list[str]:
    """axe-core's WCAG 2.2 AA violations in ``frame``'s document, one line per failing node."""
    if not frame.evaluate("() => typeof window.axe === 'object'"):
        frame.evaluate(AXE_SOURCE)
    # A message still fading in has, for that moment, a contrast no one reads it at.
    frame.evaluate("() => Promise.all(document.getAnimations().map((a) => a.finished))")
    found: list[dict[str, Any]] = frame.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags},
                                        resultTypes: ["violations"]})
             .then((r) => r.violations.map((v) => ({id: v.id, nodes: v.nodes.map((n) =>
               ({target: n.target.join(" "), why: n.failureSummary}))})))""",
        WCAG_22_AA,
    )
    return [f"{v['id']} at {n['target']}: {n['why']}" for v in found for n in v["nodes"]]


def assert_no_violations_in_any_language_or_theme(
    page: Page, selector: str, state: str
) -> None:
    """axe on the widget frame ``selector`` in every language and both themes, switched through
    the host API without a reload; every violation of every combination is reported at once."""
    frame = page.wait_for_selector(selector)
    content = frame.content_frame() if frame else None
    assert content is not None
    root = page.frame_locator(selector).locator("html")
    failures: list[str] = []
    for theme in THEMES:
        page.evaluate("(theme) => TWTChatWidget.call('set_theme', theme)", theme)
        expect(root).to_have_attribute("data-theme", theme)
        for language in LANGUAGES:
            page.evaluate("(language) => TWTChatWidget.setLanguage(language)", language)
            expect(root).to_have_attribute("lang", language)
            failures += [f"{state}, {language}, {theme}: {v}" for v in axe_violations(content)]
    page.evaluate("TWTChatWidget.setLanguage('en')")
    page.evaluate("TWTChatWidget.call('set_theme', 'light')")
    assert not failures, "\n".join(failures)


def hold_runtime(page: Page) -> None:
    """Keep Pyodide from loading where only the shell is looked at (opening the panel boots it)."""

    def hold(route: Route) -> None:
        pass  # never answered; the request dies with the page

    page.route("**/vendor/pyodide/**", hold)


def frame(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(selector, state="attached")
    assert handle is not None
    content = handle.content_frame()
    assert content is not None
    return content


def has_real_focus(frame: Frame, element_id: str) -> bool:
    """True when ``element_id`` is where the keyboard types: the focused element of a document
    that itself has the focus (a per-document activeElement alone is not enough)."""
    return bool(frame.evaluate(
        "(id) => document.hasFocus() && document.activeElement && document.activeElement.id === id",
        element_id))


def tab_to_launcher(page: Page, max_tabs: int = 10) -> Frame:
    launcher = frame(page, LAUNCHER)
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        if has_real_focus(launcher, "launcher"):
            return launcher
    raise AssertionError(f"the launcher was not reached in {max_tabs} presses of Tab")


def test_keyboard_only_visitor_opens_writes_sends_and_closes(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    button = page.frame_locator(LAUNCHER).get_by_role("button", name="Open chat")
    expect(button).to_have_attribute("aria-expanded", "false")

    # Tab from the page into the launcher iframe; Enter opens the panel and puts the caret in
    # the composer, so the visitor can type at once.
    launcher = tab_to_launcher(page)
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-expanded", "true")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name("Close chat")
    panel = frame(page, PANEL)
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus()"
        " && f.contentDocument.activeElement.id === 'composer-text'",
        arg=page.query_selector(PANEL))
    page.keyboard.type("Typed with the keyboard only")
    page.keyboard.press("Enter")
    sent = page.frame_locator(PANEL).locator('.message[data-author="visitor"]')
    expect(sent.locator(".message-text")).to_have_text("Typed with the keyboard only")
    update = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor",
                            timeout=90)
    expect(sent).to_have_attribute("data-state", "sent")
    assert panel.evaluate("document.getElementById('composer-text').value") == ""

    # Escape minimizes and gives the focus back to the launcher.
    page.keyboard.press("Escape")
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"}
    expect(page.locator(PANEL)).to_be_hidden()
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus() && f.contentDocument.activeElement.id === 'launcher'",
        arg=page.query_selector(LAUNCHER))
    assert has_real_focus(launcher, "launcher")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-expanded", "false")

    # An agent reply while minimized: the count is part of the launcher's accessible name.
    agent.send(SendMessage(client_id="a11y-1", text="Hello!",
                           conversation_id=update.message.conversation_id))
    assert isinstance(agent.wait_for(lambda f: isinstance(f, MessageAck)), MessageAck)
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name(
        "Open chat. Unread messages: 1")
    badge = page.frame_locator(LAUNCHER).locator("#badge")
    expect(badge).to_have_text("1")

    # Enter on the (still focused) launcher reopens; the reply is in the log; the count clears.
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed", count=3)["payload"] == {
        "visibility": "maximized"}
    log = page.frame_locator(PANEL).get_by_role("log", name="Messages")
    expect(log.locator('.message[data-author="agent"] .message-text')).to_have_text("Hello!")
    assert wait_for_event(page, "unread_count_changed", count=2)["payload"] == {"count": 0}
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_accessible_name("Close chat")
    expect(badge).to_be_hidden()


def test_screen_reader_semantics_of_the_shell(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    launcher = page.frame_locator(LAUNCHER)
    button = launcher.get_by_role("button", name="Open chat")
    expect(button).to_have_attribute("aria-expanded", "false")
    assert button.evaluate("el => el.tagName") == "BUTTON"
    expect(launcher.locator("svg").first).to_have_attribute("aria-hidden", "true")

    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    expect(launcher.get_by_role("button", name="Close chat")).to_have_attribute(
        "aria-expanded", "true")
    panel = page.frame_locator(PANEL)
    dialog = panel.get_by_role("dialog", name="Chat with us")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_description("Starting chat…")
    log = panel.get_by_role("log", name="Messages")
    # The log is silent (a history load would be read out whole); new messages are spoken once
    # through a polite, atomic region of their own (test_a_new_message_is_announced_once).
    expect(log).to_have_attribute("aria-live", "off")
    announcer = panel.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_attribute("aria-atomic", "true")
    expect(announcer).to_be_empty()
    expect(panel.get_by_role("textbox", name="Your message")).to_be_focused()
    expect(panel.get_by_role("button", name="Send")).to_be_visible()
    expect(panel.get_by_role("button", name="Minimize chat")).to_be_visible()

    # Tab order inside the dialog: composer -> Send, and Shift+Tab back up to Minimize.
    page.keyboard.press("Tab")
    expect(panel.get_by_role("button", name="Send")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    minimize = panel.get_by_role("button", name="Minimize chat")
    expect(minimize).to_be_focused()
    # The focus ring is visible on the accent-coloured header.
    assert minimize.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"}
    expect(launcher.locator("#launcher")).to_be_focused()


def test_animations_respect_prefers_reduced_motion(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    button = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(button).to_be_visible()
    assert button.evaluate("el => getComputedStyle(el).transitionDuration") != "0s"
    page.emulate_media(reduced_motion="reduce")
    assert button.evaluate("el => getComputedStyle(el).transitionDuration") == "0s"
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    # A message added to the log does not slide in either.
    page.frame_locator(PANEL).locator("#composer-text").fill("still")
    page.frame_locator(PANEL).locator("#composer-text").press("Enter")
    message = page.frame_locator(PANEL).locator('.message[data-author="visitor"]')
    assert message.evaluate("el => getComputedStyle(el).animationName") == "none"
    page.emulate_media(reduced_motion="no-preference")
    assert message.evaluate("el => getComputedStyle(el).animationName") == "message-in"


def test_with_a_custom_launcher_closing_the_panel_returns_focus_to_the_pages_button(
    page: Page, porch_server: PorchServer
) -> None:
    hold_runtime(page)
    host = Host(page, porch_server)
    host.goto(
        {"appid": "porch-demo", "launcher": "custom"},
        body='<button id="open-chat" onclick="TWTChatWidget.call(\'maximize\')">Chat</button>',
    )
    wait_for_event(page, "initialized")
    page.focus("#open-chat")
    page.keyboard.press("Enter")
    panel = frame(page, PANEL)
    expect(panel.locator("#composer-text")).to_be_focused()
    page.keyboard.press("Escape")
    wait_for_event(page, "visibility_changed", count=2)
    assert page.evaluate("TWTChatWidget.get('state').visibility") == "minimized"
    expect(page.locator("#open-chat")).to_be_focused()


# --- axe-core: 0 violations everywhere ---------------------------------------------------------


def test_axe_finds_nothing_on_the_launcher_and_the_panel_shell(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, LAUNCHER, "launcher")
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    assert_no_violations_in_any_language_or_theme(page, LAUNCHER, "launcher, open")
    assert_no_violations_in_any_language_or_theme(page, PANEL, "panel before the runtime")


def test_axe_finds_nothing_in_the_prechat_chat_files_rating_and_ended_states(
    page: Page, porch_server: PorchServer, agent: AgentClient, app_settings: ChangeSettings
) -> None:
    app_settings(
        prechat_fields=(
            FormField(name="name", label="Your name", required=True),
            FormField(name="email", label="Email", kind="email", required=True),
            FormField(name="topic", label="Topic", kind="select", options=("Sales", "Support")),
        )
    )
    panel = open_visitor(page, porch_server)
    expect(panel.prechat).to_be_visible()
    panel.locator("#prechat-submit").click()  # empty: every error is shown
    expect(panel.locator("#prechat-0-error")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, PANEL, "pre-chat form with errors")

    panel.fill_prechat({"name": "Rana", "email": "rana@example.com", "topic": "Support"})
    first = start_conversation(panel, agent, "مرحبا, I need help with order 42")
    conversation = first.message.conversation_id
    agent.send(SendMessage(client_id="a11y-rtl", text="שלום! Order 42 ships today.",
                           conversation_id=conversation))
    panel.wait_for_message("Order 42 ships", author="agent")
    panel.attach_file(Upload("shot.png", "image/png", tiny_png()))
    expect(panel.file_link("shot.png").locator("img")).to_be_visible()
    file_id = upload_as_agent(porch_server, "terms.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")
    agent.send(SendMessage(client_id="a11y-pdf", text="", conversation_id=conversation,
                           file_id=file_id))
    expect(panel.file_link("terms.pdf")).to_be_visible()
    panel.attach_file(Upload("page.html", "text/html", b"<p>hi</p>"))
    expect(panel.upload_error).to_be_visible()
    page.evaluate("TWTChatWidget.call('minimize')")
    agent.send(SendMessage(client_id="a11y-unread", text="Anything else?",
                           conversation_id=conversation))
    expect(page.frame_locator(LAUNCHER).locator("#badge")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, LAUNCHER, "launcher with unread badge")
    page.evaluate("TWTChatWidget.call('maximize')")
    panel.locator("#end-chat").click()
    expect(panel.locator("#end-confirm")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(
        page, PANEL, "chat with files, an upload error and the end question")

    panel.locator("#end-confirm-yes").click()
    expect(panel.locator("#rating-prompt")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, PANEL, "rating")
    panel.rate(1, comment="Thanks")
    assert_no_violations_in_any_language_or_theme(page, PANEL, "ended and rated")


def test_axe_finds_nothing_in_the_offline_form_and_its_confirmation(
    page: Page, porch_server: PorchServer, presence: SetPresenceStatus
) -> None:
    presence("offline")
    panel = open_visitor(page, porch_server)
    expect(panel.offline_form).to_be_visible()
    panel.locator("#offline-submit").click()
    expect(panel.locator("#offline-name-error")).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, PANEL, "offline form with errors")
    panel.submit_offline_form("Noa", "noa@example.com", "Call me back")
    expect(panel.offline_confirmation).to_be_visible()
    assert_no_violations_in_any_language_or_theme(page, PANEL, "offline message sent")


def test_axe_finds_nothing_in_the_agent_console_in_any_language_or_theme(
    page: Page, porch_server: PorchServer
) -> None:
    """One console boot; languages switched with its own select (Python rewords what it drew).
    The console has one theme (light, ``color-scheme: light``): it is checked under both
    ``prefers-color-scheme`` values, so a dark theme added later is held to the same bar."""
    console = ConsolePage(page, porch_server.url).open()
    failures: list[str] = []

    def each_language_and_theme(state: str, *, dialogs: bool = False) -> None:
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            for language in LANGUAGES:
                console.choose_language(language)
                where = f"{state}, {language}, {theme}"
                failures.extend(f"{where}: {v}" for v in axe_violations(page.main_frame))
                if not dialogs:
                    continue
                page.click("#help-open")
                expect(page.locator("#help-dialog")).to_have_attribute("open", "")
                failures.extend(f"{where}, shortcuts: {v}" for v in axe_violations(page.main_frame))
                page.click("#help-close")
                expect(page.locator("#help-dialog")).not_to_have_attribute("open", "")
                console.open_settings()
                failures.extend(f"{where}, settings: {v}" for v in axe_violations(page.main_frame))
                page.click("#settings-cancel")
                expect(page.locator("#settings-dialog")).not_to_have_attribute("open", "")

    each_language_and_theme("login")
    console.choose_language("en")
    console.log_in()
    visitor = PyVisitor(porch_server.url, name="Rana")
    try:
        conversation = visitor.say("مرحبا، أحتاج إلى مساعدة")
        console.open_conversation(conversation)
        message = console.message_with_text("مرحبا")
        expect(message).to_be_visible()
        # A visitor writing Arabic is shown in its own direction in the English console.
        assert message.locator(".message-text").evaluate(
            "el => getComputedStyle(el).direction") == "rtl"
        each_language_and_theme("conversation", dialogs=True)
    finally:
        visitor.close()
    assert not failures, "\n".join(failures)


# --- keyboard only -----------------------------------------------------------------------------


#: The focused element shows it: a focus ring (outline of 2 px or more, or a box-shadow ring).
FOCUS_VISIBLE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return el.matches(":focus-visible") && ((style.outlineStyle !== "none" &&
    parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== "none");
}"""


def press_until_focused(page: Page, frame: Frame, element_id: str, key: str = "Tab") -> None:
    """Press ``key`` until ``element_id`` in ``frame`` has the real focus (at most 12 times);
    every control passed on the way must show that it has the focus."""
    for _ in range(12):
        page.keyboard.press(key)
        if frame.evaluate("document.hasFocus()"):
            focused = frame.evaluate("document.activeElement.id || document.activeElement.tagName")
            assert frame.evaluate(FOCUS_VISIBLE), f"no visible focus on {focused}"
        if has_real_focus(frame, element_id):
            return
    raise AssertionError(f"#{element_id} was not reached with {key}")


def test_keyboard_only_visitor_does_everything_a_mouse_can(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient,
    app_settings: ChangeSettings,
) -> None:
    """Open, pre-chat, send, attach, end, rate and close, with Tab, Enter and Escape only."""
    page = recorded_page
    app_settings(prechat_fields=(FormField(name="name", label="Your name", required=True),))
    # Playwright intercepts file choosers only once a listener exists, asynchronously: listening
    # from the start, a chooser opened by a key press (no actionability wait) is never missed.
    page.on("filechooser", lambda chooser: None)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    launcher = tab_to_launcher(page)
    page.keyboard.press("Enter")
    panel = frame(page, PANEL)
    visitor = VisitorPanel(page)
    expect(visitor.prechat.get_by_label("Your name")).to_be_focused(timeout=60_000)
    page.keyboard.type("Kay Board")
    press_until_focused(page, panel, "prechat-submit")
    page.keyboard.press("Enter")
    expect(visitor.composer).to_be_focused()
    page.keyboard.type("Sent with Enter")
    page.keyboard.press("Enter")
    visitor.wait_until_sent("Sent with Enter")

    press_until_focused(page, panel, "attach")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files({"name": "shot.png", "mimeType": "image/png", "buffer": tiny_png()})
    uploaded = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.file is not None)
    assert uploaded.message.file.name == "shot.png"
    expect(visitor.composer).to_be_focused()

    press_until_focused(page, panel, "end-chat", "Shift+Tab")
    page.keyboard.press("Enter")
    expect(visitor.locator("#end-confirm-no")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(visitor.locator("#end-confirm-yes")).to_be_focused()
    page.keyboard.press("Enter")
    expect(visitor.locator("#rate-like")).to_be_focused()
    page.keyboard.press("Enter")
    expect(visitor.locator("#rate-like")).to_have_attribute("aria-pressed", "true")
    press_until_focused(page, panel, "rating-submit")
    page.keyboard.press("Enter")
    expect(visitor.locator("#rating-thanks")).to_be_focused()
    rated = agent.wait_for(lambda f: getattr(getattr(f, "conversation", None), "rating", None))
    assert rated.conversation.rating == 1

    page.keyboard.press("Escape")
    expect(page.locator(PANEL)).to_be_hidden()
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus() && f.contentDocument.activeElement.id === 'launcher'",
        arg=page.query_selector(LAUNCHER))
    assert has_real_focus(launcher, "launcher")


def test_on_a_phone_the_open_panel_keeps_the_focus_and_gives_it_back(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    launcher = tab_to_launcher(page)
    page.keyboard.press("Enter")
    panel = frame(page, PANEL)
    dialog = page.frame_locator(PANEL).get_by_role("dialog")
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(page.frame_locator(PANEL).locator("#composer-text")).to_be_focused()
    # Tab from the last control comes back to the first, Shift+Tab from the first to the last:
    # the page behind the full-screen panel is never reached.
    press_until_focused(page, panel, "composer-send")
    page.keyboard.press("Tab")
    assert has_real_focus(panel, "minimize")
    page.keyboard.press("Shift+Tab")
    assert has_real_focus(panel, "composer-send")
    for _ in range(6):
        page.keyboard.press("Tab")
        assert panel.evaluate("document.hasFocus()"), "the focus left the open panel"
    page.keyboard.press("Escape")
    page.wait_for_function(
        "(f) => f.contentDocument.hasFocus() && f.contentDocument.activeElement.id === 'launcher'",
        arg=page.query_selector(LAUNCHER))
    assert has_real_focus(launcher, "launcher")

    # On a desktop the panel is not modal: Tab from its last control goes on to the page.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("Enter")
    expect(dialog).to_have_attribute("aria-modal", "false")
    expect(page.frame_locator(PANEL).locator("#composer-text")).to_be_focused()
    press_until_focused(page, panel, "composer-send")
    page.keyboard.press("Tab")
    assert not panel.evaluate("document.hasFocus()")


# --- what a screen reader hears -----------------------------------------------------------------


def test_a_new_message_is_announced_once_and_not_on_reconnect_or_history_load(
    recorded_page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page = recorded_page
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Will I hear the answer?")
    conversation = first.message.conversation_id
    announcer = panel.locator("#announcer")
    expect(announcer).to_be_empty()  # the visitor's own words are not read back
    agent.send(SendMessage(client_id="live-1", text="Yes, once.", conversation_id=conversation))
    reply = panel.wait_for_message("Yes, once.", author="agent")
    author = reply.locator(".message-meta").inner_text()
    expect(announcer).to_have_text(f"{author}: Yes, once.")
    send_from_panel(page, "Thanks")
    panel.wait_until_sent("Thanks")
    expect(announcer).to_have_text(f"{author}: Yes, once.")

    # A reconnect brings the conversation again: nothing is said.
    announcer.evaluate("el => { el.textContent = ''; }")
    porch_server.restart()
    wait_for_event(page, "session_connected", count=2, timeout=90_000)
    wait_for_status(page, "connected")
    expect(panel.message("Yes, once.", "agent")).to_have_count(1)
    expect(announcer).to_be_empty()
    agent_after = AgentClient(porch_server)
    try:
        agent_after.send(SendMessage(client_id="live-2", text="Still here.",
                                     conversation_id=conversation))
        expect(announcer).to_have_text(f"{author}: Still here.")
    finally:
        agent_after.close()

    # A reload loads the history into the log: nothing is said either.
    page.reload()
    VisitorPanel(page).open()
    expect(panel.message("Still here.", "agent")).to_be_visible()
    expect(announcer).to_be_empty()


# --- emulated media: forced colours and zoom -----------------------------------------------------


def test_forced_colors_keep_every_control_and_bubble_visible(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    button = page.frame_locator(LAUNCHER).locator("#launcher")
    expect(button).to_be_visible()
    assert button.evaluate("el => getComputedStyle(el).borderTopStyle") == "none"
    page.emulate_media(forced_colors="active")
    assert button.evaluate("el => getComputedStyle(el).borderTopWidth") == "2px"
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    panel = page.frame_locator(PANEL)
    send_from_panel(page, "high contrast")
    shapes = [
        panel.locator('.message[data-author="visitor"] .message-text'),
        panel.locator("#composer-send"),
        panel.locator("#minimize"),
    ]
    for shape in shapes:
        assert shape.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid", shape
    panel.locator("#minimize").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert panel.locator("#minimize").evaluate(
        "el => el.matches(':focus-visible') && getComputedStyle(el).outlineStyle") == "solid"


def test_at_200_and_400_percent_zoom_the_panel_fits_and_works(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    """Zoom is a smaller viewport in CSS pixels: 1280x720 at 200 % is 640x360, 1280x1024 at
    400 % is 320x256 (WCAG 1.4.10, reflow)."""
    page = recorded_page
    hold_runtime(page)
    page.goto(f"{porch_server.url}/demo/")
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    wait_for_event(page, "bridge_ready")
    panel = page.frame_locator(PANEL)
    for width, height in [(640, 360), (320, 256)]:
        page.set_viewport_size({"width": width, "height": height})
        # The panel is laid out again on the viewport's resize event: wait for that, then look.
        page.wait_for_function(
            """([w, h]) => {
              const r = document.querySelector("iframe[data-twt-widget-surface=panel]")
                .getBoundingClientRect();
              return r.left >= 0 && r.top >= 0 && r.right <= w && r.bottom <= h;
            }""",
            arg=[width, height],
        )
        for control in ["#minimize", "#composer-text", "#composer-send"]:
            expect(panel.locator(control)).to_be_in_viewport()
        assert panel.locator("html").evaluate(
            "el => el.scrollWidth <= el.clientWidth"), f"sideways scrolling at {width}px"
        panel.locator("#composer-text").fill(f"zoomed to {width}")
        panel.locator("#composer-text").press("Enter")
        expect(panel.locator(".message-text", has_text=f"zoomed to {width}")).to_be_visible()
