"""Texture synthesis by image quilting (Efros & Freeman 2001), to make many textures from a few
exemplars (scikit-image's ``brick``, ``grass``, ``gravel``, or the user's own images).

Blocks are laid in raster order; each new block is drawn from the exemplar among those whose
overlap with what is already placed has an error within ``tolerance`` of the best, then
pasted along the minimum-error boundary cut through the overlap (dynamic programming). The
result is a pure function of the exemplar, the sizes and the seed.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def min_cut_path(err: np.ndarray) -> np.ndarray:
    """Minimum-cost top-to-bottom path through ``err`` (H, W), moving at most one column per row.

    Returns:
        (H,) column index of the path in each row.
    """
    h, w = err.shape
    cost = err.astype(np.float64).copy()
    for y in range(1, h):
        prev = cost[y - 1]
        left = np.concatenate([[np.inf], prev[:-1]])
        right = np.concatenate([prev[1:], [np.inf]])
        cost[y] += np.minimum(np.minimum(left, prev), right)
    path = np.empty(h, dtype=np.int64)
    path[-1] = int(np.argmin(cost[-1]))
    for y in range(h - 2, -1, -1):
        x = path[y + 1]
        lo, hi = max(0, x - 1), min(w, x + 2)
        path[y] = lo + int(np.argmin(cost[y, lo:hi]))
    return path


def _cut_mask_vertical(err: np.ndarray) -> np.ndarray:
    """(H, O) mask, True where the new block wins: right of the min-cut path."""
    path = min_cut_path(err)
    cols = np.arange(err.shape[1])[None, :]
    return cols >= path[:, None]


def quilt(
    exemplar: np.ndarray,
    out_shape: tuple[int, int],
    block: int = 32,
    overlap: int | None = None,
    seed: int = 0,
    tolerance: float = 0.1,
    candidates: int = 400,
) -> np.ndarray:
    """Synthesise a texture of ``out_shape`` (H, W) from ``exemplar`` (h, w, C) float in [0, 1].

    Args:
        block: block size in pixels (must fit in the exemplar).
        overlap: overlap between blocks (default block // 6, at least 2).
        seed: random seed: same inputs and seed give the same texture.
        tolerance: pick uniformly among candidates with error <= (1 + tolerance) * best.
        candidates: how many exemplar positions are scored per block (all if fewer exist).
    Returns:
        (H, W, C) float32.
    """
    ex = np.asarray(exemplar, dtype=np.float32)
    if ex.ndim == 2:
        ex = ex[..., None]
    eh, ew, c = ex.shape
    if block > min(eh, ew):
        raise ValueError(f"block {block} does not fit in the {ew}x{eh} exemplar")
    ov = max(2, block // 6) if overlap is None else overlap
    if not 0 < ov < block:
        raise ValueError(f"overlap must be in 1..block-1, got {ov}")
    rng = np.random.default_rng(seed)
    step = block - ov
    H, W = out_shape
    ny = max(1, int(np.ceil((H - ov) / step)))
    nx = max(1, int(np.ceil((W - ov) / step)))
    canvas = np.zeros((ny * step + ov, nx * step + ov, c), np.float32)
    patches = sliding_window_view(ex, (block, block), axis=(0, 1))  # (eh-b+1, ew-b+1, C, b, b)
    py, px = patches.shape[:2]
    n_all = py * px

    for by in range(ny):
        for bx in range(nx):
            y0, x0 = by * step, bx * step
            if by == 0 and bx == 0:
                k = int(rng.integers(n_all))
                canvas[:block, :block] = patches[k // px, k % px].transpose(1, 2, 0)
                continue
            idx = rng.choice(n_all, size=min(candidates, n_all), replace=False)
            cand = patches[idx // px, idx % px].transpose(0, 2, 3, 1)  # (N, b, b, C)
            target = canvas[y0 : y0 + block, x0 : x0 + block]
            err = np.zeros(len(idx), np.float64)
            if bx > 0:
                err += ((cand[:, :, :ov] - target[None, :, :ov]) ** 2).sum(axis=(1, 2, 3))
            if by > 0:
                err += ((cand[:, :ov, :] - target[None, :ov, :]) ** 2).sum(axis=(1, 2, 3))
                if bx > 0:  # the corner was counted twice
                    err -= ((cand[:, :ov, :ov] - target[None, :ov, :ov]) ** 2).sum(axis=(1, 2, 3))
            ok = np.flatnonzero(err <= err.min() * (1 + tolerance) + 1e-12)
            new = cand[int(rng.choice(ok))]
            mask = np.ones((block, block), bool)
            if bx > 0:
                e = ((new[:, :ov] - target[:, :ov]) ** 2).sum(axis=2)
                mask[:, :ov] &= _cut_mask_vertical(e)
            if by > 0:
                e = ((new[:ov, :] - target[:ov, :]) ** 2).sum(axis=2)
                mask[:ov, :] &= _cut_mask_vertical(e.T).T
            target[mask] = new[mask]
    return canvas[:H, :W].copy()
