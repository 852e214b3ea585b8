"""Build the static site root ``public/`` from the tracked sources.

What it writes (all git-ignored):

- ``public/install/core.js``: the host SDK, from ``loader/core.js``, minified;
- ``public/install/tawk.js``: the same with the ``Tawk_API`` façade (``loader/tawk.js``) inside,
  which the server answers at tawk.to's embed URL ``/<propertyId>/<widgetId>``;
- ``public/widget/*.js``: the launcher, panel and worker scripts, from ``loader/``, each bundled
  with the modules it imports (see :func:`bundle`) and minified;
- ``public/widget/launcher.html``, ``panel.html``: the widget's pages, from ``loader/``, with their
  stylesheets inlined (see :func:`build_widget_pages`);
- ``public/widget/porch_runtime.zip``: the Python runtime (``porch_protocol`` + ``porch_runtime``)
  that the worker unpacks into Pyodide's ``site-packages``;
- ``public/vendor/pyodide/``: Pyodide from the pinned npm package, plus the micropip and packaging
  wheels from PyPI, with a ``pyodide-lock.json`` rewritten to the hashes of the served wheels;
- ``public/vendor/pyscript/``: PyScript from the pinned npm package, for the agent console;
- ``public/agent/porch_protocol/``: the protocol module the agent console imports;
- ``public/vendor/pyodide/console-snapshot.bin.gz``: the agent console's own snapshot, with its
  pure modules imported (``build_snapshot.CONSOLE_PRELOADED``), and its ``.br`` sibling;
- ``public/agent/console-bytecode.zip``: the console's Python compiled at build time, for a
  snapshot boot (``console_bytecode.py``);
- ``public/agent/pyodide.mjs``: the console's Pyodide loader, booting from the snapshot
  (``loader/console_pyodide.js``);
- ``public/agent/i18n.js``: the console's language and strings (``loader/console_i18n.js`` with
  ``loader/locale.js`` and the table ``loader/console_strings.json`` put in);
- ``public/vendor/pyodide/snapshot.bin.gz``: a Pyodide memory snapshot the worker boots from,
  when a Chromium is available to make it, and ``python_stdlib_trimmed.zip``, the standard library
  it boots with (see ``build_snapshot.py``; ``--no-snapshot`` skips both);
- ``public/widget/build.json``: versions and the runtime zip's hash, for cache-busting;
- a ``.br`` and a ``.gz`` sibling of every script, wasm, zip, JSON, CSS and HTML file above (and
  ``snapshot.bin.br``), which the Porch server sends precompressed (see :func:`precompress`).

``--server-url`` (or ``PORCH_SERVER_URL``) bakes the chat server's base URL into the loader for a
split deployment, where ``public/`` is served by a static host and the server runs elsewhere; left
empty, the widget talks to the origin that serves ``core.js``.

Run through ``make build``; it is incremental (unchanged large files are not copied again).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import wasm_exports
from build_snapshot import CONSOLE_FILES, CONSOLE_PRELOADED, TRIMMED_STDLIB, build_snapshot
from console_bytecode import build_console_bytecode

ROOT = Path(__file__).resolve().parent.parent
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
)
#: Binaryen's optimizer over Pyodide's wasm (npm ``binaryen``, issue 15): for size. The wasm
#: declares no features (no target_features section), so they are named here, exactly those it
#: uses: with ``--all-features`` Binaryen writes types browsers do not take (``stringref``). It
#: has no name or producers section to strip. Unused exports go in a second pass
#: (:func:`without_unused_exports`).
WASM_OPT_FLAGS = (
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-reference-types",
    "--enable-exception-handling",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
    "-Oz",
)
#: Wheels Pyodide's loader may ask for (PyScript installs micropip when a page lists packages).
#: Versions are those of the pinned Pyodide's lock file; the build checks they agree.
WHEELS = ("micropip==0.11.1", "packaging==26.1")
#: loader/ source -> public/ destination (the widget's modules bring what they import along),
#: in build order: the panel names the built worker's content (WORKER_HASH_TOKEN).
LOADER_FILES = {
    "core.js": "install/core.js",
    "tawk.js": "install/tawk.js",
    "launcher.js": "widget/launcher.js",
    "worker.js": "widget/worker.js",
    "panel.js": "widget/panel.js",
    "console_pyodide.js": "agent/pyodide.mjs",
    "console_i18n.js": "agent/i18n.js",
}
#: The widget's pages (loader/ -> public/widget/); each <link rel="stylesheet"> becomes a <style>.
WIDGET_PAGES = ("launcher.html", "panel.html")
#: A module's import of a sibling module, which bundle() inlines.
SIBLING_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w-]+\.js)";\n', re.M)
STYLESHEET_LINK = re.compile(r'<link rel="stylesheet" href="([\w-]+\.css)">')
SCRIPT_SRC = re.compile(r'src="([\w-]+\.js)"')
#: Only the launcher's strings of strings.js (its LAUNCHER_KEYS), with the same t(), as a module.
LAUNCHER_STRINGS_JS = """
const m = await import(process.argv[1]);
const table = Object.fromEntries(Object.entries(m.STRINGS).map(([locale, strings]) =>
  [locale, Object.fromEntries(m.LAUNCHER_KEYS.map((key) => [key, strings[key]]))]));
