"""Flicker of per-frame and temporal denoising on a rendered camera move (bpy + torch).

Renders the bundled default scene along a slow camera dolly at low spp (a new sampling seed per
frame, as an animation render has) and at a high-spp reference, then runs OIDN and our model
frame by frame, each with and without the temporal filter, and prints relMSE, FLIP and flicker
(:func:`neural_ops.denoise.temporal.flicker` against the reference's own temporal change).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops import get_op, read_exr
from neural_ops.core.metrics import flip, relmse
from neural_ops.denoise.temporal import TemporalFilter, flicker


@dataclass
class TemporalEvalConfig:
    """The camera move to render and score (``neural-render eval temporal``; each field is an option): the
    arguments of :func:`run`."""

    out: str = field(default="data/eval/temporal", metadata={"flag": ("-o", "--output")})
    """Folder for the renders (reused when they exist) and the results."""
    frames: int = 12
    """Frames of the camera move."""
    resolution: int = 128
    """Square resolution."""
    spp: int = 4
    """Samples per pixel of the noisy frames."""
    ref_spp: int = 256
    """Reference samples per pixel."""


def render_move(out: Path, frames: int, resolution: int, spp: int, ref_spp: int, log=print) -> tuple[list[Path], list[Path]]:
    """Render (or reuse) the camera move: ``out/noisy/frame_NNNN.exr`` and ``out/reference/...``."""
    import bpy

    from addon.blender import batch, scenes

    blend = out / "move.blend"
    if not blend.exists():
        scene = scenes.build_default_scene((resolution, resolution))
        cam = scene.camera
        scene.frame_start, scene.frame_end = 1, frames
        start = cam.location.copy()
        for f, shift in ((1, -0.25), (frames, 0.25)):
            cam.location = start
            cam.location.x += shift * 2
            cam.location.z += shift * 0.5
            cam.keyframe_insert("location", frame=f)
        scene.cycles.use_animated_seed = True
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    lists = []
    for name, n in (("noisy", spp), ("reference", ref_spp)):
        folder = out / name
        paths = [folder / f"frame_{f:04d}.exr" for f in range(1, frames + 1)]
        todo = [f for f, p in zip(range(1, frames + 1), paths) if not p.exists()]
        if todo:
            log(f"rendering {len(todo)} {name} frames at {n} spp...")
            t = time.perf_counter()
            # seed=None keeps the animated seed: independent noise in every frame.
            batch.export_blend(blend, folder, spp=n, frames=todo, overwrite=True)
            log(f"  {time.perf_counter() - t:.1f} s")
        lists.append(paths)
    return lists[0], lists[1]


def run(out: Path, frames: int = 12, resolution: int = 128, spp: int = 4, ref_spp: int = 256,
        methods=("oidn", "neural"), log=print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    noisy_p, ref_p = render_move(out, frames, resolution, spp, ref_spp, log)
    noisy = [read_exr(p) for p in noisy_p]
    ref = [read_exr(p).color for p in ref_p]
    vectors = [ps.get("Vector") for ps in noisy]
    seqs = {"noisy": [ps.color for ps in noisy]}
    for m in methods:
        spec = get_op("denoise", m)
        per = [spec(ps) for ps in noisy]
        seqs[m] = per
        tf = TemporalFilter()
        seqs[f"{m} + temporal"] = [tf.step(ps, img) for ps, img in zip(noisy, per)]
    seqs["reference"] = ref
    rows = {}
    for name, seq in seqs.items():
        rows[name] = {
            "relMSE": float(np.mean([relmse(a, r) for a, r in zip(seq, ref)])),
            "FLIP": float(np.mean([flip(a, r) for a, r in zip(seq, ref)])),
            "flicker": flicker(seq, vectors, ref),
            "temporal change": flicker(seq, vectors),
        }
    lines = [f"Camera move, {frames} frames {resolution}x{resolution}, {spp} spp vs {ref_spp} spp reference",
             "| sequence | relMSE | FLIP | flicker vs reference | temporal change |", "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['relMSE']:.5f} | {r['FLIP']:.4f} | {r['flicker']:.4f} | {r['temporal change']:.4f} |")
    table = "\n".join(lines)
    log(table)
    (out / "temporal.md").write_text(table + "\n\nflicker: mean |d_t - d_t(reference)| of display values, d_t = frame t minus frame t-1 "
                                     "reprojected with the Vector pass; temporal change: mean |d_t| (the reference's own is motion and noise).\n")
    (out / "temporal.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows
