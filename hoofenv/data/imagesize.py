"""Picture sizes from file headers (PNG, JPEG, GIF, BMP, WebP, TIFF) without decoding: a few hundred bytes each."""

from __future__ import annotations

import struct
from pathlib import Path


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height), or None for a format or file this reader does not understand."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if head.startswith(b"BM") and len(head) >= 26:
                w, h = struct.unpack("<ii", head[18:26])
                return w, abs(h)
            if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
                return _webp(head, f)
            if head[:4] in (b"II*\x00", b"MM\x00*"):
                return _tiff(f)
            if head.startswith(b"\xff\xd8"):
                return _jpeg(f)
    except (OSError, struct.error):
        return None
    return None


def _jpeg(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        length = struct.unpack(">H", f.read(2))[0]
        # SOF0-15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">xHH", f.read(5))
            return w, h
        f.seek(length - 2, 1)


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


def _tiff(f) -> tuple[int, int] | None:
    f.seek(0)
    order = "<" if f.read(2) == b"II" else ">"
    f.seek(4)
    (offset,) = struct.unpack(order + "I", f.read(4))
    f.seek(offset)
    (count,) = struct.unpack(order + "H", f.read(2))
    size: dict[int, int] = {}
    for _ in range(count):
        tag, typ, _n, value = struct.unpack(order + "HHI4s", f.read(12))
        if tag in (256, 257):
            fmt = order + ("H" if typ == 3 else "I")
            size[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
    if 256 in size and 257 in size:
        return size[256], size[257]
    return None
