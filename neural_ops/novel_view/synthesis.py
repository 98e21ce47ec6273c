"""Novel views from a multi-view folder: the cameras to render, and rendering them.

A folder is what ``neural-render data multiview`` or ``export`` writes: ``transforms.json``
(nerfstudio convention) with a multilayer EXR per view. Target cameras come from another
``transforms.json`` (its frames need only ``transform_matrix``; intrinsics default to the
source folder's) or from one camera given as JSON. Each target's geometry is splatted from the
sources' depth; then the views are blended by a learned blending model
(:mod:`neural_ops.novel_view.network`) when one is given or shipped, else by unstructured lumigraph
rendering. The learned model runs in ONNX Runtime from the ``.onnx`` shipped beside its
weights (no torch), or in torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..core.cameras import Camera
from ..core.errors import OpError, PassSetError
from .features import blend_features, pack_features
from .views import ViewData, load_scene

METHODS = ("auto", "learned", "ulr")


def _source_meta(folder: Path) -> dict:
    try:
        tf = json.loads((folder / "transforms.json").read_text())
    except (OSError, ValueError) as e:
        raise PassSetError(f"{folder / 'transforms.json'}: unreadable ({e})") from None
    return {k: v for k, v in tf.items() if k != "frames"}


def _as_json(text_or_path: str, what: str):
    """JSON given inline (starting with ``{`` or ``[``) or as a file path."""
    try:
        if text_or_path.lstrip()[:1] in ("{", "["):
            return json.loads(text_or_path)
        return json.loads(Path(text_or_path).read_text())
    except OSError as e:
        raise OpError(f"{what}: cannot read {text_or_path} ({e.strerror})") from None
    except ValueError as e:
        raise OpError(f"{what}: not valid JSON ({e})") from None


def target_cameras(source_folder: str | Path, camera: str | None = None, transforms: str | None = None
                   ) -> list[tuple[str, Camera]]:
    """``(name, camera)`` of every view to synthesise.

    Args:
        source_folder: the multi-view folder (its intrinsics are the default).
        camera: one camera as a JSON string or file: ``{"transform_matrix": 4x4 camera-to-world
            (Blender / OpenGL axes), optional "fl_x", "fl_y", "cx", "cy", "w", "h" or
            "camera_angle_x"}``.
        transforms: a ``transforms.json`` whose frames are the targets.
    """
    if (camera is None) == (transforms is None):
        raise OpError("give the target views as --camera JSON or --transforms FILE (one of the two)")
    meta = _source_meta(Path(source_folder))
    if camera is not None:
        frame = _as_json(camera, "--camera")
        if not isinstance(frame, dict):
            raise OpError("--camera: expected a JSON object with 'transform_matrix'")
        return [("view_0000", Camera.from_transforms(frame, {**meta, **frame}))]
    tf = _as_json(transforms, "--transforms")
    frames = tf.get("frames") if isinstance(tf, dict) else None
    if not frames:
        raise OpError(f"{transforms}: no frames")
    top = {**meta, **{k: v for k, v in tf.items() if k != "frames"}}
    out = []
    for i, fr in enumerate(frames):
        name = Path(str(fr.get("file_path") or f"view_{i:04d}")).stem
        out.append((name, Camera.from_transforms(fr, top)))
    return out


@dataclass
class NovelView:
    """One synthesised view: linear HDR image (H, W, 3), pixels some source saw (H, W) bool."""

    name: str
    camera: Camera
    image: np.ndarray
    seen: np.ndarray
    seconds: float


class OnnxBlend:
    """A learned blending model in ONNX Runtime: what :func:`synthesise` needs of a
    :class:`~neural_ops.novel_view.network.BlendNet` (``cfg.k``, ``cfg.split``), without torch."""

    def __init__(self, graph):
        self.graph = graph
        self.cfg = SimpleNamespace(**{"k": 4, "split": False, **graph.meta.get("config", {})})

    def image(self, feats) -> np.ndarray:
        """(H, W, 3) float32 linear HDR of one target view's blend features."""
        from ..nn.onnx_backend import pad_to

        slots, shared = pack_features(feats)
        h, w = shared.shape[-2:]
        m = self.graph.multiple
        out = self.graph.run(slots=pad_to(slots[None], m), shared=pad_to(shared[None], m))[0]
        return np.ascontiguousarray(out[0, :, :h, :w].transpose(1, 2, 0))


def load_blending(weights: str = "", model: str = "", backend: str = "auto"):
    """A :class:`OnnxBlend` or a torch ``BlendNet`` for a ``.safetensors`` path or a shipped
    ``ibr_NAME`` (``backend``: ``auto``, ``torch`` or ``onnx``, as the other learned ops)."""
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.weights import resolve_weights

    wpath, _card, _key = resolve_weights("ibr", model, weights, "default", "learned blending")
    if choose_backend(backend, wpath) == "onnx":
        from ..nn.onnx_backend import load_graph

        return OnnxBlend(load_graph(onnx_path(wpath)))
    from .network import load_blend_model

    return load_blend_model(weights=weights, model=model)[0]


def blending_model(method: str = "auto", weights: str = "", model: str = "",
                   log: Callable[[str], None] | None = None, backend: str = "auto"):
    """The learned blending network ``method`` asks for, or None for ULR.

    ``learned``: ``weights`` (a ``.safetensors``) or the shipped ``model`` (default ``default``),
    run by ``backend`` (:func:`load_blending`); ``ulr``: None; ``auto``: learned when weights
    are given or a model is shipped, else None, and ``log`` says so.
    """
    if method not in METHODS:
        raise OpError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")
    if method == "ulr":
        return None
    from ..nn.weights import available_models

    if method == "learned" or weights or model or available_models("ibr"):
        return load_blending(weights, model or ("default" if not weights else ""), backend)
    if log:
        log("no learned blending model is shipped yet: using unstructured lumigraph rendering (--method ulr)")
    return None


def nearest_views(views: list[ViewData], camera: Camera, n: int) -> list[ViewData]:
    """The ``n`` views whose cameras are closest to ``camera``: smallest angle between viewing
    directions plus distance between centres in units of the view's median depth (a cheap
    stand-in for the per-pixel ULR ranking, which then picks among them)."""
    if n <= 0 or len(views) <= n:
        return list(views)

    def score(v: ViewData) -> float:
        ang = float(np.arccos(np.clip(v.camera.forward @ camera.forward, -1.0, 1.0)))
        hit = v.depth[v.depth > 0]
        scale = float(np.median(hit)) if hit.size else 1.0
        return ang + float(np.linalg.norm(v.camera.center - camera.center)) / max(scale, 1e-6)

    return sorted(views, key=score)[:n]


def synthesise(views: list[ViewData], name: str, camera: Camera, net=None, k: int = 4,
               target_depth: np.ndarray | None = None, target_normal: np.ndarray | None = None) -> NovelView:
    """One target view from rendered ``views``: blended by ``net`` (:func:`blending_model`), or
    by ULR when it is None. The target's geometry is splatted from the views' depth, unless the
    target's own depth (and normal) is given: the renderer-aware mode, e.g. from a Workbench or
    EEVEE render of the target camera, which gives exact visibility."""
    import time

    t = time.perf_counter()
    if target_depth is not None and target_depth.shape != (camera.h, camera.w):
        raise PassSetError(f"target depth is {target_depth.shape[1]}x{target_depth.shape[0]}, the camera "
                           f"{camera.w}x{camera.h}")
    sources = [v.source() for v in views]
    if net is not None and net.cfg.split and any(s.glossy is None for s in sources):
        raise PassSetError("this blending model splits glossy light, and the views have no "
                           "Glossy Color/Direct/Indirect passes")
    if net is None:
        sources = [(s.camera, s.color, s.depth) for s in sources]
    feats = blend_features(camera, sources, target_depth, k=net.cfg.k if net is not None else k, ulr_k=k,
                           target_normal=target_normal if target_depth is not None else None)
    if isinstance(net, OnnxBlend):
        image = net.image(feats)
    elif net is not None:
        from .network import blend_image

        image = blend_image(net, feats)
    else:
        image = feats.ulr
    return NovelView(name, camera, np.maximum(image, 0).astype(np.float32), feats.ulr_valid, time.perf_counter() - t)


def render_novel_views(source_folder: str | Path, targets: list[tuple[str, Camera]], method: str = "auto",
                       weights: str = "", model: str = "", k: int = 4,
                       progress: Callable[[int, int], bool | None] | None = None,
                       log: Callable[[str], None] | None = None, denoise: bool = False,
                       backend: str = "auto") -> Iterator[NovelView]:
    """Synthesise each target from the folder's views (:func:`blending_model` for ``method``;
    ``denoise``: the views through OIDN first). ``progress(done, total)`` after each view;
    returning True cancels (InterruptedError)."""
    net = blending_model(method, weights, model, log, backend)
    views = load_scene(Path(source_folder), denoise)
    for n, (name, cam) in enumerate(targets):
        yield synthesise(views, name, cam, net, k)
        if progress and progress(n + 1, len(targets)):
            raise InterruptedError("cancelled")


def key_frames(first: int, last: int, every: int) -> list[int]:
    """Render 1 in N: every ``every``-th frame from ``first``, and ``last`` (so no frame is
    extrapolated)."""
    keys = list(range(first, last + 1, every))
    if keys[-1] != last:
        keys.append(last)
    return keys


def nearest_keys(f: int, keys: list[int], per_side: int) -> list[int]:
    """The ``per_side`` key frames before ``f`` and after it (fewer at the ends)."""
    return [k for k in keys if k < f][-per_side:] + [k for k in keys if k > f][:per_side]
