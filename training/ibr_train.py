"""Train learned blending for novel views on a ``neural-render data multiview`` folder.

Each sample is one scene seen by V ring cameras (``samples/NNNNNN/r_VVV.exr`` with every pass,
``transforms.json``). A training example is one view of a scene as the target and the other
V - 1 as sources; its inputs (:func:`neural_ops.ibr.features.blend_features`, numpy and the slow
part) are built once at load time and kept in memory as float16. The target geometry is the
target's own G-buffer depth and normal (``gbuffer``: renderer-aware mode), the sources' splatted
depth (``splat``: what a capture pipeline has), or one of the two per example (``mixed``).

Loss: L1 of tonemapped images (``training.losses.tonemap``), plus for split models an L1 of the
predicted glossy part against the target's glossy pass (EffectsNet supervises its
view-dependent part the same way), plus Deep Blending's temporal term. The dataset has a few
discrete views, not camera paths, so the second frame is made: the target camera moved by a
small random rotation and translation, its inputs built the same way (its depth and normal are
the target's G-buffer splatted into it, or the sources' splat), and the network's output for
the moved camera is warped back into the target (known geometry, bilinear, depth-tested) and
compared with the output for the target where both see the same point. Its optimum is an
output that moves with the scene when the camera moves: what flickers is whatever the network
does with the pixel grid, the image borders and changes in which views rank best. One such
pair costs one extra feature build per example (only a share of the examples get one) and two
extra crops per step. One run is one folder, as for every trainer (:mod:`training.loop`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neural_ops.errors import NeuralRenderError
from neural_ops.ibr.cameras import Camera, clean_depth
from neural_ops.ibr.features import blend_features
from neural_ops.ibr.novel import key_frames, nearest_keys
from neural_ops.ibr.views import ViewData, load_scene
from neural_ops.ibr.warp import backward_warp, backward_warp_environment, forward_splat
from neural_ops.metrics import psnr
from neural_ops.nn.denoiser import count_parameters
from neural_ops.nn.ibr import BlendConfig, BlendNet, pack_features
from neural_ops.nn.weights import save_model

from . import loop
from .losses import tonemap

DEPTH_MODES = ("gbuffer", "splat", "mixed")


@dataclass
class IbrTrainConfig:
    """A learned-blending training run.

    Attributes:
        data, out: multiview dataset folder; run folder (rerun to resume).
        model: the architecture (``k`` views per pixel, ``split``).
        depth: target geometry of the examples: ``gbuffer``, ``splat`` or ``mixed`` (each
            example one of the two, drawn once with the seed).
        temporal_weight: weight of the temporal consistency term (0: off, no jittered inputs).
        temporal_share: share of the training examples that also get a jittered camera.
        temporal_batch: jittered pairs per step (each adds two crops to the batch).
        jitter_degrees: rotation of the jittered camera (uniform in [0.5, 1] x this, random axis).
        jitter_shift: its translation, as a share of the scene's typical depth.
        glossy_weight: split models: weight of the glossy-part L1 against the target's glossy pass.
        max_targets: target views per scene (0: every view).
        every, per_side: 0: each target's sources are all the scene's other views (novel views from
            a multiview folder). N: "render 1 in N", as ``inbetween`` and ``eval ibr --every`` use
            it: the sources are the ``per_side`` nearest key views on each side, the keys every
            N-th view with the target at a random place between two of them (validation: the
            keys of :func:`neural_ops.ibr.novel.key_frames`, non-key targets only).
        denoise: every view (sources and targets) through OIDN first, as ``inbetween`` treats its
            rendered key frames and as finished renders are.
        Others as for the other trainers.
    """

    data: str
    out: str
    model: BlendConfig = field(default_factory=BlendConfig)
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 8
    crop: int = 64
    lr: float = 1e-3
    depth: str = "mixed"
    temporal_weight: float = 0.5
    temporal_share: float = 0.25
    temporal_batch: int = 2
    jitter_degrees: float = 1.0
    jitter_shift: float = 0.01
    glossy_weight: float = 0.5
    max_targets: int = 0
    every: int = 0
    per_side: int = 2
    denoise: bool = True
    val_count: int = 4
    val_every: int = 100
    ckpt_every: int = 200
    seed: int = 0
    max_samples: int = 0

    def check(self) -> None:
        try:
            self.model.check()
        except ValueError as e:
            raise NeuralRenderError(str(e)) from None
        if self.depth not in DEPTH_MODES:
            raise NeuralRenderError(f"unknown depth mode '{self.depth}' (choose from {', '.join(DEPTH_MODES)})")
        if self.batch < 1 or self.crop < 16:
            raise NeuralRenderError(f"need batch >= 1 and crop >= 16, got {self.batch} and {self.crop}")
        if self.every < 0 or self.every == 1 or self.per_side < 1:
            raise NeuralRenderError(f"need every = 0 or >= 2 and per_side >= 1, got {self.every} and {self.per_side}")
        if self.temporal_weight < 0 or not 0 <= self.temporal_share <= 1 or self.temporal_batch < 0:
            raise NeuralRenderError("need temporal_weight >= 0, temporal_share in [0, 1] and temporal_batch >= 0")


# -- data ---------------------------------------------------------------------------------------


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
    :func:`neural_ops.ibr.novel.key_frames` (what ``inbetween`` renders); with ``rng`` they are
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

    def __init__(self, root: Path, indices: list[int], cfg: IbrTrainConfig, train: bool, log=print):
        rng = np.random.default_rng([cfg.seed, 1 if train else 2])
        self.examples: list[Example] = []
        t0 = time.perf_counter()
        for n, i in enumerate(indices):
            d = Path(root) / "samples" / f"{i:06d}"
            views = load_scene(d, cfg.denoise)
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


# -- batches and loss --------------------------------------------------------------------------


def _crop(ex: Example, oy: int, ox: int, c: int, flip: bool):
    sl = (slice(oy, oy + c), slice(ox, ox + c))
    s, sh, y = ex.slots[:, :, sl[0], sl[1]], ex.shared[:, sl[0], sl[1]], ex.target[:, sl[0], sl[1]]
    g = ex.glossy[:, sl[0], sl[1]] if ex.glossy is not None else np.zeros_like(y)
    if flip:
        s, sh, y, g = s[..., ::-1], sh[..., ::-1], y[..., ::-1], g[..., ::-1]
    return s, sh, y, g


def make_batch(store: ExampleStore, rng: np.random.Generator, cfg: IbrTrainConfig) -> dict:
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


def batch_loss(net: BlendNet, b: dict, cfg: IbrTrainConfig) -> tuple[torch.Tensor, dict]:
    """(total loss, {part: float}) of one batch from :func:`make_batch`."""
    parts = net.parts(b["slots"], b["shared"])
    n_y = b["target"].shape[0]
    img = parts["image"]
    pred = tonemap(img[:n_y])
    loss = (pred - tonemap(b["target"])).abs().mean()
    logs = {"l1": float(loss.detach())}
    if cfg.model.split and cfg.glossy_weight > 0 and float(b["has_glossy"].sum()) > 0:
        g = (tonemap(parts["glossy"][:n_y]) - tonemap(b["glossy"])).abs().mean(dim=(1, 2, 3))
        lg = (g * b["has_glossy"]).sum() / b["has_glossy"].sum()
        loss = loss + cfg.glossy_weight * lg
        logs["glossy"] = float(lg.detach())
    p = b["pairs"]
    if p and cfg.temporal_weight > 0:
        first = tonemap(img[n_y - p : n_y])
        moved = F.grid_sample(tonemap(img[n_y:]), b["grid"], mode="bilinear", padding_mode="border",
                              align_corners=False)
        m = b["pair_mask"]
        lt = ((first - moved).abs() * m).sum() / (3 * m.sum()).clamp(min=1.0)
        loss = loss + cfg.temporal_weight * lt
        logs["temporal"] = float(lt.detach())
    logs["loss"] = float(loss.detach())
    return loss, logs


def validate(net: BlendNet, store: ExampleStore) -> dict:
    """Mean PSNR of whole validation targets (every depth mode the store holds, and per mode)."""
    net.eval()
    per: dict[str, list[float]] = {}
    with torch.inference_mode():
        for ex in store.examples:
            y = net(torch.from_numpy(ex.slots.astype(np.float32))[None], torch.from_numpy(ex.shared.astype(np.float32))[None])
            per.setdefault(ex.mode, []).append(psnr(y[0].permute(1, 2, 0).numpy(), ex.target.transpose(1, 2, 0)))
    net.train()
    row = {"val_psnr": float(np.mean([v for vals in per.values() for v in vals]))}
    row.update({f"val_psnr_{m}": float(np.mean(v)) for m, v in per.items()})
    return row


def ulr_psnr(store: ExampleStore) -> float:
    """Mean PSNR of the ULR images (shared channels 0:3 hold their log1p) on the store's targets."""
    return float(np.mean([psnr(np.expm1(ex.shared[0:3].astype(np.float32)).transpose(1, 2, 0),
                               ex.target.transpose(1, 2, 0)) for ex in store.examples]))


