"""How the runtime boots: from the build's Pyodide memory snapshot (sent Brotli-encoded by the
server, or gzipped from a plain static host) with the trimmed standard library, from the copy kept
in Cache Storage on a repeat visit, or without a snapshot when it fails; and how an import the
trimmed standard library lacks still works."""

from __future__ import annotations

import json
import zipfile

from playwright.sync_api import ConsoleMessage, Page, Request, Route

from conftest import EVENT_RECORDER, ROOT, AgentClient, PorchServer, open_chat
from porch_protocol import SendMessage
from widget_support import open_visitor, start_conversation

PYODIDE = ROOT / "public" / "vendor" / "pyodide"


def _runtime_logs(page: Page) -> list[str]:
    logs: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.text.startswith("[porch runtime]"):
            logs.append(message.text)

    page.on("console", keep)
    return logs


def _snapshot_boots(logs: list[str]) -> list[str]:
    return [line for line in logs if "booted from the snapshot" in line]


def test_the_runtime_boots_from_the_brotli_snapshot_then_from_cache_storage(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    encodings: list[str | None] = []
    recorded_page.on(
        "response",
        lambda r: (
            encodings.append(r.headers.get("content-encoding"))
            if "/snapshot.bin?" in r.url
            else None
        ),
    )
    logs = _runtime_logs(recorded_page)
    pyodide_files = _pyodide_requests(recorded_page)
    runtime_zips = _runtime_zip_requests(recorded_page)
    recorded_page.goto(f"{porch_server.url}/demo/")
    open_chat(recorded_page)
    assert [b.split(" in ")[0] for b in _snapshot_boots(logs)] == [
        "[porch runtime] Pyodide booted from the snapshot (http)"
    ]
    # The trimmed standard library, not the full one; no lock file (the worker passes its own).
    assert any("/python_stdlib_trimmed.zip?h=" in url for url in pyodide_files), pyodide_files
    assert not [u for u in pyodide_files if "/python_stdlib.zip" in u or "lock.json" in u]
    # The runtime, its browser adapter included, is in the snapshot: its zip is not needed.
    assert runtime_zips == []
    # The launcher's prefetch on hover and the worker's own request: both Brotli-encoded.
    assert encodings and set(encodings) == {"br"}
    # The inflated snapshot is kept after the boot: wait for that, not for a fixed time.
    if not any("kept the snapshot" in line for line in logs):
        recorded_page.wait_for_event("console", lambda m: "kept the snapshot" in m.text)

    # A second visit in the same browser profile boots from Cache Storage, not the network.
    again = recorded_page.context.new_page()
    again.add_init_script(EVENT_RECORDER)
    again_logs = _runtime_logs(again)
    fetched: list[str] = []
    again.on("request", lambda r: fetched.append(r.url) if "snapshot.bin" in r.url else None)
    again.goto(f"{porch_server.url}/demo/")
    open_chat(again)
    assert [b.split(" in ")[0] for b in _snapshot_boots(again_logs)] == [
        "[porch runtime] Pyodide booted from the snapshot (cache)"
    ]
    assert fetched == []
    # Both runtimes came from one snapshot, yet `random` was seeded anew in each.
    draws = [
        next(w for w in p.workers if "/widget/worker.js" in w.url).evaluate(
            "() => self.pyodide.runPython('import random; random.getrandbits(48)')"
        )
        for p in (recorded_page, again)
    ]
    assert draws[0] != draws[1], draws


def test_a_plain_static_host_serves_the_gzipped_snapshot(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    """No server-side coding: ``snapshot.bin`` does not exist, the worker inflates the .gz."""
    logs = _runtime_logs(recorded_page)
    recorded_page.route("**/snapshot.bin?*", lambda route: route.fulfill(status=404, body=b""))
    recorded_page.goto(f"{porch_server.url}/demo/")
    open_chat(recorded_page)
    assert [b.split(" in ")[0] for b in _snapshot_boots(logs)] == [
        "[porch runtime] Pyodide booted from the snapshot (http.gz)"
    ]


def test_a_broken_snapshot_falls_back_to_a_plain_boot(
    recorded_page: Page, porch_server: PorchServer
) -> None:
    logs = _runtime_logs(recorded_page)

    def corrupt(route: Route) -> None:
        route.fulfill(status=200, body=b"not a memory snapshot")

    recorded_page.route("**/snapshot.bin?*", corrupt)
    runtime_zips = _runtime_zip_requests(recorded_page)
    recorded_page.goto(f"{porch_server.url}/demo/")
    open_chat(recorded_page)
    assert any("snapshot boot failed" in line for line in logs), logs
    assert any(line.startswith("[porch runtime] Pyodide booted in") for line in logs), logs
    # A plain boot has only Pyodide: the runtime comes from its zip (the worker's own request).
    assert len(runtime_zips) == 1, runtime_zips


def _runtime_zip_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url) if "/porch_runtime.zip" in r.url else None)
    return urls


