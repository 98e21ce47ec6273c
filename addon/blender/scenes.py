"""The bundled default scene, built in code so it is the same on every machine.

A small room corner: textured floor, two walls, a glossy sphere, a diffuse box, a metal
torus and a glass cube, lit by an area light and one of Blender's bundled HDRIs. It has
occlusion, indirect light, glossy reflections, refraction and fine texture, so every kind
of denoiser error shows.
"""

from __future__ import annotations

import math
from pathlib import Path

import bpy


def studiolight(name: str = "interior.exr") -> Path:
    """Path of an HDRI bundled with Blender (``datafiles/studiolights/world``)."""
    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world")) / name


def _material(name, base=(0.8, 0.8, 0.8), rough=0.5, metal=0.0, transmission=0.0, checker=None):
    m = bpy.data.materials.new(name)
    nt = m.node_tree
    bsdf = nt.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*base, 1.0)
    bsdf.inputs["Roughness"].default_value = rough
    bsdf.inputs["Metallic"].default_value = metal
    bsdf.inputs["Transmission Weight"].default_value = transmission
    if transmission:
        bsdf.inputs["IOR"].default_value = 1.45
    if checker:
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = checker
        tex.inputs["Color1"].default_value = (*base, 1.0)
        tex.inputs["Color2"].default_value = (base[0] * 0.25, base[1] * 0.25, base[2] * 0.25, 1.0)
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return m


def build_default_scene(resolution: tuple[int, int] = (256, 256), hdri: str = "interior.exr") -> bpy.types.Scene:
    """Replace the current file with the default scene and return it (Cycles, CPU)."""
    # read_homefile keeps preferences and enabled add-ons (read_factory_settings would drop them).
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.name = "NeuralDefault"
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.frame_start = scene.frame_end = scene.frame_current = 1

    def add(obj, mat):
        obj.data.materials.append(mat)
        return obj

    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, 0))
    add(bpy.context.object, _material("Floor", (0.7, 0.55, 0.4), rough=0.35, checker=12.0))
    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 3, 4), rotation=(math.pi / 2, 0, 0))
    add(bpy.context.object, _material("BackWall", (0.75, 0.75, 0.72), rough=0.9))
    bpy.ops.mesh.primitive_plane_add(size=8, location=(-3, 0, 4), rotation=(0, math.pi / 2, 0))
    add(bpy.context.object, _material("SideWall", (0.7, 0.2, 0.15), rough=0.8))

    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(-0.6, 0.6, 0.8), segments=48, ring_count=24)
    bpy.ops.object.shade_smooth()
    add(bpy.context.object, _material("Glossy", (0.1, 0.3, 0.8), rough=0.15))
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(1.2, 1.0, 0.5), rotation=(0, 0, 0.5))
    add(bpy.context.object, _material("Diffuse", (0.85, 0.8, 0.3), rough=0.7))
    bpy.ops.mesh.primitive_torus_add(location=(0.9, -0.6, 0.25), major_radius=0.45, minor_radius=0.15)
    bpy.ops.object.shade_smooth()
    add(bpy.context.object, _material("Metal", (0.95, 0.7, 0.4), rough=0.25, metal=1.0))
    bpy.ops.mesh.primitive_cube_add(size=0.6, location=(-1.0, -1.0, 0.3), rotation=(0, 0, 0.3))
    add(bpy.context.object, _material("Glass", (1.0, 1.0, 1.0), rough=0.0, transmission=1.0))

    bpy.ops.object.light_add(type="AREA", location=(1.5, -1.0, 3.5))
    light = bpy.context.object
    light.data.energy = 60.0
    light.data.size = 1.0
    light.rotation_euler = (0.3, 0.3, 0.0)

    world = bpy.data.worlds.new("World")
    scene.world = world
    nt = world.node_tree
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(str(studiolight(hdri)), check_existing=True)
    bg = nt.nodes.get("Background")
    bg.inputs["Strength"].default_value = 0.25
    nt.links.new(env.outputs["Color"], bg.inputs["Color"])

    bpy.ops.object.camera_add(location=(3.6, -4.2, 2.4))
    cam = bpy.context.object
    cam.name = "Camera"
    direction = (0.0 - 3.6, 0.3 - (-4.2), 0.7 - 2.4)
    cam.rotation_euler = _look_rotation(direction)
    cam.data.lens = 35.0
    scene.camera = cam
    return scene


def _look_rotation(direction):
    from mathutils import Vector

    return Vector(direction).to_track_quat("-Z", "Y").to_euler()
