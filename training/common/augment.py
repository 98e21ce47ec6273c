"""Augmentations the per-op loaders share: the same random crop and flips of an input and its
target. (Exposure changes differ per op, since which channels are radiance differs: each op's
``data.py`` applies its own.)"""

from __future__ import annotations


def random_crop(x, y, rng, crop: int, vflip: bool = False, transpose: bool = False):
    """The same random square crop of input ``x`` and target ``y`` (H, W, C), then a horizontal
    flip, and optionally a vertical flip and a transpose, each with probability 1/2 (random draws
    in that order). Image-space flips keep every buffer per pixel: world-space normals stay valid."""
    h, w = y.shape[:2]
    c = min(crop, h, w)
    oy, ox = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
    x, y = x[oy : oy + c, ox : ox + c], y[oy : oy + c, ox : ox + c]
    if rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    if vflip and rng.random() < 0.5:
        x, y = x[::-1], y[::-1]
    if transpose and rng.random() < 0.5:
        x, y = x.transpose(1, 0, 2), y.transpose(1, 0, 2)
    return x, y