def train(cfg: IbrTrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns its model card."""
    from .denoise_train import _data_summary

    cfg.check()
    out, train_idx, val_idx = loop.prepare(cfg, log)
    train_store = ExampleStore(Path(cfg.data), train_idx, cfg, True, log)
    val_store = ExampleStore(Path(cfg.data), val_idx, cfg, False, None)
    if cfg.model.split and all(ex.glossy is None for ex in train_store.examples):
        raise NeuralRenderError(f"{cfg.data}: a split model needs the Glossy Color/Direct/Indirect passes, "
                                "which these samples do not have")
    net = BlendNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    base = ulr_psnr(val_store)
    log(f"learned blending: k {cfg.model.k}, channels {cfg.model.channels}, split {cfg.model.split}, "
        f"{count_parameters(net) / 1e3:.0f} k parameters; {len(train_store.examples)} training examples "
        f"({len(train_store.jittered)} with a jittered camera); validation ULR PSNR {base:.2f} dB")

    def step(lr: float) -> dict:
        loss, logs = batch_loss(net, make_batch(train_store, rng, cfg), cfg)
        loop.descend(opt, net, loss)
        return logs

    sched = loop.Schedule(cfg.steps, cfg.minutes, cfg.lr, cfg.val_every, cfg.ckpt_every)
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True, rng=rng, log=log,
                   metric_label="validation PSNR (dB)")
    card = loop.card("ibr", net, _data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": "l1 tonemapped" + (" + glossy" if cfg.model.split else "")
                      + (" + temporal" if cfg.temporal_weight > 0 else ""),
                      "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "depth": cfg.depth,
                      "temporal_weight": cfg.temporal_weight, "temporal_share": cfg.temporal_share,
                      "jitter_degrees": cfg.jitter_degrees, "jitter_shift": cfg.jitter_shift,
                      "glossy_weight": cfg.glossy_weight, "every": cfg.every, "per_side": cfg.per_side,
                      "denoise": cfg.denoise,
                      "target": "the held-out view's Cycles render"}, res)
    card["validation"]["val_psnr_ulr"] = base
    save_model(net, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'} (best validation PSNR {res.best['val_psnr']:.2f} dB at step "
        f"{res.best.get('step')}; ULR {base:.2f} dB)")
    return card
