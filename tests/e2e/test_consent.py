"""Consent mode (issue 13): with ``consent: "required"`` Porch writes nothing to any storage, on
the host page or in its own frames, until the visitor first interacts with the widget or the
page calls ``consent``. Real Chromium, the host page on 127.0.0.1 and Porch on localhost.

Each test reads every storage area a page can write (localStorage, sessionStorage, IndexedDB,
Cache Storage, ``document.cookie``) in the host page and in each of Porch's frames, and the
browser's whole cookie jar, before and after. The runtime boots eagerly, so "before" covers a
visitor the server has already welcomed (an identity exists) and a worker that booted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Frame, Page
from test_tawk_api import TawkPage

from conftest import EVENT_RECORDER, LAUNCHER, PANEL, AgentClient, PorchServer, wait_for_event
from host_pages import Host

#: Every storage area of the document it runs in; "blocked" where the browser refuses access
#: (third-party frames here).
READ_STORAGE = """async () => {
  const read = async (what) => { try { return await what(); } catch (err) { return "blocked"; } };
  return {
    localStorage: await read(() => Object.keys(localStorage)),
    sessionStorage: await read(() => Object.keys(sessionStorage)),
    indexedDB: await read(async () => (await indexedDB.databases()).map((d) => d.name)),
    caches: await read(() => caches.keys()),
    cookie: await read(() => document.cookie),
  };
}"""
NOTHING = {"localStorage": [], "sessionStorage": [], "indexedDB": [], "caches": [], "cookie": ""}


def porch_frames(page: Page) -> list[Frame]:
    return [f for f in page.frames if "/widget/" in f.url]


def storage(page: Page) -> dict[str, Any]:
    """What every document of the page stores, and the context's cookie jar (every origin)."""
    frames = {
        f.url.split("?")[0].rsplit("/", 1)[-1]: f.evaluate(READ_STORAGE) for f in porch_frames(page)
    }
    return {
        "host": page.evaluate(READ_STORAGE),
        "frames": frames,
        "cookies": page.context.cookies(),
    }


def assert_nothing_stored(page: Page, site: str = "cross-site") -> None:
    seen = storage(page)
    assert seen["host"] == NOTHING, seen
    assert set(seen["frames"]) == {"launcher.html", "panel.html"}, seen
    for name, areas in seen["frames"].items():
        if site == "same-site":
            assert areas == NOTHING, (name, areas)
        else:
            # Across sites this Chromium refuses the frames storage outright (as Safari and
            # Brave do): what it does give them (document.cookie reads) is empty.
            assert all(v in (NOTHING[k], "blocked") for k, v in areas.items()), (name, areas)
    assert seen["cookies"] == [], seen


def stored_identity(page: Page, key: str) -> Any:
    return page.evaluate(f"JSON.parse(localStorage.getItem({json.dumps(key)}))")


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    return Host(page, porch_server)


#: Where the host page loads Porch from: another site (localhost; the default of every e2e
#: test), or the host's own site on another port, where Porch's frames may use storage.
SITES = ["cross-site", "same-site"]


def script(server: PorchServer, site: str) -> str:
    origin = "{porch}" if site == "cross-site" else server.url  # Host.serve fills in {porch}
    return origin + "/install/core.js?version=v1.2"


def boot_without_consent(host: Host, site: str = "cross-site") -> dict[str, Any]:
    """An eager widget in consent mode: the runtime runs and the server has named the visitor,
    and nothing is stored anywhere. Returns visitor_auth_ready's payload."""
    page = host.page
    config = {"appid": "porch-demo", "consent": "required", "loading": "eager"}
    with page.expect_console_message(lambda m: "the snapshot is not kept" in m.text):
        host.goto(config, src=script(host.server, site))
        wait_for_event(page, "runtime_activated")
    auth = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert_nothing_stored(page, site)
    return auth


@pytest.mark.parametrize("site", SITES)
def test_nothing_is_stored_until_the_visitor_clicks_the_launcher(
    host: Host, agent: AgentClient, site: str
) -> None:
    page = host.page
    auth = boot_without_consent(host, site)
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    page.wait_for_function("localStorage.length > 0")
    assert stored_identity(page, "twt:porch-demo:visitor") == {
        "bs": auth["bs"],
        "bs_mm": auth["bs_mm"],
    }
    assert storage(page)["cookies"] == []  # Porch never sets a cookie, consent or not


def test_typing_in_a_panel_the_page_opened_is_consent(host: Host, agent: AgentClient) -> None:
    """``maximize`` is the page's doing, not the visitor's: only their own input consents."""
    page = host.page
    boot_without_consent(host)
    page.evaluate("TWTChatWidget.call('maximize')")
    page.frame_locator(PANEL).locator("#composer-text").wait_for()
    assert_nothing_stored(page)
    page.frame_locator(PANEL).locator("#composer-text").press_sequentially("hi")
    page.wait_for_function("localStorage.getItem('twt:porch-demo:visitor') !== null")


def test_the_page_can_give_consent_with_call_consent(host: Host, agent: AgentClient) -> None:
    page = host.page
    auth = boot_without_consent(host)
    done = page.evaluate("""() => new Promise((resolve) =>
        TWTChatWidget.call('consent', null, (error) => resolve(error)))""")
    assert done is None
    assert stored_identity(page, "twt:porch-demo:visitor")["bs"] == auth["bs"]


def test_without_consent_mode_porch_stores_before_any_interaction(
    host: Host, agent: AgentClient
) -> None:
    """The control: the same eager page without ``consent`` stores the visitor in the host's
    storage and, on one site, the snapshot in the panel's Cache Storage, before any interaction:
    what consent mode holds back is real, and these reads see it."""
    page = host.page
    with page.expect_console_message(lambda m: "kept the snapshot for the next visit" in m.text):
        host.goto({"appid": "porch-demo", "loading": "eager"}, src=script(host.server, "same-site"))
        auth = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert stored_identity(page, "twt:porch-demo:visitor")["bs"] == auth["bs"]
    assert storage(page)["frames"]["panel.html"]["caches"] == ["porch-snapshot"]


def test_a_tawk_page_asks_for_consent_with_tawk_api_consent(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    page.add_init_script(EVENT_RECORDER)
    tawk = TawkPage(page, porch_server)
    tawk.open(before="Tawk_API.consent = 'required';")
    tawk.wait_for("tawkLoad")
    # The page opens the chat (not the visitor): the runtime boots and the server names them.
    page.evaluate("Tawk_API.maximize()")
    auth = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert_nothing_stored(page)
    page.evaluate("Tawk_API.grantConsent()")
    page.wait_for_function("localStorage.length > 0")
    (key,) = page.evaluate("Object.keys(localStorage)")
    assert stored_identity(page, key) == {"bs": auth["bs"], "bs_mm": auth["bs_mm"]}
