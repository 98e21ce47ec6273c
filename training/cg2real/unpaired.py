"""CG2Real's unpaired stage: CycleGAN between rendered albedo and photographs.

Domain A: reflectance crops rendered by the cg2real dataset (``Diffuse Color`` of
``eevee.exr``). Domain B: crops of a folder of photographs the user supplies (PNG/JPG,
sRGB-decoded to linear; the tests use the photographs bundled with scikit-image). Two
translators (A->B, B->A, :class:`~neural_ops.cg2real.albedo.AlbedoTranslator`), two PatchGAN
discriminators with spectral normalisation and the hinge loss, a cycle loss and an identity
loss (Zhu et al. 2017). The A->B translator is exported; ``neural-render cg2real --param
photo_albedo=true`` then swaps it into the paired stage's shading x albedo product.

Realism of the translated albedo against the photographs is FID-infinity (:mod:`.fid`) when a
local Inception file is given, else reported as not available. A PNG shows crops before/after.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neural_ops.cg2real.albedo import AlbedoConfig, AlbedoTranslator
from neural_ops.core.imageio import side_by_side, write_png
from neural_ops.core.metrics import srgb_encode
from neural_ops.nn.weights import save_model

from ..common import loop, runs
from ..common.gan import PatchDiscriminator
from .data import crops, load_albedo, load_photos


@dataclass(kw_only=True)
class UnpairedConfig(loop.RunConfig):
    """CG2Real's unpaired albedo stage (``neural-render train cg2real-unpaired``; each field is an option)."""

    data: str
    """cg2real dataset folder (its rendered albedo is domain A)."""
    photos: str
    """Folder of photographs (PNG/JPG), or 'skimage' for the ones bundled with scikit-image."""
    out: str = field(default="data/runs/cg2real_albedo", metadata={"flag": ("-o", "--output")})
    """Run folder; rerun to resume."""
    model: AlbedoConfig = field(default_factory=AlbedoConfig, metadata={"cli": False})
    """Translator size (not a command-line option)."""
    batch: int = 4
    lr: float = 2e-4
    """Learning rate (Adam)."""
    cycle: float = 10.0
    """Weight of the cycle loss (CycleGAN's 10)."""
    identity: float = 5.0
    """Weight of the identity loss (CycleGAN's 0.5 x 10)."""
    inception: str = ""
    """Local Inception TorchScript file for FID-infinity (else realism is not reported)."""

    def __post_init__(self):
        self.model = self.model or AlbedoConfig()


def _d_in(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=1e-6) ** (1 / 2.2)  # a display-like encoding for the discriminators


