"""Render 1 in N against rendering every frame of a camera move, end to end.

    neural-render benchmark novel-view --resolution 640x360 --frames 17 --every 4 --spp 64

The bundled default scene (never used in training) with its camera orbiting ``--degrees`` about
the point it looks at over ``--frames`` frames. Every frame is rendered with Cycles and put
through OIDN (what a finished frame is, and the reference), then ``inbetween`` renders every N-th
frame and synthesises the rest, once per method (ULR, the shipped learned blending, each with
depth splatted from the rendered frames and with the frame's own Workbench depth): the second and
later runs reuse the rendered key frames, as a rerun does. Prints the time of each route, and
PSNR, FLIP and flicker of the synthesised frames against the fully rendered ones.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def animate_orbit(scene, frames: int, degrees: float) -> None:
    """Keyframe the scene camera on an orbit of ``degrees`` about the vertical axis through the
    point 5 units ahead of it (or where its view meets the floor), frames 1..``frames``."""
    import bpy
    from mathutils import Matrix, Vector

    cam = scene.camera
    bpy.context.view_layer.update()  # matrix_world is stale until the depsgraph runs
    m0 = cam.matrix_world.copy()
    fwd = -(m0.to_3x3() @ Vector((0, 0, 1))).normalized()
    loc = m0.translation
    dist = -loc.z / fwd.z if fwd.z < -1e-3 else 5.0
    pivot = loc + fwd * min(dist, 20.0)
    scene.frame_start, scene.frame_end = 1, frames
    for f in range(1, frames + 1):
        a = math.radians(degrees) * ((f - 1) / max(frames - 1, 1) - 0.5)
        rot = Matrix.Translation(pivot) @ Matrix.Rotation(a, 4, "Z") @ Matrix.Translation(-pivot)
        cam.matrix_world = rot @ m0
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)


def animate_objects(scene, frames: int) -> None:
    """Keyframe the default scene's glossy sphere crossing the frame (passing in front of the
    cube and the torus: occlusions, a moving highlight), frames 1..``frames``."""
    import bpy
    from mathutils import Vector

    ob = bpy.data.objects["Sphere"]
    p0 = ob.location.copy()
    for f, dx in ((1, -1.2), (frames, 1.6)):
        ob.location = p0 + Vector((dx, -0.5, 0.0))
        ob.keyframe_insert("location", frame=f)


def run(width: int, height: int, frames: int = 17, every: int = 4, spp: int = 64, degrees: float = 16.0,
        methods=("ulr", "learned"), log=print, objects: bool = False) -> dict:
    from addon.blender import export, inbetween, scenes
    from neural_ops import read_exr
    from neural_ops.core.metrics import flip, psnr
    from neural_ops.novel_view.synthesis import key_frames
    from neural_ops.novel_view.views import read_view

    from .eval import reprojections, sequence_flicker

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = scenes.build_default_scene((width, height))
        scene.render.threads_mode = "AUTO"
        animate_orbit(scene, frames, degrees)
        if objects:
            animate_objects(scene, frames)
        keys = key_frames(1, frames, every)
        log(f"default scene {width}x{height}, {frames} frames orbiting {degrees:g} degrees"
            f"{' with the sphere crossing' if objects else ''}, Cycles {spp} spp; render 1 in {every}: frames {keys}")

        # Every frame rendered and denoised: the reference and the cost of doing without us.
        full = tmp / "full"
        ecfg = export.ExportConfig(directory=str(full), spp=spp, frames=list(range(1, frames + 1)), half=False,
                                   overwrite=True, seed=0)
        render_s, refs = [], []
        with export.export_settings(scene, ecfg):
            for v in export.plan_views(scene, ecfg):
                t = time.perf_counter()
                export.render_view(scene, v, ecfg)
                render_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        for f in range(1, frames + 1):
            refs.append(read_view(full / f"frame_{f:04d}.exr", denoise=True))
        oidn_s = (time.perf_counter() - t) / frames
        all_s = sum(render_s) + oidn_s * frames
        log(f"every frame: {np.mean(render_s):.2f} s render + {oidn_s:.2f} s OIDN per frame, {all_s:.1f} s in all")
        reproj = reprojections(refs)
        ref_imgs = [np.maximum(r.color, 0) for r in refs]

        rows = {"every frame rendered (Cycles + OIDN)": {"seconds": all_s, "speed-up": 1.0}}
        for method in methods:
            for geometry in ((False,) if method == "motion" else (False, True)):
                out = tmp / f"ib_{method}_{int(geometry)}"
                cfg = inbetween.InbetweenConfig(directory=str(out), first=1, last=frames, every=every, spp=spp,
                                                method=method, geometry=geometry)
                # Key frames rendered once (the first run), as a rerun reuses them; every run pays for
                # its own OIDN, synthesis and Workbench depth.
                if out != tmp / f"ib_{methods[0]}_0":
                    shutil.copytree(tmp / f"ib_{methods[0]}_0" / "keys", out / "keys")
                s = inbetween.run(scene, cfg, log=lambda m: None)
                spent = s["seconds"]  # key renders, aux renders, OIDN, synthesis, re-renders
                seq = [np.maximum(read_exr(out / f"frame_{f:04d}.exr").color, 0) for f in range(1, frames + 1)]
                synth = [f for f in range(1, frames + 1) if f not in keys]
                label = (f"render 1 in {every}, following the motion (aux renders, "
                         f"{s.get('rerendered_fraction', 0) * 100:.1f} % re-rendered)" if method == "motion" else
                         f"render 1 in {every}, {'learned' if method == 'learned' else 'ULR'}" + (
                             ", frame depth (Workbench)" if geometry else ", splatted depth"))
                rows[label] = {
                    "seconds": spent, "speed-up": all_s / spent,
                    "s/synthesised frame": s["synth_seconds_per_frame"],
                    "PSNR": float(np.mean([psnr(seq[f - 1], ref_imgs[f - 1]) for f in synth])),
                    "FLIP": float(np.mean([flip(seq[f - 1], ref_imgs[f - 1]) for f in synth])),
                    "flicker": sequence_flicker(seq, ref_imgs, reproj),
                }
                log(f"  {label}: {spent:.1f} s, PSNR {rows[label]['PSNR']:.2f}, FLIP {rows[label]['FLIP']:.3f}")
    res = {"resolution": [width, height], "frames": frames, "every": every, "spp": spp, "degrees": degrees,
           "objects": objects,
           "render_seconds_per_frame": float(np.mean(render_s)), "oidn_seconds_per_frame": oidn_s, "rows": rows}
    log("")
    log(table(res))
    return res


def table(res: dict) -> str:
    lines = [f"| route ({res['resolution'][0]}x{res['resolution'][1]}, {res['frames']} frames, {res['spp']} spp) | "
             "seconds | speed-up | s/synthesised frame | PSNR | FLIP | flicker |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in res["rows"].items():
        cells = [format(r[k], fmt) if k in r else "-"
                 for k, fmt in (("s/synthesised frame", ".3f"), ("PSNR", ".2f"), ("FLIP", ".4f"), ("flicker", ".4f"))]
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['speed-up']:.2f}x | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render benchmark novel-view``."""
    p.add_argument("--resolution", default="640x360", help="WxH (default 640x360)")
    p.add_argument("--frames", type=int, default=17, help="frames of the camera move (default 17)")
    p.add_argument("--every", type=int, default=4, help="render one frame in this many (default 4)")
    p.add_argument("--spp", type=int, default=64, help="Cycles samples per pixel (default 64)")
    p.add_argument("--degrees", type=float, default=16.0, help="orbit of the whole move (default 16)")
    p.add_argument("--methods", default="ulr,learned,motion", help="comma separated (default ulr,learned,motion)")
    p.add_argument("--objects", action="store_true", help="the sphere also crosses the frame (an animated object)")
    p.add_argument("--json", help="also write the results here")



def run_args(a: argparse.Namespace) -> int:
    w, h = (int(v) for v in a.resolution.lower().split("x"))
    res = run(w, h, a.frames, a.every, a.spp, a.degrees, tuple(a.methods.split(",")), objects=a.objects)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0
