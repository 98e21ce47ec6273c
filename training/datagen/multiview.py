"""Multi-view sets in the NeRF / nerfstudio / BlenderNeRF ``transforms.json`` convention.

Blender cameras look down -Z with +Y up, which is the NeRF (OpenGL) convention, so
``transform_matrix`` is the camera's ``matrix_world`` as is. nerfstudio opens ``file_path``
with PIL, so the colour is a PNG; the HDR EXR (every pass) and per-view depth (metres, .npy),
normal and albedo are extra per-frame paths.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from neural_ops import read_exr
from neural_ops.core.imageio import to_display, write_png


def add_ring_cameras(scene, count: int, target, rng: np.random.Generator, arc: float = 360.0) -> list:
    """``count`` cameras around ``target`` at the scene camera's distance and height, with its
    lens; returns the camera objects.

    ``arc`` 360 (default): a jittered full ring (wide baselines: about 360/count degrees between
    neighbours). Less: an ordered camera move along that many degrees of the circle, centred on the
    scene camera, the height drifting smoothly: neighbouring views overlap, as frames of a shot do.
    """
    ref = scene.camera
    tgt = Vector(target)
    off = ref.location - tgt
    radius, height = max(1.0, off.xy.length), off.z
    start = math.atan2(off.y, off.x)
    ring = arc >= 360.0
    h0, h1 = (1.0, 1.0) if ring else rng.uniform(0.85, 1.15, size=2)  # the ring's draws stay as they were
    cams = []
    for v in range(count):
        if ring:
            a = start + 2 * math.pi * v / count + rng.uniform(-0.2, 0.2) * (2 * math.pi / count)
            z = height * rng.uniform(0.7, 1.3)
        else:
            t = v / max(count - 1, 1)
            a = start + math.radians(arc) * (t - 0.5)
            z = height * (h0 + (h1 - h0) * t)
        cam = bpy.data.objects.new(f"view_{v:03d}", ref.data.copy())
        scene.collection.objects.link(cam)
        cam.data.dof.use_dof = False
        cam.location = tgt + Vector((radius * math.cos(a), radius * math.sin(a), z))
        cam.rotation_euler = (tgt - cam.location).to_track_quat("-Z", "Y").to_euler()
        cams.append(cam)
    bpy.context.view_layer.update()
    return cams


def intrinsics(scene, cam) -> dict:
    """Pinhole intrinsics in pixels, from Blender's view-plane rules (sensor fit, pixel aspect,
    lens shift; :meth:`neural_ops.core.cameras.Camera.from_sidecar`, checked against Blender's own
    projection matrix)."""
    from addon.blender.bridge import camera_meta
    from neural_ops.core.cameras import Camera

    c = Camera.from_sidecar(camera_meta(scene, cam))
    return {"camera_angle_x": 2 * math.atan(0.5 * c.w / c.fx), "fl_x": c.fx, "fl_y": c.fy, "cx": c.cx, "cy": c.cy,
            "w": c.w, "h": c.h}


def write_transforms(folder: Path, scene, cams: list) -> Path:
    """Write PNG colour, depth .npy, normal/albedo PNGs for each rendered ``r_XXX.exr`` and the
    ``transforms.json`` that lists them."""
    folder = Path(folder)
    frames = []
    for v, cam in enumerate(cams):
        stem = f"r_{v:03d}"
        ps = read_exr(folder / f"{stem}.exr")
        write_png(folder / f"{stem}.png", to_display(ps.color))
        depth = ps.get("Depth")[..., 0]
        np.save(folder / f"{stem}_depth.npy", np.where(depth < 1e9, depth, 0.0).astype(np.float32))
        write_png(folder / f"{stem}_normal.png", np.round((ps.normal * 0.5 + 0.5).clip(0, 1) * 255).astype(np.uint8))
        write_png(folder / f"{stem}_albedo.png", to_display(ps.albedo))
        frames.append({
            "file_path": f"{stem}.png",
            "transform_matrix": [list(map(float, row)) for row in cam.matrix_world],
            "exr_file_path": f"{stem}.exr",
            "depth_file_path": f"{stem}_depth.npy",
            "normal_file_path": f"{stem}_normal.png",
            "albedo_file_path": f"{stem}_albedo.png",
        })
    data = {**intrinsics(scene, cams[0]), "camera_model": "OPENCV",
            "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}
    path = folder / "transforms.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path
