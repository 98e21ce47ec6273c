"""Train the relighting network on a ``neural-render data relight`` folder.

Each sample holds the same frame under K lightings (``lit_k.exr``, described by
``lighting_k.json``). A training pair is (k -> j): the G-buffer, analytic shading under j, and
(with probability 1 - ``source_dropout``) the frame under k with its own analytic image; the
target is the frame under j. Renders go through OIDN first (what a user would relight, and a
clean target). Loss 0.16 L1 + 0.84 (1 - MS-SSIM) on tonemapped images. One run is one folder:
``checkpoint.pt`` (resume), ``log.jsonl``/``log.png``, ``model.safetensors`` + ``model.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSetError, read_exr
from neural_ops.errors import NeuralRenderError
from neural_ops.metrics import psnr
from neural_ops.nn.cg2real import thumbnail
from neural_ops.nn.denoiser import count_parameters
from neural_ops.nn.features import depth_feature
from neural_ops.nn.relight import CODE_DIM, RelightConfig, RelightNet, lighting_code, raw_inputs
from neural_ops.nn.weights import save_model

from . import loop
from .denoise_train import _data_summary
from .losses import l1_msssim


@dataclass
class RelightTrainConfig:
    """A relighting training run. ``source_dropout``: share of pairs trained without the
    original frame (so the model also works when only the G-buffer is given). ``exposure``:
    random intensity changes of the target and the source lighting, up to this many stops each
    way (0: none). Crops are flipped and transposed. Other fields as for the CG2Real trainer."""

    data: str
    out: str
    model: RelightConfig = field(default_factory=RelightConfig)
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 8
    crop: int = 96
    lr: float = 1e-3
    source_dropout: float = 0.3
    exposure: float = 0.0
    val_count: int = 8
    val_every: int = 100
    ckpt_every: int = 200
    seed: int = 0
    max_samples: int = 0


def clean(ps) -> np.ndarray:
    """A render through OIDN (albedo + normal) when available, else its colour."""
    from neural_ops.ops.oidn import oidn_denoise, oidn_unavailable

    if not oidn_unavailable() and "Denoising Albedo" in ps and "Denoising Normal" in ps:
        return oidn_denoise(ps)
    return np.maximum(ps.color, 0)


class SampleStore:
    """Per sample: G-buffer, and per lighting the clean render, analytic buffers and code."""

    def __init__(self, root: Path, indices: list[int], log=print, shadows: bool = False):
        from neural_ops.relight import analytic_shading, parse_lighting
        from neural_ops.relight.screen_space import shadowed_shading

        shade = shadowed_shading if shadows else analytic_shading

        self.samples = []
        t0 = time.perf_counter()
        for n, i in enumerate(indices):
            d = Path(root) / "samples" / f"{i:06d}"
            try:
                k_count = len(list(d.glob("lighting_*.json")))
                lits = [read_exr(d / f"lit_{k}.exr") for k in range(k_count)]
                if k_count < 2:
                    raise PassSetError("fewer than 2 lightings")
                g = lits[0].validate(("Combined", "Diffuse Color", "Normal", "Position", "Depth"))
                s = {"dc": g.get("Diffuse Color")[..., :3], "normal": g.get("Normal")[..., :3],
                     "gc": g.get("Glossy Color")[..., :3] if "Glossy Color" in g else np.zeros_like(g.color),
                     "depth": depth_feature(g.get("Depth")), "lit": [], "diff": [], "gloss": [], "code": [],
                     "seconds": {}}
                for k, ps in enumerate(lits):
                    light = parse_lighting(json.loads((d / f"lighting_{k}.json").read_text()))
                    sh = shade(ps, light)
                    s["lit"].append(clean(ps))
                    s["diff"].append(sh["diffuse"] + sh["background"])
                    s["gloss"].append(sh["glossy"])
                    s["code"].append(lighting_code(light))
            except (PassSetError, OSError, json.JSONDecodeError) as e:
                raise PassSetError(f"malformed sample {d}: {e}") from None
            self.samples.append(s)
            if log and (n + 1) % 25 == 0:
                log(f"  loaded {n + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def pair(self, s: dict, k: int, j: int, with_source: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw (H, W, 22), target (H, W, 3), code (CODE_DIM,)) for lightings k -> j."""
        src = sa = None
        if with_source:
            src, sa = s["lit"][k], s["diff"][k] + s["gloss"][k]
        raw = raw_inputs(s["diff"][j], s["gloss"][j], s["dc"], s["gc"], s["normal"], s["depth"], src, sa)
        return raw, s["lit"][j], s["code"][j]


def make_batch(store: SampleStore, rng, cfg: RelightTrainConfig):
    """Crops of (k -> j) pairs, their targets and lighting codes, and the whole frames'
    thumbnails (the global-context branch's input; same exposure changes)."""
    xs, ys, cs, ts = [], [], [], []
    for _ in range(cfg.batch):
        s = store.samples[int(rng.integers(len(store.samples)))]
        k_count = len(s["lit"])
        k = int(rng.integers(k_count))
        j = int(rng.choice([x for x in range(k_count) if x != k]))
        raw, y, code = store.pair(s, k, j, rng.random() >= cfg.source_dropout)
        thumb = thumbnail(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].numpy() if cfg.model.context else None
        raw, y = loop.random_crop(raw, y, rng, cfg.crop, vflip=True, transpose=True)
        if cfg.exposure:
            # Light is linear: the target lighting at another intensity scales its analytic
            # buffers and the target alike; the source frame and its analytic image likewise.
            g_t, g_s = (np.float32(2.0 ** v) for v in rng.uniform(-cfg.exposure, cfg.exposure, size=2))
            raw = np.array(raw, np.float32)
            raw[..., 0:6] *= g_t
            raw[..., 16:22] *= g_s
            y = np.asarray(y) * g_t
            if thumb is not None:
                thumb[0:6] *= g_t
                thumb[16:22] *= g_s
        xs.append(np.ascontiguousarray(raw.transpose(2, 0, 1)))
        ys.append(np.ascontiguousarray(y.transpose(2, 0, 1)))
        cs.append(code)
        ts.append(thumb)
    thumbs = torch.from_numpy(np.stack(ts)) if cfg.model.context else None
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(cs)), thumbs


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
    out, train_idx, val_idx = loop.prepare(cfg, log)
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

    sched = loop.Schedule(cfg.steps, cfg.minutes, cfg.lr, cfg.val_every, cfg.ckpt_every)
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_psnr", True, rng=rng, log=log,
                   metric_label="validation PSNR (dB)")
    card = loop.card("relight", net, _data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": "l1msssim", "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr,
                      "source_dropout": cfg.source_dropout, "exposure": cfg.exposure, "target": "Cycles + OIDN (albedo, normal)"}, res)
    save_model(net, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'} (best validation PSNR {res.best['val_psnr']:.2f} dB at step {res.best.get('step')})")
    return card
