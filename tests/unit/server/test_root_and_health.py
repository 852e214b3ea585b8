"""The server's root URL and the endpoints a load balancer polls."""

from __future__ import annotations

from dataclasses import replace

from conftest import TestClient
from porch_server.app import create_app
from porch_server.config import Settings
from support import services


def test_the_root_names_the_console_and_the_health_endpoints(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/agent/"' in page.text and "/readyz" in page.text
    assert page.headers["content-security-policy"] == "default-src 'none'"


def test_under_the_demo_the_root_opens_the_demo_page(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, demo=True))) as client:
        page = client.get("/", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (307, "/demo/")


def test_ready_when_the_database_answers(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"ok": True}
        assert client.get("/readyz").json() == {"ok": True}


def test_not_ready_when_redis_is_gone(settings: Settings) -> None:
    """A balancer must stop sending sockets to a process that lost Redis (its visitors would
    not hear agents in other processes); liveness stays up, so it is not restarted for it."""
    with services.redis() as redis:
        client = TestClient(create_app(replace(settings, redis_url=redis.url)))
        client.__enter__()
        assert client.get("/readyz").status_code == 200
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["ok"] is False and "redis" in answer.json()["failed"]
        assert client.get("/healthz").status_code == 200
    finally:
        client.__exit__(None, None, None)
