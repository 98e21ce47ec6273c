"""Ops that make a whole image for the compositor of a scene Cycles' render-pass wrap cannot reach.

EEVEE and Workbench are C engines, so the pass wrap of :mod:`.render_pass` does not apply to
them, and some ops (novel views) do not need the scene's engine at all. The pattern (found by
experiment, see ARCHITECTURE.md): enabling such a feature on a scene adds

- a helper scene ``.<label> <scene>`` whose engine is a small Python engine of the feature;
- in the scene's compositor, a second Render Layers node reading the helper scene, and the
  feature's node (built-in nodes only) that mixes the helper's image over the original.

Blender renders the user's scene first (with its passes), then the helper scene. The helper
engine can save the user scene's render result to a multilayer EXR (``save_render`` with the
*source* scene, whose render result it then reads), runs the feature's op, and returns the image
as its ``Combined``. This works for F12, animations and headless ``bpy.ops.render.render`` calls.
A failing op reports the error and passes the source render through: it never aborts a render.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from bpy.app.handlers import persistent

from ..blender import bridge
from ..shim import nops
from . import failures

SOURCE_KEY = "neural_source"
FEATURE_KEY = "neural_feature"
#: Path of the last source render each helper scene saved (helper name -> path), for fallbacks and tests.
last_input: dict[str, str] = {}


@dataclass
class HelperFeature:
    """One op run by a helper scene.

    Attributes:
        label: user-facing name (``Neural Photoreal``); also names the helper scene, the second
            Render Layers node (``<label> Source``) and the engine.
        engine_id: ``bl_idname`` of the helper engine.
        node_idname: the feature's compositor node (a mix group with inputs Image, ``input_name``, Mix).
        input_name: the node input the helper's image goes to.
        settings: the feature's property group on a scene (has ``enabled``).
        process: ``(source scene, helper scene, engine or None) -> (H, W, 4)`` float32.
        layer_passes: view-layer pass switches turned on when the feature is enabled.
    """

    label: str
    engine_id: str
    node_idname: str
    input_name: str
    settings: Callable
    process: Callable
    layer_passes: tuple[str, ...] = ()

    @property
    def rl_node(self) -> str:
        return f"{self.label} Source"

    def helper_name(self, scene) -> str:
        return f".{self.label} {scene.name}"

    def engine_class(self) -> type:
        feature = self

        class Engine(bpy.types.RenderEngine):
            bl_idname = feature.engine_id
            bl_label = f"{feature.label} (helper)"
            bl_use_preview = False

            def render(self, depsgraph):
                helper = depsgraph.scene
                w, h = self.resolution_x, self.resolution_y
                result = self.begin_result(0, 0, w, h)
                try:
                    bridge.array_to_pass(result.layers[0].passes["Combined"], feature.run(helper, self, h, w))
                finally:
                    self.end_result(result)

        Engine.__name__ = Engine.__qualname__ = f"NEURAL_RE_{feature.engine_id.lower()}"
        return Engine

    def run(self, helper, engine, h: int, w: int) -> np.ndarray:
        """The helper's image, (H, W, 4): the op's result; when anything fails (a missing pass, a
        bad weights path, no source), the source render passed through and one line reported."""
        src = source_of(helper)
        try:
            if src is None:
                raise nops.OpError(f"the helper scene '{helper.name}' has lost its source scene")
            out = np.asarray(self.process(src, helper, engine), np.float32)
            if out.shape != (h, w, 4):
                raise nops.OpError(f"the result is {out.shape[1]}x{out.shape[0]}, the frame {w}x{h}")
            return out
        except Exception as e:  # noqa: BLE001 (never abort the user's render, never a black frame)
            failures.report(engine, self.label, e)
            return source_fallback(helper, h, w, src)

    # -- set-up and tear-down -------------------------------------------------------------------

    def enable_passes(self, scene) -> None:
        """Turn on the view-layer passes the op reads, in every view layer of ``scene``."""
        for vl in scene.view_layers:
            for p in self.layer_passes:
                setattr(vl, p, True)

    def enable(self, scene) -> None:
        """Add the helper scene and compositor nodes to ``scene`` (idempotent)."""
        if scene.get(SOURCE_KEY):
            raise RuntimeError(f"this is a {scene.get(FEATURE_KEY, 'neural')} helper scene; enable the feature on "
                               "the scene you render")
        self.enable_passes(scene)
        helper = bpy.data.scenes.get(self.helper_name(scene)) or bpy.data.scenes.new(self.helper_name(scene))
        helper[SOURCE_KEY] = scene.name
        helper[FEATURE_KEY] = self.label
        helper.render.engine = self.engine_id
        sync(helper, scene)
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            scene.compositing_node_group = tree
        _ensure_output_socket(tree)
        out = next((n for n in tree.nodes if n.bl_idname == "NodeGroupOutput"), None) or tree.nodes.new("NodeGroupOutput")
        ours = {f.rl_node for f in FEATURES.values()}
        main_rl = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers" and n.scene in (None, scene)
                        and n.name not in ours), None)
        if main_rl is None:
            main_rl = tree.nodes.new("CompositorNodeRLayers")
            main_rl.scene = scene
            main_rl.location = (-400, 0)
        rl = tree.nodes.get(self.rl_node) or tree.nodes.new("CompositorNodeRLayers")
        rl.name = rl.label = self.rl_node
        rl.scene = helper
        rl.location = (main_rl.location.x, main_rl.location.y - 300 * (1 + list(FEATURES).index(self.label)))
        node = next((n for n in tree.nodes if n.bl_idname == self.node_idname), None)
        if node is None:
            node = tree.nodes.new(self.node_idname)
            node.location = (out.location.x - 250, out.location.y)
            # Insert before the output: whatever fed the output now feeds the node's Image input.
            feed = next((lk.from_socket for lk in tree.links if lk.to_node == out and lk.to_socket == out.inputs[0]), None)
            tree.links.new(feed or main_rl.outputs["Image"], node.inputs["Image"])
            tree.links.new(node.outputs[0], out.inputs[0])
        tree.links.new(rl.outputs["Image"], node.inputs[self.input_name])

    def disable(self, scene) -> None:
        """Remove the helper scene and the feature's nodes; reconnect what fed the node to its targets."""
        tree = scene.compositing_node_group
        if tree is not None:
            for node in [n for n in tree.nodes if n.bl_idname == self.node_idname]:
                feed = next((lk.from_socket for lk in tree.links if lk.to_node == node and lk.to_socket.name == "Image"),
                            None)
                targets = [lk.to_socket for lk in tree.links if lk.from_node == node]
                tree.nodes.remove(node)
                if feed is not None:
                    for t in targets:
                        tree.links.new(feed, t)
            rl = tree.nodes.get(self.rl_node)
            if rl is not None:
                tree.nodes.remove(rl)
        helper = bpy.data.scenes.get(self.helper_name(scene))
        if helper is not None:
            bpy.data.scenes.remove(helper)


