"""Relighting in Blender: its settings, the Neural Relight node, and operators that relight the
last render or an exported EXR.

The ``Neural Relit`` pass is filled by the Cycles hook in :mod:`.engine.render_pass` (pattern A),
with the settings of the first Neural Relight node in the compositor, else the scene's. The
frame's own lighting (its world and lights, read by :mod:`.blender.lighting`) is described from
the scene, so the network can compare the rendered frame with its analytic shading.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    PointerProperty,
    StringProperty,
)

from . import jobs, params, properties
from .blender.lighting import scene_lighting  # noqa: F401  (part of this module's API: tests and scripts use it here)
from .engine import failures, nodes
from .shim import nops, ops_module

#: The render pass the hook fills: the learned relight op's output name (as the CLI writes it).
RELIT_PASS = nops.get_op("relight", "neural").pass_name
GROUP = ".Neural Relight"
#: View-layer passes the relight op reads.
LAYER_PASSES = ("use_pass_position", "use_pass_normal", "use_pass_diffuse_color", "use_pass_glossy_color", "use_pass_z")
#: The last frame each scene rendered with Cycles, as a pass set (for "Relight Last Render").
last_render: dict[str, object] = {}


def enable_passes(scene=None) -> None:
    """Turn on the view-layer passes the op reads, in ``scene`` or every scene."""
    for sc in [scene] if scene is not None else bpy.data.scenes:
        for vl in sc.view_layers:
            for p in LAYER_PASSES:
                setattr(vl, p, True)


def _toggle(self, context=None):
    if self.enabled:
        enable_passes(self.id_data if isinstance(self.id_data, bpy.types.Scene) else None)
    nodes.refresh_render_passes()


class NEURAL_PG_relight(bpy.types.PropertyGroup):
    """Relighting settings: the target lighting and the method (render pass, node, operators)."""

    enabled: BoolProperty(
        name="Neural Relit Pass",
        description="After each Cycles render, relight the frame under the target lighting and add a 'Neural Relit' "
        "render pass (enables the Position, Normal, Diffuse/Glossy Color and Z passes it reads)",
        default=False,
        update=_toggle,
    )
    method: EnumProperty(
        name="Method",
        items=(("neural", "Neural", "Shading with screen-space shadows, corrected by the shipped network "
                 "(shadows, interreflection, reflections)"),
               ("shadowed", "Analytic + Shadows", "Re-shading from the G-buffer with shadows and ambient occlusion "
                "traced through the frame's depth (screen space: off-screen occluders are missed)"),
               ("analytic", "Analytic", "Re-shading from the G-buffer alone, no shadows")),
        default="neural",
    )
    target: EnumProperty(
        name="Target Lighting",
        items=(("HDRI", "HDRI", "An HDRI file with rotation and strength, plus optional lights from a JSON file"),
               ("SCENE", "Scene", "Another scene's world (an Environment Texture HDRI) and lights")),
        default="HDRI",
    )
    hdri: StringProperty(name="HDRI", description="Environment image (.exr/.hdr), or a bundled studio light name "
                         "such as forest.exr", subtype="FILE_PATH", default="forest.exr")
    rotation: FloatProperty(name="Rotation", description="HDRI rotation about Z", subtype="ANGLE", default=0.0)
    strength: FloatProperty(name="Strength", description="World strength", default=1.0, min=0.0, soft_max=10.0)
    lights_json: StringProperty(name="Lights", description="Optional JSON file listing lights "
                                "({type, location, target, color, power, size})", subtype="FILE_PATH", default="")
    scene: PointerProperty(name="Scene", type=bpy.types.Scene, description="Scene whose world and lights to relight with")
    use_source: BoolProperty(name="Use Rendered Frame", description="Let the network compare the rendered frame with "
                             "its own analytic shading (shows it where shadows are)", default=True)
    model_weights: properties.weights_file("relighting model")
    tile: properties.tile_size(512)

    def draw(self, layout) -> None:
        layout.prop(self, "method")
        layout.prop(self, "target")
        if self.target == "HDRI":
            layout.prop(self, "hdri")
            layout.prop(self, "rotation")
            layout.prop(self, "strength")
            layout.prop(self, "lights_json")
        else:
            layout.prop(self, "scene")
        if self.method == "neural":
            layout.prop(self, "use_source")
            layout.prop(self, "model_weights")
            layout.prop(self, "tile")

    def to_params(self, scene) -> dict:
        """Parameters of the relight op for frames of ``scene`` (:func:`.params.relight_params`)."""
        return params.relight_params(self, scene)


@nodes.menu_node
class NeuralRelightNode(nodes.PassNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Relight: wire Render Layers 'Image' and 'Neural Relit' in; the settings choose the target lighting."""

    bl_idname = "NeuralRelightNode"
    bl_label = "Neural Relight"
    bl_icon = "LIGHT_SUN"
    group, second = GROUP, "Relit"

    settings: PointerProperty(type=NEURAL_PG_relight)

    def added(self, context):
        enable_passes(context.scene if context and getattr(context, "scene", None) else None)


