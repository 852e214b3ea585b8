"""window.Tawk_API (issue 11): tawk.to's dashboard snippet with only its URL changed, and every
example of the tawk.to JavaScript API document (shared/spec/000_11db790f63754187.txt) cut out of
the document's own text and run in real Chromium, with the page on another site than Porch.

The examples' bodies are placeholders (``// do something``), so each test runs the example as the
document writes it, then checks what the example's method did (the widget's state, the callbacks
and the window CustomEvents the official wrappers listen to, the server's records).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from conftest import LAUNCHER, PANEL, ROOT, AgentClient, PorchServer, send_from_panel
from host_pages import CONSOLE_RECORDER, Host, block_runtime, phone_device, porch_origin
from porch_protocol import EndConversation, MessageAck, NewMessage, SendMessage

#: The demo's tawk property and widget (porch demo; README).
PROPERTY_ID = "64f0d3e3c0ffee0000000001"
WIDGET_ID = "default"
SPEC_NAME = "000_11db790f63754187.txt"

#: Every callback and window event, recorded in order before anything else runs.
TAWK_RECORDER = """
(() => {
  window.__tawk = [];
  const names = %s;
  for (const name of names) {
    window.addEventListener(name, (event) => window.__tawk.push([name, event.detail ?? null]));
  }
})();
"""
WINDOW_EVENTS = [
    "tawkLoad",
    "tawkBeforeLoad",
    "tawkStatusChange",
    "tawkChatMaximized",
    "tawkChatMinimized",
    "tawkChatHidden",
    "tawkChatStarted",
    "tawkChatEnded",
    "tawkPrechatSubmit",
    "tawkOfflineSubmit",
    "tawkChatMessageVisitor",
    "tawkChatMessageAgent",
    "tawkChatMessageSystem",
    "tawkAgentJoinChat",
    "tawkAgentLeaveChat",
    "tawkChatSatisfaction",
    "tawkVisitorNameChanged",
    "tawkFileUpload",
    "tawkTagsUpdated",
    "tawkUnreadCountChanged",
]


def find_spec() -> Path:
    for base in (ROOT, *ROOT.parents):
        for candidate in (
            base / "shared" / "spec" / SPEC_NAME,
            base.parent / "shared" / "spec" / SPEC_NAME,
        ):
            if candidate.is_file():
                return candidate
    raise AssertionError(f"the tawk.to API document {SPEC_NAME} is not in ../shared/spec")


SPEC_LINES = find_spec().read_text(encoding="utf-8").splitlines()


def spec_example(method: str) -> str:
    """The document's example of ``method``: the lines after ``window.Tawk_API.<method>();`` and
    ``//Example``, through the ``};`` that closes its ``onLoad``."""
    start = SPEC_LINES.index(f"window.Tawk_API.{method}();")
    assert SPEC_LINES[start + 1] == "//Example", method
    end = SPEC_LINES.index("};", start)
    return "\n".join(SPEC_LINES[start + 2 : end + 1])


def spec_block(first_line: str, after: str | None = None) -> str:
    """A block of the document from ``first_line`` (the first after the line ``after``, if
    given) through the next ``};``."""
    start = SPEC_LINES.index(first_line, SPEC_LINES.index(after) if after else 0)
    return "\n".join(SPEC_LINES[start : SPEC_LINES.index("};", start) + 1])


def dashboard_snippet(embed_url: str, before: str = "", after: str = "") -> str:
    """tawk.to's standard dashboard snippet, as sites paste it, with only the URL changed."""
    return f"""<!--Start of Tawk.to Script-->
<script type="text/javascript">
var Tawk_API=Tawk_API||{{}}, Tawk_LoadStart=new Date();
{before}
(function(){{
var s1=document.createElement("script"),s0=document.getElementsByTagName("script")[0];
s1.async=true;
s1.src='{embed_url}';
s1.charset='UTF-8';
s1.setAttribute('crossorigin','*');
s0.parentNode.insertBefore(s1,s0);
}})();
{after}
</script>
<!--End of Tawk.to Script-->"""


class TawkPage:
    """A customer's page on 127.0.0.1 with tawk.to's snippet pointing at Porch on localhost."""

    def __init__(self, page: Page, server: PorchServer) -> None:
        self.page = page
        self.server = server
        self.embed_url = f"{porch_origin(server)}/{PROPERTY_ID}/{WIDGET_ID}"
        page.add_init_script(TAWK_RECORDER % json.dumps(WINDOW_EVENTS))
        page.add_init_script(CONSOLE_RECORDER)

    def open(self, before: str = "", after: str = "", body: str = "", name: str = "") -> None:
        html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title></head>
