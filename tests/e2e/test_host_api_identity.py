"""Who the visitor is: business login, profile fields, and one user never seeing another's chat.

Issue 3 (sbs/sbs_mm/ranstr, name, nickname, email, phone, referer, source_title at startup;
login(...) with seven positional arguments; call('login', ...); login_failed) and the shared
browser complaint of LESSONS.md: user A chats, user B logs in on the same page and must see none
of it; logging A back in shows A's conversation again. Signatures are made the way a site's
backend makes them (porch_server.rules.signing.sign_business_user with the demo app's secret) and
verified by the real server.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from playwright.sync_api import Page, expect

from conftest import (
    EVENT_RECORDER,
    LAUNCHER,
    PANEL,
    AgentClient,
    PorchServer,
    events,
    open_chat,
    send_from_panel,
    serve_directory,
    wait_for_event,
)
from host_pages import Host, host_page
from porch_protocol import ConversationUpdated, SendMessage
from porch_server.demo import DEMO_SECRET
from porch_server.rules.signing import sign_business_user


def signed(sbs: str, **profile: str) -> dict[str, str]:
    """A login as a site's backend renders it: a fresh ranstr, the profile fields signed too."""
    ranstr = f"{int(time.time())}.{secrets.token_urlsafe(16)}"
    sbs_mm = sign_business_user(DEMO_SECRET, sbs, ranstr, **profile)
    return {"sbs": sbs, "sbs_mm": sbs_mm, "ranstr": ranstr, **profile}


def stored_messages(page: Page) -> list[str]:
    texts = page.frame_locator(PANEL).locator(".message[data-seq] .message-text")
    return list(texts.all_text_contents())


def test_business_users_never_see_each_others_conversation(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    host = Host(page, porch_server)
    alice_id, bob_id = f"alice-{secrets.token_hex(4)}", f"bob-{secrets.token_hex(4)}"
    alice = {
        "name": "Alice Example", "nickname": "Ali", "email": "alice@example.com",
        "phone": "+351 210 000 000",
    }
    host.goto({
        "appid": "porch-demo", **signed(alice_id, **alice),
        "referer": "https://shop.example/checkout?step=2", "source_title": "Checkout",
    })
    open_chat(page)
    auth_a = events(page, "visitor_auth_ready")[0]["payload"]
    assert auth_a["source"] == "resolved"
    record = host.visitor(auth_a["visitorUid"])
    assert record["external_id"] == alice_id
    assert {k: record[k] for k in alice} == alice
    assert (record["referer"], record["source_title"]) == (
        "https://shop.example/checkout?step=2", "Checkout")

    send_from_panel(page, "Alice: please ship order 1234 to my office")
    update = agent.wait_for(
        lambda f: isinstance(f, ConversationUpdated) and f.conversation.last_message is not None
        and f.conversation.last_message.text.startswith("Alice:"))
    summary = update.conversation
    assert (summary.visitor_uid, summary.visitor_name, summary.visitor_email) == (
        auth_a["visitorUid"], "Alice Example", "alice@example.com")
    assert (summary.referer, summary.source_title) == (
        "https://shop.example/checkout?step=2", "Checkout")
    expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)
    # Alice closes the panel; an agent answers her: one unread message, on her badge.
    page.evaluate("TWTChatWidget.call('minimize')")
    agent.send(SendMessage(client_id="to-alice", text="Agent: shipping it today",
                           conversation_id=summary.id))
    assert wait_for_event(page, "unread_count_changed")["payload"] == {"count": 1}

    # Bob logs in on the same page (the convenience form, all seven positional arguments).
    bob = signed(bob_id, name="Bob Builder", nickname="Bobby", email="bob@example.com",
                 phone="+1 555 0100")
    page.evaluate(
        "(a) => TWTChatWidget.login(...a)",
        [bob["sbs"], bob["sbs_mm"], bob["ranstr"], "Bob Builder", "Bobby", "bob@example.com",
         "+1 555 0100"])
    # Not even Alice's unread count survives the switch.
    assert wait_for_event(page, "unread_count_changed", count=2)["payload"] == {"count": 0}
    assert page.evaluate("TWTChatWidget.get('unread_count')") == 0
    expect(page.frame_locator(LAUNCHER).locator("#badge")).to_be_hidden()
    wait_for_event(page, "runtime_activated", count=2)
    page.evaluate("TWTChatWidget.call('maximize')")
    auth_b = events(page, "visitor_auth_ready")[-1]["payload"]
    assert auth_b["visitorUid"] != auth_a["visitorUid"] and auth_b["bs"] != auth_a["bs"]
    stored = page.evaluate("JSON.parse(localStorage.getItem('twt:porch-demo:visitor'))")
    assert stored["bs"] == auth_b["bs"]
    expect(page.locator(PANEL)).to_be_visible()
    assert stored_messages(page) == []
    expect(page.frame_locator(PANEL).locator("#messages")).not_to_contain_text("order 1234")
    record = host.visitor(auth_b["visitorUid"])
    assert (record["external_id"], record["name"], record["nickname"], record["email"],
            record["phone"]) == (bob_id, "Bob Builder", "Bobby", "bob@example.com", "+1 555 0100")
    send_from_panel(page, "Bob: is my invoice ready?")
    expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)

    # Alice comes back (the call form): her conversation, and nothing of Bob's.
    page.evaluate("(p) => TWTChatWidget.call('login', p)", signed(alice_id))
    wait_for_event(page, "runtime_activated", count=3)
    auth_a2 = events(page, "visitor_auth_ready")[-1]["payload"]
    assert auth_a2["visitorUid"] == auth_a["visitorUid"]
    expect(page.locator(PANEL)).to_be_visible()  # the panel was reloaded, still open
    expect(page.frame_locator(PANEL).locator(".message[data-seq] .message-text")).to_have_text(
        ["Alice: please ship order 1234 to my office", "Agent: shipping it today"])
    expect(page.frame_locator(PANEL).locator("#messages")).not_to_contain_text("invoice")
    assert page.locator(PANEL).count() == 1 and page.locator(LAUNCHER).count() == 1
    # Back with the panel open, Alice has read the reply: no further unread changes.
    assert [e["payload"]["count"] for e in events(page, "unread_count_changed")] == [1, 0]
    assert host.console() == []


