"""tawk.to's official wrappers from npm (issue 11), driving Porch in real Chromium: every method
each wrapper exposes and every callback it maps.

The wrappers are the published packages, pinned in package.json's devDependencies
(@tawk.to/tawk-messenger-react 2.0.2 with React 18, @tawk.to/tawk-messenger-vue-3 1.0.3 with
Vue 3), in two small apps (tests/e2e/wrappers/) that esbuild bundles once per session. The apps
are a customer's pages on the session's host site (127.0.0.1, one of the demo app's allowed
domains). A wrapper loads ``https://embed.<basePath>/<propertyId>/<widgetId>``, so a second
``porch demo`` serves HTTPS (``--ssl-certfile``) with a self-signed certificate for
``embed.porch.test``, which Chromium maps to the loopback and accepts (conftest's launch
arguments); ``basePath`` is ``porch.test:<port>``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import (
    EMBED_HOST,
    LAUNCHER,
    PANEL,
    ROOT,
    AgentClient,
    PorchServer,
    send_from_panel,
)
from host_pages import CONSOLE_RECORDER, Host, HostSite
from panel import Upload, VisitorPanel
from porch_protocol import (
    ChangeTags,
    FormField,
    LeaveConversation,
    MessageAck,
    NewMessage,
    SendMessage,
    SetPresence,
    UpdateApp,
)
from widget_support import request, tiny_png

PROPERTY_ID = "64f0d3e3c0ffee0000000001"
WIDGET_ID = "default"
WRAPPERS = ["react", "vue3"]
SOURCES = ROOT / "tests" / "e2e" / "wrappers"
#: Every callback both wrappers map (React's callback props, the Vue plugin's registrars).
CALLBACKS = {
    "onLoad", "onBeforeLoad", "onStatusChange", "onChatMaximized", "onChatMinimized",
    "onChatHidden", "onChatStarted", "onChatEnded", "onPrechatSubmit", "onOfflineSubmit",
    "onChatMessageVisitor", "onChatMessageAgent", "onChatMessageSystem", "onAgentJoinChat",
    "onAgentLeaveChat", "onChatSatisfaction", "onVisitorNameChanged", "onFileUpload",
    "onTagsUpdated", "onUnreadCountChanged",
}  # fmt: skip
#: Every method each wrapper exposes; the tests below call each one.
METHODS = {
    "maximize", "minimize", "toggle", "popup", "showWidget", "hideWidget", "toggleVisibility",
    "endChat", "getWindowType", "getStatus", "isChatMaximized", "isChatMinimized",
    "isChatHidden", "isChatOngoing", "isVisitorEngaged", "onLoaded", "onBeforeLoaded",
    "widgetPosition", "visitor", "setAttributes", "addEvent", "addTags", "removeTags",
}  # fmt: skip
EXPOSED = {
    "react": METHODS | CALLBACKS,
    "vue3": METHODS | CALLBACKS | {"start", "shutdown", "switchWidget"},
}


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PorchServer]:
    """``porch demo`` over HTTPS with a self-signed certificate for embed.porch.test."""
    workdir = tmp_path_factory.mktemp("porch-tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={EMBED_HOST}",
         "-addext", f"subjectAltName=DNS:{EMBED_HOST},IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = PorchServer(workdir, tls=(cert, key))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bundles(host_site: HostSite) -> Path:
    """The two apps, bundled by esbuild into the host site's ``wrappers/``."""
    out = host_site.directory / "wrappers"
    subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "esbuild"),
         str(SOURCES / "react-app.jsx"), str(SOURCES / "vue3-app.js"),
         "--bundle", f"--outdir={out}", "--jsx=automatic", "--log-level=warning",
         '--define:process.env.NODE_ENV="production"', "--define:__VUE_OPTIONS_API__=false",
         "--define:__VUE_PROD_DEVTOOLS__=false",
         "--define:__VUE_PROD_HYDRATION_MISMATCH_DETAILS__=false"],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    return out


