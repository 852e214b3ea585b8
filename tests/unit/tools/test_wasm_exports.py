"""The exports the build drops from Pyodide's wasm (tools/wasm_exports.py): read from the binary,
kept when any code beside the wasm names them, and the graph wasm-metadce is given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

from test_build_snapshot import _leb
from wasm_binary import leb128
from wasm_exports import exports, kept, metadce_graph, words

FUNCTION, TABLE, MEMORY, GLOBAL = 0, 1, 2, 3


def _module(names: list[tuple[str, int]]) -> bytes:
    """A wasm module with a custom section first (skipped) and an export section."""
    custom = b"\x04note" + b"x" * 200
    body = _leb(len(names)) + b"".join(
        _leb(len(name)) + name.encode() + bytes([kind]) + _leb(index)
        for index, (name, kind) in enumerate(names)
    )
    return (
        b"\0asm\x01\0\0\0" + b"\x00" + _leb(len(custom)) + custom + b"\x07" + _leb(len(body)) + body
    )


def test_exports_are_read_in_order_with_their_kinds() -> None:
    names = [("memory", MEMORY), ("PyList_New", FUNCTION), ("__stack_pointer", GLOBAL)]
    names += [(f"f{n}", FUNCTION) for n in range(200)]  # a count past one LEB128 byte
    assert exports(_module(names)) == names


def test_not_a_wasm_module_is_refused() -> None:
    with pytest.raises(ValueError, match="not a wasm module"):
        exports(b"<!doctype html>")


def test_leb128_reads_multibyte_and_signed_numbers() -> None:
    assert leb128(bytes([0xE5, 0x8E, 0x26]), 0) == (624485, 3)
    assert leb128(bytes([0x7F]), 0, signed=True) == (-1, 1)
    assert leb128(bytes([0xC0, 0xBB, 0x78]), 0, signed=True) == (-123456, 3)


def test_the_loaders_generated_assignments_name_nothing() -> None:
    loader = (
        "var _a,_b,"
        + ",".join(f"_f{n}" for n in range(60))
        + ";function assignWasmExports(wasmExports){"
        '_PyList_New=Module["_PyList_New"]=wasmExports["PyList_New"];'
        '_malloc=Module["_malloc"]=wasmExports["malloc"];}'
        "var p=_malloc(8);"
    )
    named = words([loader])
    assert "_malloc" in named
    assert "_PyList_New" not in named and "PyList_New" not in named
    assert "_f1" not in named


def test_functions_are_kept_when_named_by_either_name_and_other_kinds_always() -> None:
    wasm = _module(
        [
            ("memory", MEMORY),
            ("__indirect_function_table", TABLE),
            ("PyExc_TypeError", GLOBAL),
            ("malloc", FUNCTION),  # JavaScript calls it _malloc
            ("hiwire_get", FUNCTION),  # named as is (a wasmExports key)
            ("PyList_New", FUNCTION),  # named by nothing
        ]
    )
    keep = kept(wasm, {"_malloc", "hiwire_get", "unrelated"})
    assert keep == [
        "memory",
        "__indirect_function_table",
        "PyExc_TypeError",
        "malloc",
        "hiwire_get",
    ]


def test_the_graph_roots_the_kept_exports_and_lists_every_export() -> None:
    wasm = _module([("malloc", FUNCTION), ("PyList_New", FUNCTION)])
    graph = json.loads(metadce_graph(wasm, ["malloc"]))
    assert graph[0] == {"name": "root", "root": True, "reaches": ["export:malloc"]}
    assert {node["export"] for node in graph[1:]} == {"malloc", "PyList_New"}