<body><main><h1>Shop</h1>{body}</main>
{dashboard_snippet(self.embed_url, before, after)}
</body></html>"""
        url = Host.site.serve(f"tawk-{id(self)}-{name or 'page'}.html", html)
        self.page.goto(url)

    def events(self, name: str | None = None) -> list[Any]:
        recorded = self.page.evaluate("window.__tawk")
        return [detail for event, detail in recorded if event == name] if name else recorded

    def wait_for(self, name: str, count: int = 1, timeout: float = 30_000) -> Any:
        self.page.wait_for_function(
            "([n, c]) => window.__tawk.filter(([e]) => e === n).length >= c",
            arg=[name, count],
            timeout=timeout,
        )
        return self.events(name)[count - 1]

    def call(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def callback(self, expression: str) -> Any:
        """Run ``expression`` with ``done`` in scope; returns what ``done`` got (None for
        nothing, as tawk's callbacks get on success)."""
        return self.page.evaluate(
            "() => new Promise((resolve) => { const done = (e) => resolve(e ?? null); "
            f"{expression}; }})"
        )


@pytest.fixture
def tawk(page: Page, porch_server: PorchServer) -> TawkPage:
    return TawkPage(page, porch_server)


def visibility(tawk: TawkPage) -> str:
    return str(tawk.call("TWTChatWidget.get('state').visibility"))


# --- the snippet and the lifecycle --------------------------------------------------------------


def test_the_dashboard_snippet_loads_porch_and_keeps_the_pages_object(tawk: TawkPage) -> None:
    tawk.open(
        before="window.__kept = Tawk_API; Tawk_API.onBeforeLoad = function () { "
        "window.__order = (window.__order || []).concat('before'); }; "
        "Tawk_API.onLoad = function () { window.__order = window.__order.concat('load'); };"
    )
    tawk.wait_for("tawkLoad")
    assert tawk.call("window.__order") == ["before", "load"]
    assert [e for e, _ in tawk.events()][:2] == ["tawkBeforeLoad", "tawkStatusChange"]
    assert tawk.call("window.__kept === window.Tawk_API")
    assert tawk.call("typeof Tawk_API.maximize") == "function"
    assert tawk.call("Tawk_API.onLoaded() === true && Tawk_API.onBeforeLoaded() === true")
    expect(tawk.page.locator(LAUNCHER)).to_be_visible()
    assert tawk.call("window.__porchConsole") == []


def test_running_the_script_twice_keeps_one_widget_and_one_onload(tawk: TawkPage) -> None:
    """An SPA remount injects the script again once the widget is up: the second run changes
    nothing (the same API objects, one launcher, one onLoad)."""
    again = (
        "Tawk_API.onLoad = function () { window.__loads = (window.__loads || 0) + 1; };"
        "window.addEventListener('tawkLoad', function () {"
        "  window.__first = [window.TWTChatWidget, Tawk_API.maximize];"
        "  var s = document.createElement('script');"
        "  s.onload = function () { window.__secondRan = true; };"
        f"  s.src = '{tawk.embed_url}'; document.head.appendChild(s);"
        "}, { once: true });"
    )
    tawk.open(after=again)
    tawk.page.wait_for_function("window.__secondRan === true")
    assert tawk.call(
        "window.__first[0] === window.TWTChatWidget && window.__first[1] === Tawk_API.maximize"
    )
    expect(tawk.page.locator(LAUNCHER)).to_have_count(1)
    assert tawk.call("window.__loads") == 1
    assert len(tawk.events("tawkLoad")) == 1


# --- the document's examples of each method -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("maximize", "maximized"),
        ("minimize", "minimized"),
        ("toggle", "maximized"),
        ("hideWidget", "hidden"),
        ("toggleVisibility", "hidden"),
        ("showWidget", "minimized"),
    ],
)
def test_visibility_examples(tawk: TawkPage, method: str, expected: str) -> None:
    block_runtime(tawk.page)  # the panel, not Python
    tawk.open(after=spec_example(method), name=method)
    tawk.wait_for("tawkLoad")
    tawk.page.wait_for_function("(v) => TWTChatWidget.get('state').visibility === v", arg=expected)
    event = {"maximized": "tawkChatMaximized", "hidden": "tawkChatHidden"}.get(expected)
    if event:
        tawk.wait_for(event)
    panel = tawk.page.locator(PANEL)
    if expected == "maximized":
        expect(panel).to_be_visible()
    if expected == "hidden":
        expect(tawk.page.locator(LAUNCHER)).to_be_hidden()
    assert tawk.call("Tawk_API.isChatMaximized()") is (expected == "maximized")
    assert tawk.call("Tawk_API.isChatMinimized()") is (expected == "minimized")
    assert tawk.call("Tawk_API.isChatHidden()") is (expected == "hidden")


