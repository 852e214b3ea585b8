"""uvicorn against granian, A/B in one run: ``pip install granian`` then
``python tests/bench/asgi.py [rounds]``.

Serves the same app and SQLite database with each ASGI server in turn (alternating, so a busy
machine burdens both alike) and runs the load generator (``load.py``) against each: messages
routed per second with the ack's p99, the round trip, and the server's memory per idle
connection. The figures and the decision they led to are in docs/performance.md ("Round 2",
the ASGI server). granian is not a dependency of Porch; this tool is how the choice can be
measured again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from conftest import LOOPBACK_LIMITS  # noqa: E402

LOAD = ["--connections", "300", "--round-trips", "50", "--senders", "20", "--seconds", "6",
        "--deadline", "60"]  # fmt: skip


def servers(port: int) -> dict[str, list[str]]:
    granian = str(Path(sys.executable).with_name("granian"))
    return {
        "uvicorn": [sys.executable, "-m", "porch_server", "serve", "--port", str(port)],
        "granian": [granian, "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                    "--loop", "asyncio", "--factory", "porch_server.app:app_from_env"],
    }  # fmt: skip


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # a port that is not listening yet: nothing to await
    raise RuntimeError("the server did not become healthy")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    workdir = Path(tempfile.mkdtemp())
    env = {
        **os.environ,
        "PORCH_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'porch.db'}",
        "PORCH_LIMITS": LOOPBACK_LIMITS,
    }
    seed = subprocess.Popen(
        [sys.executable, "-m", "porch_server", "demo", "--port", "8911"], env=env, cwd=ROOT
    )
    wait_healthy(8911, seed)
    seed.terminate()
    seed.wait()
    results: dict[str, list[dict[str, float]]] = {"uvicorn": [], "granian": []}
    port = 8920
    for _ in range(rounds):
        for name in results:
            port += 1
            process = subprocess.Popen(
                servers(port)[name], env={**env, "PORT": str(port)}, cwd=ROOT
            )
            try:
                wait_healthy(port, process)
                done = subprocess.run(
                    [sys.executable, str(Path(__file__).with_name("load.py")), "--url",
                     f"http://127.0.0.1:{port}", "--server-pid", str(process.pid), *LOAD],
                    capture_output=True, text=True, timeout=300, cwd=ROOT, check=True,
                )  # fmt: skip
                figures = json.loads(done.stdout)
                results[name].append(
                    {
                        "per_second": figures["routing"]["per_second"],
                        "ack_p99_ms": figures["routing"]["ack_ms"]["p99"],
                        "round_trip_p50_ms": figures["round_trip_ms"]["p50"],
                        "kib_per_connection": figures["connections"]["kib_per_connection"],
                    }
                )
                print(name, results[name][-1], flush=True)
            finally:
                process.terminate()
                process.wait(20)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
