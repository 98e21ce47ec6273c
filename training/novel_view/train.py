"""Train learned blending for novel views on a ``neural-render data multiview`` folder.

Each sample is one scene seen by V ring cameras (``samples/NNNNNN/r_VVV.exr`` with every pass,
``transforms.json``). A training example is one view of a scene as the target and the other
V - 1 as sources; its inputs (built by :mod:`training.novel_view.data` with the function inference
uses, numpy and the slow part) are built once at load time and kept in memory as float16. The target geometry is the
target's own G-buffer depth and normal (``gbuffer``: renderer-aware mode), the sources' splatted
depth (``splat``: what a capture pipeline has), or one of the two per example (``mixed``).

Loss: L1 of tonemapped images (``training.common.losses.tonemap``), plus for split models an L1 of the
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
extra crops per step. One run is one folder, as for every trainer (:mod:`training.common.runs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import psnr
from neural_ops.nn.blocks import count_parameters
from neural_ops.nn.weights import save_model
from neural_ops.novel_view.network import BlendConfig, BlendNet

from ..common import loop, runs
from ..common.losses import tonemap
from ..common.samples import data_summary
from .data import ExampleStore, make_batch

DEPTH_MODES = ("gbuffer", "splat", "mixed")


@dataclass(kw_only=True)
class NovelViewTrainConfig(loop.LoopConfig):
    """A learned-blending training run (``neural-render train novel-view``; each field is an option)."""

    data: str
    """Dataset folder from ``neural-render data multiview``."""
    out: str = field(default="data/runs/novel_view", metadata={"flag": ("-o", "--output")})
    """Run folder (checkpoints, logs, the exported model); rerun to resume."""
    model: BlendConfig = field(default_factory=BlendConfig)
    """The architecture (k views per pixel, split)."""
    depth: str = field(default="mixed", metadata={"choices": DEPTH_MODES})
    """Target geometry of the examples: its own G-buffer (gbuffer, renderer-aware), splatted from the sources
    (splat), or mixed (each example one of the two, drawn once with the seed)."""
    temporal_weight: float = 0.5
    """Weight of the two-frame temporal consistency term (0: off, no jittered inputs)."""
    temporal_share: float = 0.25
    """Share of the training examples that also get a jittered camera."""
    temporal_batch: int = 2
    """Jittered pairs per step (each adds two crops to the batch)."""
    jitter_degrees: float = 1.0
    """Rotation of the jittered camera (uniform in [0.5, 1] x this, random axis)."""
    jitter_shift: float = 0.01
    """Translation of the jittered camera, as a share of the scene's typical depth."""
    glossy_weight: float = 0.5
    """Split models: weight of the glossy-part L1 against the target's glossy pass."""
    max_targets: int = 0
    """Target views per scene (0: every view)."""
    every: int = 0
    """0: each target's sources are all the scene's other views (novel views from a multiview folder). N:
    render 1 in N, as inbetween and eval novel-view --every use it: the sources are the per_side nearest key
    views on each side, the keys every N-th view with the target at a random place between two of them."""
    per_side: int = 2
    """With every: rendered key views on each side of a target used as its sources."""
    denoise: bool = field(default=True, metadata={"flag": "--noisy-views"})
    """Every view (sources and targets) through OIDN first, as inbetween treats its rendered key frames;
    --noisy-views: use the views as rendered."""
    val_count: int = 4

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


def batch_loss(net: BlendNet, b: dict, cfg: NovelViewTrainConfig) -> tuple[torch.Tensor, dict]:
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


def train(cfg: NovelViewTrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns its model card."""
    cfg.check()
    out, train_idx, val_idx = runs.prepare(cfg, log)
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

    sched = cfg.schedule()
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True, rng=rng, log=log,
                   metric_label="validation PSNR (dB)")
    card = loop.card("ibr", net, data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": "l1 tonemapped" + (" + glossy" if cfg.model.split else "")
                      + (" + temporal" if cfg.temporal_weight > 0 else ""),
                      "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "depth": cfg.depth,
                      "temporal_weight": cfg.temporal_weight, "temporal_share": cfg.temporal_share,
                      "jitter_degrees": cfg.jitter_degrees, "jitter_shift": cfg.jitter_shift,
                      "glossy_weight": cfg.glossy_weight, "every": cfg.every, "per_side": cfg.per_side,
                      "denoise": cfg.denoise,
                      "target": "the held-out view's Cycles render"}, res)
    card["validation"]["val_psnr_ulr"] = base
    save_model(net, card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL} (best validation PSNR {res.best['val_psnr']:.2f} dB at step "
        f"{res.best.get('step')}; ULR {base:.2f} dB)")
    return card