@pytest.mark.parametrize(
    "method",
    [
        "getWindowType",
        "getStatus",
        "isChatMaximized",
        "isChatMinimized",
        "isChatHidden",
        "isChatOngoing",
        "isVisitorEngaged",
    ],
)
def test_getter_examples_run_in_onload(tawk: TawkPage, method: str) -> None:
    # The example as written (its body is a placeholder), then what the method returned then.
    probe = (
        f"window.addEventListener('tawkLoad', () => {{ window.__value = Tawk_API.{method}(); }});"
    )
    tawk.open(before=spec_example(method) + "\n" + probe, name=method)
    tawk.wait_for("tawkLoad")
    value = tawk.call("window.__value")
    assert (
        value
        == {
            "getWindowType": "inline",
            "getStatus": tawk.events("tawkStatusChange")[0],
            "isChatMaximized": False,
            "isChatMinimized": True,
            "isChatHidden": False,
            "isChatOngoing": False,
            "isVisitorEngaged": False,
        }[method]
    )
    assert tawk.call("window.__porchConsole") == []


def test_the_page_status_is_known_at_load(tawk: TawkPage) -> None:
    tawk.open()
    status = tawk.wait_for("tawkStatusChange")
    assert status in ("online", "away", "offline")
    assert tawk.call("Tawk_API.getStatus()") == status


def test_visitor_data_examples_reach_the_server(tawk: TawkPage) -> None:
    """setAttributes, addEvent (both forms), addTags and removeTags: each callback gets the
    server's verdict (nothing on success, tawk's code on failure)."""
    tawk.open()
    tawk.wait_for("tawkLoad")
    assert (
        tawk.callback("Tawk_API.setAttributes({'id': 'A1234', 'store': 'Midvalley'}, done)") is None
    )
    assert tawk.callback("Tawk_API.addEvent('requested-quotation', done)") is None
    assert (
        tawk.callback(
            "Tawk_API.addEvent('product-add-to-cart', {'sku': 'A0012', 'name': 'Jeans', "
            "'price': '50'}, done)"
        )
        is None
    )
    assert tawk.callback("Tawk_API.addTags(['hello', 'world'], done)") is None
    assert tawk.callback("Tawk_API.removeTags(['hello'], done)") is None
    assert tawk.callback("Tawk_API.setAttributes({'bad key': 'x'}, done)") == "CONTAINS_INVALID_KEY"
    assert tawk.callback("Tawk_API.addEvent('bad name', done)") == "INVALID_EVENT_NAME"
    tags = [f"t{i}" for i in range(10)]
    assert tawk.callback(f"Tawk_API.addTags({json.dumps(tags)}, done)") == "TAG_LIMIT_EXCEEDED"
    assert tawk.callback("Tawk_API.addTags('hello', done)") == "INVALID_TAGS"
    assert visibility(tawk) == "minimized"  # nothing was shown to the visitor


def test_every_method_of_the_document_exists_once_the_script_ran(tawk: TawkPage) -> None:
    methods = sorted(set(re.findall(r"Tawk_API\.([a-z][A-Za-z]+)\(", "\n".join(SPEC_LINES))))
    tawk.open()
    tawk.wait_for("tawkBeforeLoad")
    kinds = tawk.call(f"{json.dumps(methods)}.map((m) => typeof Tawk_API[m])")
    assert dict(zip(methods, kinds, strict=True)) == dict.fromkeys(methods, "function")


