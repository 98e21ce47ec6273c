"""Relighting in Blender: the ``Neural Relit`` pass, the target lighting from another scene, and
operators that relight the last render or an exported EXR.

The pass is filled by the Cycles hook in :mod:`.render_pass` (pattern A), with the settings of
the first Neural Relight node in the compositor, else the scene's. The frame's own lighting
(its world and lights) is described from the scene, so the network can compare the rendered
frame with its analytic shading.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import StringProperty
from mathutils import Vector

from .core import nops

RELIT_PASS = "Neural Relit"
#: View-layer passes the relight op reads.
LAYER_PASSES = ("use_pass_position", "use_pass_normal", "use_pass_diffuse_color", "use_pass_glossy_color", "use_pass_z")
#: The last frame each scene rendered with Cycles, as a pass set (for "Relight Last Render").
last_render: dict[str, object] = {}


def enable_passes(scene=None) -> None:
    for sc in [scene] if scene is not None else bpy.data.scenes:
        for vl in sc.view_layers:
            for p in LAYER_PASSES:
                setattr(vl, p, True)


def relight_settings(scene):
    """The first unmuted Neural Relight node's settings, else the scene's when its pass is on."""
    from .nodes import relight_nodes

    nodes = relight_nodes(scene)
    if nodes:
        return nodes[0].settings
    s = scene.neural_render.relight
    return s if s.enabled else None


def _size_param(light) -> float:
    """Inverse of ``training.scene_build.apply_lighting``'s size mapping."""
    d = light.data
    if d.type == "AREA":
        return float(d.size)
    if d.type in ("POINT", "SPOT"):
        return float(d.shadow_soft_size) / 0.25
    return float(d.angle) / 0.1


def _world_matrix(ob):
    """Object to world from the transform channels (``matrix_world`` lags until the depsgraph
    updates, which must not be forced inside a render); parents included, constraints not."""
    if ob.parent is None:
        return ob.matrix_basis.copy()
    return _world_matrix(ob.parent) @ ob.matrix_parent_inverse @ ob.matrix_basis


def scene_lighting(scene) -> dict:
    """A scene's world and lights as a lighting dict (:func:`neural_ops.relight.parse_lighting`).

    The world must be empty, a plain colour, or an Environment Texture (optionally through a
    Mapping node rotated about Z) into the Background; anything else is an error naming it.
    """
    world = None
    w = scene.world
    if w is not None and w.node_tree is not None:
        nt = w.node_tree
        bg = next((n for n in nt.nodes if n.type == "BACKGROUND"), None)
        if bg is not None:
            strength = float(bg.inputs["Strength"].default_value)
            col = bg.inputs["Color"]
            if col.is_linked:
                env = col.links[0].from_node
                if env.type != "TEX_ENVIRONMENT" or env.image is None:
                    raise nops.OpError(f"world '{w.name}': its Background colour comes from a '{env.name}' node; "
                                       "relighting reads an Environment Texture (HDRI) or a plain colour")
                rot = 0.0
                vec = env.inputs["Vector"]
                if vec.is_linked and vec.links[0].from_node.type == "MAPPING":
                    rot = float(vec.links[0].from_node.inputs["Rotation"].default_value[2])
                world = {"hdri": env.image.name, "hdri_path": bpy.path.abspath(env.image.filepath, library=env.image.library),
                         "rotation": rot, "strength": strength}
            else:
                world = {"color": list(col.default_value)[:3], "strength": strength}
    elif w is not None:
        world = {"color": list(w.color), "strength": 1.0}
    lights = []
    for ob in scene.objects:
        if ob.type != "LIGHT" or ob.hide_render:
            continue
        d = ob.data
        m = _world_matrix(ob)
        loc = m.translation
        axis = (m.to_3x3() @ Vector((0.0, 0.0, -1.0))).normalized()
        li = {"type": d.type, "location": list(loc), "target": list(loc + axis), "color": list(d.color),
              "power": float(d.energy), "size": _size_param(ob)}
        if d.type == "SPOT":
            li.update(spot_size=float(d.spot_size), spot_blend=float(d.spot_blend))
        lights.append(li)
    return {"world": world, "lights": lights}


def relight_passes(passes, settings, scene, progress=None, report=print) -> np.ndarray:
    """The same call the CLI makes: method + params from the settings. Where the network cannot
    run (no torch in Blender's Python yet), the analytic + screen-space-shadows method stands in
    and ``report`` says why, instead of a black pass."""
    spec = nops.get_op("relight", settings.method)
    if settings.method == "neural":
        reason = spec.available()
        if reason:
            report(f"Neural relight unavailable ({reason}): using analytic shading with screen-space shadows")
            spec = nops.get_op("relight", "shadowed")
    return spec(passes, progress=progress, **settings.to_params(scene))


class NEURAL_OT_relight_file(bpy.types.Operator):
    """Relight an exported EXR (with its JSON sidecar) under the scene's relight settings; writes
    <name>_relit.exr with every pass kept"""

    bl_idname = "neural.relight_file"
    bl_label = "Relight EXR File"

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        scene = context.scene
        s = relight_settings(scene) or scene.neural_render.relight
        src = Path(bpy.path.abspath(self.filepath))
        dst = src.with_name(f"{src.stem}_relit.exr")
        try:
            ps = nops.read_exr(src)
            params = s.to_params(scene)
            params.pop("source_lighting", None)  # the file's own lighting is not this scene's
            if s.method == "neural":
                params["use_source"] = False
            out = nops.get_op("relight", s.method)(ps, **params)
            ps.add(RELIT_PASS, out, "RGB")
            nops.write_exr(ps, dst, overwrite=True)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {dst}")
        return {"FINISHED"}


class NEURAL_OT_relight_last(bpy.types.Operator):
    """Relight the scene's last Cycles render under the current relight settings, without
    re-rendering; the result opens as the image 'Neural Relit'"""

    bl_idname = "neural.relight_last"
    bl_label = "Relight Last Render"

    def execute(self, context):
        scene = context.scene
        ps = last_render.get(scene.name)
        if ps is None:
            self.report({"ERROR"}, "No Cycles render of this scene with relighting on yet: enable the Neural Relit pass and render once (F12)")
            return {"CANCELLED"}
        try:
            out = relight_passes(ps, relight_settings(scene) or scene.neural_render.relight, scene)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        h, w = out.shape[:2]
        img = bpy.data.images.get(RELIT_PASS)
        if img is None or tuple(img.size) != (w, h):
            if img is not None:
                bpy.data.images.remove(img)
            img = bpy.data.images.new(RELIT_PASS, w, h, alpha=True, float_buffer=True)
        rgba = np.concatenate([out, np.ones((h, w, 1), np.float32)], axis=2)[::-1]
        img.pixels.foreach_set(np.ascontiguousarray(rgba).ravel())
        img.update()
        self.report({"INFO"}, f"Relit {w}x{h} into image '{RELIT_PASS}'")
        return {"FINISHED"}


classes = (NEURAL_OT_relight_file, NEURAL_OT_relight_last)
register, unregister = bpy.utils.register_classes_factory(classes)

