"""Procedural scene descriptions: a pure function of the seed, JSON-serialisable, no bpy.

:func:`scene_spec` decides everything (geometry, materials, lights, camera) with one seeded
numpy generator; :mod:`training.scenes.build` turns a description into a Blender scene. Keeping
the two apart makes "same seed -> identical scene" testable without rendering, and lets a
dataset record exactly what each sample shows.
"""

from __future__ import annotations

import math

import numpy as np

from neural_ops.core.lighting import LIGHT_TYPES

HDRIS = ("city.exr", "courtyard.exr", "forest.exr", "interior.exr", "night.exr", "studio.exr", "sunrise.exr", "sunset.exr")
EXEMPLARS = ("brick", "grass", "gravel")
SHAPES = ("sphere", "cube", "cylinder", "cone", "torus", "icosphere", "monkey", "boolean")
MATERIALS = ("diffuse", "glossy", "metal", "glass", "emission", "textured")
#: Relative frequency of each material kind (emission and glass are rarer, as in real scenes).
MATERIAL_WEIGHTS = (0.3, 0.2, 0.15, 0.1, 0.05, 0.2)
LIGHTS = LIGHT_TYPES  # the order matters: the generator draws from it by index


def rounded(x) -> float:
    """``x`` as a float rounded to 5 decimals: scene descriptions are JSON, compared exactly."""
    return round(float(x), 5)


def _color(rng, lo=0.05, hi=0.95) -> list[float]:
    # Saturation and value drawn separately so greys and saturated colours both occur.
    h, s, v = rng.random(), rng.random() ** 1.5, lo + (hi - lo) * rng.random()
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return [rounded(c) for c in rgb]


def _material(rng, kind: str) -> dict:
    m = {"kind": kind, "base_color": _color(rng), "roughness": rounded(rng.uniform(0.3, 0.9)), "metallic": 0.0}
    if kind == "glossy":
        m["roughness"] = rounded(rng.uniform(0.02, 0.3))
    elif kind == "metal":
        m.update(metallic=1.0, roughness=rounded(rng.uniform(0.05, 0.45)), base_color=_color(rng, 0.5, 1.0))
    elif kind == "glass":
        m.update(transmission=1.0, roughness=rounded(rng.uniform(0.0, 0.15)), ior=rounded(rng.uniform(1.3, 1.6)),
                 base_color=_color(rng, 0.8, 1.0))
    elif kind == "emission":
        m.update(emission_color=_color(rng, 0.7, 1.0), emission_strength=rounded(rng.uniform(2.0, 15.0)))
    elif kind == "textured":
        m["texture"] = {
            "exemplar": str(rng.choice(EXEMPLARS)),
            "seed": int(rng.integers(2**31)),
            "block": int(rng.choice([16, 24, 32])),
            "scale": rounded(rng.uniform(0.5, 3.0)),
        }
    return m


def lighting_spec(rng: np.random.Generator) -> dict:
    """World (bundled HDRI, rotation, strength) and 0-3 lights of random type, colour, power, size."""
    world = {
        "hdri": str(rng.choice(HDRIS)),
        "rotation": rounded(rng.uniform(0, 2 * math.pi)),
        "strength": rounded(np.exp(rng.uniform(np.log(0.1), np.log(2.0)))),
    }
    lights = []
    for _ in range(int(rng.integers(0, 4))):
        t = str(rng.choice(LIGHTS, p=[0.45, 0.25, 0.2, 0.1]))
        ang = rng.uniform(0, 2 * math.pi)
        power = {"AREA": (50, 600), "POINT": (50, 600), "SPOT": (200, 1500), "SUN": (1, 6)}[t]
        lights.append({
            "type": t,
            "location": [rounded(3 * math.cos(ang)), rounded(3 * math.sin(ang)), rounded(rng.uniform(2, 5))],
            "target": [rounded(rng.uniform(-1, 1)), rounded(rng.uniform(-1, 1)), 0.0],
            "color": _color(rng, 0.8, 1.0),
            "power": rounded(rng.uniform(*power)),
            "size": rounded(rng.uniform(0.1, 2.0)),
        })
    return {"world": world, "lights": lights}