class WrapperPage:
    """A customer's page with one wrapper's app; ``window.__messenger`` is what the wrapper
    exposes (the React ref's handle, the Vue plugin's injected functions) and
    ``window.__wrapper`` what its callbacks got."""

    def __init__(self, page: Page, server: PorchServer, wrapper: str) -> None:
        self.page = page
        self.server = server
        self.wrapper = wrapper
        self.base_path = f"porch.test:{server.port}"
        self.embed_url = f"https://{EMBED_HOST}:{server.port}/{PROPERTY_ID}/{WIDGET_ID}"
        page.add_init_script(CONSOLE_RECORDER)

    def open(self, **config: Any) -> None:
        config = {
            "propertyId": PROPERTY_ID,
            "widgetId": WIDGET_ID,
            "basePath": self.base_path,
            "customStyle": {"visibility": {"desktop": {"position": "bl"}}},
            **config,
        }
        html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script>window.__wrapperConfig = {json.dumps(config)};</script></head>
<body><div id="root"></div><script src="wrappers/{self.wrapper}-app.js"></script></body></html>"""
        self.page.goto(Host.site.serve(f"wrapper-{self.wrapper}-{secrets.token_hex(4)}.html", html))

    def recorded(self, name: str | None = None) -> list[Any]:
        calls: list[Any] = self.page.evaluate("window.__wrapper")
        return [arg for callback, arg in calls if callback == name] if name else calls

    def wait_for(self, name: str, count: int = 1, timeout: float = 30_000) -> Any:
        self.page.wait_for_function(
            "([n, c]) => window.__wrapper.filter(([e]) => e === n).length >= c",
            arg=[name, count],
            timeout=timeout,
        )
        return self.recorded(name)[count - 1]

    def call(self, method: str, *args: Any) -> Any:
        """``method`` of the wrapper, with ``args``; what it returned."""
        return self.page.evaluate(
            "([m, args]) => window.__messenger[m](...args)", [method, list(args)]
        )

    def callback(self, method: str, *args: Any) -> Any:
        """``method`` of the wrapper with ``args`` and a callback last; what the callback got
        (None for nothing, as tawk's callbacks get on success)."""
        return self.page.evaluate(
            """([m, args]) => new Promise((resolve) =>
                 window.__messenger[m](...args, (e) => resolve(e ?? null)))""",
            [method, list(args)],
        )


@pytest.fixture(params=WRAPPERS)
def wrapper(
    request: pytest.FixtureRequest, page: Page, tls_server: PorchServer, bundles: Path
) -> WrapperPage:
    return WrapperPage(page, tls_server, request.param)


def no_runtime(page: Page) -> None:
    """Tests of the widget's visibility need the panel, not Python."""
    page.route("**/vendor/pyodide/**", lambda route: None)


# --- loading ------------------------------------------------------------------------------------


def test_the_wrapper_loads_porch_from_the_embed_host(wrapper: WrapperPage) -> None:
    wrapper.open()
    wrapper.wait_for("onLoad")
    # The pinned version exposes what these tests cover: a new method fails here first.
    assert set(wrapper.page.evaluate("window.__exposed")) == EXPOSED[wrapper.wrapper]
    calls = wrapper.recorded()
    status = calls[1][1]
    assert calls[:3] == [["onBeforeLoad", None], ["onStatusChange", status], ["onLoad", None]]
    assert status in ("online", "away", "offline")
    assert wrapper.call("getStatus") == status
    script = wrapper.page.evaluate(
        "(u) => [...document.scripts].filter((s) => s.src === u).length", wrapper.embed_url
    )
    assert script == 1  # the wrapper's own tag, https://embed.porch.test:<port>/<pid>/<wid>
    # onLoaded/onBeforeLoaded hand back Tawk_API's member (the wrappers do not call it).
    assert wrapper.page.evaluate("!!window.__messenger.onLoaded()") is True
    assert wrapper.page.evaluate("!!window.__messenger.onBeforeLoaded()") is True
    assert wrapper.page.evaluate("Tawk_API.onLoaded() === true && Tawk_API.onBeforeLoaded()")
    assert wrapper.call("getWindowType") == "inline"
    assert wrapper.call("widgetPosition") == "bl"  # the wrapper's customStyle reached Porch
    launcher = wrapper.page.locator(LAUNCHER)
    expect(launcher).to_be_visible()
    assert launcher.evaluate("(f) => [f.style.left, f.src.split('/')[2]]") == [
        "16px",
        f"{EMBED_HOST}:{wrapper.server.port}",
    ]
    assert wrapper.call("isChatMinimized") is True
    assert wrapper.call("isChatOngoing") is False
    assert wrapper.call("isVisitorEngaged") is False
    assert wrapper.page.evaluate("window.__porchConsole") == []


# --- visibility ---------------------------------------------------------------------------------


def test_visibility_methods_and_their_callbacks(wrapper: WrapperPage) -> None:
    no_runtime(wrapper.page)
    wrapper.open()
    wrapper.wait_for("onLoad")
    states = {
        "maximized": ("onChatMaximized", "isChatMaximized"),
        "minimized": ("onChatMinimized", "isChatMinimized"),
        "hidden": ("onChatHidden", "isChatHidden"),
    }
    steps = [
        ("maximize", "maximized"),
        ("minimize", "minimized"),
        ("toggle", "maximized"),
        ("toggle", "minimized"),
        ("hideWidget", "hidden"),
        ("showWidget", "minimized"),
        ("toggleVisibility", "hidden"),
        ("toggleVisibility", "minimized"),
    ]
    seen: list[str] = []
    for method, state in steps:
        before = len(wrapper.recorded())
        assert wrapper.call(method) is None
        callback, getter = states[state]
        seen.append(callback)
        wrapper.wait_for(callback, count=seen.count(callback))
        assert [name for name, _ in wrapper.recorded()[before:]] == [callback], method
        for other, other_getter in states.values():
            assert wrapper.call(other_getter) is (other_getter == getter), (method, other)
        if state == "maximized":
            expect(wrapper.page.locator(PANEL)).to_be_visible()
        if state == "hidden":
            expect(wrapper.page.locator(LAUNCHER)).to_be_hidden()
        else:
            expect(wrapper.page.locator(LAUNCHER)).to_be_visible()


# --- visitor data -------------------------------------------------------------------------------


def _visitor_by_email(server: PorchServer, email: str) -> dict[str, Any]:
    with sqlite3.connect(server.workdir / "porch.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM visitors WHERE email = ?", (email,)).fetchone()
    assert row is not None, f"no visitor {email!r}"
    return dict(row)


def test_visitor_data_methods_answer_their_callbacks(wrapper: WrapperPage) -> None:
    """visitor() before the script runs, then setAttributes, addEvent (with and without
    metadata: the wrappers always pass three arguments), addTags and removeTags: nothing on
    success, tawk's error code on failure; what succeeded is on the server."""
    email = f"w{secrets.token_hex(3)}@example.test"
    wrapper.open(visitor={"name": "Wrapped Visitor", "email": email})
    wrapper.wait_for("onLoad")
    assert wrapper.callback("setAttributes", {"id": "A1234", "store": "Midvalley"}) is None
    assert wrapper.callback("addEvent", "requested-quotation") is None
    metadata = {"sku": "A0012", "name": "Jeans", "price": "50"}
    assert wrapper.callback("addEvent", "product-add-to-cart", metadata) is None
    assert wrapper.callback("addTags", ["hello", "world"]) is None
    assert wrapper.callback("removeTags", ["hello"]) is None

    assert wrapper.callback("setAttributes", {"bad key": "x"}) == "CONTAINS_INVALID_KEY"
    assert wrapper.callback("addEvent", "bad name") == "INVALID_EVENT_NAME"
    assert wrapper.callback("addEvent", "bad name", {"a": "b"}) == "INVALID_EVENT_NAME"
    eleven = [f"t{i}" for i in range(11)]
    assert wrapper.callback("addTags", eleven) == "TAG_LIMIT_EXCEEDED"
    assert wrapper.callback("addTags", "hello") == "INVALID_TAGS"
    assert wrapper.callback("removeTags", "hello") == "INVALID_TAGS"
    unsigned = {"name": "Name", "email": "x@example.test"}
    assert wrapper.callback("setAttributes", unsigned) == "INVALID_ATTRIBUTES"

    stored = _visitor_by_email(wrapper.server, email)
    assert stored["name"] == "Wrapped Visitor" and not stored["email_verified"]
    assert json.loads(stored["attributes"]) == {"id": "A1234", "store": "Midvalley"}
    assert json.loads(stored["tags"]) == ["world"]
    assert wrapper.call("isChatMinimized") is True  # nothing was shown to the visitor
    assert wrapper.page.evaluate("window.__porchConsole") == []


# --- a chat with an agent -----------------------------------------------------------------------


@pytest.fixture
def tls_agent(tls_server: PorchServer) -> Iterator[AgentClient]:
    client = AgentClient(tls_server)
    yield client
    client.close()


def test_a_chat_with_an_agent_reaches_every_chat_callback(
    tls_agent: AgentClient, wrapper: WrapperPage
) -> None:
    agent = tls_agent
    wrapper.open()
    wrapper.wait_for("onLoad")
    assert wrapper.call("getStatus") == "online"
    wrapper.call("maximize")
    send_from_panel(wrapper.page, "Is the blue one in stock?")
    sent = agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.author == "visitor")
    conversation_id = sent.message.conversation_id
    wrapper.wait_for("onChatMessageVisitor")
    wrapper.call("minimize")
    agent.send(SendMessage(client_id="a-1", text="Yes, two left.", conversation_id=conversation_id))
    agent.wait_for(lambda f: isinstance(f, MessageAck))
    wrapper.wait_for("onChatMessageAgent")
    wrapper.wait_for("onUnreadCountChanged")
    assert wrapper.call("isChatOngoing") is True
    assert wrapper.call("isVisitorEngaged") is True
    agent.send(ChangeTags(request_id="t-1", add=("vip",), conversation_id=conversation_id))
    wrapper.wait_for("onTagsUpdated")
    agent.send(LeaveConversation(conversation_id=conversation_id))
    wrapper.wait_for("onAgentLeaveChat")
    assert wrapper.call("endChat") is None
    wrapper.wait_for("onChatEnded")
    assert wrapper.call("isChatOngoing") is False

    name, agent_id = agent.welcome.agent_name, agent.welcome.agent_id
    calls = [c for c in wrapper.recorded() if c[0] not in ("onBeforeLoad", "onLoad")]
    assert calls == [
        ["onStatusChange", "online"],
        ["onChatMaximized", None],
        ["onChatStarted", None],
        ["onChatMessageVisitor", "Is the blue one in stock?"],
        ["onChatMinimized", None],
        ["onChatMessageSystem", f"{name} joined the chat"],
        ["onAgentJoinChat", {"name": name, "position": "", "image": "", "id": agent_id}],
        ["onChatMessageAgent", "Yes, two left."],
        ["onUnreadCountChanged", 1],
        ["onTagsUpdated", {"tags": ["vip"]}],
        ["onChatMessageSystem", f"{name} left the chat"],
        ["onAgentLeaveChat", {"name": name, "id": agent_id}],
        ["onChatMessageSystem", "The chat ended"],
        ["onChatEnded", None],
    ]


