"""Evaluate CG2Real on held-out scenes: PSNR, SSIM and FLIP against the Cycles reference, the
time of EEVEE + network against the Cycles render of the same frame, and a PNG grid.

Rows: the raw EEVEE image; EEVEE with a global colour transfer (Reinhard et al. 2001) given the
reference's own l-alpha-beta statistics, an oracle no real pipeline has, so a hard baseline;
and the learned models (default: every shipped cg2real generator). The reference is the
high-spp Cycles render through OIDN, what a Cycles user would ship.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import flip, format_table, psnr, ssim

from ..common.report import write_eval, write_grid
from ..common.samples import list_samples, read_manifest, sample_dir
from .data import load_pair, render_seconds

METRICS = {"PSNR": psnr, "SSIM": ssim, "FLIP": flip}


@dataclass
class Cg2RealEvalConfig:
    """What to evaluate (``neural-render eval cg2real``; each field is an option)."""

    data: str
    """Held-out ``neural-render data cg2real`` folder (a dataset seed no training used)."""
    out: str | None = field(default="data/eval/cg2real", metadata={"flag": ("-o", "--output")})
    """Folder for eval.json, eval.md and grid.png (None: no files)."""
    models: list[str] = field(default_factory=list, metadata={"flag": "--model", "metavar": "LABEL=NAME|PATH"})
    """label=NAME (shipped) or label=PATH.safetensors, repeatable; none: every shipped generator, labelled by
    name."""
    max_samples: int = 0
    """At most this many samples (0: all)."""
    grid_samples: int = 4
    """Samples in the PNG grid."""
    timing_scenes: int = 3
    """Scenes re-rendered with EEVEE (bpy) for the warm per-frame time (0: use the recorded first-render times)."""


def _models(cfg: Cg2RealEvalConfig) -> dict:
    from neural_ops import get_op
    from neural_ops.nn.weights import available_models

    op = get_op("cg2real", "neural")
    reason = op.available()
    if reason:
        raise NeuralRenderError(f"cg2real: {reason}")
    items = cfg.models or [f"{n}={n}" for n in available_models("cg2real") if n != "albedo"]
    if not items:
        raise NeuralRenderError("no cg2real model to evaluate: pass --model LABEL=PATH.safetensors")
    out = {}
    for item in items:
        label, _, ref = item.partition("=")
        ref = ref or label
        params = op.make_params(weights=ref) if ref.endswith(".safetensors") else op.make_params(model=ref)
        out[label] = (lambda raw, params=params: _run(raw, params))
    return out


def _run(raw: np.ndarray, params) -> np.ndarray:
    from neural_ops.cg2real.op import load_cg2real
    from neural_ops.nn.tiling import run_tiled

    net, _ = load_cg2real(params.model, params.weights)
    return run_tiled(net, raw, tile=params.tile, overlap=96, multiple=net.multiple)


def warm_eevee_seconds(root: Path, idx: list[int], count: int = 3, log=print) -> list[float]:
    """EEVEE render time of the same frame once its shaders are compiled (as for every frame of
    an animation after the first): rebuild ``count`` held-out scenes from their ``scene.json``
    with the bpy module, render twice, time the second. Empty without bpy."""
    try:
        import bpy  # noqa: F401
    except ImportError:
        return []
    import tempfile

    from addon.blender.eevee_setup import prepare_eevee

    from ..datagen.generate import render_timed
    from ..scenes.build import build_scene

    out = []
    for i in idx[:count]:
        d = sample_dir(root, i)
        spec = json.loads((d / "scene.json").read_text())
        rec = json.loads((d / "sample.json").read_text())
        res = int(rec["resolution"])
        spp = max(rec.get("spp") or [16])
        scene = build_scene(spec, root / "textures", (res, res))
        prepare_eevee(scene, rec.get("eevee", "default"))  # the probe bake is once per shot: not timed
        scene.render.threads_mode = "AUTO"
        with tempfile.TemporaryDirectory() as tmp:
            render_timed(scene, Path(tmp), "cold.exr", spp, 0, engine="BLENDER_EEVEE")
            out.append(render_timed(scene, Path(tmp), "warm.exr", spp, 0, engine="BLENDER_EEVEE"))
        log(f"  EEVEE re-render of sample {i}: {out[-1]:.2f} s (shaders compiled)")
    return out


def evaluate(cfg: Cg2RealEvalConfig, log=print) -> dict:
    from neural_ops.cg2real.op import lab_stats, reinhard_transfer

    root = Path(cfg.data)
    idx = list_samples(root)
    if cfg.max_samples:
        idx = idx[: cfg.max_samples]
    models = _models(cfg)
    names = ["eevee", "reinhard (oracle)", *models]
    per = {m: {k: [] for k in METRICS} for m in names}
    net_secs = {m: [] for m in models}
    eevee_secs, cycles_secs = [], []
    rows = []
    first_raw, _, _ = load_pair(sample_dir(root, idx[0]), denoise_target=False)
    for fn in models.values():
        fn(first_raw)  # weights loading and first-call set-up are not timed
    for n, i in enumerate(idx):
        d = sample_dir(root, i)
        raw, ref, cyc = load_pair(d)
        eevee_secs.append(render_seconds(d, "eevee.exr"))
        cycles_secs.append(cyc)
        imgs = {"eevee": raw[..., :3], "reinhard (oracle)": reinhard_transfer(raw[..., :3], lab_stats(ref))}
        for m, fn in models.items():
            t = time.perf_counter()
            imgs[m] = fn(raw)
            net_secs[m].append(time.perf_counter() - t)
        for m, img in imgs.items():
            for k, metric in METRICS.items():
                per[m][k].append(metric(img, ref))
        if n < cfg.grid_samples:
            rows.append([imgs[m] for m in names] + [ref])
    table = {m: {k: float(np.mean(v)) for k, v in vals.items()} for m, vals in per.items()}
    # The recorded EEVEE times include compiling every shader of a new scene; an animation pays
    # that once, so the per-frame time is a second render of the same frame (needs bpy).
    warm = warm_eevee_seconds(root, idx, cfg.timing_scenes, log) if cfg.timing_scenes else []
    e_med = float(np.median(warm)) if warm else float(np.median(eevee_secs))
    e_kind = "re-render with compiled shaders" if warm else "first render, shaders compiled in the time"
    c_med = float(np.median(cycles_secs))
    mc = read_manifest(root).get("config", {})
    h, w = raw.shape[:2]
    timing = {m: {"net_s": float(np.median(v)), "eevee_s": e_med, "cycles_s": c_med,
                  "speedup": c_med / (e_med + float(np.median(v)))} for m, v in net_secs.items()}
    extra = {m: {"s/frame": f"{e_med + (timing[m]['net_s'] if m in timing else 0):.2f}" if m != "reinhard (oracle)" else "-",
                 "x faster than Cycles": f"{c_med / (e_med + timing[m]['net_s']):.0f}" if m in timing
                 else (f"{c_med / e_med:.0f}" if m == "eevee" else "-")} for m in names}
    head = (f"{len(idx)} held-out scenes from {root} (dataset seed {mc.get('seed')}, {w}x{h}); reference: Cycles "
            f"{mc.get('ref_spp')} spp + OIDN, median {c_med:.1f} s/frame; EEVEE median {e_med:.2f} s/frame ({e_kind})")
    log(head)
    log(format_table(table, extra))
    results = {"data": str(root), "samples": len(idx), "dataset_seed": mc.get("seed"), "ref_spp": mc.get("ref_spp"),
               "resolution": [w, h], "eevee_timing": e_kind, "mean": table, "timing": timing, "per_sample": per}
    if cfg.out:
        out = write_eval(cfg.out, results, "CG2Real evaluation", f"{head}.", [(None, format_table(table, extra))])
        write_grid(out / "grid.png", rows, [*names, "Cycles reference"])
        log(f"wrote {out / 'eval.md'}, {out / 'eval.json'} and {out / 'grid.png'}")
    return results