def test_a_login_with_a_bad_signature_fails_with_login_failed_and_cleans_up(
    page: Page, porch_server: PorchServer
) -> None:
    host = Host(page, porch_server)
    host.goto({"appid": "porch-demo"})
    open_chat(page)
    anonymous = events(page, "visitor_auth_ready")[0]["payload"]
    forged = signed(f"mallory-{secrets.token_hex(4)}")
    forged["sbs_mm"] = sign_business_user("not-the-app-secret", forged["sbs"], forged["ranstr"])
    # (A name the site did not sign fails the same way: test_a_login_is_good_once_...)
    page.evaluate("(p) => TWTChatWidget.call('login', p)", forged)
    failed = wait_for_event(page, "bootstrap_failed")["payload"]
    assert failed == {"reason": "login_failed", "source": "websocket", "mode": "embedded"}
    expect(page.locator("iframe")).to_have_count(0)
    assert page.evaluate("TWTChatWidget.get('state')") == {"visibility": "hidden"}
    assert events(page, "visibility_changed")[-1]["payload"] == {"visibility": "hidden"}
    # The anonymous identity was dropped when the login began; the forged one never existed.
    assert page.evaluate("localStorage.getItem('twt:porch-demo:visitor')") is None
    assert len(events(page, "visitor_auth_ready")) == 1
    assert anonymous["source"] == "resolved"


