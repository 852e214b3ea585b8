"""Which of Pyodide's wasm exports Porch can drop, and ``wasm-metadce``'s graph that drops them.

Pyodide's wasm exports 7,415 functions. Its loader (``pyodide.asm.mjs``) assigns 4,867 of them to
``Module._<name>``, and every export goes into the dynamic linker's symbol table, so that packages'
side modules (numpy's ``.so`` files and the like) can call CPython's C API. Porch loads no package
into the runtime or the console (no side module, no ``dlopen``): an export is needed only if some
JavaScript or Python that runs with this wasm names it. So the roots are every export whose name
(or ``_<name>``, Emscripten's JavaScript name) occurs as a word in that code, outside the generated
lines that only assign exports to ``Module``; exports that are not functions (memory, table,
globals, the data symbols) all stay. Whatever no root reaches, ``wasm-metadce`` removes, and with it
the functions only those exports kept alive. Naming an unused export by accident keeps it (safe);
a name built at run time from pieces would be missed, which is why the texts searched include
every script and Python file that runs beside the wasm, and why the boot tests run on the result.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from wasm_binary import leb128, sections

#: Export kinds in the wasm binary format (section 7).
_FUNCTION = 0
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
#: ``_X=Module["_X"]=wasmExports["X"]``: the loader's generated assignment of each export.
_ASSIGNMENT = re.compile(
    r'_[A-Za-z0-9_$]+=Module\["_[A-Za-z0-9_$]+"\]=wasmExports\["[A-Za-z0-9_$]+"\];?'
)
#: ``var _a,_b,…;``: the generated declarations of those names (hundreds in one statement).
_DECLARATIONS = re.compile(r"var (?:_[A-Za-z0-9_$]+,){50,}[^;]*;")


def exports(wasm: bytes) -> list[tuple[str, int]]:
    """``(name, kind)`` of every export of a wasm module, in order."""
    found: list[tuple[str, int]] = []
    for section, at, _end in sections(wasm):
        if section != 7:  # the export section
            continue
        count, at = leb128(wasm, at)
        for _ in range(count):
            length, at = leb128(wasm, at)
            name = wasm[at : at + length].decode()
            kind = wasm[at + length]
            _index, at = leb128(wasm, at + length + 1)
            found.append((name, kind))
    return found


def words(texts: Iterable[str]) -> set[str]:
    """Every identifier-like word of ``texts``, the loader's generated export plumbing left out."""
    found: set[str] = set()
    for text in texts:
        text = _DECLARATIONS.sub("", _ASSIGNMENT.sub("", text))
        found.update(_WORD.findall(text))
    return found


def texts_beside(pyodide: Path, scripts: Iterable[Path], python: Iterable[Path]) -> list[str]:
    """The code that runs with Pyodide's wasm: its loader, ``scripts``, the standard library's
    Python (Pyodide's own packages are in it) and ``python``."""
    found = [
        (pyodide / "pyodide.asm.mjs").read_text(),
        (pyodide / "pyodide.mjs").read_text(),
        *(path.read_text(errors="replace") for path in scripts),
        *(path.read_text() for path in python),
    ]
    with zipfile.ZipFile(pyodide / "python_stdlib.zip") as stdlib:
        found.extend(
            stdlib.read(name).decode(errors="replace")
            for name in stdlib.namelist()
            if name.endswith(".py")
        )
    return found


def kept(wasm: bytes, named: set[str]) -> list[str]:
    """The exports to keep: every non-function, and every function ``named`` mentions."""
    return [
        name
        for name, kind in exports(wasm)
        if kind != _FUNCTION or name in named or f"_{name}" in named
    ]


def metadce_graph(wasm: bytes, keep: Iterable[str]) -> str:
    """``wasm-metadce``'s graph: one root reaching the kept exports; every export a node."""
    nodes: list[dict[str, object]] = [
        {"name": "root", "root": True, "reaches": [f"export:{name}" for name in keep]}
    ]
    nodes.extend({"name": f"export:{name}", "export": name} for name, _ in exports(wasm))
    return json.dumps(nodes)
