"""tawk.to's embed over HTTP: the bootstrap by property and widget, and the embed URL
``/<propertyId>/<widgetId>`` that answers ``install/tawk.js``."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from conftest import APPID, ORIGIN, Porch, receive_frame, run_db, send_frame
from porch_protocol import MessageAck, SendMessage
from porch_server.rules.properties import WidgetSettings
from porch_server.rules.security import TICKET_TTL_MS
from porch_server.storage import store

PROPERTY = "64f0d3e3c0ffee00000000aa"
WIDGET = "1abcdefghi"
SETTINGS = WidgetSettings(language="de", position="tl", colour="#112233", greeting="Hallo!")
SCRIPT = b"/* tawk.js */ window.Tawk_API = window.Tawk_API || {};"


@pytest.fixture
def tawk(porch: Porch) -> Porch:
    """``porch`` with property PROPERTY (app acme) holding widget WIDGET, and an empty property
    ``...bb``."""

    async def work(session: AsyncSession) -> None:
        app = await store.app_by_appid(session, APPID)
        assert app is not None
        prop = await store.create_tawk_property(session, app, PROPERTY, 0)
        await store.create_tawk_widget(session, prop, WIDGET, SETTINGS, 0)
        await store.create_tawk_property(session, app, "64f0d3e3c0ffee00000000bb", 0)
        await session.commit()

    run_db(porch.settings.database_url, work)
    return porch


def _boot(porch: Porch, body: dict[str, Any] | str, origin: str | None = ORIGIN) -> httpx.Response:
    headers = {"content-type": "text/plain"}
    if origin is not None:
        headers["origin"] = origin
    content = body if isinstance(body, str) else json.dumps(body)
    return porch.client.post("/api/v1/bootstrap", content=content, headers=headers)


def _script(porch: Porch, content: bytes = SCRIPT) -> Path:
    path = porch.settings.public_dir / "install" / "tawk.js"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# --- bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_by_property_and_widget_names_the_app_and_the_widget(tawk: Porch) -> None:
    response = _boot(tawk, {"property_id": PROPERTY, "widget_id": WIDGET, "identity": None})
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {
        "v", "ticket", "expires_at", "resume", "unread", "page_status", "appid", "widget"
    }  # fmt: skip
    assert data["appid"] == APPID
    assert data["widget"] == {
        "property_id": PROPERTY,
        "widget_id": WIDGET,
        "language": "de",
        "position": "tl",
        "colour": "#112233",
        "greeting": "Hallo!",
    }
    assert data["expires_at"] == tawk.settings.now_ms() + TICKET_TTL_MS
    assert (data["resume"], data["unread"]) == (False, 0)
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_the_ticket_of_a_widget_bootstrap_opens_a_visitor_socket(tawk: Porch) -> None:
    ticket = _boot(tawk, {"property_id": PROPERTY, "widget_id": WIDGET}).json()["ticket"]
    _, welcome = tawk.visitor(ticket=ticket)
    assert welcome.identity.bs


def test_a_widget_bootstrap_resumes_like_an_appid_one(tawk: Porch) -> None:
    ws, welcome = tawk.visitor()
    send_frame(ws, SendMessage(client_id="a", text="hi"))
    assert isinstance(receive_frame(ws), MessageAck)
    identity = {"bs": welcome.identity.bs, "bs_mm": welcome.identity.bs_mm}
    data = _boot(tawk, {"property_id": PROPERTY, "widget_id": WIDGET, "identity": identity})
    assert data.json()["resume"] is True


def test_the_appid_form_answers_as_before(tawk: Porch) -> None:
    assert "widget" not in tawk.bootstrap() and "appid" not in tawk.bootstrap()


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"property_id": "64f0d3e3c0ffee00000000cc", "widget_id": WIDGET}, "unknown property"),
        ({"property_id": PROPERTY, "widget_id": "default"}, "has no widget 'default'"),
        ({"property_id": "64f0d3e3c0ffee00000000bb", "widget_id": WIDGET}, "has no widget"),
    ],
)
def test_an_unknown_property_or_widget_is_404(
    tawk: Porch, body: dict[str, str], complaint: str
) -> None:
    response = _boot(tawk, body)
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_bootstrap"
    assert complaint in response.json()["message"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"appid": APPID, "property_id": PROPERTY, "widget_id": WIDGET}, "not both"),
        ({"appid": APPID, "widget_id": WIDGET}, "not both"),
        ({"identity": None}, "'appid' is required"),
        ({"property_id": PROPERTY}, "'widget_id'"),
        ({"widget_id": WIDGET}, "'property_id'"),
        ({"property_id": PROPERTY.upper(), "widget_id": WIDGET}, "24 lowercase hex"),
        ({"property_id": 7, "widget_id": WIDGET}, "'property_id'"),
        ({"property_id": PROPERTY, "widget_id": "a/b"}, "'widget_id'"),
        ({"property_id": PROPERTY, "widget_id": WIDGET, "identity": "x"}, "identity"),
    ],
)
def test_both_forms_or_neither_or_bad_ids_are_400(
    tawk: Porch, body: dict[str, Any], complaint: str
) -> None:
    response = _boot(tawk, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_bootstrap"
    assert complaint in response.json()["message"]


def test_a_widget_bootstrap_checks_the_apps_domains(tawk: Porch) -> None:
    body = {"property_id": PROPERTY, "widget_id": WIDGET}
    response = _boot(tawk, body, origin="https://evil.test")
    assert response.status_code == 403
    assert response.json()["error"] == "domain_not_whitelisted"
    assert PROPERTY in response.json()["message"]
    assert _boot(tawk, body, origin=None).status_code == 403


def test_widget_pages_named_by_a_property_may_only_be_framed_by_its_apps_domains(
    tawk: Porch,
) -> None:
    for page in ("panel.html", "launcher.html"):
        response = tawk.client.get(f"/widget/{page}?host={ORIGIN}&property={PROPERTY}")
        assert response.status_code == 200
        assert (
            "frame-ancestors http://shop.acme.test:* https://shop.acme.test:* "
            "http://*.acme.example:* https://*.acme.example:*"
        ) in response.headers.get_list("content-security-policy")


@pytest.mark.parametrize(
    "query", ["?property=64f0d3e3c0ffee00000000cc", "?property=nope", "?property="]
)
def test_widget_pages_of_an_unknown_property_cannot_be_framed(tawk: Porch, query: str) -> None:
    response = tawk.client.get(f"/widget/panel.html{query}")
    assert "frame-ancestors 'none'" in response.headers.get_list("content-security-policy")


# --- the embed URL ------------------------------------------------------------------------------


def test_the_embed_url_answers_tawk_js_with_cors_and_a_short_cache(tawk: Porch) -> None:
    _script(tawk)
    response = tawk.client.get(f"/{PROPERTY}/{WIDGET}", headers={"origin": "https://x.test"})
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-credentials" not in response.headers

    head = tawk.client.head(f"/{PROPERTY}/{WIDGET}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(SCRIPT))
    assert head.headers["access-control-allow-origin"] == "*"


def test_the_embed_url_serves_the_precompressed_siblings(tawk: Porch) -> None:
    path = _script(tawk)
    path.with_name("tawk.js.gz").write_bytes(gzip.compress(SCRIPT))
    path.with_name("tawk.js.br").write_bytes(b"brotli-marker")
    br = tawk.client.get(f"/{PROPERTY}/{WIDGET}", headers={"accept-encoding": "br, gzip"})
    assert br.headers["content-encoding"] == "br"
    assert br.headers["content-type"] == "text/javascript; charset=utf-8"
    assert br.headers["vary"] == "Accept-Encoding"
    assert br.headers["access-control-allow-origin"] == "*"
    gz = tawk.client.get(f"/{PROPERTY}/{WIDGET}", headers={"accept-encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == SCRIPT
    plain = tawk.client.get(f"/{PROPERTY}/{WIDGET}", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == SCRIPT


def test_the_embed_url_revalidates_with_its_etag(tawk: Porch) -> None:
    _script(tawk)
    first = tawk.client.get(f"/{PROPERTY}/{WIDGET}")
    again = tawk.client.get(
        f"/{PROPERTY}/{WIDGET}", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        f"/{PROPERTY}/default",
        f"/64f0d3e3c0ffee00000000cc/{WIDGET}",
        f"/64f0d3e3c0ffee00000000bb/{WIDGET}",
    ],
)
def test_an_unknown_property_or_widget_is_a_404_script_comment(tawk: Porch, path: str) -> None:
    _script(tawk)
    response = tawk.client.get(path)
    assert response.status_code == 404
    assert response.text.startswith("/* Porch: no widget ")
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "no-store"


def test_an_unbuilt_tawk_js_is_a_404_that_says_so(tawk: Porch) -> None:
    response = tawk.client.get(f"/{PROPERTY}/{WIDGET}")
    assert response.status_code == 404
    assert "install/tawk.js is not built" in response.text
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/agent/index.html",
        "/demo/index.html",
        "/widget/panel.html",
        "/install/snippet.js",
        "/vendor/lib.js",
    ],
)
def test_the_embed_route_never_shadows_the_site(tawk: Porch, path: str) -> None:
    _script(tawk)
    response = tawk.client.get(path)
    assert response.status_code == 200 and response.text == f"<!-- {path[1:]} -->"


@pytest.mark.parametrize(
    "path",
    [
        f"/{PROPERTY.upper()}/{WIDGET}",
        f"/{PROPERTY}x/{WIDGET}",
        f"/{PROPERTY}/{WIDGET.upper()}",
        f"/{PROPERTY}/{WIDGET}/",
        f"/{PROPERTY}/{'a' * 51}",
    ],
)
def test_paths_not_of_tawks_shape_go_to_the_static_site(tawk: Porch, path: str) -> None:
    _script(tawk)
    response = tawk.client.get(path)
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


def test_the_embed_url_works_without_a_public_dir(tawk: Porch) -> None:
    shutil.rmtree(tawk.settings.public_dir)
    response = tawk.client.get(f"/{PROPERTY}/{WIDGET}")
    assert response.status_code == 404 and "not built" in response.text
