"""Picture sizes from file headers (PNG, JPEG, GIF, BMP, WebP, TIFF) without decoding: a few hundred bytes each.

`header(path)` also reads the EXIF orientation (JPEG APP1, PNG eXIf before IDAT, TIFF IFD0) and whether a PNG
ends with its IEND chunk, because that is what decides the size MMPose's loader sees (hoofenv.data.imagefiles).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

ORIENTATION_TAG = 0x0112
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


@dataclass
class Header:
    format: str  # png, jpeg, gif, bmp, webp, tiff; "" when no known signature
    width: int = 0
    height: int = 0
    orientation: int = 1  # EXIF orientation; 5-8 turn the picture a quarter
    complete: bool = True  # PNG: IEND found; JPEG: the scan (SOS) begins; other formats are not checked
    bytes: int = 0


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) as stored, or None for a format or file this reader does not understand."""
    h = header(path)
    return (h.width, h.height) if h is not None and h.format else None


def header(path: str | Path) -> Header | None:
    """The stored size, orientation and completeness; Header(format="") for a file that is no known picture,
    None when the header is cut short or does not parse."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            size = f.seek(0, 2)
            f.seek(len(head))
            h = _header(head, f)
            if h is not None:
                h.bytes = size
            return h
    except (OSError, struct.error, ValueError):
        return None


def _header(head: bytes, f) -> Header | None:
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return _png(head, f)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Header("gif", *struct.unpack("<HH", head[6:10]))
    if head.startswith(b"BM") and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return Header("bmp", w, abs(h))
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        size = _webp(head, f)
        return Header("webp", *size) if size else None
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(f)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(f)
    return Header("")


def _png(head: bytes, f) -> Header | None:
    w, h = struct.unpack(">II", head[16:24])
    out = Header("png", w, h, complete=False)
    f.seek(33)  # signature 8 + IHDR (4 length, 4 type, 13 data, 4 crc)
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return out
        length, kind = struct.unpack(">I4s", chunk)
        if kind == b"eXIf" and length < 1 << 20:
            out.orientation = _exif_orientation(f.read(length)) or 1
            f.seek(4, 1)
        elif kind in (b"IDAT", b"IEND"):
            break
        else:
            f.seek(length + 4, 1)
    end = f.seek(0, 2)
    f.seek(max(0, end - 4096))
    out.complete = PNG_IEND in f.read()
    return out


def _jpeg(f) -> Header | None:
    f.seek(2)
    orientation = 1
    size = None
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return Header("jpeg", size[0], size[1], orientation, complete=False) if size else None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        # SOF0-15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and size is None:
            h, w = struct.unpack(">xHH", f.read(5))
            size = (w, h)
            f.seek(length - 7, 1)
            continue
        if marker == 0xDA:  # start of scan: the pixels follow; a file cut before here decodes to nothing
            if size is None:
                return None
            return Header("jpeg", size[0], size[1], orientation, complete=len(f.read(length)) == length)
        if marker == 0xE1 and length > 8:
            data = f.read(length - 2)
            if data.startswith(b"Exif\x00\x00"):
                orientation = _exif_orientation(data[6:]) or orientation
            continue
        f.seek(length - 2, 1)


def _exif_orientation(tiff: bytes) -> int | None:
    """The Orientation tag of IFD0 in a TIFF-structured EXIF block."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
    for n in range(count):
        at = offset + 2 + 12 * n
        if at + 12 > len(tiff):
            return None
        tag, typ = struct.unpack(order + "HH", tiff[at:at + 4])
        if tag == ORIENTATION_TAG and typ == 3:
            return struct.unpack(order + "H", tiff[at + 8:at + 10])[0]
    return None


def _webp(head: bytes, f) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        f.seek(26)
        w, h = struct.unpack("<HH", f.read(4))
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b = head[21:25]
        bits = int.from_bytes(b, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(head[24:27], "little") + 1
        f.seek(27)
        h = int.from_bytes(f.read(3), "little") + 1
        return w, h
    return None


def _tiff(f) -> Header | None:
    f.seek(0)
    order = "<" if f.read(2) == b"II" else ">"
    f.seek(4)
    (offset,) = struct.unpack(order + "I", f.read(4))
    f.seek(offset)
    (count,) = struct.unpack(order + "H", f.read(2))
    size: dict[int, int] = {}
    orientation = 1
    for _ in range(count):
        tag, typ, _n, value = struct.unpack(order + "HHI4s", f.read(12))
        if tag in (256, 257):
            fmt = order + ("H" if typ == 3 else "I")
            size[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
        elif tag == ORIENTATION_TAG and typ == 3:
            orientation = struct.unpack(order + "H", value[:2])[0]
    if 256 in size and 257 in size:
        return Header("tiff", size[256], size[257], orientation)
    return None
