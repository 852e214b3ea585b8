"""Single-page apps and hostile pages (issue 13), in real Chromium, the host page on 127.0.0.1
and Porch on localhost.

- history.pushState / replaceState / back navigation keep the widget and the open conversation,
  and the agents learn the new page's URL and title (no polling: the tests await the frames);
- a page that swaps its <body> (what Turbo does) keeps the widget running; one that removes
  Porch's frames gets them back, with the conversation;
- a second copy of the snippet makes no second widget;
- a page with a strict Content-Security-Policy (no 'unsafe-inline', no 'unsafe-eval') works with
  the lines docs/host-api.md gives, and reports no violation;
- hostile global CSS (``* { all: unset }``, a full-page overlay at the highest z-index, a
  ``transform`` on a scrolled <body>) does not move, resize or cover the widget.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from conftest import LAUNCHER, PANEL, AgentClient, PorchServer, events, wait_for_event
from host_pages import Host, block_runtime, host_page
from panel import VisitorPanel
from porch_protocol import ConversationUpdated, NewMessage


@pytest.fixture
def host(page: Page, porch_server: PorchServer) -> Host:
    return Host(page, porch_server)


def chatting(host: Host, agent: AgentClient, **options: Any) -> VisitorPanel:
    """The visitor opened the chat and wrote one message the agent received."""
    host.goto({"appid": "porch-demo"}, **options)
    panel = VisitorPanel(host.page)
    panel.open()
    panel.send("hello from the first page")
    agent.wait_for(lambda f: isinstance(f, NewMessage) and f.message.text.startswith("hello"))
    panel.wait_until_sent("hello from the first page")
    return panel


def page_reported(agent: AgentClient, url: str, title: str) -> None:
    agent.wait_for(
        lambda f: (
            isinstance(f, ConversationUpdated)
            and (f.conversation.referer, f.conversation.source_title) == (url, title)
        )
    )


def test_history_navigation_keeps_the_chat_and_tells_the_agent_the_page(
    host: Host, agent: AgentClient
) -> None:
    page = host.page
    panel = chatting(host, agent)
    first = page.url
    page.evaluate("""() => {
        history.pushState({}, "", "/shop/item-2?color=red");
        document.title = "Item 2";   // routers set the title after pushState
    }""")
    page_reported(agent, host.site.url + "/shop/item-2?color=red", "Item 2")
    page.evaluate("history.replaceState({}, '', '/shop/item-2?color=blue')")
    page_reported(agent, host.site.url + "/shop/item-2?color=blue", "Item 2")
    page.evaluate("document.title = 'Porch API host'; history.back()")
    page_reported(agent, first, "Porch API host")
    # One runtime all along, the panel still open on the same conversation.
    assert len(events(page, "runtime_mounted")) == 1
    expect(page.locator(PANEL)).to_be_visible()
    expect(panel.message("hello from the first page", "visitor")).to_have_count(1)
    panel.send("still here")
    panel.wait_until_sent("still here")


def test_a_page_that_swaps_its_body_keeps_the_running_widget(
    host: Host, agent: AgentClient
) -> None:
    page = host.page
    panel = chatting(host, agent)
    # Turbo Drive's render: a new <body> replaces the old one, and the URL changes.
    page.evaluate("""() => {
        const body = document.createElement("body");
        body.innerHTML = "<main><h1>Checkout</h1></main>";
        document.body.replaceWith(body);
        history.pushState({}, "", "/checkout");
        document.title = "Checkout";
    }""")
    page_reported(agent, host.site.url + "/checkout", "Checkout")
    assert page.locator("iframe[data-twt-widget-surface]").count() == 2
    assert len(events(page, "runtime_mounted")) == 1  # the same runtime, never restarted
    expect(panel.message("hello from the first page", "visitor")).to_have_count(1)
    panel.send("from the checkout")
    panel.wait_until_sent("from the checkout")


def test_removed_frames_come_back_with_the_conversation(host: Host, agent: AgentClient) -> None:
    page = host.page
    panel = chatting(host, agent)
    page.evaluate("""() => document.querySelectorAll("iframe[data-twt-widget-surface]")
        .forEach((frame) => frame.remove())""")
    # Back, open as the visitor left it, with a new runtime welcomed into the same conversation.
    wait_for_event(page, "runtime_activated", count=2)
    assert page.locator("iframe[data-twt-widget-surface]").count() == 2
    expect(page.locator(PANEL)).to_be_visible()
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "maximized"}
    expect(panel.message("hello from the first page", "visitor")).to_have_count(1)
    panel.send("after the page tidied up")
    panel.wait_until_sent("after the page tidied up")
    expect(page.frame_locator(LAUNCHER).locator("#launcher")).to_have_attribute(
        "aria-expanded", "true"
    )


def test_a_second_copy_of_the_snippet_makes_no_second_widget(host: Host) -> None:
    """The snippet twice in the page (a theme and a plugin both add it), then core.js once more
    after the widget started (an SPA that remounts its layout)."""
    page = host.page
    html = host_page({"appid": "porch-demo"})
    snippet = html[html.index("<script>") : html.index("</script>") + len("</script>")]
    page.goto(host.serve("twice.html", html.replace("</body>", snippet + "</body>")))
    wait_for_event(page, "initialized")
    expect(page.locator(LAUNCHER)).to_have_count(1)
    page.evaluate(
        """(src) => new Promise((loaded) => {
            const again = document.createElement("script");
            again.src = src + "&again";
            again.onload = loaded;
            document.head.append(again);
        })""",
        host.porch + "/install/core.js?version=v1.2",
    )
    page.evaluate("TWTChatWidget.init()")
    assert page.locator("script[src*='core.js']").count() == 3
    expect(page.locator(LAUNCHER)).to_have_count(1)
    assert len(events(page, "initialized")) == 1
    assert [t for t in host.console() if "TWTChatWidget" in t] == []


#: The directives a page with a strict policy adds for Porch (docs/host-api.md,
#: "Content-Security-Policy"); ``{porch}`` is Porch's origin, the nonce the page's own.
STRICT_CSP = (
    "default-src 'self'; script-src 'nonce-r4nd0m' {porch}; connect-src {porch}; "
    "frame-src {porch}; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'"
)
#: Every violation the page reports, as "directive blocked-URI".
VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.effectiveDirective + " " + e.blockedURI + " " + e.sourceFile));
"""


