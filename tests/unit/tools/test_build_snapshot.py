"""The build's pure parts of the snapshot: the trimmed standard library, the wasm's initial data
image and the delta the snapshot is stored as (tools/build_snapshot.py)."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

from build_snapshot import (
    PAGE,
    delta_against_data,
    trimmed_stdlib,
    wasm_data_image,
    without_zero_pages,
)


def _full_stdlib() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in (
            "json/__init__.py",
            "json/decoder.py",
            "pyodide/__init__.py",
            "pyodide/http/__init__.py",
            "pyodide/http/_pyfetch.py",
            "stringprep.py",
        ):
            archive.writestr(name, f"# {name}\n")
    return buffer.getvalue()


def test_the_trimmed_stdlib_holds_the_modules_and_their_packages_stored() -> None:
    data = trimmed_stdlib(_full_stdlib(), ("stringprep", "pyodide.http._pyfetch"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [
            "pyodide/__init__.py",
            "pyodide/http/__init__.py",
            "pyodide/http/_pyfetch.py",
            "stringprep.py",
        ]
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        assert archive.read("stringprep.py") == b"# stringprep.py\n"
    # The same input, the same bytes (the snapshot's key and the URL's hash depend on them).
    assert trimmed_stdlib(_full_stdlib(), ("pyodide.http._pyfetch", "stringprep")) == data


def test_a_module_missing_from_the_full_stdlib_stops_the_build() -> None:
    with pytest.raises(ValueError, match="difflib is not in the standard library zip"):
        trimmed_stdlib(_full_stdlib(), ("difflib",))


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _wasm(*segments: tuple[int | None, bytes]) -> bytes:
    """A module with a type section (skipped) and a data section: (offset, bytes) per segment,
    offset None for a passive one."""
    body = bytearray(_leb(len(segments)))
    for offset, data in segments:
        if offset is None:
            body += b"\x01" + _leb(len(data)) + data
        else:
            body += b"\x00\x41" + _leb(offset) + b"\x0b" + _leb(len(data)) + data
    types = b"\x01\x60\x00\x00"
    return (
        b"\x00asm\x01\x00\x00\x00"
        + b"\x01"
        + _leb(len(types))
        + types
        + b"\x0b"
        + _leb(len(body))
        + bytes(body)
    )


def test_the_data_image_puts_active_segments_at_their_offsets() -> None:
    wasm = _wasm((4, b"abc"), (None, b"passive"), (200, b"x" * 130))
    image = wasm_data_image(wasm)
    assert len(image) == 330
    assert image[:8] == b"\0\0\0\0abc\0"
    assert image[200:] == b"x" * 130
    assert b"passive" not in image


def test_the_delta_zeroes_unchanged_data_leaves_the_header_and_is_its_own_inverse() -> None:
    image = bytes(range(1, 33))
    header = (16).to_bytes(4, "little") * 2 + b"\xee" * 8  # magic, then where the memory starts
    memory = bytearray(image + b"heap")
    memory[5] = 0
    snapshot = header + bytes(memory)
    delta = delta_against_data(snapshot, image)
    assert delta[:16] == header
    assert delta[16:48] == bytes(5) + bytes([image[5]]) + bytes(26)
    assert delta[48:] == b"heap"
    assert delta_against_data(delta, image) == snapshot


def test_zero_pages_are_dropped_and_listed() -> None:
    header = b"MAGC" + (16).to_bytes(4, "little") + b"\xee" * 8
    pages = [b"\1" * PAGE, bytes(PAGE), bytes(PAGE - 1) + b"\2", bytes(PAGE)]
    packed = without_zero_pages(header + b"".join(pages))
    assert packed[:4] == b"PRCH"
    assert int.from_bytes(packed[4:8], "little") == 16
    assert int.from_bytes(packed[8:12], "little") == 4 * PAGE
    assert packed[12:16] == bytes([1, 0, 1, 0])
    assert packed[16:32] == header
    assert packed[32:] == pages[0] + pages[2]


def test_a_memory_of_partial_pages_stops_the_build() -> None:
    with pytest.raises(ValueError, match="whole number of wasm pages"):
        without_zero_pages((8).to_bytes(4, "little") * 2 + bytes(100))
