"""Settings, one PropertyGroup per op, turned into plain dicts for ``neural_ops`` calls."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .core import nops


def _method_items():
    return tuple((s.name, s.label, s.description) for s in nops.list_ops("denoise"))


def _refresh(self=None, context=None):
    # A plain function, not a lambda: Blender evaluates the (postponed) annotations in its own
    # namespace, where a lambda's global look-ups would fail.
    from .nodes import refresh_render_passes

    refresh_render_passes()


# Kept at module level: Blender needs enum items to stay alive.
_DENOISE_ITEMS = _method_items()


class NEURAL_PG_denoise(bpy.types.PropertyGroup):
    """Denoiser settings, used by the render pass, the compositor node and the operators."""

    enabled: BoolProperty(
        name="Neural Denoised Pass",
        description="Run the denoiser after each Cycles render and add a 'Neural Denoised' render pass",
        default=False,
        update=_refresh,
    )
    method: EnumProperty(name="Method", description="Denoising method", items=_DENOISE_ITEMS, default="neural")
    oidn_quality: EnumProperty(
        name="Quality",
        description="OIDN quality preset",
        items=(("high", "High", "Best quality"), ("balanced", "Balanced", ""), ("fast", "Fast", "")),
        default="high",
    )
    radius: IntProperty(name="Radius", description="Cross-bilateral window half-size in pixels", default=6, min=1, max=32)
    sigma_color: FloatProperty(
        name="Colour Sigma", description="Cross-bilateral colour tolerance (log space)", default=0.6, min=0.01, max=10.0
    )
    despike: BoolProperty(name="Remove Spikes", description="Remove fireflies before filtering", default=True)
    model_weights: StringProperty(
        name="Weights",
        description="A .safetensors file you trained or fine-tuned (its .json card beside it); empty: the shipped model",
        subtype="FILE_PATH",
        default="",
    )
    per_aov: BoolProperty(
        name="Per Light Component",
        description="Denoise diffuse light, glossy light and the rest separately and add them up "
        "(needs the Diffuse and Glossy Direct/Indirect/Color passes; three times the time)",
        default=False,
    )
    temporal: BoolProperty(
        name="Temporal",
        description="Animations: blend each frame with the previous result reprojected by the Vector pass, "
        "to cut flicker (needs the Vector pass and no motion blur)",
        default=False,
    )
    tile: IntProperty(
        name="Tile Size",
        description="Learned denoiser tile side in pixels: bounds memory on big frames (0: whole frame at once)",
        default=1024, min=0, max=8192,
    )

    def draw(self, layout, method_text=None) -> None:
        """The method and its own settings (shared by the render panel and the node)."""
        layout.prop(self, "method", **({} if method_text is None else {"text": method_text}))
        if self.method == "oidn":
            layout.prop(self, "oidn_quality")
        elif self.method == "bilateral":
            layout.prop(self, "radius")
            layout.prop(self, "sigma_color")
            layout.prop(self, "despike")
        elif self.method == "neural":
            layout.prop(self, "model_weights")
            layout.prop(self, "tile")
            layout.prop(self, "per_aov")
        layout.prop(self, "temporal")

    def to_params(self) -> dict:
        """Only the parameters the chosen method takes."""
        if self.method == "oidn":
            return {"quality": self.oidn_quality}
        if self.method == "bilateral":
            return {"radius": self.radius, "sigma_color": self.sigma_color, "despike": self.despike}
        if self.method == "neural":
            return {"weights": bpy.path.abspath(self.model_weights) if self.model_weights else "",
                    "tile": self.tile if self.tile == 0 else max(64, self.tile), "per_aov": self.per_aov}
        return {}


def _helper_toggle(module: str):
    """The ``update`` of a helper-scene feature's ``enabled``: adds or removes its helper scene and nodes."""

    def update(self, context):
        import importlib

        feature = importlib.import_module(f"{__package__}.{module}")
        (feature.enable if self.enabled else feature.disable)(self.id_data)

    return update


