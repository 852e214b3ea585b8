"""Agent sessions (cookie, logout, cross-site WebSocket hijacking) and admins editing the app."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import (
    ADMIN_EMAIL,
    AGENT_EMAIL,
    AGENT_PASSWORD,
    Porch,
    expect_error,
    receive_close,
    receive_frame,
    receive_until,
    send_frame,
)
from porch_protocol import (
    AgentHello,
    AgentWelcome,
    AppUpdated,
    BusinessHours,
    CloseCode,
    ErrorFrame,
    FormField,
    OpeningHours,
    PageStatusChanged,
    RequestDone,
    UpdateApp,
)
from porch_server.transport.credentials import SESSION_COOKIE


def _cookie_login(porch: Porch, email: str = AGENT_EMAIL) -> str:
    response = porch.client.post(
        "/api/v1/agent/login", json={"email": email, "password": AGENT_PASSWORD}
    )
    assert response.status_code == 200
    return response.headers["set-cookie"]


def test_login_sets_a_strict_http_only_session_cookie(porch: Porch) -> None:
    cookie = _cookie_login(porch).lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("httponly", "samesite=strict", "path=/", "max-age=2592000"):
        assert flag in cookie
    assert "secure" not in cookie  # plain http here; https requests get Secure


def test_login_over_https_marks_the_cookie_secure(porch: Porch) -> None:
    response = porch.client.post(
        "https://testserver/api/v1/agent/login",
        json={"email": AGENT_EMAIL, "password": AGENT_PASSWORD},
    )
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("origin", ["https://evil.test", "http://testserver.evil.test"])
def test_a_login_from_another_origin_gets_a_token_but_no_cookie(porch: Porch, origin: str) -> None:
    response = porch.client.post(
        "/api/v1/agent/login",
        json={"email": AGENT_EMAIL, "password": AGENT_PASSWORD},
        headers={"origin": origin},
    )
    assert response.status_code == 200 and response.json()["token"]
    assert "set-cookie" not in response.headers
    assert SESSION_COOKIE not in porch.client.cookies


def test_a_login_from_the_console_origin_gets_the_cookie(porch: Porch) -> None:
    response = porch.client.post(
        "/api/v1/agent/login",
        json={"email": AGENT_EMAIL, "password": AGENT_PASSWORD},
        headers={"origin": "http://testserver"},
    )
    assert response.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=")


def test_console_socket_authenticates_with_the_cookie_from_its_own_origin(porch: Porch) -> None:
    _cookie_login(porch)
    ws = porch.client.websocket_connect("/ws/agent", headers={"origin": "http://testserver"})
    with ws:
        send_frame(ws, AgentHello())
        welcome = receive_frame(ws)
        assert isinstance(welcome, AgentWelcome) and welcome.agent_name == "Ann"


@pytest.mark.parametrize("origin", ["https://evil.test", "http://testserver.evil.test", None])
def test_cookie_from_another_origin_is_refused(porch: Porch, origin: str | None) -> None:
    _cookie_login(porch)
    headers = {"origin": origin} if origin else {}
    with porch.client.websocket_connect("/ws/agent", headers=headers) as ws:
        send_frame(ws, AgentHello())
        expect_error(ws, "unauthorized", fatal=True)
        assert receive_close(ws) == CloseCode.UNAUTHORIZED


def test_logout_ends_the_session_and_clears_the_cookie(porch: Porch) -> None:
    _cookie_login(porch)
    token = porch.client.cookies[SESSION_COOKIE]
    response = porch.client.post("/api/v1/agent/logout", headers=OWN)
    assert response.status_code == 204
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert "max-age=0" in response.headers["set-cookie"].lower()
    with porch.client.websocket_connect("/ws/agent") as ws:
        send_frame(ws, AgentHello(token=token))  # the token died with the session
        expect_error(ws, "unauthorized", fatal=True)
    assert porch.client.post("/api/v1/agent/logout", headers=OWN).status_code == 204  # twice
    porch.client.cookies.clear()
    assert porch.client.post("/api/v1/agent/logout").status_code == 204  # no credential at all


#: Another origin of the same site: SameSite=Strict lets the cookie through, the Origin check not.
SAME_SITE_PAGE = "http://evil.testserver"
#: What a browser sends on the console's own requests.
OWN = {"origin": "http://testserver"}


def _agent_socket_works(porch: Porch) -> bool:
    with porch.client.websocket_connect("/ws/agent", headers=OWN) as ws:
        send_frame(ws, AgentHello())
        return isinstance(receive_frame(ws), AgentWelcome)


@pytest.mark.parametrize("origin", [SAME_SITE_PAGE, "https://testserver", "null", None])
def test_logout_with_the_cookie_from_another_origin_is_refused(
    porch: Porch, origin: str | None
) -> None:
    _cookie_login(porch)
    headers = {"origin": origin} if origin else {}
    response = porch.client.post("/api/v1/agent/logout", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden_origin"
    assert "Origin 'http://testserver'" in response.json()["message"]
    assert "set-cookie" not in response.headers
    assert _agent_socket_works(porch)  # still logged in


def test_logout_with_a_bearer_token_works_from_any_origin(porch: Porch) -> None:
    token = porch.login()
    porch.client.cookies.clear()
    response = porch.client.post(
        "/api/v1/agent/logout",
        headers={"authorization": f"Bearer {token}", "origin": "https://tools.example"},
    )
    assert response.status_code == 204
    with porch.client.websocket_connect("/ws/agent") as ws:
        send_frame(ws, AgentHello(token=token))
        expect_error(ws, "unauthorized", fatal=True)


# --- app.update ---------------------------------------------------------------------------------


def test_admin_updates_the_app_and_admin_consoles_hear_of_it(porch: Porch) -> None:
    boss, welcome = porch.agent(email=ADMIN_EMAIL)
    other_boss, _ = porch.agent(email=ADMIN_EMAIL)
    ann, _ = porch.agent()
    visitor, _ = porch.visitor()
    assert welcome.app is not None
    closed = BusinessHours("Europe/Berlin", (OpeningHours(0, "09:00", "10:00"),))
    wanted = replace(
        welcome.app,
        name="Acme Shop",
        offline_message="Back at 9",
        business_hours=closed,
        prechat_fields=(FormField("name", "Name", required=True),),
    )
    send_frame(boss, UpdateApp(request_id="u1", app=wanted))
    assert receive_until(boss, RequestDone) == RequestDone("u1")
    assert receive_until(other_boss, AppUpdated).app == wanted
    assert receive_until(visitor, PageStatusChanged).status == "offline"  # outside the hours
    _, later = porch.visitor()
    assert later.widget is not None
    assert (later.widget.app_name, later.widget.offline_message) == ("Acme Shop", "Back at 9")
    assert later.widget.prechat_fields == wanted.prechat_fields
    # Agents are not admins: they get no app.updated (the next frame is their own answer).
    send_frame(ann, UpdateApp(request_id="u2", app=wanted))
    error = receive_until(ann, ErrorFrame)
    assert (error.code, error.request_id) == ("forbidden", "u2")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"appid": "other"}, "appid cannot change"),
        ({"name": "  "}, "name"),
        ({"allowed_domains": ()}, "at least one"),
        ({"allowed_domains": ("x; script-src *",)}, "not a hostname"),
        ({"business_hours": BusinessHours("Nowhere/City", ())}, "IANA"),
        (
            {"business_hours": BusinessHours("UTC", (OpeningHours(7, "09:00", "10:00"),))},
            "weekday",
        ),
        ({"prechat_fields": (FormField("a b", "A"),)}, "letters, digits"),
        ({"offline_message": "x" * 1001}, "offline_message"),
    ],
)
def test_invalid_app_settings_are_refused(
    porch: Porch, change: dict[str, object], complaint: str
) -> None:
    boss, welcome = porch.agent(email=ADMIN_EMAIL)
    assert welcome.app is not None
    send_frame(boss, UpdateApp(request_id="bad", app=replace(welcome.app, **change)))  # type: ignore[arg-type]
    error = receive_until(boss, ErrorFrame)
    assert (error.code, error.request_id) == ("invalid_app", "bad")
    assert complaint in error.message
    _, again = porch.agent(email=ADMIN_EMAIL)
    assert again.app == welcome.app  # nothing changed
