"""Train Render 1 in N's learned key blend (:mod:`neural_ops.novel_view.key_blend`) on rendered
animated shots (``python -m training.novel_view.inbetween_data``: every frame in full and as an
auxiliary render).

    neural-render train inbetween --data data/inbetween_train -o data/runs/inbetween --minutes 60

Every frame of a shot at 64 spp through OIDN is the reference for itself and a key frame for the
others: for each N of ``--every`` the frames 1, 1 + N, ... are the keys and each frame between is
an example, carried by :func:`neural_ops.novel_view.motion.carry` and featurised by
:func:`neural_ops.novel_view.key_blend.features` exactly as ``inbetween --method motion`` does.
Examples are built once per shot and kept in ``RUN/examples/`` (float16; rerun to resume). The
last ``--val-count`` shots validate (whole frames, PSNR against the linear blend's on the same
frames). Loss: the display-image MSE (what PSNR measures) plus L1 of the tonemapped images, on
the pixels some key reaches (the rest are push-pull filled and re-rendered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neural_ops.core.errors import NeuralRenderError
from neural_ops.nn.blocks import count_parameters
from neural_ops.nn.weights import save_model
from neural_ops.novel_view.key_blend import n_features
from neural_ops.novel_view.key_blend_net import KeyBlendConfig, KeyBlendNet

from ..common import loop, runs
from ..common.losses import display_loss

#: Channels of a stored example after its features: key 0's and key 1's carried image and direct
#: light, then the reference.
CANDIDATES = 12 + 3


def stored(key_aux: bool = False) -> int:
    """Channels of a stored example (features, candidates, reference)."""
    return n_features(key_aux) + CANDIDATES


@dataclass(kw_only=True)
class InbetweenTrainConfig(loop.LoopConfig):
    """A key-blend training run (``neural-render train inbetween``; each field is an option)."""

    data: str
    """Folder of rendered shots (``shot_*/full``, ``shot_*/aux``) from ``python -m training.novel_view.inbetween_data``."""
    out: str = field(default="data/runs/inbetween", metadata={"flag": ("-o", "--output")})
    """Run folder (examples, checkpoints, logs, the exported model); rerun to resume."""
    model: KeyBlendConfig = field(default_factory=KeyBlendConfig)
    """The architecture."""
    every: list[int] = field(default_factory=lambda: [2, 4, 8], metadata={"flag": "--every"})
    """N of render 1 in N the examples are made for (repeatable or comma-separated)."""
    val_count: int = 4
    batch: int = 12
    crop: int = 96
    lr: float = 5e-4

    def check(self) -> None:
        self.every = [int(s) for item in self.every for s in str(item).split(",") if str(s).strip()]
        try:
            self.model.check()
        except ValueError as e:
            raise NeuralRenderError(str(e)) from None
        if not self.every or min(self.every) < 2:
            raise NeuralRenderError(f"--every must be >= 2, got {self.every}")
        if self.batch < 1 or self.crop < 16:
            raise NeuralRenderError(f"need batch >= 1 and crop >= 16, got {self.batch} and {self.crop}")


def list_shots(root: Path) -> list[Path]:
    """The finished shots of a folder (every frame rendered in full and as an auxiliary render)."""
    shots = []
    for d in sorted(Path(root).glob("shot_*")):
        full = sorted((d / "full").glob("frame_*.exr"))
        aux = sorted((d / "aux").glob("frame_*.exr"))
        if len(full) >= 3 and [p.name for p in full] == [p.name for p in aux]:
            shots.append(d)
    if not shots:
        raise NeuralRenderError(f"{root}: no finished shots (make them with python -m training.novel_view.inbetween_data)")
    return shots


def shot_examples(shot: Path, every: list[int], key_aux: bool = False) -> np.ndarray:
    """(E, stored(key_aux), H, W) float16: every synthesised frame of ``shot`` for each N of ``every``."""
    from neural_ops import read_exr
    from neural_ops.core.notes import quiet
    from neural_ops.novel_view import key_blend, motion
    from neural_ops.novel_view.synthesis import key_frames

    paths = sorted((shot / "full").glob("frame_*.exr"))
    frames = [int(p.stem.split("_")[1]) for p in paths]
    with quiet():
        done = {f: motion.denoise_key(read_exr(p)) for f, p in zip(frames, paths)}
    aux = {f: read_exr(shot / "aux" / f"frame_{f:04d}.exr") for f in frames}
    out = []
    for n in every:
        keys = key_frames(frames[0], frames[-1], n)
        cache: dict = {}
        for t in frames:
            if t in keys:
                continue
            lo, hi = max(k for k in keys if k < t), min(k for k in keys if k > t)
            c = motion.carry(t, {lo: done[lo], hi: done[hi]}, aux, cache=cache, key_aux=key_aux)
            base = c.base_weights(True)
            direct = c.direct()
            parts = [key_blend.features(c, base, key_aux)]
            for j in range(2):
                parts += [c.stacks[j][..., 0:3].transpose(2, 0, 1), direct[j].transpose(2, 0, 1)]
            parts.append(np.maximum(done[t].color, 0.0).transpose(2, 0, 1))
            out.append(np.concatenate(parts, axis=0).astype(np.float16))
    return np.stack(out)


def load_examples(shots: list[Path], every: list[int], cache_dir: Path, log=print,
                  key_aux: bool = False) -> list[np.ndarray]:
    """Each shot's examples, built once and kept in ``cache_dir`` (a half-written file never lies
    there), memory-mapped (read as the batches need them)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = "_".join(str(n) for n in every) + ("_keyaux" if key_aux else "")
    arrays = []
    for i, shot in enumerate(shots):
        path = cache_dir / f"{shot.name}_N{tag}.npy"
        if not path.exists():
            ex = shot_examples(shot, every, key_aux)
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, ex)
            tmp.replace(path)
            log(f"[{i + 1}/{len(shots)}] {shot.name}: {len(ex)} examples")
        arrays.append(np.load(path, mmap_mode="r"))
    return arrays


