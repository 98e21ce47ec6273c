"""Sampling an image at fractional pixel positions (reprojection through motion vectors or depth)."""

from __future__ import annotations

import numpy as np


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample (H, W, C) ``img`` at float pixel coordinates; returns (samples, inside mask).

    Positions outside the image read its border. All channels of a pixel are gathered together
    (rows of the (H*W, C) image): sampling one stack of C channels costs about as much as
    sampling 3, so callers stack what they sample at the same positions."""
    h, w = img.shape[:2]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    flat = np.ascontiguousarray(img).reshape(h * w, -1)
    if h < 2 or w < 2:
        xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
        yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
        out = flat.take((yi * w + xi).ravel(), axis=0)
        return out.reshape(*x.shape, *img.shape[2:]).astype(np.float32), inside
    xc, yc = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    # The top-left of the 2x2 taps; at the last row/column, the one before with weight 1 on it.
    x0 = np.minimum(xc.astype(np.int64), w - 2)
    y0 = np.minimum(yc.astype(np.int64), h - 2)
    fx = (xc - x0).astype(np.float32).reshape(-1, 1)
    fy = (yc - y0).astype(np.float32).reshape(-1, 1)
    i = (y0 * w + x0).ravel()
    flat = flat.astype(np.float32, copy=False)
    top = flat.take(i, axis=0)
    top += (flat.take(i + 1, axis=0) - top) * fx
    bot = flat.take(i + w, axis=0)
    bot += (flat.take(i + w + 1, axis=0) - bot) * fx
    top += (bot - top) * fy
    return top.reshape(*x.shape, *img.shape[2:]), inside


def box_filter(img: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1) x (2r+1) window of every pixel of a 2-D array, edges replicated
    (summed-area table: the cost does not grow with the radius)."""
    r = int(radius)
    if r <= 0:
        return img.astype(np.float32)
    pad = np.pad(img.astype(np.float64), r + 1, mode="edge")
    sat = pad.cumsum(0).cumsum(1)
    h, w = img.shape
    k = 2 * r + 1
    tot = sat[k:k + h, k:k + w] - sat[0:h, k:k + w] - sat[k:k + h, 0:w] + sat[0:h, 0:w]
    return (tot / (k * k)).astype(np.float32)
