"""Reading the wasm binary format, as much as the build needs: sections and LEB128 numbers."""

from __future__ import annotations

from collections.abc import Iterator


def leb128(data: bytes, at: int, *, signed: bool = False) -> tuple[int, int]:
    """The LEB128 number at ``at`` and the offset after it."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if signed and byte & 0x40:
                value -= 1 << shift
            return value, at


def sections(wasm: bytes) -> Iterator[tuple[int, int, int]]:
    """``(id, start, end)`` of each section of a wasm module (its bytes: ``wasm[start:end]``)."""
    if wasm[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    at = 8
    while at < len(wasm):
        size, start = leb128(wasm, at + 1)
        yield wasm[at], start, start + size
        at = start + size
