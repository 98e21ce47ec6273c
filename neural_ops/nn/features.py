"""Per-pixel features more than one learned op feeds its network (normalised on the whole frame,
before any tiling, so a tile sees the values it would see inside the untiled image), and the
whole-frame thumbnail the global-context branches read. numpy only."""

from __future__ import annotations

import numpy as np

#: Depth feature of pixels that hit nothing (the environment is far away).
MISS_DEPTH = 4.0
#: Long side, in pixels, of the whole-frame thumbnail the context branch looks at.
THUMB = 64


def depth_feature(depth: np.ndarray, median: float | None = None) -> np.ndarray:
    """(H, W, 1) camera distance -> (H, W, 1) log distance relative to the frame's median.

    Scene units differ between scenes; the ratio to the median does not. Misses (0 in
    ``Denoising Depth``, 1e10 in ``Depth``) become :data:`MISS_DEPTH`. ``median``: the whole
    frame's, when ``depth`` is a strip of it (:func:`~neural_ops.core.strips.whole_depth_median`).
    """
    d = np.asarray(depth, dtype=np.float32)[..., :1]
    hit = (d > 0) & (d < 1e9)
    med = median if median is not None else float(np.median(d[hit])) if hit.any() else 1.0
    out = np.full_like(d, MISS_DEPTH)
    out[hit] = np.clip(np.log(d[hit] / max(med, 1e-6)), -MISS_DEPTH, MISS_DEPTH)
    return out


def thumbnail_size(h: int, w: int) -> tuple[int, int]:
    """(h, w) of the thumbnail of an h x w frame: long side :data:`THUMB`, never upsampled."""
    s = min(1.0, THUMB / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def _area_axis(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Average ``x`` down to ``n`` cells along ``axis``; cell i covers [floor(iH/n), ceil((i+1)H/n))
    (torch's adaptive average pooling, i.e. ``interpolate(mode="area")``)."""
    size = x.shape[axis]
    if n == size:
        return x
    i = np.arange(n)
    lo, hi = (i * size) // n, -((-(i + 1) * size) // n)
    cs = np.concatenate([np.zeros_like(np.take(x, [0], axis=axis), dtype=np.float64),
                         np.cumsum(x, axis=axis, dtype=np.float64)], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = n
    return (np.take(cs, hi, axis=axis) - np.take(cs, lo, axis=axis)) / (hi - lo).reshape(shape)


def thumbnail(raw: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, C, h, w) area-averaged (:func:`thumbnail_size`); float32."""
    th, tw = thumbnail_size(*raw.shape[-2:])
    out = _area_axis(_area_axis(np.asarray(raw, np.float32), th, raw.ndim - 2), tw, raw.ndim - 1)
    return np.ascontiguousarray(out, dtype=np.float32)