def test_forms_files_and_rating_reach_their_callbacks(
    tls_agent: AgentClient, wrapper: WrapperPage
) -> None:
    """The pre-chat form, a file, the rating after the chat, then the agent going offline and
    the offline form: onPrechatSubmit, onFileUpload, onChatSatisfaction, onStatusChange,
    onOfflineSubmit with the payloads docs/migrating-from-tawk.md gives."""
    agent = tls_agent
    original = agent.welcome.app
    assert original is not None
    topic = FormField(name="topic", label="Topic", required=True)
    request(agent, UpdateApp(request_id="w-1", app=replace(original, prechat_fields=(topic,))))
    try:
        wrapper.open()
        wrapper.wait_for("onLoad")
        panel = VisitorPanel(wrapper.page)
        wrapper.call("maximize")
        panel.fill_prechat({"topic": "Jeans"})
        assert wrapper.wait_for("onPrechatSubmit") == [{"label": "Topic", "answer": "Jeans"}]
        panel.send("Do you have them in blue?")
        sent = agent.wait_for(
            lambda f: isinstance(f, NewMessage) and f.message.author == "visitor"
        )
        panel.attach_file(Upload("receipt.png", "image/png", tiny_png()))
        url = wrapper.wait_for("onFileUpload")
        embed_origin = f"https://{EMBED_HOST}:{wrapper.server.port}"
        assert url.startswith(f"{embed_origin}/files/")
        stored = httpx.get(url.replace(embed_origin, wrapper.server.url), verify=False)
        assert stored.content == tiny_png()
        wrapper.call("endChat")
        wrapper.wait_for("onChatEnded")
        panel.rate(1)
        assert wrapper.wait_for("onChatSatisfaction") == 1

        agent.send(SetPresence(status="offline"))
        assert wrapper.wait_for("onStatusChange", count=2) == "offline"
        assert wrapper.call("getStatus") == "offline"
        panel.submit_offline_form(
            "Ada Offline", "ada@example.test", "Call me back", questions={"topic": "Shoes"}
        )
        assert wrapper.wait_for("onOfflineSubmit") == {
            "name": "Ada Offline",
            "email": "ada@example.test",
            "message": "Call me back",
            "questions": [{"label": "Topic", "answer": "Shoes"}],
        }
        assert sent.message.text == "Do you have them in blue?"
    finally:
        agent.send(SetPresence(status="online"))
        request(agent, UpdateApp(request_id="w-2", app=original))


