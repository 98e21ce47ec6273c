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
from neural_ops.denoise.learned import mean_luminance

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
    from neural_ops.core.notes import quiet

    with quiet():
        for fn in methods.values():
            fn(warm)  # library loading, weight loading and first-call setup are not timed
    results: dict = {"data": str(root), "samples": len(idx), "spp": {}}
    man = read_manifest(root)
    results["dataset_seed"] = man.get("config", {}).get("seed")
    results["ref_spp"] = man.get("config", {}).get("ref_spp")
    for spp in cfg.spp:
        per = {m: {k: [] for k in (*METRICS, "energy")} for m in methods}
        secs = {m: 0.0 for m in methods}
        mpix = 0.0
        grid_rows = []
        for n, i in enumerate(idx):
            ps, ref = read_sample(root, i, spp)
            h, w = ps.shape
            mpix += h * w / 1e6
            row = [ps.color]
            noisy_lum = mean_luminance(np.maximum(ps.color, 0))
            for m, fn in methods.items():
                t = time.perf_counter()
                img = fn(ps)
                secs[m] += time.perf_counter() - t
                for k, metric in METRICS.items():
                    per[m][k].append(metric(img, ref))
                per[m]["energy"].append(mean_luminance(img) / noisy_lum - 1 if noisy_lum > 0 else 0.0)
                if m != "noisy":
                    row.append(img)
            row.append(ref)
            if n < cfg.grid_samples:
                grid_rows.append(row)
        table = {m: {k: float(np.mean(v)) for k, v in vals.items() if k in METRICS} for m, vals in per.items()}
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
    results["families"] = [_family(root, i) for i in idx]
    tables_extra = per_scene_tables(results, list(methods))
    for title, t in tables_extra:
        log(f"\n{title}\n{t}")
    if cfg.out:
        intro = (f"{len(idx)} held-out samples from {root} (dataset seed {results['dataset_seed']}, reference "
                 f"{results['ref_spp']} spp).")
        tables = []
        for spp, r in results["spp"].items():
            extra = {m: {"s/MP": f"{v:.2f}" if m != "noisy" else "-"} for m, v in r["s_per_mp"].items()}
            tables.append((f"{spp} spp", format_table(r["mean"], extra)))
        out = write_eval(cfg.out, results, "Denoiser evaluation", intro, tables + tables_extra)
        log(f"\nwrote {out / 'eval.md'}, {out / 'eval.json'} and grid PNGs")
    return results


def _family(root: Path, i: int) -> str:
    """The procedural family of sample ``i`` (its scene.json), or '-'."""
    import json

    from ..common.samples import sample_dir

    try:
        return str(json.loads((sample_dir(root, i) / "scene.json").read_text()).get("family", "mixed"))
    except (OSError, ValueError):
        return "-"


def equal_quality_speedup(e_out: float, e16: float, spp: int = 4) -> float:
    """How many times more samples than ``spp`` plain Cycles needs to match a denoised image of
    relMSE ``e_out``, from the relMSE ``e16`` of its own 16-spp render: Monte-Carlo error falls
    as 1/n, so n = 16 * e16 / e_out; the speed-up is n / spp."""
    return 16.0 * e16 / max(e_out, 1e-12) / spp


def per_scene_tables(results: dict, methods: list[str]) -> list[tuple[str, str]]:
    """Per-scene tables at 4 spp: every method's relMSE and FLIP, the ratio to OIDN's, the change
    of mean luminance against the noisy input (energy), and, when 16 spp was evaluated too, the
    equal-quality speed-up over plain Cycles (geometric means at the bottom)."""
    r4 = results["spp"].get("4")
    if r4 is None:
        return []
    ps4 = r4["per_sample"]
    fam = results.get("families", [])
    anchor = "oidn" if "oidn" in ps4 else None
    shown = [m for m in methods if m != "noisy"]
    head = "| # | family | " + " | ".join(f"{m} relMSE | {m} FLIP | {m} energy" for m in shown)
    if anchor:
        head += " | " + " | ".join(f"{m} / oidn relMSE" for m in shown if m != anchor)
    lines = [head + " |", "|---|---|" + "---:|" * (head.count("|") - 3)]
    n = len(ps4["noisy"]["relMSE"])
    for i in range(n):
        cells = [str(i), fam[i] if i < len(fam) else "-"]
        for m in shown:
            cells += [f"{ps4[m]['relMSE'][i]:.5f}", f"{ps4[m]['FLIP'][i]:.4f}", f"{ps4[m]['energy'][i]:+.2%}"]
        if anchor:
            cells += [f"{ps4[m]['relMSE'][i] / ps4[anchor]['relMSE'][i]:.2f}" for m in shown if m != anchor]
        lines.append("| " + " | ".join(cells) + " |")
    out = [("Per scene, 4 spp (energy: mean luminance against the noisy input's)", "\n".join(lines))]
    if anchor:
        worst = {m: max(ps4[m]["relMSE"][i] / ps4[anchor]["relMSE"][i] for i in range(n)) for m in shown if m != anchor}
        out[0] = (out[0][0], out[0][1] + "\n\nworst scene relMSE / OIDN's: " +
                  ", ".join(f"{m} {v:.2f}" for m, v in worst.items()))
    r16 = results["spp"].get("16")
    if r16 is not None:
        e16 = r16["per_sample"]["noisy"]["relMSE"]
        rows = ["| method | geometric mean speed-up | min | max |", "|---|---:|---:|---:|"]
        for m in shown:
            sp = np.array([equal_quality_speedup(ps4[m]["relMSE"][i], e16[i]) for i in range(n)])
            rows.append(f"| {m} | {float(np.exp(np.log(sp).mean())):.1f}x | {sp.min():.1f}x | {sp.max():.1f}x |")
        out.append(("Equal-quality speed-up at 4 spp: samples plain Cycles needs to match the denoised image "
                    "(16 x relMSE(16 spp) / relMSE(denoised)), divided by 4", "\n".join(rows)))
    return out