#: Every registered feature by label.
FEATURES: dict[str, HelperFeature] = {}


def add_feature(feature: HelperFeature) -> HelperFeature:
    FEATURES[feature.label] = feature
    return feature


def source_of(helper):
    name = helper.get(SOURCE_KEY, "")
    return bpy.data.scenes.get(name) if name else None


def feature_of(helper) -> HelperFeature | None:
    label = helper.get(FEATURE_KEY, "")
    if not label:  # helper scenes saved before features were labelled: by name
        label = next((f.label for f in FEATURES.values() if helper.name.startswith(f".{f.label} ")), "")
    return FEATURES.get(label)


def source_fallback(helper, h: int, w: int, src=None) -> np.ndarray:
    """The source render's own image (H, W, 4), passed through when the op fails: the Combined of
    the EXR the helper saved; else (no OpenEXR in Blender's Python) the render saved again as a
    single-layer EXR and read with Blender's own image I/O; black only when there is no render."""
    try:
        ps = nops.read_exr(last_input[helper.name])
        return np.concatenate([ps.color, ps.alpha if ps.alpha is not None else np.ones((h, w, 1), np.float32)], axis=2)
    except Exception:  # noqa: BLE001 (not saved, or not readable without OpenEXR: try Blender's reader)
        pass
    if src is not None:
        try:
            rgba = _render_through_blender(src, helper)
            if rgba.shape[:2] == (h, w):
                return rgba
        except Exception as e:  # noqa: BLE001 (nothing readable: black, said in the console)
            print(f"neural-render: could not pass the source render through: {e}")
    return np.zeros((h, w, 4), np.float32)


