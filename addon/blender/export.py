"""Render views of a scene with every pass the ops need and write EXR + JSON sidecar per view.

Plain functions on bpy data, shared by the "Export Neural Passes" operator (one view per
timer tick in the GUI) and the headless ``neural-render export`` command. An export of several
views (frames or cameras) also writes ``transforms.json`` and a PNG per view, so the folder is a
multiview set Neural Novel View and nerfstudio-style tools read. Every render
setting we change is restored afterwards, so exporting never alters the user's scene. ``bpy``
is imported where a function renders or resolves a path, so the config and its errors load
without Blender (the add-on's unit tests build configs from stand-in settings).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..shim import nops, ops_module
from . import bridge

#: View-layer flags enabled for export (plus Cycles' denoising data passes).
VIEW_LAYER_PASSES = (
    "use_pass_combined", "use_pass_z", "use_pass_normal", "use_pass_position", "use_pass_vector",
    "use_pass_diffuse_color", "use_pass_diffuse_direct", "use_pass_diffuse_indirect",
    "use_pass_glossy_color", "use_pass_glossy_direct", "use_pass_glossy_indirect",
)


@dataclass
class ExportConfig:
    """What to render.

    Attributes:
        directory: output folder (created if missing).
        spp: Cycles samples per pixel.
        frames: frame numbers to render; empty means the current frame.
        cameras: camera object names; empty means the scene camera.
        half: store colour passes as float16 (data passes stay float32, as Blender does).
        overwrite: replace existing files instead of failing.
        seed: Cycles sampling seed (None keeps the scene's).
        engine: ``CYCLES`` (default), or ``BLENDER_EEVEE`` / ``BLENDER_WORKBENCH`` for raster
            renders (``spp`` then sets EEVEE's render samples).
        cycles_denoised: also store Cycles' own denoised image (OIDN, high quality, albedo and
            normal guides) as the pass ``Cycles Denoised``; ``Combined`` stays the noisy render.
            The learned denoiser refines that pass where pyoidn is missing (inside Blender).
        aux: an auxiliary render (Render 1 in N renders one of every frame): Cycles with no
            light bounces, for its data passes (albedo, normal, depth, ``Vector``, the colour
            passes); its light passes and ``Combined`` are direct light only.
    """

    directory: str
    spp: int = 4
    frames: list[int] = field(default_factory=list)
    cameras: list[str] = field(default_factory=list)
    half: bool = True
    overwrite: bool = False
    seed: int | None = None
    engine: str = "CYCLES"
    cycles_denoised: bool = False
    aux: bool = False


@dataclass
class View:
    camera: str
    frame: int
    path: Path


class ExportError(nops.NeuralRenderError):
    pass


def plan_views(scene, cfg: ExportConfig) -> list[View]:
    """Check the scene can be exported and list the views, failing before any render."""
    if not cfg.directory or not cfg.directory.strip():
        raise ExportError("no output folder chosen: choose the Output Folder to export to")
    cams = cfg.cameras or ([scene.camera.name] if scene.camera else [])
    if not cams:
        raise ExportError(f"scene '{scene.name}' has no camera: add one or set the scene camera")
    for c in cams:
        ob = scene.objects.get(c)
        if ob is None or ob.type != "CAMERA":
            raise ExportError(f"scene '{scene.name}' has no camera object named '{c}'")
    if not any(o.type not in ("CAMERA", "LIGHT", "EMPTY", "SPEAKER", "LIGHT_PROBE") and not o.hide_render
               for o in scene.objects):
        raise ExportError(f"scene '{scene.name}' has no visible objects: nothing to render")
    import bpy

    frames = cfg.frames or [scene.frame_current]
    out = Path(bpy.path.abspath(cfg.directory))
    views = []
    for cam in cams:
        for f in frames:
            stem = f"{_safe(cam)}_{f:04d}" if len(cams) > 1 or cfg.cameras else f"frame_{f:04d}"
            views.append(View(cam, f, out / f"{stem}.exr"))
    if not cfg.overwrite:
        sidecar_path = ops_module("core.exr").sidecar_path
        taken = [[p for p in (v.path, sidecar_path(v.path)) if p.exists() or p.is_symlink()] for v in views]
        exists = [t for t in taken if t]
        if exists:  # an EXR or its JSON sidecar
            raise ExportError(f"{exists[0][0]}: exists ({len(exists)} of {len(views)} outputs do; pass --overwrite to "
                              "replace them)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".neural-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ExportError(f"{out}: output folder is not writable ({e.strerror})") from None
    return views


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


@contextlib.contextmanager
def export_settings(scene, cfg: ExportConfig) -> Iterator[None]:
    """Switch the scene to Cycles, multilayer EXR and all passes; restore everything after."""
    saved: list[tuple[object, str, object]] = []

    def setv(obj, attr, value):
        saved.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    r = scene.render
    try:
        setv(r, "engine", cfg.engine)
        # Keep the synced scene (BVH, shaders) from one frame to the next: measured on an animated
        # 320x180 shot, a 1-spp auxiliary render took 0.27 s instead of 1.5 s, and its output
        # is bit-identical (animated objects and changed settings are synced again).
        setv(r, "use_persistent_data", True)
        setv(scene.cycles, "samples", cfg.spp)
        setv(scene.eevee, "taa_render_samples", cfg.spp)
        setv(scene.cycles, "use_adaptive_sampling", False)
        setv(scene.cycles, "use_denoising", denoised(cfg))
        if denoised(cfg):  # what the learned denoiser's ensemble was trained on: OIDN high with guides
            for attr, value in (("denoiser", "OPENIMAGEDENOISE"), ("denoising_input_passes", "RGB_ALBEDO_NORMAL"),
                                ("denoising_prefilter", "ACCURATE"), ("denoising_quality", "HIGH"),
                                ("denoising_use_gpu", False)):
                if hasattr(scene.cycles, attr):
                    setv(scene.cycles, attr, value)
        if cfg.aux:
            for attr in ("max_bounces", "diffuse_bounces", "glossy_bounces", "transmission_bounces",
                         "volume_bounces", "transparent_max_bounces"):
                setv(scene.cycles, attr, 0)
        if cfg.seed is not None:
            setv(scene.cycles, "seed", cfg.seed)
            setv(scene.cycles, "use_animated_seed", False)
        setv(r.image_settings, "media_type", "MULTI_LAYER_IMAGE")
        setv(r.image_settings, "file_format", "OPEN_EXR_MULTILAYER")
        setv(r.image_settings, "color_depth", "16" if cfg.half else "32")
        setv(r.image_settings, "exr_codec", "ZIP")
        setv(r, "use_file_extension", False)
        setv(r, "filepath", r.filepath)
        setv(scene, "camera", scene.camera)
        for vl in scene.view_layers:
            if not vl.use:
                continue
            for flag in VIEW_LAYER_PASSES:
                setv(vl, flag, True)
            setv(vl.cycles, "denoising_store_passes", True)
        yield
    finally:
        for obj, attr, value in reversed(saved):
            with contextlib.suppress(Exception):
                setattr(obj, attr, value)


def render_view(scene, view: View, cfg: ExportConfig, png: bool = False) -> Path:
    """Render one view to ``view.path`` (through a temporary name) and write its sidecar; with
    ``png``, also the display image as ``<name>.png`` (the ``file_path`` of ``transforms.json``)."""
    import bpy

    scene.camera = scene.objects[view.camera]
    scene.frame_set(view.frame)
    # A name the next export into this folder sweeps if this one is killed (core.outputs).
    tmp = view.path.with_name(f".{view.path.stem}{ops_module('core.outputs').PARTIAL_SUFFIX}")
    scene.render.filepath = str(tmp)
    try:
        result = bpy.ops.render.render(write_still=True, scene=scene.name)
        if "FINISHED" not in result or not tmp.is_file():
            raise ExportError(f"{view.path}: render did not produce a file (cancelled or failed)")
        if denoised(cfg):
            _split_denoised(tmp)
        tmp.replace(view.path)
    finally:
        tmp.unlink(missing_ok=True)
    if png:
        _save_png(scene, view.path.with_suffix(".png"))
    meta = {
        "scene": scene.name,
        "view_layer": scene.view_layers[0].name,
        "frame": view.frame,
        "spp": cfg.spp,
        "engine": cfg.engine,
        "seed": scene.cycles.seed,
        "normal_space": "world",
        "position_space": "world",
        "camera": bridge.camera_meta(scene, scene.camera),
        "blender": bpy.app.version_string,
        **({"aux": True} if cfg.aux else {}),
    }
    ops_module("core.exr").write_sidecar(meta, ops_module("core.exr").sidecar_path(view.path), overwrite=True)
    return view.path


def denoised(cfg: ExportConfig) -> bool:
    """Whether the export keeps Cycles' denoised image (Cycles renders only)."""
    return cfg.cycles_denoised and cfg.engine == "CYCLES"


def _split_denoised(path: Path) -> None:
    """Rewrite a render made with Cycles' denoiser on so ``Combined`` is the noisy image again
    (what every op reads) and Cycles' result is the pass ``Cycles Denoised`` right after it;
    ``Noisy Image`` goes (it equals ``Combined`` now). Pixels and precision are kept exactly."""
    passset = ops_module("core.passset")
    ps = nops.read_exr(path, sidecar=False)
    if passset.NOISY_PASS not in ps:
        raise ExportError(f"{path.name}: Cycles' denoiser left no '{passset.NOISY_PASS}' pass (Denoising Data off?)")
    nops.write_exr(passset.noisy_combined(ps), path, overwrite=True, sidecar=False)


def _save_png(scene, path: Path) -> None:
    """The render just made, as an 8-bit PNG through the scene's view transform (Blender's own
    image writer: no OpenEXR or PIL needed), for tools that open ``file_path`` as an image."""
    import bpy

    ims = scene.render.image_settings
    # media_type first when restoring: setting it resets file_format.
    saved = {k: getattr(ims, k) for k in ("media_type", "file_format", "color_depth", "color_mode")}
    try:
        ims.media_type, ims.file_format, ims.color_depth, ims.color_mode = "IMAGE", "PNG", "8", "RGBA"
        bpy.data.images["Render Result"].save_render(str(path), scene=scene)
    finally:
        for k, v in saved.items():
            with contextlib.suppress(Exception):
                setattr(ims, k, v)


def export_views(scene, cfg: ExportConfig, progress=None) -> list[Path]:
    """Synchronous export of every planned view (background mode and the CLI); several views
    also get ``transforms.json`` (:func:`write_transforms`)."""
    views = plan_views(scene, cfg)
    written = []
    with export_settings(scene, cfg):
        for i, v in enumerate(views):
            if progress:
                progress(i, len(views), v)
            written.append(render_view(scene, v, cfg, png=multiview(views)))
    write_manifest(cfg, views)
    if multiview(views):
        write_transforms(cfg, views)
    return written


def multiview(views: list[View]) -> bool:
    """Whether an export is a multi-view set (several frames or cameras): it gets ``transforms.json``."""
    return len(views) > 1


def transforms_frame(meta: dict, exr_name: str) -> dict:
    """One frame of ``transforms.json`` from a view's sidecar metadata: the nerfstudio pose
    (``transform_matrix`` is Blender's camera-to-world ``matrix_world`` as is: both look down -Z
    with +Y up) and pinhole intrinsics in pixels from Blender's view-plane rules."""
    camera = ops_module("core.cameras").Camera.from_sidecar(meta)
    stem = Path(exr_name).stem
    return {
        "file_path": f"{stem}.png",
        "exr_file_path": exr_name,
        "transform_matrix": [[float(x) for x in row] for row in camera.c2w],
        "fl_x": camera.fx, "fl_y": camera.fy, "cx": camera.cx, "cy": camera.cy, "w": camera.w, "h": camera.h,
        "camera": meta.get("camera", {}).get("name", ""),
        "frame": meta.get("frame"),
    }


def write_transforms(cfg: ExportConfig, views: list[View]) -> Path:
    """``transforms.json`` beside the EXRs, in the nerfstudio convention the multiview datasets
    use (``training.datagen.multiview``; read by :func:`neural_ops.core.cameras.transforms_frames`
    and so by Neural Novel View): per frame the pose, the intrinsics, the PNG (``file_path``) and
    the multilayer EXR with every pass (``exr_file_path``). The top-level intrinsics are the
    first view's (frames carry their own, as cameras may differ). Frames of earlier exports into
    the same folder stay listed unless ``overwrite``, as in :func:`write_manifest`."""
    import bpy

    path = Path(bpy.path.abspath(cfg.directory)) / "transforms.json"
    read_sidecar = ops_module("core.exr").read_sidecar
    sidecar_path = ops_module("core.exr").sidecar_path
    new = [transforms_frame(read_sidecar(sidecar_path(v.path)), v.path.name) for v in views]
    old = _listed(path, "frames", cfg.overwrite)
    names = {f["exr_file_path"] for f in new}
    frames = [f for f in old if f.get("exr_file_path") not in names] + new
    first = new[0]
    data = {"camera_angle_x": 2 * math.atan(0.5 * first["w"] / first["fl_x"]),
            **{k: first[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")},
            "camera_model": "OPENCV", "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}
    return _write_json(path, data, indent=1)


def write_manifest(cfg: ExportConfig, views: list[View]) -> Path:
    """``export.json``: spp and the view list, so batch tools can find every file.

    An existing manifest in the folder is extended, not replaced (unless ``overwrite``): views
    exported earlier into the same folder stay listed.
    """
    import bpy

    path = Path(bpy.path.abspath(cfg.directory)) / "export.json"
    new = [{"camera": v.camera, "frame": v.frame, "file": v.path.name, "spp": cfg.spp} for v in views]
    old = _listed(path, "views", cfg.overwrite)
    names = {v["file"] for v in new}
    data = {"spp": cfg.spp, "engine": cfg.engine, "views": [v for v in old if v.get("file") not in names] + new}
    _write_json(path, data, indent=2)
    return path


def _listed(path: Path, key: str, overwrite: bool) -> list:
    """The entries under ``key`` of an existing JSON list file, kept unless ``overwrite`` (or unreadable)."""
    if overwrite or not path.exists():
        return []
    try:
        return list(json.loads(path.read_text()).get(key, []))
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def _write_json(path: Path, data: dict, indent: int) -> Path:
    """Write JSON under a temporary name, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=indent) + "\n")
    tmp.replace(path)
    return path
