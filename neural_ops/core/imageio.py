"""Images people look at: tonemapped PNGs and side-by-side comparison strips.

PNG encoding uses only zlib so it works inside Blender's Python as well as the CLI.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .metrics import srgb_encode


def to_display(linear: np.ndarray, exposure: float = 0.0) -> np.ndarray:
    """(H, W, 3) linear HDR -> (H, W, 3) uint8 sRGB, with exposure in stops."""
    x = np.asarray(linear, dtype=np.float32)[..., :3] * (2.0**exposure)
    return np.round(srgb_encode(np.nan_to_num(x)) * 255.0).astype(np.uint8)


def write_png(path: str | Path, rgb8: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 as an 8-bit RGB PNG (top row first)."""
    rgb8 = np.ascontiguousarray(rgb8, dtype=np.uint8)
    h, w, c = rgb8.shape
    if c != 3:
        raise ValueError(f"write_png expects (H, W, 3) uint8, got {rgb8.shape}")
    raw = b"".join(b"\x00" + rgb8[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def label(img: np.ndarray, text: str) -> np.ndarray:
    """Put ``text`` in a dark bar above (H, W, 3) uint8 ``img``; unchanged if Pillow is missing
    (Blender's Python has no Pillow: the strip is still written, just without captions)."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return img
    bar = Image.new("RGB", (img.shape[1], 16), (24, 24, 24))
    ImageDraw.Draw(bar).text((4, 2), text, fill=(235, 235, 235), font=ImageFont.load_default())
    return np.concatenate([np.asarray(bar, dtype=np.uint8), img], axis=0)


def side_by_side(images: list[np.ndarray], gap: int = 4, labels: list[str] | None = None) -> np.ndarray:
    """Concatenate (H, W, 3) uint8 images horizontally with a dark gap, optionally captioned."""
    if labels:
        images = [label(i, t) for i, t in zip(images, labels)]
    h = max(i.shape[0] for i in images)
    cols = []
    for k, img in enumerate(images):
        if img.shape[0] < h:
            img = np.pad(img, ((0, h - img.shape[0]), (0, 0), (0, 0)))
        cols.append(img)
        if k < len(images) - 1:
            cols.append(np.full((h, gap, 3), 24, np.uint8))
    return np.concatenate(cols, axis=1)
