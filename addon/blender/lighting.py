"""Blender lighting <-> the lighting schema (:mod:`neural_ops.core.lighting`), both ways.

Reading: a scene's world and lights as a lighting dict, the frame's own lighting the relight op
compares its render with, and the target when relighting to another scene's lighting. Writing:
a lighting dict as a scene's world and lights (the procedural scenes and relight datasets use it).
The reading functions take any objects with the attributes Blender's have (so the add-on's unit
tests pass small stand-ins); ``bpy`` is imported only inside the functions that need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..shim import nops, ops_module


def light_size(data) -> float:
    """The lighting dict's ``size`` of a Blender light (``bpy.types.Light``); the mapping is the
    schema's own (:data:`neural_ops.core.lighting.BLENDER_SIZE`)."""
    return _schema().size_from_blender(data.type, data)


def set_light_size(data, size: float) -> None:
    """Give a Blender light the extent of a lighting dict's ``size`` (inverse of :func:`light_size`)."""
    setattr(data, *_schema().blender_size(data.type, size))


def _schema():
    return ops_module("core.lighting")


def world_matrix(ob) -> np.ndarray:
    """Object to world (4, 4) from the transform channels, parents included, constraints not.

    ``matrix_world`` lags until the depsgraph updates, which must not be forced inside a render.
    """
    m = np.array(ob.matrix_basis, dtype=np.float64)
    if ob.parent is None:
        return m
    return world_matrix(ob.parent) @ np.array(ob.matrix_parent_inverse, dtype=np.float64) @ m


def _abspath(path: str, library=None) -> str:
    if not path.startswith("//"):
        return path
    import bpy

    return bpy.path.abspath(path, library=library)


def world_lighting(world) -> dict | None:
    """The ``world`` entry of a lighting dict for a Blender world (None: no world).

    The Background's colour must be a plain colour or an Environment Texture (optionally through
    a Mapping node rotated about Z); anything else is an :class:`OpError` naming the node.
    """
    if world is None:
        return None
    nt = getattr(world, "node_tree", None)
    if nt is None:
        return {"color": [float(c) for c in world.color][:3], "strength": 1.0}
    bg = next((n for n in nt.nodes if n.type == "BACKGROUND"), None)
    if bg is None:
        return None
    strength = float(bg.inputs["Strength"].default_value)
    col = bg.inputs["Color"]
    if not col.is_linked:
        return {"color": [float(c) for c in col.default_value][:3], "strength": strength}
    env = col.links[0].from_node
    if env.type != "TEX_ENVIRONMENT" or env.image is None:
        raise nops.OpError(f"world '{world.name}': its Background colour comes from a '{env.name}' node; "
                           "relighting reads an Environment Texture (HDRI) or a plain colour")
    rot = 0.0
    vec = env.inputs["Vector"]
    if vec.is_linked and vec.links[0].from_node.type == "MAPPING":
        rot = float(vec.links[0].from_node.inputs["Rotation"].default_value[2])
    return {"hdri": env.image.name, "hdri_path": _abspath(env.image.filepath, library=env.image.library),
            "rotation": rot, "strength": strength}


def light_entry(ob) -> dict:
    """One ``lights`` entry of a lighting dict for a light object: its axis is the object's -Z."""
    d = ob.data
    m = world_matrix(ob)
    loc = m[:3, 3]
    axis = m[:3, :3] @ np.array([0.0, 0.0, -1.0])
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    li = {"type": d.type, "location": loc.tolist(), "target": (loc + axis).tolist(),
          "color": [float(c) for c in d.color], "power": float(d.energy), "size": light_size(d)}
    if d.type == "SPOT":
        li.update(spot_size=float(d.spot_size), spot_blend=float(d.spot_blend))
    return li


def scene_lighting(scene) -> dict:
    """A scene's world and render-visible lights as a lighting dict
    (:func:`neural_ops.core.lighting.parse_lighting` accepts it)."""
    lights = [light_entry(ob) for ob in scene.objects if ob.type == "LIGHT" and not ob.hide_render]
    return {"world": world_lighting(scene.world), "lights": lights}


# -- writing: a lighting dict onto a scene ----------------------------------------------------


def studiolight_path(name: str) -> str:
    """Absolute path of an HDRI bundled with Blender (``studiolights/world``)."""
    import bpy

    return str(Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world")) / name)


def look_at(ob, target) -> None:
    """Turn an object (light, camera) so its -Z axis points at ``target``, Y up."""
    from mathutils import Vector

    d = Vector(target) - ob.location
    ob.rotation_euler = d.to_track_quat("-Z", "Y").to_euler()


def apply_lighting(scene, lighting: dict) -> None:
    """Replace the scene's world and lights with ``lighting`` (``world`` with a bundled ``hdri``,
    ``rotation`` and ``strength``, and ``lights``, as :mod:`neural_ops.core.lighting` describes;
    the inverse of :func:`scene_lighting` for such worlds)."""
    import bpy

    for ob in [o for o in scene.objects if o.type == "LIGHT"]:
        data = ob.data
        bpy.data.objects.remove(ob)
        if data.users == 0:
            bpy.data.lights.remove(data)
    w = lighting["world"]
    world = bpy.data.worlds.new("world")
    scene.world = world
    nt = world.node_tree
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(studiolight_path(w["hdri"]), check_existing=True)
    mapping = nt.nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = (0, 0, w["rotation"])
    coord = nt.nodes.new("ShaderNodeTexCoord")
    nt.links.new(coord.outputs["Generated"], mapping.inputs["Vector"])
    nt.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    bg = nt.nodes.get("Background")
    bg.inputs["Strength"].default_value = w["strength"]
    nt.links.new(env.outputs["Color"], bg.inputs["Color"])
    for i, li in enumerate(lighting["lights"]):
        data = bpy.data.lights.new(f"light{i}", li["type"])
        data.color = li["color"]
        data.energy = li["power"]
        set_light_size(data, li["size"])
        ob = bpy.data.objects.new(f"light{i}", data)
        scene.collection.objects.link(ob)
        ob.location = li["location"]
        look_at(ob, li["target"])
