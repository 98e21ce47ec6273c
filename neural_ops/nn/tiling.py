"""Tiled CPU inference: bounded memory for any frame size, same result as one pass.

A frame is cut into tiles whose inner parts cover it exactly; each tile is run with a margin of
``overlap`` pixels of real image context on every side that has one, and only its inner part is
kept. Tile origins sit on the network's pooling grid (multiples of 2^(levels-1)), so every tile
sees the same pooled values the whole frame would; with a margin wider than the receptive
field's reach, tiled and untiled results agree to float rounding.

Works on numpy alone: a model is any callable (1, C, h, w) float32 array -> (1, K, h, w) array
(an ONNX Runtime session, see :mod:`.onnx_backend`, or a torch module wrapped by
:class:`TorchModel`; a bare ``torch.nn.Module`` is wrapped automatically).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np


def set_threads() -> int:
    """Use every core for torch's intra-op parallelism (it defaults to physical cores,
    sometimes 1); a no-op without torch."""
    n = max(1, os.cpu_count() or 1)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class TorchModel:
    """Adapter: ``fn`` maps a (1, C, h, w) torch tensor to a (1, K, h, w) tensor (a module, or
    a closure holding its extra inputs); the adapter maps numpy to numpy, in inference mode."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            out = self.fn(t.contiguous(memory_format=torch.channels_last))
        return out.float().contiguous().numpy()


def as_numpy_model(model):
    """``model`` as a numpy callable: torch modules are wrapped in :class:`TorchModel`."""
    torch = sys.modules.get("torch")  # never imported here: a torch module means torch is loaded
    if torch is not None and isinstance(model, torch.nn.Module):
        return TorchModel(model)
    return model


def run_tiled(
    model: Callable[[np.ndarray], np.ndarray],
    raw: np.ndarray,
    tile: int = 512,
    overlap: int = 64,
    multiple: int = 8,
    progress: Callable[[int, int], bool | None] | None = None,
) -> np.ndarray:
    """Apply ``model`` to an (H, W, C) image tile by tile.

    Args:
        model: maps a (1, C, h, w) float32 array -> (1, K, h, w), any h, w (a torch module is
            accepted too).
        raw: (H, W, C) float32 input.
        tile: inner tile side in pixels (rounded up to ``multiple``); 0 runs the whole frame at once.
        overlap: context margin in pixels (rounded up to ``multiple``).
        multiple: the network's pooling factor; tile origins are aligned to it.
        progress: called as ``progress(done, total)`` after each tile; returning True cancels
            (raises :class:`InterruptedError`).
    Returns:
        (H, W, K) float32.
    """
    model = as_numpy_model(model)
    h, w, _ = raw.shape
    x = np.ascontiguousarray(np.asarray(raw, dtype=np.float32).transpose(2, 0, 1))[None]
    if tile <= 0 or (tile >= h and tile >= w):
        out = np.asarray(model(x))
        if progress:
            progress(1, 1)
        return np.ascontiguousarray(out[0].transpose(1, 2, 0), dtype=np.float32)
    tile = -(-tile // multiple) * multiple
    overlap = -(-overlap // multiple) * multiple
    ys, xs = list(range(0, h, tile)), list(range(0, w, tile))
    out = None
    total, done = len(ys) * len(xs), 0
    for y0 in ys:
        for x0 in xs:
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            sy0, sx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            sy1, sx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            part = np.asarray(model(np.ascontiguousarray(x[:, :, sy0:sy1, sx0:sx1])))
            if out is None:
                out = np.empty((h, w, part.shape[1]), np.float32)
            out[y0:y1, x0:x1] = part[0, :, y0 - sy0 : y1 - sy0, x0 - sx0 : x1 - sx0].transpose(1, 2, 0)
            done += 1
            if progress and progress(done, total):
                raise InterruptedError("cancelled")
    return out
