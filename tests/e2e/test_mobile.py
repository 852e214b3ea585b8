"""Phones, in real Chromium with Playwright's device emulation (an iPhone and an Android profile:
their viewport, pixel ratio, user agent and touch): the panel covers the screen and follows the
visual viewport (what the on-screen keyboard leaves visible), its fields are large enough that iOS
does not zoom, and the host page is left exactly as it was (docs/widget.md, "Phones").

These need no Python runtime: the panel's shell is what is looked at, so Pyodide is held back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from conftest import LAUNCHER, PANEL, PorchServer, wait_for_event
from host_pages import Host, block_runtime, phone_device

PHONES = ["iPhone 13", "Pixel 7"]
#: A page long enough to scroll, as a shop's product page is.
TALL_BODY = '<div style="height: 4000px">A long page</div>'
#: What the widget must leave alone on the host page.
HOST_STATE = """() => ({
  scroll: [window.scrollX, window.scrollY],
  htmlStyle: document.documentElement.getAttribute("style"),
  bodyStyle: document.body.getAttribute("style"),
  htmlClass: document.documentElement.className,
  bodyClass: document.body.className,
  overflow: [getComputedStyle(document.documentElement).overflow,
             getComputedStyle(document.body).overflow],
  bodyPosition: getComputedStyle(document.body).position,
})"""


@pytest.fixture(params=PHONES)
def phone(
    request: pytest.FixtureRequest, browser: Browser, playwright: Playwright
) -> Iterator[Page]:
    context = browser.new_context(**phone_device(playwright, request.param))
    yield context.new_page()
    context.close()


def panel_box(page: Page) -> dict[str, float]:
    box = page.locator(PANEL).bounding_box()
    assert box is not None
    return box


def test_the_panel_covers_the_phone_and_leaves_the_page_as_it_was(
    phone: Page, porch_server: PorchServer
) -> None:
    page = phone
    block_runtime(page)
    Host(page, porch_server).goto({"appid": "porch-demo"}, body=TALL_BODY)
    wait_for_event(page, "initialized")
    page.evaluate("window.scrollTo(0, 1234)")
    before = page.evaluate(HOST_STATE)
    assert before["scroll"] == [0, 1234]

    page.frame_locator(LAUNCHER).locator("#launcher").tap()
    assert wait_for_event(page, "visibility_changed")["payload"] == {"visibility": "maximized"}
    viewport = page.viewport_size
    assert viewport is not None
    expect(page.locator(PANEL)).to_be_visible()
    assert panel_box(page) == {"x": 0, "y": 0, **viewport}
    panel = page.frame_locator(PANEL)
    expect(panel.locator("#composer-text")).to_be_in_viewport()
    # 16 px or more: iOS zooms the page into any smaller field that takes the focus.
    sizes = panel.locator("textarea, input:not([type=file]), select").evaluate_all(
        "els => els.map((el) => parseFloat(getComputedStyle(el).fontSize))"
    )
    assert sizes and min(sizes) >= 16, sizes

    # The on-screen keyboard takes the lower part of the screen: the panel shrinks with the
    # visible area and the composer stays above the keyboard.
    keyboard_up = {"width": viewport["width"], "height": viewport["height"] - 300}
    page.set_viewport_size(keyboard_up)
    page.wait_for_function(
        "(h) => document.querySelector('iframe[data-twt-widget-surface=panel]')"
        ".getBoundingClientRect().height === h",
        arg=keyboard_up["height"],
    )
    assert panel_box(page) == {"x": 0, "y": 0, **keyboard_up}
    expect(panel.locator("#composer-text")).to_be_in_viewport()
    panel.locator("#composer-text").tap()
    page.keyboard.type("typed on a phone")
    # What a focused field does to the page behind on iOS: it scrolls it.
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size(viewport)

    panel.locator("#minimize").tap()
    assert wait_for_event(page, "visibility_changed", count=2)["payload"] == {
        "visibility": "minimized"
    }
    assert page.evaluate(HOST_STATE) == before


def test_the_panel_follows_the_visual_viewport_when_the_page_is_zoomed(
    phone: Page, porch_server: PorchServer
) -> None:
    """iOS shows its keyboard by shrinking and moving the visual viewport, not the layout one;
    a pinch-zoom does the same, and is what Chromium can emulate (a page scale factor)."""
    page = phone
    block_runtime(page)
    Host(page, porch_server).goto({"appid": "porch-demo"}, body=TALL_BODY)
    wait_for_event(page, "initialized")
    page.evaluate("TWTChatWidget.call('maximize')")
    expect(page.locator(PANEL)).to_be_visible()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 2})
    page.wait_for_function("visualViewport.scale === 2")
    # The panel's frame sits on the visual viewport, wherever the zoom has moved it, at its size.
    page.wait_for_function(
        """() => {
          const f = document.querySelector("iframe[data-twt-widget-surface=panel]").style;
          const v = visualViewport;
          return [[f.left, v.offsetLeft], [f.top, v.offsetTop], [f.width, v.width],
                  [f.height, v.height]].every(([px, want]) => Math.abs(parseFloat(px) - want) < 1);
        }"""
    )
    assert page.evaluate("visualViewport.height") < page.evaluate("innerHeight")
    cdp.send("Emulation.setPageScaleFactor", {"pageScaleFactor": 1})
