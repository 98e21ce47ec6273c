"""Evaluate relighting on held-out scenes: PSNR, SSIM, FLIP against Cycles renders under the
target lighting, the error inside shadow regions, time per frame, and a PNG grid.

For each held-out sample and target lighting j = 1..K-1, the frame under lighting 0 is relit to
j. Rows: the unchanged frame, analytic re-shading, the gradient-illumination (capture) route,
Cycles re-rendered at 16 spp + OIDN (what a user would do instead), and the learned models. All
renders go through OIDN (albedo + normal) first; the reference is the high-spp render under j.

Shadow regions are where the reference is less than half as bright as the analytic prediction
(which has no shadows) on a surface the analytic shading lights: the error there shows what
analytic shading misses.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops import read_exr
from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import flip, format_table, psnr, srgb_encode, ssim

from ..common.report import write_eval, write_grid
from ..common.samples import list_samples, read_manifest, sample_dir
from .data import clean, lighting_count, with_color

METRICS = {"PSNR": psnr, "SSIM": ssim, "FLIP": flip}
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass
class RelightEvalConfig:
    """What to evaluate (``neural-render eval relight``; each field is an option)."""

    data: str
    """Held-out relight dataset (a dataset seed no training used)."""
    out: str | None = field(default="data/eval/relight", metadata={"flag": ("-o", "--output")})
    """Folder for eval.md, eval.json and grid.png (None: no files)."""
    models: list[str] = field(default_factory=list, metadata={"flag": "--model", "metavar": "LABEL=NAME|PATH"})
    """label=NAME (shipped) or label=PATH.safetensors, repeatable; none: every shipped relight model."""
    spp: int = 16
    """Samples of the cheap re-render compared with (lit_j_sppNNNN.exr)."""
    max_samples: int = 0
    """At most this many samples (0: all)."""
    grid_samples: int = 4
    """Samples in the PNG grid."""


def shadow_mask(ref: np.ndarray, analytic: np.ndarray) -> np.ndarray:
    la, lr = analytic[..., :3] @ _LUMA, ref[..., :3] @ _LUMA
    return (la > 0.02) & (lr < 0.5 * la)


def masked_psnr(x: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    if not mask.any():
        return float("nan")
    mse = float(np.mean((srgb_encode(x[mask]) - srgb_encode(ref[mask])) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def evaluate(cfg: RelightEvalConfig, log=print) -> dict:
    from neural_ops import get_op
    from neural_ops.core.oidn import oidn_denoise
    from neural_ops.nn.weights import available_models

    root = Path(cfg.data)
    idx = list_samples(root)
    if cfg.max_samples:
        idx = idx[: cfg.max_samples]
    neural = get_op("relight", "neural")
    items = cfg.models or [f"{n}={n}" for n in available_models("relight")]
    models = {}
    for item in items:
        label, _, ref = item.partition("=")
        ref = ref or label
        models[label] = {"weights": ref} if ref.endswith(".safetensors") else {"model": ref}
    cheap = f"cycles {cfg.spp} spp + OIDN"
    names = ["unchanged", "analytic", "analytic + SS shadows", "gradient", cheap, *models]
    per = {m: {k: [] for k in (*METRICS, "shadow PSNR")} for m in names}
    secs = {m: [] for m in names}
    t_ref, t_cheap, rows = [], [], []
    man = read_manifest(root)
    ref_spp = man.get("config", {}).get("ref_spp")
    warm = True
    for n, i in enumerate(idx):
        d = sample_dir(root, i)
        rec = json.loads((d / "sample.json").read_text())
        k_count = lighting_count(d)
        src_ps = read_exr(d / "lit_0.exr")
        src = with_color(src_ps, clean(src_ps))
        for j in range(1, k_count):
            tgt_ps = read_exr(d / f"lit_{j}.exr")
            ref = clean(tgt_ps)
            cheap_path = d / f"lit_{j}_spp{cfg.spp:04d}.exr"
            if not cheap_path.exists():
                raise NeuralRenderError(f"{cheap_path}: missing (render the dataset with --spp {cfg.spp})")
            lighting, source = str(d / f"lighting_{j}.json"), str(d / "lighting_0.json")
            imgs = {}
            t = time.perf_counter()
            imgs["unchanged"] = src.color
            secs["unchanged"].append(time.perf_counter() - t)
            grads = {"grad_a": str(d / "grad_a.exr"), "grad_b": str(d / "grad_b.exr")}
            for m, op, kw in (("analytic", "analytic", {}), ("analytic + SS shadows", "shadowed", {}),
                              ("gradient", "gradient", grads)):
                t = time.perf_counter()
                imgs[m] = get_op("relight", op)(src, lighting=lighting, **kw)
                secs[m].append(time.perf_counter() - t)
            cheap_ps = read_exr(cheap_path)
            t = time.perf_counter()
            imgs[cheap] = oidn_denoise(cheap_ps)
            t_oidn = time.perf_counter() - t
            t_cheap.append(float(rec["render_seconds"][cheap_path.name]) + t_oidn)
            t_ref.append(float(rec["render_seconds"][f"lit_{j}.exr"]))
            secs[cheap].append(t_cheap[-1])
            for m, p in models.items():
                if warm:
                    neural(src, lighting=lighting, source_lighting=source, **p)  # first-call set-up is not timed
                t = time.perf_counter()
                imgs[m] = neural(src, lighting=lighting, source_lighting=source, **p)
                secs[m].append(time.perf_counter() - t)
            warm = False
            mask = shadow_mask(ref, imgs["analytic"])
            for m, img in imgs.items():
                for k, metric in METRICS.items():
                    per[m][k].append(metric(img, ref))
                per[m]["shadow PSNR"].append(masked_psnr(img, ref, mask))
            if len(rows) < cfg.grid_samples:
                rows.append([imgs[m] for m in names] + [ref])
        if log and (n + 1) % 4 == 0:
            log(f"  {n + 1}/{len(idx)} scenes")
    table = {m: {k: float(np.nanmean(v)) for k, v in vals.items()} for m, vals in per.items()}
    med = {m: float(np.median(v)) for m, v in secs.items()}
    h, w = src.shape
    c16 = float(np.median(t_cheap))
    tr = float(np.median(t_ref))
    extra = {m: {"s/frame": f"{med[m]:.3f}" if m != "unchanged" else "-",
                 f"x faster than {cheap}": f"{c16 / med[m]:.1f}" if m in models or m in ("analytic", "analytic + SS shadows", "gradient") else "-"}
             for m in names}
    head = (f"{len(idx)} held-out scenes x {k_count - 1} target lightings from {root} (dataset seed "
            f"{man.get('config', {}).get('seed')}, {w}x{h}); reference: Cycles {ref_spp} spp + OIDN "
            f"(median {tr:.1f} s per frame); '{cheap}' median {c16:.2f} s per frame")
    log(head)
    log(format_table(table, extra))
    results = {"data": str(root), "samples": len(idx), "dataset_seed": man.get("config", {}).get("seed"),
               "ref_spp": ref_spp, "resolution": [w, h], "mean": table, "seconds": med,
               "cycles_ref_seconds": tr, "cycles_cheap_seconds": c16, "per_pair": per}
    if cfg.out:
        out = write_eval(cfg.out, results, "Relighting evaluation", f"{head}.", [(None, format_table(table, extra))])
        write_grid(out / "grid.png", rows, ["source (lighting 0)", *names[1:], "reference"])
        log(f"wrote {out / 'eval.md'}, {out / 'eval.json'} and {out / 'grid.png'}")
    return results