# --- customStyle, autoStart, embedded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "z_index", "priority"),
    [
        ("window.Tawk_API.customStyle = {\nzIndex : 1000\n};", "1000", ""),
        ("window.Tawk_API.customStyle = {\nzIndex : '1000'\n};", "1000", ""),
        ("window.Tawk_API.customStyle = {\nzIndex : '1000 !important'\n};", "1000", "important"),
    ],
    ids=["integer", "string", "important"],
)
def test_custom_style_z_index(tawk: TawkPage, block: str, z_index: str, priority: str) -> None:
    assert block in "\n".join(SPEC_LINES)
    tawk.open(before=block)
    launcher = tawk.page.locator(LAUNCHER)
    expect(launcher).to_be_visible()
    assert launcher.evaluate("(f) => f.style.getPropertyValue('z-index')") == z_index
    assert launcher.evaluate("(f) => f.style.getPropertyPriority('z-index')") == priority


def test_custom_style_positions_the_launcher(tawk: TawkPage) -> None:
    tawk.open(
        before="Tawk_API.customStyle = {visibility: {desktop: {position: 'bl', xOffset: 20, "
        "yOffset: 30}, mobile: {position: 'br', xOffset: 0, yOffset: 0}}};"
    )
    launcher = tawk.page.locator(LAUNCHER)
    expect(launcher).to_be_visible()
    assert launcher.evaluate("(f) => [f.style.left, f.style.bottom]") == ["36px", "46px"]
    assert tawk.call("Tawk_API.widgetPosition()") == "bl"


def test_custom_style_places_the_launcher_on_a_phone_and_on_a_desktop(
    browser: Browser, playwright: Playwright, porch_server: PorchServer
) -> None:
    context = browser.new_context(**phone_device(playwright, "Pixel 7"))
    try:
        page = context.new_page()
        tawk = TawkPage(page, porch_server)
        tawk.open(
            before="Tawk_API.customStyle = {visibility: {"
            "desktop: {position: 'tr', xOffset: 20, yOffset: 30},"
            "mobile: {position: 'bl', xOffset: '5px', yOffset: 7}}};"
        )
        launcher = page.locator(LAUNCHER)
        expect(launcher).to_be_visible()
        viewport = page.viewport_size
        assert viewport is not None
        box = launcher.bounding_box()
        assert box is not None
        assert box["x"] == 5 + 16
        assert box["y"] + box["height"] == viewport["height"] - (7 + 16)
        # The phone turned into a tablet in landscape (or a window widened): desktop placement.
        page.set_viewport_size({"width": 1280, "height": 800})
        page.wait_for_function(
            "() => document.querySelector('iframe[data-twt-widget-surface=launcher]')"
            ".style.top === '46px'"
        )
        box = launcher.bounding_box()
        assert box is not None
        assert (box["x"] + box["width"], box["y"]) == (1280 - (20 + 16), 30 + 16)
    finally:
        context.close()


def test_auto_start_false_then_start_with_show_widget(tawk: TawkPage) -> None:
    auto_start = next(line for line in SPEC_LINES if line.startswith("window.Tawk_API.autoStart"))
    tawk.open(before=auto_start)
    tawk.wait_for("tawkLoad")
    assert tawk.call("Tawk_API.isChatHidden()") is True
    expect(tawk.page.locator(LAUNCHER)).to_be_hidden()
    tawk.call("Tawk_API.start({ showWidget : true })")
    expect(tawk.page.locator(LAUNCHER)).to_be_visible()
    assert tawk.call("Tawk_API.isChatMinimized()") is True


def test_embedded_widget_lives_in_the_pages_element(tawk: TawkPage) -> None:
    block_runtime(tawk.page)
    tawk.open(
        before="Tawk_API.embedded = 'tawk_64f0d3e3';",
        body="<div id='tawk_64f0d3e3' style='width:360px;height:500px'></div>",
    )
    tawk.wait_for("tawkLoad")
    expect(tawk.page.locator(f"#tawk_64f0d3e3 {PANEL}")).to_be_visible()
    expect(tawk.page.locator(LAUNCHER)).to_have_count(0)
    assert tawk.call("Tawk_API.getWindowType()") == "embed"


def test_the_embed_script_is_served_with_cors(tawk: TawkPage, porch_server: PorchServer) -> None:
    response = tawk.page.request.get(tawk.embed_url, headers={"origin": "http://127.0.0.1"})
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-type"].startswith("text/javascript")
    assert "Tawk_API" in response.text()


# --- callbacks that need an agent ---------------------------------------------------------------

#: The document's callbacks, assigned before the script loads as the document shows them, each
#: recording its argument (the window events are recorded by TAWK_RECORDER).
CALLBACKS = """
["onChatStarted", "onChatEnded", "onChatMessageVisitor", "onChatMessageAgent",
 "onChatMessageSystem", "onAgentJoinChat", "onAgentLeaveChat", "onStatusChange",
 "onChatMaximized", "onTagsUpdated"].forEach(function (name) {
  window.Tawk_API[name] = function (data) {
    (window.__callbacks = window.__callbacks || []).push([name, data === undefined ? null : data]);
  };
});
"""


