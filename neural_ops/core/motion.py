"""Following a rendered shot's own motion from frame to frame.

Cycles' ``Vector`` pass holds, per pixel, the screen-space motion in pixels: XY = the previous
frame's position minus the current one, ZW = the current position minus the next frame's, both
in Blender's bottom-up pixel rows (the row offsets flip sign in our top-down arrays; found by
warping rendered frames' albedo, see :func:`neural_ops.denoise.temporal.previous_coords`).

:func:`walk` follows every pixel of frame t to frame t - 1, t - 2, ... (or t + 1, ...) hop by hop,
each hop with the motion of the frame it leaves, and checks each hop both ways: the frame it lands
in must lead back to where it came from (forward-backward consistency). A pixel that is occluded
or disoccluded between the two frames lands on another surface, the occluder, whose own motion
leads elsewhere. Cycles writes no motion where no surface was hit (the world, an HDRI): a camera
that turns moves it all the same, so :func:`with_background_motion` puts the camera's motion of
directions at infinity there. Multi-frame denoising gathers noisy samples along these walks; Render 1 in N
follows a target frame's pixels to the rendered key frames through every frame's auxiliary render.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .parallel import by_rows
from .sampling import bilinear, box_filter


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
    if hops <= 0:
        return
    s, cur = t, first
    # A landed frame's motion both ways is read in one gather (the check back and the next hop).
    here, _ = bilinear(cur[..., ch:ch + 2], x, y)
    for hop in range(hops):
        v = here[..., ch:ch + 2] if here.shape[2] == 4 else here
        x0, y0 = x, y
        x, y = x + sign * v[..., 0], y - sign * v[..., 1]
        s += step
        cur = get(s)
        alive = alive & (x > -0.5) & (x < w - 0.5) & (y > -0.5) & (y < h - 0.5)
        more = hop + 1 < hops
        if max_roundtrip > 0 or more:
            here, _ = bilinear(cur[..., 0:4] if max_roundtrip > 0 else cur[..., ch:ch + 2], x, y)
        if max_roundtrip > 0:
            vb = here[..., back:back + 2]
            alive &= np.hypot(x - sign * vb[..., 0] - x0, y + sign * vb[..., 1] - y0) <= max_roundtrip
        yield s, x.astype(np.float32), y.astype(np.float32), alive


def guides(ps) -> np.ndarray:
    """(H, W, 7) float32 of a pass set: albedo, normal and log depth (30 where no surface was
    hit): what must match for another frame's pixel to show the same surface."""
    d = ps.depth
    hit = (d > 0) & (d < 1e9)
    logd = np.where(hit, np.log(np.where(hit, d, 1.0)), 30.0)
    return np.concatenate([ps.albedo, ps.normal, logd], axis=2).astype(np.float32)


def guide_spread(guides: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32: the local standard deviation (3x3) of the albedo (largest over the
    channels) and of the normal (all components) of guides laid out as albedo (3), normal (3),
    ...: how much a pixel's guides move with the few samples that found them (an edge or a
    texture boundary at low spp)."""
    g = guides.astype(np.float32)
    var = np.stack([np.maximum(box_filter(c * c, 1) - box_filter(c, 1) ** 2, 0.0)
                    for c in np.moveaxis(g[..., 0:6], 2, 0)], axis=2)
    return np.stack([np.sqrt(var[..., 0:3].max(axis=2)), np.sqrt(var[..., 3:6].sum(axis=2))], axis=2)


def same_surface_within(g: np.ndarray, hg: np.ndarray, spread: np.ndarray, max_albedo: float,
                        min_normal_dot: float, max_depth: float, noise: float) -> np.ndarray:
    """(H, W) bool: where guides ``hg`` (another frame's, carried here) show the surface of ``g``
    (albedo (3), normal (3), log depth (1)): albedo within ``max_albedo``, normals' dot product at
    least ``min_normal_dot``, both widened by ``noise`` times the two pixels' summed
    :func:`guide_spread` ``spread``, and relative depth within ``max_depth``."""
    out = np.empty(g.shape[:2], bool)

    def band(rows: slice) -> None:
        gb, hb = g[rows], hg[rows]
        sp = spread if spread.shape[0] == 1 else spread[rows]
        ok = np.abs(hb[..., 0:3] - gb[..., 0:3]).max(axis=2) <= max_albedo + noise * sp[..., 0]
        # The background (no surface: Cycles writes a zero normal there) agrees with the background.
        no_surface = ((gb[..., 3:6] ** 2).sum(axis=2) < 0.01) & ((hb[..., 3:6] ** 2).sum(axis=2) < 0.01)
        ok &= ((hb[..., 3:6] * gb[..., 3:6]).sum(axis=2) >= min_normal_dot - noise * sp[..., 1]) | no_surface
        ok &= np.abs(hb[..., 6] - gb[..., 6]) <= np.log1p(max_depth)
        out[rows] = ok

    by_rows(band, g.shape[0], g.shape[1] * g.shape[2])
    return out


def background_motion(cam, prev=None, nxt=None) -> np.ndarray:
    """(H, W, 4) float32 ``Vector`` pass of what lies at infinity (the world) for a camera ``cam``
    (:class:`~neural_ops.core.cameras.Camera`) between the cameras of the previous and next
    frames (either may be None: zeros there), in Cycles' convention (see the module)."""
    out = np.zeros((cam.h, cam.w, 4), np.float32)
    _, dirs = cam.rays()
    uv = cam.pixel_centers()
    for other, ch, sign in ((prev, 0, 1.0), (nxt, 2, -1.0)):
        if other is None:
            continue
        to = other.project_directions(dirs)
        d = np.nan_to_num(to - uv, nan=0.0, posinf=0.0, neginf=0.0)
        # XY: previous position minus current (rows up); ZW: current minus next.
        out[..., ch] = sign * d[..., 0]
        out[..., ch + 1] = -sign * d[..., 1]
    return out


def with_background_motion(ps, prev=None, nxt=None) -> np.ndarray:
    """Pass set ``ps``'s ``Vector`` pass with the camera's motion of the world where no surface
    was hit (depth 0 or >= 1e9), from the ``camera`` of its sidecar and of the pass sets of the
    previous and next frames ``prev``/``nxt`` (None: that direction as rendered). Without
    cameras (or with cameras this cannot project through, e.g. orthographic), as rendered."""
    from .cameras import Camera
    from .errors import NeuralRenderError

    vec = ps.get("Vector").astype(np.float32)
    d = ps.depth[..., 0]
    sky = ~((d > 0) & (d < 1e9))
    if not sky.any() or "camera" not in ps.meta:
        return vec
    try:
        cam, before, after = (Camera.from_sidecar(p.meta["camera"]) if p is not None and "camera" in p.meta
                              else None for p in (ps, prev, nxt))
    except NeuralRenderError:
        return vec
    if (cam.h, cam.w) != vec.shape[:2]:
        return vec
    bg = background_motion(cam, before, after)
    for ch, other in ((0, before), (2, after)):  # XY towards the previous frame, ZW from the next
        if other is not None:
            vec[..., ch:ch + 2] = np.where(sky[..., None], bg[..., ch:ch + 2], vec[..., ch:ch + 2])
    return vec
