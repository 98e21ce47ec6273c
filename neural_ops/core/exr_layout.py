"""Is an OpenEXR file complete? A check of its structure, before the library reads it.

OpenEXR's Python binding reads a truncated multi-part file without complaint: parts whose pixel
data is cut off are dropped with a warning, so a frame would quietly lose passes. Here the
headers (every part's name and chunk count) and the chunk offset tables are read with
:mod:`struct` (a few KB, whatever the image size), and every chunk must lie inside the file:
a truncated or cut-open file is an error naming the first part it damages.

Layout (OpenEXR file format, version 2): magic, version and flags; one header per part (a list
of ``name\\0type\\0size value`` attributes ending with a null byte; multi-part files end the
list of headers with one more null byte); then per part a table of ``chunkCount`` 64-bit chunk
offsets; then the chunks, each led by (multi-part: the part number,) its first line (tiles: four
tile coordinates; deep data: two sizes) and the packed size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PassSetError

MAGIC = 20000630
#: Lines per chunk of a scanline image, by the ``compression`` attribute's value.
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
#: Headers larger than this are not an image we write or Blender writes.
MAX_HEADER_BYTES = 16 << 20
#: What is read first: enough for the headers of any multilayer EXR Blender writes.
HEAD_BYTES = 256 << 10


@dataclass
class PartLayout:
    name: str
    chunks: int
    tiled: bool
    deep: bool
    pixels: int = 0
    """Width x height of the data window."""
    channels: int = 0
    attrs: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """The header's attributes: name -> (type, raw value)."""
    offsets: tuple[int, ...] = ()
    """Where each chunk starts in the file, in increasing y order."""
    multipart: bool = False
    version: int = 2
    """The file's version field (flags included)."""


def _count_channels(raw: bytes) -> int:
    """Channels in a ``chlist`` attribute: name, then 16 bytes each, up to a null name."""
    n, pos = 0, 0
    while pos < len(raw) and raw[pos] != 0:
        end = raw.find(b"\0", pos)
        if end < 0:
            break
        pos = end + 1 + 16
        n += 1
    return n


def _window_pixels(attrs: dict[str, tuple[str, bytes]]) -> int:
    try:
        x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1][:16])
    except (KeyError, struct.error):
        return 0
    return max(0, x1 - x0 + 1) * max(0, y1 - y0 + 1)


def memory_needed(parts: list[PartLayout]) -> int:
    """Bytes :func:`~neural_ops.core.exr.read_exr` holds at its peak for these parts: every
    channel as the library's array and as float32 (about 8 bytes a sample)."""
    return sum(p.pixels * p.channels for p in parts) * 8


