"""Rendered animated shots for learning Render 1 in N's blending (bpy).

    python -m training.novel_view.inbetween_data --shots 40 --seed 20000 -o data/inbetween_train

Each shot is a procedural scene (:mod:`training.scenes`, its family picked by the seed: mixed,
window interiors, textured, glass, metal, dark, small lights; seeds 20000+ are used by nothing
else) with a random camera move (a pan, a slide, a dolly) and one to three of its objects moving
and turning, every frame rendered with Cycles at ``--spp`` (``full/``) and as Render 1 in N's
auxiliary render (``aux/``), the same layout :mod:`.inbetween_eval` renders its held-out shots in
(and with the same code). Resumable: a shot's finished frames are kept; rerun to go on.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

#: Scene families drawn (``motion`` is left out: motion blur and a Vector pass do not go together).
FAMILIES = ("mixed", "window", "textured", "glass", "metal", "dark", "small_lights")


def build_random_shot(seed: int, frames: int, size: tuple[int, int], cache: Path):
    """Build shot ``seed`` in the current Blender file and return its scene."""
    import bpy  # noqa: F401  (mathutils comes with it)
    from mathutils import Vector

    from training.scenes.build import build_scene
    from training.scenes.spec import scene_spec

    spec = scene_spec(seed, FAMILIES[seed % len(FAMILIES)])
    spec["camera"]["motion_blur"] = None
    scene = build_scene(spec, Path(cache).resolve(), size)
    rng = np.random.default_rng([seed, 18])
    cam = scene.camera
    start, rot0 = cam.location.copy(), cam.rotation_euler.copy()
    right = rot0.to_matrix() @ Vector((1, 0, 0))
    fwd = rot0.to_matrix() @ Vector((0, 0, -1))
    slide, push, yaw = rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4), math.radians(rng.uniform(-8, 8))
    for f, s in ((1, -0.5), (frames, 0.5)):
        cam.location = start + right * (slide * s) + fwd * (push * s)
        cam.rotation_euler = rot0.copy()
        cam.rotation_euler.z += yaw * s
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
    cam.location, cam.rotation_euler = start, rot0
    movers = [o for o in scene.objects if o.name.startswith("obj")]
    rng.shuffle(movers)
    for ob in movers[:int(rng.integers(1, 4))]:
        p0, r0 = ob.location.copy(), ob.rotation_euler.copy()
        d = Vector((*rng.uniform(-0.8, 0.8, 2), rng.uniform(0.0, 0.3)))
        turn = math.radians(rng.uniform(-60, 60))
        for f, s in ((1, -0.5), (frames, 0.5)):
            ob.location = p0 + d * s
            ob.rotation_euler = (r0.x, r0.y, r0.z + turn * s)
            ob.keyframe_insert("location", frame=f)
            ob.keyframe_insert("rotation_euler", frame=f)
        ob.location, ob.rotation_euler = p0, r0
    scene.frame_start, scene.frame_end = 1, frames
    return scene


def main(argv=None) -> int:
    from .inbetween_eval import render_shot

    p = argparse.ArgumentParser(prog="python -m training.novel_view.inbetween_data", description=__doc__.split("\n")[0])
    p.add_argument("-o", "--output", default="data/inbetween_train")
    p.add_argument("--shots", type=int, default=40)
    p.add_argument("--seed", type=int, default=20000)
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--resolution", default="256x144")
    p.add_argument("--spp", type=int, default=64)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.resolution.lower().split("x"))
    out = Path(a.output)
    for i, seed in enumerate(range(a.seed, a.seed + a.shots)):
        t = time.perf_counter()
        render_shot(out / f"shot_{seed}", f"train:{seed}", a.frames, (w, h), a.spp, log=lambda m: None)
        print(f"[{i + 1}/{a.shots}] shot {seed} ({time.perf_counter() - t:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
