"""Headless entry points (the ``neural-render`` CLI and ``blender -b -P`` scripts)."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..shim import nops
from . import export


def open_blend(path: str | Path) -> bpy.types.Scene:
    """Open a .blend and return its active scene; a one-line error if it cannot be opened."""
    path = Path(path)
    if not path.is_file():
        raise nops.NeuralRenderError(f"{path}: no such .blend file")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path.resolve()), load_ui=False)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else "unknown error"
        raise nops.NeuralRenderError(f"{path}: cannot open .blend ({first})") from None
    return bpy.context.scene


ENGINES = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}


def export_blend(blend, directory, spp=4, frames=(), cameras=(), half=True, overwrite=False, seed=None,
                 engine="cycles", cycles_denoised=False):
    """Open ``blend`` and export its views; see :class:`export.ExportConfig`."""
    scene = open_blend(blend)
    cams = list(cameras)
    if cams == ["marked"]:
        cams = [o.name for o in scene.objects if o.type == "CAMERA" and _marked(o.data)]
        if not cams:
            raise export.ExportError(f"{blend}: no camera is marked for export")
    cfg = export.ExportConfig(directory=str(Path(directory).resolve()), spp=spp, frames=list(frames),
                              cameras=cams, half=half, overwrite=overwrite, seed=seed, engine=ENGINES[engine],
                              cycles_denoised=cycles_denoised)
    return export.export_views(scene, cfg, progress=_progress)


def check_frames(scene, frames, blend) -> None:
    """Frames outside the scene's frame range are an error (Render 1 in N synthesises the
    animation between its key frames: outside it there is nothing to render)."""
    outside = [f for f in frames if not scene.frame_start <= f <= scene.frame_end]
    if outside:
        raise export.ExportError(f"{blend}: frame(s) {outside[0]}{'...' if len(outside) > 1 else ''} outside the "
                                 f"scene's frame range {scene.frame_start}-{scene.frame_end}")


def _progress(i, n, view):
    print(f"[{i + 1}/{n}] rendering {view.path.name} (camera {view.camera}, frame {view.frame})", flush=True)


def _marked(cam) -> bool:
    """Marked for export, whether or not the add-on is registered in this process."""
    pg = getattr(cam, "neural_render", None)
    if pg is not None:
        return bool(pg.export)
    raw = cam.get("neural_render")
    return bool(raw and raw.get("export"))
