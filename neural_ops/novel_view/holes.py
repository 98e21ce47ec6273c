"""What a synthesised frame lacks: pixels no key frame reached (or reached with low confidence).

Two remedies, chosen per tile: where such pixels are few and scattered (edge pixels whose 1-spp
guides did not match) they are filled from their neighbours (:func:`push_pull`); where they
gather (a disocclusion, an object that appears) the tile is re-rendered, and neighbouring tiles
to re-render are merged into rectangles (:func:`rerender_boxes`) so each is one region render.
"""

from __future__ import annotations

import numpy as np


def push_pull(img: np.ndarray, valid: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``img`` (H, W, C) with its invalid pixels filled from the valid ones around them: the valid
    pixels averaged down a pyramid (each level from the 2x2 valid ones below), then each hole
    takes the mean of the finest level whose block around it has one. Valid pixels are unchanged.
    Only the holes are looked up (no full-size upsampled levels: a 1920x1080 frame of 30 channels
    with a few holes went from 1.8 s to a fraction of that). ``inplace``: fill ``img`` itself
    (float32) and return it."""
    img = np.asarray(img, np.float32)
    valid = np.asarray(valid, bool)
    out = img if inplace else img.copy()
    if valid.all() or not valid.any():
        return out
    levels = []
    s, wt = img, valid.astype(np.float32)
    first = True
    while min(wt.shape) > 1:
        h2, w2 = (s.shape[0] + 1) // 2, (s.shape[1] + 1) // 2
        ps = np.zeros((h2 * 2, w2 * 2, s.shape[2]), np.float32)
        pw = np.zeros((h2 * 2, w2 * 2), np.float32)
        if first:  # the image's own level: only its valid pixels count
            np.multiply(s, wt[..., None], out=ps[:s.shape[0], :s.shape[1]])
            first = False
        else:
            ps[:s.shape[0], :s.shape[1]] = s
        pw[:wt.shape[0], :wt.shape[1]] = wt
        s = ps.reshape(h2, 2, w2, 2, -1).sum(axis=(1, 3))
        wt = pw.reshape(h2, 2, w2, 2).sum(axis=(1, 3))
        levels.append((s, wt))
    ys, xs = np.nonzero(~valid)
    todo = np.arange(ys.size)
    for lv, (s, wt) in enumerate(levels, start=1):
        by, bx = ys[todo] >> lv, xs[todo] >> lv
        ok = wt[by, bx] > 0
        if ok.any():
            hit = todo[ok]
            out[ys[hit], xs[hit]] = s[by[ok], bx[ok]] / wt[by[ok], bx[ok]][:, None]
            todo = todo[~ok]
        if not todo.size:
            break
    out[ys[todo], xs[todo]] = 0.0  # no level has a valid pixel around them
    return out


def rerender_boxes(bad: np.ndarray, tile: int = 32, min_fraction: float = 0.1, error: np.ndarray | None = None,
                   max_error: float | None = None, rendered_error: float = 0.0) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` (pixels, end exclusive, top row first) to re-render: the tiles
    where more than ``min_fraction`` of the pixels are ``bad``, and, with ``error`` (H, W: each
    pixel's expected error) and ``max_error`` (the frame's mean expected error allowed), the
    fewest further tiles that bring the frame's mean down to it, worst first (a re-rendered
    tile's pixels expected at ``rendered_error``); the marked tiles covered exactly by as few
    rectangles as runs of them allow (:func:`_cover`)."""
    h, w = bad.shape
    th, tw = -(-h // tile), -(-w // tile)
    inside = np.zeros((th * tile, tw * tile), bool)
    inside[:h, :w] = True
    count = inside.reshape(th, tile, tw, tile).sum(axis=(1, 3))

    def tile_mean(img):
        pad = np.zeros((th * tile, tw * tile), np.float64)
        pad[:h, :w] = img
        # Of the tile's pixels inside the image (the last row and column of tiles may be partial).
        return pad.reshape(th, tile, tw, tile).sum(axis=(1, 3)) / count

    marked = tile_mean(bad) > min_fraction
    if error is not None and max_error is not None:
        gain = (count * np.maximum(tile_mean(error) - rendered_error, 0.0)).ravel()  # error a re-render removes
        total = float(np.sum(error)) / (h * w) - float(gain[marked.ravel()].sum()) / (h * w)
        order = [i for i in np.argsort(-gain, kind="stable") if not marked.flat[i]]
        flat = marked.ravel().copy()
        for i in order:
            if total <= max_error:
                break
            flat[i] = True
            total -= gain[i] / (h * w)
        marked = flat.reshape(marked.shape)
    return _cover(marked, tile, h, w)


def _cover(marked: np.ndarray, tile: int, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """The marked tiles covered exactly by rectangles (pixels, clipped to the frame): each row's
    runs of marked tiles, a run merged with the one below it where both span the same columns.
    No unmarked tile is re-rendered (a bounding box of an L-shaped or diagonal group was: at a
    quality target that re-rendered twice the pixels the target needed)."""
    open_runs: dict[tuple[int, int], int] = {}  # (first column, end column) -> first row
    boxes = []

    def close(run, y0, y1):
        boxes.append((run[0] * tile, y0 * tile, min(w, run[1] * tile), min(h, y1 * tile)))

    for ty in range(marked.shape[0] + 1):
        runs = []
        if ty < marked.shape[0]:
            row = np.concatenate([[False], marked[ty], [False]])
            edges = np.flatnonzero(row[1:] != row[:-1])
            runs = list(zip(edges[0::2].tolist(), edges[1::2].tolist()))
        for run in [r for r in open_runs if r not in runs]:
            close(run, open_runs.pop(run), ty)
        for run in runs:
            open_runs.setdefault(run, ty)
    return sorted(boxes, key=lambda b: (b[1], b[0]))
