"""End-to-end fixtures: one real Porch server process and one real Chromium per session.

Each test gets a fresh browser context (pytest-playwright's ``page``), hence a fresh visitor:
cheap. What is expensive is a Pyodide boot, so tests that need a running runtime share helpers
that boot it once per page and wait for the ``runtime_activated`` event, never for a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from build_snapshot import CHROMIUM_ARGS, chromium  # noqa: E402  (one list of flags: the build's)

from porch_server.realtime.limits import CONNECTIONS_PER_ADDRESS, Rule  # noqa: E402

#: Every public event of the host API; the recorder subscribes to all of them.
EVENTS = [
    "initialized",
    "iframe_loaded",
    "bridge_ready",
    "runtime_mounted",
    "visitor_auth_ready",
    "runtime_activated",
    "destroyed",
    "visibility_changed",
    "connection_state_changed",
    "session_connected",
    "session_disconnected",
    "auth_closed",
    "bootstrap_failed",
    "unread_count_changed",
]
#: Installed before any page script: keeps every event (name, payload, time) in
#: window.__porchEvents through the snippet's own queueing stub, as an integrator would.
EVENT_RECORDER = """
(() => {
  const events = [];
  window.__porchEvents = events;
  window.TWTChatWidget = window.TWTChatWidget || {
    _q: [],
    on: function () { this._q.push(["on", Array.prototype.slice.call(arguments)]); },
  };
  for (const name of %s) {
    window.TWTChatWidget.on(name, (payload) =>
      events.push({ name, payload, t: performance.now() }));
  }
})();
""".replace("%s", repr(EVENTS))


#: The host name the official tawk.to wrappers' tests serve Porch under over HTTPS (the wrappers
#: load ``https://embed.<basePath>/...``; test_tawk_wrappers.py). Chromium resolves it to the
#: loopback and accepts its self-signed certificate; no other test names it.
EMBED_HOST = "embed.porch.test"
E2E_CHROMIUM_ARGS = [
    *CHROMIUM_ARGS,
    f"--host-resolver-rules=MAP {EMBED_HOST} 127.0.0.1",
    "--ignore-certificate-errors",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    args = {**browser_type_launch_args, "args": E2E_CHROMIUM_ARGS}
    executable = chromium()
    if executable:
        args["executable_path"] = executable
    return args


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something listens on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a port that is not listening yet: no event to await
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[int]:
    """A plain static file server (Python's ``http.server``) for ``directory`` on 127.0.0.1;
    yields its port. A real server, not ``page.route``: Chromium files routed responses under no
    address space, and would then refuse them access to loopback servers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Abuse limits lifted: every test's browser and the bench's 10,000 sockets come from 127.0.0.1,
#: and the bench and load tests send as fast as they can (test_abuse_limits.py and the other
#: hostile-input tests start servers with their own limits).
LOOPBACK_LIMITS = " ".join(
    [f"{rule.value}=1000000/1" for rule in Rule] + [f"{CONNECTIONS_PER_ADDRESS}=1000000"]
)


class PorchServer:
    """A real ``porch demo`` process on a free port, with its own SQLite file; with ``tls`` (a
    PEM certificate and key) it serves HTTPS and WSS (``--ssl-certfile``/``--ssl-keyfile``).
    ``env`` overrides settings (another database, Redis); ``command`` is ``demo`` or ``serve``."""

    def __init__(
        self,
        workdir: Path,
        tls: tuple[Path, Path] | None = None,
        *,
        env: dict[str, str] | None = None,
        command: str = "demo",
    ) -> None:
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.command = command
        #: More command-line options (``--workers 2``).
        self.extra_args: list[str] = []
        self.env = {
            **os.environ,
            "PORCH_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'porch.db'}",
            "PYTHONUNBUFFERED": "1",
            "PORCH_LIMITS": LOOPBACK_LIMITS,
            **(env or {}),
        }
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "porch_server", self.command, "--port", str(self.port),
                 *self.tls_options(), *self.extra_args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until_healthy()

    def tls_options(self) -> list[str]:
        if self.tls is None:
            return []
        return ["--ssl-certfile", str(self.tls[0]), "--ssl-keyfile", str(self.tls[1])]

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                healthz = httpx.get(f"{self.url}/healthz", timeout=1, verify=self.tls is None)
                if healthz.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a port that is not listening yet: no event to await
        raise RuntimeError(f"server not healthy in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def stop_or_kill(self) -> None:
        """Stop; a server still closing thousands of sockets after the grace period is killed
        (the bench suites' servers: their figures are taken by then)."""
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """``kill -9``: no shutdown, no goodbye to Redis, sockets cut."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str) -> str:
        """Run ``porch`` against this server's database (apps, agents, ...)."""
        done = subprocess.run(
            [sys.executable, "-m", "porch_server", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


@pytest.fixture(scope="session")
def porch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PorchServer]:
    server = PorchServer(tmp_path_factory.mktemp("porch-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def host_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The customer's site the host-API tests' pages live on (host_pages.HostSite)."""
    from host_pages import Host, HostSite

    site = HostSite(tmp_path_factory.mktemp("host-site"))
    Host.site = site
    yield site
    site.close()


@pytest.fixture
def recorded_page(page: Page) -> Page:
    """A page whose Porch events are all recorded in ``window.__porchEvents``."""
    page.add_init_script(EVENT_RECORDER)
    return page


def events(page: Page, name: str | None = None) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = page.evaluate("window.__porchEvents")
    return [e for e in recorded if name is None or e["name"] == name]


def wait_for_event(
    page: Page, name: str, timeout: float = 60_000, count: int = 1
) -> dict[str, Any]:
    """Wait until ``name`` has fired ``count`` times; return the last one."""
    page.wait_for_function(
        "([name, count]) => window.__porchEvents.filter(e => e.name === name).length >= count",
        arg=[name, count],
        timeout=timeout,
    )
    return events(page, name)[-1]


def wait_for_status(page: Page, status: str, timeout: float = 60_000) -> None:
    """Wait until the latest connection_state_changed says ``status``."""
    page.wait_for_function(
        """(status) => {
             const s = window.__porchEvents.filter(e => e.name === 'connection_state_changed');
             return s.length && s[s.length - 1].payload.status === status; }""",
        arg=status,
        timeout=timeout,
    )


class AgentClient:
    """An agent speaking the real protocol over a real WebSocket (the console's e2e test drives
    the PyScript console itself; other tests use this to stay fast and focused)."""

    def __init__(
        self, server: PorchServer, email: str = "agent@porch.demo", password: str = "porch-demo"
    ) -> None:
        from websockets.sync.client import connect

        from porch_protocol import AgentHello, AgentWelcome, decode, encode

        response = httpx.post(
            f"{server.url}/api/v1/agent/login",
            json={"email": email, "password": password},
            verify=server.tls is None,  # a TLS test server's certificate is self-signed
        )
        response.raise_for_status()
        self._decode = decode
        self._encode = encode
        self._stack = contextlib.ExitStack()
        tls = None
        if server.tls is not None:
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        self.socket = self._stack.enter_context(
            connect(server.url.replace("http", "ws", 1) + "/ws/agent", ssl=tls)
        )
        self.socket.send(encode(AgentHello(token=response.json()["token"])))
        welcome = self.receive()
        assert isinstance(welcome, AgentWelcome)
        self.welcome = welcome

    def send(self, frame: Any) -> None:
        self.socket.send(self._encode(frame))

    def receive(self, timeout: float = 30) -> Any:
        return self._decode(self.socket.recv(timeout=timeout), max_chars=None)

    def wait_for(self, predicate: Any, timeout: float = 30) -> Any:
        """Read frames until one satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.receive(timeout=max(0.1, deadline - time.monotonic()))
            if predicate(frame):
                return frame

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def agent(porch_server: PorchServer) -> Iterator[AgentClient]:
    client = AgentClient(porch_server)
    yield client
    client.close()


LAUNCHER = 'iframe[data-twt-widget-surface="launcher"]'
PANEL = 'iframe[data-twt-widget-surface="panel"]'


def open_chat(page: Page) -> None:
    """Click the launcher as a visitor would and wait until the runtime is activated."""
    page.wait_for_selector(LAUNCHER)
    page.frame_locator(LAUNCHER).locator("#launcher").click()
    wait_for_event(page, "runtime_activated")


def send_from_panel(page: Page, text: str) -> None:
    panel = page.frame_locator(PANEL)
    panel.locator("#composer-text").fill(text)
    panel.locator("#composer-text").press("Enter")
