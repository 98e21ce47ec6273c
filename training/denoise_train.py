"""Train the learned denoiser on a ``neural-render data denoise`` folder.

One run is one folder: ``checkpoint.pt`` (model, optimiser, step, best score; rewritten every
``ckpt_every`` steps and on Ctrl-C), ``config.json`` (the resolved config), ``log.jsonl`` and
``log.png`` (loss and validation curves), and at the end ``model.safetensors`` + ``model.json``
(the best validation weights and their model card). Running the same command again resumes.
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
from neural_ops.metrics import psnr, relmse
from neural_ops.nn.denoiser import DenoiserConfig, DenoiserNet, count_parameters
from neural_ops.nn.features import raw_inputs
from neural_ops.nn.weights import save_model

from . import loop
from .losses import get_loss


@dataclass
class TrainConfig:
    """A denoiser training run.

    Attributes:
        data: dataset folder (``samples/NNNNNN/spp0004.exr``, ``reference.exr`` ...).
        out: run folder (checkpoints, logs, the exported model).
        model: architecture (head, base, channels).
        spp: noisy inputs to train on (each batch item picks one at random).
        loss: ``l1log``, ``smape``, ``relmse`` or ``l1msssim``.
        steps: optimiser steps in total.
        minutes: stop (and export) after this much training time, 0 = no limit.
        batch: crops per step.
        crop: crop side in pixels.
        lr: peak learning rate (AdamW, cosine decay after a short warm-up).
        val_count: samples held out for validation (the highest indices).
        val_every: steps between validations (and log lines).
        ckpt_every: steps between checkpoints.
        seed: seed for crops, augmentation and initialisation.
        init: weights to start from (a shipped model name or a .safetensors path): fine-tuning.
        target: ``reference`` (high-spp render), ``noise2noise`` (``n2n_target.exr``), or
            ``sppN`` (the sample's own independent N-spp render as a Noise2Noise target; N must
            not be one of the inputs).
        max_samples: use at most this many samples (0: all), for data-size curves.
    """

    data: str
    out: str
    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    loss: str = "l1log"
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 16
    crop: int = 64
    lr: float = 2e-3
    val_count: int = 12
    val_every: int = 100
    ckpt_every: int = 200
    seed: int = 0
    init: str = ""
    target: str = "reference"
    max_samples: int = 0


class PairStore:
    """Every (sample, spp) pair of a dataset in memory as raw inputs and targets.

    ``raw[i]`` is (H, W, 13) (see :mod:`neural_ops.nn.features`), ``target[i]`` (H, W, 3).
    The base channels hold OIDN's output for ensemble models; it is computed once here.
    """

    def __init__(self, root: Path, indices: list[int], spp: list[int], base: str, target: str = "reference",
                 log=print):
        self.raw, self.target, self.keys = [], [], []
        tname = target_file(target)
        from neural_ops.ops.neural import compute_base
        t0 = time.perf_counter()
        for k, i in enumerate(indices):
            d = Path(root) / "samples" / f"{i:06d}"
            try:
                ref = read_exr(d / tname).validate(("Combined",)).color
                for s in spp:
                    ps = read_exr(d / f"spp{s:04d}.exr")
                    ps.validate(("Combined", ("Denoising Albedo",), ("Denoising Normal",), ("Denoising Depth",)))
                    if ps.shape != ref.shape[:2]:
                        raise PassSetError(f"input is {ps.shape}, target is {ref.shape[:2]}")
                    self.raw.append(raw_inputs(ps, compute_base(ps, base)))
                    self.target.append(np.ascontiguousarray(ref, dtype=np.float32))
                    self.keys.append((i, s))
            except PassSetError as e:
                raise PassSetError(f"malformed sample {d}: {e}") from None
            if log and (k + 1) % 50 == 0:
                log(f"  loaded {k + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def __len__(self) -> int:
        return len(self.raw)


def target_file(target: str) -> str:
    """File name of a sample's training target (see :class:`TrainConfig`)."""
    if target == "reference":
        return "reference.exr"
    if target == "noise2noise":
        return "n2n_target.exr"
    if target.startswith("spp") and target[3:].isdigit():
        return f"spp{int(target[3:]):04d}.exr"
    raise NeuralRenderError(f"unknown target '{target}' (reference, noise2noise or sppN, e.g. spp16)")


def list_samples(root: Path) -> list[int]:
    d = Path(root) / "samples"
    if not d.is_dir():
        raise NeuralRenderError(f"{root}: not a dataset folder (no samples/; make one with 'neural-render data denoise')")
    idx = sorted(int(p.name) for p in d.iterdir() if p.name.isdigit() and (p / "sample.json").exists())
    if not idx:
        raise NeuralRenderError(f"{root}: no finished samples")
    return idx


