"""The HTTP endpoints: health, bootstrap (domain check, CORS, resume), agent login, static."""

from __future__ import annotations

import httpx
import pytest

from conftest import APPID, ORIGIN, Porch, receive_frame, receive_until, send_frame
from porch_protocol import MessageAck, SendMessage, VisitorIdentity
from porch_server.rules.security import TICKET_TTL_MS
from porch_server.transport.http.static import WIDGET_CSP


def _post_bootstrap(porch: Porch, body: str, origin: str | None = ORIGIN) -> httpx.Response:
    headers = {"content-type": "text/plain"}
    if origin:
        headers["origin"] = origin
    return porch.client.post("/api/v1/bootstrap", content=body, headers=headers)


def test_healthz_answers_ok(porch: Porch) -> None:
    response = porch.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_bootstrap_from_allowed_origin_returns_ticket(porch: Porch) -> None:
    data = porch.bootstrap()
    assert data["v"] == 1
    assert isinstance(data["ticket"], str) and "." in data["ticket"]
    assert data["expires_at"] == porch.settings.now_ms() + TICKET_TTL_MS
    assert (data["resume"], data["unread"]) == (False, 0)


@pytest.mark.parametrize(
    "origin",
    ["https://a.acme.example", "http://deep.sub.acme.example:8080", "https://SHOP.acme.test"],
)
def test_bootstrap_accepts_exact_and_wildcard_hostnames(porch: Porch, origin: str) -> None:
    assert porch.bootstrap(origin=origin)["ticket"]


@pytest.mark.parametrize(
    "origin",
    ["https://evil.test", "https://acme.example", "https://shop.acme.test.evil.test", "null"],
)
def test_bootstrap_from_other_origin_is_forbidden_and_readable(porch: Porch, origin: str) -> None:
    response = _post_bootstrap(porch, '{"appid": "acme"}', origin)
    assert response.status_code == 403
    assert response.json()["error"] == "domain_not_whitelisted"
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["vary"] == "Origin"


