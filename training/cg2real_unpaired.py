"""CG2Real's unpaired stage: CycleGAN between rendered albedo and photographs.

Domain A: reflectance crops rendered by the cg2real dataset (``Diffuse Color`` of
``eevee.exr``). Domain B: crops of a folder of photographs the user supplies (PNG/JPG,
sRGB-decoded to linear; the tests use the photographs bundled with scikit-image). Two
translators (A->B, B->A, :class:`~neural_ops.nn.albedo.AlbedoTranslator`), two PatchGAN
discriminators with spectral normalisation and the hinge loss, a cycle loss and an identity
loss (Zhu et al. 2017). The A->B translator is exported; ``neural-render cg2real --param
photo_albedo=true`` then swaps it into the paired stage's shading x albedo product.

Realism of the translated albedo against the photographs is FID-infinity (:mod:`.fid`) when a
local Inception file is given, else reported as not available. A PNG shows crops before/after.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neural_ops import read_exr
from neural_ops.errors import NeuralRenderError
from neural_ops.imageio import side_by_side, write_png
from neural_ops.metrics import srgb_encode
from neural_ops.nn.albedo import AlbedoConfig, AlbedoTranslator
from neural_ops.nn.weights import save_model

from .cg2real_train import PatchDiscriminator
from .denoise_train import list_samples

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass
class UnpairedConfig:
    """Attributes:
    data: cg2real dataset folder (rendered albedo). photos: folder of photographs.
    out: run folder. model: translator size. steps, minutes, batch, crop, lr: optimisation.
    cycle, identity: loss weights (CycleGAN's 10 and 0.5 x 10). inception: optional local
    Inception TorchScript for FID-infinity. seed: random seed.
    """

    data: str
    photos: str
    out: str
    model: AlbedoConfig = None
    steps: int = 2000
    minutes: float = 0.0
    batch: int = 4
    crop: int = 64
    lr: float = 2e-4
    cycle: float = 10.0
    identity: float = 5.0
    inception: str = ""
    seed: int = 0
    ckpt_every: int = 200

    def __post_init__(self):
        self.model = self.model or AlbedoConfig()


def srgb_decode(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


#: Photographs and texture exemplars that ship inside scikit-image (``--photos skimage``).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")


def load_photos(folder: str, min_side: int) -> list[np.ndarray]:
    """Every readable photograph in ``folder`` (or scikit-image's bundled ones for ``skimage``)
    as linear (H, W, 3) float32 in [0, 1]."""
    from skimage import io

    if folder == "skimage":
        import skimage.data

        imgs = []
        for name in SKIMAGE_PHOTOS:
            img = np.asarray(getattr(skimage.data, name)())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            imgs.append(srgb_decode(img[..., :3].astype(np.float32) / 255.0))
        return imgs
    d = Path(folder)
    if not d.is_dir():
        raise NeuralRenderError(f"{folder}: no such photo folder")
    out, bad = [], []
    for p in sorted(d.iterdir()):
        if p.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        try:
            img = np.asarray(io.imread(p))
        except Exception:  # any decoder error: skip the file and say so
            bad.append(p.name)
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
        if min(img.shape[:2]) >= min_side:
            out.append(srgb_decode(img))
    if bad:
        print(f"skipped unreadable photos: {', '.join(bad)}", file=sys.stderr)
    if not out:
        raise NeuralRenderError(f"{folder}: no photographs of at least {min_side}x{min_side} pixels (PNG/JPG/TIFF)")
    return out


def load_albedo(data: str) -> list[np.ndarray]:
    """Rendered reflectance (``Diffuse Color`` of each sample's ``eevee.exr``)."""
    out = []
    for i in list_samples(Path(data)):
        ps = read_exr(Path(data) / "samples" / f"{i:06d}" / "eevee.exr").validate(("Diffuse Color",))
        out.append(np.clip(ps.get("Diffuse Color")[..., :3], 0, 1).astype(np.float32))
    return out


def crops(images: list[np.ndarray], rng: np.random.Generator, n: int, size: int, min_cover: float = 0.0) -> torch.Tensor:
    """n random crops (with flips), (n, 3, size, size); albedo crops mostly empty (black
    background) are redrawn up to a few times when ``min_cover`` > 0."""
    out = []
    for _ in range(n):
        for _try in range(8):
            img = images[int(rng.integers(len(images)))]
            h, w = img.shape[:2]
            oy, ox = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            c = img[oy : oy + size, ox : ox + size]
            if min_cover <= 0 or (c.max(axis=2) > 0.02).mean() >= min_cover:
                break
        if rng.random() < 0.5:
            c = c[:, ::-1]
        out.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    return torch.from_numpy(np.stack(out))


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
    ckpt = out / "checkpoint.pt"
    mods = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "opt_g": opt_g, "opt_d": opt_d}
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=True)
        try:
            for k, m in mods.items():
                m.load_state_dict(st[k])
        except (RuntimeError, ValueError, KeyError) as e:
            raise NeuralRenderError(f"{ckpt} was written by a run with other settings ({str(e).splitlines()[0]}); "
                                    "use a new -o folder") from None
        step, spent = st["step"], st["seconds"]
        rng.bit_generator.state = st["rng"]
        log(f"resumed at step {step} ({spent / 60:.1f} min trained)")
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, default=str) + "\n")

    def save_ckpt():
        tmp = ckpt.with_name("checkpoint.pt.tmp")
        torch.save({**{k: m.state_dict() for k, m in mods.items()}, "step": step, "seconds": spent,
                    "rng": rng.bit_generator.state}, tmp)
        os.replace(tmp, ckpt)

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
        log("stopping after this step (checkpoint will be saved)...")

    old = signal.signal(signal.SIGINT, on_signal)
    t_last, sums, n = time.perf_counter(), {}, 0
    try:
        with (out / "log.jsonl").open("a") as logf:
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
        "command": "neural-render " + " ".join(shlex.quote(x) for x in sys.argv[1:]) if sys.argv else "",
        "data": {"rendered": str(cfg.data), "rendered_images": len(albedo), "photos": str(cfg.photos),
                 "photo_images": len(photos)},
        "train": {"steps": step, "minutes": round(spent / 60, 1), "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr,
                  "cycle": cfg.cycle, "identity": cfg.identity,
                  "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}"},
        "realism": report,
    }
    save_model(g_ab, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'}; realism: {report.get('note') or report}")
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
