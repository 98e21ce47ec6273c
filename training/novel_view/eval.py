"""Evaluate novel-view synthesis on held-out multiview scenes: PSNR, SSIM and FLIP of unstructured
lumigraph blending (the baseline) and of learned blending models, each with the target's own
G-buffer depth (renderer-aware mode) and with depth splatted from the sources.

Every view of every held-out scene is rendered from the other views and compared with its Cycles
render; with ``every=N`` (render 1 in N along the camera move) only the views between every N-th
one are targets, each rendered from the nearest rendered views on either side, as ``inbetween``
does. Besides the whole-image metrics, ``seen PSNR`` scores only the pixels some source sees:
ULR leaves the others black, so the whole-image numbers mix blending with hole filling.
Flicker: along each scene's camera move, the mean absolute difference between the synthesised
sequence's frame-to-frame change and the rendered sequence's (display values, the previous frame
reprojected through the known depth), as ``eval temporal`` measures it for the denoiser; under
``every=N`` the rendered key frames are part of the synthesised sequence, as in ``inbetween``.
Writes ``eval.md``, ``eval.json`` and ``grid.png`` to the output folder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops.core.errors import NeuralRenderError
from neural_ops.core.metrics import flip, format_table, psnr, srgb_encode, ssim
from neural_ops.core.sampling import bilinear
from neural_ops.novel_view.features import blend_features
from neural_ops.novel_view.network import blend_image, load_blend_model
from neural_ops.novel_view.synthesis import key_frames, nearest_keys
from neural_ops.novel_view.views import ViewData, load_scene

from ..common.report import write_eval, write_grid
from ..common.samples import list_samples, sample_dir
from .data import correspondence

METRICS = {"PSNR": psnr, "SSIM": ssim, "FLIP": flip}
FLICKER = "flicker"
#: PSNR over the pixels some source sees: the blending itself, without the holes ULR leaves black.
SEEN = "seen PSNR"
MODES = {"gbuffer": "G-buffer depth", "splat": "splatted depth"}


def reprojections(views: list[ViewData]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Per view t >= 1: where its pixels were in view t - 1, as (x, y, valid) for
    :func:`neural_ops.denoise.temporal.bilinear` (depth-tested through the views' own depth)."""
    out: list = [None]
    for t in range(1, len(views)):
        uv, ok = correspondence(views[t].camera, views[t].depth, views[t - 1].camera, views[t - 1].depth)
        uv = np.where(ok[..., None], uv, 0.5)
        out.append((uv[..., 0] - 0.5, uv[..., 1] - 0.5, ok))
    return out


def sequence_flicker(frames: list[np.ndarray], reference: list[np.ndarray], reproj: list) -> float:
    """Mean |d_t - d_t(reference)| of display values, d_t = frame t minus frame t - 1 reprojected
    into t, over the pixels both frames see (``reproj`` from :func:`reprojections`)."""
    diffs = []
    for t in range(1, len(frames)):
        x, y, ok = reproj[t]
        if not ok.any():
            continue
        d = srgb_encode(frames[t]) - bilinear(srgb_encode(frames[t - 1]), x, y)[0]
        r = srgb_encode(reference[t]) - bilinear(srgb_encode(reference[t - 1]), x, y)[0]
        diffs.append(np.abs(d - r)[ok].ravel())
    return float(np.concatenate(diffs).mean()) if diffs else float("nan")


def _render_seconds(folder: Path, targets: list[int]) -> list[float]:
    """Seconds Cycles took to render each target view (``sample.json``), where recorded."""
    try:
        rec = json.loads((folder / "sample.json").read_text())
        frames = json.loads((folder / "transforms.json").read_text())["frames"]
        secs = rec.get("render_seconds", {})
        return [float(secs[Path(frames[t].get("exr_file_path", "")).name]) for t in targets
                if Path(frames[t].get("exr_file_path", "")).name in secs]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []


