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

from neural_ops.errors import NeuralRenderError
from neural_ops.imageio import side_by_side, to_display, write_png
from neural_ops.metrics import flip, format_table, psnr, ssim

from .cg2real_train import load_pair
from .denoise_train import list_samples

METRICS = {"PSNR": psnr, "SSIM": ssim, "FLIP": flip}


@dataclass
class Cg2RealEvalConfig:
    """What to evaluate.

    Attributes:
        data: held-out ``neural-render data cg2real`` folder (a dataset seed no training used).
        out: folder for ``eval.json``, ``eval.md`` and ``grid.png`` (None: no files).
        models: ``label=NAME`` (shipped) or ``label=PATH.safetensors``; empty: every shipped
            generator, labelled by name.
        max_samples: at most this many samples (0: all).
        grid_samples: samples in the PNG grid.
        timing_scenes: scenes re-rendered with EEVEE (bpy) for the warm per-frame time (0: use
            the recorded first-render times).
    """

    data: str
    out: str | None = None
    models: list[str] = field(default_factory=list)
    max_samples: int = 0
    grid_samples: int = 4
    timing_scenes: int = 3


def _models(cfg: Cg2RealEvalConfig) -> dict:
    from neural_ops.nn.weights import available_models
    from neural_ops.ops import get_op

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
    from neural_ops.nn.tiling import run_tiled
    from neural_ops.ops.cg2real import load_cg2real

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

    from addon.eevee_setup import prepare_eevee

    from .datagen import _render
    from .scene_build import build_scene

    out = []
    for i in idx[:count]:
        d = root / "samples" / f"{i:06d}"
        spec = json.loads((d / "scene.json").read_text())
        rec = json.loads((d / "sample.json").read_text())
        res = int(rec["resolution"])
        spp = max(rec.get("spp") or [16])
        scene = build_scene(spec, root / "textures", (res, res))
        prepare_eevee(scene, rec.get("eevee", "default"))  # the probe bake is once per shot: not timed
        scene.render.threads_mode = "AUTO"
        with tempfile.TemporaryDirectory() as tmp:
            _render(scene, Path(tmp), "cold.exr", spp, 0, engine="BLENDER_EEVEE")
            out.append(_render(scene, Path(tmp), "warm.exr", spp, 0, engine="BLENDER_EEVEE"))
        log(f"  EEVEE re-render of sample {i}: {out[-1]:.2f} s (shaders compiled)")
    return out


def evaluate(cfg: Cg2RealEvalConfig, log=print) -> dict:
    from neural_ops.ops.cg2real import lab_stats, reinhard_transfer

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
    first_raw, _, _ = load_pair(root / "samples" / f"{idx[0]:06d}", denoise_target=False)
    for fn in models.values():
        fn(first_raw)  # weights loading and first-call set-up are not timed
    for n, i in enumerate(idx):
        d = root / "samples" / f"{i:06d}"
        raw, ref, cyc = load_pair(d)
        rec = json.loads((d / "sample.json").read_text())
        eevee_secs.append(float(rec["render_seconds"]["eevee.exr"]))
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
    man = {}
    try:
        man = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    mc = man.get("config", {})
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
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "eval.md").write_text(f"# CG2Real evaluation\n\n{head}.\n\n{format_table(table, extra)}\n")
        labels = [*names, "Cycles reference"]
        strips = [side_by_side([to_display(x) for x in r], labels=labels if k == 0 else None) for k, r in enumerate(rows)]
        width = max(s.shape[1] for s in strips)
        strips = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in strips]
        write_png(out / "grid.png", np.concatenate(strips, axis=0))
        log(f"wrote {out / 'eval.md'}, {out / 'eval.json'} and {out / 'grid.png'}")
    return results
