"""Per-pixel inputs of learned blending (Hedman et al. 2018, Deep Blending): every source view
warped into the target camera, ranked per pixel by the ULR penalty, the K best kept as "slots".

Slot ``k`` of a pixel holds what the k-th best source (smallest penalty among the sources that
see the pixel's point) contributes there: its warped colour, whether it sees the point at all,
its penalty, how well its depth agrees, its ULR weight and the direction towards it. Ranking
per pixel (Deep Blending's "mosaics") rather than per image lets a network with weights shared
over slots compare like with like: slot 0 is always the most trustworthy view. The unstructured
lumigraph image of all sources comes along as the baseline (and as context for the network);
it is exactly what :func:`.ulr.ulr_render` returns for the same arguments.

Target geometry: the renderer-aware mode gives the target's own G-buffer depth (a renderer
knows it for a novel camera at the cost of a cheap raster pass); otherwise it is the z-buffer
of the sources' depths splatted into the target (:func:`.warp.splat_depth`). Target pixels
with no geometry see the environment at infinity and are warped by direction alone
(:func:`.warp.backward_warp_environment`), as :mod:`.ulr` does.

numpy only; arrays are top row first and follow :mod:`.cameras` (planar depth, 0 = miss).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.cameras import Camera, clean_depth
from ..core.errors import OpError
from .ulr import angle_between, blend_weights, target_geometry
from .warp import REL_TOL, backward_warp, backward_warp_environment, splat_depth

#: Channels per slot and shared channels of the learned blending model's input; the layouts are
#: in :mod:`neural_ops.novel_view.network`'s docstring.
SLOT_CHANNELS = 13
SHARED_CHANNELS = 11
#: Channel of the validity mask in the slot layout.
VALID = 3


@dataclass
class SourceView:
    """One rendered source view.

    Attributes:
        camera: its camera (Hs, Ws).
        color: (Hs, Ws, 3) linear HDR colour (``Combined``).
        depth: (Hs, Ws) planar depth, 0 or >= 1e9 = miss.
        diffuse: optional (Hs, Ws, 3) diffuse light, ``Diffuse Color * (Diffuse Direct +
            Diffuse Indirect)``.
        glossy: optional (Hs, Ws, 3) glossy light, ``Glossy Color * (Glossy Direct +
            Glossy Indirect)``: the view-dependent part a split model predicts instead of blending.
    """

    camera: Camera
    color: np.ndarray
    depth: np.ndarray
    diffuse: np.ndarray | None = None
    glossy: np.ndarray | None = None


@dataclass
class BlendFeatures:
    """The K best sources of every target pixel, plus per-pixel context (H, W: the target's size).

    Slot arrays are (K, H, W, C) float32; a slot no source fills (fewer than K see the point) is
    all zeros with ``valid`` 0.

    Attributes:
        color: (K, H, W, 3) ``log1p`` of the warped linear colour (clamped at 0).
        valid: (K, H, W, 1) 1 where the slot's source sees the pixel's point (or direction).
        penalty: (K, H, W, 1) the ULR penalty: radians between the target ray and the source
            ray through the point, plus the resolution term. At the environment (every source
            ray is parallel there) the distance of the source centre from the target ray over
            ``scale``: the angle it would subtend at a point at the scene's typical depth.
        depth_diff: (K, H, W, 1) ``|z - z_source| / z``: the point's planar depth in the source
            against the source's depth where it lands (0 at the environment; <= ``rel_tol``
            wherever ``valid``, larger values say "nearly occluded").
        ulr_weight: (K, H, W, 1) the source's weight in the ULR image.
        direction: (K, H, W, 3) unit world direction from the point to the source's centre (at
            the environment: against the target ray).
        source: (K, H, W) int16 index into the sources of the slot's view, -1 for empty slots.
        diffuse, glossy: (K, H, W, 3) ``log1p`` of the warped passes, or None when the sources
            have none.
        ulr: (H, W, 3) float32 linear ULR image of all sources (0 at holes).
        ulr_valid: (H, W) bool: some source sees the pixel (False: a hole).
        depth: (H, W) float64 target planar depth used (0: environment or unknown).
        hit: (H, W) bool: ``depth > 0``.
        view_dir: (H, W, 3) float32 unit world direction of each target ray.
        normal: (H, W, 3) float32 world normal of the target (G-buffer), or None.
        scale: typical scene depth seen from the target (median of ``depth`` over hits).
    """

    color: np.ndarray
    valid: np.ndarray
    penalty: np.ndarray
    depth_diff: np.ndarray
    ulr_weight: np.ndarray
    direction: np.ndarray
    source: np.ndarray
    diffuse: np.ndarray | None
    glossy: np.ndarray | None
    ulr: np.ndarray
    ulr_valid: np.ndarray
    depth: np.ndarray
    hit: np.ndarray
    view_dir: np.ndarray
    normal: np.ndarray | None
    scale: float

    @property
    def k(self) -> int:
        return self.color.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.color.shape[1:3]


def _as_source(src, i: int) -> SourceView:
    if isinstance(src, SourceView):
        sv = src
    elif isinstance(src, (tuple, list)) and len(src) in (3, 4, 5):
        sv = SourceView(*src)
    else:
        raise OpError(f"source {i}: expected a SourceView or (camera, color, depth[, diffuse, glossy])")
    if sv.depth is None:
        raise OpError(f"source {i}: learned blending needs each source's depth map")
    for name in ("color", "diffuse", "glossy"):
        a = getattr(sv, name)
        if a is not None and (np.ndim(a) != 3 or np.shape(a)[2] < 3):
            raise OpError(f"source {i}: {name} must be (H, W, 3), got shape {np.shape(a)}")
    return sv


def _scene_scale(target: Camera, depth: np.ndarray, sources: Sequence[SourceView]) -> float:
    """Median target depth over hits; without any, the median distance to the sources; else 1."""
    hit = depth > 0
    if hit.any():
        return float(np.median(depth[hit]))
    d = [np.linalg.norm(s.camera.center - target.center) for s in sources]
    d = [v for v in d if v > 0]
    return float(np.median(d)) if d else 1.0


def blend_features(target: Camera, sources: Sequence[SourceView | tuple], target_depth: np.ndarray | None = None,
                   k: int = 4, ulr_k: int = 4, target_normal: np.ndarray | None = None,
                   resolution_weight: float = 0.25, rel_tol: float = REL_TOL) -> BlendFeatures:
    """Warp every source into ``target`` and keep the ``k`` best per pixel.

    Args:
        target: the camera to render (H, W).
        sources: N source views (:class:`SourceView`, or ``(camera, color, depth[, diffuse,
            glossy])`` tuples). ``diffuse``/``glossy`` must be given for all or none.
        target_depth: (H, W) planar depth of the target from its G-buffer (renderer-aware
            mode), or None to splat the sources' depths (:func:`.warp.splat_depth`).
        k: slots per pixel (the network's input views).
        ulr_k: sources blended per pixel by the ULR baseline (as ``k`` of :func:`.ulr.ulr_render`).
        target_normal: optional (H, W, 3) world normal of the target (G-buffer), kept as context.
        resolution_weight, rel_tol: as in :func:`.ulr.ulr_render`.

    Returns:
        :class:`BlendFeatures`.
    """
    if k < 1:
        raise OpError(f"blend features need k >= 1, got {k}")
    if not sources:
        raise OpError("learned blending needs at least one source view")
    srcs = [_as_source(s, i) for i, s in enumerate(sources)]
    for name in ("diffuse", "glossy"):
        have = [getattr(s, name) is not None for s in srcs]
        if any(have) and not all(have):
            raise OpError(f"sources {[i for i, h in enumerate(have) if not h]} have no {name} pass "
                          f"while others do: give it for all sources or none")
    has_diff, has_gloss = srcs[0].diffuse is not None, srcs[0].glossy is not None
    if target_depth is None:
        target_depth = splat_depth(target, [(s.camera, clean_depth(s.depth)) for s in srcs])
    depth = clean_depth(target_depth)
    h, w = target.h, target.w
    if depth.shape != (h, w):
        raise OpError(f"target depth must be ({h}, {w}), got {depth.shape}")
    normal = None
    if target_normal is not None:
        normal = np.asarray(target_normal, np.float32)[..., :3]
        if normal.shape != (h, w, 3):
            raise OpError(f"target normal must be ({h}, {w}, 3), got {np.shape(target_normal)}")
    hit, pts, ct, dirs, to_t, dist_t = target_geometry(target, depth)
    scale = _scene_scale(target, depth, srcs)

    colors, valid, penalty, ddiff, direction = [], [], [], [], []
    for s in srcs:
        # One warp carries colour and the optional passes: identical sampling and masks.
        stack = [np.asarray(s.color, np.float32)[..., :3]]
        stack += [np.asarray(a, np.float32)[..., :3] for a in (s.diffuse, s.glossy) if a is not None]
        stack = np.concatenate(stack, axis=2)
        geo = backward_warp(target, depth, s.camera, stack, s.depth, rel_tol)
        env = backward_warp_environment(target, s.camera, stack, s.depth, mask=~hit)
        to_i = pts - s.camera.center
        dist_i = np.linalg.norm(to_i, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.maximum(0.0, dist_i / dist_t - 1.0)
            z_src = -s.camera.to_camera(pts)[..., 2]
            rel = np.abs(geo.depth_diff) / z_src
            towards = -to_i / dist_i[..., None]
        p_geo = angle_between(to_t, to_i) + resolution_weight * res
        p_env = np.linalg.norm(np.cross(s.camera.center - ct, dirs), axis=-1)
        colors.append(np.where(hit[..., None], geo.color, env.color))
        valid.append(np.where(hit, geo.valid, env.valid))
        penalty.append(np.nan_to_num(np.where(hit, p_geo, p_env), nan=np.inf))
        ddiff.append(np.where(hit, np.nan_to_num(rel, nan=0.0, posinf=0.0), 0.0))
        direction.append(np.where(hit[..., None], np.nan_to_num(towards), -dirs))
    valid = np.stack(valid)  # (N, H, W)
    penalty = np.stack(penalty)
    colors = np.stack(colors)  # (N, H, W, C)
    w_ulr = blend_weights(penalty, valid, ulr_k)
    ulr = (colors[..., :3] * w_ulr[..., None]).sum(axis=0).astype(np.float32)

    # Per-pixel ranking: sources that do not see the point sort last (infinite penalty); ties
    # keep the source order (stable sort), so results do not depend on float noise.
    n = len(srcs)
    p_rank = np.where(valid, penalty, np.inf)
    order = np.argsort(p_rank, axis=0, kind="stable")[: min(k, n)]  # (k', H, W)

    def take(a: np.ndarray) -> np.ndarray:
        """(N, H, W[, C]) -> (K, H, W, C) float32 gathered by rank, empty slots 0."""
        a = a if a.ndim == 4 else a[..., None]
        g = np.take_along_axis(a, order[..., None], axis=0).astype(np.float32)
        if n < k:
            g = np.concatenate([g, np.zeros((k - n, *g.shape[1:]), np.float32)])
        return g

    slot_valid = take(valid.astype(np.float32))
    ok = slot_valid > 0
    env_pen = np.where(hit, 1.0, 1.0 / max(scale, 1e-12))  # environment: distance -> angle-like
    pen = np.where(np.isfinite(penalty), penalty * env_pen, 0.0)
    source = np.full((k, h, w), -1, np.int16)
    source[: min(k, n)] = order
    source[~ok[..., 0]] = -1
    col = take(colors)
    feats = {
        "color": np.log1p(np.maximum(col[..., :3], 0)),
        "penalty": take(pen),
        "depth_diff": take(np.stack(ddiff)),
        "ulr_weight": take(w_ulr),
        "direction": take(np.stack(direction)),
    }
    c = 3
    for name, has in (("diffuse", has_diff), ("glossy", has_gloss)):
        feats[name] = np.log1p(np.maximum(col[..., c : c + 3], 0)) if has else None
        c += 3 * has
    for name, a in feats.items():  # empty slots hold nothing at all
        if a is not None:
            feats[name] = np.where(ok, a, 0.0).astype(np.float32)
    return BlendFeatures(valid=slot_valid, source=source, ulr=ulr, ulr_valid=valid.any(axis=0), depth=depth,
                         hit=hit, view_dir=dirs.astype(np.float32), normal=normal, scale=scale, **feats)


def pack_features(feats) -> tuple[np.ndarray, np.ndarray]:
    """The learned blending model's inputs from a :class:`BlendFeatures` (numpy, shared by the
    torch and ONNX paths and by training).

    Returns:
        slots: (K, SLOT_CHANNELS, H, W) float32; shared: (SHARED_CHANNELS, H, W) float32
        (layouts in :mod:`neural_ops.novel_view.network`'s docstring).
    """
    k, h, w = feats.color.shape[:3]
    gloss = feats.glossy if feats.glossy is not None else np.zeros((k, h, w, 3), np.float32)
    slots = np.concatenate([
        feats.color, feats.valid, np.clip(feats.penalty, 0, math.pi),
        np.clip(feats.depth_diff / REL_TOL, 0, 4), feats.ulr_weight, feats.direction, gloss,
    ], axis=3)
    has_n = feats.normal is not None
    normal = feats.normal if has_n else np.zeros((h, w, 3), np.float32)
    shared = np.concatenate([
        np.log1p(np.maximum(feats.ulr, 0)), feats.hit[..., None], feats.view_dir, normal,
        np.full((h, w, 1), float(has_n)),
    ], axis=2)
    return (np.ascontiguousarray(slots.transpose(0, 3, 1, 2), np.float32),
            np.ascontiguousarray(shared.transpose(2, 0, 1), np.float32))
