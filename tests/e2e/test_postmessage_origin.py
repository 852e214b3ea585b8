"""postMessage from a page on another origin (issue 12), in real Chromium: an attacker's page
frames each widget page, opens the panel as a pop-up (Tawk_API.popup's window), or opens the
customer's page, and posts every bridge message type it knows to every window it can reach.
Nothing is acted on, and nothing reaches the attacker.

The customer's page is on http://127.0.0.1 (the demo app's allowed domain), Porch on
http://localhost, and the attacker on http://embed.porch.test (Chromium resolves it to the
loopback; the demo app does not allow it), each on its own port.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Browser, Page

from conftest import EMBED_HOST, EVENT_RECORDER, ROOT, PorchServer, events
from host_pages import CONSOLE_RECORDER, Host, HostSite, host_page, porch_origin

#: Every message type of the bridge, both ways (loader/bridge.js), with the fields an honest
#: sender would add: what an attacker would try.
BRIDGE = [
    {"type": "launcher.state", "state": {"visibility": "maximized", "unread": 99}},
    {"type": "launcher.focus"},
    {"type": "host.state", "state": {"visibility": "maximized"}},
    {"type": "host.boot", "ticket": "forged", "identity": {"bs": "b", "bs_mm": "m"}},
    {"type": "host.command", "id": 1, "name": "maximize", "args": []},
    {"type": "host.command", "id": 2, "name": "sendMessage", "args": ["from the attacker"]},
    {"type": "launcher.ready"},
    {"type": "launcher.intent"},
    {"type": "launcher.toggle"},
    {"type": "launcher.pointer"},
    {"type": "launcher.rest"},
    {"type": "host.preboot"},
    {"type": "host.release"},
    {"type": "panel.ready"},
    {"type": "panel.interaction"},
    {"type": "panel.minimize"},
    {"type": "runtime.event", "name": "visitor_auth_ready", "payload": {"visitorUid": "evil"}},
    {"type": "runtime.result", "id": 1, "ok": True},
]
#: In every frame of the test's contexts: notes the attacker's last message, the probe. Messages
#: from one window to another are delivered in order, so once it is seen, the rest were handled.
PROBE = (
    "addEventListener('message', (e) => {"
    " if (e.data && e.data.probe === true) window.__probeSeen = true; });"
)
PROBE_SEEN = "() => window.__probeSeen === true"

#: The attacker's page: records every message it receives and offers a way to post everywhere.
ATTACKER = """<!doctype html><html><head><meta charset="utf-8"><title>attacker</title><script>
window.received = [];
addEventListener("message", (e) => received.push({origin: e.origin, data: e.data}));
window.spray = (target, messages) => {
  const windows = [target];
  try { for (let i = 0; i < target.frames.length; i++) windows.push(target.frames[i]); }
  catch (err) {}
  for (const w of windows) {
    for (const m of messages) w.postMessage(Object.assign({v: 1}, m), "*");
    w.postMessage({probe: true}, "*");  // after the others: seen means they were handled
  }
  return windows.length;
};
</script></head><body><h1>attacker</h1>%s</body></html>"""


def test_every_bridge_message_type_is_tried() -> None:
    source = (ROOT / "loader" / "bridge.js").read_text(encoding="utf-8")
    declared = set()
    for name in ("HOST_TO_LAUNCHER", "HOST_TO_PANEL", "LAUNCHER_TO_HOST", "PANEL_TO_HOST"):
        match = re.search(name + r" = \[([^\]]*)\]", source)
        assert match, name
        declared |= set(re.findall(r'"([^"]+)"', match.group(1)))
    assert declared == {m["type"] for m in BRIDGE}


def _attacker_url(site: HostSite, name: str, body: str = "") -> str:
    site.serve(name, ATTACKER % body)
    return f"http://{EMBED_HOST}:{site.port}/{name}"


def _no_secrets(received: list[dict[str, Any]]) -> None:
    text = json.dumps(received)
    for secret in ("bs_mm", "ticket", "upload_token", "token", "visitor_uid", "visitorUid"):
        assert secret not in text, received


def _frames_of(page: Page, server: PorchServer) -> list[str]:
    return [f.url for f in page.frames if f.url.startswith(porch_origin(server))]


def test_another_site_cannot_frame_a_widget_page(
    porch_server: PorchServer, browser: Browser, host_site: HostSite
) -> None:
    porch = porch_origin(server=porch_server)
    legit = host_site.url
    frames = "".join(
        f'<iframe src="{porch}/widget/{page}.html?appid=porch-demo&host={host}"></iframe>'
        for page in ("launcher", "panel")
        for host in (legit, f"http://{EMBED_HOST}:{host_site.port}")
    )
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(_attacker_url(host_site, "evil-frames.html", frames))
    page.wait_for_function("() => document.querySelectorAll('iframe').length === 4")
    page.wait_for_load_state("load")
    # Chromium refused all four (frame-ancestors lists only the app's domains)...
    assert len(blocked) == 4, blocked
    # ...so no widget page runs there, and none spoke to the attacker.
    for frame in page.frames[1:]:
        assert frame.url.startswith("chrome-error://"), frame.url
    page.evaluate("(m) => spray(window, m)", BRIDGE)
    assert page.evaluate("received.filter(r => r.origin !== location.origin)") == []
    context.close()


def test_a_panel_opened_by_another_site_acts_on_nothing_and_tells_it_nothing(
    porch_server: PorchServer, browser: Browser, host_site: HostSite
) -> None:
    """Tawk_API.popup's window is a top-level page, so no frame-ancestors protects it: the
    bridge's origin check does. The attacker opens it claiming to be the customer's page, and
    claiming to be itself."""
    porch = porch_origin(porch_server)
    context = browser.new_context()
    page = context.new_page()
    context.add_init_script(PROBE)
    page.goto(_attacker_url(host_site, "evil-popup.html"))
    attacker_origin = page.evaluate("location.origin")
    for claimed in (host_site.url, attacker_origin):
        url = f"{porch}/widget/panel.html?appid=porch-demo&popup=1&host={claimed}"
        with context.expect_page() as opened:
            page.evaluate(
                "(u) => { window.popupWindow = window.open(u, 'x' + Math.random()); }", url
            )
        popup = opened.value
        popup.wait_for_load_state("load")
        page.evaluate("(m) => spray(popupWindow, m)", BRIDGE)
        popup.wait_for_function(PROBE_SEEN)
        received = page.evaluate("received.filter(r => r.origin !== location.origin)")
        if claimed == host_site.url:
            # Messages from the attacker are not from the claimed host: all dropped. What the
            # panel sends goes to the claimed origin only, which the attacker is not.
            assert received == []
            # No worker was started: no host.boot or host.command was acted on.
            assert popup.workers == []
        _no_secrets(received)
        popup.close()
    context.close()


def test_another_site_that_opens_the_customers_page_cannot_drive_its_widget(
    porch_server: PorchServer, browser: Browser, host_site: HostSite
) -> None:
    context = browser.new_context()
    context.add_init_script(EVENT_RECORDER)
    context.add_init_script(CONSOLE_RECORDER)
    context.add_init_script(PROBE)
    host = Host(context.new_page(), porch_server)  # only to serve the customer's page
    customer_url = host.serve("customer.html", host_page({"appid": "porch-demo"}))
    page = context.new_page()
    page.goto(_attacker_url(host_site, "evil-opener.html"))
    with context.expect_page() as opened:
        page.evaluate("(u) => { window.victim = window.open(u); }", customer_url)
    customer = opened.value
    customer.wait_for_function(
        "() => window.__porchEvents.some(e => e.name === 'iframe_loaded')", timeout=30_000
    )
    before = [e["name"] for e in events(customer)]
    # The panel frame too: hover the launcher so core.js loads it.
    customer.frame_locator('iframe[data-twt-widget-surface="launcher"]').locator(
        "#launcher"
    ).hover()
    customer.wait_for_function(
        "() => window.__porchEvents.filter(e => e.name === 'iframe_loaded').length >= 2"
    )
    windows = page.evaluate("(m) => spray(victim, m)", BRIDGE)
    assert windows >= 3  # the page, its launcher and its panel
    customer.wait_for_function(PROBE_SEEN)
    for frame in customer.frames[1:]:
        frame.wait_for_function(PROBE_SEEN)
    # core.js drops what is not from its own frames: nothing changed on the customer's page.
    after = [e["name"] for e in events(customer)]
    fake = [e for e in events(customer) if e["name"] in ("visibility_changed", "runtime_mounted")]
    assert fake == [] and after[: len(before)] == before
    assert "visitor_auth_ready" not in after
    visibility = customer.evaluate(
        "window.TWTChatWidget.getVisibility && window.TWTChatWidget.getVisibility()"
    )
    assert visibility in (None, "minimized")
    assert page.evaluate("received.filter(r => r.origin !== location.origin)") == []
    context.close()
