"""Docs that are generated from, or must agree with, the code."""

from __future__ import annotations

import re
from pathlib import Path

from porch_protocol import frame_types
from porch_runtime import bridge

ROOT = Path(__file__).resolve().parents[3]


def test_the_runtime_state_diagram_is_generated_from_the_transition_table() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import state_diagram

    document = (ROOT / "docs" / "runtime.md").read_text()
    assert state_diagram.render(document) == document, "run: python tools/state_diagram.py --write"


def test_every_frame_type_is_documented_in_the_protocol_doc() -> None:
    document = (ROOT / "docs" / "protocol.md").read_text()
    missing = [name for name in frame_types() if f"`{name}`" not in document]
    assert missing == []


def _js_list(source: str, name: str) -> set[str]:
    match = re.search(rf"export const {name} = \[(.*?)\];", source, re.S)
    assert match, name
    return set(re.findall(r'"([^"]+)"', match.group(1)))


def test_the_js_bridge_lists_agree_with_the_python_runtime() -> None:
    source = (ROOT / "loader" / "bridge.js").read_text()
    assert _js_list(source, "PANEL_TO_RUNTIME") == bridge.PANEL_TO_RUNTIME
    assert _js_list(source, "RUNTIME_TO_PANEL") == bridge.RUNTIME_TO_PANEL


def test_the_host_sdk_accepts_exactly_the_events_the_runtime_raises() -> None:
    source = (ROOT / "loader" / "core.js").read_text()
    block = re.search(r"var RUNTIME_EVENTS = \{(.*?)\n  \};", source, re.S)
    assert block
    names = set(re.findall(r"^\s{4}(\w+):", block.group(1), re.M))
    assert names == bridge.RUNTIME_EVENTS


def test_the_host_sdk_gives_the_runtime_exactly_its_commands() -> None:
    source = (ROOT / "loader" / "core.js").read_text()
    match = re.search(r"var RUNTIME_COMMANDS = \[(.*?)\];", source, re.S)
    assert match
    assert set(re.findall(r'"([^"]+)"', match.group(1))) == set(bridge.HOST_COMMANDS)


def test_the_host_sdk_handles_exactly_what_the_widget_pages_send() -> None:
    core = (ROOT / "loader" / "core.js").read_text()
    pages = (ROOT / "loader" / "bridge.js").read_text()
    for table, sender in (
        ("LAUNCHER_MESSAGES", "LAUNCHER_TO_HOST"),
        ("PANEL_MESSAGES", "PANEL_TO_HOST"),
    ):
        block = re.search(rf"var {table} = \{{(.*?)\n  \}};", core, re.S)
        assert block, table
        handled = set(re.findall(r'^\s{4}"([a-z.]+)":', block.group(1), re.M))
        assert handled == _js_list(pages, sender), table


def test_the_host_sdk_and_the_runtime_support_the_same_locales() -> None:
    # The host SDK and the agent console get LOCALES from locale.js (the build puts it in).
    assert "/* __PORCH_LOCALE__ */" in (ROOT / "loader" / "core.js").read_text()
    source = (ROOT / "loader" / "locale.js").read_text()
    match = re.search(r"var LOCALES = \[(.*?)\];", source)
    assert match
    assert tuple(re.findall(r'"([^"]+)"', match.group(1))) == bridge.LOCALES


def test_every_bridge_message_is_documented() -> None:
    document = (ROOT / "docs" / "bridge.md").read_text()
    source = (ROOT / "loader" / "bridge.js").read_text()
    names = set(re.findall(r'"([a-z]+\.[a-z_]+)"', source))
    missing = sorted(n for n in names if f"`{n}`" not in document)
    assert missing == []
