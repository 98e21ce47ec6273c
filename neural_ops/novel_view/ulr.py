"""Unstructured Lumigraph Rendering (Buehler et al. 2001), per pixel: the classical novel-view
baseline that learned view synthesis must beat.

For each target pixel, every source view that sees the pixel's 3D point gets a penalty: the
angle between the target ray and the source ray through that point, plus a resolution penalty
when the source is farther from the point than the target. The ``k`` best sources are blended
with Buehler's smooth weights, so a source's weight falls to zero as it is about to leave the
set, and a source whose centre lies on the target ray gets all the weight (epipole consistency:
rendering from a source camera returns that source's image).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.cameras import Camera, clean_depth
from ..core.errors import OpError
from .warp import REL_TOL, backward_warp, backward_warp_environment, splat_depth

#: Penalties at or below this count as zero (radians for geometry; for the environment the
#: penalty is a distance in scene units, see :func:`ulr_render`).
EPS = 1e-6


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between vectors (..., 3), accurate near 0 (atan2 of |a x b| and a . b)."""
    return np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(axis=-1))


def blend_weights(penalty: np.ndarray, valid: np.ndarray, k: int, eps: float = EPS) -> np.ndarray:
    """Buehler's blending weights from per-source penalties.

    The ``k`` valid sources with the smallest penalty are kept. With ``thresh`` the penalty of
    the best valid source left out (infinite when at most ``k`` are valid), a kept source gets
    ``(1 - p / thresh) / p``, normalised to sum to 1. The ``1 - p / thresh`` factor is Buehler's
    (it reaches 0 exactly when a source is about to be replaced, so weights are continuous as the
    set changes; Buehler phrase it with the k-th best as threshold, which blends k - 1 sources:
    here ``k`` sources are blended). The division by ``p`` makes it epipole consistent: a source
    with penalty <= ``eps`` takes all the weight.

    Args:
        penalty: (N, H, W) non-negative penalties.
        valid: (N, H, W) bool: sources that see the pixel.
        k: sources blended per pixel (>= 1).

    Returns:
        (N, H, W) float64 weights, summing to 1 where any source is valid, 0 elsewhere.
    """
    if k < 1:
        raise OpError(f"ULR needs k >= 1, got {k}")
    n = penalty.shape[0]
    p = np.where(valid, penalty, np.inf)
    srt = np.sort(p, axis=0)
    thresh = srt[k] if n > k else np.full(p.shape[1:], np.inf)
    kept = valid & (p <= srt[min(k, n) - 1])  # ties at the k-th place are all kept
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(np.isfinite(thresh), 1.0 - p / thresh, 1.0)
    exact = kept & (p <= eps)
    w = np.where(kept, np.clip(smooth, 0.0, None) / np.maximum(p, eps), 0.0)
    w = np.where(exact.any(axis=0), exact.astype(np.float64), w)
    total = w.sum(axis=0)
    # Every kept source tied with the threshold (weights all 0): blend the kept ones equally.
    w = np.where(total > 0, w, kept.astype(np.float64))
    total = w.sum(axis=0)
    return w / np.where(total > 0, total, 1.0)


def target_geometry(camera: Camera, depth: np.ndarray):
    """What the ULR penalties need of the target: ``hit`` (H, W) geometry mask, world points
    (H, W, 3) at ``depth``, the camera centre (3,), unit ray directions (H, W, 3), the vectors
    from the centre to the points and their lengths."""
    hit = depth > 0
    pts = camera.unproject(depth)
    ct = camera.center
    _, dirs = camera.rays()
    to_t = pts - ct
    return hit, pts, ct, dirs, to_t, np.linalg.norm(to_t, axis=-1)


