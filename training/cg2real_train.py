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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from neural_ops import PassSetError, read_exr
from neural_ops.errors import NeuralRenderError
from neural_ops.metrics import psnr
from neural_ops.nn.cg2real import Cg2RealConfig, Cg2RealNet, raw_inputs, thumbnail
from neural_ops.nn.denoiser import count_parameters
from neural_ops.nn.weights import save_model

from . import loop
from .denoise_train import _data_summary
from .losses import display_loss, l1_msssim, tonemap

GANS = ("none", "patch", "multiscale")
LOSSES = ("l1msssim", "l1", "display")


@dataclass
class Cg2RealTrainConfig:
    """A CG2Real training run (paired stage).

    Attributes:
        data, out: dataset folder and run folder.
        model: generator architecture.
        loss: reconstruction loss, ``l1msssim``, ``l1`` or ``display`` (see the module doc).
        gan: ``none``, ``patch`` (one conditional PatchGAN) or ``multiscale`` (two, with
            feature matching).
        adv_weight: weight of the generator's adversarial term.
        fm_weight: weight of feature matching (``multiscale`` only).
        steps, minutes, batch, crop, lr, val_count, val_every, ckpt_every, seed, max_samples:
            as for the denoiser's trainer.
        init: weights to fine-tune from (a shipped model name or a .safetensors path).
        permute: also permute the colour channels of each crop (see :func:`make_batch`). Off by
            default: on 48 held-out scenes it did not help (23.56 dB against 23.75 without).
    """

    data: str
    out: str
    model: Cg2RealConfig = field(default_factory=Cg2RealConfig)
    loss: str = "l1msssim"
    gan: str = "none"
    adv_weight: float = 0.02
    fm_weight: float = 1.0
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 8
    crop: int = 96
    lr: float = 1e-3
    val_count: int = 12
    val_every: int = 100
    ckpt_every: int = 200
    seed: int = 0
    max_samples: int = 0
    init: str = ""
    permute: bool = False

    def check(self) -> None:
        self.model.check()
        if self.loss not in LOSSES:
            raise NeuralRenderError(f"--loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if self.gan not in GANS:
            raise NeuralRenderError(f"--gan must be one of {', '.join(GANS)}, got '{self.gan}'")


def load_pair(d: Path, denoise_target: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """(raw EEVEE input (H, W, 13), Cycles target (H, W, 3), seconds the Cycles render took)."""
    from neural_ops.ops.oidn import oidn_denoise, oidn_unavailable

    try:
        raw = raw_inputs(read_exr(d / "eevee.exr"))
        cy = read_exr(d / "cycles.exr").validate(("Combined",))
        if cy.shape != raw.shape[:2]:
            raise PassSetError(f"eevee.exr is {raw.shape[:2]}, cycles.exr is {cy.shape}")
        target = cy.color
        if denoise_target and not oidn_unavailable() and "Denoising Albedo" in cy:
            target = oidn_denoise(cy)
    except PassSetError as e:
        raise PassSetError(f"malformed sample {d}: {e}") from None
    secs = 0.0
    try:
        secs = float(json.loads((d / "sample.json").read_text())["render_seconds"]["cycles.exr"])
    except (OSError, KeyError, ValueError, json.JSONDecodeError):
        pass
    return raw, np.ascontiguousarray(target, dtype=np.float32), secs


class PairStore:
    """Every sample of a cg2real dataset in memory (raw inputs and OIDN-cleaned Cycles targets,
    and each frame's thumbnail for the global-context branch)."""

    def __init__(self, root: Path, indices: list[int], log=print):
        self.raw, self.target, self.thumb, self.keys = [], [], [], []
        t0 = time.perf_counter()
        for k, i in enumerate(indices):
            raw, tgt, _ = load_pair(Path(root) / "samples" / f"{i:06d}")
            self.raw.append(raw)
            self.target.append(tgt)
            self.thumb.append(thumbnail(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].numpy())
            self.keys.append(i)
            if log and (k + 1) % 50 == 0:
                log(f"  loaded {k + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def __len__(self) -> int:
        return len(self.raw)


def make_batch(store: PairStore, rng: np.random.Generator, batch: int, crop: int, permute: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops, flips and transposes, and an exposure change of +-1 stop applied to the
    raster colour and the target alike (light is linear; reflectances and geometry are not scaled).
    Also the whole frames' thumbnails (same exposure change): the crops' global context.

    ``permute``: one random permutation of R, G, B per crop, applied to the raster colour, both
    reflectances, the thumbnail's and the target. Both renderers shade each colour channel
    independently (Cycles is not spectral), so a scene whose every colour (materials, world,
    lights) has its channels swapped renders to the swapped images, up to sampling decisions that
    look at luminance and change only the noise: a symmetry that turns each pair into six.
    """
    xs, ys, ts = [], [], []
    for _ in range(batch):
        j = int(rng.integers(len(store)))
        x, y = loop.random_crop(store.raw[j], store.target[j], rng, crop, transpose=True)
        g = np.float32(2.0 ** rng.uniform(-1, 1))
        x = np.array(x, dtype=np.float32)
        y = np.asarray(y) * g
        x[..., 0:3] *= g
        t = store.thumb[j].copy()
        t[0:3] *= g
        if permute:
            p = rng.permutation(3)
            for k in (0, 3, 6):
                x[..., k:k + 3] = x[..., k + p]
                t[k:k + 3] = t[k + p]
            y = y[..., p]
        xs.append(x.transpose(2, 0, 1))
        ys.append(y.transpose(2, 0, 1))
        ts.append(t)
    return (torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(np.ascontiguousarray(np.stack(ys))),
            torch.from_numpy(np.stack(ts)))


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN (pix2pix): strided 4x4 convolutions with spectral normalisation,
    one real/fake score per overlapping patch. Input: the image (tonemapped) and the condition
    (tonemapped raster colour + G-buffer)."""

    def __init__(self, cin: int, ch: int = 32, layers: int = 3):
        super().__init__()
        sn = nn.utils.spectral_norm
        mods, c = [], cin
        for i in range(layers):
            co = ch * 2**i
            mods.append(nn.Sequential(sn(nn.Conv2d(c, co, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)))
            c = co
        mods.append(nn.Sequential(sn(nn.Conv2d(c, c, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)))
        self.blocks = nn.ModuleList(mods)
        self.head = sn(nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.head(x), feats


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD: the same PatchGAN at full and half resolution."""

    def __init__(self, cin: int, scales: int = 2, ch: int = 32):
        super().__init__()
        self.ds = nn.ModuleList([PatchDiscriminator(cin, ch) for _ in range(scales)])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        outs = []
        for i, d in enumerate(self.ds):
            outs.append(d(x if i == 0 else F.avg_pool2d(x, 2**i)))
        return outs


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
    out, train_idx, val_idx = loop.prepare(cfg, log)
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
        from neural_ops.ops.cg2real import load_cg2real

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

    sched = loop.Schedule(cfg.steps, cfg.minutes, cfg.lr, cfg.val_every, cfg.ckpt_every)
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True,
                   extra_modules=extra, rng=rng, log=log, metric_label="validation PSNR (dB)")
    card = loop.card("cg2real", net, _data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": cfg.loss, "gan": cfg.gan, "adv_weight": cfg.adv_weight, "fm_weight": cfg.fm_weight,
                      "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "init": cfg.init or None,
                      "colour_permutation": cfg.permute,
                      "target": "Cycles + OIDN (albedo, normal)"}, res)
    save_model(net, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'} (best validation PSNR {res.best['val_psnr']:.2f} dB at step {res.best.get('step')})")
    return card
