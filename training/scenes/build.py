"""Turn a scene description from :func:`training.scenes.spec.scene_spec` into a Blender scene.

Everything random was decided in the description; this module only executes it, so the same
description always builds the same scene.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from addon.blender.lighting import apply_lighting, look_at

from .quilting import quilt
from .spec import wall_frame


def texture_image(tex: dict, tint: list[float], cache: Path, size: int = 256) -> bpy.types.Image:
    """Quilt a texture from a scikit-image exemplar (cached as PNG by its parameters)."""
    from neural_ops.core.imageio import write_png

    path = Path(cache) / f"{tex['exemplar']}_{tex['seed']}_{tex['block']}_{size}.png"
    if not path.exists():
        from skimage import data

        ex = getattr(data, tex["exemplar"])().astype(np.float32) / 255.0
        if ex.ndim == 2:
            ex = np.repeat(ex[..., None], 3, axis=2)
        q = quilt(ex[:256, :256], (size, size), block=tex["block"], seed=tex["seed"])
        # Workers share the cache: write under a private name, then rename atomically.
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
        write_png(tmp, np.clip(q * 255 + 0.5, 0, 255).astype(np.uint8))
        os.replace(tmp, path)
    img = bpy.data.images.load(str(path), check_existing=True)
    return img


def make_material(spec: dict, name: str, cache: Path) -> bpy.types.Material:
    m = bpy.data.materials.new(name)
    nt = m.node_tree
    bsdf = nt.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*spec["base_color"], 1.0)
    bsdf.inputs["Roughness"].default_value = spec["roughness"]
    bsdf.inputs["Metallic"].default_value = spec.get("metallic", 0.0)
    if spec.get("transmission"):
        bsdf.inputs["Transmission Weight"].default_value = spec["transmission"]
        bsdf.inputs["IOR"].default_value = spec.get("ior", 1.45)
    if spec.get("emission_strength"):
        bsdf.inputs["Emission Color"].default_value = (*spec["emission_color"], 1.0)
        bsdf.inputs["Emission Strength"].default_value = spec["emission_strength"]
    tex = spec.get("texture")
    if tex:
        node = nt.nodes.new("ShaderNodeTexImage")
        node.image = texture_image(tex, spec["base_color"], cache)
        coord = nt.nodes.new("ShaderNodeTexCoord")
        mapping = nt.nodes.new("ShaderNodeMapping")
        mapping.inputs["Scale"].default_value = (tex["scale"],) * 3
        nt.links.new(coord.outputs["UV"], mapping.inputs["Vector"])
        nt.links.new(mapping.outputs["Vector"], node.inputs["Vector"])
        tint = nt.nodes.new("ShaderNodeMix")
        tint.data_type = "RGBA"
        tint.blend_type = "MULTIPLY"
        tint.inputs[0].default_value = 1.0
        nt.links.new(node.outputs["Color"], tint.inputs[6])
        tint.inputs[7].default_value = (*spec["base_color"], 1.0)
        nt.links.new(tint.outputs[2], bsdf.inputs["Base Color"])
        if tex.get("bump"):
            bump = nt.nodes.new("ShaderNodeBump")
            bump.inputs["Strength"].default_value = tex["bump"]
            bump.inputs["Distance"].default_value = 0.02
            nt.links.new(node.outputs["Color"], bump.inputs["Height"])
            nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return m


def _quad(name: str, corners: list, material) -> bpy.types.Object:
    """A one-sided quad through four world-space corners (counter-clockwise seen from its front)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(c) for c in corners], [], [(0, 1, 2, 3)])
    ob = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(ob)
    mesh.materials.append(material)
    return ob