def relight_settings(scene):
    """The first unmuted Neural Relight node's settings, else the scene's when its pass is on."""
    return nodes.active_settings(scene, NeuralRelightNode, "relight")




def relight_op(method: str, report=print):
    """The relight op of ``method``; where the network cannot run (no torch in Blender's Python
    yet), the analytic + screen-space-shadows method stands in and ``report`` says why, instead
    of a black pass."""
    spec = nops.get_op("relight", method)
    if method == "neural":
        reason = spec.available()
        if reason:
            report(f"Neural relight unavailable ({reason}): using analytic shading with screen-space shadows")
            spec = nops.get_op("relight", "shadowed")
    return spec


def relight_passes(passes, settings, scene, progress=None, report=print) -> np.ndarray:
    """The same call the CLI makes: method + params from the settings (see :func:`relight_op`)."""
    return relight_op(settings.method, report)(passes, progress=progress, **settings.to_params(scene))


class NEURAL_OT_relight_file(jobs.JobOperator, bpy.types.Operator):
    """Relight an exported EXR (with its JSON sidecar) under the scene's relight settings; writes
    <name>_relit.exr with every pass kept"""

    bl_idname = "neural.relight_file"
    bl_label = "Relight EXR File"

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})
    overwrite: BoolProperty(name="Overwrite", description="Replace an earlier <name>_relit.exr", default=False)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        scene = context.scene
        s = relight_settings(scene) or scene.neural_render.relight
        method = s.method
        try:
            src, dst = params.file_job(self.filepath, "_relit", self.overwrite)
            kw = s.to_params(scene)  # reads the scenes' lighting: here, on the main thread
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, f"Relight: {jobs.user_message(e)}")
            return {"CANCELLED"}
        overwrite = self.overwrite  # the job's thread must not touch the operator
        kw.pop("source_lighting", None)  # the file's own lighting is not this scene's
        if method == "neural":
            kw["use_source"] = False

        def work(progress, cancel):
            progress.text = f"{src.name} ({method})"
            exr, strips = ops_module("core.exr"), ops_module("core.strips")
            stream = exr.open_exr(src)
            notes = []
            spec = relight_op(method, report=notes.append)

            def on_tile(done, total):
                progress.set(done, total)
                return cancel.is_set()

            def call(passes):  # the whole frame, or one strip of a big one
                if cancel.is_set():
                    raise InterruptedError
                return spec(passes, progress=on_tile, **kw)

            out, ps = strips.run_op_on_file(spec, spec.make_params(**kw), src, stream, call=call)
            if cancel.is_set():
                raise InterruptedError
            ps.meta.pop(strips.STRIP_KEY, None)
            exr.add_pass(stream, dst, RELIT_PASS, out, "RGB", meta=ps.meta, layer=ps.layer, overwrite=overwrite)
            return " ".join([f"Wrote {dst}", *(f"({n})" for n in notes)])

        return self.run_job(context, jobs.Job("Relight", work=work, cancelled="Relight cancelled; nothing was written"),
                            interval=0.1)


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
        notes = []
        try:
            out = relight_passes(ps, relight_settings(scene) or scene.neural_render.relight, scene, report=notes.append)
        except Exception as e:  # noqa: BLE001 (a bad setting, a missing package, a bug: one line)
            self.report({"ERROR"}, f"Relight: {jobs.user_message(e)}")
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
        self.report({"INFO"}, " ".join([f"Relit {w}x{h} into image '{RELIT_PASS}'", *(f"({n})" for n in notes)]))
        return {"FINISHED"}


def fill_pass(engine, scene, layer_name: str, passes, settings):
    """The Neural Relit pass of one rendered layer (the Cycles hook calls it)."""
    return relight_passes(passes, settings, scene, report=lambda msg: failures.note(engine, msg))


def _keep_last(scene, passes) -> None:
    last_render[scene.name] = passes  # for "Relight Last Render": the pixels are gone after the render


nodes.pass_op(nodes.PassOp(RELIT_PASS, relight_settings, lambda s: f"Neural relight ({s.method})", fill_pass,
                           seen=_keep_last))


classes = (NEURAL_PG_relight, NeuralRelightNode, NEURAL_OT_relight_file, NEURAL_OT_relight_last)
register, unregister = bpy.utils.register_classes_factory(classes)
