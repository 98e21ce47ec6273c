"""CG2Real as an op: an EEVEE frame and its passes -> the Cycles look (learned), plus the
global colour-transfer baseline (Reinhard et al. 2001) the evaluation compares with.

The learned model runs in ONNX Runtime from the ``.onnx`` shipped beside its weights (no
torch), or in torch (``backend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import OpError
from ..core.passset import PassSet
from ..core.registry import OpSpec, register
from ..nn.runtime import BACKENDS, learned_unavailable
from ..nn.weights import load_model, weights_paths

#: The model ``neural-render cg2real`` uses when none is named.
DEFAULT_MODEL = "default"



@dataclass
class Cg2RealParams:
    """Settings of the learned CG2Real translator.

    Attributes:
        model: name of a shipped model (``neural-render ops cg2real`` lists them); empty: the default.
        weights: path to a user-trained ``.safetensors`` (its ``.json`` card beside it); overrides ``model``.
        tile: tile side in pixels for bounded memory (0: whole frame at once).
        photo_albedo: also run the unpaired second stage on the reflectance (needs a model
            trained with ``neural-render train cg2real-unpaired``; its weights are named in
            ``albedo_weights`` or shipped as ``cg2real_albedo``).
        albedo_weights: path to the second stage's ``.safetensors`` (empty: the shipped one).
        backend: ``auto`` (ONNX Runtime when it is installed and the model's ``.onnx`` lies
            beside its weights, else torch), ``torch`` or ``onnx``.
    """

    model: str = ""
    weights: str = ""
    tile: int = 512
    photo_albedo: bool = False
    albedo_weights: str = ""
    backend: str = "auto"

    def check(self) -> None:
        if self.tile < 0 or (0 < self.tile < 64):
            raise OpError(f"tile must be 0 (no tiling) or >= 64 pixels, got {self.tile}")
        if self.backend not in BACKENDS:
            raise OpError(f"backend must be auto, torch or onnx, got '{self.backend}'")


def load_cg2real(model: str = "", weights: str = ""):
    from .network import Cg2RealConfig, Cg2RealNet

    return load_model("cg2real", lambda card: Cg2RealNet(Cg2RealConfig.from_dict(card.get("config", {}))),
                      model, weights)


def load_albedo_translator(weights: str = ""):
    from .albedo import AlbedoConfig, AlbedoTranslator

    return load_model("cg2real", lambda card: AlbedoTranslator(AlbedoConfig.from_dict(card.get("config", {}))),
                      "albedo", weights, default="albedo")


def _chw(a: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (1, C, H, W) float32."""
    return np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)[None]


def generator_model(raw: np.ndarray, p: Cg2RealParams, passes: PassSet | None = None):
    """(numpy tile model, pooling multiple) of the generator ``p`` names for the frame ``raw``
    (H, W, 13): the whole frame's context, for a model with it, is computed here, so every
    tile gets the same one (``passes``, when a strip of a bigger frame: refused)."""
    from ..core.strips import refuse_in_strips
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.weights import resolve_weights

    wpath, _card, _key = resolve_weights("cg2real", p.model, p.weights, DEFAULT_MODEL)
    if choose_backend(p.backend, wpath) == "onnx":
        from ..nn.features import thumbnail
        from ..nn.onnx_backend import TileGraph, load_graph

        graph = load_graph(onnx_path(wpath))
        if "thumb" in graph.inputs and passes is not None:
            refuse_in_strips(passes, f"the model '{wpath.stem}'")
        extra = {"thumb": thumbnail(_chw(raw))} if "thumb" in graph.inputs else {}
        return TileGraph(graph, **extra), graph.multiple
    import torch

    from ..nn.tiling import TorchModel, set_threads

    net, _card = load_cg2real(p.model, p.weights)
    set_threads()
    if net.ctx is None:
        return TorchModel(net), net.multiple
    if passes is not None:
        refuse_in_strips(passes, f"the model '{wpath.stem}'")
    with torch.inference_mode():
        ctx = net.context_of(torch.from_numpy(_chw(raw)))
    return TorchModel(lambda x: net(x, ctx=ctx)), net.multiple


