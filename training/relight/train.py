"""Train the relighting network on a ``neural-render data relight`` folder.

Each sample holds the same frame under K lightings (``lit_k.exr``, described by
``lighting_k.json``). A training pair is (k -> j): the G-buffer, analytic shading under j, and
(with probability 1 - ``source_dropout``) the frame under k with its own analytic image; the
target is the frame under j. Renders go through OIDN first (what a user would relight, and a
clean target). Loss 0.16 L1 + 0.84 (1 - MS-SSIM) on tonemapped images. One run is one folder:
``checkpoint.pt`` (resume), ``log.jsonl``/``log.png``, ``model.safetensors`` + ``model.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import psnr
from neural_ops.nn.blocks import count_parameters
from neural_ops.nn.weights import save_model
from neural_ops.relight.network import CODE_DIM, RelightConfig, RelightNet

from ..common import loop, runs
from ..common.losses import l1_msssim
from ..common.samples import data_summary
from .data import SampleStore, make_batch


@dataclass(kw_only=True)
class RelightTrainConfig(loop.LoopConfig):
    """A relighting training run (``neural-render train relight``; each field is an option)."""

    data: str
    """Dataset folder from ``neural-render data relight``."""
    out: str = field(default="data/runs/relight", metadata={"flag": ("-o", "--output")})
    """Run folder (checkpoints, logs, the exported model); rerun to resume."""
    model: RelightConfig = field(default_factory=RelightConfig, metadata={"hide": ("lighting_dim",)})
    """Architecture (the trainer sets lighting_dim from condition)."""
    crop: int = 96
    source_dropout: float = 0.3
    """Share of pairs trained without the original frame (so the model also works from the G-buffer alone)."""
    exposure: float = 0.0
    """Random intensity changes of the target and the source lighting, up to this many stops each way (0: none)."""
    val_count: int = 8


def validate(net: RelightNet, store: SampleStore) -> dict:
    """Mean PSNR over every (0 -> j) pair of the validation samples, with the source frame."""
    net.eval()
    vals = []
    with torch.inference_mode():
        for s in store.samples:
            for j in range(1, len(s["lit"])):
                raw, y, code = store.pair(s, 0, j, True)
                out = net(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None], torch.from_numpy(code)[None])
                vals.append(psnr(out[0].permute(1, 2, 0).numpy(), y))
    net.train()
    return {"val_psnr": float(np.mean(vals))}


def train(cfg: RelightTrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns its model card."""
    if cfg.model.condition == "film":
        cfg.model.lighting_dim = CODE_DIM
    try:
        cfg.model.check()
    except ValueError as e:
        raise NeuralRenderError(str(e)) from None
    out, train_idx, val_idx = runs.prepare(cfg, log)
    train_store = SampleStore(Path(cfg.data), train_idx, log, shadows=cfg.model.shadows)
    val_store = SampleStore(Path(cfg.data), val_idx, None, shadows=cfg.model.shadows)
    net = RelightNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    log(f"relight model: channels {cfg.model.channels}, condition {cfg.model.condition}, shadows {cfg.model.shadows}, context {cfg.model.context}, "
        f"{count_parameters(net) / 1e6:.2f} M parameters; {len(train_store.samples)} training scenes")

    def step(lr: float) -> dict:
        x, y, code, thumbs = make_batch(train_store, rng, cfg)
        loss = l1_msssim(net(x, code, net.context_of(thumbs) if thumbs is not None else None), y)
        return {"loss": loop.descend(opt, net, loss)}

    sched = cfg.schedule()
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True, rng=rng, log=log,
                   metric_label="validation PSNR (dB)")
    card = loop.card("relight", net, data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": "l1msssim", "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr,
                      "source_dropout": cfg.source_dropout, "exposure": cfg.exposure, "target": "Cycles + OIDN (albedo, normal)"}, res)
    save_model(net, card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL} (best validation PSNR {res.best['val_psnr']:.2f} dB at step {res.best.get('step')})")
    return card
