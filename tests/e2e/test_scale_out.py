"""Several Porch processes behind one address: PostgreSQL + Redis, nginx in front, a process
killed with ``kill -9`` mid-conversation.

Real parts only: Debian's PostgreSQL, Redis and nginx, started here on free ports in temporary
folders; two ``porch`` processes; the documented nginx configuration (deploy/nginx/porch.conf)
with its ports and certificate swapped; the visitor is the real widget in Chromium on a host
page of another site, the agent the real protocol over a real socket.

The visitor is made to land on process A (B is started only once the visitor is connected:
nginx sends everything to A meanwhile) and the agent talks to B directly, so every frame
between them crosses processes through Redis. Then A is killed: the widget reconnects through
nginx, lands on B, and resumes from its last sequence number.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import EVENT_RECORDER, ROOT, AgentClient, PorchServer, wait_for_port
from host_pages import Host
from panel import VisitorPanel
from porch_protocol import AssignConversation, NewMessage, SendMessage, TypingChanged
from support import services

NGINX_CONF = ROOT / "deploy" / "nginx" / "porch.conf"


@dataclass
class Cluster:
    postgres: services.Postgres
    a: PorchServer
    b: PorchServer
    #: The one address, as the host page's browser reaches it (another site than the page).
    front: str

    def messages(self) -> list[tuple[int, str, str | None, str]]:
        """(seq, author, client_id, text) of every message stored, in order."""
        rows = self.postgres.psql(
            "SELECT seq, author, coalesce(client_id, ''), text FROM messages"
            " ORDER BY conversation_id, seq",
            "porch",
        )
        found = []
        for line in rows.splitlines():
            seq, author, client_id, text = line.split("|", 3)
            found.append((int(seq), author, client_id or None, text))
        return found


def _nginx_conf(workdir: Path, port: int, upstreams: list[int], tls: tuple[Path, Path]) -> Path:
    """deploy/nginx/porch.conf with this test's ports and certificate, in a minimal nginx.conf."""
    site = NGINX_CONF.read_text()
    servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in upstreams
    )
    site, count = re.subn(r"(    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, site, count=1)
    assert count == 1, "the upstream block of deploy/nginx/porch.conf changed shape"
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {tls[0]};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tls[1]};", site)
    # The port-80 redirect: not this test's business (and port 80 may be taken).
    site = site[: site.rindex("server {")]
    (workdir / "porch.conf").write_text(site)
    main = workdir / "nginx.conf"
    main.write_text(
        f"""daemon off;
user root;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    include {workdir}/porch.conf;
}}
"""
    )
    return main


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    workdir = tmp_path_factory.mktemp("scale-out")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with services.postgres() as postgres, services.redis() as redis:
        postgres.psql("CREATE DATABASE porch")
        env = {"PORCH_DATABASE_URL": postgres.url("porch"), "PORCH_REDIS_URL": redis.url}
        a = PorchServer(workdir / "a", env=env, command="demo")
        b = PorchServer(workdir / "b", env=env, command="serve")
        a.workdir.mkdir()
        b.workdir.mkdir()
        port = services.free_port()
        conf = _nginx_conf(workdir, port, [a.port, b.port], (cert, key))
        proxy = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            a.start()  # the demo app and agent; B is started by the test
            yield Cluster(postgres, a, b, f"https://localhost:{port}")
        finally:
            proxy.terminate()
            proxy.wait(10)
            a.stop()
            b.stop()


def _visitor_on(page: Page, front: str) -> VisitorPanel:
    """A visitor on a page of another site whose snippet loads Porch from ``front``."""
    page.add_init_script(EVENT_RECORDER)
    html = (
        "<!doctype html><html><head><title>Scale-out shop</title></head><body>"
        "<script>window.__twt = { appid: 'porch-demo' };</script>"
        f'<script async src="{front}/install/core.js?version=v1.2"></script>'
        "</body></html>"
    )
    assert Host.site is not None
    page.goto(Host.site.serve("scale-out.html", html))
    panel = VisitorPanel(page)
    panel.open()
    return panel


def test_a_visitor_and_an_agent_on_two_processes_survive_one_being_killed(
    page: Page, cluster: Cluster
) -> None:
    panel = _visitor_on(page, cluster.front)  # B is down: nginx sent everything to A
    cluster.b.start()
    agent = AgentClient(cluster.b)  # the agent is on B
    try:
        # Across processes: the visitor's message reaches the agent, the agent's reply and
        # typing reach the visitor.
        panel.send("hello from A")
        first = agent.wait_for(
            lambda f: isinstance(f, NewMessage) and f.message.text == "hello from A"
        )
        conversation = first.message.conversation_id
        agent.send(
            AssignConversation(conversation_id=conversation, agent_id=agent.welcome.agent_id)
        )
        agent.send(SendMessage(client_id="b-1", text="hi from B", conversation_id=conversation))
        panel.wait_for_message("hi from B", "agent")
        panel.composer.press_sequentially("typing")
        agent.wait_for(lambda f: isinstance(f, TypingChanged) and f.typing)
        panel.composer.fill("")

        # kill -9 A with the visitor's message in flight, and the agent writing while the
        # visitor has no socket.
        panel.send("in flight")
        cluster.a.kill()
        agent.send(
            SendMessage(client_id="b-2", text="while A was dead", conversation_id=conversation)
        )

        # The widget reconnects through nginx to B and resumes: nothing lost, nothing twice.
        panel.wait_for_message("while A was dead", "agent", timeout=60_000)
        panel.wait_until_sent("in flight")
        panel.send("after the failover")
        agent.wait_for(
            lambda f: isinstance(f, NewMessage) and f.message.text == "after the failover"
        )
        panel.wait_until_sent("after the failover")
        expect(panel.message("in flight", "visitor")).to_have_count(1)
    finally:
        agent.close()

    stored = cluster.messages()
    texts = [text for _, _, _, text in stored]
    for text in (
        "hello from A",
        "hi from B",
        "in flight",
        "while A was dead",
        "after the failover",
    ):
        assert texts.count(text) == 1, (text, stored)
    assert [seq for seq, *_ in stored] == list(range(1, len(stored) + 1))  # no gap, no repeat
    client_ids = [(author, cid) for _, author, cid, _ in stored if cid is not None]
    assert len(client_ids) == len(set(client_ids))
