"""JSON text in and out of Porch: the one reader for text from anyone, the one writer for text
to anyone.

Python's ``json`` module accepts more than a browser or a database can hold, and each excess was
an outage (issue 16): ``"\\ud800"`` decodes to a lone UTF-16 surrogate that no UTF-8 encoder will
write back, so one stored tag closed every agent console of an app; 15,000 nested brackets raise
``RecursionError`` instead of a clean refusal; ``NaN``, ``Infinity`` and ``1e400`` are not JSON and
break ``JSON.parse`` in the browser; an integer past 2**53 changes value in JavaScript and
overflows SQLite. :func:`read_json` refuses all of them with a :class:`JSONRejected` that names
the problem, so nothing of the kind is ever stored. :func:`write_json` is the other half: it can
not fail on any value a Porch record can hold, so a value stored before these rules (or written by
hand) degrades to a replacement character instead of taking a socket down.

Pure standard library: the server, the visitor runtime and the agent console share this file.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

#: Deepest nesting of arrays and objects accepted from a client. Porch's deepest frame (a
#: welcome's message with its attachment) is five levels; the margin is for records to come.
MAX_JSON_DEPTH = 32
#: Largest integer JavaScript represents exactly (``Number.MAX_SAFE_INTEGER``).
MAX_SAFE_INTEGER = 2**53 - 1

#: An escape that may decode to a lone surrogate (a valid pair is escaped as two of these). With
#: a raw surrogate in non-ASCII text, it makes the parsed value worth a walk; text without either
#: (nearly every frame) is never walked. Each check is a scan with a literal or ASCII fast path:
#: one alternation of all three cost 14 µs on a 600-character frame, the parse itself 1.3 µs.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class JSONRejected(ValueError):
    """Text that Porch does not accept as JSON. ``code`` is ``bad_json`` when the text is not
    (acceptable) JSON at all, ``bad_text`` when it parses but holds a value no peer can represent
    (a lone surrogate, an integer past 2**53): then ``where`` is the path to it (``add[0]``,
    ``metadata.plan``) and ``value`` the whole parsed value, for the caller's error message."""

    def __init__(
        self,
        code: Literal["bad_json", "bad_text"],
        message: str,
        where: str = "",
        value: Any = None,
    ) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.code = code
        self.where = where
        self.value = value


def read_json(text: str | bytes, *, max_depth: int | None = MAX_JSON_DEPTH) -> Any:
    """The value of ``text``, which must be strict JSON (RFC 8259) of valid Unicode: no lone
    surrogates, no ``NaN``/``Infinity``, no number that overflows a double, no integer beyond
    JavaScript's safe range, and, unless ``max_depth`` is None, at most ``max_depth`` levels of
    arrays and objects. Raises :class:`JSONRejected` otherwise.

    Pass ``max_depth=None`` only for text from Porch's own server, which :func:`write_json`
    made: the depth walk is then skipped, the other checks cost nothing on such text."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRejected("bad_json", "text is not UTF-8") from exc
    try:
        value = _parse(text, _DECODER)
    except _UnsafeInteger:
        # Rare: parse again without the integer check, for the walk to name where it is.
        _check_values(_parse(text, _LENIENT_DECODER), None)
        raise AssertionError("unreachable: the walk finds the integer") from None
    # Counting brackets is two C scans; fewer brackets than the limit cannot nest past it.
    deep = max_depth is not None and text.count("[") + text.count("{") > max_depth
    surrogates = _SURROGATE_ESCAPE.search(text) or (
        not text.isascii() and _SURROGATE.search(text)
    )
    if deep or surrogates:
        _check_values(value, max_depth if deep else None)
    return value


def _parse(text: str, decoder: json.JSONDecoder) -> Any:
    try:
        return decoder.decode(text)
    except RecursionError:
        raise JSONRejected("bad_json", "arrays or objects nested too deeply") from None
    except (JSONRejected, _UnsafeInteger):
        raise
    except ValueError as exc:  # JSONDecodeError, and int() past its digit limit
        raise JSONRejected("bad_json", f"not JSON: {exc}") from None


def write_json(value: Any) -> str:
    """Compact JSON text of ``value`` that any peer can read back: it never raises on a lone
    surrogate (written as U+FFFD) or a non-finite float (written as ``null``), whatever was
    stored. Non-ASCII characters are written as themselves."""
    try:
        text = _ENCODER.encode(value)
    except ValueError:  # a NaN or an infinity: only a row written before read_json's rules
        text = _ENCODER.encode(_finite(value))
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _refuse_constant(name: str) -> Any:
    raise JSONRejected("bad_json", f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise JSONRejected("bad_json", f"number {literal[:40]} is out of range")
    return number


class _UnsafeInteger(Exception):
    """An integer past 2**53 in the text: :func:`read_json` then finds where."""


def _safe_int(literal: str) -> int:
    number = int(literal)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    raise _UnsafeInteger


#: Made once: json.loads with hooks builds a new decoder per call (10x the parse itself).
_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_safe_int
)
_LENIENT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _check_values(root: Any, max_depth: int | None) -> None:
    """Walk the parsed value without recursion: too deep, a lone surrogate in a key or string,
    or an integer JavaScript cannot hold raises."""
    stack: list[tuple[Any, int, str]] = [(root, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise JSONRejected("bad_text", "text holds a lone UTF-16 surrogate", where, root)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_SAFE_INTEGER:
                raise JSONRejected("bad_text", "integer beyond ±(2**53 - 1)", where, root)
        elif isinstance(value, dict):
            _check_depth(depth, max_depth)
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                if _SURROGATE.search(key):
                    raise JSONRejected("bad_text", "key holds a lone UTF-16 surrogate", path, root)
                stack.append((item, depth + 1, path))
        elif isinstance(value, list):
            _check_depth(depth, max_depth)
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))


def _check_depth(depth: int, max_depth: int | None) -> None:
    if max_depth is not None and depth > max_depth:
        raise JSONRejected("bad_json", f"arrays or objects nested deeper than {max_depth} levels")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