def closed_room(room: dict, wall_mat) -> None:
    """Four walls from the floor to the ceiling (z = size / 2), one of them with a window hole
    (``room["window"]``: wall index, centre along the wall, width, height, bottom)."""
    s = room["size"]
    h, e = s / 2, s / 2 + 0.05  # walls overlap at the corners so no light leaks between them
    win = room.get("window")
    for k in range(4):
        (ox, oy), (ux, uy) = wall_frame(k, s)
        rects = [(-e, e, -0.05, h + 0.05)]
        if win and win["wall"] == k:
            u0, u1 = win["center"] - win["width"] / 2, win["center"] + win["width"] / 2
            z0, z1 = win["bottom"], win["bottom"] + win["height"]
            rects = [(-e, u0, -0.05, h + 0.05), (u1, e, -0.05, h + 0.05), (u0, u1, -0.05, z0), (u0, u1, z1, h + 0.05)]
        for j, (a, b, z0, z1) in enumerate(rects):
            pts = [(ox + ux * a, oy + uy * a, z0), (ox + ux * b, oy + uy * b, z0),
                   (ox + ux * b, oy + uy * b, z1), (ox + ux * a, oy + uy * a, z1)]
            _quad(f"wall{k}_{j}", pts, wall_mat)
    _quad("ceiling", [(-e, -e, h), (-e, e, h), (e, e, h), (e, -e, h)], wall_mat)


_PRIMS = {
    "sphere": lambda: bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16),
    "icosphere": lambda: bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=2),
    "cube": lambda: bpy.ops.mesh.primitive_cube_add(size=2.0),
    "cylinder": lambda: bpy.ops.mesh.primitive_cylinder_add(vertices=32),
    "cone": lambda: bpy.ops.mesh.primitive_cone_add(vertices=32),
    "torus": lambda: bpy.ops.mesh.primitive_torus_add(major_radius=0.8, minor_radius=0.3),
    "monkey": lambda: bpy.ops.mesh.primitive_monkey_add(),
}


def _add_shape(shape: str) -> bpy.types.Object:
    if shape == "boolean":
        bpy.ops.mesh.primitive_cube_add(size=2.0)
        ob = bpy.context.object
        bpy.ops.mesh.primitive_uv_sphere_add(radius=1.25, segments=24, ring_count=12)
        cutter = bpy.context.object
        mod = ob.modifiers.new("cut", "BOOLEAN")
        mod.operation, mod.object = "DIFFERENCE", cutter
        bpy.context.view_layer.objects.active = ob
        bpy.ops.object.modifier_apply(modifier=mod.name)
        bpy.data.objects.remove(cutter)
        return ob
    _PRIMS[shape]()
    return bpy.context.object


def apply_gradient_world(scene, sign: float) -> None:
    """Spherical gradient illumination (Ma et al. 2007; Guo et al. 2019, Relightables): remove
    the lights and make the world radiance, in direction w, the colour ((1 + s wx) / 2,
    (1 + s wy) / 2, (1 + s wz) / 2) for s = +1 or -1 (the gradient and its complement; their
    sum is a uniform white world)."""
    for ob in [o for o in scene.objects if o.type == "LIGHT"]:
        data = ob.data
        bpy.data.objects.remove(ob)
        if data.users == 0:
            bpy.data.lights.remove(data)
    world = bpy.data.worlds.new(f"gradient_{'a' if sign > 0 else 'b'}")
    scene.world = world
    nt = world.node_tree
    coord = nt.nodes.new("ShaderNodeTexCoord")
    sep = nt.nodes.new("ShaderNodeSeparateXYZ")
    comb = nt.nodes.new("ShaderNodeCombineColor")
    nt.links.new(coord.outputs["Generated"], sep.inputs["Vector"])
    for axis, out in zip("XYZ", ("Red", "Green", "Blue")):
        m = nt.nodes.new("ShaderNodeMath")
        m.operation = "MULTIPLY_ADD"
        m.inputs[1].default_value = 0.5 * sign
        m.inputs[2].default_value = 0.5
        nt.links.new(sep.outputs[axis], m.inputs[0])
        nt.links.new(m.outputs[0], comb.inputs[out])
    bg = nt.nodes.get("Background")
    bg.inputs["Strength"].default_value = 1.0
    nt.links.new(comb.outputs["Color"], bg.inputs["Color"])