# --- popup, and what only the Vue 3 plugin exposes ----------------------------------------------


def test_popup_opens_the_chat_in_a_window_on_the_embed_host(wrapper: WrapperPage) -> None:
    no_runtime(wrapper.page)
    wrapper.open()
    wrapper.wait_for("onLoad")
    with wrapper.page.context.expect_page() as opened:
        wrapper.call("popup")
    window = opened.value
    window.wait_for_load_state()
    assert window.url.startswith(f"https://{EMBED_HOST}:{wrapper.server.port}/widget/panel.html")
    assert "popup=1" in window.url
    assert wrapper.call("isChatMinimized") is True


@pytest.mark.parametrize("wrapper", ["vue3"], indirect=True)
def test_vue3_shutdown_start_and_switch_widget(wrapper: WrapperPage) -> None:
    no_runtime(wrapper.page)
    wrapper.open()
    wrapper.wait_for("onLoad")
    assert wrapper.call("shutdown") is None
    expect(wrapper.page.locator(PANEL)).to_have_count(0)
    assert wrapper.call("start") is None
    wrapper.call("maximize")
    expect(wrapper.page.locator(PANEL)).to_be_visible()
    wrapper.call("minimize")
    same = {"propertyId": PROPERTY_ID, "widgetId": WIDGET_ID}
    assert wrapper.callback("switchWidget", same) is None
    wrapper.wait_for("onLoad", count=2)
    expect(wrapper.page.locator(LAUNCHER)).to_have_count(1)
    unknown = {"propertyId": PROPERTY_ID, "widgetId": "nosuchwidget"}
    assert wrapper.callback("switchWidget", unknown) == "INVALID_BOOTSTRAP"
