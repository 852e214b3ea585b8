"""Compile the agent console's Python ahead of time: ``public/agent/console-bytecode.zip``.

The console's PyScript worker used to compile, on every visit, PyScript's own Python package
(which PyScript writes to the worker's file system before the console runs) and the console's
modules; the first use of Python's compiler also costs V8's lazy compilation of the compiler's
wasm functions. This writes their bytecode once, at build time, compiled by the pinned Pyodide
itself (Node and the npm package: the bytecode is the interpreter's own, magic number included;
the CPython that runs the build is another version), as PEP 552 *unchecked* hash-based ``.pyc``
files: valid whatever the source files' modification times, which PyScript's writes change.

They are compiled with ``-OO``, as the snapshot's interpreter runs (``build_snapshot.py``), so
their names (``…opt-2.pyc``) are the ones that interpreter looks up; a plain boot (no snapshot)
runs without the flag and ignores them. ``loader/console_pyodide.js`` fetches the zip while
Pyodide boots and unpacks it into the worker's working directory, where PyScript writes the
sources. Unchecked means a stale ``.pyc`` would run instead of its source: the zip is rebuilt
whenever a source changes (its key), and PyScript's sources are the npm package's own artifact,
checked against the bundle the console loads.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The console's own modules (public/agent/, relative to the worker's working directory) that its
#: snapshot cannot hold (they import ``js`` or ``pyscript``; build_snapshot.CONSOLE_PRELOADED
#: has the others). ``console.py`` is imported by ``console_main.py``, PyScript's main script, so
#: that its bytecode is used: PyScript compiles a main script's source itself.
CONSOLE_MODULES = ("console.py",)
BYTECODE_ZIP = "console-bytecode.zip"
#: In Node: compile ``sources`` (relative path -> text, from the JSON file argv[1]) in the pinned
#: Pyodide, unchecked hash-based, optimization 2; write {pyc path: base64} to argv[2]. PyScript's
#: package is read from the npm package's artifact and must be the one its bundle carries (argv[3]).
COMPILE_JS = """
import fs from "node:fs";
import { loadPyodide } from "__PYODIDE__";
import stdlib from "__PYSCRIPT_STDLIB__";
const [sourcesPath, outPath, bundlePath] = process.argv.slice(1);
const sources = JSON.parse(fs.readFileSync(sourcesPath, "utf8"));
const bundle = fs.readFileSync(bundlePath, "utf8");
for (const [name, text] of Object.entries(stdlib.pyscript)) {
  if (!bundle.includes(JSON.stringify(text))) {
    throw new Error("pyscript/" + name + " is not the source PyScript's bundle writes");
  }
  sources["pyscript/" + name] = text;
}
const py = await loadPyodide({ stdout: () => {}, stderr: (line) => console.error(line) });
py.globals.set("sources", py.toPy(sources));
const compiled = py.runPython(`
import base64, importlib.util, os, py_compile
compiled = {}
for name, text in sources.items():
    path = "/home/pyodide/" + name
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    cfile = importlib.util.cache_from_source(path, optimization=2)
    py_compile.compile(path, cfile, doraise=True, optimize=2,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    with open(cfile, "rb") as file:
        compiled[os.path.relpath(cfile, "/home/pyodide")] = base64.b64encode(file.read()).decode()
compiled
`).toJs({ dict_converter: Object.fromEntries });
fs.writeFileSync(outPath, JSON.stringify(compiled));
"""


def build_console_bytecode(out: Path, pyodide_version: str) -> str:
    """Write ``agent/console-bytecode.zip`` under ``out`` if it is missing or stale; return its
    short hash (the console's URL of it). ~5 s of Node when something changed."""
    agent = out / "agent"
    sources = {name: (ROOT / "public" / "agent" / name).read_text() for name in CONSOLE_MODULES}
    bundle = _pyscript_bundle(out)
    stdlib = ROOT / "node_modules" / "@pyscript" / "core" / "src" / "stdlib" / "pyscript.js"
    key = hashlib.sha256(
        json.dumps(
            [pyodide_version, sources, stdlib.read_text(), bundle.read_text(), COMPILE_JS]
        ).encode()
    ).hexdigest()[:16]
    target, meta_path = agent / BYTECODE_ZIP, agent / "console-bytecode.json"
    if target.exists() and meta_path.exists() and json.loads(meta_path.read_text())["key"] == key:
        return str(json.loads(meta_path.read_text())["hash"])
    script = COMPILE_JS.replace(
        "__PYODIDE__", (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").as_uri()
    ).replace("__PYSCRIPT_STDLIB__", stdlib.as_uri())
    with tempfile.TemporaryDirectory() as tmp:
        sources_path, compiled_path = Path(tmp) / "sources.json", Path(tmp) / "compiled.json"
        sources_path.write_text(json.dumps(sources))
        subprocess.run(
            [
                "node",
                "--input-type=module",
                "-e",
                script,
                str(sources_path),
                str(compiled_path),
                str(bundle),
            ],
            check=True,
        )
        compiled = json.loads(compiled_path.read_text())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(compiled):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, base64.b64decode(compiled[name]))
    data = buffer.getvalue()
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()[:16]
    meta_path.write_text(json.dumps({"key": key, "hash": digest, "files": sorted(compiled)}))
    print(f"compiled the console's Python: {len(compiled)} modules, {len(data) / 1e3:.0f} KB")
    return digest


def _pyscript_bundle(out: Path) -> Path:
    """PyScript's bundle that the console loads (``vendor/pyscript/core.js`` re-exports it)."""
    pyscript = out / "vendor" / "pyscript"
    entry = (pyscript / "core.js").read_text()
    start = entry.index('from"./') + len('from"./')
    return pyscript / entry[start : entry.index('"', start)]
