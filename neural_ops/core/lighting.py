"""The lighting schema every op, the add-on and the scene generator share: a world (an HDRI with
rotation and strength, or a plain colour) and Blender lights, as a validated dataclass.

A lighting dict (JSON) is what a user writes, what ``neural-render relight --lighting`` reads,
what the add-on reads off a Blender scene and what the procedural scenes are built from; units
and conventions are Blender's (see :mod:`neural_ops.relight.shading`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OpError

LIGHT_TYPES = ("AREA", "POINT", "SPOT", "SUN")

#: Blender's defaults for new spot lights (``bpy.types.SpotLight`` RNA defaults).
DEFAULT_SPOT_SIZE = math.radians(45.0)
DEFAULT_SPOT_BLEND = 0.15


#: How a light's ``size`` in a lighting dict maps onto Blender's light data: the attribute it
#: sets and the factor (sphere radius 0.25 * size for point and spot lights, square edge size
#: for area lights, angular diameter 0.1 * size radians for the sun). Used both ways: building
#: a scene from a lighting (``training.scenes.build``) and reading one off a scene (the add-on).
BLENDER_SIZE = {"AREA": ("size", 1.0), "POINT": ("shadow_soft_size", 0.25), "SPOT": ("shadow_soft_size", 0.25),
                "SUN": ("angle", 0.1)}


def blender_size(light_type: str, size: float) -> tuple[str, float]:
    """(Blender light-data attribute, value) for a lighting dict's ``size`` of a light of this type."""
    attr, scale = BLENDER_SIZE[light_type.upper()]
    return attr, float(size) * scale


def size_from_blender(light_type: str, light_data) -> float:
    """The lighting dict's ``size`` of a Blender light (the inverse of :func:`blender_size`);
    ``light_data`` is anything with the attribute (a ``bpy.types.Light`` or a stand-in)."""
    attr, scale = BLENDER_SIZE[light_type.upper()]
    return float(getattr(light_data, attr)) / scale

@dataclass(frozen=True)
class World:
    """The world background: an equirectangular HDRI, or a uniform colour when ``hdri_path`` is None.

    Attributes:
        hdri_path: absolute path of the HDRI (EXR), or None for a uniform world.
        rotation: Z rotation of the Mapping node, radians.
        strength: Background strength (>= 0).
        color: linear RGB of a uniform world (ignored with an HDRI).
    """

    hdri_path: str | None
    rotation: float = 0.0
    strength: float = 1.0
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Light:
    """One Blender light as the lighting dict describes it (units in the module docstring).

    Attributes:
        type: ``AREA``, ``POINT``, ``SPOT`` or ``SUN``.
        location: world position (ignored for a sun except to define its direction).
        target: the point its -Z axis looks at.
        color: linear RGB tint (>= 0).
        power: watts (sun: W/m^2).
        size: the dict's size parameter (see module docstring for the Blender mapping).
        spot_size: full cone angle in radians (SPOT only).
        spot_blend: cone edge softness in [0, 1] (SPOT only). ``apply_lighting`` does not set
            these two, so Blender's defaults are what dataset renders used.
    """

    type: str
    location: tuple[float, float, float]
    target: tuple[float, float, float]
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    power: float = 10.0
    size: float = 0.0
    spot_size: float = DEFAULT_SPOT_SIZE
    spot_blend: float = DEFAULT_SPOT_BLEND

    @property
    def axis(self) -> np.ndarray:
        """(3,) unit vector along the light's -Z axis (from ``location`` towards ``target``)."""
        d = np.subtract(self.target, self.location, dtype=np.float64)
        return d / np.linalg.norm(d)

    @property
    def angular_radius_scale(self) -> float:
        """Source radius (m) for local lights, angular radius (rad) for a sun."""
        extent = blender_size(self.type, self.size)[1]
        if self.type in ("POINT", "SPOT"):
            return extent  # Blender's shadow_soft_size is the sphere's radius
        # The area light's edge (radius of a sphere of similar extent: half of it), the sun's angular diameter.
        return 0.5 * extent


@dataclass(frozen=True)
class Lighting:
    """A world (None: black) and a tuple of lights."""

    world: World | None
    lights: tuple[Light, ...] = field(default_factory=tuple)


