"""Make the Pyodide memory snapshot the runtime worker boots from, and the trimmed standard library
it boots with.

A snapshot is Pyodide's memory right after start-up, with the standard-library modules the runtime
imports already imported. Booting from it skips most of Pyodide's start-up (measured on 2 cores:
1.2-2.3 s instead of 5-7 s). It is made in headless Chromium by the very Pyodide files that will
serve it, and stored gzipped (the Porch server sends a Brotli sibling instead; a plain static host
the gzip file, which the worker inflates with DecompressionStream).

A runtime restored from the snapshot imports nearly nothing more from the standard library: the
modules it needs are already in memory. So it boots with ``python_stdlib_trimmed.zip`` (what
:data:`KEPT_STDLIB` names, stored uncompressed so that Brotli compresses it as a whole) instead of
Pyodide's 2.5 MB ``python_stdlib.zip``; an import of anything else fetches the full zip then
(``porch_runtime.stdlib``). The snapshot is made with that trimmed zip in place and with
``zipimport``'s caches emptied, so it remembers no directory of either zip.

What is stored is made to compress (``snapshot.bin.br``: 4.12 MB before, 2.25 MB after): before
the snapshot is taken, the functions imported so far lose the column half of their location tables
(``line_tables.py``; tracebacks keep their lines), the memory Python and the C allocator have freed
is zeroed (:data:`SCRUB_FREED_MEMORY`: freed chunks keep zip data, source text, compiler garbage)
and the interpreter runs with ``-OO`` (no docstrings); its first bytes, mostly the wasm's data
segments unchanged, are stored as a delta against them (:func:`delta_against_data`), and its
all-zero pages are left out (:func:`without_zero_pages`). ``loader/worker.js`` undoes both.

``loadPyodide({_makeSnapshot})`` / ``_loadSnapshot`` are private Pyodide APIs: the snapshot is
keyed to the pinned Pyodide version, :data:`PRELOADED`, the runtime zip, the trimmed standard
library and the way it is made; it is rebuilt when any changes, and the worker falls back to a
plain boot (with the full standard library) whenever it is missing or fails to load.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from wasm_binary import leb128, sections

#: Modules imported once, before the snapshot is taken: the standard-library ones the runtime
#: imports, and the runtime's own pure-Python modules (the protocol's ~70 dataclasses take seconds
#: to create in Pyodide on a slow machine; in the snapshot they are already made), the browser
#: adapter included, so that a snapshot boot needs neither the runtime's zip nor Python's compiler.
#: Never ``js`` or anything holding JavaScript objects: those cannot be snapshotted, which is why
#: ``porch_runtime.browser`` imports ``js`` only when the worker attaches it.
PRELOADED = (
    "json",
    "random",
    "secrets",
    "enum",
    "dataclasses",
    "typing",
    "types",
    "collections.abc",
    "porch_protocol",
    "porch_runtime.bridge",
    "porch_runtime.core",
    "porch_runtime.privacy",
    "porch_runtime.stdlib",
    "porch_runtime.browser",
)
#: The agent console's own snapshot (``console-snapshot.bin``, a file of its own, so that visitors
#: download none of it) imports these too: its pure state (written where PyScript writes its
#: source, :data:`CONSOLE_FILES`) and the standard-library modules that the console and
#: PyScript's package import beyond the runtime's. Nothing that holds JavaScript objects (``js``,
#: ``pyscript``): those are imported after the restore, from bytecode compiled at build time
#: (``console_bytecode.py``).
CONSOLE_PRELOADED = (*PRELOADED, "console_state", "uuid", "html")
#: Where the console's worker has its files (PyScript's working directory), by source in public/.
CONSOLE_FILES = {"/home/pyodide/console_state.py": "agent/console_state.py"}
#: What the trimmed standard library holds: modules a restored runtime may import that the snapshot
#: has not imported already. Tracing the imports from the zip while the e2e widget and host-API
#: tests ran found none (the runtime imports only what the snapshot holds), so this
#: is a margin: the codecs a ``bytes.decode`` may look up and Pyodide's own lazily imported helpers.
#: Anything else still imports, at the price of fetching the full zip (``porch_runtime.stdlib``);
#: ``tests/e2e/test_boot.py`` checks that a chat never needs it.
KEPT_STDLIB = (
    "encodings.ascii",
    "encodings.charmap",
    "encodings.cp1252",
    "encodings.idna",
    "encodings.latin_1",
    "encodings.punycode",
    "encodings.raw_unicode_escape",
    "encodings.unicode_escape",
    "encodings.utf_16",
    "encodings.utf_16_be",
    "encodings.utf_16_le",
    "encodings.utf_32",
    "encodings.utf_8_sig",
    "stringprep",
    "pyodide.ffi.wrappers",
    "pyodide.http",
    "pyodide.http._exceptions",
    "pyodide.http._pyfetch",
)
TRIMMED_STDLIB = "python_stdlib_trimmed.zip"
#: Where the worker unpacks ``porch_runtime.zip``; the snapshot's imported packages remember
#: this path, so the worker must use the same one.
RUNTIME_DIR = "/porch"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Zero what is free in the wasm memory: every chunk the C allocator hands out below the heap's
#: current top (allocated in descending sizes, a size given up once an allocation reaches past that
#: top: the allocator has nothing of that size left below it), the memory above the top, and the
#: unused part of the stack; then free the chunks again. Python has let go of everything it could
#: first (``gc.collect``, the caches of ``linecache`` and the importers). The sizes stay under half
#: of the memory above the top, so the memory never grows (the snapshot is all of it). Runs while
#: no wasm code does: nothing lives in what it zeroes.
SCRUB_FREED_MEMORY = """(M) => {
  const top = M._sbrk(0), length = M.HEAPU8.length;
  const taken = [];
  let size = 16;
  while (size * 4 <= length - top) size *= 2;
  for (; size >= 16; size >>>= 1) {
    for (;;) {
      const pointer = M._malloc(size);
      if (!pointer) break;
      taken.push(pointer);
      M.HEAPU8.fill(0, pointer, pointer + size);
      if (pointer + size > top) break;
    }
  }
  taken.forEach((pointer) => M._free(pointer));
  M.HEAPU8.fill(0, M._sbrk(0), length);
  M.HEAPU8.fill(0, M._emscripten_stack_get_end(), M._emscripten_stack_get_current() - 64);
  if (M.HEAPU8.length !== length) throw new Error("the memory grew while it was being scrubbed");
  console.log("scrubbed", taken.length, "chunks; top", top, "->", M._sbrk(0), "of", length);
}"""
#: Run after line_tables.py's source, in its scope: every live function but the runtime's.
DROP_COLUMNS = "\nimport gc\nprint('line tables without columns:', drop_columns(gc.get_objects()))"
MAKE_SNAPSHOT = (
    """async ([indexURL, runtimeURL, stdlibURL, preloaded, files]) => {
  const code = `
    import { loadPyodide } from "${indexURL}pyodide.mjs";
    /* -OO: no docstrings or asserts in what the snapshot imports (the restored interpreter keeps
     * the flag); 0.2 MB less Brotli. */
    const py = await loadPyodide({
      indexURL: "${indexURL}", _makeSnapshot: true, env: { PYTHONOPTIMIZE: "2" },
    });
    const get = async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return new Uint8Array(await response.arrayBuffer());
    };
    const runtime = await get("${runtimeURL}");
    py.unpackArchive(runtime, "zip", { extractDir: "__RUNTIME_DIR__" });
    py.runPython("import sys; sys.path.insert(0, '__RUNTIME_DIR__')");
    for (const [path, source] of Object.entries(${JSON.stringify(files)})) {
      py.FS.writeFile(path, await (await fetch(source)).text());
    }
    py.runPython(${JSON.stringify("import " + preloaded.join(", "))});
    /* The protocol's codecs are compiled at their first use; the snapshot's are compiled now, so
     * that a restored runtime never needs Python's compiler. */
    py.pyimport("porch_protocol.wire").compile_codecs();
    /* Line numbers without columns in what is imported, the runtime's own code aside
     * (line_tables.py); run in a scope of its own, so that none of it stays. */
    const scope = py.toPy({});
    py.runPython(${JSON.stringify(__LINE_TABLES__ + __DROP_COLUMNS__)}, { globals: scope });
    scope.destroy();
    /* The standard library the snapshot will be restored with replaces the full one; zipimport
     * forgets both zips' directories, so it reads the one it finds after the restore. */
    const stdlib = await get("${stdlibURL}");
    py.FS.writeFile(py.runPython("import porch_runtime.stdlib as s; s.STDLIB_ZIP"), stdlib);
    py.runPython(\\`
import gc, linecache, sys, zipimport
zipimport._zip_directory_cache.clear()
sys.path_importer_cache.clear()
linecache.clearcache()
gc.collect()
\\`);
    (__SCRUB__)(py._module);
    const snapshot = py.makeMemorySnapshot();
    const gzip = await new Response(new Blob([snapshot]).stream()
      .pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    postMessage(gzip, [gzip]);`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const bytes = await new Promise((resolve, reject) => {
    const worker = new Worker(url, { type: "module" });
    worker.onerror = (event) => reject(new Error(event.message));
    worker.onmessage = (event) => resolve(new Uint8Array(event.data));
  });
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}""".replace("__RUNTIME_DIR__", RUNTIME_DIR)
    .replace("__SCRUB__", SCRUB_FREED_MEMORY)
    .replace("__LINE_TABLES__", json.dumps((Path(__file__).parent / "line_tables.py").read_text()))
    .replace("__DROP_COLUMNS__", json.dumps(DROP_COLUMNS))
)


def wasm_data_image(wasm: bytes) -> bytes:
    """The wasm memory's first bytes right after instantiation: the module's active data segments
    at their offsets (Pyodide's are all at constant offsets), zeros between them."""
    segments: list[tuple[int, int, int]] = []
    for section, at, _end in sections(wasm):
        if section != 11:  # the data section
            continue
        count, at = leb128(wasm, at)
        for _ in range(count):
            flags, at = leb128(wasm, at)
            if flags == 1:  # passive: not in memory until memory.init
                length, at = leb128(wasm, at)
                at += length
                continue
            if flags == 2:
                _, at = leb128(wasm, at)
            if wasm[at] != 0x41:  # i32.const
                raise ValueError(f"a data segment at a non-constant offset (opcode {wasm[at]})")
            offset, at = leb128(wasm, at + 1, signed=True)
            if wasm[at] != 0x0B:
                raise ValueError("a data segment offset that is not one i32.const")
            length, at = leb128(wasm, at + 1)
            segments.append((offset, at, length))
            at += length
    image = bytearray(max((offset + length for offset, _, length in segments), default=0))
    for offset, start, length in segments:
        image[offset : offset + length] = wasm[start : start + length]
    return bytes(image)


def delta_against_data(snapshot: bytes, image: bytes) -> bytes:
    """The snapshot with its memory's first ``len(image)`` bytes XORed with ``image``. Those bytes
    are mostly the wasm's data segments, unchanged since instantiation, which the browser has
    already downloaded with the wasm: XORed, they are zeros (1 MB less Brotli). Its own inverse;
    the worker applies it to the snapshot with the instantiated memory (loader/worker.js)."""
    heap = int.from_bytes(snapshot[4:8], "little")  # Pyodide's header: where the memory starts
    end = heap + len(image)
    mixed = int.from_bytes(snapshot[heap:end], "little") ^ int.from_bytes(image, "little")
    return snapshot[:heap] + mixed.to_bytes(len(image), "little") + snapshot[end:]


#: The unit of :func:`without_zero_pages` (the wasm page size).
PAGE = 65536
#: The first bytes of a snapshot packed by :func:`without_zero_pages` (Pyodide's own start
#: differently, so the worker can tell them apart from its magic).
PACKED_MAGIC = b"PRCH"


def without_zero_pages(snapshot: bytes) -> bytes:
    """The snapshot without the memory's all-zero pages (the unused stack, the memory above the
    heap's top: ~15 of its 31.5 MB), which the worker gives back as zeros: half the bytes to read
    from Cache Storage and to inflate. Layout, little-endian: ``PRCH``, the length of Pyodide's
    header, the memory's length, then one byte per memory page (1: kept), Pyodide's header, the
    kept pages in order."""
    heap = int.from_bytes(snapshot[4:8], "little")
    memory = snapshot[heap:]
    if len(memory) % PAGE:
        raise ValueError("the snapshot's memory is not a whole number of wasm pages")
    zero = bytes(PAGE)
    pages = [memory[at : at + PAGE] for at in range(0, len(memory), PAGE)]
    kept = bytes(page != zero for page in pages)
    return b"".join(
        [
            PACKED_MAGIC,
            heap.to_bytes(4, "little"),
            len(memory).to_bytes(4, "little"),
            kept,
            snapshot[:heap],
            *(page for page in pages if page != zero),
        ]
    )


@dataclass(frozen=True)
class Snapshot:
    """What the build made: short hashes for cache-busting URLs, and how many bytes of the
    snapshot's memory are a delta against the wasm's data (:func:`delta_against_data`)."""

    snapshot: str
    stdlib: str
    delta_bytes: int


def chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def trimmed_stdlib(full: bytes, modules: tuple[str, ...] = KEPT_STDLIB) -> bytes:
    """The entries of the full standard-library zip that ``modules`` need (each module's file,
    its packages' ``__init__.py``), stored uncompressed, sorted, with fixed timestamps: the same
    input always gives the same bytes."""
    with zipfile.ZipFile(io.BytesIO(full)) as source:
        names = set(source.namelist())
        wanted: set[str] = set()
        for module in modules:
            parts = module.split(".")
            for depth in range(1, len(parts)):
                wanted.add("/".join(parts[:depth]) + "/__init__.py")
            path = "/".join(parts)
            found = [n for n in (path + ".py", path + "/__init__.py") if n in names]
            if not found:
                raise ValueError(f"{module} is not in the standard library zip")
            wanted.update(found)
        missing = sorted(wanted - names)
        if missing:
            raise ValueError(f"not in the standard library zip: {missing}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name in sorted(wanted):
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(info, source.read(name))
    return buffer.getvalue()


def build_snapshot(
    out: Path,
    pyodide_version: str,
    runtime_hash: str,
    *,
    name: str = "snapshot",
    preloaded: tuple[str, ...] = PRELOADED,
    files: dict[str, str] | None = None,
) -> Snapshot | None:
    """Write ``vendor/pyodide/python_stdlib_trimmed.zip`` and ``<name>.bin.gz`` under ``out``
    if they are missing or stale (another Pyodide, other preloaded modules or files, another
    runtime zip, another trimmed standard library, another way of making them); return their short
    hashes, or ``None`` when no snapshot could be made (the worker then boots without one).
    ``files``: worker path -> source under ``out``, written before the imports (the console's)."""
    files = files or {}
    folder = out / "vendor" / "pyodide"
    target, meta_path = folder / f"{name}.bin.gz", folder / f"{name}.json"
    stdlib = trimmed_stdlib((folder / "python_stdlib.zip").read_bytes())
    stdlib_hash = hashlib.sha256(stdlib).hexdigest()[:16]
    stdlib_path = folder / TRIMMED_STDLIB
    if not (stdlib_path.exists() and stdlib_path.read_bytes() == stdlib):
        stdlib_path.write_bytes(stdlib)
    key = {
        "pyodide": pyodide_version,
        # The wasm as served (build_public.optimized_wasm): the snapshot's function table and
        # data image are that file's.
        "wasm": hashlib.sha256((folder / "pyodide.asm.wasm").read_bytes()).hexdigest()[:16],
        "preloaded": list(preloaded),
        "files": {
            path: hashlib.sha256((out / source).read_bytes()).hexdigest()[:16]
            for path, source in files.items()
        },
        "runtime": runtime_hash,
        "stdlib": stdlib_hash,
        "recipe": hashlib.sha256(MAKE_SNAPSHOT.encode()).hexdigest()[:16],
        "delta": "xor-wasm-data, zero pages dropped",
    }
    if (
        target.exists()
        and meta_path.exists()
        and json.loads(meta_path.read_text()).get("key") == key
    ):
        meta = json.loads(meta_path.read_text())
        return Snapshot(str(meta["hash"]), stdlib_hash, int(meta["delta_bytes"]))
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("no Playwright: skipping the Pyodide snapshot (the runtime boots without one)")
        return None
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with sync_playwright() as playwright:
            # The system's Chromium where there is one (Debian's package), else Playwright's own.
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{origin}/widget/build.json")
            encoded = page.evaluate(
                MAKE_SNAPSHOT,
                [
                    f"{origin}/vendor/pyodide/",
                    f"{origin}/widget/porch_runtime.zip",
                    f"{origin}/vendor/pyodide/{TRIMMED_STDLIB}",
                    list(preloaded),
                    {path: f"{origin}/{source}" for path, source in files.items()},
                ],
            )
            browser.close()
    except PlaywrightError as exc:
        print(f"no usable Chromium ({exc.message.splitlines()[0]}): skipping the Pyodide snapshot")
        return None
    finally:
        server.shutdown()
    image = wasm_data_image((folder / "pyodide.asm.wasm").read_bytes())
    made = gzip.decompress(base64.b64decode(encoded))
    data = gzip.compress(without_zero_pages(delta_against_data(made, image)), 6)
    target.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()[:16]
    meta = {"key": key, "hash": digest, "bytes": len(data), "delta_bytes": len(image)}
    meta_path.write_text(json.dumps(meta, indent=1))
    print(f"made the Pyodide snapshot {name}.bin: {len(data) / 1e6:.1f} MB gzipped")
    return Snapshot(digest, stdlib_hash, len(image))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
