"""Evaluate denoisers on held-out samples: metrics per spp, time per megapixel, a PNG grid.

Every method runs on the same images in the same run: the noisy input, the cross-bilateral
filter, OIDN (quality high, albedo + normal) and our learned models. Scenes must be held out:
use a dataset rendered with a dataset seed that no training set used (``--seed`` of
``neural-render data``); the model cards record the seeds they were trained on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops import get_op
from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import METRICS, format_table

from ..common.report import write_eval, write_grid
from ..common.samples import list_samples, read_manifest
from .data import read_sample


@dataclass
class EvalConfig:
    """What to evaluate (``neural-render eval denoise``; each field is an option)."""

    data: str
    """Held-out dataset folder with spp*.exr inputs and reference.exr (a dataset seed no training used)."""
    out: str | None = field(default="data/eval/denoise", metadata={"flag": ("-o", "--output")})
    """Folder for eval.json, eval.md and grid_sppN.png (None: no files)."""
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    """Input sample counts to evaluate."""
    models: list[str] = field(default_factory=list, metadata={"flag": "--model", "metavar": "LABEL=NAME|PATH"})
    """Learned models as label=NAME (shipped) or label=PATH.safetensors, repeatable; none: the shipped default
    as 'ours'."""
    baselines: list[str] = field(default_factory=lambda: ["bilateral", "oidn"], metadata={"flag": "--baseline",
                                                                                          "metavar": "METHOD"})
    """Classical and anchor methods from the registry, repeatable."""
    max_samples: int = 0
    """Evaluate at most this many samples (0: all)."""
    grid_samples: int = 4
    """Samples shown in the PNG grid."""


def _methods(cfg: EvalConfig) -> dict:
    """label -> callable(passes) -> (H, W, 3)."""
    methods = {"noisy": lambda ps: ps.color.copy()}
    for name in cfg.baselines:
        spec = get_op("denoise", name)
        reason = spec.available()
        if reason:
            raise NeuralRenderError(f"baseline '{name}' is not available: {reason}")
        methods[name] = spec
    neural = get_op("denoise", "neural")
    for item in cfg.models or ["ours="]:
        label, _, ref = item.partition("=")
        if ref.endswith(".safetensors"):
            params = neural.make_params(weights=ref)
        else:
            params = neural.make_params(model=ref)

        def run(ps, params=params):
            return neural(ps, params)

        methods[label or "ours"] = run
    return methods


def evaluate(cfg: EvalConfig, log=print) -> dict:
    """Run every method on every held-out sample at each spp; returns the mean metrics."""
    root = Path(cfg.data)
    idx = list_samples(root)
    if cfg.max_samples:
        idx = idx[: cfg.max_samples]
    methods = _methods(cfg)
    from neural_ops.core.synthetic import synthetic_frame

    warm = synthetic_frame(64, 64)
    for fn in methods.values():
        fn(warm)  # library loading, weight loading and first-call setup are not timed
    results: dict = {"data": str(root), "samples": len(idx), "spp": {}}
    man = read_manifest(root)
    results["dataset_seed"] = man.get("config", {}).get("seed")
    results["ref_spp"] = man.get("config", {}).get("ref_spp")
    for spp in cfg.spp:
        per = {m: {k: [] for k in METRICS} for m in methods}
        secs = {m: 0.0 for m in methods}
        mpix = 0.0
        grid_rows = []
        for n, i in enumerate(idx):
            ps, ref = read_sample(root, i, spp)
            h, w = ps.shape
            mpix += h * w / 1e6
            row = [ps.color]
            for m, fn in methods.items():
                t = time.perf_counter()
                img = fn(ps)
                secs[m] += time.perf_counter() - t
                for k, metric in METRICS.items():
                    per[m][k].append(metric(img, ref))
                if m != "noisy":
                    row.append(img)
            row.append(ref)
            if n < cfg.grid_samples:
                grid_rows.append(row)
        table = {m: {k: float(np.mean(v)) for k, v in vals.items()} for m, vals in per.items()}
        smp = {m: (secs[m] / mpix if m != "noisy" else 0.0) for m in methods}
        results["spp"][str(spp)] = {"mean": table, "s_per_mp": smp,
                                    "per_sample": {m: vals for m, vals in per.items()}}
        extra = {m: {"s/MP": f"{smp[m]:.2f}" if m != "noisy" else "-"} for m in methods}
        log(f"\n{spp} spp, {len(idx)} held-out samples (dataset seed {results['dataset_seed']}, "
            f"reference {results['ref_spp']} spp)")
        log(format_table(table, extra))
        if cfg.out:
            labels = [f"noisy {spp} spp"] + [m for m in methods if m != "noisy"] + ["reference"]
            write_grid(Path(cfg.out) / f"grid_spp{spp:04d}.png", grid_rows, labels, zoomed=True)
    if cfg.out:
        intro = (f"{len(idx)} held-out samples from {root} (dataset seed {results['dataset_seed']}, reference "
                 f"{results['ref_spp']} spp).")
        tables = []
        for spp, r in results["spp"].items():
            extra = {m: {"s/MP": f"{v:.2f}" if m != "noisy" else "-"} for m, v in r["s_per_mp"].items()}
            tables.append((f"{spp} spp", format_table(r["mean"], extra)))
        out = write_eval(cfg.out, results, "Denoiser evaluation", intro, tables)
        log(f"\nwrote {out / 'eval.md'}, {out / 'eval.json'} and grid PNGs")
    return results