@dataclass
class NovelViewEvalConfig:
    """What to evaluate (``neural-render eval novel-view``; each field is an option): the arguments of
    :func:`evaluate`, with ``models`` as given on the command line."""

    data: str
    """Held-out multiview dataset folder (scenes never trained on)."""
    out: str | None = field(default="data/eval/novel_view", metadata={"flag": ("-o", "--output")})
    """Folder for eval.md, eval.json and grid.png (None: print only)."""
    models: list[str] = field(default_factory=list, metadata={"flag": "--model", "metavar": "LABEL=NAME|PATH"})
    """label=NAME (shipped) or label=PATH.safetensors, repeatable; none: every shipped learned-blending model
    ('default' labelled 'ours')."""
    max_samples: int = 0
    """At most this many scenes (0: all)."""
    max_targets: int = 0
    """At most this many target views per scene (0: all)."""
    ulr_k: int = 4
    """Source views the ULR baseline blends per pixel."""
    every: int = 0
    """Render 1 in N along each camera move: targets between every N-th view, from the per_side rendered views
    on each side (0: every view from all the others)."""
    per_side: int = 2
    """With every: rendered views on each side used as sources."""
    denoise: bool = field(default=True, metadata={"flag": "--noisy-views"})
    """Every view (sources and references) through OIDN first, as inbetween treats its key frames;
    --noisy-views: views and references as rendered."""


def _load(ref: str):
    return load_blend_model(weights=ref) if ref.endswith(".safetensors") else load_blend_model(model=ref)


