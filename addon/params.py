"""Add-on settings turned into the plain parameters of ``neural_ops`` calls, one function per op.

Each op's PropertyGroup (``to_params``) and operator call these; they read attributes only, so
they run without Blender on small stand-ins (``tests/unit/addon``). ``bpy`` is imported only
to resolve a ``//``-relative path, which only a saved .blend file has.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .blender.export import ExportConfig, ExportError
from .blender.lighting import scene_lighting
from .shim import nops, ops_module


def abspath(path: str) -> str:
    """A path setting made absolute: Blender's ``//`` means the .blend file's folder; "" stays ""."""
    if not path.startswith("//"):
        return path
    import bpy

    return bpy.path.abspath(path)


def input_file(path: str, what: str = "an EXR file") -> Path:
    """A file operator's input made absolute, with one clear line when it is empty, a folder or
    missing (instead of a traceback from deep inside the reader)."""
    if not path or not path.strip():
        raise nops.OpError(f"no file chosen: choose {what}")
    p = Path(abspath(path.strip()))
    if p.is_dir():
        raise nops.OpError(f"{p} is a folder: choose {what}")
    if not p.is_file():
        raise nops.OpError(f"{p}: no such file")
    return p


def file_job(path: str, suffix: str, overwrite: bool) -> tuple[Path, Path]:
    """(input, output) of a file operator: the chosen EXR (:func:`input_file`) and
    ``<name><suffix>.exr`` beside it, checked before the job starts (an earlier result is never
    replaced unless ``overwrite``; never the input or its sidecar)."""
    src = input_file(path)
    dst = src.with_name(f"{src.stem}{suffix}.exr")
    ops_module("core.outputs").check_outputs([dst], [src], overwrite)
    return src, dst


def tile(size: int) -> int:
    """A tile-size setting: 0 is the whole frame; anything else at least 64 pixels (the networks'
    receptive field needs context around each tile)."""
    return size if size == 0 else max(64, size)


def denoise_params(s) -> dict:
    """The parameters of the chosen denoise method (``s``: a ``NEURAL_PG_denoise``); only those
    the method takes."""
    if s.method == "oidn":
        return {"quality": s.oidn_quality}
    if s.method == "bilateral":
        return {"radius": s.radius, "sigma_color": s.sigma_color, "despike": s.despike}
    if s.method == "neural":
        return {"weights": abspath(s.model_weights), "tile": tile(s.tile), "per_aov": s.per_aov}
    return {}


def cg2real_params(s) -> dict:
    """The parameters of the ``cg2real`` op (``s``: a ``NEURAL_PG_photoreal``)."""
    return {"weights": abspath(s.model_weights), "tile": tile(s.tile), "photo_albedo": s.photo_albedo,
            "albedo_weights": abspath(s.albedo_weights)}


def relight_params(s, scene) -> dict:
    """The parameters of the relight op for frames of ``scene``, whose own lighting is the source
    (``s``: a ``NEURAL_PG_relight``).

    Target ``SCENE``: the other scene's world and lights as a lighting JSON; ``HDRI``: the file (a
    bare name is a bundled studio light), rotation in degrees, strength and an optional lights
    file. The neural method also gets ``scene``'s own lighting when ``use_source`` is on; a world
    that cannot be described turns ``use_source`` off rather than failing.
    """
    p = {}
    if s.target == "SCENE":
        if s.scene is None:
            raise nops.OpError("Neural Relight: choose the scene whose lighting to use")
        p["lighting"] = json.dumps(scene_lighting(s.scene))
    else:
        p.update(hdri=abspath(s.hdri) if ("/" in s.hdri or "\\" in s.hdri) else s.hdri,
                 rotation=math.degrees(s.rotation), strength=s.strength, lights=abspath(s.lights_json))
    if s.method == "neural":
        p.update(weights=abspath(s.model_weights), tile=tile(s.tile), use_source=s.use_source)
        if s.use_source:
            try:
                p["source_lighting"] = json.dumps(scene_lighting(scene))
            except nops.OpError:
                p["use_source"] = False  # a world we cannot describe: relight from the G-buffer alone
    return p


def export_config(s, scene) -> ExportConfig:
    """What "Export Neural Passes" renders (``s``: a ``NEURAL_PG_export``): the current frame, the
    frame range, or every camera marked for export (Camera properties > Neural Render)."""
    frames: list[int] = []
    cams: list[str] = []
    if s.views == "FRAMES":
        frames = list(range(s.frame_start, s.frame_end + 1))
    elif s.views == "MARKED":
        cams = [o.name for o in scene.objects if o.type == "CAMERA" and o.data.neural_render.export]
        if not cams:
            raise ExportError("no camera is marked for export (Camera properties > Neural Render)")
    return ExportConfig(directory=s.directory, spp=s.spp, frames=frames, cameras=cams, half=s.half,
                        overwrite=s.overwrite, cycles_denoised=s.cycles_denoised)


def dataset_args(s, blend: str, out: str) -> list[str]:
    """The ``neural-render data`` arguments that render the dataset ``s`` (a ``NEURAL_PG_dataset``)
    from the saved copy ``blend`` of the open file into ``out``."""
    return ["data", s.kind, "--from", blend, "--scenes", str(s.scenes), "--seed", str(s.seed),
            "--resolution", str(s.resolution), "--spp", s.spp, "--ref-spp", str(s.ref_spp), "-o", out]
