"""Privacy filters the visitor runtime applies in the visitor's browser, before anything is sent.

Pure functions of their arguments (no I/O, no ``js``), tested in CPython:

- :func:`mask_text`: payment card numbers (13 to 19 digits, Luhn-valid), IBANs (ISO 13616,
  mod-97-valid) and the site's own patterns in a visitor's text are masked; it says which kinds
  it masked, so the message can carry the flag to the agents.
- :func:`strip_metadata`: JPEG, PNG and WebP photos lose their Exif and XMP metadata (GPS
  position, camera, time) and text chunks; the picture itself, its colour profile and its
  orientation stay, so the file opens as it did. Anything it cannot parse is returned as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from porch_protocol.wire import MaskKind

#: What replaces each masked character (a card keeps its last four digits, an IBAN its last
#: four characters: enough for an agent to say which one the visitor meant).
MASK = "•"
#: Kinds of masked content, as the wire protocol names them (``SendMessage.masked``).
CARD: MaskKind = "card"
IBAN: MaskKind = "iban"
PATTERN: MaskKind = "pattern"
#: Media types :func:`strip_metadata` rewrites.
METADATA_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})

#: 13 to 19 digits, each pair maybe separated by one space or dash, not inside a longer number.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
#: A country code, two check digits and 11 to 30 letters or digits, maybe in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.IGNORECASE)
_IBAN_MIN, _IBAN_MAX = 15, 34


@dataclass(frozen=True)
class Masked:
    text: str
    #: The kinds masked (``card``, ``iban``, ``pattern``), sorted; empty when nothing was.
    kinds: tuple[MaskKind, ...]


def compile_patterns(sources: Iterable[str]) -> tuple[list[re.Pattern[str]], list[str]]:
    """The site's patterns (Python regular expressions) compiled, and a message for each one
    that does not compile (it is left out; the others still apply)."""
    compiled, problems = [], []
    for source in sources:
        try:
            compiled.append(re.compile(source))
        except re.error as exc:
            problems.append(f"privacy pattern {source!r} ignored: {exc}")
    return compiled, problems


def mask_text(text: str, patterns: Iterable[re.Pattern[str]] = ()) -> Masked:
    """``text`` with card numbers, IBANs and matches of ``patterns`` masked."""
    kinds: set[MaskKind] = set()
    chars = list(text)
    for match in _CARD.finditer(text):
        digits = [i for i in range(match.start(), match.end()) if text[i].isdigit()]
        if luhn_valid("".join(text[i] for i in digits)):
            kinds.add(CARD)
            for i in digits[:-4]:
                chars[i] = MASK
    for match in _IBAN.finditer(text):
        # The pattern may run on into the next word: the longest valid prefix is the IBAN.
        places = [i for i in range(match.start(), match.end()) if not text[i].isspace()]
        for end in range(min(len(places), _IBAN_MAX), _IBAN_MIN - 1, -1):
            if iban_valid("".join(text[i] for i in places[:end])):
                kinds.add(IBAN)
                for i in places[: end - 4]:
                    chars[i] = MASK
                break
    masked = "".join(chars)

    def hide(match: re.Match[str]) -> str:
        if match.group():
            kinds.add(PATTERN)
        return MASK * len(match.group())

    for pattern in patterns:
        masked = pattern.sub(hide, masked)
    return Masked(masked, tuple(sorted(kinds)))


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of 13 to 19 digits holds."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """``candidate`` (no spaces) is an IBAN whose check digits hold (ISO 13616 mod 97)."""
    iban = candidate.upper()
    if not (_IBAN_MIN <= len(iban) <= _IBAN_MAX and iban.isascii() and iban.isalnum()):
        return False
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# --- image metadata --------------------------------------------------------------------------


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """``data`` without its metadata when it is a JPEG, PNG or WebP this can parse; else as is."""
    try:
        if content_type == "image/jpeg" and data[:2] == b"\xff\xd8":
            return _strip_jpeg(data)
        if content_type == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n":
            return _strip_png(data)
        if content_type == "image/webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _strip_webp(data)
    except (IndexError, ValueError):
        pass  # truncated or malformed: not ours to repair
    return data


_EXIF = b"Exif\x00\x00"
#: JPEG segments dropped: APP1 (Exif, XMP) and APP13 (Photoshop's IPTC, which holds places too).
_JPEG_DROPPED = frozenset({0xE1, 0xED})
#: Markers without a length (TEM, RSTn).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])
    at = 2
    orientation = None
    while at < len(data):
        if data[at] != 0xFF:
            raise ValueError("not a marker")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            out += data[at : at + 2]
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if length < 2 or at + 2 + length > len(data):
            raise ValueError("bad segment length")
        segment = data[at : at + 2 + length]
        if marker == 0xDA:  # start of scan: the image data and everything after it
            out += data[at:]
            break
        if marker in _JPEG_DROPPED:
            payload = segment[4:]
            if marker == 0xE1 and payload.startswith(_EXIF) and orientation is None:
                orientation = _exif_orientation(payload[len(_EXIF) :])
        else:
            out += segment
        at += 2 + length
    if orientation not in (None, 1):
        # Keep the one tag the picture needs to show upright: Exif with IFD0's Orientation only,
        # after JFIF's APP0, which must come first.
        place = 2
        if out[2:4] == b"\xff\xe0":
            place += 2 + int.from_bytes(out[4:6], "big")
        out[place:place] = _orientation_segment(orientation)
    return bytes(out)


def _exif_orientation(tiff: bytes) -> int | None:
    """Orientation (tag 0x0112) from a TIFF header and its IFD0, or None."""
    endian: Literal["little", "big"]
    if tiff[:2] == b"II":
        endian = "little"
    elif tiff[:2] == b"MM":
        endian = "big"
    else:
        return None
    ifd = int.from_bytes(tiff[4:8], endian)
    count = int.from_bytes(tiff[ifd : ifd + 2], endian)
    for n in range(count):
        entry = tiff[ifd + 2 + 12 * n : ifd + 14 + 12 * n]
        if len(entry) == 12 and int.from_bytes(entry[:2], endian) == 0x0112:
            value = int.from_bytes(entry[8:10], endian)
            return value if 1 <= value <= 8 else None
    return None


def _orientation_segment(orientation: int) -> bytes:
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08"  # big-endian TIFF, IFD0 at 8
        + b"\x00\x01"  # one entry
        + b"\x01\x12\x00\x03\x00\x00\x00\x01"  # Orientation, SHORT, count 1
        + orientation.to_bytes(2, "big")
        + b"\x00\x00"
        + b"\x00\x00\x00\x00"  # no next IFD
    )
    payload = _EXIF + tiff
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


#: PNG chunks dropped: Exif, and text (tEXt, zTXt, iTXt: comments, XMP, software, places).
_PNG_DROPPED = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    at = 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if len(kind) != 4 or end > len(data):
            raise ValueError("bad chunk")
        if kind not in _PNG_DROPPED:
            out += data[at:end]
        at = end
        if kind == b"IEND":
            break
    return bytes(out)


#: WebP chunks dropped, and the VP8X flags that announce them (Exif 0x08, XMP 0x04).
_WEBP_DROPPED = {b"EXIF": 0x08, b"XMP ": 0x04}


def _strip_webp(data: bytes) -> bytes:
    chunks = bytearray()
    at = 12
    end_of_riff = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while at + 8 <= end_of_riff:
        kind = data[at : at + 4]
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        end = at + 8 + size + (size & 1)
        if end > len(data):
            raise ValueError("bad chunk")
        if kind not in _WEBP_DROPPED:
            chunk = bytearray(data[at:end])
            if kind == b"VP8X":
                chunk[8] &= ~(0x08 | 0x04) & 0xFF
            chunks += chunk
        at = end
    return b"RIFF" + (len(chunks) + 4).to_bytes(4, "little") + b"WEBP" + bytes(chunks)
