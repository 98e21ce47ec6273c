"""Datasets from a user's own scene (``--from SCENE.blend``): keep its geometry and materials,
randomise the camera and the lighting from the seed, so a studio can fine-tune on its own look.

The variation is recorded as a description like the procedural one, so a sample can be rebuilt.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from addon.blender.lighting import apply_lighting
from neural_ops.core.errors import NeuralRenderError

from .spec import lighting_spec, rounded


def scene_bounds(scene) -> tuple[np.ndarray, float]:
    """Centre and radius of the world-space bounding box of the scene's visible meshes."""
    pts = [ob.matrix_world @ Vector(c) for ob in scene.objects if ob.type == "MESH" and not ob.hide_render
           for c in ob.bound_box]
    if not pts:
        raise NeuralRenderError(f"scene '{scene.name}' has no visible mesh to render")
    a = np.array([tuple(p) for p in pts])
    lo, hi = a.min(0), a.max(0)
    return (lo + hi) / 2, float(max(np.linalg.norm(hi - lo) / 2, 1e-3))


def variation(scene, seed: int, blend: str) -> dict:
    """Camera and lighting for sample ``seed`` over ``scene`` (pure function of seed and scene)."""
    rng = np.random.default_rng(seed)
    centre, radius = scene_bounds(scene)
    base = scene.camera.data.lens if scene.camera else 50.0
    lens = rounded(base * rng.uniform(0.7, 1.4))
    fov = 2 * math.atan(18.0 / lens)
    az, el = rng.uniform(0, 2 * math.pi), rng.uniform(0.05, 0.8)
    direction = np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)])
    dist = radius / math.tan(fov / 2) * rng.uniform(0.6, 1.2)
    target = centre + rng.normal(0, 0.15 * radius, 3)
    light = lighting_spec(rng)
    for li in light["lights"]:  # the procedural lights assume a ~3 m scene: scale to this one
        s = radius / 3.0
        li["location"] = [rounded(centre[i] + v * s) for i, v in enumerate(li["location"])]
        li["target"] = [rounded(centre[i] + v * s) for i, v in enumerate(li["target"])]
        if li["type"] != "SUN":
            li["power"] = rounded(li["power"] * s * s)
    return {
        "seed": int(seed), "from": str(blend),
        "camera": {"location": [rounded(v) for v in centre + direction * dist], "target": [rounded(v) for v in target],
                   "lens": lens, "dof": None, "motion_blur": None},
        **light,
    }


def build_from(blend: str | Path, seed: int, resolution: tuple[int, int]) -> tuple[bpy.types.Scene, dict]:
    """Open the user's .blend, apply the seed's camera and lighting; returns (scene, description)."""
    from addon.blender.batch import open_blend

    scene = open_blend(blend)
    spec = variation(scene, seed, str(blend))
    cam = bpy.data.objects.new("NeuralDataCamera", bpy.data.cameras.new("NeuralDataCamera"))
    scene.collection.objects.link(cam)
    c = spec["camera"]
    cam.location = c["location"]
    cam.rotation_euler = (Vector(c["target"]) - Vector(c["location"])).to_track_quat("-Z", "Y").to_euler()
    cam.data.lens = c["lens"]
    scene.camera = cam
    apply_lighting(scene, spec)
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    return scene, spec