def ulr_render(target_camera: Camera, sources: Sequence[tuple[Camera, np.ndarray, np.ndarray]],
               target_depth: np.ndarray | None = None, k: int = 4, resolution_weight: float = 0.25,
               rel_tol: float = REL_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render the target camera by blending source views (Unstructured Lumigraph Rendering).

    Geometry pixels (target depth > 0): the pixel centre is unprojected at its depth to a point
    ``x``; source ``i`` is valid when it sees ``x`` (:func:`.warp.backward_warp`: inside its
    image, depth test with ``rel_tol``). Its penalty is
    ``angle(x - C_target, x - C_i) + resolution_weight * max(0, |x - C_i| / |x - C_target| - 1)``
    (radians; a source twice as far from the point as the target costs ``resolution_weight``).

    Background pixels (depth miss: the ray leaves the scene): the environment is at infinity,
    so each source is sampled where the target ray's direction projects
    (:func:`.warp.backward_warp_environment`; valid where that source also sees no geometry).
    Every source ray to a point at infinity is parallel to the target ray, so the angle penalty
    vanishes; its limit for a far point at distance R is ``|(C_i - C_target) x d| / R`` and the
    weights only use penalty ratios, so the penalty is the distance of the source centre from the
    target ray (scene units). The resolution penalty is 0 there.

    Without ``target_depth`` the target geometry comes from forward-splatting every source's
    depth into the target with a z-buffer, nearest wins, and filling one-pixel cracks
    (:func:`.warp.splat_depth`). Pixels that no source's geometry lands in are then treated as
    background; where the sources see geometry in that direction instead, they stay holes.

    Args:
        target_camera: the camera to render (H, W).
        sources: N views ``(camera, color (Hs, Ws, C) linear, depth (Hs, Ws) planar, 0 = miss)``;
            sizes may differ between views.
        target_depth: (H, W) planar depth of the target (0 or >= 1e9: background), or None.
        k: sources blended per pixel.
        resolution_weight: weight of the resolution penalty against the angle (radians).
        rel_tol: relative depth tolerance of the visibility test.

    Returns:
        image: (H, W, C) float32 blended colour, 0 at holes.
        weights: (H, W, N) float32 blending weight of each source (sum 1 where valid, else 0).
        valid: (H, W) bool: at least one source saw the pixel (False: hole).
    """
    if not sources:
        raise OpError("ULR needs at least one source view")
    for i, src in enumerate(sources):
        if len(src) != 3 or src[2] is None:
            raise OpError(f"ULR source {i}: expected (camera, color, depth) with a depth map")
    if target_depth is None:
        target_depth = splat_depth(target_camera, [(cam, d) for cam, _, d in sources])
    depth = clean_depth(target_depth)
    if depth.shape != (target_camera.h, target_camera.w):
        raise OpError(f"target depth must be ({target_camera.h}, {target_camera.w}), got {depth.shape}")
    hit, pts, ct, dirs, to_t, dist_t = target_geometry(target_camera, depth)
    colors, valid, penalty = [], [], []
    for cam, color, sdepth in sources:
        geo = backward_warp(target_camera, depth, cam, color, sdepth, rel_tol)
        env = backward_warp_environment(target_camera, cam, color, sdepth, mask=~hit)
        to_i = pts - cam.center
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.maximum(0.0, np.linalg.norm(to_i, axis=-1) / dist_t - 1.0)
        p_geo = angle_between(to_t, to_i) + resolution_weight * res
        p_env = np.linalg.norm(np.cross(cam.center - ct, dirs), axis=-1)
        colors.append(np.where(hit[..., None], geo.color, env.color))
        valid.append(np.where(hit, geo.valid, env.valid))
        penalty.append(np.nan_to_num(np.where(hit, p_geo, p_env), nan=np.inf))
    if len({c.shape[-1] for c in colors}) > 1:
        raise OpError(f"ULR sources have different channel counts: {sorted({c.shape[-1] for c in colors})}")
    valid = np.stack(valid)
    w = blend_weights(np.stack(penalty), valid, k)
    image = (np.stack(colors) * w[..., None]).sum(axis=0).astype(np.float32)
    return image, np.moveaxis(w, 0, -1).astype(np.float32), valid.any(axis=0)