def default_hdri_dirs() -> list[Path]:
    """Folders with Blender's bundled studio-light HDRIs that can be found without importing bpy
    (the pip ``bpy`` module's ``<version>/datafiles/studiolights/world``). Inside Blender, pass
    ``bpy.utils.system_resource("DATAFILES", path="studiolights/world")`` instead."""
    try:
        spec = importlib.util.find_spec("bpy")  # locates the package; does not import it
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    out = []
    for loc in spec.submodule_search_locations:
        out.extend(sorted(Path(loc).glob("*/datafiles/studiolights/world")))
    return out


#: Most lights a lighting may hold: every light is a full-frame shading pass.
MAX_LIGHTS = 256


def parse_lighting(d: Mapping[str, Any], base_dir: str | os.PathLike | None = None,
                   hdri_dirs: Sequence[str | os.PathLike] | None = None,
                   source: str = "lighting") -> Lighting:
    """Validate a lighting dict (``training.scenes.spec.lighting_spec`` or a user's JSON).

    Layout::

        {"world": {"hdri": "forest.exr", "rotation": 0.5, "strength": 1.0},  # or {"color": [r, g, b], ...}
         "lights": [{"type": "POINT", "location": [x, y, z], "target": [x, y, z],
                     "color": [r, g, b], "power": 100.0, "size": 0.5}, ...],
         "hdri_path": "/abs/path/forest.exr"}                                   # optional

    A missing or null ``world`` is a black world. Other top-level keys (a full scene spec) are
    ignored. The HDRI is found, in order, at ``hdri_path``; at ``world.hdri`` if absolute, else
    relative to ``base_dir``, each of ``hdri_dirs`` (default :func:`default_hdri_dirs`) and the
    current folder.

    Raises:
        OpError: naming ``source`` and the offending key, e.g. ``lighting.json: lights[1].power:
            must be >= 0, got -5``.
    """
    if not isinstance(d, Mapping):
        raise OpError(f"{source}: a lighting must be a JSON object, got {type(d).__name__}")
    if not any(k in d for k in ("world", "lights", "hdri_path")):
        raise OpError(f"{source}: no 'world' or 'lights' in the lighting (its keys: "
                      f"{', '.join(str(k).encode('unicode_escape').decode() for k in d)[:200] or 'none'})")
    w = d.get("world")
    world = None
    if w is not None:
        world = _parse_world(w, d.get("hdri_path"), base_dir, hdri_dirs, source)
    lights_in = d.get("lights", [])
    if lights_in is None:
        lights_in = []
    if not isinstance(lights_in, list | tuple):
        raise OpError(f"{source}: lights: must be a list, got {type(lights_in).__name__}")
    if len(lights_in) > MAX_LIGHTS:
        raise OpError(f"{source}: lights: {len(lights_in)} lights; at most {MAX_LIGHTS} are supported "
                      "(merge small lights or use an HDRI)")
    lights = tuple(_parse_light(li, f"{source}: lights[{i}]") for i, li in enumerate(lights_in))
    return Lighting(world, lights)