def test_a_page_with_a_strict_csp_runs_the_widget_without_a_violation(
    host: Host, agent: AgentClient
) -> None:
    page = host.page
    page.add_init_script(VIOLATIONS)
    html = (
        host_page({"appid": "porch-demo"})
        .replace(
            '<meta charset="utf-8">',
            '<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" '
            f'content="{STRICT_CSP}">',
        )
        .replace("<script>", '<script nonce="r4nd0m">')
    )
    page.goto(host.serve("csp.html", html))
    panel = VisitorPanel(page)
    panel.open()
    panel.send("hello under a strict policy")
    panel.wait_until_sent("hello under a strict policy")
    assert page.evaluate("window.__violations") == []
    # The policy is enforced: an inline script without the nonce is refused.
    page.evaluate("""() => { const s = document.createElement("script");
        s.textContent = "window.__ran = true"; document.head.append(s); }""")
    page.wait_for_function("window.__violations.length === 1")
    assert page.evaluate("window.__ran === undefined")


#: Global CSS that breaks widgets: each on its own, so none hides what another does (a transform
#: on <body> makes it a stacking context, which would sink the overlay below the widget anyway).
HOSTILE_CSS = {
    "all-unset": "* { all: unset; } body { display: block; height: 5000px; }",
    "overlay": "body { height: 5000px; } .cover { position: fixed; inset: 0; z-index: 2147483647 }",
    "body-transform": "body { height: 5000px; transform: translateX(0); }",
}


def box(page: Page, selector: str) -> dict[str, float]:
    return dict(
        page.eval_on_selector(
            selector,
            """(el) => {
        const r = el.getBoundingClientRect();
        return {right: innerWidth - r.right, bottom: innerHeight - r.bottom, width: r.width,
                height: r.height, hit: document.elementFromPoint(r.x + r.width / 2,
                                                                  r.y + r.height / 2) === el};
    }""",
        )
    )


@pytest.mark.parametrize("css", list(HOSTILE_CSS))
def test_hostile_global_css_cannot_move_resize_or_cover_the_widget(host: Host, css: str) -> None:
    page = host.page
    block_runtime(page)
    host.goto(
        {"appid": "porch-demo"},
        body=f'<style>{HOSTILE_CSS[css]}</style><div class="cover"></div><p>page</p>',
    )
    page.wait_for_selector(LAUNCHER)
    page.evaluate("window.scrollTo(0, 2000)")
    assert page.evaluate("scrollY") == 2000  # the page did scroll under the widget
    assert box(page, LAUNCHER) == {
        "right": 16,
        "bottom": 16,
        "width": 72,
        "height": 72,
        "hit": True,
    }
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    expect(page.locator(PANEL)).to_be_visible()
    viewport = page.viewport_size
    assert viewport is not None
    assert box(page, PANEL) == {
        "right": 16,
        "bottom": 96,
        "width": 400,
        "height": min(640, viewport["height"] - 120),
        "hit": True,
    }