def test_a_chat_with_an_agent_reaches_every_callback_and_window_event(
    tawk: TawkPage, agent: AgentClient
) -> None:
    tawk.open(before=CALLBACKS)
    tawk.wait_for("tawkLoad")
    tawk.call("Tawk_API.maximize()")
    send_from_panel(tawk.page, "Is the blue one in stock?")
    sent = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    conversation_id = sent.message.conversation_id
    agent.send(SendMessage(client_id="a-1", text="Yes, two left.", conversation_id=conversation_id))
    agent.wait_for(lambda f: isinstance(f, MessageAck))
    tawk.wait_for("tawkChatMessageAgent")
    assert tawk.call("Tawk_API.isChatOngoing() && Tawk_API.isVisitorEngaged()") is True
    agent.send(EndConversation(conversation_id=conversation_id))
    tawk.wait_for("tawkChatEnded")
    name = agent.welcome.agent_name
    callbacks = tawk.call("window.__callbacks")
    assert callbacks == [
        ["onStatusChange", "online"],
        ["onChatMaximized", None],
        ["onChatStarted", None],
        ["onChatMessageVisitor", "Is the blue one in stock?"],
        ["onChatMessageSystem", f"{name} joined the chat"],
        [
            "onAgentJoinChat",
            {"name": name, "position": "", "image": "", "id": agent.welcome.agent_id},
        ],
        ["onChatMessageAgent", "Yes, two left."],
        ["onChatMessageSystem", "The chat ended"],
        ["onChatEnded", None],
    ]
    # The official wrappers' window events carry the same payloads, in the same order.
    windowed = [
        [event, detail]
        for event, detail in tawk.events()
        if event not in ("tawkBeforeLoad", "tawkLoad", "tawkChatMinimized")
    ]
    assert [[e.replace("tawk", "on", 1), d] for e, d in windowed] == callbacks
    assert tawk.call("Tawk_API.isChatOngoing()") is False


# --- login and logout ---------------------------------------------------------------------------


def _stored_visitor(server: PorchServer, external_id: str) -> dict[str, Any] | None:
    with sqlite3.connect(server.workdir / "porch.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM visitors WHERE external_id = ?", (external_id,)).fetchone()
    return dict(row) if row is not None else None


def test_login_with_the_sites_hash_then_logout(tawk: TawkPage, porch_server: PorchServer) -> None:
    """The document's login example with a hash the site's backend computed (HMAC-SHA256 of the
    userId with the API key, the demo app's secret), name as {first, last} and a custom
    attribute; then logout leaves a new, anonymous visitor; a forged hash fails."""
    user_id = f"u{secrets.token_hex(4)}"
    digest = hmac.new(b"porch-demo-secret", user_id.encode(), hashlib.sha256).hexdigest()
    tawk.open()
    tawk.wait_for("tawkLoad")
    login = {
        "hash": digest,
        "userId": user_id,
        "name": {"first": "First", "last": "Last"},
        "email": "fl@example.test",
        "store": "Midvalley",
    }
    assert tawk.callback(f"window.Tawk_API.login({json.dumps(login)}, done)") is None
    stored = _stored_visitor(porch_server, user_id)
    assert stored is not None
    assert (stored["name"], stored["email"]) == ("First Last", "fl@example.test")
    assert json.loads(stored["attributes"]) == {"store": "Midvalley"}
    key = f"twt:property:{PROPERTY_ID}:visitor"
    kept = tawk.call(f"JSON.parse(localStorage.getItem('{key}'))")
    assert kept["bs"] == stored["public_id"]

    assert tawk.callback("window.Tawk_API.logout(done)") is None
    assert tawk.call(f"localStorage.getItem('{key}')") is None
    forged = {"hash": "0" * 64, "userId": user_id}
    assert tawk.callback(f"window.Tawk_API.login({json.dumps(forged)}, done)") == "LOGIN_FAILED"


# --- a property's widgets and switchWidget ------------------------------------------------------


