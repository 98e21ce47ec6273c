"""Rendered views for image-based rendering: a multilayer EXR per view, with its camera from
``transforms.json`` or the EXR's JSON sidecar, its colour, depth and normal, and Cycles' diffuse
and glossy light when the EXR has those passes (the view-independent / view-dependent split)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.cameras import Camera, clean_depth, transforms_frames
from ..core.errors import PassSetError
from ..core.exr import read_exr
from ..core.passset import CYCLES_DENOISED, NOISY_PASS
from .features import SourceView


@dataclass
class ViewData:
    """One rendered view: camera, colour (H, W, 3) linear, planar depth (H, W) (0 = miss), world
    normal (H, W, 3), and the diffuse / glossy light (H, W, 3) when the EXR has their passes."""

    camera: Camera
    color: np.ndarray
    depth: np.ndarray
    normal: np.ndarray | None = None
    diffuse: np.ndarray | None = None
    glossy: np.ndarray | None = None

    def source(self) -> SourceView:
        return SourceView(self.camera, self.color, self.depth, self.diffuse, self.glossy)


def _light(ps, kind: str) -> np.ndarray | None:
    """``Kind Color * (Kind Direct + Kind Indirect)`` (H, W, 3), or None without those passes."""
    names = [f"{kind} Color", f"{kind} Direct", f"{kind} Indirect"]
    if not all(n in ps for n in names):
        return None
    c, d, i = (ps.get(n)[..., :3] for n in names)
    return (c * (d + i)).astype(np.float32)


def read_view(path: Path, camera: Camera | None = None, denoise: bool = False) -> ViewData:
    """A view from a multilayer EXR (``Combined`` and ``Depth`` required; ``Normal`` and the
    diffuse/glossy passes used when present). ``camera`` None: from the EXR's JSON sidecar.
    ``denoise``: colour and light components through OIDN (:func:`view_from_passes`)."""
    return view_from_passes(read_exr(path), camera, denoise)


def view_from_passes(ps, camera: Camera | None = None, denoise: bool = False) -> ViewData:
    """:func:`read_view` of a pass set already in memory.

    ``denoise``: the colour, and the diffuse and glossy light when present, each through OIDN
    guided by the view's albedo and normal (as ``inbetween`` treats its rendered key frames and
    as a finished render would be). A view that holds Cycles' own denoised image (``Cycles
    Denoised``, or ``Combined`` beside ``Noisy Image``) uses that colour as it is; otherwise,
    without pyoidn, the views are used as rendered, with a note.
    """
    path = ps.source
    ps.validate(("Combined", "Depth"))
    if camera is None:
        if not ps.meta.get("camera"):
            raise PassSetError(f"{path}: no camera in its JSON sidecar and no transforms.json entry")
        camera = Camera.from_sidecar(ps.meta)
    if ps.shape != (camera.h, camera.w):
        raise PassSetError(f"{path} is {ps.shape[1]}x{ps.shape[0]}, its camera says {camera.w}x{camera.h}")
    normal = None
    for name in ("Normal", "Denoising Normal"):  # Cycles writes both in world space
        if name in ps:
            normal = ps.get(name)[..., :3].astype(np.float32)
            break
    color, diffuse, glossy = ps.color[..., :3].astype(np.float32), _light(ps, "Diffuse"), _light(ps, "Glossy")
    if denoise and CYCLES_DENOISED in ps:
        color = ps.get(CYCLES_DENOISED)[..., :3].astype(np.float32)  # exported with Cycles' denoiser on
    elif denoise and NOISY_PASS in ps:
        pass  # rendered with Cycles' own denoiser: Combined is denoised already
    elif denoise:
        from ..core.notes import note
        from ..core.oidn import oidn_denoise, oidn_unavailable

        missing = oidn_unavailable()
        if missing:
            note(f"{Path(path).parent}: the views are used as rendered, not denoised ({missing}); "
                 "render them with Cycles' denoiser on")
        else:
            color = oidn_denoise(ps)
            diffuse, glossy = (None if x is None else oidn_denoise(ps, color=x) for x in (diffuse, glossy))
    return ViewData(camera, color, clean_depth(ps.get("Depth")), normal, diffuse, glossy)


def load_scene(folder: Path, denoise: bool = False) -> list[ViewData]:
    """Every view of a multiview sample, in ``transforms.json`` frame order (without that file:
    the ``r_*.exr`` files in name order, cameras from their sidecars); ``denoise`` as for
    :func:`view_from_passes`."""
    folder = Path(folder)
    if (folder / "transforms.json").exists():
        views = [read_view(exr, cam, denoise) for cam, exr in transforms_frames(folder)]
    else:
        views = [read_view(p, None, denoise) for p in sorted(folder.glob("r_*.exr"))]
    if len(views) < 2:
        raise PassSetError(f"{folder}: {len(views)} view(s); learned blending needs a target and a source")
    return views
