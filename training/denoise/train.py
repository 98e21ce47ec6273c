"""Train the learned denoiser on a ``neural-render data denoise`` folder.

One run is one folder: ``checkpoint.pt`` (model, optimiser, step, best score; rewritten every
``ckpt_every`` steps and on Ctrl-C), ``config.json`` (the resolved config), ``log.jsonl`` and
``log.png`` (loss and validation curves), and at the end ``model.safetensors`` + ``model.json``
(the best validation weights and their model card). Running the same command again resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import psnr, relmse
from neural_ops.denoise.network import DenoiserConfig, DenoiserNet
from neural_ops.nn.blocks import count_parameters
from neural_ops.nn.weights import save_model

from ..common import distributed, loop, runs
from ..common.losses import LOSSES, get_loss
from ..common.samples import data_summary
from .data import PairStore, make_batch, target_file


@dataclass(kw_only=True)
class TrainConfig(loop.LoopConfig):
    """A denoiser training run (``neural-render train denoise``; each field is an option)."""

    data: str
    """Dataset folder from ``neural-render data denoise`` (samples/NNNNNN/spp0004.exr, reference.exr ...)."""
    out: str = field(default="data/runs/denoise", metadata={"flag": ("-o", "--output")})
    """Run folder (checkpoints, logs, the exported model); rerun to resume."""
    model: DenoiserConfig = field(default_factory=lambda: DenoiserConfig(channels=[16, 32, 48, 64]))
    """Architecture (head, base, channels)."""
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    """Noisy inputs to train on (each batch item picks one at random)."""
    loss: str = field(default="l1log", metadata={"choices": LOSSES})
    """Training loss; relmse_n2n is for noisy Noise2Noise targets."""
    batch: int = 16
    lr: float = 2e-3
    init: str = ""
    """Weights to start from (a shipped model name or a .safetensors path): fine-tuning."""
    target: str = "reference"
    """reference (high-spp render), noise2noise (n2n_target.exr), or sppN: the sample's own independent
    N-spp render as a Noise2Noise target (N must not be one of the inputs)."""


def validate(net: DenoiserNet, store: PairStore) -> dict:
    """Mean relMSE and PSNR of the model on whole validation images (4 spp where present)."""
    net.eval()
    rel, ps = [], []
    dev = next(net.parameters()).device
    with torch.inference_mode():
        for x, y, (_i, _s) in zip(store.raw, store.target, store.keys):
            out = net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(dev))[0].permute(1, 2, 0).cpu().numpy()
            rel.append(relmse(out, y))
            ps.append(psnr(out, y))
    net.train()
    return {"val_relmse": float(np.mean(rel)), "val_psnr": float(np.mean(ps))}


def input_range(store: PairStore) -> dict:
    """The range of :func:`~neural_ops.denoise.learned.input_stats` over the training pairs, at
    the exposures training showed them (x 1/4 .. x 4): what the model knows."""
    from neural_ops.denoise.learned import input_stats

    seen: dict[str, list[float]] = {}
    for raw in store.raw:
        for g in (0.25, 1.0, 4.0):
            x = raw.copy()
            x[..., 0:3] *= g
            x[..., 10:13] *= g
            for k, v in input_stats(x).items():
                seen.setdefault(k, []).append(v)
    return {k: [round(min(v), 4), round(max(v), 4)] for k, v in seen.items()}


def _load_init(net: DenoiserNet, init: str) -> None:
    from neural_ops.denoise.learned import load_denoiser

    src, card = load_denoiser(weights=init) if init.endswith(".safetensors") else load_denoiser(model=init)
    if src.cfg.to_dict() != net.cfg.to_dict():
        raise NeuralRenderError(f"--init {init}: its architecture {src.cfg.to_dict()} differs from this run's "
                                f"{net.cfg.to_dict()}; pass the same --head/--base/--channels")
    net.load_state_dict(src.state_dict())


def train(cfg: TrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns the final model card."""
    cfg.model.check()
    get_loss(cfg.loss)
    target_file(cfg.target)
    if cfg.target.startswith("spp") and int(cfg.target[3:]) in cfg.spp:
        raise NeuralRenderError(f"--target {cfg.target} is also an input: its noise would be the input's own, "
                                "not independent (drop it from --spp)")
    rank, procs = distributed.setup()
    if rank:
        log = lambda *a, **k: None  # noqa: E731 (process 0 speaks for the run)
    out, train_idx, val_idx = runs.prepare(cfg, log)
    if procs > 1:
        torch.set_num_threads(max(1, torch.get_num_threads() // procs))
    train_store = PairStore(Path(cfg.data), train_idx, cfg.spp, cfg.model.base, cfg.target, log)
    val_spp = [4] if 4 in cfg.spp else cfg.spp[:1]
    val_store = PairStore(Path(cfg.data), val_idx, val_spp, cfg.model.base, "reference", None)

    dev = distributed.device()
    net = DenoiserNet(cfg.model).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    loss_fn = get_loss(cfg.loss)
    rng = np.random.default_rng(cfg.seed + 1000 * rank)  # each process its own crops
    if cfg.init and not (out / "checkpoint.pt").exists():
        _load_init(net, cfg.init)
        log(f"initialised from {cfg.init}")
    log(f"model: {cfg.model.head} head, base {cfg.model.base}, channels {cfg.model.channels}, "
        f"{count_parameters(net) / 1e6:.2f} M parameters; {len(train_store)} training pairs; "
        f"{procs} process(es) on {dev.type}" + (f" ({'nccl' if dev.type == 'cuda' else 'gloo'}, "
                                                 f"{cfg.batch} crops each)" if procs > 1 else ""))
    model = distributed.wrap(net)

    def step(lr: float) -> dict:
        x, y = make_batch(train_store, rng, cfg.batch, cfg.crop)
        loss = loss_fn(model(x.to(dev)), y.to(dev))
        return {"loss": loop.descend(opt, net, loss)}

    sched = cfg.schedule()
    res = loop.run(out, net, [opt], step, lambda: validate(net, val_store), sched, "val_relmse", False, rng=rng,
                   log=log, metric_label="validation relMSE")
    distributed.barrier()
    if rank:
        distributed.cleanup()
        return {}
    card = loop.card("denoise", net, data_summary(Path(cfg.data), train_idx, val_idx),
                     {"loss": cfg.loss, "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr, "spp": cfg.spp,
                      "init": cfg.init or None, "target": cfg.target}, res)
    card["train"]["processes"] = procs
    if cfg.model.base != "noisy":
        card["input_range"] = input_range(train_store)
    save_model(net.cpu(), card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL} (best validation relMSE {res.best['val_relmse']:.5f} at step {res.best.get('step')})")
    distributed.cleanup()
    return card
