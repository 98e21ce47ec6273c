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
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSetError, read_exr
from neural_ops.errors import NeuralRenderError
from neural_ops.metrics import psnr
from neural_ops.nn.cg2real import count_parameters
from neural_ops.nn.features import depth_feature
from neural_ops.nn.relight import CODE_DIM, RelightConfig, RelightNet, lighting_code, raw_inputs
from neural_ops.nn.weights import save_model

from .denoise_train import _data_summary, list_samples, plot_log
from .losses import l1_msssim


@dataclass
class RelightTrainConfig:
    """A relighting training run. ``source_dropout``: share of pairs trained without the
    original frame (so the model also works when only the G-buffer is given). Other fields as
    for the CG2Real trainer."""

    data: str
    out: str
    model: RelightConfig = field(default_factory=RelightConfig)
    steps: int = 4000
    minutes: float = 0.0
    batch: int = 8
    crop: int = 96
    lr: float = 1e-3
    source_dropout: float = 0.3
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

    def __init__(self, root: Path, indices: list[int], log=print):
        from neural_ops.relight import analytic_shading, parse_lighting

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
                    sh = analytic_shading(ps, light)
                    s["lit"].append(clean(ps))
                    s["diff"].append(sh["diffuse"])
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
    xs, ys, cs = [], [], []
    for _ in range(cfg.batch):
        s = store.samples[int(rng.integers(len(store.samples)))]
        k_count = len(s["lit"])
        k = int(rng.integers(k_count))
        j = int(rng.choice([x for x in range(k_count) if x != k]))
        raw, y, code = store.pair(s, k, j, rng.random() >= cfg.source_dropout)
        h, w = y.shape[:2]
        c = min(cfg.crop, h, w)
        oy, ox = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        raw, y = raw[oy : oy + c, ox : ox + c], y[oy : oy + c, ox : ox + c]
        if rng.random() < 0.5:  # image-space flips keep every buffer per pixel (normals stay world-space)
            raw, y = raw[:, ::-1], y[:, ::-1]
        xs.append(np.ascontiguousarray(raw.transpose(2, 0, 1)))
        ys.append(np.ascontiguousarray(y.transpose(2, 0, 1)))
        cs.append(code)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)), torch.from_numpy(np.stack(cs))


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


def _lr(step: int, cfg: RelightTrainConfig, seconds: float) -> float:
    warm = min(200, cfg.steps // 10)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    if cfg.minutes:
        t = max(t, seconds / (cfg.minutes * 60))
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train(cfg: RelightTrainConfig, log=print) -> dict:
    from neural_ops.nn.tiling import set_threads

    if cfg.model.condition == "film":
        cfg.model.lighting_dim = CODE_DIM
    try:
        cfg.model.check()
    except ValueError as e:
        raise NeuralRenderError(str(e)) from None
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads()
    torch.manual_seed(cfg.seed)
    indices = list_samples(Path(cfg.data))
    if len(indices) <= cfg.val_count:
        raise NeuralRenderError(f"{cfg.data}: {len(indices)} samples, need more than --val-count {cfg.val_count}")
    val_idx, train_idx = indices[-cfg.val_count:], indices[: -cfg.val_count]
    if cfg.max_samples:
        train_idx = train_idx[: cfg.max_samples]
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    log(f"loading {len(train_idx)} training and {len(val_idx)} validation samples from {cfg.data}")
    train_store = SampleStore(Path(cfg.data), train_idx, log)
    val_store = SampleStore(Path(cfg.data), val_idx, None)
    net = RelightNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    step, best, spent = 0, {"val_psnr": -float("inf")}, 0.0
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        st = torch.load(ckpt, weights_only=True)
        try:
            net.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise NeuralRenderError(f"{ckpt} was written by a run with other settings ({str(e).splitlines()[0]}); "
                                    "resume with the same options or use a new -o folder") from None
        step, best, spent = st["step"], st["best"], st["seconds"]
        rng.bit_generator.state = st["rng"]
        log(f"resumed at step {step} ({spent / 60:.1f} min trained)")
    log(f"relight model: channels {cfg.model.channels}, condition {cfg.model.condition}, "
        f"{count_parameters(net) / 1e6:.2f} M parameters; {len(train_store.samples)} training scenes")
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True
        log("stopping after this step (checkpoint will be saved)...")

    old = signal.signal(signal.SIGINT, on_signal)
    best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if (out / "best.safetensors").exists():
        from neural_ops.nn.weights import load_state

        best_state = load_state(out / "best.safetensors")

    def save_ckpt():
        tmp = ckpt.with_name("checkpoint.pt.tmp")
        torch.save({"model": net.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                    "seconds": spent, "rng": rng.bit_generator.state}, tmp)
        os.replace(tmp, ckpt)

    net.train()
    t_last, run_loss, n = time.perf_counter(), 0.0, 0
    try:
        with (out / "log.jsonl").open("a") as logf:
            while step < cfg.steps and not stop["now"]:
                if cfg.minutes and spent >= cfg.minutes * 60:
                    log(f"time budget of {cfg.minutes} min reached at step {step}")
                    break
                lr = _lr(step, cfg, spent)
                for g in opt.param_groups:
                    g["lr"] = lr
                x, y, code = make_batch(train_store, rng, cfg)
                loss = l1_msssim(net(x, code), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                step += 1
                run_loss += float(loss.detach())
                n += 1
                now = time.perf_counter()
                spent += now - t_last
                t_last = now
                if step % cfg.val_every == 0 or step == cfg.steps:
                    row = {"step": step, "loss": run_loss / n, "lr": lr, "minutes": spent / 60}
                    row.update(validate(net, val_store))
                    t_last = time.perf_counter()
                    if row["val_psnr"] > best["val_psnr"]:
                        best = {**row}
                        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                        from safetensors.torch import save_file

                        save_file(best_state, str(out / "best.safetensors"))
                    logf.write(json.dumps(row) + "\n")
                    logf.flush()
                    log(f"step {step}/{cfg.steps} loss {row['loss']:.4f} val PSNR {row['val_psnr']:.2f} | {spent / 60:.1f} min")
                    run_loss, n = 0.0, 0
                if step % cfg.ckpt_every == 0:
                    save_ckpt()
    finally:
        signal.signal(signal.SIGINT, old)
        save_ckpt()
        plot_log(out / "log.jsonl", out / "log.png", "val_psnr", "validation PSNR (dB)", log_scale=False)
    net.load_state_dict(best_state)
    card = {
        "kind": "relight",
        "command": "neural-render " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "",
        "data": _data_summary(Path(cfg.data), train_idx, val_idx),
        "train": {"steps": step, "minutes": round(spent / 60, 1), "loss": "l1msssim", "batch": cfg.batch,
                  "crop": cfg.crop, "lr": cfg.lr, "source_dropout": cfg.source_dropout,
                  "target": "Cycles + OIDN (albedo, normal)",
                  "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}"},
        "parameters": count_parameters(net),
        "validation": {k: v for k, v in best.items() if k.startswith("val_") or k == "step"},
    }
    save_model(net, card, out / "model.safetensors")
    log(f"exported {out / 'model.safetensors'} (best validation PSNR {best['val_psnr']:.2f} dB at step {best.get('step')})")
    return card