def blend(y: torch.Tensor, ex: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) the synthesised image from the model's output ``y`` (weights, gain) and the
    stored candidates of examples ``ex`` (what :func:`neural_ops.novel_view.motion.interpolate`
    does with them: one mix, then the direct light scaled)."""
    f = ex.shape[1] - CANDIDATES
    c0, d0, c1, d1 = ex[:, f:f + 3], ex[:, f + 3:f + 6], ex[:, f + 6:f + 9], ex[:, f + 9:f + 12]
    w0, w1, g = y[:, 0:1], y[:, 1:2], y[:, 2:3]
    return (w0 * c0 + w1 * c1 + (g - 1.0) * (w0 * d0 + w1 * d1)).clamp(min=0)


def loss_of(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """display_loss on the pixels some key reaches (``mask`` (B, 1, H, W))."""
    m = mask.expand_as(pred)
    return display_loss(pred * m, target * m)


def make_batch(arrays: list[np.ndarray], rng: np.random.Generator, batch: int, crop: int) -> torch.Tensor:
    """(B, stored, crop, crop) float32 random crops, flipped left-right at random (the features
    have no left or right: the normal's x component flips with them)."""
    out = []
    for _ in range(batch):
        a = arrays[rng.integers(len(arrays))]
        e = a[rng.integers(len(a))]
        h, w = e.shape[-2:]
        y0, x0 = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        c = e[:, y0:y0 + crop, x0:x0 + crop].astype(np.float32)
        if rng.random() < 0.5:
            c = c[:, :, ::-1].copy()
            c[30] = -c[30]  # frame t's normal x (dot products and differences are unchanged)
        out.append(c)
    return torch.from_numpy(np.stack(out))


def validate(net: KeyBlendNet, arrays: list[np.ndarray]) -> dict:
    """Mean PSNR of the validation frames (display images), the model's and the linear blend's."""
    from neural_ops.core.metrics import psnr

    ours, linear = [], []
    with torch.inference_mode():
        for a in arrays:
            for e in a:
                ex = torch.from_numpy(e.astype(np.float32))[None]
                y = net(ex[:, :net.features])
                base = torch.cat([ex[:, 6:7], ex[:, 18:19]], dim=1)
                base = base / base.sum(dim=1, keepdim=True).clamp(min=1e-12)
                lin = torch.cat([base, torch.ones_like(base[:, :1])], dim=1)
                ref = e[-3:].astype(np.float32).transpose(1, 2, 0)
                ours.append(psnr(blend(y, ex)[0].numpy().transpose(1, 2, 0), ref))
                linear.append(psnr(blend(lin, ex)[0].numpy().transpose(1, 2, 0), ref))
    return {"val_psnr": float(np.mean(ours)), "val_psnr_linear": float(np.mean(linear))}


def train(cfg: InbetweenTrainConfig, log=print) -> dict:
    """Train (or resume) and export the best model; returns its model card."""
    from neural_ops.nn.tiling import set_threads

    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    set_threads()
    torch.manual_seed(cfg.seed)
    shots = list_shots(Path(cfg.data))
    if len(shots) <= cfg.val_count:
        raise NeuralRenderError(f"{cfg.data}: {len(shots)} shots, need more than --val-count {cfg.val_count}")
    train_shots, val_shots = shots[:-cfg.val_count], shots[-cfg.val_count:]
    if cfg.max_samples:
        train_shots = train_shots[:cfg.max_samples]
    runs.write_config(out, cfg, train_shots=[s.name for s in train_shots], val_shots=[s.name for s in val_shots])
    log(f"building examples of {len(shots)} shots (kept in {out / 'examples'})...")
    arrays = load_examples(shots, cfg.every, out / "examples", log, key_aux=cfg.model.key_aux)
    train_a, val_a = arrays[:len(train_shots)], arrays[-cfg.val_count:]
    net = KeyBlendNet(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(cfg.seed)
    base = validate(net, val_a)["val_psnr_linear"]
    log(f"key blend: channels {cfg.model.channels}, {count_parameters(net) / 1e3:.0f} k parameters; "
        f"{sum(len(a) for a in train_a)} training frames ({len(train_shots)} shots), "
        f"{sum(len(a) for a in val_a)} validation frames; linear blend {base:.2f} dB")

    def step(lr: float) -> dict:
        ex = make_batch(train_a, rng, cfg.batch, cfg.crop)
        y = net(ex[:, :net.features])
        mask = ((ex[:, 6:7] + ex[:, 18:19]) > 0).float()
        loss = loss_of(blend(y, ex), ex[:, -3:], mask)
        loop.descend(opt, net, loss)
        return {"loss": float(loss.detach())}

    res = loop.run(out, net, [opt], step, lambda: validate(net, val_a), cfg.schedule(), "val_psnr", True, rng=rng,
                   log=log, metric_label="validation PSNR (dB)")
    data = {"folder": cfg.data, "shots": len(shots), "train_shots": f"{train_shots[0].name}..{train_shots[-1].name}",
            "val_shots": f"{val_shots[0].name}..{val_shots[-1].name}", "every": cfg.every,
            "train_frames": sum(len(a) for a in train_a), "val_frames": sum(len(a) for a in val_a)}
    card = loop.card("inbetween", net, data, {"loss": "display MSE + 0.2 L1 tonemapped, reached pixels",
                                               "batch": cfg.batch, "crop": cfg.crop, "lr": cfg.lr,
                                               "target": "every frame at the keys' spp through OIDN"}, res)
    card["validation"]["val_psnr_linear"] = base
    save_model(net, card, out / runs.MODEL)
    log(f"exported {out / runs.MODEL} (best validation PSNR {res.best['val_psnr']:.2f} dB at step "
        f"{res.best.get('step')}; linear blend {base:.2f} dB)")
    return card