def test_switch_widget_applies_the_other_widgets_settings(
    tawk: TawkPage, porch_server: PorchServer
) -> None:
    """The document's switchWidget example, to a second widget of the demo property made with
    the porch CLI: the callback gets nothing once Porch knows the widget, and the widget's own
    language, position, colour and greeting show."""
    widget_id = f"w{secrets.token_hex(4)}"
    porch_server.cli(
        "property",
        "widget-add",
        "--property",
        PROPERTY_ID,
        "--widget-id",
        widget_id,
        "--language",
        "de",
        "--position",
        "tl",
        "--colour",
        "#ffcc00",
        "--greeting",
        "Moin!",
    )
    block_runtime(tawk.page)
    tawk.open()
    tawk.wait_for("tawkLoad")
    ids = f"{{ propertyId : '{PROPERTY_ID}', widgetId : '{widget_id}' }}"
    switch = f"window.Tawk_API.switchWidget({ids}, done)"
    assert tawk.callback(switch) is None
    launcher = tawk.page.locator(LAUNCHER)
    expect(launcher).to_have_count(1)
    assert launcher.evaluate("(f) => [f.style.left, f.style.top]") == ["16px", "16px"]
    button = tawk.page.frame_locator(LAUNCHER).locator("#launcher")
    expect(button).to_have_css("background-color", "rgb(255, 204, 0)")
    expect(tawk.page.frame_locator(LAUNCHER).locator("html")).to_have_attribute("lang", "de")
    tawk.call("Tawk_API.maximize()")
    greeting = tawk.page.frame_locator(PANEL).locator(".greeting .message-text")
    expect(greeting).to_have_text("Moin!")
    assert tawk.call("Tawk_API.widgetPosition()") == "tl"
    unknown = f"{{propertyId: '{PROPERTY_ID}', widgetId: 'nosuchwidget'}}"
    assert tawk.callback(f"Tawk_API.switchWidget({unknown}, done)") == "INVALID_BOOTSTRAP"


def test_secure_mode_verifies_the_visitors_email(tawk: TawkPage, porch_server: PorchServer) -> None:
    """The document's secure-mode example, its '<calculate-hash>' computed as the site's backend
    does (HMAC-SHA256 of the email with the API key): the email is stored as verified. A
    setAttributes of name and email with a wrong hash is refused."""
    block = spec_block(
        "window.Tawk_API.visitor = {",
        after="To enable secure mode, embed following code on your page.",
    )
    assert "hash : '<calculate-hash>'" in block
    email = f"v{secrets.token_hex(3)}@example.test"
    digest = hmac.new(b"porch-demo-secret", email.encode(), hashlib.sha256).hexdigest()
    block = block.replace("email@email.com", email).replace("<calculate-hash>", digest)
    tawk.open(before=block)
    tawk.wait_for("tawkLoad")
    assert tawk.callback("Tawk_API.addTags(['secure'], done)") is None  # connects the runtime
    with sqlite3.connect(porch_server.workdir / "porch.db") as db:
        row = db.execute(
            "SELECT name, email_verified FROM visitors WHERE email = ?", (email,)
        ).fetchone()
    assert row == ("Name", 1)
    wrong = "{'name': 'Name', 'email': 'x@example.test', 'hash': 'nope'}"
    assert tawk.callback(f"Tawk_API.setAttributes({wrong}, done)") == "INVALID_ATTRIBUTES"
    unsigned = "{'name': 'Name', 'email': 'x@example.test'}"
    assert tawk.callback(f"Tawk_API.setAttributes({unsigned}, done)") == "INVALID_ATTRIBUTES"


def test_popup_carries_the_chat_on_in_a_window_of_its_own(
    tawk: TawkPage, agent: AgentClient
) -> None:
    """The document's popup example: the chat opens in a window of its own (Porch's panel page,
    top-level), where the visitor chats; the page's widget stays minimized."""
    with tawk.page.context.expect_page() as opened:
        tawk.open(after=spec_example("popup"))
    window = opened.value
    window.wait_for_load_state()
    assert "/widget/panel.html" in window.url and "popup=1" in window.url
    composer = window.locator("#composer-text")
    expect(composer).to_be_visible()
    composer.fill("Written in the pop-out")
    composer.press("Enter")
    said = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    assert said.message.text == "Written in the pop-out"
    expect(window.locator('.message[data-state="sent"]')).to_have_count(1)
    assert tawk.call("Tawk_API.isChatMinimized()") is True
    with window.expect_event("close"):
        window.locator("#minimize").click()  # closes the window; the page stays as it was
    assert tawk.call("Tawk_API.isChatMinimized()") is True
