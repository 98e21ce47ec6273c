"""Neural Novel View: the scene camera's view synthesised from a multiview folder, as a
compositor output (a helper scene, :mod:`.helper_scene`).

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

from . import bridge, helper_scene
from .core import nops

ENGINE_ID = "NEURAL_NOVEL_VIEW"
LABEL = "Neural Novel View"

#: (folder, transforms.json mtime, denoised) -> views, for the folder last used.
_views_cache: dict[tuple[str, float, bool], list] = {}
#: How the last frame was made (scene name -> summary), for tests and the console.
last_info: dict[str, dict] = {}


def views_folder(path: str) -> Path:
    """The multiview folder a setting names (the folder or its ``transforms.json``)."""
    if not path:
        raise nops.OpError(f"{LABEL}: choose the folder of rendered views (Views)")
    p = Path(bpy.path.abspath(path))
    if p.name == "transforms.json":
        p = p.parent
    if not (p / "transforms.json").exists():
        raise nops.OpError(f"{LABEL}: {p} has no transforms.json (export views with Export Neural Passes, "
                           "Render 1 in N or 'neural-render data multiview')")
    return p


def load_views(folder: Path, denoise: bool) -> list:
    from neural_ops.ibr.views import load_scene

    key = (str(folder), (folder / "transforms.json").stat().st_mtime, denoise)
    if key not in _views_cache:
        _views_cache.clear()
        _views_cache[key] = load_scene(folder, denoise)
    return _views_cache[key]


def render_geometry(src, helper) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The scene render's own depth and normal, or (None, None) when it has no Depth pass."""
    from neural_ops.ibr.cameras import clean_depth

    ps = nops.read_exr(helper_scene.save_source_result(src, helper))
    if "Depth" not in ps:
        return None, None
    normal = ps.get("Normal")[..., :3].astype(np.float32) if "Normal" in ps else None
    return clean_depth(ps.get("Depth")), normal


def synthesise_frame(src, helper, engine=None) -> np.ndarray:
    """The view of ``src``'s camera at its current frame, (H, W, 4): alpha is 1 where a view
    saw the point or the learned model filled it, 0 where ULR left a hole."""
    from neural_ops.ibr.cameras import Camera
    from neural_ops.ibr.novel import blending_model, nearest_views, synthesise

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
    weights = bpy.path.abspath(s.model_weights) if s.model_weights else ""
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
    label=LABEL, engine_id=ENGINE_ID, node_idname="NeuralNovelViewNode", input_name="Novel View",
    settings=lambda scene: scene.neural_render.novel_view, process=synthesise_frame, layer_passes=("use_pass_z",)))
helper_name = FEATURE.helper_name
enable = FEATURE.enable
disable = FEATURE.disable
