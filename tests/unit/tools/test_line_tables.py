"""Location tables without columns (tools/line_tables.py), checked against CPython's own reading
of them: every instruction keeps its line, no instruction keeps a column."""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
import types
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

from line_tables import drop_columns, lines_only, without_columns

SOURCE = '''
def far_apart(x):
    if x:
        return [
            y
            for y in range(x)
        ]
''' + "\n" * 300 + '''
    def inner():
        return x
    return inner
'''


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _lines(code: types.CodeType) -> list[int | None]:
    return [line for start, end, line in code.co_lines() for _ in range(start, end, 2)]


def _functions() -> list[types.CodeType]:
    module = compile(SOURCE, "<far_apart>", "exec")
    return [
        *_codes(module),
        json.loads.__code__,
        json.JSONDecoder.raw_decode.__code__,
        dataclasses.dataclass.__code__,
        traceback.format_exc.__code__,
    ]


def test_every_instruction_keeps_its_line_and_loses_its_columns() -> None:
    for code in _functions():
        rewritten = code.replace(co_linetable=lines_only(code))
        assert _lines(rewritten) == _lines(code), code.co_name
        columns = {position[2:] for position in rewritten.co_positions()}
        assert columns == {(None, None)}, code.co_name


def test_lines_far_apart_and_instructions_without_a_line_are_encoded() -> None:
    # A jump of 300 lines needs a varint of two bytes; a module's first instruction has no line.
    codes = [c for c in _codes(compile(SOURCE, "<far_apart>", "exec"))]
    assert any(None in _lines(c) for c in codes)
    assert any(max(filter(None, _lines(c))) > 300 for c in codes)
    for code in codes:
        assert _lines(code.replace(co_linetable=lines_only(code))) == _lines(code)


def test_nested_code_objects_are_rewritten_once() -> None:
    module = compile(SOURCE, "<far_apart>", "exec")
    done: dict[int, types.CodeType] = {}
    rewritten = without_columns(module, done)
    assert len(done) == len(list(_codes(module)))
    assert without_columns(module, done) is rewritten
    for code in _codes(rewritten):
        assert {p[2] for p in code.co_positions()} == {None}


def test_a_traceback_through_a_rewritten_function_names_its_line() -> None:
    namespace: dict[str, object] = {}
    exec(compile("def fail():\n    x = 1\n    raise ValueError(x)\n", "<fail>", "exec"), namespace)
    fail = namespace["fail"]
    assert isinstance(fail, types.FunctionType)
    fail.__code__ = without_columns(fail.__code__, {})
    try:
        fail()
    except ValueError as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
    assert (frame.name, frame.lineno) == ("fail", 3)


def test_drop_columns_rewrites_functions_but_those_of_the_kept_modules() -> None:
    functions = {}
    for module in ("porch_example", "json_example"):
        namespace: dict[str, object] = {"__name__": module}
        exec(compile("def f():\n    return 1 + 2\n", f"<{module}>", "exec"), namespace)
        functions[module] = namespace["f"]
    kept, rewritten = functions["porch_example"], functions["json_example"]
    assert isinstance(kept, types.FunctionType) and isinstance(rewritten, types.FunctionType)
    before = kept.__code__
    assert drop_columns([kept, rewritten, "not a function"], keep=("porch_",)) == 1
    assert kept.__code__ is before
    assert {p[2] for p in rewritten.__code__.co_positions()} == {None}
    assert rewritten() == 3
