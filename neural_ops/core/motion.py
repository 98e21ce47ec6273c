"""Following a rendered shot's own motion from frame to frame.

Cycles' ``Vector`` pass holds, per pixel, the screen-space motion in pixels: XY = the previous
frame's position minus the current one, ZW = the current position minus the next frame's, both
in Blender's bottom-up pixel rows (the row offsets flip sign in our top-down arrays; found by
warping rendered frames' albedo, see :func:`neural_ops.denoise.temporal.previous_coords`).

:func:`walk` follows every pixel of frame t to frame t - 1, t - 2, ... (or t + 1, ...) hop by hop,
each hop with the motion of the frame it leaves, and checks each hop both ways: the frame it lands
in must lead back to where it came from (forward-backward consistency). A pixel that is occluded
or disoccluded between the two frames lands on another surface, the occluder, whose own motion
leads elsewhere. Multi-frame denoising gathers noisy samples along these walks; Render 1 in N
follows a target frame's pixels to the rendered key frames through every frame's auxiliary render.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .sampling import bilinear


def walk(vectors, t: int, step: int, hops: int, max_roundtrip: float = 1.0
         ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Follow frame ``t``'s pixels ``hops`` frames in direction ``step`` (-1: back, +1: forward).

    Args:
        vectors: ``vectors[i]`` is frame i's ``Vector`` pass (H, W, 4), top row first (or a
            callable ``i -> array``); only frames t .. t + step * hops are read.
        max_roundtrip: largest distance in pixels between where a hop started and where the
            landed frame's own motion (the other way) leads back; 0 turns the check off.
    Yields:
        (frame index, x, y, alive) after each hop: (H, W) float32 positions in that frame and
        (H, W) bool, where the walk is still on the same surface and inside the image.
    """
    get = vectors if callable(vectors) else vectors.__getitem__
    if step not in (-1, 1):
        raise ValueError(f"step must be -1 or 1, got {step}")
    first = get(t)
    h, w = first.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y, alive = xx, yy, np.ones((h, w), bool)
    ch, sign = (0, 1.0) if step < 0 else (2, -1.0)
    back = 2 - ch
    s, cur = t, first
    for _ in range(hops):
        v, _ = bilinear(cur[..., ch:ch + 2], x, y)
        x0, y0 = x, y
        x, y = x + sign * v[..., 0], y - sign * v[..., 1]
        s += step
        cur = get(s)
        alive = alive & (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
        if max_roundtrip > 0:
            vb, _ = bilinear(cur[..., back:back + 2], x, y)
            alive &= np.hypot(x - sign * vb[..., 0] - x0, y + sign * vb[..., 1] - y0) <= max_roundtrip
        yield s, x.astype(np.float32), y.astype(np.float32), alive
