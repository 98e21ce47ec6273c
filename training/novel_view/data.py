"""Novel views' dataset loader: the one the trainer, the evaluator and the tests read a
``neural-render data multiview`` folder with.

A sample folder ``samples/NNNNNN/`` is one scene seen by V cameras: ``r_VVV.exr`` with every
pass and ``transforms.json`` (nerfstudio convention). A training example is one view as the
target and others as sources; its inputs are built by
:func:`neural_ops.novel_view.features.blend_features` and packed by
:func:`neural_ops.novel_view.network.pack_features`, exactly as inference builds them, once at
load time (the slow numpy part) and kept in memory as float16.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from neural_ops.core.cameras import Camera, clean_depth
from neural_ops.core.errors import PassSetError
from neural_ops.novel_view.features import blend_features
from neural_ops.novel_view.network import pack_features
from neural_ops.novel_view.synthesis import key_frames, nearest_keys
from neural_ops.novel_view.views import ViewData, load_scene
from neural_ops.novel_view.warp import backward_warp, backward_warp_environment, forward_splat

from ..common.samples import sample_dir

if TYPE_CHECKING:
    from .train import NovelViewTrainConfig


def jitter_camera(camera: Camera, rng: np.random.Generator, degrees: float, shift: float) -> Camera:
    """``camera`` turned about its centre by a rotation of uniform(0.5, 1) x ``degrees`` around a
    random axis, then moved by ``shift`` (scene units) in a random direction."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = math.radians(degrees) * rng.uniform(0.5, 1.0)
    kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx  # Rodrigues
    move = rng.normal(size=3)
    c2w = camera.c2w.copy()
    c2w[:3, :3] = rot @ c2w[:3, :3]
    c2w[:3, 3] += shift * move / np.linalg.norm(move)
    return Camera(c2w, camera.fx, camera.fy, camera.cx, camera.cy, camera.w, camera.h)


