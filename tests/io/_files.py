"""Builders for the good and bad files the io tests feed to handrecon.io, made on the fly in tmp_path."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import ExifTags, Image


def encode(array_or_image, fmt: str, exif: Image.Exif | None = None, **kw) -> bytes:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buf = io.BytesIO()
    if exif is not None:
        kw["exif"] = exif.tobytes()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is a few bytes: sizes are read, never decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def exif_with(orientation: int | None = None, **focal) -> Image.Exif:
    """EXIF with an orientation in IFD0 and focal tags (by Pillow name) in the Exif sub-IFD, as cameras write."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for name, value in focal.items():
        sub[ExifTags.Base[name].value] = value
    return exif


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
