"""Neural Photoreal (CG2Real) in EEVEE renders: a helper scene with a small Python engine.

EEVEE is a C engine, so Cycles' render-pass wrap does not apply. Instead (pattern found by
experiment, see ARCHITECTURE.md): enabling the feature on a scene adds

- a helper scene ``.Neural Photoreal <scene>`` whose engine is :class:`NeuralPhotorealEngine`;
- in the scene's compositor, a second Render Layers node reading the helper scene, and a
  ``Neural Photoreal`` node (built-in nodes only) that mixes its image over the original.

Blender renders the user's scene first (EEVEE, with its passes), then the helper scene. The
helper engine saves the user scene's render result to a multilayer EXR (``save_render`` with
the *source* scene, whose render result it then reads), runs the same ``cg2real`` op as the CLI
on those passes, and returns the translated image as its ``Combined``. This works for F12,
animations and headless ``bpy.ops.render.render`` calls; each frame costs one EXR round trip
(a few ms) plus the network.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import bridge
from .core import nops

ENGINE_ID = "NEURAL_PHOTOREAL"
SOURCE_KEY = "neural_source"
RL_NODE = "Neural Photoreal Source"
NODE_NAME = "Neural Photoreal"
GROUP = ".Neural Photoreal"
#: Passes the op needs, as view-layer switches.
LAYER_PASSES = ("use_pass_diffuse_color", "use_pass_glossy_color", "use_pass_normal", "use_pass_z")
#: Path of the last input EXR each helper scene wrote (scene name -> path), for tests and debugging.
last_input: dict[str, str] = {}


def helper_name(scene) -> str:
    return f".Neural Photoreal {scene.name}"


def source_of(helper):
    name = helper.get(SOURCE_KEY, "")
    return bpy.data.scenes.get(name) if name else None


class NeuralPhotorealEngine(bpy.types.RenderEngine):
    """Renders nothing itself: translates the source scene's finished render (see module doc)."""

    bl_idname = ENGINE_ID
    bl_label = "Neural Photoreal (helper)"
    bl_use_preview = False

    def render(self, depsgraph):
        helper = depsgraph.scene
        w, h = self.resolution_x, self.resolution_y
        result = self.begin_result(0, 0, w, h)
        try:
            src = source_of(helper)
            if src is None:
                raise RuntimeError(f"helper scene '{helper.name}' has no source scene")
            out = translate(src, helper, self)
        except Exception as e:  # a failure must not abort the user's render: report it and pass the raster image through
            msg = f"Neural Photoreal failed: {e}"
            print(f"neural-render: {msg}")
            self.report({"ERROR"}, msg)
            out = _raster_fallback(helper, h, w)
        if out.shape[:2] != (h, w):
            out = np.zeros((h, w, 4), np.float32)
        bridge.array_to_pass(result.layers[0].passes["Combined"], out)
        self.end_result(result)


def _raster_fallback(helper, h: int, w: int) -> np.ndarray:
    """The source render's own Combined (RGBA) if it was saved, else black."""
    try:
        ps = nops.read_exr(last_input[helper.name])
        return np.concatenate([ps.color, ps.alpha if ps.alpha is not None else np.ones((h, w, 1), np.float32)], axis=2)
    except Exception:  # nothing readable: black
        return np.zeros((h, w, 4), np.float32)


def translate(src, helper, engine=None) -> np.ndarray:
    """Read ``src``'s current render result, run the cg2real op, return (H, W, 4)."""
    last_input.pop(helper.name, None)
    path = _save_source_result(src, helper)
    passes = nops.read_exr(path)
    settings = src.neural_render.photoreal
    if engine is not None:
        engine.update_stats("", "Neural Photoreal")
    spec = nops.get_op("cg2real", "neural")

    def progress(done, total):
        if engine is not None:
            engine.update_progress(done / max(1, total))
            return engine.test_break()
        return False

    t = time.perf_counter()
    rgb = spec(passes, progress=progress, **settings.to_params())
    print(f"neural-render: Neural Photoreal {passes.shape[1]}x{passes.shape[0]} in {time.perf_counter() - t:.2f} s")
    alpha = passes.alpha if passes.alpha is not None else np.ones((*rgb.shape[:2], 1), np.float32)
    return np.concatenate([rgb, alpha], axis=2)


def _save_source_result(src, helper) -> str:
    """Write ``src``'s render result (all passes) to a float multilayer EXR; its path."""
    img = bpy.data.images.get("Render Result")
    if img is None:
        raise RuntimeError("no render result to translate (render the scene, not the helper scene)")
    folder = Path(bpy.app.tempdir or "/tmp") / "neural_photoreal"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / f"{bpy.path.clean_name(src.name)}_{os.getpid()}.exr")
    ims = src.render.image_settings
    # Restored in this order: media_type first, since setting it resets file_format.
    saved = {k: getattr(ims, k) for k in ("media_type", "file_format", "color_depth", "exr_codec")}
    try:
        ims.media_type = "MULTI_LAYER_IMAGE"
        ims.color_depth = "32"
        ims.exr_codec = "ZIP"
        # The scene argument chooses whose render result is saved: the source scene's, which
        # Blender has finished before it renders the helper scene.
        img.save_render(path, scene=src)
    finally:
        for k, v in saved.items():
            try:
                setattr(ims, k, v)
            except (TypeError, AttributeError):
                pass
    last_input[helper.name] = path
    return path