process.stdout.write(
  "export const STRINGS = " + JSON.stringify(table) + ";\\nexport " + m.t + "\\n");
"""
#: Plain scripts, not modules: the host page's, and the console's first script (it runs in <head>
#: before the body is parsed). tawk.js is core.js with the Tawk_API façade (loader/tawk.js) put in
#: at FACADE_MARK, so a TWTChatWidget site never loads it.
HOST_SCRIPTS = ("core.js", "tawk.js", "console_i18n.js")
FACADE_MARK = "/* __PORCH_FACADE__ */"
#: Where loader/locale.js (the languages and their normalization) goes into the host SDK and the
#: console's script: one copy of the rules for both.
LOCALE_MARK = "/* __PORCH_LOCALE__ */"
#: The agent console's string table (loader/console_strings.json), in its script.
CONSOLE_STRINGS_TOKEN = "__PORCH_CONSOLE_STRINGS__"
SERVER_URL_TOKEN = "__PORCH_SERVER_URL__"
VERSION_TOKEN = "__PORCH_VERSION__"
RUNTIME_HASH_TOKEN = "__PORCH_RUNTIME_HASH__"
SNAPSHOT_HASH_TOKEN = "__PORCH_SNAPSHOT_HASH__"
#: The agent console's snapshot (build_snapshot.CONSOLE_PRELOADED), in console_pyodide.js only.
CONSOLE_SNAPSHOT_HASH_TOKEN = "__PORCH_CONSOLE_SNAPSHOT_HASH__"
#: The snapshots' names (``vendor/pyodide/<name>.bin.gz``): the visitor runtime's, the console's.
SNAPSHOTS = ("snapshot", "console-snapshot")
#: The built worker.js's hash, in the panel's URL of it: cached as immutable, a repeat visit does
#: not revalidate it (a round trip on the way to a ready runtime).
WORKER_HASH_TOKEN = "__PORCH_WORKER_HASH__"
#: The standard library a snapshot boot starts with (the trimmed one), relative to Pyodide's folder.
BOOT_STDLIB_TOKEN = "__PORCH_BOOT_STDLIB__"
#: ``info`` of Pyodide's lock file: the worker passes a lock with no package (the runtime loads
#: none) instead of fetching the 120 KB file; Pyodide checks its ABI version.
LOCK_INFO_TOKEN = "__PORCH_PYODIDE_LOCK_INFO__"
#: How many bytes of the snapshot's memory are a delta against the wasm's data (build_snapshot.py).
SNAPSHOT_DELTA_TOKEN = "__PORCH_SNAPSHOT_DELTA_BYTES__"
#: The agent console's build-time bytecode (console_bytecode.py), for a snapshot boot only.
CONSOLE_BYTECODE_TOKEN = "__PORCH_CONSOLE_BYTECODE_HASH__"
#: Built folders whose files get precompressed siblings, and which files are worth it.
PRECOMPRESSED_DIRS = ("install", "widget", "vendor")
#: Built files of public/agent/, whose other files are tracked sources that may be edited between
#: builds (a sibling older than its source would be served).
PRECOMPRESSED_AGENT_FILES = ("i18n.js", "pyodide.mjs")
COMPRESSIBLE = frozenset({".js", ".mjs", ".wasm", ".json", ".css", ".html", ".zip", ".whl"})
#: Brotli at its best setting, done once per changed file by Node's zlib (no Python dependency);
#: argv: pairs of source and target; a source ending in .gz is inflated first.
BROTLI_JS = """
const zlib = require("zlib"), fs = require("fs");
const args = process.argv.slice(1);
for (let i = 0; i < args.length; i += 2) {
  let data = fs.readFileSync(args[i]);
  if (args[i].endsWith(".gz")) data = zlib.gunzipSync(data);
  fs.writeFileSync(args[i + 1], zlib.brotliCompressSync(data, { params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
    [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
  } }));
}
"""


def _copy_if_changed(src: Path, dst: Path) -> None:
    if (
        dst.exists()
        and dst.stat().st_size == src.stat().st_size
        and dst.stat().st_mtime >= src.stat().st_mtime
    ):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _write_if_changed(dst: Path, data: bytes) -> None:
    if dst.exists() and dst.read_bytes() == data:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pyodide_version() -> str:
    package = json.loads((ROOT / "node_modules" / "pyodide" / "package.json").read_text())
    return str(package["version"])


def _package_version() -> str:
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit("pyproject.toml has no version")


def build_pyodide(out: Path) -> dict[str, object]:
    """Copy Pyodide and the wheels; return the ``info`` of the lock file it serves."""
    src = ROOT / "node_modules" / "pyodide"
    if not (src / "pyodide.mjs").exists():
        raise SystemExit("node_modules/pyodide is missing: run `npm ci` (make build does)")
    dst = out / "vendor" / "pyodide"
    for name in PYODIDE_FILES:
        if name == "pyodide.asm.wasm":
            _copy_if_changed(without_unused_exports(optimized_wasm(src / name), src), dst / name)
        else:
            _copy_if_changed(src / name, dst / name)
    lock = json.loads((src / "pyodide-lock.json").read_text())
    cache = ROOT / "var" / "wheels"
    for requirement in WHEELS:
        name, version = requirement.split("==")
        entry = lock["packages"][name]
        if entry["version"] != version:
            raise SystemExit(f"{name}: lock has {entry['version']}, build pins {version}")
        wheel = cache / entry["file_name"]
        if not wheel.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--python-version",
                    "3.14",
                    "--dest",
                    str(cache),
                    requirement,
                ],
                check=True,
            )
        _copy_if_changed(wheel, dst / wheel.name)
        # PyPI's wheel is not byte-identical to the one Pyodide's lock describes: serve a lock
        # that matches what is served, or Pyodide refuses the file.
        entry["sha256"] = _sha256(wheel)
    _write_if_changed(dst / "pyodide-lock.json", json.dumps(lock, indent=1).encode())
    return dict(lock["info"])


def optimized_wasm(wasm: Path) -> Path:
    """``wasm`` after ``wasm-opt`` (:data:`WASM_OPT_FLAGS`), kept in ``var/wasm-opt/`` under a
    key of its input, the flags and Binaryen's version: the 80-second pass runs once per
    Pyodide upgrade, not once per build. The snapshot is made from this very file."""
    binaryen = ROOT / "node_modules" / "binaryen"
    version = json.loads((binaryen / "package.json").read_text())["version"]
    key = hashlib.sha256("\0".join([_sha256(wasm), version, *WASM_OPT_FLAGS]).encode()).hexdigest()[
        :16
    ]
    target = ROOT / "var" / "wasm-opt" / f"{wasm.stem}-{key}.wasm"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        subprocess.run(
            [str(binaryen / "bin" / "wasm-opt"), str(wasm), *WASM_OPT_FLAGS, "-o", str(partial)],
            check=True,
        )
        partial.replace(target)
        print(f"wasm-opt: {wasm.name} {wasm.stat().st_size:,} -> {target.stat().st_size:,} bytes")
    return target


def without_unused_exports(wasm: Path, pyodide: Path) -> Path:
    """``wasm`` without the exports nothing beside it names (``tools/wasm_exports.py``), through
    Binaryen's ``wasm-metadce``, which removes the functions only those exports kept alive. Kept in
    ``var/wasm-opt/`` under a key of its input, the exports kept and Binaryen's version."""
    binaryen = ROOT / "node_modules" / "binaryen"
    version = json.loads((binaryen / "package.json").read_text())["version"]
    data = wasm.read_bytes()
    named = wasm_exports.words(
        wasm_exports.texts_beside(
            pyodide,
            [
                *(ROOT / "loader").glob("*.js"),
                *(ROOT / "node_modules/@pyscript/core/dist").glob("*.js"),
            ],
            [*(ROOT / "runtime").rglob("*.py"), *(ROOT / "public" / "agent").glob("*.py")],
        )
    )
    keep = wasm_exports.kept(data, named)
    key = hashlib.sha256("\0".join([_sha256(wasm), version, *keep]).encode()).hexdigest()[:16]
    target = ROOT / "var" / "wasm-opt" / f"{wasm.stem.split('-')[0]}-dce-{key}.wasm"
    if not target.exists():
        graph = target.with_suffix(".graph.json")
        graph.write_text(wasm_exports.metadce_graph(data, keep))
        partial = target.with_suffix(".partial")
        features = [flag for flag in WASM_OPT_FLAGS if flag.startswith("--enable-")]
        subprocess.run(
            [
                str(binaryen / "bin" / "wasm-metadce"),
                *features,
                "--graph-file",
                str(graph),
                str(wasm),
                "-o",
                str(partial),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        graph.unlink()
        partial.replace(target)
        print(
            f"wasm-metadce: {len(keep):,} of {len(wasm_exports.exports(data)):,} exports kept, "
            f"{len(data):,} -> {target.stat().st_size:,} bytes"
        )
    return target


def build_pyscript(out: Path) -> None:
    src = ROOT / "node_modules" / "@pyscript" / "core" / "dist"
    for path in src.iterdir():
        if path.suffix == ".map":
            continue
        _copy_if_changed(path, out / "vendor" / "pyscript" / path.name)


def build_runtime_zip(out: Path) -> str:
    """Zip the Python packages the worker imports; entries are sorted and timestamps fixed so
    the same sources always give the same bytes (and the same cache-busting hash)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in ("porch_protocol", "porch_runtime"):
            for path in sorted((ROOT / "runtime" / package).glob("*.py")):
                info = zipfile.ZipInfo(f"{package}/{path.name}", date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    _write_if_changed(out / "widget" / "porch_runtime.zip", data)
    return hashlib.sha256(data).hexdigest()[:16]


def build_agent_protocol(out: Path) -> None:
    for path in sorted((ROOT / "runtime" / "porch_protocol").glob("*.py")):
        _write_if_changed(out / "agent" / "porch_protocol" / path.name, path.read_bytes())


def build_loader(out: Path, tokens: dict[str, str]) -> None:
    """Fill in the build's values, bundle and minify: core.js runs on every page of the
    customer's site, and the launcher's script on every page that shows the widget, so their bytes
    are the cost every visitor pays (the sources in loader/ stay readable)."""
    loader = ROOT / "loader"
    sources = {path.name: path.read_text() for path in loader.glob("*.js")}
    launcher_strings = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            LAUNCHER_STRINGS_JS,
            (loader / "strings.js").as_uri(),
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for src_name, dst_name in LOADER_FILES.items():
        module = src_name not in HOST_SCRIPTS
        own = {"strings.js": launcher_strings} if src_name == "launcher.js" else {}
        if src_name == "tawk.js":
            # The Tawk_API façade lives inside core.js's closure, at its mark.
            text = sources["core.js"].replace(FACADE_MARK, sources["tawk.js"])
        else:
            text = bundle(src_name, {**sources, **own}) if module else sources[src_name]
        text = text.replace(LOCALE_MARK, sources["locale.js"])
        for token, value in tokens.items():
            text = text.replace(token, value)
        if WORKER_HASH_TOKEN in text:
            worker_hash = _sha256(out / LOADER_FILES["worker.js"])[:16]
            text = text.replace(WORKER_HASH_TOKEN, worker_hash)
        _write_if_changed(out / dst_name, _minify(text, module=module))


def bundle(entry: str, sources: dict[str, str]) -> str:
    """The module ``entry`` with every module it imports from ``./`` inlined ahead of it, so a
    page waits for one download, not for a chain of them (the launcher's first paint did: page,
    launcher.js, then bridge.js and strings.js). Imports must use the exported names as they are;
    the modules share one scope, where a name declared twice is a syntax error at build time."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for names, dependency in SIBLING_IMPORT.findall(sources[name]):
            if " as " in names:
                raise SystemExit(f"loader/{name}: bundle() does not rename imports ({names})")
            visit(dependency)
        order.append(name)

    visit(entry)
    parts = [SIBLING_IMPORT.sub("", sources[name]) for name in order]
    inlined = [
        re.sub(r"^export (?=const |let |(async )?function |class )", "", p, flags=re.M)
        for p in parts[:-1]
    ]
    return "\n".join([*inlined, parts[-1]])


def build_widget_pages(out: Path) -> None:
    """The widget's pages with their stylesheets inlined and comments dropped: a page is then
    one request, painted as soon as it arrives (a linked stylesheet blocks the first paint). Its
    script's URL names the built script's content (``?h=``, cached as immutable), so a repeat
    visit does not ask for it again."""
    loader = ROOT / "loader"
    for name in WIDGET_PAGES:
        page = (loader / name).read_text()
        page = re.sub(r"\s*<!--.*?-->", "", page, flags=re.S)
        page = STYLESHEET_LINK.sub(
            lambda link: (
                "<style>\n" + _strip_css_comments((loader / link[1]).read_text()) + "</style>"
            ),
            page,
        )
        page = SCRIPT_SRC.sub(
            lambda src: f'src="{src[1]}?h={_sha256(out / "widget" / src[1])[:16]}"', page
        )
        _write_if_changed(out / "widget" / name, page.encode())


def _strip_css_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/\n?", "", css, flags=re.S)


def _is_fresh(target: Path, source: Path) -> bool:
    return target.exists() and target.stat().st_mtime >= source.stat().st_mtime


def precompress(out: Path) -> None:
    """Write ``.br`` and ``.gz`` siblings of the built assets, which the Porch server sends with
    ``Content-Encoding`` to browsers that accept them (``porch_server/transport/http/static.py``);
    a plain static host ignores them and serves the files as they are. The gzipped snapshot gets a
    ``.br`` sibling of its inflated bytes, ``snapshot.bin.br``, and is itself the ``.gz`` one."""
    brotli_jobs: list[str] = []
    built = [path for folder in PRECOMPRESSED_DIRS for path in sorted((out / folder).rglob("*"))]
    built += [out / "agent" / name for name in PRECOMPRESSED_AGENT_FILES]
    for path in built:
        if not path.is_file() or path.suffix not in COMPRESSIBLE:
            continue
        gz = path.with_name(path.name + ".gz")
        if not _is_fresh(gz, path):
            gz.write_bytes(gzip.compress(path.read_bytes(), 9, mtime=0))
        br = path.with_name(path.name + ".br")
        if not _is_fresh(br, path) and not _reuse_sibling(out, path, br):
            brotli_jobs += [str(path), str(br)]
    for name in SNAPSHOTS:
        snapshot = out / "vendor" / "pyodide" / f"{name}.bin.gz"
        br = snapshot.with_name(f"{name}.bin.br")
        if snapshot.exists() and not _is_fresh(br, snapshot):
            brotli_jobs += [str(snapshot), str(br)]
    if brotli_jobs:
        subprocess.run(["node", "-e", BROTLI_JS, *brotli_jobs], check=True)
    for folder in PRECOMPRESSED_DIRS:
        for sibling in sorted((out / folder).rglob("*")):
            # An old build's sibling whose source is gone (the snapshot's never had one).
            orphan = sibling.suffix in (".br", ".gz") and not sibling.with_suffix("").exists()
            is_snapshot = any(sibling.name in (f"{n}.bin.gz", f"{n}.bin.br") for n in SNAPSHOTS)
            if orphan and not is_snapshot:
                sibling.unlink()


def _reuse_sibling(out: Path, path: Path, sibling: Path) -> bool:
    """A split-deployment build (``--out``) copies the Brotli sibling of an identical file from
    ``public/`` instead of compressing it again (a minute for Pyodide's files)."""
    main = ROOT / "public"
    if out.resolve() == main.resolve():
        return False
    twin = main / path.relative_to(out)
    twin_sibling = twin.with_name(sibling.name)
    if not (twin.exists() and _is_fresh(twin_sibling, twin)):
        return False
    if twin.stat().st_size != path.stat().st_size or twin.read_bytes() != path.read_bytes():
        return False
    shutil.copyfile(twin_sibling, sibling)
    return True


def _minify(source: str, *, module: bool) -> bytes:
    terser = ROOT / "node_modules" / "terser" / "bin" / "terser"
    command = ["node", str(terser), "--compress", "--mangle", "--comments", "false"]
    if module:
        command.append("--module")
    done = subprocess.run(command, input=source.encode(), capture_output=True, check=True)
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "public")
    parser.add_argument("--server-url", default=os.environ.get("PORCH_SERVER_URL", ""))
    parser.add_argument(
        "--no-snapshot", action="store_true", help="do not make the Pyodide memory snapshot"
    )
    args = parser.parse_args(argv)
    server_url = args.server_url.rstrip("/")
    out: Path = args.out
    if out.resolve() != (ROOT / "public").resolve():
        # A split-deployment build: the tracked pages come along.
        shutil.copytree(
            ROOT / "public",
            out,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("vendor", "install"),
        )
    version = _package_version()
    lock_info = build_pyodide(out)
    python = str(lock_info["python"])
    build_pyscript(out)
    runtime_hash = build_runtime_zip(out)
    build_agent_protocol(out)
    snapshot = None if args.no_snapshot else build_snapshot(out, _pyodide_version(), runtime_hash)
    if snapshot is None:
        (out / "vendor" / "pyodide" / TRIMMED_STDLIB).unlink(missing_ok=True)
    console_snapshot = snapshot and build_snapshot(
        out,
        _pyodide_version(),
        runtime_hash,
        name="console-snapshot",
        preloaded=CONSOLE_PRELOADED,
        files=CONSOLE_FILES,
    )
    snapshot_hash = snapshot.snapshot if snapshot else ""
    boot_stdlib = f"{TRIMMED_STDLIB}?h={snapshot.stdlib}" if snapshot else "python_stdlib.zip"
    bytecode_hash = build_console_bytecode(out, _pyodide_version()) if console_snapshot else ""
    build_loader(
        out,
        {
            SERVER_URL_TOKEN: server_url,
            VERSION_TOKEN: version,
            RUNTIME_HASH_TOKEN: runtime_hash,
            SNAPSHOT_HASH_TOKEN: snapshot_hash,
            CONSOLE_SNAPSHOT_HASH_TOKEN: console_snapshot.snapshot if console_snapshot else "",
            BOOT_STDLIB_TOKEN: boot_stdlib,
            SNAPSHOT_DELTA_TOKEN: str(snapshot.delta_bytes if snapshot else 0),
            LOCK_INFO_TOKEN: json.dumps(lock_info),
            CONSOLE_BYTECODE_TOKEN: bytecode_hash,
            CONSOLE_STRINGS_TOKEN: json.dumps(
                json.loads((ROOT / "loader" / "console_strings.json").read_text()),
                ensure_ascii=False,
                separators=(",", ":"),
            ),
        },
    )
    build_widget_pages(out)
    build_info = {
        "version": version,
        "python": python,
        "runtime": runtime_hash,
        "snapshot": snapshot_hash,
        "server_url": server_url,
    }
    _write_if_changed(out / "widget" / "build.json", json.dumps(build_info, indent=1).encode())
    precompress(out)
    print(f"built {out} (porch {version}, runtime {runtime_hash}, python {python})")


if __name__ == "__main__":
    main()