def build_scene(spec: dict, cache: Path, resolution: tuple[int, int] = (128, 128)) -> bpy.types.Scene:
    """Replace the current file with the scene described by ``spec``."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.name = f"procedural_{spec['seed']}"
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.frame_start = scene.frame_end = scene.frame_current = 1

    room = spec["room"]
    s = room["size"]
    bpy.ops.mesh.primitive_plane_add(size=s)
    bpy.context.object.data.materials.append(make_material(room["floor"], "floor", cache))
    wall_mat = make_material(room["wall"], "wall", cache)
    if room["walls"] == 4:
        closed_room(room, wall_mat)
    walls = [((0, s / 2, s / 4), (math.pi / 2, 0, 0)), ((-s / 2, 0, s / 4), (0, math.pi / 2, 0)),
             ((s / 2, 0, s / 4), (0, math.pi / 2, 0))]
    for loc, rot in walls[: room["walls"] if room["walls"] < 4 else 0]:
        bpy.ops.mesh.primitive_plane_add(size=s, location=loc, rotation=rot)
        bpy.context.object.data.materials.append(wall_mat)
    if room["ceiling"] and room["walls"] < 4:
        bpy.ops.mesh.primitive_plane_add(size=s, location=(0, 0, s / 2), rotation=(math.pi, 0, 0))
        bpy.context.object.data.materials.append(wall_mat)

    for o in spec["objects"]:
        ob = _add_shape(o["shape"])
        ob.name = o["name"]
        ob.location, ob.rotation_euler, ob.scale = o["location"], o["rotation"], (o["scale"],) * 3
        if o["subdivide"]:
            ob.modifiers.new("subd", "SUBSURF").levels = o["subdivide"]
            ob.modifiers["subd"].render_levels = o["subdivide"]
        if o["displace"]:
            tex = bpy.data.textures.new(f"{o['name']}_disp", "CLOUDS")
            tex.noise_scale = 0.4
            mod = ob.modifiers.new("disp", "DISPLACE")
            mod.texture, mod.strength = tex, o["displace"]
        if o["shape"] in ("sphere", "torus", "cylinder", "monkey", "cone"):
            bpy.ops.object.shade_smooth()
        ob.data.materials.append(make_material(o["material"], f"{o['name']}_mat", cache))

    cl = spec["clutter"]
    if cl["count"]:
        _PRIMS[cl["shape"]]()
        proto = bpy.context.object
        proto.scale = (cl["size"] / 2,) * 3
        proto.data.materials.append(make_material(cl["material"], "clutter_mat", cache))
        rng = np.random.default_rng(cl["seed"])
        for i in range(cl["count"]):
            inst = proto if i == 0 else proto.copy()  # copies share the mesh: instancing
            if i:
                scene.collection.objects.link(inst)
            a, r = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 3.0)
            inst.location = (r * math.cos(a), r * math.sin(a), cl["size"] / 2)
            inst.rotation_euler = tuple(rng.uniform(0, math.pi, 3))

    apply_lighting(scene, spec)

    c = spec["camera"]
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.location = c["location"]
    look_at(cam, c["target"])
    cam.data.lens = c["lens"]
    if c["dof"]:
        cam.data.dof.use_dof = True
        cam.data.dof.focus_distance = (Vector(c["target"]) - Vector(c["location"])).length
        cam.data.dof.aperture_fstop = c["dof"]["fstop"]
    if c["motion_blur"]:
        scene.render.use_motion_blur = True
        cam.keyframe_insert("location", frame=1)
        cam.location = Vector(c["location"]) + Vector(c["motion_blur"]["shift"])
        cam.keyframe_insert("location", frame=2)
        cam.location = c["location"]
    scene.camera = cam
    return scene
