"""Train the CG2Real generator (paired stage) on a ``neural-render data cg2real`` folder.

Pairs: the EEVEE frame with its passes (``eevee.exr``) and the Cycles frame of the same camera
(``cycles.exr``). The target is what a Cycles user ships: the path-traced frame through OIDN
(albedo + normal), so the network is not asked to reproduce Monte-Carlo noise.

Losses: 0.16 L1 + 0.84 (1 - MS-SSIM) on tonemapped images (``l1msssim``), plain L1 (``l1``),
or the MSE of the display images that PSNR measures plus a little tonemapped L1 (``display``);
plus optionally a conditional PatchGAN (spectral normalisation, hinge loss; Miyato et al. 2018)
at one scale (``--gan patch``) or two scales with feature matching (``--gan
multiscale``, pix2pixHD). None needs pretrained weights.

One run is one folder, as for the denoiser: ``checkpoint.pt`` (resume), ``log.jsonl`` and
``log.png``, ``model.safetensors`` + ``model.json`` (best validation PSNR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neural_ops.cg2real.network import Cg2RealConfig, Cg2RealNet
from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import psnr
from neural_ops.nn.blocks import count_parameters
from neural_ops.nn.weights import save_model

from ..common import loop, runs
from ..common.gan import MultiScaleDiscriminator
from ..common.losses import display_loss, l1_msssim, tonemap
from ..common.samples import data_summary
from .data import PairStore, make_batch

GANS = ("none", "patch", "multiscale")
LOSSES = ("l1msssim", "l1", "display")


@dataclass(kw_only=True)
class Cg2RealTrainConfig(loop.LoopConfig):
    """A CG2Real training run, paired stage (``neural-render train cg2real``; each field is an option)."""

    data: str
    """Dataset folder from ``neural-render data cg2real``."""
    out: str = field(default="data/runs/cg2real", metadata={"flag": ("-o", "--output")})
    """Run folder (checkpoints, logs, the exported model); rerun to resume."""
    model: Cg2RealConfig = field(default_factory=Cg2RealConfig)
    """Generator architecture."""
    loss: str = field(default="l1msssim", metadata={"choices": LOSSES})
    """Reconstruction loss: l1msssim (0.16 L1 + 0.84 (1 - MS-SSIM) on tonemapped images), l1, or display (MSE
    of the display image + a little tonemapped L1)."""
    gan: str = field(default="none", metadata={"choices": GANS})
    """Adversarial term: none, patch (one conditional PatchGAN, spectral norm, hinge) or multiscale (two, with
    feature matching)."""
    adv_weight: float = 0.02
    """Weight of the generator's adversarial term."""
    fm_weight: float = 1.0
    """Weight of feature matching (multiscale only)."""
    crop: int = 96
    init: str = ""
    """Weights to fine-tune from (a shipped model name or a .safetensors path)."""
    permute: bool = False
    """Also permute the colour channels of each crop (a symmetry of both renderers). Off by default: on 48
    held-out scenes it did not help (23.56 dB against 23.75 without)."""

    def check(self) -> None:
        self.model.check()
        if self.loss not in LOSSES:
            raise NeuralRenderError(f"--loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if self.gan not in GANS:
            raise NeuralRenderError(f"--gan must be one of {', '.join(GANS)}, got '{self.gan}'")


def d_input(img: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """What the discriminator sees: the image and its condition, all in [0, 1] or [-1, 1]."""
    return torch.cat([tonemap(img), tonemap(raw[:, 0:3]), raw[:, 3:12], raw[:, 12:13] / 4.0], dim=1)


def recon_loss(name: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if name == "l1":
        return (tonemap(pred) - tonemap(target)).abs().mean()
    if name == "display":
        return display_loss(pred, target)
    return l1_msssim(pred, target)


def validate(net: Cg2RealNet, store: PairStore) -> dict:
    """Mean PSNR (display images) of the model on whole validation frames."""
    net.eval()
    vals = []
    with torch.inference_mode():
        for x, y in zip(store.raw, store.target):
            out = net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0].permute(1, 2, 0).numpy()
            vals.append(psnr(out, y))
    net.train()
    return {"val_psnr": float(np.mean(vals))}


def train(cfg: Cg2RealTrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns its model card."""
    cfg.check()
    out, train_idx, val_idx = runs.prepare(cfg, log)
    train_store = PairStore(Path(cfg.data), train_idx, log)
    val_store = PairStore(Path(cfg.data), val_idx, None)

    net = Cg2RealNet(cfg.model)
    gan = cfg.gan != "none"
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.5, 0.999) if gan else (0.9, 0.999), weight_decay=1e-4)
    extra, disc, opt_d = {}, None, None
    if gan:
        disc = MultiScaleDiscriminator(3 + 3 + 10, scales=2 if cfg.gan == "multiscale" else 1)
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        extra = {"disc": disc, "opt_d": opt_d}
    rng = np.random.default_rng(cfg.seed)
    if cfg.init and not (out / "checkpoint.pt").exists():
        from neural_ops.cg2real.op import load_cg2real

        src, _ = load_cg2real(weights=cfg.init) if cfg.init.endswith(".safetensors") else load_cg2real(model=cfg.init)
        if src.cfg.to_dict() != net.cfg.to_dict():
            raise NeuralRenderError(f"--init {cfg.init}: its architecture {src.cfg.to_dict()} differs from this run's "
                                    f"{net.cfg.to_dict()}")
        net.load_state_dict(src.state_dict())
        log(f"initialised from {cfg.init}")
    log(f"generator: channels {cfg.model.channels}, norm {cfg.model.norm}, factor {cfg.model.factor}, "
        f"context {cfg.model.context}, colour permutation {cfg.permute}, "
        f"{count_parameters(net) / 1e6:.2f} M parameters; loss {cfg.loss}, gan {cfg.gan}; {len(train_store)} training pairs")

    def step(lr: float) -> dict:
        x, y, t = make_batch(train_store, rng, cfg.batch, cfg.crop, cfg.permute)
        pred = net(x, net.context_of(t))
        loss = recon_loss(cfg.loss, pred, y)
        parts = {"recon": float(loss.detach())}
        if gan:
            # Discriminator step (hinge), then the generator's adversarial + feature-matching terms.
            for g in opt_d.param_groups:
                g["lr"] = lr
            real_in, fake_in = d_input(y, x), d_input(pred.detach(), x)
            d_loss = sum(F.relu(1 - dr).mean() + F.relu(1 + df).mean()
                         for (dr, _), (df, _) in zip(disc(real_in), disc(fake_in)))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            fake_outs = disc(d_input(pred, x))
            adv = -sum(o.mean() for o, _ in fake_outs)
            loss = loss + cfg.adv_weight * adv
            parts.update(d=float(d_loss.detach()), adv=float(adv.detach()))
            if cfg.gan == "multiscale":
                with torch.no_grad():
                    real_feats = [f for _, fs in disc(real_in) for f in fs]
                fake_feats = [f for _, fs in fake_outs for f in fs]
                fm = sum((a - b).abs().mean() for a, b in zip(fake_feats, real_feats)) / len(real_feats)
                loss = loss + cfg.fm_weight * fm
                parts["fm"] = float(fm.detach())
        return {"loss": loop.descend(opt, net, loss), **parts}

    sched = cfg.schedule()
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True,
                   extra_modules=extra, rng=rng, log=log, metric_label="validation PSNR (dB)")
    card = loop.card("cg2real", net, data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": cfg.loss, "gan": cfg.gan, "adv_weight": cfg.adv_weight, "fm_weight": cfg.fm_weight,
                      "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "init": cfg.init or None,
                      "colour_permutation": cfg.permute,
                      "target": "Cycles + OIDN (albedo, normal)"}, res)
    save_model(net, card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL} (best validation PSNR {res.best['val_psnr']:.2f} dB at step {res.best.get('step')})")
    return card
