"""Sampling an image at fractional pixel positions (reprojection through motion vectors or depth)."""

from __future__ import annotations

import numpy as np


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample (H, W, C) ``img`` at float pixel coordinates; returns (samples, inside mask)."""
    h, w = img.shape[:2]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    xc, yc = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    x0, y0 = np.floor(xc).astype(np.int64), np.floor(yc).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (xc - x0)[..., None], (yc - y0)[..., None]
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32), inside


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