def lighting_variant(seed: int) -> dict:
    """A lighting on its own (for relighting datasets): a pure function of ``seed``."""
    return lighting_spec(np.random.default_rng(seed))


def _clear_of_objects(loc: list[float], objects: list[dict], max_dist: float) -> list[float]:
    """Move a camera that sits inside (or touching) an object outward, away from the room's
    centre, until it is clear of every object's bounding sphere (1.8 x scale covers every shape);
    then upward if the room is too small. Cameras already clear are returned unchanged, so the
    scenes of a seed stay the same unless their camera was inside something (Cycles then renders
    black while EEVEE leaks light)."""

    def blocked(p):
        return any(math.dist(p, o["location"]) < 1.8 * o["scale"] + 0.3 for o in objects)

    p = list(loc)
    r = math.hypot(p[0], p[1])
    ux, uy = (p[0] / r, p[1] / r) if r > 1e-6 else (1.0, 0.0)
    while blocked(p) and r < max_dist:
        r = min(max_dist, r + 0.25)
        p = [ux * r, uy * r, p[2]]
    while blocked(p) and p[2] < 8.0:
        p[2] += 0.25
    return [rounded(v) for v in p] if p != list(loc) else loc


def scene_spec(seed: int) -> dict:
    """A full scene description for ``seed`` (deterministic; lists, floats and strings only)."""
    rng = np.random.default_rng(seed)
    kinds = list(MATERIALS)
    n_obj = int(rng.integers(3, 8))
    objects = []
    for i in range(n_obj):
        ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2.2)
        scale = rounded(rng.uniform(0.3, 0.9))
        objects.append({
            "name": f"obj{i}",
            "shape": str(rng.choice(SHAPES)),
            "location": [rounded(rad * math.cos(ang)), rounded(rad * math.sin(ang)), scale],
            "rotation": [rounded(rng.uniform(0, 0.4)), rounded(rng.uniform(0, 0.4)), rounded(rng.uniform(0, 2 * math.pi))],
            "scale": scale,
            "subdivide": int(rng.integers(0, 3)),
            "displace": rounded(rng.uniform(0.0, 0.15) if rng.random() < 0.3 else 0.0),
            "material": _material(rng, str(rng.choice(kinds, p=MATERIAL_WEIGHTS))),
        })
    clutter = {
        "count": int(rng.integers(0, 25)),
        "shape": str(rng.choice(["cube", "sphere", "icosphere"])),
        "size": rounded(rng.uniform(0.04, 0.15)),
        "seed": int(rng.integers(2**31)),
        "material": _material(rng, str(rng.choice(["diffuse", "glossy", "metal"]))),
    }
    room = {
        "floor": _material(rng, str(rng.choice(["diffuse", "textured", "glossy"]))),
        "walls": int(rng.choice([0, 1, 2, 3], p=[0.2, 0.3, 0.3, 0.2])),
        "wall": _material(rng, str(rng.choice(["diffuse", "textured"]))),
        "ceiling": bool(rng.random() < 0.15),
        "size": rounded(rng.uniform(6.0, 10.0)),
    }
    lighting = lighting_spec(rng)
    # Inside the room (walls stand at +-size/2), so the camera never looks at a wall's back.
    cam_ang, cam_dist = rng.uniform(0, 2 * math.pi), rng.uniform(2.0, 0.45 * room["size"])
    focus = [rounded(rng.uniform(-0.5, 0.5)), rounded(rng.uniform(-0.5, 0.5)), rounded(rng.uniform(0.2, 0.8))]
    loc = [rounded(cam_dist * math.cos(cam_ang)), rounded(cam_dist * math.sin(cam_ang)), rounded(rng.uniform(0.8, 4.0))]
    loc = _clear_of_objects(loc, objects, 0.45 * room["size"])
    camera = {
        "location": loc,
        "target": focus,
        "lens": rounded(rng.uniform(24, 85)),
        "dof": {"fstop": rounded(rng.uniform(1.4, 5.6))} if rng.random() < 0.2 else None,
        "motion_blur": {"shift": [rounded(v) for v in rng.normal(0, 0.08, 3)]} if rng.random() < 0.15 else None,
    }
    return {"seed": int(seed), "version": 1, "objects": objects, "clutter": clutter, "room": room,
            **lighting, "camera": camera}
