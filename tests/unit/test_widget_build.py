"""The build's widget bundling (tools/build_public.py), without a browser: a page's script carries
the modules it imports, each once, ahead of it; the launcher's script carries only its strings."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import build_public  # noqa: E402

SOURCES = {
    "entry.js": 'import { a, b } from "./one.js";\nimport { c } from "./two.js";\nuse(a, b, c);\n',
    "one.js": 'import { c } from "./two.js";\nexport const a = c;\nexport function b() {}\n',
    "two.js": "export const c = 1;\n",
}


#: Every value the build fills in, as a token a test can build with.
_TOKENS = (
    build_public.SERVER_URL_TOKEN,
    build_public.VERSION_TOKEN,
    build_public.RUNTIME_HASH_TOKEN,
    build_public.SNAPSHOT_HASH_TOKEN,
    build_public.CONSOLE_SNAPSHOT_HASH_TOKEN,
    build_public.CONSOLE_BYTECODE_TOKEN,
    build_public.BOOT_STDLIB_TOKEN,
    build_public.SNAPSHOT_DELTA_TOKEN,
    build_public.LOCK_INFO_TOKEN,
)


def test_dependencies_come_first_once_without_their_exports() -> None:
    bundled = build_public.bundle("entry.js", SOURCES)
    assert "import" not in bundled
    assert "export" not in bundled
    assert bundled.count("const c = 1;") == 1
    assert bundled.index("const c = 1;") < bundled.index("const a = c;") < bundled.index("use(")


def test_a_renamed_import_is_refused() -> None:
    sources = {**SOURCES, "entry.js": 'import { a as z } from "./one.js";\nuse(z);\n'}
    with pytest.raises(SystemExit, match="rename"):
        build_public.bundle("entry.js", sources)


def test_the_real_widget_scripts_bundle_into_valid_modules() -> None:
    loader = ROOT / "loader"
    sources = {path.name: path.read_text() for path in loader.glob("*.js")}
    for entry in ("launcher.js", "panel.js"):
        bundled = build_public.bundle(entry, sources)
        assert not re.search(r'^import .* from "\./', bundled, re.M), entry
        # Node parses it as a module: a name declared by two of the modules would fail here.
        done = subprocess.run(
            ["node", "--input-type=module", "--check"],
            input=bundled,
            text=True,
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr


def test_the_launcher_carries_only_its_strings() -> None:
    build = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            build_public.LAUNCHER_STRINGS_JS,
            (ROOT / "loader" / "strings.js").as_uri(),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = re.search(r"export const STRINGS = (\{.*?\});\n", build)
    assert table is not None
    keys = set(re.findall(r'"(\w+)":"', table[1]))
    assert keys == {"launcher", "open", "close", "unread"}
    assert "export function t(" in build


def test_the_panel_names_the_built_worker_by_its_content(tmp_path: Path) -> None:
    """The panel's URL of the worker carries the built worker's hash, so the immutable cache entry
    of one build is never used for another's worker."""
    tokens = dict.fromkeys(_TOKENS, "0")
    build_public.build_loader(tmp_path, tokens)
    worker = (tmp_path / "widget" / "worker.js").read_bytes()
    named = re.findall(r"worker\.js\?h=(\w+)", (tmp_path / "widget" / "panel.js").read_text())
    assert named == [hashlib.sha256(worker).hexdigest()[:16]]
    assert build_public.WORKER_HASH_TOKEN.encode() not in worker


def test_the_tawk_api_is_only_in_its_own_script(tmp_path: Path) -> None:
    """A TWTChatWidget site never loads the Tawk_API façade; tawk.js is core.js with it inside
    (one closure), and both are valid scripts."""
    tokens = dict.fromkeys(_TOKENS, "0")
    build_public.build_loader(tmp_path, tokens)
    core = (tmp_path / "install" / "core.js").read_text()
    tawk = (tmp_path / "install" / "tawk.js").read_text()
    assert "Tawk_API" not in core and "tawkLoad" not in core
    assert "Tawk_API" in tawk and "tawkLoad" in tawk and "TWTChatWidget" in tawk
    for script in (core, tawk):
        done = subprocess.run(["node", "--check"], input=script, text=True, capture_output=True)
        assert done.returncode == 0, done.stderr


def test_the_console_loads_every_module_of_the_protocol() -> None:
    """PyScript fetches only the files public/agent/pyscript.json lists: a protocol module
    missing there (links.py, say) would break the console's imports."""
    import json

    listed = json.loads((ROOT / "public" / "agent" / "pyscript.json").read_text())["files"]
    modules = sorted((ROOT / "runtime" / "porch_protocol").glob("*.py"))
    assert [f"./porch_protocol/{m.name}" for m in modules] == sorted(
        k for k in listed if k.startswith("./porch_protocol/")
    )
