"""Evaluate denoisers on held-out samples: metrics per spp, time per megapixel, a PNG grid.

Every method runs on the same images in the same run: the noisy input, the cross-bilateral
filter, OIDN (quality high, albedo + normal) and our learned models. Scenes must be held out:
use a dataset rendered with a dataset seed that no training set used (``--seed`` of
``neural-render data``); the model cards record the seeds they were trained on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops import read_exr
from neural_ops.errors import NeuralRenderError
from neural_ops.imageio import side_by_side, to_display, write_png
from neural_ops.metrics import METRICS, format_table
from neural_ops.ops import get_op

from .denoise_train import list_samples


@dataclass
class EvalConfig:
    """What to evaluate.

    Attributes:
        data: held-out dataset folder with ``spp*.exr`` inputs and ``reference.exr``.
        out: folder for ``eval.json``, ``eval.md`` and ``grid_sppN.png`` (None: no files).
        spp: input sample counts to evaluate.
        models: learned models as ``label=NAME`` (shipped) or ``label=PATH.safetensors``;
            empty: the shipped default as ``ours``.
        baselines: classical/anchor methods from the registry.
        max_samples: evaluate at most this many samples (0: all).
        grid_samples: samples shown in the PNG grid.
    """

    data: str
    out: str | None = None
    spp: list[int] = field(default_factory=lambda: [1, 4, 16])
    models: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: ["bilateral", "oidn"])
    max_samples: int = 0
    grid_samples: int = 4


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
    from neural_ops.bench import synthetic_frame

    warm = synthetic_frame(64, 64)
    for fn in methods.values():
        fn(warm)  # library loading, weight loading and first-call setup are not timed
    results: dict = {"data": str(root), "samples": len(idx), "spp": {}}
    man = {}
    try:
        man = json.loads((root / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        pass
    results["dataset_seed"] = man.get("config", {}).get("seed")
    results["ref_spp"] = man.get("config", {}).get("ref_spp")
    for spp in cfg.spp:
        per = {m: {k: [] for k in METRICS} for m in methods}
        secs = {m: 0.0 for m in methods}
        mpix = 0.0
        grid_rows = []
        for n, i in enumerate(idx):
            d = root / "samples" / f"{i:06d}"
            path = d / f"spp{spp:04d}.exr"
            if not path.exists():
                raise NeuralRenderError(f"{path}: missing (render the dataset with --spp including {spp})")
            ps = read_exr(path)
            ref = read_exr(d / "reference.exr").color
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
            _write_grid(Path(cfg.out) / f"grid_spp{spp:04d}.png", grid_rows, list(methods), spp)
    if cfg.out:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(results, indent=1) + "\n")
        md = [f"# Denoiser evaluation\n\n{len(idx)} held-out samples from {root} (dataset seed "
              f"{results['dataset_seed']}, reference {results['ref_spp']} spp).\n"]
        for spp, r in results["spp"].items():
            extra = {m: {"s/MP": f"{v:.2f}" if m != "noisy" else "-"} for m, v in r["s_per_mp"].items()}
            md.append(f"\n## {spp} spp\n\n" + format_table(r["mean"], extra) + "\n")
        (out / "eval.md").write_text("".join(md))
        log(f"\nwrote {out / 'eval.md'}, {out / 'eval.json'} and grid PNGs")
    return results


def _zoom(img: np.ndarray, size: int) -> np.ndarray:
    """The centre quarter of an image, enlarged 2x by pixel repetition (a zoomed crop)."""
    h, w = img.shape[:2]
    c = img[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]
    return np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:size, :size]


def _write_grid(path: Path, rows: list[list[np.ndarray]], names: list[str], spp: int) -> None:
    """One row per sample: full images, then the same columns as zoomed centre crops."""
    labels = [f"noisy {spp} spp"] + [m for m in names if m != "noisy"] + ["reference"]
    strips = []
    for k, row in enumerate(rows):
        disp = [to_display(x) for x in row]
        strips.append(side_by_side(disp, labels=labels if k == 0 else None))
        strips.append(side_by_side([_zoom(x, x.shape[0]) for x in disp]))
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in strips]
    write_png(path, np.concatenate(strips, axis=0))