def _pyodide_requests(page: Page) -> list[str]:
    urls: list[str] = []

    def keep(request: Request) -> None:
        if "/vendor/pyodide/" in request.url:
            urls.append(request.url)

    page.on("request", keep)
    return urls


def test_a_chat_needs_only_the_trimmed_stdlib_and_other_imports_fetch_the_full_one(
    page: Page, porch_server: PorchServer, agent: AgentClient
) -> None:
    pyodide_files = _pyodide_requests(page)
    panel = open_visitor(page, porch_server)
    first = start_conversation(panel, agent, "Is the standard library enough?")
    agent.send(
        SendMessage(
            client_id="stdlib-1", text="It is.", conversation_id=first.message.conversation_id
        )
    )
    panel.wait_for_message("It is.", author="agent")
    assert not [url for url in pyodide_files if "/python_stdlib.zip" in url]

    # A module the trimmed zip lacks (and the snapshot never imported) still imports: the full
    # standard library is fetched then, once.
    with zipfile.ZipFile(PYODIDE / "python_stdlib_trimmed.zip") as trimmed:
        assert not [name for name in trimmed.namelist() if name.startswith("difflib")]
    worker = next(w for w in page.workers if "/widget/worker.js" in w.url)
    ratio = worker.evaluate(
        """() => self.pyodide.runPython(
             "import difflib, sys\\n"
             + "assert 'difflib' in sys.modules\\n"
             + "difflib.SequenceMatcher(None, 'porch', 'perch').ratio()")"""
    )
    assert ratio == 0.8
    assert [url for url in pyodide_files if "/python_stdlib.zip" in url] == [
        f"{porch_server.url}/vendor/pyodide/python_stdlib.zip"
    ]
    assert worker.evaluate(
        "() => self.pyodide.runPython('import colorsys; colorsys.__file__')"
    ) == ("/lib/python_stdlib_full.zip/colorsys.py")
    assert len([url for url in pyodide_files if "/python_stdlib.zip" in url]) == 1


def test_the_snapshot_holds_compiled_codecs_and_line_numbers_without_columns(
    page: Page, porch_server: PorchServer
) -> None:
    """build_snapshot compiles every frame type's codec (a restored runtime never compiles
    Python) and drops the column part of the location tables it freezes (line_tables.py): a
    traceback through the standard library still names its lines; the runtime keeps both."""
    open_visitor(page, porch_server)
    worker = next(w for w in page.workers if "/widget/worker.js" in w.url)
    found = json.loads(
        worker.evaluate(
            """() => self.pyodide.runPython([
                 "import json, sys, traceback",
                 "from porch_protocol import wire",
                 "from porch_runtime.core import VisitorRuntime",
                 "try:",
                 "    json.loads('{x')",
                 "except ValueError:",
                 "    frames = traceback.extract_tb(sys.exc_info()[2])",
                 "json.dumps({",
                 "    'decoder': [f.lineno for f in frames if f.filename.endswith('decoder.py')],",
                 "    'stdlib': sorted({str(p[2]) for p in json.loads.__code__.co_positions()}),",
                 "    'runtime': [p[2] for p in VisitorRuntime.__init__.__code__.co_positions()],",
                 "    'codecs': [c.TYPE for c in wire._REGISTRY.values()",
                 "               if c not in wire._DECODERS or c not in wire._FRAME_ENCODERS],",
                 "})",
               ].join("\\n"))"""
        )
    )
    assert found["decoder"] and all(isinstance(n, int) and n > 0 for n in found["decoder"])
    assert found["stdlib"] == ["None"]
    assert any(column is not None for column in found["runtime"])
    assert found["codecs"] == []