def train(cfg: UnpairedConfig, log=print) -> dict:
    from neural_ops.nn.tiling import set_threads

    cfg.model.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads()
    torch.manual_seed(cfg.seed)
    albedo = load_albedo(cfg.data)
    photos = load_photos(cfg.photos, cfg.crop)
    log(f"unpaired stage: {len(albedo)} rendered albedo images, {len(photos)} photographs, crops of {cfg.crop}")
    g_ab, g_ba = AlbedoTranslator(cfg.model), AlbedoTranslator(cfg.model)
    d_b, d_a = PatchDiscriminator(3), PatchDiscriminator(3)
    opt_g = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=cfg.lr, betas=(0.5, 0.999))
    rng = np.random.default_rng(cfg.seed)
    step, spent = 0, 0.0
    ckpt = out / runs.CHECKPOINT
    mods = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "opt_g": opt_g, "opt_d": opt_d}
    if ckpt.exists():
        st = runs.load_checkpoint(ckpt, mods)
        step, spent = st["step"], st["seconds"]
        rng.bit_generator.state = st["rng"]
        log(f"resumed at step {step} ({spent / 60:.1f} min trained)")
    runs.write_config(out, cfg)

    def save_ckpt():
        runs.save_checkpoint(ckpt, mods, step=step, seconds=spent, rng=rng.bit_generator.state)

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
        log("stopping after this step (checkpoint will be saved)...")

    old = signal.signal(signal.SIGINT, on_signal)
    t_last, sums, n = time.perf_counter(), {}, 0
    try:
        with (out / runs.LOG).open("a") as logf:
            while step < cfg.steps and not stop["now"]:
                if cfg.minutes and spent >= cfg.minutes * 60:
                    log(f"time budget of {cfg.minutes} min reached at step {step}")
                    break
                a = crops(albedo, rng, cfg.batch, cfg.crop, min_cover=0.5)
                b = crops(photos, rng, cfg.batch, cfg.crop)
                fake_b, fake_a = g_ab(a), g_ba(b)
                # Discriminators (hinge).
                d_loss = (F.relu(1 - d_b(_d_in(b))[0]).mean() + F.relu(1 + d_b(_d_in(fake_b.detach()))[0]).mean()
                          + F.relu(1 - d_a(_d_in(a))[0]).mean() + F.relu(1 + d_a(_d_in(fake_a.detach()))[0]).mean())
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                # Translators: adversarial + cycle + identity.
                adv = -d_b(_d_in(fake_b))[0].mean() - d_a(_d_in(fake_a))[0].mean()
                cyc = (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()
                idt = (g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean()
                g_loss = adv + cfg.cycle * cyc + cfg.identity * idt
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                step += 1
                for k, v in {"d": d_loss, "adv": adv, "cycle": cyc, "identity": idt}.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                n += 1
                now = time.perf_counter()
                spent += now - t_last
                t_last = now
                if step % 100 == 0 or step == cfg.steps:
                    row = {"step": step, **{k: v / n for k, v in sums.items()}, "minutes": spent / 60}
                    logf.write(json.dumps(row) + "\n")
                    logf.flush()
                    log(f"step {step}/{cfg.steps} D {row['d']:.3f} adv {row['adv']:.3f} cycle {row['cycle']:.4f} "
                        f"identity {row['identity']:.4f} | {spent / 60:.1f} min")
                    sums, n = {}, 0
                if step % cfg.ckpt_every == 0:
                    save_ckpt()
    finally:
        signal.signal(signal.SIGINT, old)
        save_ckpt()
    g_ab.eval()
    report = _report(g_ab, albedo, photos, cfg, out)
    card = {
        "kind": "cg2real-albedo",
        "command": runs.command_line(),
        "data": {"rendered": str(cfg.data), "rendered_images": len(albedo), "photos": str(cfg.photos),
                 "photo_images": len(photos)},
        "train": {"steps": step, "minutes": round(spent / 60, 1), "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr,
                  "cycle": cfg.cycle, "identity": cfg.identity,
                  "machine": runs.machine()},
        "realism": report,
    }
    save_model(g_ab, card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL}; realism: {report.get('note') or report}")
    return card


def _report(g_ab: AlbedoTranslator, albedo, photos, cfg: UnpairedConfig, out: Path) -> dict:
    """A before/after PNG of held crops, and FID-infinity against the photos when possible."""
    from .fid import realism

    rng = np.random.default_rng(12345)
    a = crops(albedo, rng, 256 if cfg.inception else 8, cfg.crop, min_cover=0.5)
    p = crops(photos, rng, 256 if cfg.inception else 8, cfg.crop)
    with torch.inference_mode():
        t = g_ab(a)

    def u8(x):
        return np.round(srgb_encode(x.permute(0, 2, 3, 1).numpy()) * 255).astype(np.uint8)

    before, after, real = u8(a), u8(t), u8(p)
    rows = [side_by_side(list(before[:8]), labels=["rendered albedo"] + [""] * 7),
            side_by_side(list(after[:8]), labels=["translated"] + [""] * 7),
            side_by_side(list(real[:8]), labels=["photographs"] + [""] * 7)]
    write_png(out / "albedo_grid.png", np.concatenate(rows, axis=0))
    rep = realism(after, real, cfg.inception or None)
    if cfg.inception:
        rep["rendered_vs_photos"] = realism(before, real, cfg.inception)
    return rep