class NEURAL_PG_photoreal(bpy.types.PropertyGroup):
    """CG2Real settings: EEVEE (or any raster) renders translated to the Cycles look."""

    enabled: BoolProperty(
        name="Neural Photoreal",
        description="Translate each render of this scene to the path-traced look: adds a helper scene, a second "
        "Render Layers node and a Neural Photoreal node to the compositor (F12, animations and batch renders)",
        default=False,
        update=_helper_toggle("photoreal"),
    )
    model_weights: StringProperty(
        name="Weights",
        description="A .safetensors generator you trained (its .json card beside it); empty: the shipped model",
        subtype="FILE_PATH",
        default="",
    )
    photo_albedo: BoolProperty(
        name="Photo Albedo",
        description="Also swap the rendered albedo for a photo-like one (the unpaired stage; needs its weights)",
        default=False,
    )
    albedo_weights: StringProperty(
        name="Albedo Weights",
        description="The unpaired stage's .safetensors; empty: the shipped one",
        subtype="FILE_PATH",
        default="",
    )
    tile: IntProperty(name="Tile Size", description="Tile side in pixels: bounds memory on big frames (0: whole frame)",
                      default=512, min=0, max=8192)

    def draw(self, layout) -> None:
        layout.prop(self, "model_weights")
        layout.prop(self, "photo_albedo")
        if self.photo_albedo:
            layout.prop(self, "albedo_weights")
        layout.prop(self, "tile")

    def to_params(self) -> dict:
        return {"weights": bpy.path.abspath(self.model_weights) if self.model_weights else "",
                "tile": self.tile if self.tile == 0 else max(64, self.tile), "photo_albedo": self.photo_albedo,
                "albedo_weights": bpy.path.abspath(self.albedo_weights) if self.albedo_weights else ""}


class NEURAL_PG_novel_view(bpy.types.PropertyGroup):
    """Novel views: the scene camera's view synthesised from a multiview folder (compositor output)."""

    enabled: BoolProperty(
        name="Neural Novel View",
        description="Synthesise each frame's camera view from the rendered views of a multiview folder: adds a "
        "helper scene, a second Render Layers node and a Neural Novel View node to the compositor",
        default=False,
        update=_helper_toggle("novel_view"),
    )
    folder: StringProperty(
        name="Views",
        description="Multiview folder (its transforms.json and one multilayer EXR with Depth per view), as "
        "Export Neural Passes, Render 1 in N or 'neural-render data multiview' write it",
        subtype="DIR_PATH",
        default="",
    )
    method: EnumProperty(
        name="Blending",
        items=(("auto", "Auto", "Learned blending when a model is shipped or given, else unstructured lumigraph"),
               ("learned", "Learned", "Learned blending (Deep Blending): fills what no view sees"),
               ("ulr", "Lumigraph", "Unstructured lumigraph rendering: pixels no view sees stay black")),
        default="auto",
    )
    use_render_geometry: BoolProperty(
        name="Use Render Geometry",
        description="When this scene's render has a Depth pass (a Workbench or EEVEE render is enough), warp the "
        "views through it: exact visibility (renderer-aware mode); else the geometry comes from the views' depth",
        default=True,
    )
    denoise_views: BoolProperty(name="Denoise Views", description="Put the views through OIDN before blending "
                                "(off when they were rendered with Blender's denoiser on)", default=True)
    sources: IntProperty(name="Nearest Views", description="Views considered per frame, the nearest to the camera "
                         "(0: all)", default=8, min=0, max=256)
    model_weights: StringProperty(name="Weights", description="A .safetensors blending model you trained; empty: "
                                  "the shipped one", subtype="FILE_PATH", default="")

    def draw(self, layout) -> None:
        layout.prop(self, "folder")
        layout.prop(self, "method")
        layout.prop(self, "use_render_geometry")
        layout.prop(self, "denoise_views")
        layout.prop(self, "sources")
        if self.method != "ulr":
            layout.prop(self, "model_weights")


def _relight_toggle(self, context=None):
    if self.enabled:
        from .relight import enable_passes

        enable_passes(self.id_data if isinstance(self.id_data, bpy.types.Scene) else None)
    _refresh()


