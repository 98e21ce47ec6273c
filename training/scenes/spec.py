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


def scene_spec(seed: int, family: str = "mixed") -> dict:
    """A full scene description for ``seed`` (deterministic; lists, floats and strings only).

    ``family`` picks the kind of scene (:data:`FAMILIES`): ``mixed`` is the original generator
    (its scenes never change for a seed); the others start from the same draw and turn it into
    one of the situations denoisers find hard (see :func:`_family`)."""
    if family != "mixed":
        return _family(scene_spec(seed), family)
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


#: Scene families: ``mixed`` (the original random scenes) and hard situations, one each.
FAMILIES = ("mixed", "window", "small_lights", "dark", "textured", "glass", "metal", "dof", "motion")


def wall_frame(k: int, size: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(centre on the floor, direction along the floor) of wall ``k`` of a closed room: walls at
    +y, -x, +x, -y, their direction counter-clockwise seen from inside."""
    s = size / 2
    return [((0.0, s), (1.0, 0.0)), ((-s, 0.0), (0.0, 1.0)), ((s, 0.0), (0.0, -1.0)), ((0.0, -s), (-1.0, 0.0))][k]


def _wall_material(rng) -> dict:
    return _material(rng, str(rng.choice(["diffuse", "diffuse", "textured"])))


def _closed_room(spec: dict, rng) -> None:
    """Four walls and a ceiling (light gets in only where a family opens a window)."""
    spec["room"].update(walls=4, ceiling=True, wall=_wall_material(rng), size=rounded(rng.uniform(6.0, 8.0)))


def _with_bump(m: dict, rng) -> dict:
    if m.get("texture"):
        m["texture"]["bump"] = rounded(rng.uniform(0.2, 1.0))
    return m


def _family(spec: dict, family: str) -> dict:
    """Turn a ``mixed`` scene into one of :data:`FAMILIES` (a pure function of its seed)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown scene family '{family}' (one of {', '.join(FAMILIES)})")
    rng = np.random.default_rng([spec["seed"], FAMILIES.index(family)])
    spec = {**spec, "family": family}
    objects = spec["objects"]
    cam = dict(spec["camera"], dof=None, motion_blur=None)
    if family == "window":
        # A closed room lit only through one window: the sun falls through it onto the floor,
        # the rest is indirect light (the hard case for path tracing and for denoisers).
        _closed_room(spec, rng)
        s = spec["room"]["size"]
        wall = int(rng.integers(4))
        width, height = rounded(rng.uniform(0.2, 0.45) * s), rounded(rng.uniform(0.15, 0.3) * s)
        spec["room"]["window"] = {"wall": wall, "center": rounded(rng.uniform(-0.2, 0.2) * s),
                                  "width": width, "height": height, "bottom": rounded(rng.uniform(0.06, 0.15) * s)}
        # The sun shines through the window's centre onto a floor spot inside the room.
        (ox, oy), (ux, uy) = wall_frame(wall, s)
        win = spec["room"]["window"]
        c = [ox + ux * win["center"], oy + uy * win["center"], win["bottom"] + win["height"] / 2]
        inward, dist, side = (-ox * 2 / s, -oy * 2 / s), rng.uniform(1.0, 0.6 * s), rng.uniform(-1.0, 1.0)
        spot = [c[0] + inward[0] * dist + ux * side, c[1] + inward[1] * dist + uy * side, 0.0]
        d = np.subtract(spot, c)
        d /= np.linalg.norm(d)
        sun = [rounded(v) for v in np.subtract(c, 12 * d)]
        spot = [rounded(v) for v in spot]
        spec["world"] = dict(spec["world"], strength=rounded(rng.uniform(1.0, 3.0)),
                             hdri=str(rng.choice(["city.exr", "courtyard.exr", "forest.exr", "sunset.exr"])))
        spec["lights"] = [{"type": "SUN", "location": sun, "target": spot, "color": _color(rng, 0.85, 1.0),
                           "power": rounded(rng.uniform(20.0, 50.0)), "size": rounded(rng.uniform(0.05, 0.3))}]
    elif family == "small_lights":
        _closed_room(spec, rng)
        spec["world"] = dict(spec["world"], strength=0.0)
        spec["lights"] = []
        for _ in range(int(rng.integers(1, 4))):
            ang = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(0.5, 2.5)
            t = str(rng.choice(["POINT", "SPOT"], p=[0.7, 0.3]))
            spec["lights"].append({
                "type": t, "location": [rounded(r * math.cos(ang)), rounded(r * math.sin(ang)),
                                        rounded(rng.uniform(1.5, 0.45 * spec["room"]["size"]))],
                "target": [rounded(rng.uniform(-1, 1)), rounded(rng.uniform(-1, 1)), 0.0],
                "color": _color(rng, 0.8, 1.0), "power": rounded(rng.uniform(20, 150) * (4 if t == "SPOT" else 1)),
                "size": rounded(rng.uniform(0.01, 0.08))})
    elif family == "dark":
        spec["world"] = dict(spec["world"], hdri="night.exr", strength=rounded(rng.uniform(0.01, 0.06)))
        spec["lights"] = [{"type": "POINT", "location": [rounded(rng.uniform(-2, 2)), rounded(rng.uniform(-2, 2)),
                                                         rounded(rng.uniform(1.0, 3.0))],
                           "target": [0.0, 0.0, 0.0], "color": _color(rng, 0.7, 1.0),
                           "power": rounded(rng.uniform(3, 20)), "size": rounded(rng.uniform(0.02, 0.2))}]
    elif family == "textured":
        for o in objects:
            o["material"] = _with_bump(_material(rng, "textured"), rng)
        spec["room"] = dict(spec["room"], floor=_with_bump(_material(rng, "textured"), rng),
                            wall=_with_bump(_material(rng, "textured"), rng), walls=max(2, spec["room"]["walls"]))
    elif family in ("glass", "metal"):
        for k, o in enumerate(objects):
            kind = family if k < max(2, len(objects) - 1) else "glossy"
            o["material"] = _material(rng, kind)
            if family == "metal":
                o["material"]["roughness"] = rounded(rng.uniform(0.02, 0.2))
            o["subdivide"] = max(1, o["subdivide"])
        if not spec["lights"]:
            spec["lights"] = [{"type": "AREA", "location": [2.0, -2.0, 4.0], "target": [0.0, 0.0, 0.0],
                               "color": [1.0, 1.0, 1.0], "power": rounded(rng.uniform(150, 500)),
                               "size": rounded(rng.uniform(0.3, 1.5))}]
    elif family == "dof":
        near = min(objects, key=lambda o: math.dist(o["location"], cam["location"]))
        cam.update(target=near["location"], lens=rounded(rng.uniform(50, 100)),
                   dof={"fstop": rounded(rng.uniform(0.7, 2.0))})
    elif family == "motion":
        shift = rng.normal(0, 1, 3)
        shift *= rng.uniform(0.15, 0.4) / np.linalg.norm(shift)
        cam["motion_blur"] = {"shift": [rounded(v) for v in shift]}
    spec["objects"] = objects
    spec["camera"] = cam
    if spec["room"].get("walls") == 4:  # the camera stays inside the closed room, below its ceiling
        lim = 0.4 * spec["room"]["size"]
        loc = [max(-lim, min(lim, v)) for v in cam["location"][:2]] + [min(cam["location"][2], 0.4 * spec["room"]["size"])]
        cam["location"] = [rounded(v) for v in loc]
    return spec