def correspondence(target: Camera, target_depth: np.ndarray, other: Camera,
                   other_depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each target pixel's point lands in ``other`` and whether ``other`` sees it there.

    Geometry pixels are unprojected at their depth and depth-tested against ``other_depth``;
    environment pixels follow their ray direction and need ``other`` to see the environment too.

    Returns:
        uv: (H, W, 2) float32 pixel coordinates in ``other`` (NaN where invalid);
        valid: (H, W) bool.
    """
    depth = clean_depth(target_depth)
    hit = depth > 0
    dummy = np.zeros((other.h, other.w, 1), np.float32)
    geo = backward_warp(target, depth, other, dummy, other_depth)
    env = backward_warp_environment(target, other, dummy, other_depth, mask=~hit)
    valid = np.where(hit, geo.valid, env.valid)
    uv = np.where(hit[..., None], geo.uv, env.uv)
    return np.where(valid[..., None], uv, np.nan).astype(np.float32), valid


def sparse_sources(n_views: int, t: int, every: int, per_side: int,
                   rng: np.random.Generator | None = None) -> list[int]:
    """Render 1 in ``every`` along a move of ``n_views`` views: the source views of target ``t``,
    the ``per_side`` nearest key views on each side. The keys are
    :func:`neural_ops.novel_view.synthesis.key_frames` (what ``inbetween`` renders); with ``rng`` they are
    every ``every``-th view placed so that ``t`` falls at a random place between two of them."""
    if rng is None:
        keys = key_frames(0, n_views - 1, every)
    else:
        phase = t - int(rng.integers(1, every))
        keys = [j for j in range(n_views) if (j - phase) % every == 0]
    return nearest_keys(t, [k for k in keys if k != t], per_side)


@dataclass
class Example:
    """One (scene, target view) with its inputs (float16, channels first) and the target.

    ``jitter``: None, or (slots, shared) of the jittered camera and the correspondence
    ``(uv (H, W, 2) in the jittered image, valid (H, W))`` of the target's pixels.
    """

    slots: np.ndarray
    shared: np.ndarray
    target: np.ndarray
    glossy: np.ndarray | None
    mode: str
    key: tuple[int, int]
    jitter: tuple | None = None


def make_example(views: list[ViewData], t: int, k: int, mode: str, key=(0, 0),
                 jitter: tuple[np.random.Generator, float, float] | None = None,
                 source_views: list[int] | None = None) -> Example:
    """The example with view ``t`` as target and the views ``source_views`` (default: all the
    others) as sources.

    Args:
        mode: ``gbuffer`` (the target's depth and normal are known) or ``splat``.
        jitter: optional ``(rng, degrees, shift)`` (shift relative to the scene's typical depth)
            to also build a jittered camera's inputs for the temporal term.
    """
    tv = views[t]
    if source_views is None:
        source_views = [i for i in range(len(views)) if i != t]
    sources = [views[i].source() for i in source_views]
    aware = mode == "gbuffer"
    feats = blend_features(tv.camera, sources, tv.depth if aware else None, k=k,
                           target_normal=tv.normal if aware else None)
    slots, shared = pack_features(feats)
    ex = Example(slots.astype(np.float16), shared.astype(np.float16),
                 np.ascontiguousarray(np.maximum(tv.color, 0).transpose(2, 0, 1), np.float32),
                 None if tv.glossy is None else np.ascontiguousarray(np.maximum(tv.glossy, 0).transpose(2, 0, 1)),
                 mode, key)
    if jitter is not None:
        rng, deg, shift = jitter
        cam2 = jitter_camera(tv.camera, rng, deg, shift * feats.scale)
        depth2 = normal2 = None
        if aware:  # the G-buffer of the moved camera, made from the target's own
            sp = forward_splat(tv.camera, feats.depth, cam2,
                               tv.normal if tv.normal is not None else np.zeros((*feats.depth.shape, 3), np.float32),
                               footprint=2)
            depth2, normal2 = sp.depth, (sp.color if tv.normal is not None else None)
        f2 = blend_features(cam2, sources, depth2, k=k, target_normal=normal2)
        s2, sh2 = pack_features(f2)
        ex.jitter = (s2.astype(np.float16), sh2.astype(np.float16), *correspondence(tv.camera, feats.depth, cam2, f2.depth))
    return ex


class ExampleStore:
    """Every (scene, target) example of some samples, built once (the slow numpy part)."""

    def __init__(self, root: Path, indices: list[int], cfg: NovelViewTrainConfig, train: bool, log=print):
        rng = np.random.default_rng([cfg.seed, 1 if train else 2])
        self.examples: list[Example] = []
        t0 = time.perf_counter()
        for n, i in enumerate(indices):
            d = sample_dir(root, i)
            try:
                views = load_scene(d, cfg.denoise)
            except (PassSetError, OSError, ValueError, KeyError) as e:
                raise PassSetError(f"malformed sample {d}: {e}") from None
            targets = list(range(len(views)))
            if cfg.every and not train:
                targets = [t for t in targets if t not in key_frames(0, len(views) - 1, cfg.every)]
            if cfg.max_targets:
                targets = targets[: cfg.max_targets]
            for t in targets:
                srcs = sparse_sources(len(views), t, cfg.every, cfg.per_side, rng if train else None) if cfg.every else None
                modes = [cfg.depth] if cfg.depth != "mixed" else (
                    [("gbuffer", "splat")[int(rng.integers(2))]] if train else ["gbuffer", "splat"])
                for mode in modes:
                    jit = None
                    if train and cfg.temporal_weight > 0 and rng.random() < cfg.temporal_share:
                        jit = (rng, cfg.jitter_degrees, cfg.jitter_shift)
                    self.examples.append(make_example(views, t, cfg.model.k, mode, (i, t), jit, srcs))
            if log and ((n + 1) % 10 == 0 or n + 1 == len(indices)):
                log(f"  built inputs of {n + 1}/{len(indices)} scenes ({time.perf_counter() - t0:.0f} s, "
                    f"{self.nbytes() / 2**20:.0f} MiB)")
        self.jittered = [j for j, ex in enumerate(self.examples) if ex.jitter is not None]

    def nbytes(self) -> int:
        total = 0
        for ex in self.examples:
            arrays = [ex.slots, ex.shared, ex.target, ex.glossy] + list(ex.jitter or ())
            total += sum(a.nbytes for a in arrays if a is not None)
        return total


def _crop(ex: Example, oy: int, ox: int, c: int, flip: bool):
    sl = (slice(oy, oy + c), slice(ox, ox + c))
    s, sh, y = ex.slots[:, :, sl[0], sl[1]], ex.shared[:, sl[0], sl[1]], ex.target[:, sl[0], sl[1]]
    g = ex.glossy[:, sl[0], sl[1]] if ex.glossy is not None else np.zeros_like(y)
    if flip:
        s, sh, y, g = s[..., ::-1], sh[..., ::-1], y[..., ::-1], g[..., ::-1]
    return s, sh, y, g


def make_batch(store: ExampleStore, rng: np.random.Generator, cfg: NovelViewTrainConfig) -> dict:
    """Random crops (with a horizontal flip) of ``batch`` examples, then ``temporal_batch`` pairs
    of (target crop, matching crop of its jittered camera).

    Returns tensors: ``slots`` (N, K, C, c, c), ``shared`` (N, C, c, c) with N = batch + 2 P
    (the P jittered crops last), ``target`` and ``glossy`` (batch + P, 3, c, c), ``has_glossy``
    (batch + P,), and for the pairs ``grid`` (P, c, c, 2) (grid_sample coordinates of each target
    crop pixel in its jittered crop) and ``pair_mask`` (P, 1, c, c).
    """
    h, w = store.examples[0].target.shape[1:]
    c = min(cfg.crop, h, w)
    items, jit, grids, masks = [], [], [], []
    for _ in range(cfg.batch):
        ex = store.examples[int(rng.integers(len(store.examples)))]
        hh, ww = ex.target.shape[1:]
        oy, ox = int(rng.integers(0, hh - c + 1)), int(rng.integers(0, ww - c + 1))
        items.append((_crop(ex, oy, ox, c, rng.random() < 0.5), ex.glossy is not None))
    n_pairs = min(cfg.temporal_batch, len(store.jittered)) if cfg.temporal_weight > 0 else 0
    for _ in range(n_pairs):
        ex = store.examples[store.jittered[int(rng.integers(len(store.jittered)))]]
        s2, sh2, uv, ok = ex.jitter
        hh, ww = ex.target.shape[1:]
        oy, ox = int(rng.integers(0, hh - c + 1)), int(rng.integers(0, ww - c + 1))
        uv_c, ok_c = uv[oy : oy + c, ox : ox + c], ok[oy : oy + c, ox : ox + c]
        # The jittered crop follows the median motion of the crop's points.
        centres = np.stack(np.meshgrid(np.arange(ox, ox + c), np.arange(oy, oy + c)), axis=-1) + 0.5
        move = np.nanmedian((uv_c - centres)[ok_c], axis=0) if ok_c.any() else np.zeros(2)
        h2, w2 = s2.shape[-2:]
        oy2 = int(np.clip(round(oy + move[1]), 0, h2 - c))
        ox2 = int(np.clip(round(ox + move[0]), 0, w2 - c))
        local = uv_c - np.array([ox2, oy2], np.float32)
        ok_c = ok_c & (local >= 0).all(axis=-1) & (local < c).all(axis=-1)
        items.append((_crop(ex, oy, ox, c, False), ex.glossy is not None))
        jit.append((s2[:, :, oy2 : oy2 + c, ox2 : ox2 + c], sh2[:, oy2 : oy2 + c, ox2 : ox2 + c]))
        grids.append(np.where(ok_c[..., None], local / c * 2 - 1, 0.0))  # align_corners=False coordinates
        masks.append(ok_c[None])

    def t(arrs, dtype=torch.float32):
        return torch.from_numpy(np.ascontiguousarray(np.stack(arrs))).to(dtype)

    slots = [it[0][0] for it in items] + [j[0] for j in jit]
    shared = [it[0][1] for it in items] + [j[1] for j in jit]
    out = {"slots": t(slots), "shared": t(shared), "target": t([it[0][2] for it in items]),
           "glossy": t([it[0][3] for it in items]), "has_glossy": t([float(it[1]) for it in items]),
           "pairs": n_pairs}
    if n_pairs:
        out["grid"] = t(grids)
        out["pair_mask"] = t(masks)
    return out