def test_a_login_is_good_once_but_a_reload_of_the_same_page_stays_that_visitor(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    """A ranstr is good for one login. A page the browser shows again with the same rendered
    login (a reload from cache, back and forward) continues as the visitor that login made,
    with the identity the host stored for that user; in a fresh browser the used login fails,
    and so does a name the site did not sign."""
    host = Host(page, porch_server)
    carol = signed(f"carol-{secrets.token_hex(4)}", name="Carol")
    url = host.goto({"appid": "porch-demo", **carol})
    open_chat(page)
    first = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert first["source"] == "resolved"
    send_from_panel(page, "Carol: hello once")
    expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)
    stored = page.evaluate("JSON.parse(localStorage.getItem('twt:porch-demo:visitor'))")
    assert stored == {"bs": first["bs"], "bs_mm": first["bs_mm"], "sbs": carol["sbs"]}

    page.reload()  # the same page, the same login: a returning visitor boots by itself
    again = wait_for_event(page, "visitor_auth_ready")["payload"]
    assert (again["source"], again["visitorUid"]) == ("initial", first["visitorUid"])
    expect(page.frame_locator(PANEL).locator(".message[data-seq] .message-text")).to_have_text(
        ["Carol: hello once"])

    # Someone else's browser (no stored identity) replaying the page's login gets nothing.
    other = page.context.browser.new_context()
    try:
        thief = other.new_page()
        thief.add_init_script(EVENT_RECORDER)
        thief.goto(url)
        thief.wait_for_selector(LAUNCHER)
        thief.frame_locator(LAUNCHER).locator("#launcher").click()
        failed = wait_for_event(thief, "bootstrap_failed")["payload"]
        assert failed["reason"] == "login_failed"
        assert events(thief, "visitor_auth_ready") == []
    finally:
        other.close()
    # A name changed in the page (not what the site signed) fails as a forged signature.
    host.goto({"appid": "porch-demo", **signed(carol["sbs"], name="Carol"), "name": "Mallory"},
              name="tampered.html")
    page.wait_for_selector(LAUNCHER)
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    assert wait_for_event(page, "bootstrap_failed")["payload"]["reason"] == "login_failed"
    assert host.visitor(first["visitorUid"])["name"] == "Carol"


def test_a_cross_site_widget_keeps_the_visitor_across_reloads_in_the_hosts_storage(
    page: Page, porch_server: PorchServer, tmp_path: Path, agent: AgentClient
) -> None:
    """The host page on one site (localhost), Porch on another (127.0.0.1): the launcher and
    panel are third-party iframes whose storage Chromium partitions. The identity lives in the
    host page's own localStorage, so the visitor stays the same visitor after a reload.
    (``agent`` keeps the page online: offline, the panel shows the offline form.)"""
    (tmp_path / "index.html").write_text(
        host_page({"appid": "porch-demo"}, src=f"{porch_server.url}/install/core.js?version=v1.2")
    )
    page.add_init_script(EVENT_RECORDER)
    with serve_directory(tmp_path) as port:
        page.goto(f"http://localhost:{port}/")
        open_chat(page)
        panel_url = page.locator(PANEL).get_attribute("src") or ""
        assert panel_url.startswith("http://127.0.0.1:")  # a third-party frame
        first = wait_for_event(page, "visitor_auth_ready")["payload"]
        assert first["source"] == "resolved"
        stored = page.evaluate("JSON.parse(localStorage.getItem('twt:porch-demo:visitor'))")
        assert stored == {"bs": first["bs"], "bs_mm": first["bs_mm"]}
        send_from_panel(page, "hello across sites")
        expect(page.frame_locator(PANEL).locator('.message[data-state="sent"]')).to_have_count(1)
        # Nothing lives in the widget's own (third-party) storage: this Chromium blocks it
        # outright, as Safari and Brave do, and the chat works all the same.
        widget_frames = [f for f in page.frames if f.url.startswith("http://127.0.0.1:")]
        assert len(widget_frames) == 2
        for frame in widget_frames:
            used = frame.evaluate("""() => {
              try { return localStorage.length + sessionStorage.length; }
              catch (err) { return "blocked"; } }""")
            assert used in (0, "blocked")

        # A returning visitor with a conversation: the runtime boots by itself, as the same one.
        page.reload()
        again = wait_for_event(page, "visitor_auth_ready")["payload"]
        assert again["source"] == "initial"
        assert (again["bs"], again["visitorUid"]) == (first["bs"], first["visitorUid"])
