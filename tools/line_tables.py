"""Location tables with line numbers only, for the functions frozen into the Pyodide snapshot.

A code object's location table (``co_linetable``, PEP 626 and 657) gives each instruction its
lines and columns. The columns make it big and hard to compress: when the snapshot is taken, the
~5,000 functions that Pyodide and the runtime have imported hold ~0.5 MB of such tables, ~0.2 MB
of the snapshot's Brotli. :func:`lines_only` keeps the line of every instruction and drops the
columns, so a traceback through such a function still names its file and line; only the carets
under the failing expression are gone. The runtime's own functions keep their columns.

Runs in CPython (the unit tests) and in Pyodide (``build_snapshot.MAKE_SNAPSHOT`` runs this file's
source before the snapshot is taken). The table format is CPython's ``Objects/locations.md``, the
same from 3.11 to 3.14: entries of up to 8 code units, a first byte ``1CCCCLLL`` (code, length - 1)
and varints of 6 bits a byte, 0x40 marking that more follow.
"""

from __future__ import annotations

import types
from collections.abc import Iterable

#: The entry codes used here: a line (as a delta from the previous entry's) and no column, or
#: no location at all.
_NO_COLUMNS = 13
_NO_LOCATION = 15


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x40:
        out.append(0x40 | (value & 0x3F))
        value >>= 6
    out.append(value)


def _svarint(value: int, out: bytearray) -> None:
    _varint((-value << 1) | 1 if value < 0 else value << 1, out)


def lines_only(code: types.CodeType) -> bytes:
    """``code``'s location table with the same line for every instruction and no column."""
    out = bytearray()
    previous = code.co_firstlineno
    for start, end, line in code.co_lines():
        units = (end - start) // 2
        while units > 0:
            length = min(units, 8)
            if line is None:
                out.append(0x80 | _NO_LOCATION << 3 | (length - 1))
            else:
                out.append(0x80 | _NO_COLUMNS << 3 | (length - 1))
                _svarint(line - previous, out)
                previous = line
            units -= length
    return bytes(out)


def without_columns(code: types.CodeType, done: dict[int, types.CodeType]) -> types.CodeType:
    """``code`` and the code objects among its constants with :func:`lines_only` tables; ``done``
    maps the id of each code object already rewritten to its rewrite."""
    rewritten = done.get(id(code))
    if rewritten is None:
        consts = tuple(
            without_columns(c, done) if isinstance(c, types.CodeType) else c for c in code.co_consts
        )
        rewritten = code.replace(co_linetable=lines_only(code), co_consts=consts)
        done[id(code)] = rewritten
    return rewritten


def drop_columns(objects: Iterable[object], keep: tuple[str, ...] = ("porch_",)) -> int:
    """Give the functions among ``objects`` (the snapshot passes ``gc.get_objects()``, every live
    one) :func:`lines_only` tables, except those of the modules whose names start with one of
    ``keep``; returns how many functions were rewritten."""
    done: dict[int, types.CodeType] = {}
    count = 0
    for function in objects:
        if isinstance(function, types.FunctionType) and not str(function.__module__).startswith(
            keep
        ):
            function.__code__ = without_columns(function.__code__, done)
            count += 1
    return count