# --- set-up and tear-down --------------------------------------------------------------------


def enable(scene) -> None:
    """Add the helper scene and compositor nodes to ``scene`` (idempotent)."""
    if scene.get(SOURCE_KEY):
        raise RuntimeError("this is a Neural Photoreal helper scene; enable the feature on the scene you render")
    for vl in scene.view_layers:
        for p in LAYER_PASSES:
            setattr(vl, p, True)
    helper = bpy.data.scenes.get(helper_name(scene)) or bpy.data.scenes.new(helper_name(scene))
    helper[SOURCE_KEY] = scene.name
    helper.render.engine = ENGINE_ID
    sync(helper, scene)
    tree = scene.compositing_node_group
    if tree is None:
        tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
        scene.compositing_node_group = tree
    _ensure_output_socket(tree)
    out = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None) or tree.nodes.new("NodeGroupOutput")
    main_rl = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers" and n.scene in (None, scene)
                    and n.name != RL_NODE), None)
    if main_rl is None:
        main_rl = tree.nodes.new("CompositorNodeRLayers")
        main_rl.scene = scene
        main_rl.location = (-400, 0)
    rl = tree.nodes.get(RL_NODE) or tree.nodes.new("CompositorNodeRLayers")
    rl.name = rl.label = RL_NODE
    rl.scene = helper
    rl.location = (main_rl.location.x, main_rl.location.y - 300)
    from .nodes import NeuralPhotorealNode

    node = next((n for n in tree.nodes if n.bl_idname == NeuralPhotorealNode.bl_idname), None)
    if node is None:
        node = tree.nodes.new(NeuralPhotorealNode.bl_idname)
        node.location = (out.location.x - 250, out.location.y)
        # Insert before the output: whatever fed the output now feeds the node's Image input.
        feed = next((lk.from_socket for lk in tree.links if lk.to_node == out and lk.to_socket == out.inputs[0]), None)
        tree.links.new(feed or main_rl.outputs["Image"], node.inputs["Image"])
        tree.links.new(node.outputs[0], out.inputs[0])
    tree.links.new(rl.outputs["Image"], node.inputs["Photoreal"])


def disable(scene) -> None:
    """Remove the helper scene and our nodes; reconnect what fed the node to the output."""
    tree = scene.compositing_node_group
    if tree is not None:
        from .nodes import NeuralPhotorealNode

        for node in [n for n in tree.nodes if n.bl_idname == NeuralPhotorealNode.bl_idname]:
            feed = next((lk.from_socket for lk in tree.links if lk.to_node == node and lk.to_socket.name == "Image"), None)
            targets = [lk.to_socket for lk in tree.links if lk.from_node == node]
            tree.nodes.remove(node)
            if feed is not None:
                for t in targets:
                    tree.links.new(feed, t)
        rl = tree.nodes.get(RL_NODE)
        if rl is not None:
            tree.nodes.remove(rl)
    helper = bpy.data.scenes.get(helper_name(scene))
    if helper is not None:
        bpy.data.scenes.remove(helper)


def _ensure_output_socket(tree) -> None:
    if not any(s.in_out == "OUTPUT" for s in tree.interface.items_tree if getattr(s, "item_type", "") == "SOCKET"):
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")


def sync(helper, src) -> None:
    """Give the helper scene the source's resolution, camera and frame."""
    r, hr = src.render, helper.render
    hr.resolution_x, hr.resolution_y = r.resolution_x, r.resolution_y
    hr.resolution_percentage = r.resolution_percentage
    hr.pixel_aspect_x, hr.pixel_aspect_y = r.pixel_aspect_x, r.pixel_aspect_y
    hr.use_border, hr.use_crop_to_border = r.use_border, r.use_crop_to_border
    hr.border_min_x, hr.border_max_x, hr.border_min_y, hr.border_max_y = (r.border_min_x, r.border_max_x,
                                                                          r.border_min_y, r.border_max_y)
    cam = src.camera
    if cam is not None and helper.camera != cam:
        if cam.name not in helper.collection.objects:
            helper.collection.objects.link(cam)
        helper.camera = cam
    helper.frame_current = src.frame_current


@persistent
def _on_render_pre(scene, *args):
    """Before each frame: keep every helper scene in step with its source."""
    for helper in bpy.data.scenes:
        src = source_of(helper)
        if src is not None and src.neural_render.photoreal.enabled:
            sync(helper, src)


def register():
    bpy.utils.register_class(NeuralPhotorealEngine)
    if _on_render_pre not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(_on_render_pre)


def unregister():
    if _on_render_pre in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.remove(_on_render_pre)
    bpy.utils.unregister_class(NeuralPhotorealEngine)