class _Reader:
    def __init__(self, data: bytes, src: str):
        self.data, self.pos, self.src = data, 0, src

    def need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise PassSetError(f"{self.src}: truncated EXR header")

    def cstr(self) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + 256)
        if end < 0:
            raise PassSetError(f"{self.src}: corrupt EXR header (a name without its end)")
        s = self.data[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return s

    def unpack(self, fmt: str):
        n = struct.calcsize(fmt)
        self.need(n)
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += n
        return v


def _header(r: _Reader) -> dict[str, tuple[str, bytes]] | None:
    """One header's attributes (name -> (type, raw value)); None for the empty header that ends
    a multi-part file's list."""
    attrs: dict[str, tuple[str, bytes]] = {}
    while True:
        r.need(1)
        if r.data[r.pos] == 0:
            r.pos += 1
            return attrs or None
        name = r.cstr()
        typ = r.cstr()
        (size,) = r.unpack("<i")
        if size < 0 or size > MAX_HEADER_BYTES:
            raise PassSetError(f"{r.src}: corrupt EXR header (attribute '{name}' of {size} bytes)")
        r.need(size)
        attrs[name] = (typ, r.data[r.pos:r.pos + size])
        r.pos += size


def _chunk_count(attrs: dict[str, tuple[str, bytes]], tiled: bool) -> int | None:
    """How many chunks a part has; None where only the tile layout could tell (old single-part
    tiled files without ``chunkCount``: not checked)."""
    if "chunkCount" in attrs:
        return struct.unpack("<i", attrs["chunkCount"][1][:4])[0]
    if tiled:
        return None
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1][:16])
    per = _LINES_PER_CHUNK.get(attrs.get("compression", ("", b"\0"))[1][0])
    return None if per is None else -(-(y1 - y0 + 1) // per)


def _read_headers(head: bytes, src: str) -> tuple[_Reader, int, list[dict[str, tuple[str, bytes]]]]:
    """(reader just past the headers, version field, every part's attributes) of a file's start."""
    r = _Reader(head, src)
    magic, version = r.unpack("<ii")
    if magic != MAGIC:
        raise PassSetError(f"{src}: not an OpenEXR file")
    headers = []
    while True:
        h = _header(r)
        if h is None:
            if not headers:
                raise PassSetError(f"{src}: corrupt EXR header (no attributes)")
            break
        headers.append(h)
        if not version & 0x1000:  # single part: one header, no list end
            break
    return r, version, headers


def check_complete(path: str | Path) -> list[PartLayout]:
    """The parts of the EXR ``path`` if every chunk of every part lies inside the file, else a
    :class:`PassSetError` naming the file and the first damaged part. Layouts it cannot size
    (deep data, old tiled files) are checked only as far as their offsets."""
    path = Path(path)
    src = str(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        # Headers are a few KB: read 256 KB, and more only for a file whose headers are larger.
        head = f.read(min(size, HEAD_BYTES))
        try:
            r, version, headers = _read_headers(head, src)
        except PassSetError:
            if len(head) >= min(size, MAX_HEADER_BYTES):
                raise
            head += f.read(min(size, MAX_HEADER_BYTES) - len(head))
            r, version, headers = _read_headers(head, src)
        single_tiled, multipart, deep_flag = bool(version & 0x200), bool(version & 0x1000), bool(version & 0x800)
        parts = []
        for i, h in enumerate(headers):
            typ = h.get("type", ("", b""))[1].rstrip(b"\0").decode("latin-1")
            tiled = "tile" in typ or (not multipart and single_tiled)
            deep = typ.startswith("deep") or (not multipart and deep_flag)
            default = f"part {i}" if multipart else "image"
            name = h.get("name", ("", default.encode()))[1].rstrip(b"\0").decode("latin-1")
            try:
                chunks = _chunk_count(h, tiled)
            except (KeyError, struct.error, IndexError):
                raise PassSetError(f"{src}: corrupt EXR header (part '{name}' has no data window)") from None
            if chunks is None:
                return []  # a layout we do not size: the library's own checks apply
            if chunks < 0 or 8 * chunks > size:
                raise PassSetError(f"{src}: corrupt EXR header (part '{name}' claims {chunks} chunks)")
            parts.append(PartLayout(name, chunks, tiled, deep, _window_pixels(h),
                                    _count_channels(h.get("channels", ("", b""))[1]), h, (), multipart, version))
        total = sum(p.chunks for p in parts)
        f.seek(r.pos)
        table = f.read(8 * total)
        if len(table) < 8 * total:
            raise PassSetError(f"{src}: truncated EXR ({size} bytes): its chunk table is cut off")
        offsets = struct.unpack(f"<{total}q", table)
        k = 0
        for p in parts:
            # Before a chunk's packed size: the part number (multi-part), then the first line
            # (scanlines) or four tile coordinates (tiles).
            lead = (4 if multipart else 0) + (16 if p.tiled else 4)
            for off in offsets[k:k + p.chunks]:
                if off <= 0 or off + lead + 4 > size:
                    raise PassSetError(f"{src}: truncated or corrupt EXR ({size} bytes): part '{p.name}' "
                                       "lies past the end of the file")
                if p.deep:
                    continue
                f.seek(off + lead)
                (packed,) = struct.unpack("<i", f.read(4))
                if packed < 0 or off + lead + 4 + packed > size:
                    raise PassSetError(f"{src}: truncated or corrupt EXR ({size} bytes): part '{p.name}' is cut off")
            p.offsets = offsets[k:k + p.chunks]
            k += p.chunks
    return parts