def _render_through_blender(src, helper) -> np.ndarray:
    """``src``'s render result (Combined, RGBA, top row first), read without OpenEXR: saved as a
    single-layer float EXR and loaded as a Blender image (multilayer images show no pixels)."""
    img = bpy.data.images.get("Render Result")
    if img is None:
        raise RuntimeError("no render result")
    path = Path(bpy.app.tempdir or "/tmp") / "neural_helper" / f"{bpy.path.clean_name(helper.name)}_{os.getpid()}_rgba.exr"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _image_settings(src, media_type="IMAGE", file_format="OPEN_EXR", color_depth="32", exr_codec="ZIP"):
        img.save_render(str(path), scene=src)
    loaded = bpy.data.images.load(str(path))
    try:
        w, h = loaded.size
        px = np.empty(w * h * 4, np.float32)
        loaded.pixels.foreach_get(px)
    finally:
        bpy.data.images.remove(loaded)
        path.unlink(missing_ok=True)
    return px.reshape(h, w, 4)[::-1].copy()


def save_source_result(src, helper) -> str:
    """Write ``src``'s render result (all passes) to a float multilayer EXR; its path."""
    last_input.pop(helper.name, None)
    img = bpy.data.images.get("Render Result")
    if img is None:
        raise RuntimeError("no render result to read (render the scene, not the helper scene)")
    folder = Path(bpy.app.tempdir or "/tmp") / "neural_helper"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / f"{bpy.path.clean_name(helper.name)}_{os.getpid()}.exr")
    with _image_settings(src, media_type="MULTI_LAYER_IMAGE", color_depth="32", exr_codec="ZIP"):
        # The scene argument chooses whose render result is saved: the source scene's, which
        # Blender has finished before it renders the helper scene.
        img.save_render(path, scene=src)
    last_input[helper.name] = path
    return path


@contextlib.contextmanager
def _image_settings(scene, **values):
    """Set ``scene``'s output image settings for one save; restore them after."""
    ims = scene.render.image_settings
    # Restored in this order: media_type first, since setting it resets file_format.
    saved = {k: getattr(ims, k) for k in ("media_type", "file_format", "color_depth", "exr_codec")}
    try:
        for k, v in values.items():
            setattr(ims, k, v)
        yield
    finally:
        for k, v in saved.items():
            try:
                setattr(ims, k, v)
            except (TypeError, AttributeError):
                pass


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
        src, feature = source_of(helper), feature_of(helper)
        if src is not None and feature is not None and feature.settings(src).enabled:
            sync(helper, src)


_engines: list[type] = []


def register():
    for feature in FEATURES.values():
        cls = feature.engine_class()
        bpy.utils.register_class(cls)
        _engines.append(cls)
    if _on_render_pre not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(_on_render_pre)


def disable_everywhere() -> None:
    """Turn every helper feature off in every scene (the add-on is being disabled): their helper
    scenes, Render Layers and feature nodes go, and what fed each node feeds its targets again.
    Left in place they would render black: the helper engine and the node class are gone."""
    for scene in list(bpy.data.scenes):
        if scene.get(SOURCE_KEY):
            continue
        for feature in FEATURES.values():
            try:
                settings = feature.settings(scene)
                if settings.enabled:
                    settings.enabled = False  # its update removes the helper scene and nodes
                feature.disable(scene)  # a helper left from an older version, with the setting off
            except Exception as e:  # noqa: BLE001 (disabling must go on)
                print(f"neural-render: could not remove {feature.label} from scene '{scene.name}': {e}")


def unregister():
    try:
        disable_everywhere()
    except AttributeError:  # bpy.data not available (Blender quitting, restricted context)
        pass
    if _on_render_pre in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.remove(_on_render_pre)
    while _engines:
        bpy.utils.unregister_class(_engines.pop())
