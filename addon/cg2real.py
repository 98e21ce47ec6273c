"""Neural Photoreal (CG2Real) in Blender: its settings, node and the Set Up EEVEE operator; the
op runs on EEVEE (or any raster) renders through a helper scene (:mod:`.engine.helper_scene`).

The helper engine saves the user scene's finished render (with its passes) to a multilayer EXR,
runs the same ``cg2real`` op as the CLI on those passes, and returns the translated image; the
``Neural Photoreal`` node mixes it over the raster image. Each frame costs one EXR round trip
(a few ms) plus the network. The EEVEE set-up itself is headless: :mod:`.blender.eevee_setup`.
"""

from __future__ import annotations

import time

import bpy
import numpy as np
from bpy.props import BoolProperty

from . import params, properties
from .blender.eevee_setup import prepare_eevee
from .engine import helper_scene, nodes
from .engine.helper_scene import last_input  # noqa: F401  (tests and debugging read it here)
from .shim import nops

ENGINE_ID = "NEURAL_PHOTOREAL"
LABEL = "Neural Photoreal"
GROUP = ".Neural Photoreal"
#: Passes the op needs, as view-layer switches.
LAYER_PASSES = ("use_pass_diffuse_color", "use_pass_glossy_color", "use_pass_normal", "use_pass_z")


def _toggle(self, context):
    """Adds or removes the helper scene and nodes."""
    (enable if self.enabled else disable)(self.id_data)


class NEURAL_PG_photoreal(bpy.types.PropertyGroup):
    """CG2Real settings: EEVEE (or any raster) renders translated to the Cycles look."""

    enabled: BoolProperty(
        name="Neural Photoreal",
        description="Translate each render of this scene to the path-traced look: adds a helper scene, a second "
        "Render Layers node and a Neural Photoreal node to the compositor (F12, animations and batch renders)",
        default=False,
        update=_toggle,
    )
    model_weights: properties.weights_file("generator")
    photo_albedo: BoolProperty(
        name="Photo Albedo",
        description="Also swap the rendered albedo for a photo-like one (the unpaired stage; needs its weights)",
        default=False,
    )
    albedo_weights: properties.weights_file("photo-albedo stage", name="Albedo Weights")
    tile: properties.tile_size(512)

    def draw(self, layout) -> None:
        layout.prop(self, "model_weights")
        layout.prop(self, "photo_albedo")
        if self.photo_albedo:
            layout.prop(self, "albedo_weights")
        layout.prop(self, "tile")

    def to_params(self) -> dict:
        """Parameters of the cg2real op (:func:`.params.cg2real_params`)."""
        return params.cg2real_params(self)


@nodes.menu_node
class NeuralPhotorealNode(nodes.HelperFeatureNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Photoreal: the raster render and the CG2Real result of the helper scene."""

    bl_idname = "NeuralPhotorealNode"
    bl_label = "Neural Photoreal"
    bl_icon = "SHADERFX"
    group, second, setting = GROUP, "Photoreal", "photoreal"


class NEURAL_OT_prepare_eevee(bpy.types.Operator):
    """Set EEVEE up for a final frame before Neural Photoreal: screen-space ray tracing, and a
    light-probe volume over the scene, baked (closed rooms stop glowing with sky light)"""

    bl_idname = "neural.prepare_eevee"
    bl_label = "Set Up EEVEE for Photoreal"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        try:
            info = prepare_eevee(context.scene, "tuned")
        except RuntimeError as e:
            self.report({"ERROR"}, f"EEVEE set-up failed: {e}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"ray tracing on; light-probe volume baked in {info.get('bake_seconds', 0):.1f} s")
        return {"FINISHED"}


def translate(src, helper, engine=None) -> np.ndarray:
    """Read ``src``'s current render result, run the cg2real op, return (H, W, 4)."""
    if src.render.engine == "BLENDER_WORKBENCH":
        # Workbench writes no Diffuse/Glossy Color passes: say so rather than name a missing pass.
        raise nops.OpError(f"{LABEL} needs an EEVEE (or Cycles) render of the scene; Workbench does not "
                           "write the Diffuse and Glossy Color passes it reads")
    passes = nops.read_exr(helper_scene.save_source_result(src, helper))
    settings = src.neural_render.photoreal
    if engine is not None:
        engine.update_stats("", LABEL)
    spec = nops.get_op("cg2real", "neural")

    def progress(done, total):
        if engine is not None:
            engine.update_progress(done / max(1, total))
            return engine.test_break()
        return False

    t = time.perf_counter()
    rgb = spec(passes, progress=progress, **settings.to_params())
    print(f"neural-render: {LABEL} {passes.shape[1]}x{passes.shape[0]} in {time.perf_counter() - t:.2f} s")
    alpha = passes.alpha if passes.alpha is not None else np.ones((*rgb.shape[:2], 1), np.float32)
    return np.concatenate([rgb, alpha], axis=2)


FEATURE = helper_scene.add_feature(helper_scene.HelperFeature(
    label=LABEL, engine_id=ENGINE_ID, node_idname=NeuralPhotorealNode.bl_idname, input_name="Photoreal",
    settings=lambda scene: scene.neural_render.photoreal, process=translate, layer_passes=LAYER_PASSES))
helper_name = FEATURE.helper_name
enable = FEATURE.enable
disable = FEATURE.disable

classes = (NEURAL_PG_photoreal, NeuralPhotorealNode, NEURAL_OT_prepare_eevee)
register, unregister = bpy.utils.register_classes_factory(classes)