class NEURAL_PG_relight(bpy.types.PropertyGroup):
    """Relighting settings: the target lighting and the method (render pass, node, operators)."""

    enabled: BoolProperty(
        name="Neural Relit Pass",
        description="After each Cycles render, relight the frame under the target lighting and add a 'Neural Relit' "
        "render pass (enables the Position, Normal, Diffuse/Glossy Color and Z passes it reads)",
        default=False,
        update=_relight_toggle,
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
    model_weights: StringProperty(name="Weights", description="A .safetensors model you trained; empty: the shipped one",
                                  subtype="FILE_PATH", default="")
    tile: IntProperty(name="Tile Size", description="Tile side in pixels (0: whole frame)", default=512, min=0, max=8192)

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
        """Parameters of the relight op for frames of ``scene`` (whose own lighting is the source)."""
        import json
        import math

        from .relight import scene_lighting

        p = {}
        if self.target == "SCENE":
            if self.scene is None:
                raise nops.OpError("Neural Relight: choose the scene whose lighting to use")
            p["lighting"] = json.dumps(scene_lighting(self.scene))
        else:
            p.update(hdri=bpy.path.abspath(self.hdri) if ("/" in self.hdri or "\\" in self.hdri) else self.hdri,
                     rotation=math.degrees(self.rotation), strength=self.strength,
                     lights=bpy.path.abspath(self.lights_json) if self.lights_json else "")
        if self.method == "neural":
            p.update(weights=bpy.path.abspath(self.model_weights) if self.model_weights else "",
                     tile=self.tile if self.tile == 0 else max(64, self.tile), use_source=self.use_source)
            if self.use_source:
                try:
                    p["source_lighting"] = json.dumps(scene_lighting(scene))
                except nops.OpError:
                    p["use_source"] = False  # a world we cannot describe: relight from the G-buffer alone
        return p


class NEURAL_PG_export(bpy.types.PropertyGroup):
    """What "Export Neural Passes" renders and where it writes."""

    directory: StringProperty(
        name="Output Folder", description="Folder for the EXR + JSON pass sets", subtype="DIR_PATH", default="//neural_passes/"
    )
    spp: IntProperty(name="Samples", description="Cycles samples per pixel for the exported views", default=4, min=1, max=65536)
    views: EnumProperty(
        name="Views",
        description="Which views to render",
        items=(
            ("ACTIVE", "Active Camera", "The scene camera at the current frame"),
            ("FRAMES", "Frame Range", "The scene camera over the frame range"),
            ("MARKED", "Marked Cameras", "Every camera marked for export, at the current frame"),
        ),
        default="ACTIVE",
    )
    frame_start: IntProperty(name="Start", default=1, min=0)
    frame_end: IntProperty(name="End", default=1, min=0)
    half: BoolProperty(name="Half Float", description="Store colour passes as float16 (data passes stay float32)", default=True)
    overwrite: BoolProperty(name="Overwrite", description="Replace existing files", default=False)


class NEURAL_PG_dataset(bpy.types.PropertyGroup):
    """What "Make Training Dataset" renders from the open scene (cameras and lights randomised)."""

    kind: EnumProperty(
        name="Kind",
        description="Dataset kind",
        items=(
            ("denoise", "Denoise", "Noisy renders at several spp and a high-spp reference"),
            ("cg2real", "CG2Real", "EEVEE and Workbench images with the Cycles image of the same camera"),
            ("relight", "Relight", "The same camera under several lightings, with their descriptions"),
            ("multiview", "Multi-view", "Views around the scene with transforms.json (nerfstudio)"),
        ),
        default="denoise",
    )
    directory: StringProperty(name="Output Folder", description="Dataset folder (run again to resume)",
                              subtype="DIR_PATH", default="//neural_dataset/")
    scenes: IntProperty(name="Samples", description="Number of samples, each with its own camera and lighting",
                        default=20, min=1, max=100000)
    seed: IntProperty(name="Seed", description="Dataset seed: the same seed gives the same samples", default=0, min=0)
    resolution: IntProperty(name="Resolution", description="Square image size in pixels", default=128, min=16, max=4096)
    spp: StringProperty(name="Input Samples", description="Noisy sample counts, comma separated", default="1,4,16")
    ref_spp: IntProperty(name="Reference Samples", description="Samples per pixel of the target renders",
                         default=256, min=1, max=65536)


class NEURAL_PG_camera(bpy.types.PropertyGroup):
    export: BoolProperty(name="Export Neural Passes", description="Render this camera in 'Marked Cameras' exports", default=False)


class NEURAL_PG_scene(bpy.types.PropertyGroup):
    denoise: PointerProperty(type=NEURAL_PG_denoise)
    photoreal: PointerProperty(type=NEURAL_PG_photoreal)
    novel_view: PointerProperty(type=NEURAL_PG_novel_view)
    relight: PointerProperty(type=NEURAL_PG_relight)
    export: PointerProperty(type=NEURAL_PG_export)
    dataset: PointerProperty(type=NEURAL_PG_dataset)


classes = (NEURAL_PG_denoise, NEURAL_PG_photoreal, NEURAL_PG_novel_view, NEURAL_PG_relight, NEURAL_PG_export, NEURAL_PG_dataset, NEURAL_PG_camera, NEURAL_PG_scene)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    bpy.types.Scene.neural_render = PointerProperty(type=NEURAL_PG_scene)
    bpy.types.Camera.neural_render = PointerProperty(type=NEURAL_PG_camera)


def unregister():
    del bpy.types.Camera.neural_render
    del bpy.types.Scene.neural_render
    _unregister()