def make_batch(store: PairStore, rng: np.random.Generator, batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops with flips, transposes and an exposure change (x 2^U(-2, 2) on the colour,
    base and target: the same scene, brighter or darker)."""
    xs, ys = [], []
    for _ in range(batch):
        j = int(rng.integers(len(store)))
        x, y = loop.random_crop(store.raw[j], store.target[j], rng, crop, vflip=True, transpose=True)
        g = np.float32(2.0 ** rng.uniform(-2, 2))
        x = np.array(x, dtype=np.float32)
        x[..., 0:3] *= g
        x[..., 10:13] *= g
        xs.append(x.transpose(2, 0, 1))
        ys.append((np.asarray(y) * g).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(np.ascontiguousarray(np.stack(ys)))


def validate(net: DenoiserNet, store: PairStore) -> dict:
    """Mean relMSE and PSNR of the model on whole validation images (4 spp where present)."""
    net.eval()
    rel, ps = [], []
    with torch.inference_mode():
        for x, y, (_i, _s) in zip(store.raw, store.target, store.keys):
            out = net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])[0].permute(1, 2, 0).numpy()
            rel.append(relmse(out, y))
            ps.append(psnr(out, y))
    net.train()
    return {"val_relmse": float(np.mean(rel)), "val_psnr": float(np.mean(ps))}


def _load_init(net: DenoiserNet, init: str) -> None:
    from neural_ops.ops.neural import load_denoiser

    src, card = load_denoiser(weights=init) if init.endswith(".safetensors") else load_denoiser(model=init)
    if src.cfg.to_dict() != net.cfg.to_dict():
        raise NeuralRenderError(f"--init {init}: its architecture {src.cfg.to_dict()} differs from this run's "
                                f"{net.cfg.to_dict()}; pass the same --head/--base/--channels")
    net.load_state_dict(src.state_dict())


def plot_log(log_path: Path, png: Path, metric: str = "val_relmse", label: str = "validation relMSE",
             log_scale: bool = True) -> None:
    """Training loss and a validation metric against step, as a PNG (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot([r["step"] for r in rows], [r["loss"] for r in rows])
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log")
    v = [r for r in rows if metric in r]
    ax[1].plot([r["step"] for r in v], [r[metric] for r in v], marker=".")
    ax[1].set(xlabel="step", ylabel=label, yscale="log" if log_scale else "linear")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def train(cfg: TrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns the final model card."""
    cfg.model.check()
    get_loss(cfg.loss)
    target_file(cfg.target)
    if cfg.target.startswith("spp") and int(cfg.target[3:]) in cfg.spp:
        raise NeuralRenderError(f"--target {cfg.target} is also an input: its noise would be the input's own, "
                                "not independent (drop it from --spp)")
    out, train_idx, val_idx = loop.prepare(cfg, log)
    train_store = PairStore(Path(cfg.data), train_idx, cfg.spp, cfg.model.base, cfg.target, log)
    val_spp = [4] if 4 in cfg.spp else cfg.spp[:1]
    val_store = PairStore(Path(cfg.data), val_idx, val_spp, cfg.model.base, "reference", None)

    net = DenoiserNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    loss_fn = get_loss(cfg.loss)
    rng = np.random.default_rng(cfg.seed)
    if cfg.init and not (out / "checkpoint.pt").exists():
        _load_init(net, cfg.init)
        log(f"initialised from {cfg.init}")
    log(f"model: {cfg.model.head} head, base {cfg.model.base}, channels {cfg.model.channels}, "
        f"{count_parameters(net) / 1e6:.2f} M parameters; {len(train_store)} training pairs")

    def step(lr: float) -> dict:
        x, y = make_batch(train_store, rng, cfg.batch, cfg.crop)
        loss = loss_fn(net(x), y)
        return {"loss": loop.descend(opt, net, loss)}

    sched = loop.Schedule(cfg.steps, cfg.minutes, cfg.lr, cfg.val_every, cfg.ckpt_every)
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_relmse", False, rng=rng,
                   log=log, metric_label="validation relMSE")
    card = loop.card("denoise", net, _data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": cfg.loss, "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "spp": cfg.spp,
                      "init": cfg.init or None, "target": cfg.target}, res)
    save_model(net, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'} (best validation relMSE {res.best['val_relmse']:.5f} at step {res.best.get('step')})")
    return card


def _data_summary(root: Path, train_idx: list[int], val_idx: list[int]) -> dict:
    man = {}
    try:
        man = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    c = man.get("config", {})
    return {"folder": str(root), "dataset_seed": c.get("seed"), "resolution": c.get("resolution"),
            "ref_spp": c.get("ref_spp"), "train_samples": len(train_idx), "val_samples": len(val_idx),
            "train_indices": f"{train_idx[0]}..{train_idx[-1]}" if train_idx else "",
            "val_indices": f"{val_idx[0]}..{val_idx[-1]}" if val_idx else ""}
