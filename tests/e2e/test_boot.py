"""How the runtime boots: from the build's Pyodide memory snapshot, or without it when it fails."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, Route

from conftest import PorchServer, open_chat


def _runtime_logs(page: Page) -> list[str]:
    logs: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.text.startswith("[porch runtime]"):
            logs.append(message.text)

    page.on("console", keep)
    return logs


def test_the_runtime_boots_from_the_memory_snapshot(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    logs = _runtime_logs(recorded_page)
    recorded_page.goto(f"{porch_server.url}/demo/")
    open_chat(recorded_page)
    assert any("booted from the snapshot" in line for line in logs), logs


def test_a_broken_snapshot_falls_back_to_a_plain_boot(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    logs = _runtime_logs(recorded_page)

    def corrupt(route: Route) -> None:
        route.fulfill(status=200, body=b"not a gzip stream")

    recorded_page.route("**/snapshot.bin.gz*", corrupt)
    recorded_page.goto(f"{porch_server.url}/demo/")
    open_chat(recorded_page)
    assert any("snapshot boot failed" in line for line in logs), logs
    assert any(line.startswith("[porch runtime] Pyodide booted in") for line in logs), logs
