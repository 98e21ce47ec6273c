"""Tiled CPU inference: bounded memory for any frame size, same result as one pass.

A frame is cut into tiles whose inner parts cover it exactly; each tile is run with a margin of
``overlap`` pixels of real image context on every side that has one, and only its inner part is
kept. Tile origins sit on the network's pooling grid (multiples of 2^(levels-1)), so every tile
sees the same pooled values the whole frame would; with a margin wider than the receptive
field's reach, tiled and untiled results agree to float rounding.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch


def set_threads() -> int:
    """Use every core for intra-op parallelism (torch defaults to physical cores, sometimes 1)."""
    n = max(1, os.cpu_count() or 1)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def run_tiled(
    model: torch.nn.Module,
    raw: np.ndarray,
    tile: int = 512,
    overlap: int = 64,
    multiple: int = 8,
    progress: Callable[[int, int], bool | None] | None = None,
) -> np.ndarray:
    """Apply ``model`` to an (H, W, C) image tile by tile.

    Args:
        model: maps (1, C, h, w) -> (1, K, h, w), any h, w.
        raw: (H, W, C) float32 input.
        tile: inner tile side in pixels (rounded up to ``multiple``); 0 runs the whole frame at once.
        overlap: context margin in pixels (rounded up to ``multiple``).
        multiple: the network's pooling factor; tile origins are aligned to it.
        progress: called as ``progress(done, total)`` after each tile; returning True cancels
            (raises :class:`InterruptedError`).
    Returns:
        (H, W, K) float32.
    """
    h, w, _ = raw.shape
    x = torch.from_numpy(np.ascontiguousarray(raw.transpose(2, 0, 1)))[None]
    if tile <= 0 or (tile >= h and tile >= w):
        with torch.inference_mode():
            out = model(x.contiguous(memory_format=torch.channels_last))
        if progress:
            progress(1, 1)
        return out[0].permute(1, 2, 0).contiguous().numpy()
    tile = -(-tile // multiple) * multiple
    overlap = -(-overlap // multiple) * multiple
    ys, xs = list(range(0, h, tile)), list(range(0, w, tile))
    out = None
    total, done = len(ys) * len(xs), 0
    with torch.inference_mode():
        for y0 in ys:
            for x0 in xs:
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                sy0, sx0 = max(0, y0 - overlap), max(0, x0 - overlap)
                sy1, sx1 = min(h, y1 + overlap), min(w, x1 + overlap)
                part = model(x[:, :, sy0:sy1, sx0:sx1].contiguous(memory_format=torch.channels_last))
                if out is None:
                    out = np.empty((h, w, part.shape[1]), np.float32)
                out[y0:y1, x0:x1] = part[0, :, y0 - sy0 : y1 - sy0, x0 - sx0 : x1 - sx0].permute(1, 2, 0).numpy()
                done += 1
                if progress and progress(done, total):
                    raise InterruptedError("cancelled")
    return out
