"""The visitor's privacy filters (porch_runtime.privacy), in CPython: what is masked in a
message, what is kept, and photos without their position."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_core import Harness

from porch_protocol import SendMessage
from porch_runtime.privacy import (
    MASK,
    compile_patterns,
    iban_valid,
    luhn_valid,
    mask_text,
    strip_metadata,
)
from support.privacy_images import exif_with_gps, has_gps, jpeg_with_exif, png_chunk, png_with_exif

# --- cards, IBANs, patterns -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4111 1111 1111 1111 ok", "card •••• •••• •••• 1111 ok"),
        ("4111-1111-1111-1111", "••••-••••-••••-1111"),
        ("5500005555555559.", "••••••••••••5559."),
        ("amex 378282246310005", "amex •••••••••••0005"),
    ],
)
def test_luhn_valid_card_numbers_are_masked_but_their_last_four_digits(
    text: str, masked: str
) -> None:
    assert mask_text(text) == type(mask_text(""))(masked, ("card",))


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "order 123456789012",  # 12 digits
        "id 41111111111111111111",  # 20 digits: not a card
        "call +44 20 7946 0958",
        "2024-01-15 10:30",
    ],
)
def test_numbers_that_are_not_cards_stay(text: str) -> None:
    assert mask_text(text).text == text
    assert mask_text(text).kinds == ()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("DE89 3704 0044 0532 0130 00", "•••• •••• •••• •••• ••30 00"),
        ("pay GB82WEST12345698765432 thanks", "pay ••••••••••••••••••5432 thanks"),
        ("iban: fr1420041010050500013m02606", "iban: •••••••••••••••••••••••2606"),
        ("DE89 3704 0044 0532 0130 00 PLEASE", "•••• •••• •••• •••• ••30 00 PLEASE"),
    ],
)
def test_checksum_valid_ibans_are_masked(text: str, masked: str) -> None:
    assert mask_text(text).text == masked
    assert mask_text(text).kinds == ("iban",)


def test_an_iban_with_wrong_check_digits_stays() -> None:
    assert mask_text("DE88 3704 0044 0532 0130 00").kinds == ()
    assert not iban_valid("DE8837040044053201300")
    assert iban_valid("DE89370400440532013000")


def test_the_sites_patterns_are_masked_and_a_bad_one_is_reported_not_fatal() -> None:
    patterns, problems = compile_patterns([r"ORD-\d{6}", "(", r"x*"])
    assert len(patterns) == 2
    assert problems == [
        "privacy pattern '(' ignored: missing ), unterminated subpattern at position 0"
    ]
    masked = mask_text("order ORD-123456, card 4111111111111111", patterns)
    assert masked.text == "order ••••••••••, card ••••••••••••1111"
    assert masked.kinds == ("card", "pattern")
    # A pattern that matches only empty strings masks nothing and flags nothing.
    assert mask_text("nothing here", [re.compile("x*")]).kinds == ()


@given(st.text(alphabet="0123456789 -abc", max_size=60))
def test_masking_keeps_the_length_and_every_unmasked_character(text: str) -> None:
    masked = mask_text(text).text
    assert len(masked) == len(text)
    assert all(m in (t, MASK) for m, t in zip(masked, text, strict=True))


@given(st.from_regex(r"\d{13,19}", fullmatch=True))
def test_luhn_agrees_with_a_direct_computation(digits: str) -> None:
    doubled = [int(d) * (2 if i % 2 else 1) for i, d in enumerate(reversed(digits))]
    assert luhn_valid(digits) == (sum(d - 9 if d > 9 else d for d in doubled) % 10 == 0)


# --- the runtime masks before sending ------------------------------------------------------


def test_the_runtime_sends_the_masked_text_with_its_flag() -> None:
    h = Harness(privacy_patterns=[r"ORD-\d{6}"])
    h.connect()
    h.panel("ui.send", client_id="c1", text="card 4111 1111 1111 1111, order ORD-123456")
    (sent,) = [f for f in h.frames if isinstance(f, SendMessage)]
    assert sent.text == "card •••• •••• •••• 1111, order ••••••••••"
    assert sent.masked == ("card", "pattern")
    # The visitor's own bubble shows what was sent, not what was typed.
    assert h.renders("render.message")[-1]["message"]["text"] == sent.text


def test_a_site_can_turn_the_filter_off() -> None:
    h = Harness(privacy_filter=False)
    h.connect()
    h.panel("ui.send", client_id="c1", text="card 4111 1111 1111 1111")
    (sent,) = [f for f in h.frames if isinstance(f, SendMessage)]
    assert (sent.text, sent.masked) == ("card 4111 1111 1111 1111", ())


# --- photo metadata -------------------------------------------------------------------------

#: A JPEG's structure around its scan (tables and scan data are opaque to the stripper).
JPEG = (
    b"\xff\xd8"
    + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xdb\x00\x05\x00\x10\x20"
    + b"\xff\xda\x00\x04\x01\x00scan-data\xff\x00more\xff\xd9"
)


def test_a_jpeg_loses_its_exif_but_keeps_its_orientation_and_its_image() -> None:
    photo = jpeg_with_exif(JPEG, exif_with_gps(orientation=6))
    assert has_gps(photo)
    clean = strip_metadata(photo, "image/jpeg")
    assert not has_gps(clean)
    assert clean.endswith(JPEG[JPEG.index(b"\xff\xdb") :])  # tables and scan untouched
    assert clean.startswith(JPEG[:20])  # JFIF first
    # Orientation 6 (rotated) is all that is left of the Exif.
    assert clean.count(b"Exif\x00\x00") == 1
    assert b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06" in clean
    assert len(clean) < len(photo)


def test_an_upright_jpeg_keeps_no_exif_at_all() -> None:
    clean = strip_metadata(jpeg_with_exif(JPEG, exif_with_gps(orientation=1)), "image/jpeg")
    assert clean == JPEG


def test_a_png_loses_its_exif_and_text_chunks() -> None:
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + png_chunk(b"IDAT", b"pixels")
        + png_chunk(b"IEND", b"")
    )
    photo = png_with_exif(png, exif_with_gps())
    assert has_gps(photo) and b"tEXt" in photo
    assert strip_metadata(photo, "image/png") == png


def test_a_webp_loses_its_exif_chunk_and_flag() -> None:
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08 | 0x10]) + b"\x00" * 9
    image = b"VP8L" + struct.pack("<I", 5) + b"abcde\x00"
    exif = exif_with_gps()[6:]
    exif_chunk = b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\x00" * (len(exif) & 1)
    body = b"WEBP" + vp8x + image + exif_chunk
    photo = b"RIFF" + struct.pack("<I", len(body)) + body
    clean = strip_metadata(photo, "image/webp")
    assert not has_gps(clean)
    assert clean[12:16] == b"VP8X" and clean[20] == 0x10  # Exif flag off, alpha flag kept
    assert clean.endswith(image)
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"\xff\xd8\xff\xe1\x00", "image/jpeg"),  # truncated
        (b"GIF89a...", "image/gif"),  # not a type it rewrites
        (b"not a png", "image/png"),
    ],
)
def test_what_it_cannot_parse_is_returned_as_is(data: bytes, content_type: str) -> None:
    assert strip_metadata(data, content_type) == data