def load_lighting(path: str | os.PathLike, hdri_dirs: Sequence[str | os.PathLike] | None = None) -> Lighting:
    """Read a lighting JSON file (relative HDRI paths resolve against its folder)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise OpError(f"{path}: no such lighting file") from None
    except (OSError, ValueError) as e:  # ValueError: invalid JSON or not UTF-8 text
        raise OpError(f"{path}: unreadable lighting JSON: {str(e)[:200]}") from None
    return parse_lighting(d, base_dir=path.parent, hdri_dirs=hdri_dirs, source=str(path))


def _parse_world(w, hdri_path, base_dir, hdri_dirs, source) -> World:
    where = f"{source}: world"
    if not isinstance(w, Mapping):
        raise OpError(f"{where}: must be an object, got {type(w).__name__}")
    rotation = _number(w.get("rotation", 0.0), f"{where}.rotation")
    strength = _number(w.get("strength", 1.0), f"{where}.strength", minimum=0.0)
    if "hdri" in w and "color" in w:
        raise OpError(f"{where}: give either 'hdri' or 'color', not both")
    if "color" in w:
        color = _vec3(w["color"], f"{where}.color", minimum=0.0)
        return World(None, rotation, strength, color)
    if "hdri" not in w and not hdri_path:
        raise OpError(f"{where}: needs 'hdri' (an equirectangular EXR) or 'color'")
    path = _find_hdri(w.get("hdri"), hdri_path, base_dir, hdri_dirs, where)
    return World(str(path), rotation, strength)


def _find_hdri(name, hdri_path, base_dir, hdri_dirs, where) -> Path:
    tried: list[Path] = []
    base = Path(base_dir) if base_dir is not None else None
    if hdri_path:
        p = Path(str(hdri_path))
        tried.append(p if p.is_absolute() or base is None else base / p)
    if name is not None:
        if not isinstance(name, str) or not name:
            raise OpError(f"{where}.hdri: must be a file name, got {name!r}")
        p = Path(name)
        if not p.is_absolute() and ".." in p.parts:
            raise OpError(f"{where}.hdri: {name!r} leaves its folder; give a name inside it or an absolute path")
        if p.is_absolute():
            tried.append(p)
        else:
            dirs = [base] if base is not None else []
            dirs += [Path(x) for x in (default_hdri_dirs() if hdri_dirs is None else hdri_dirs)]
            tried += [x / p for x in dirs] + [p]
    for p in tried:
        if p.is_file():
            return p.resolve()
    shown = ", ".join(str(p) for p in tried)
    raise OpError(f"{where}.hdri: HDRI file {name or hdri_path!r} not found (looked at: {shown}); "
                  f"give an absolute 'hdri_path' or the folder holding it")


def _parse_light(li, where) -> Light:
    if not isinstance(li, Mapping):
        raise OpError(f"{where}: must be an object, got {type(li).__name__}")
    t = li.get("type")
    if not isinstance(t, str) or t.upper() not in LIGHT_TYPES:
        raise OpError(f"{where}.type: unknown light type {t!r} (expected one of {', '.join(LIGHT_TYPES)})")
    t = t.upper()
    for key in ("location", "target"):
        if key not in li:
            raise OpError(f"{where}.{key}: missing (a list of 3 numbers)")
    loc = _vec3(li["location"], f"{where}.location")
    tgt = _vec3(li["target"], f"{where}.target")
    if t != "POINT" and math.dist(loc, tgt) < 1e-9:
        raise OpError(f"{where}: location and target coincide, so a {t} light has no direction")
    if "power" not in li:
        raise OpError(f"{where}.power: missing (watts; W/m^2 for a sun)")
    spot_size = _number(li.get("spot_size", DEFAULT_SPOT_SIZE), f"{where}.spot_size", minimum=0.0)
    if not 0.0 < spot_size <= math.pi:
        raise OpError(f"{where}.spot_size: must be in (0, pi] radians (full cone angle), got {spot_size:g}")
    blend = _number(li.get("spot_blend", DEFAULT_SPOT_BLEND), f"{where}.spot_blend", minimum=0.0)
    if blend > 1.0:
        raise OpError(f"{where}.spot_blend: must be in [0, 1], got {blend:g}")
    return Light(
        type=t, location=loc, target=tgt,
        color=_vec3(li.get("color", (1.0, 1.0, 1.0)), f"{where}.color", minimum=0.0),
        power=_number(li["power"], f"{where}.power", minimum=0.0),
        size=_number(li.get("size", 0.0), f"{where}.size", minimum=0.0),
        spot_size=spot_size, spot_blend=blend,
    )


def _number(x, where: str, minimum: float | None = None) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise OpError(f"{where}: must be a number, got {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise OpError(f"{where}: must be finite, got {x}")
    if minimum is not None and x < minimum:
        raise OpError(f"{where}: must be >= {minimum:g}, got {x:g}")
    return x


def _vec3(x, where: str, minimum: float | None = None) -> tuple[float, float, float]:
    if isinstance(x, str) or not isinstance(x, Sequence | np.ndarray) or len(x) != 3:
        n = len(x) if isinstance(x, Sequence | np.ndarray) and not isinstance(x, str) else None
        got = f"{n} values" if n is not None else repr(x)
        raise OpError(f"{where}: must be a list of 3 numbers, got {got}")
    return tuple(_number(v, f"{where}[{i}]", minimum) for i, v in enumerate(x))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