def translate_albedo(albedo: np.ndarray, weights: str = "", backend: str = "auto") -> np.ndarray:
    """(H, W, 3) rendered reflectance -> the photo-like one (the unpaired second stage)."""
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.weights import resolve_weights

    wpath, _card, _key = resolve_weights("cg2real", "albedo", weights, "albedo")
    if choose_backend(backend, wpath) == "onnx":
        from ..nn.onnx_backend import load_graph

        out = load_graph(onnx_path(wpath)).run(raw=_chw(albedo))[0]
    else:
        from ..nn.tiling import TorchModel

        tr, _ = load_albedo_translator(weights)
        out = TorchModel(tr)(_chw(albedo))
    return np.ascontiguousarray(out[0].transpose(1, 2, 0))


def neural_cg2real(passes: PassSet, params: Cg2RealParams | None = None, progress=None) -> np.ndarray:
    """Translate a raster (EEVEE) frame to the path-traced look.

    Args:
        passes: ``Combined``, ``Diffuse Color``, ``Glossy Color``, ``Normal``, ``Depth``.
        progress: optional ``progress(done, total)`` per tile; returning True cancels.
    Returns:
        (H, W, 3) float32 linear HDR.
    """
    from ..nn.tiling import run_tiled
    from .inputs import REFL_EPS, raw_inputs

    p = params or Cg2RealParams()
    raw = raw_inputs(passes)
    model, multiple = generator_model(raw, p, passes)
    out = run_tiled(model, raw, tile=p.tile, overlap=96, multiple=multiple, progress=progress)
    if p.photo_albedo:
        # Bi 2019's second stage: the image is shading x albedo, so swapping the rendered diffuse
        # albedo for the photo-like one is a per-pixel ratio on the translated image.
        old = raw[..., 3:6]
        new = translate_albedo(old, p.albedo_weights, p.backend)
        out = out * (new + REFL_EPS) / (old + REFL_EPS)
    return out


def export_onnx(weights: Path, out: Path | None = None):
    """Write the ONNX graph of the generator ``weights`` (default: beside it); needs torch.
    Returns (the graph's path, its :class:`~neural_ops.nn.onnx_export.OnnxSpec`)."""
    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path
    from .network import onnx_graph

    net, _ = load_cg2real(weights=str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec


def export_albedo_onnx(weights: Path, out: Path | None = None):
    """Write the ONNX graph of the albedo translator ``weights`` (default: beside it)."""
    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path
    from .albedo import onnx_graph

    net, _ = load_albedo_translator(str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec


# --- the baseline: global colour transfer (Reinhard et al. 2001) -------------------------------

_RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]], np.float64)
_LMS2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]], np.float64)


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    lms = np.maximum(rgb.reshape(-1, 3).astype(np.float64) @ _RGB2LMS.T, 1e-6)
    return np.log10(lms) @ _LMS2LAB.T


def _from_lab(lab: np.ndarray, shape) -> np.ndarray:
    lms = 10.0 ** (lab @ np.linalg.inv(_LMS2LAB).T)
    return (lms @ np.linalg.inv(_RGB2LMS).T).reshape(shape).astype(np.float32)


def lab_stats(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per channel of an image in Reinhard's l-alpha-beta space."""
    lab = _to_lab(rgb)
    return lab.mean(axis=0), lab.std(axis=0)


def reinhard_transfer(src: np.ndarray, target_stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Give ``src`` (H, W, 3 linear) the l-alpha-beta mean and spread of ``target_stats``."""
    lab = _to_lab(src)
    m, s = lab.mean(axis=0), lab.std(axis=0)
    tm, ts = target_stats
    out = (lab - m) * (ts / np.maximum(s, 1e-6)) + tm
    return np.maximum(_from_lab(out, src[..., :3].shape), 0.0)


register(
    OpSpec(
        kind="cg2real",
        name="neural",
        label="Neural Photoreal (CG2Real)",
        description="Raster (EEVEE) frame + G-buffer -> Cycles look: a U-Net corrects the log shading (Bi 2019 split).",
        fn=neural_cg2real,
        params=Cg2RealParams,
        requires=("Combined", "Diffuse Color", "Glossy Color", "Normal", "Depth"),
        pass_name="Neural Photoreal",
        available=lambda: learned_unavailable(weights_paths("cg2real", DEFAULT_MODEL)[0]),
        progress_aware=True,
        # The network sees 52 px each side; the photo-albedo translator runs on the whole frame.
        halo=lambda p: None if p.photo_albedo else 64,
        align=16,
    )
)
