"""Per-pixel features more than one learned op feeds its network (normalised on the whole frame,
before any tiling, so a tile sees the values it would see inside the untiled image)."""

from __future__ import annotations

import numpy as np

#: Depth feature of pixels that hit nothing (the environment is far away).
MISS_DEPTH = 4.0


def depth_feature(depth: np.ndarray) -> np.ndarray:
    """(H, W, 1) camera distance -> (H, W, 1) log distance relative to the frame's median.

    Scene units differ between scenes; the ratio to the median does not. Misses (0 in
    ``Denoising Depth``, 1e10 in ``Depth``) become :data:`MISS_DEPTH`.
    """
    d = np.asarray(depth, dtype=np.float32)[..., :1]
    hit = (d > 0) & (d < 1e9)
    med = float(np.median(d[hit])) if hit.any() else 1.0
    out = np.full_like(d, MISS_DEPTH)
    out[hit] = np.clip(np.log(d[hit] / max(med, 1e-6)), -MISS_DEPTH, MISS_DEPTH)
    return out