def test_bootstrap_without_origin_is_forbidden(porch: Porch) -> None:
    response = _post_bootstrap(porch, '{"appid": "acme"}', origin=None)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_bootstrap_unknown_appid_is_404(porch: Porch) -> None:
    response = _post_bootstrap(porch, '{"appid": "nope"}')
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "invalid_bootstrap" and "unknown appid" in body["message"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("not json", "JSON object"),
        ("[1, 2]", "JSON object"),
        ("{}", "appid"),
        ('{"appid": 7}', "appid"),
        ('{"appid": "acme", "identity": "x"}', "identity"),
        ('{"appid": "acme", "identity": {"bs": 1, "bs_mm": "y"}}', "identity"),
    ],
)
def test_bootstrap_malformed_body_is_400_naming_the_field(
    porch: Porch, body: str, names: str
) -> None:
    response = _post_bootstrap(porch, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_bootstrap"
    assert names in response.json()["message"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_bootstrap_accepts_application_json(porch: Porch) -> None:
    response = porch.client.post(
        "/api/v1/bootstrap", json={"appid": APPID}, headers={"origin": ORIGIN}
    )
    assert response.status_code == 200


def test_bootstrap_preflight_allows_post_from_the_origin(porch: Porch) -> None:
    response = porch.client.options(
        "/api/v1/bootstrap",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type"


def test_bootstrap_resume_and_unread_for_returning_visitor(porch: Porch) -> None:
    ws, welcome = porch.visitor()
    assert porch.bootstrap(identity=welcome.identity)["resume"] is False  # no messages yet
    send_frame(ws, SendMessage(client_id="a", text="hi"))
    ack = receive_frame(ws)
    assert isinstance(ack, MessageAck)
    agent, _ = porch.agent()
    for n in range(2):
        reply = SendMessage(
            client_id=f"r{n}", text="hi", conversation_id=ack.message.conversation_id
        )
        send_frame(agent, reply)
        receive_until(agent, MessageAck)
    data = porch.bootstrap(identity=welcome.identity)
    assert (data["resume"], data["unread"]) == (True, 2)


def test_bootstrap_forged_identity_does_not_resume(porch: Porch) -> None:
    _, welcome = porch.visitor()
    forged = VisitorIdentity(bs=welcome.identity.bs, bs_mm=welcome.identity.bs_mm[:-2] + "AA")
    assert porch.bootstrap(identity=forged)["resume"] is False


def test_agent_login_returns_token_and_agent(porch: Porch) -> None:
    response = porch.client.post(
        "/api/v1/agent/login", json={"email": "ann@acme.test", "password": "correct horse"}
    )
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) >= 40
    assert body["agent"] == {
        "id": body["agent"]["id"],
        "name": "Ann",
        "email": "ann@acme.test",
        "appid": APPID,
        "role": "agent",
    }


@pytest.mark.parametrize(
    ("email", "password"), [("ann@acme.test", "wrong"), ("nobody@acme.test", "correct horse")]
)
def test_agent_login_bad_credentials_is_401(porch: Porch, email: str, password: str) -> None:
    response = porch.client.post("/api/v1/agent/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"


def test_agent_login_malformed_body_is_400(porch: Porch) -> None:
    response = porch.client.post("/api/v1/agent/login", content=b'{"email": 1}')
    assert response.status_code == 400


def test_static_serves_public_dir_with_nosniff(porch: Porch) -> None:
    response = porch.client.get("/demo/")
    assert response.status_code == 200
    assert "demo/index.html" in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
    assert porch.client.get("/missing.js").status_code == 404


def test_static_widget_gets_csp_and_corp(porch: Porch) -> None:
    response = porch.client.get("/widget/panel.html")
    assert WIDGET_CSP in response.headers.get_list("content-security-policy")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "cross-origin-embedder-policy" not in response.headers


def test_static_agent_is_cross_origin_isolated(porch: Porch) -> None:
    response = porch.client.get("/agent/")
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-embedder-policy"] == "require-corp"


@pytest.mark.parametrize("path", ["/agent/", "/agent/index.html"])
def test_static_agent_has_a_strict_policy_and_cannot_be_framed(porch: Porch, path: str) -> None:
    response = porch.client.get(path)
    assert response.headers["x-frame-options"] == "DENY"
    (policy,) = response.headers.get_list("content-security-policy")
    directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert directives["connect-src"] == "'self'"  # the socket and the API: this server only
    # No inline script or style, no script from elsewhere (PyScript needs eval, Pyodide wasm).
    assert directives["script-src"] == "'self' 'unsafe-eval' 'wasm-unsafe-eval'"
    assert directives["style-src"] == "'self'"


@pytest.mark.parametrize("path", ["/vendor/lib.js", "/install/snippet.js"])
def test_static_vendor_and_install_are_loadable_cross_origin(porch: Porch, path: str) -> None:
    response = porch.client.get(path)
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "cross-origin-opener-policy" not in response.headers


def test_widget_pages_may_only_be_framed_by_the_apps_own_domains(porch: Porch) -> None:
    for page in ("panel.html", "launcher.html"):
        response = porch.client.get(f"/widget/{page}?host=https://shop.acme.test&appid={APPID}")
        assert response.status_code == 200
        policies = response.headers.get_list("content-security-policy")
        assert WIDGET_CSP in policies
        assert (
            "frame-ancestors http://shop.acme.test:* https://shop.acme.test:* "
            "http://*.acme.example:* https://*.acme.example:*"
        ) in policies


@pytest.mark.parametrize("query", ["", "?appid=nope", "?appid="])
def test_widget_pages_of_an_unknown_app_cannot_be_framed_at_all(porch: Porch, query: str) -> None:
    response = porch.client.get(f"/widget/panel.html{query}")
    assert "frame-ancestors 'none'" in response.headers.get_list("content-security-policy")


def test_a_domain_entry_cannot_inject_csp_directives() -> None:
    from porch_server.transport.http.static import frame_ancestors

    assert frame_ancestors(["ok.test", "x; script-src *", "", 5, "*.fine.test"]) == (
        "frame-ancestors http://ok.test:* https://ok.test:* "
        "http://*.fine.test:* https://*.fine.test:*"
    )
