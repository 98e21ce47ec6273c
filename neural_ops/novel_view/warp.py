"""Warping one rendered view into another camera: backward (the target's depth is known),
toward the environment at infinity (target pixels that see no geometry), and forward splatting
with a z-buffer (the target has no depth).

Colour is sampled bilinearly from the source, but only from the source pixels that agree with
the warped point's depth, so foreground colour never bleeds onto the background at edges.
All arrays are top row first; cameras and depth follow :mod:`.cameras` (planar depth, 0 = miss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.cameras import Camera, clean_depth
from ..core.errors import OpError

#: Default relative depth tolerance of the visibility test: a warped point at planar depth z
#: (in the source camera) is visible in the source when a source pixel next to it has depth
#: within ``rel_tol * z``. Cycles writes the depth of one sample somewhere in the pixel's filter
#: footprint (up to ~0.75 px from the centre), so slanted surfaces need a few percent.
REL_TOL = 0.03


@dataclass
class WarpResult:
    """A source view seen from a target camera (H, W: the target's size).

    Attributes:
        color: (H, W, C) float32 source colour at each target pixel; 0 where invalid.
        valid: (H, W) bool: the pixel's point (or direction) is inside the source image and
            visible there (depth test), and the target pixel sees something.
        uv: (H, W, 2) float64 source pixel coordinates the colour came from (NaN where the point
            does not project, e.g. behind the source or a target miss).
        depth_diff: (H, W) float64 signed depth difference at the nearest source pixel: the
            point's planar depth in the source minus the source's depth there (> 0: the point is
            behind the surface the source sees, i.e. occluded). NaN where not tested. For a
            forward splat: the spread (farthest - nearest) of the depths that landed in the pixel.
        depth: (H, W) float64 target planar depth used (given, or the splatted z-buffer); 0 = none.
    """

    color: np.ndarray
    valid: np.ndarray
    uv: np.ndarray
    depth_diff: np.ndarray
    depth: np.ndarray


def _check_view(cam: Camera, color: np.ndarray | None, depth: np.ndarray | None, what: str):
    """(color (H, W, C) float32 or None, depth (H, W) float64 or None), shapes checked against ``cam``."""
    if not isinstance(cam, Camera):
        raise OpError(f"{what}: expected a Camera, got {type(cam).__name__}")
    if color is not None:
        color = np.asarray(color, np.float32)
        if color.ndim == 2:
            color = color[..., None]
        if color.ndim != 3 or color.shape[:2] != (cam.h, cam.w):
            raise OpError(f"{what} colour must be ({cam.h}, {cam.w}, C) for its {cam.w}x{cam.h} camera, got {color.shape}")
    if depth is not None:
        depth = clean_depth(depth)
        if depth.shape != (cam.h, cam.w):
            raise OpError(f"{what} depth must be ({cam.h}, {cam.w}) for its {cam.w}x{cam.h} camera, got {depth.shape}")
    return color, depth


def _neighbours(uv: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 4 pixels around each coordinate for bilinear sampling (pixel centres at +0.5).

    Returns rows (..., 4) and cols (..., 4), clamped to the image (edge pixels extend to the
    border), and bilinear weights (..., 4); NaN coordinates get index 0 and weight 0.
    """
    finite = np.isfinite(uv).all(axis=-1)
    x = np.where(finite, uv[..., 0], 0.5) - 0.5
    y = np.where(finite, uv[..., 1], 0.5) - 0.5
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    cols = np.stack([x0, x0 + 1, x0, x0 + 1], axis=-1).clip(0, w - 1)
    rows = np.stack([y0, y0, y0 + 1, y0 + 1], axis=-1).clip(0, h - 1)
    wts = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=-1)
    return rows, cols, wts * finite[..., None]


