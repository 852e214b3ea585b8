"""Runtime commands through the one host-API seam (docs/bridge.md, "Commands"): each call gets
exactly one answer, decided by the server, in real Chromium, with the host page on another site
than Porch (host on 127.0.0.1, Porch on localhost), as sites deploy it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from conftest import PorchServer, events, wait_for_event
from host_pages import Host

#: Calls the page makes as soon as core.js has run (before the runtime exists), each answered.
CALLS = """(calls) => new Promise((resolve) => {
  const answers = {};
  calls.forEach(([key, name, args]) => {
    TWTChatWidget.call(name, args, (error, message) => {
      answers[key] = error;
      if (Object.keys(answers).length === calls.length) resolve(answers);
    });
  });
})"""


def test_each_runtime_command_gets_the_servers_answer_across_sites(
    page: Page, porch_server: PorchServer
) -> None:
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo"})
    calls: list[list[Any]] = [
        ["event", "visitor.event", {"name": "viewed-pricing", "metadata": {"plan": "pro"}}],
        ["bad_event", "visitor.event", {"name": "bad name"}],
        ["tags", "tags.change", {"add": ["vip", "trial"]}],
        ["bad_key", "visitor.update", {"attributes": {"bad key": 1}}],
        ["malformed", "tags.change", {"add": "vip"}],
        ["attributes", "visitor.update", {"attributes": {"plan": "pro", "seats": 3}}],
    ]
    page.wait_for_function("typeof TWTChatWidget.call === 'function'")
    answers = page.evaluate(CALLS, calls)
    assert answers == {
        "event": None,
        "bad_event": "INVALID_EVENT_NAME",
        "tags": None,
        "bad_key": "CONTAINS_INVALID_KEY",
        "malformed": "INVALID_TAGS",
        "attributes": None,
    }
    # The commands booted the runtime in idle time, without a click, and nothing was shown.
    assert page.evaluate("TWTChatWidget.get('state').visibility") == "minimized"
    uid = events(page, "visitor_auth_ready")[0]["payload"]["visitorUid"]
    stored = host.visitor(uid)
    assert stored["tags"] == '["vip", "trial"]'
    assert '"seats": 3' in stored["attributes"]


def test_an_unknown_method_is_answered_at_once(page: Page, porch_server: PorchServer) -> None:
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    answer = page.evaluate(
        "() => new Promise((r) => TWTChatWidget.call('no.such', {}, (e, m) => r([e, m])))"
    )
    assert answer == ["UNKNOWN_COMMAND", "unknown method no.such"]
    host.wait_for_console("unknown method", "no.such")


def test_destroy_answers_the_commands_still_waiting(page: Page, porch_server: PorchServer) -> None:
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo"})
    wait_for_event(page, "initialized")
    answer = page.evaluate(
        """() => new Promise((resolve) => {
             TWTChatWidget.call('tags.change', {add: ['x']}, (error) => resolve(error));
             TWTChatWidget.call('destroy');
           })"""
    )
    assert answer == "DESTROYED"
