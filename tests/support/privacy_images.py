"""Photo metadata for the privacy tests (unit and e2e): Exif with a GPS position, put into
images the way cameras and phones write it, so the tests can prove it never leaves the browser."""

from __future__ import annotations

import struct
import zlib

#: Exif's GPSInfo pointer tag: an IFD0 that has it points at the photo's position.
GPS_TAG = 0x8825
#: Where the test photos were "taken": 48°51'29"N (the GPSLatitude rationals' bytes).
LATITUDE = struct.pack(">6I", 48, 1, 51, 1, 29, 1)


def exif_with_gps(orientation: int = 6) -> bytes:
    """Exif (``Exif\\0\\0`` + big-endian TIFF): IFD0 with Orientation and a GPSInfo pointer, and
    a GPS IFD with GPSLatitudeRef "N" and GPSLatitude."""
    ifd0_at = 8
    ifd0 = struct.pack(">H", 2)
    gps_at = ifd0_at + 2 + 2 * 12 + 4
    ifd0 += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd0 += struct.pack(">HHII", GPS_TAG, 4, 1, gps_at)
    ifd0 += struct.pack(">I", 0)
    latitude_at = gps_at + 2 + 2 * 12 + 4
    gps = struct.pack(">H", 2)
    gps += struct.pack(">HHI4s", 1, 2, 2, b"N\x00\x00\x00")
    gps += struct.pack(">HHII", 2, 5, 3, latitude_at)
    gps += struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", ifd0_at) + ifd0 + gps + LATITUDE
    return b"Exif\x00\x00" + tiff


def jpeg_with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """``jpeg`` with an APP1 Exif segment right after its APP0 (or its SOI)."""
    place = 2
    if jpeg[2:4] == b"\xff\xe0":
        place += 2 + int.from_bytes(jpeg[4:6], "big")
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return jpeg[:place] + segment + jpeg[place:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_exif(png: bytes, exif: bytes) -> bytes:
    """``png`` with an eXIf chunk (the TIFF part of ``exif``) and a tEXt comment before IEND."""
    iend = png.rindex(b"IEND") - 4
    extra = png_chunk(b"eXIf", exif[6:]) + png_chunk(b"tEXt", b"Comment\x00taken at home")
    return png[:iend] + extra + png[iend:]


def has_gps(data: bytes) -> bool:
    """Whether ``data`` still holds the GPS position (the pointer tag or the latitude itself)."""
    return struct.pack(">H", GPS_TAG) + b"\x00\x04" in data or LATITUDE in data