def evaluate(data: str | Path, models: dict[str, str], out_dir: str | Path | None = None, log=print,
             max_samples: int = 0, max_targets: int = 0, ulr_k: int = 4, grid_rows: int = 4, every: int = 0,
             per_side: int = 2, denoise: bool = True) -> dict:
    """Metrics per method and depth mode, averaged over every (held-out scene, target view).

    Args:
        data: multiview dataset folder (scenes never trained on).
        models: label -> ``.safetensors`` path (card beside it) or shipped ``ibr`` model name.
        out_dir: folder for ``eval.md``, ``eval.json`` and ``grid.png`` (None: print only).
        max_samples, max_targets: limit the scenes and the target views per scene (0: all).
        ulr_k: sources the ULR baseline blends per pixel.
        every: 0: each view from all the others; N: the "render 1 in N" protocol above, with
            ``per_side`` rendered views on each side as sources.
        denoise: every view (sources and references) through OIDN first, as ``inbetween`` treats
            its key frames: the references are then what a finished render of each frame gives.

    Returns:
        ``{"mean": {row: {metric: value}}, "per_target": ..., "coverage": ..., "seconds": ...}``;
        rows are ``"ULR (G-buffer depth)"``, ``"LABEL (splatted depth)"`` and so on.
    """
    root = Path(data)
    idx = list_samples(root)
    if max_samples:
        idx = idx[:max_samples]
    nets = {label: _load(ref)[0] for label, ref in models.items()}
    rows = [f"{m} ({MODES[d]})" for d in MODES for m in ("ULR", *nets)]
    per = {r: {k: [] for k in (*METRICS, SEEN)} for r in rows}
    flick = {r: [] for r in rows}
    cycles_secs = []  # what rendering each target frame took (the dataset's own timing)
    secs = {r: [] for r in rows}
    coverage = {d: [] for d in MODES}
    grid, n_targets = [], 0
    t0 = time.perf_counter()
    for n, i in enumerate(idx):
        views = load_scene(sample_dir(root, i), denoise)
        if every:
            keys = key_frames(0, len(views) - 1, every)
            targets = [t for t in range(len(views)) if t not in keys]
        else:
            keys, targets = [], list(range(len(views)))
        if max_targets:
            targets = targets[:max_targets]
        refs = [np.maximum(v.color, 0) for v in views]
        cycles_secs += _render_seconds(sample_dir(root, i), targets)
        # The sequence each row gives along the move: rendered key frames, synthesised targets.
        seqs = {r: list(refs) for r in rows}
        for t in targets:
            tv = views[t]
            if every:
                sources = [views[j].source() for j in nearest_keys(t, keys, per_side)]
            else:
                sources = [v.source() for j, v in enumerate(views) if j != t]
            ref = np.maximum(tv.color, 0)
            imgs = {}
            for d in MODES:
                aware = d == "gbuffer"
                feats_by_k, build = {}, {}
                for label in ("ULR", *nets):
                    k = nets[label].cfg.k if label in nets else ulr_k
                    if k not in feats_by_k:  # the inputs of every model with this k (and the ULR image)
                        tt = time.perf_counter()
                        feats_by_k[k] = blend_features(tv.camera, sources, tv.depth if aware else None, k=k,
                                                       ulr_k=ulr_k, target_normal=tv.normal if aware else None)
                        build[k] = time.perf_counter() - tt
                    f = feats_by_k[k]
                    tt = time.perf_counter()
                    img = f.ulr if label == "ULR" else blend_image(nets[label], f)
                    row = f"{label} ({MODES[d]})"
                    secs[row].append(build[k] + time.perf_counter() - tt)
                    imgs[row] = img
                    seqs[row][t] = np.maximum(img, 0)
                    for name, fn in METRICS.items():
                        per[row][name].append(fn(img, ref))
                    seen = f.ulr_valid
                    per[row][SEEN].append(psnr(img[seen][None], ref[seen][None]) if seen.any() else float("nan"))
                coverage[d].append(float(next(iter(feats_by_k.values())).ulr_valid.mean()))
            n_targets += 1
            if len(grid) < grid_rows:
                grid.append([imgs[r] for r in rows] + [ref])
        if not max_targets and len(views) > 1:
            reproj = reprojections(views)
            for r in rows:
                flick[r].append(sequence_flicker(seqs[r], refs, reproj))
        if log and (n + 1) % 4 == 0:
            log(f"  {n + 1}/{len(idx)} scenes ({time.perf_counter() - t0:.0f} s)")
    if not n_targets:
        raise NeuralRenderError(f"{root}: no target views to evaluate")
    table = {r: {k: float(np.nanmean(v)) for k, v in vals.items()} for r, vals in per.items()}
    if all(flick.values()):
        for r in rows:
            table[r][FLICKER] = float(np.nanmean(flick[r]))
    cov = {d: float(np.mean(v)) for d, v in coverage.items()}
    extra = {r: {"coverage": f"{100 * cov[d]:.1f} %", "s/frame": f"{np.median(secs[r]):.3f}"}
             for d in MODES for r in rows if r.endswith(f"({MODES[d]})")}
    h, w = grid[0][-1].shape[:2]
    protocol = (f"render 1 in {every}: each target from the {per_side} nearest rendered views on each side"
                if every else "each target rendered from the scene's other views")
    protocol += "; views and references through OIDN" if denoise else "; views and references as rendered (noisy)"
    head = (f"{len(idx)} held-out scenes, {n_targets} target views from {root} ({w}x{h}); {protocol}; coverage and seen PSNR: the pixels at least one "
            f"source sees; s/frame includes building the warped inputs"
            + ("; flicker: mean |frame-to-frame change - the rendered move's| (display values) along each "
               "camera move" if all(flick.values()) else ""))
    if cycles_secs:
        head += (f"; Cycles took {np.median(cycles_secs):.2f} s per frame to render these views "
                 "(median, the dataset's own timing, before OIDN)")
    log(head)
    log(format_table(table, extra))
    results = {"data": str(root), "samples": len(idx), "targets": n_targets, "models": dict(models), "every": every,
               "denoise": denoise, "cycles_seconds": float(np.median(cycles_secs)) if cycles_secs else None,
               "mean": table, "coverage": cov, "seconds": {r: float(np.median(v)) for r, v in secs.items()},
               "per_target": per}
    if out_dir:
        out = write_eval(out_dir, results, "Novel-view evaluation", f"{head}.", [(None, format_table(table, extra))])
        write_grid(out / "grid.png", grid, [*rows, "reference"])
        log(f"wrote {out / 'eval.md'}, {out / 'eval.json'} and {out / 'grid.png'}")
    return results
