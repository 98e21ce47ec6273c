"""Read some rows of some passes of a big EXR, and add a pass to it, in bounded memory.

OpenEXR's Python binding reads every part of a file at once. An 8K frame with the usual
passes is 4-5 GB as float32, so the file commands read through this module instead: the
chunks of the rows and channels an op needs are decoded with :mod:`zlib` and numpy, and an
output is the input's chunks copied as they are (still compressed) plus the new pass, encoded
strip by strip. It covers the scanline layouts Blender and this project write (compression
NONE, ZIPS or ZIP, one sample per pixel); :func:`streamable` says why any other file is not,
and the callers then read it whole through the library.

Chunk layout (OpenEXR file format, version 2): ``[part number (multi-part)] y packed-size
data``; a chunk holds ``lines`` scanlines, each the channels in name order, each ``width``
little-endian samples. ZIP data is the scanlines' bytes split into even and odd bytes, each
byte then stored as its difference to the previous one (+128), deflated; a chunk that would not
get smaller is stored raw.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PassSetError
from .exr_layout import PartLayout, check_complete

NONE, ZIPS, ZIP = 0, 2, 3
_LINES = {NONE: 1, ZIPS: 1, ZIP: 16}
_DTYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
#: zlib level of the chunks we encode (OpenEXR's own default).
ZIP_LEVEL = 4


@dataclass(frozen=True)
class Channel:
    name: str
    ptype: int
    """0 UINT, 1 HALF, 2 FLOAT."""

    @property
    def dtype(self) -> np.dtype:
        return _DTYPES[self.ptype]


def _channels(raw: bytes, src: str) -> tuple[list[Channel], bool]:
    """The channels of a ``chlist`` attribute, and whether each has one sample per pixel."""
    out, pos, simple = [], 0, True
    while pos < len(raw) and raw[pos] != 0:
        end = raw.find(b"\0", pos)
        if end < 0 or end + 17 > len(raw):
            raise PassSetError(f"{src}: corrupt EXR header (channel list)")
        name = raw[pos:end].decode("latin-1")
        ptype, _linear, xs, ys = struct.unpack_from("<iB3xii", raw, end + 1)
        if ptype not in _DTYPES:
            raise PassSetError(f"{src}: corrupt EXR header (channel '{name}' of pixel type {ptype})")
        simple &= xs == 1 and ys == 1
        out.append(Channel(name, ptype))
        pos = end + 17
    return out, simple


@dataclass
class Part:
    """One part of a file, as far as reading rows of it needs."""

    index: int
    layout: PartLayout
    channels: list[Channel]
    x0: int
    y0: int
    width: int
    height: int
    compression: int

    @property
    def lines(self) -> int:
        return _LINES[self.compression]

    @property
    def line_bytes(self) -> int:
        return self.width * sum(c.dtype.itemsize for c in self.channels)


class ExrStream:
    """A complete (checked) scanline EXR whose chunks can be read one at a time."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.src = str(path)
        layouts = check_complete(self.path)
        self.parts: list[Part] = []
        self.reason = "" if layouts else "a layout this reader does not size"
        for i, lay in enumerate(layouts):
            a = lay.attrs
            chans, simple = _channels(a.get("channels", ("", b""))[1], self.src)
            comp = a.get("compression", ("", b"\0"))[1][0]
            x0, y0, x1, y1 = struct.unpack("<4i", a["dataWindow"][1][:16])
            if x1 < x0 or y1 < y0:
                raise PassSetError(f"{self.src}: corrupt EXR header (part '{lay.name}' has an empty data window)")
            if lay.tiled or lay.deep:
                self.reason = self.reason or f"part '{lay.name}' is {'tiled' if lay.tiled else 'deep'}"
            elif comp not in _LINES:
                self.reason = self.reason or f"part '{lay.name}' uses compression {comp} (only NONE, ZIPS and ZIP stream)"
            elif not simple:
                self.reason = self.reason or f"part '{lay.name}' has subsampled channels"
            part = Part(i, lay, chans, x0, y0, x1 - x0 + 1, y1 - y0 + 1, comp)
            if comp in _LINES and not (lay.tiled or lay.deep) and len(lay.offsets) != -(-part.height // part.lines):
                raise PassSetError(f"{self.src}: corrupt EXR header (part '{lay.name}' has {len(lay.offsets)} "
                                   f"chunks for {part.height} lines)")
            self.parts.append(part)
        self.multipart = bool(layouts) and layouts[0].multipart
        self.version = layouts[0].version if layouts else 2

    @property
    def streamable(self) -> bool:
        return not self.reason

    def channel_names(self) -> list[str]:
        return [c.name for p in self.parts for c in p.channels]

    def find(self, name: str) -> tuple[Part, Channel]:
        for p in self.parts:
            for c in p.channels:
                if c.name == name:
                    return p, c
        raise PassSetError(f"{self.src}: no channel '{name}'")

    # ---- reading ------------------------------------------------------------------------
    def raw_chunk(self, f, part: Part, k: int) -> tuple[bytes, bytes]:
        """(lead bytes: part number, y and packed size; packed data) of chunk ``k`` of ``part``."""
        f.seek(part.layout.offsets[k])
        n = 12 if self.multipart else 8
        lead = f.read(n)
        (packed,) = struct.unpack_from("<i", lead, n - 4)
        return lead, f.read(packed)

    def decode_chunk(self, f, part: Part, k: int) -> np.ndarray:
        """Chunk ``k`` of ``part`` as (lines, line bytes) uint8."""
        lead, data = self.raw_chunk(f, part, k)
        y = struct.unpack_from("<i", lead, 4 if self.multipart else 0)[0]
        lines = min(part.lines, part.height - k * part.lines)
        if y != part.y0 + k * part.lines:
            raise PassSetError(f"{self.src}: corrupt EXR: part '{part.layout.name}' has chunk {k} at line {y}")
        size = lines * part.line_bytes
        return decompress(part.compression, data, size, self.src).reshape(lines, part.line_bytes)

    def read_rows(self, names: Iterable[str], y0: int = 0, y1: int | None = None) -> dict[str, np.ndarray]:
        """Rows ``y0:y1`` (counted from the data window's top) of the channels ``names``, each
        (rows, width) in its stored type."""
        names = list(names)
        if not self.streamable:
            raise PassSetError(f"{self.src}: cannot be read in strips: {self.reason}")
        by_part: dict[int, list[Channel]] = {}
        for n in names:
            p, c = self.find(n)
            by_part.setdefault(p.index, []).append(c)
        out: dict[str, np.ndarray] = {}
        with open(self.path, "rb") as f:
            for i, chans in by_part.items():
                part = self.parts[i]
                top, bottom = max(0, y0), min(part.height, part.height if y1 is None else y1)
                bufs = {c.name: np.empty((max(0, bottom - top), part.width), c.dtype) for c in chans}
                cols, pos = {}, 0
                for c in part.channels:
                    cols[c.name] = (pos, pos + part.width * c.dtype.itemsize)
                    pos = cols[c.name][1]
                for k in range(top // part.lines, -(-bottom // part.lines)):
                    block = self.decode_chunk(f, part, k)
                    first = k * part.lines
                    a, b = max(top, first), min(bottom, first + len(block))
                    for c in chans:
                        lo, hi = cols[c.name]
                        bufs[c.name][a - top:b - top] = block[a - first:b - first, lo:hi].view(c.dtype)
                out.update(bufs)
        return out


def decompress(compression: int, data: bytes, size: int, src: str = "") -> np.ndarray:
    """The ``size`` raw bytes of one chunk (uint8)."""
    if len(data) == size:  # NONE, or a chunk that compression would not have made smaller
        return np.frombuffer(data, np.uint8)
    if compression not in (ZIP, ZIPS):
        raise PassSetError(f"{src}: corrupt EXR chunk ({len(data)} bytes, {size} expected)")
    try:
        t = np.frombuffer(zlib.decompress(data), np.uint8)
    except zlib.error as e:
        raise PassSetError(f"{src}: corrupt EXR chunk ({e})") from None
    if t.size != size:
        raise PassSetError(f"{src}: corrupt EXR chunk ({t.size} bytes unpacked, {size} expected)")
    d = t.copy()
    d[1:] -= 128  # uint8 arithmetic wraps, as the predictor does
    t = np.cumsum(d, dtype=np.uint8)
    out = np.empty_like(t)
    half = (size + 1) // 2
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return out


def compress(compression: int, raw: np.ndarray) -> bytes:
    """One chunk's raw bytes (uint8) packed as ``compression`` stores them."""
    raw = np.ascontiguousarray(raw, np.uint8).reshape(-1)
    if compression == NONE:
        return raw.tobytes()
    t = np.concatenate([raw[0::2], raw[1::2]])
    d = t.copy()
    d[1:] = t[1:] - t[:-1] + 128
    packed = zlib.compress(d.tobytes(), ZIP_LEVEL)
    return packed if len(packed) < raw.size else raw.tobytes()


# ---- writing ----------------------------------------------------------------------------
def _attr(name: str, typ: str, value: bytes) -> bytes:
    return name.encode("latin-1") + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _chlist(channels: list[Channel]) -> bytes:
    return b"".join(c.name.encode("latin-1") + b"\0" + struct.pack("<iB3xii", c.ptype, 0, 1, 1)
                    for c in sorted(channels, key=lambda c: c.name)) + b"\0"


@dataclass
class NewPart:
    """A pass to add: full channel names (``ViewLayer.Neural Denoised.R``) and (H, W, C) pixels
    in that order."""

    name: str
    channels: list[str]
    pixels: np.ndarray
    half: bool = False


def write_with_parts(src: ExrStream, dst: str | os.PathLike, new: list[NewPart], drop: set[str],
                     progress: Callable[[str], None] | None = None) -> None:
    """Write ``dst``: every part of ``src`` (its chunks copied as they are; a part that loses
    channels in ``drop`` re-encoded, one that loses all of them left out), then the parts
    ``new`` (ZIP). Multi-part, whatever ``src`` was."""
    if not src.streamable:
        raise PassSetError(f"{src.src}: cannot be copied in strips: {src.reason}")
    plans = []  # (source Part or None, kept channels, NewPart or None)
    for p in src.parts:
        kept = [c for c in p.channels if c.name not in drop]
        if kept:
            plans.append((p, kept, None))
    ref = src.parts[0]
    for n in new:
        h, w = n.pixels.shape[:2]
        if (h, w) != (ref.height, ref.width):
            raise PassSetError(f"{src.src}: pass '{n.name}' is {w}x{h}, the file is {ref.width}x{ref.height}")
        chans = [Channel(c, 1 if n.half else 2) for c in n.channels]
        plans.append((None, chans, n))

    names: set[str] = set()
    headers, counts = [], []
    long_names = False
    for i, (p, kept, n) in enumerate(plans):
        attrs = dict(ref.layout.attrs if p is None else p.layout.attrs)
        comp = ZIP if p is None else p.compression
        height = ref.height if p is None else p.height
        chunks = -(-height // _LINES[comp])
        name = n.name if n is not None else attrs.get("name", ("", b""))[1].rstrip(b"\0").decode("latin-1")
        if not name or name in names:
            name = f"{name or 'part'}.{i}"
        names.add(name)
        if p is None:  # a new part: the first part's windows, none of its other attributes
            attrs = {k: v for k, v in attrs.items() if k in ("dataWindow", "displayWindow", "pixelAspectRatio",
                                                             "screenWindowCenter", "screenWindowWidth")}
            attrs["compression"] = ("compression", bytes([ZIP]))
            attrs["lineOrder"] = ("lineOrder", b"\0")
        attrs["channels"] = ("chlist", _chlist(kept))
        attrs["name"] = ("string", name.encode("latin-1"))
        attrs["type"] = ("string", b"scanlineimage")
        attrs["chunkCount"] = ("int", struct.pack("<i", chunks))
        long_names |= any(len(k) > 31 or len(t) > 31 for k, (t, _) in attrs.items())
        long_names |= any(len(c.name) > 31 for c in kept) or len(name) > 31
        headers.append(b"".join(_attr(k, t, v) for k, (t, v) in attrs.items()) + b"\0")
        counts.append(chunks)
    version = 2 | 0x1000 | (0x400 if long_names else 0)
    head = struct.pack("<ii", 20000630, version) + b"".join(headers) + b"\0"
    table_at = len(head)
    offsets: list[int] = []
    with open(src.path, "rb") as fin, open(dst, "wb") as out:
        out.write(head)
        out.write(b"\0" * 8 * sum(counts))
        for i, (p, kept, n) in enumerate(plans):
            if progress:
                progress(n.name if n is not None else p.layout.name)
            if n is not None:
                _write_new(out, i, n, ref.y0, kept, offsets)
            elif len(kept) == len(p.channels):  # copied as it is, the part number renumbered
                for k in range(len(p.layout.offsets)):
                    lead, data = src.raw_chunk(fin, p, k)
                    offsets.append(out.tell())
                    out.write(struct.pack("<i", i) + lead[-8:] + data)
            else:
                _write_fewer(out, fin, src, i, p, kept, offsets)
        out.seek(table_at)
        out.write(struct.pack(f"<{len(offsets)}q", *offsets))


def _write_new(out, i: int, n: NewPart, y0: int, chans: list[Channel], offsets: list[int]) -> None:
    order = sorted(range(len(chans)), key=lambda j: chans[j].name)
    dtype = np.dtype("<f2" if n.half else "<f4")
    h = n.pixels.shape[0]
    for top in range(0, h, _LINES[ZIP]):
        block = n.pixels[top:top + _LINES[ZIP]]
        # Each line: the channels in name order, each a run of samples.
        raw = np.ascontiguousarray(block[:, :, order].transpose(0, 2, 1), dtype=dtype).view(np.uint8)
        data = compress(ZIP, raw)
        offsets.append(out.tell())
        out.write(struct.pack("<iii", i, y0 + top, len(data)) + data)


def _write_fewer(out, fin, src: ExrStream, i: int, p: Part, kept: list[Channel], offsets: list[int]) -> None:
    cols, pos = [], 0
    keep = {c.name for c in kept}
    for c in p.channels:
        end = pos + p.width * c.dtype.itemsize
        if c.name in keep:
            cols.append((pos, end))
        pos = end
    for k in range(len(p.layout.offsets)):
        block = src.decode_chunk(fin, p, k)
        raw = np.concatenate([block[:, a:b] for a, b in cols], axis=1)
        data = compress(p.compression, raw)
        offsets.append(out.tell())
        out.write(struct.pack("<iii", i, p.y0 + k * p.lines, len(data)) + data)
