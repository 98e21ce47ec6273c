"""Novel views in Blender: the settings, the Neural Novel View node (the scene camera's view
synthesised from a multiview folder, through a helper scene, :mod:`.engine.helper_scene`) and
the Render 1 in N operator (its orchestration is headless: :mod:`.blender.inbetween`).

For each frame the helper engine takes the scene camera (pose and intrinsics at that frame),
picks the folder's nearest rendered views, and blends them through their depth, with the same
code as ``neural-render novel-view``. When the scene's own render has a Depth pass (a Workbench
or EEVEE render of the frame costs far less than a Cycles one), the views are warped through
that geometry instead of depth splatted from the views (renderer-aware mode: exact visibility).
The views of a folder are read once and kept while the folder is unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import jobs, params, properties
from .blender import bridge, inbetween
from .engine import helper_scene, nodes
from .shim import nops, ops_module

ENGINE_ID = "NEURAL_NOVEL_VIEW"
LABEL = "Neural Novel View"
GROUP = ".Neural Novel View"

#: (folder, transforms.json mtime, denoised) -> views, for the folder last used.
_views_cache: dict[tuple[str, float, bool], list] = {}
#: How the last frame was made (scene name -> summary), for tests and the console.
last_info: dict[str, dict] = {}


def _toggle(self, context):
    """Adds or removes the helper scene and nodes."""
    (enable if self.enabled else disable)(self.id_data)


class NEURAL_PG_novel_view(bpy.types.PropertyGroup):
    """Novel views: the scene camera's view synthesised from a multiview folder (compositor output)."""

    enabled: BoolProperty(
        name="Neural Novel View",
        description="Synthesise each frame's camera view from the rendered views of a multiview folder: adds a "
        "helper scene, a second Render Layers node and a Neural Novel View node to the compositor",
        default=False,
        update=_toggle,
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
    model_weights: properties.weights_file("blending model")

    def draw(self, layout) -> None:
        layout.prop(self, "folder")
        layout.prop(self, "method")
        layout.prop(self, "use_render_geometry")
        layout.prop(self, "denoise_views")
        layout.prop(self, "sources")
        if self.method != "ulr":
            layout.prop(self, "model_weights")


@nodes.menu_node
class NeuralNovelViewNode(nodes.HelperFeatureNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Novel View: the scene's own render and the camera's view synthesised from a
    multiview folder by the helper scene."""

    bl_idname = "NeuralNovelViewNode"
    bl_label = "Neural Novel View"
    bl_icon = "VIEW_CAMERA"
    group, second, setting = GROUP, "Novel View", "novel_view"


def views_folder(path: str) -> Path:
    """The multiview folder a setting names (the folder or its ``transforms.json``)."""
    if not path:
        raise nops.OpError(f"{LABEL}: choose the folder of rendered views (Views)")
    p = Path(params.abspath(path))
    if p.name == "transforms.json":
        p = p.parent
    if not (p / "transforms.json").exists():
        raise nops.OpError(f"{LABEL}: {p} has no transforms.json (export views with Export Neural Passes, "
                           "Render 1 in N or 'neural-render data multiview')")
    return p


def load_views(folder: Path, denoise: bool) -> list:
    load_scene = ops_module("novel_view.views").load_scene

    key = (str(folder), (folder / "transforms.json").stat().st_mtime, denoise)
    if key not in _views_cache:
        _views_cache.clear()
        _views_cache[key] = load_scene(folder, denoise)
    return _views_cache[key]


def render_geometry(src, helper) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The scene render's own depth and normal, or (None, None) when it has no Depth pass."""
    clean_depth = ops_module("core.cameras").clean_depth

    ps = nops.read_exr(helper_scene.save_source_result(src, helper))
    if "Depth" not in ps:
        return None, None
    normal = ps.get("Normal")[..., :3].astype(np.float32) if "Normal" in ps else None
    return clean_depth(ps.get("Depth")), normal


def synthesise_frame(src, helper, engine=None) -> np.ndarray:
    """The view of ``src``'s camera at its current frame, (H, W, 4): alpha is 1 where a view
    saw the point or the learned model filled it, 0 where ULR left a hole."""
    Camera = ops_module("core.cameras").Camera
    blending_model = ops_module("novel_view.synthesis").blending_model
    nearest_views = ops_module("novel_view.synthesis").nearest_views
    synthesise = ops_module("novel_view.synthesis").synthesise

    s = src.neural_render.novel_view
    if src.camera is None:
        raise nops.OpError(f"{LABEL}: the scene has no camera")
    if engine is not None:
        engine.update_stats("", LABEL)
    t = time.perf_counter()
    folder = views_folder(s.folder)
    views = load_views(folder, s.denoise_views)
    camera = Camera.from_sidecar({"camera": bridge.camera_meta(src)})
    depth = normal = None
    if s.use_render_geometry:
        depth, normal = render_geometry(src, helper)
    else:
        helper_scene.last_input.pop(helper.name, None)
        if depth is not None and depth.shape != (camera.h, camera.w):
            depth = normal = None  # a border render or another size: splat instead
    weights = params.abspath(s.model_weights)
    net = blending_model(s.method, weights, log=lambda m: print(f"neural-render: {m}"))
    near = nearest_views(views, camera, s.sources)
    view = synthesise(near, f"frame_{src.frame_current:04d}", camera, net, target_depth=depth, target_normal=normal)
    alpha = np.ones(view.seen.shape, np.float32) if net is not None else view.seen.astype(np.float32)
    info = {"folder": str(folder), "views": len(near), "learned": net is not None,
            "render_geometry": depth is not None, "seen": float(view.seen.mean()), "seconds": time.perf_counter() - t}
    last_info[src.name] = info
    print(f"neural-render: {LABEL} frame {src.frame_current} from {len(near)} views "
          f"({'learned' if net is not None else 'ULR'}, {'render' if depth is not None else 'splatted'} geometry, "
          f"{100 * info['seen']:.0f} % seen) in {info['seconds']:.2f} s")
    return np.concatenate([view.image, alpha[..., None]], axis=2).astype(np.float32)


FEATURE = helper_scene.add_feature(helper_scene.HelperFeature(
    label=LABEL, engine_id=ENGINE_ID, node_idname=NeuralNovelViewNode.bl_idname, input_name="Novel View",
    settings=lambda scene: scene.neural_render.novel_view, process=synthesise_frame, layer_passes=("use_pass_z",)))
helper_name = FEATURE.helper_name
enable = FEATURE.enable
disable = FEATURE.disable


class NEURAL_OT_render_inbetween(jobs.JobOperator, bpy.types.Operator):
    """Render every N-th frame of the scene's frame range with Cycles and synthesise the frames
    between from them through their depth (1 in N); running it again resumes"""

    bl_idname = "neural.render_inbetween"
    bl_label = "Render 1 in N"

    every: IntProperty(name="Every", description="Render one frame in this many", default=4, min=1)
    spp: IntProperty(name="Samples", description="Cycles samples of the rendered frames", default=64, min=1)
    directory: StringProperty(name="Output", subtype="DIR_PATH", default="//inbetween/")
    geometry: BoolProperty(name="Exact Geometry", description="Render each synthesised frame's depth with "
                           "Workbench (a fraction of a second) and warp through it: exact visibility", default=True)
    method: EnumProperty(
        name="Method",
        items=(("auto", "Warp Through Depth", "Warp the rendered frames through their depth and blend them "
                "(camera moves; learned blending when a model is shipped)"),
               ("motion", "Follow Motion", "Also render every frame cheaply (data passes only) and carry the "
                "rendered frames along its motion: animated objects, every pass, a Confidence pass")),
        default="auto",
    )
    blend: EnumProperty(
        name="Blend",
        items=(("auto", "Learned", "(Follow Motion) mix the two rendered frames carried to a frame by the shipped "
                "learned key blend: per-pixel weights and a direct-light gain from the frame's own data render "
                "(linear when no model is shipped)"),
               ("linear", "Linear", "(Follow Motion) mix them by closeness in time")),
        default="auto",
    )
    use_quality: BoolProperty(name="Quality Target", description="(Follow Motion) re-render the tiles expected to "
                              "miss Max FLIP most until each frame is expected to meet it", default=False)
    max_flip: FloatProperty(name="Max FLIP", description="(Follow Motion) the mean FLIP error a synthesised frame "
                            "is expected to have at most: the tiles expected to miss it most are re-rendered; 0 "
                            "renders every frame",
                            default=0.05, min=0.0, max=1.0, precision=3)

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context):
        scene = context.scene
        cfg = inbetween.InbetweenConfig(directory=self.directory, first=scene.frame_start, last=scene.frame_end,
                                        every=self.every, spp=self.spp, geometry=self.geometry, method=self.method,
                                        blend=self.blend if self.method == "motion" else "auto",
                                        max_flip=self.max_flip if self.use_quality and self.method == "motion" else None)
        out = params.abspath(self.directory)

        def frames(progress):
            frame = scene.frame_current
            progress.set(0, cfg.last - cfg.first + 1, "starting")
            try:  # closing this generator (Esc) closes the inner one at its yield: settings restored
                s = yield from jobs.follow(inbetween.steps(scene, cfg, log=print), progress)
            finally:
                scene.frame_set(frame)
            return (f"{s['frames']} frames in {out}: {s['rendered']} rendered, {s['synthesised']} synthesised, "
                    f"about {s['speedup_estimate']:.1f}x faster than rendering all")

        return self.run_job(context, jobs.Job(
            "Render 1 in N", steps=frames,
            cancelled="Render 1 in N cancelled after {done} of {total} frames; run it again to resume"))


classes = (NEURAL_PG_novel_view, NeuralNovelViewNode, NEURAL_OT_render_inbetween)
register, unregister = bpy.utils.register_classes_factory(classes)