def _masked_bilinear(image: np.ndarray, rows, cols, wts, ok) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear sample of ``image`` (H, W, C) over the neighbours with ``ok`` (..., 4), weights
    renormalised; returns (values (..., C), usable (...) bool)."""
    wt = np.where(ok, wts, 0.0).astype(np.float32)
    total = wt.sum(axis=-1)
    usable = total > 0
    wt /= np.where(usable, total, 1.0)[..., None]
    img = image if image.dtype == np.float32 else image.astype(np.float32)
    vals = np.einsum("...kc,...k->...c", img[rows, cols], wt)
    return vals, usable


def backward_warp(target: Camera, target_depth: np.ndarray, source: Camera, source_color: np.ndarray,
                  source_depth: np.ndarray | None = None, rel_tol: float = REL_TOL) -> WarpResult:
    """Warp a source view into the target camera using the target's depth.

    Each target pixel centre is unprojected at its depth, projected into the source and the
    source colour is sampled bilinearly there. The pixel is valid when the point lies in front of
    the source, inside its image, and (with ``source_depth``) passes the depth test: the source
    pixel it falls in has a depth within ``rel_tol`` (relative) of the point's depth in the
    source. Of the four source pixels around it, only those passing the same test contribute
    colour (no foreground bleeding onto the background at edges). Points the source sees something else in
    front of (occluded) or behind (they would be its background) are invalid. Target misses
    (depth 0 or >= 1e9) are invalid: see :func:`backward_warp_environment` for them.

    Args:
        target: target camera (H, W).
        target_depth: (H, W) or (H, W, 1) planar depth of the target (0 or >= 1e9: miss).
        source: source camera (Hs, Ws).
        source_color: (Hs, Ws, C) linear colour (any channels).
        source_depth: (Hs, Ws) planar depth of the source; None skips the visibility test
            (every projected point counts as visible).
        rel_tol: relative depth tolerance of the visibility test.

    Returns:
        :class:`WarpResult` with the target's size.
    """
    _, tdepth = _check_view(target, None, target_depth, "target")
    color, sdepth = _check_view(source, source_color, source_depth, "source")
    pts = target.unproject(tdepth)
    uv, z = source.project(pts)
    inside = source.inside(uv) & (z > 0)
    uv = np.where(inside[..., None], uv, np.nan)
    rows, cols, wts = _neighbours(uv, source.w, source.h)
    diff = np.full(tdepth.shape, np.nan)
    if sdepth is None:
        ok = np.ones(wts.shape, bool)
    else:
        sd = sdepth[rows, cols]
        with np.errstate(invalid="ignore"):
            d4 = z[..., None] - sd
            ok = (sd > 0) & (np.abs(d4) <= rel_tol * z[..., None])
        nearest = np.argmax(wts, axis=-1)[..., None]
        diff = np.where(inside, np.take_along_axis(d4, nearest, -1)[..., 0], np.nan)
        # The test is the nearest pixel's (it always has bilinear weight >= 1/4, so the colour
        # below is defined); its neighbours only add colour when they agree too.
        inside &= np.take_along_axis(ok, nearest, -1)[..., 0]
    col, usable = _masked_bilinear(color, rows, cols, wts, ok & inside[..., None])
    valid = inside & usable
    col[~valid] = 0
    return WarpResult(col, valid, uv, diff, tdepth)


def backward_warp_environment(target: Camera, source: Camera, source_color: np.ndarray,
                              source_depth: np.ndarray | None = None, mask: np.ndarray | None = None) -> WarpResult:
    """Warp what a source sees at infinity (the world / environment) into the target.

    A target pixel's ray direction is projected into the source as a point at infinity
    (rotation only, the positions do not matter); the pixel is valid when that lands inside the
    source image in front of it and the source sees no geometry there (its depth is a miss at one
    of the four pixels around it; only those contribute colour).

    Args:
        target: target camera (H, W).
        source, source_color, source_depth: as in :func:`backward_warp`; ``source_depth`` None
            treats every source pixel as environment.
        mask: optional (H, W) bool: only these target pixels are warped (the others invalid).

    Returns:
        :class:`WarpResult`; ``depth_diff`` is NaN and ``depth`` 0 (at infinity).
    """
    color, sdepth = _check_view(source, source_color, source_depth, "source")
    shape = (target.h, target.w)
    # Only the pixels asked for (usually the few that see no geometry) are computed.
    sel = np.ones(shape, bool) if mask is None else np.asarray(mask, bool)
    uv_all = np.full((*shape, 2), np.nan)
    col_all = np.zeros((*shape, color.shape[-1]), np.float32)
    valid = np.zeros(shape, bool)
    if sel.any():
        _, dirs = target.rays(target.pixel_centers()[sel])
        uv = source.project_directions(dirs)
        inside = source.inside(uv)
        uv = np.where(inside[..., None], uv, np.nan)
        rows, cols, wts = _neighbours(uv, source.w, source.h)
        ok = np.ones(wts.shape, bool) if sdepth is None else sdepth[rows, cols] <= 0
        col, usable = _masked_bilinear(color, rows, cols, wts, ok & inside[..., None])
        ok_px = inside & usable
        col[~ok_px] = 0
        uv_all[sel], col_all[sel], valid[sel] = uv, col, ok_px
    return WarpResult(col_all, valid, uv_all, np.full(shape, np.nan), np.zeros(shape))


def forward_splat(source: Camera, source_depth: np.ndarray, target: Camera,
                  source_color: np.ndarray | None = None, footprint: int = 1) -> WarpResult:
    """Splat a source view into a target camera that has no depth, with a z-buffer.

    Every source pixel with geometry is unprojected at its centre and projected into the target;
    it lands in the target pixel containing it (``footprint=1``) or in the 2x2 pixels around it
    (``footprint=2``: closes the one-pixel cracks of a magnified surface, at the price of growing
    foreground edges by up to a pixel). Where several points land, the nearest (smallest target
    depth) wins and brings its colour. Target pixels nothing landed in are holes (invalid); the
    target's own misses cannot be told from holes here.

    Args:
        source: source camera (Hs, Ws).
        source_depth: (Hs, Ws) planar depth of the source (misses are not splatted).
        target: target camera (H, W).
        source_color: optional (Hs, Ws, C) colour to carry along (else ``color`` is (H, W, 0)).
        footprint: 1 or 2, see above.

    Returns:
        :class:`WarpResult`: ``depth`` is the z-buffer (planar depth in the target, 0 = hole),
        ``uv`` the source pixel centre of the winning point, ``depth_diff`` the spread of the
        depths that landed in each pixel (0: one surface; large: an occlusion was resolved).
    """
    if footprint not in (1, 2):
        raise OpError(f"forward_splat: footprint must be 1 or 2, got {footprint}")
    color, sdepth = _check_view(source, source_color, source_depth, "source")
    if sdepth is None:
        raise OpError("forward_splat needs the source depth")
    src_uv = source.pixel_centers()
    pts = source.unproject(sdepth)
    uv, z = target.project(pts)
    keep = (sdepth > 0) & (z > 0) & np.isfinite(uv).all(axis=-1)
    uv, z, src_uv = uv[keep], z[keep], src_uv[keep]
    src_idx = np.flatnonzero(keep)
    if footprint == 1:
        cols, rows = np.floor(uv[:, 0]).astype(np.int64)[:, None], np.floor(uv[:, 1]).astype(np.int64)[:, None]
    else:
        x0 = np.floor(uv[:, 0] - 0.5).astype(np.int64)
        y0 = np.floor(uv[:, 1] - 0.5).astype(np.int64)
        cols = np.stack([x0, x0 + 1, x0, x0 + 1], axis=1)
        rows = np.stack([y0, y0, y0 + 1, y0 + 1], axis=1)
    n = cols.shape[1]
    cols, rows = cols.ravel(), rows.ravel()
    z, pid = np.repeat(z, n), np.repeat(np.arange(len(src_idx)), n)
    ok = (cols >= 0) & (cols < target.w) & (rows >= 0) & (rows < target.h)
    flat, z, pid = (rows * target.w + cols)[ok], z[ok], pid[ok]
    order = np.lexsort((z, flat))  # by pixel, nearest first
    flat, z, pid = flat[order], z[order], pid[order]
    first = np.r_[True, flat[1:] != flat[:-1]] if len(flat) else np.zeros(0, bool)
    last = np.r_[flat[1:] != flat[:-1], True] if len(flat) else np.zeros(0, bool)
    size = target.h * target.w
    depth = np.zeros(size)
    depth[flat[first]] = z[first]
    spread = np.full(size, np.nan)
    spread[flat[first]] = z[last] - z[first]
    valid = np.zeros(size, bool)
    valid[flat[first]] = True
    out_uv = np.full((size, 2), np.nan)
    out_uv[flat[first]] = src_uv[pid[first]]
    c = 0 if color is None else color.shape[2]
    out_col = np.zeros((size, c), np.float32)
    if color is not None:
        out_col[flat[first]] = color.reshape(-1, c)[src_idx[pid[first]]]
    shape = (target.h, target.w)
    return WarpResult(out_col.reshape(*shape, c), valid.reshape(shape), out_uv.reshape(*shape, 2),
                      spread.reshape(shape), depth.reshape(shape))


def splat_depth(target: Camera, sources: list[tuple[Camera, np.ndarray]], fill_cracks: bool = True) -> np.ndarray:
    """The target's planar depth estimated from the sources' depth maps (0 = nothing seen).

    Each source is forward-splatted (one pixel per point) and the nearest depth over all sources
    wins. With ``fill_cracks``, a pixel nothing landed in but whose 3x3 neighbourhood holds at
    least 5 splatted depths (a crack in a magnified surface, not the background) takes their
    median. Depths come from the splatted points, so they are off by up to the depth change over
    about a pixel: use a visibility tolerance of a few percent with them.

    Args:
        target: target camera (H, W).
        sources: list of (camera, depth (Hs, Ws)).

    Returns:
        (H, W) float64 planar depth.
    """
    depth = np.full((target.h, target.w), np.inf)
    for cam, d in sources:
        s = forward_splat(cam, d, target).depth
        depth = np.where(s > 0, np.minimum(depth, s), depth)
    depth[~np.isfinite(depth)] = 0.0
    if fill_cracks:
        pad = np.pad(np.where(depth > 0, depth, np.nan), 1, constant_values=np.nan)
        h, w = depth.shape
        nb = np.stack([pad[i : i + h, j : j + w] for i in range(3) for j in range(3) if (i, j) != (1, 1)])
        count = np.isfinite(nb).sum(axis=0)
        crack = (depth <= 0) & (count >= 5)
        if crack.any():
            depth[crack] = np.nanmedian(nb[:, crack], axis=0)
    return depth
