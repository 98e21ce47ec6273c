"""CG2Real as an op: an EEVEE frame and its passes -> the Cycles look (learned), plus the
global colour-transfer baseline (Reinhard et al. 2001) the evaluation compares with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..core.errors import OpError
from ..core.passset import PassSet
from ..core.registry import OpSpec, register
from ..nn.runtime import torch_unavailable
from ..nn.weights import load_model

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
    """

    model: str = ""
    weights: str = ""
    tile: int = 512
    photo_albedo: bool = False
    albedo_weights: str = ""

    def check(self) -> None:
        if self.tile < 0 or (0 < self.tile < 64):
            raise OpError(f"tile must be 0 (no tiling) or >= 64 pixels, got {self.tile}")


def load_cg2real(model: str = "", weights: str = ""):
    from .network import Cg2RealConfig, Cg2RealNet

    return load_model("cg2real", lambda card: Cg2RealNet(Cg2RealConfig.from_dict(card.get("config", {}))),
                      model, weights)


def load_albedo_translator(weights: str = ""):
    from .albedo import AlbedoConfig, AlbedoTranslator

    return load_model("cg2real", lambda card: AlbedoTranslator(AlbedoConfig.from_dict(card.get("config", {}))),
                      "albedo", weights, default="albedo")


def neural_cg2real(passes: PassSet, params: Cg2RealParams | None = None, progress=None) -> np.ndarray:
    """Translate a raster (EEVEE) frame to the path-traced look.

    Args:
        passes: ``Combined``, ``Diffuse Color``, ``Glossy Color``, ``Normal``, ``Depth``.
        progress: optional ``progress(done, total)`` per tile; returning True cancels.
    Returns:
        (H, W, 3) float32 linear HDR.
    """
    from ..nn.tiling import run_tiled, set_threads
    from .network import REFL_EPS, raw_inputs

    p = params or Cg2RealParams()
    net, _card = load_cg2real(p.model, p.weights)
    set_threads()
    raw = raw_inputs(passes)
    model = net
    if net.ctx is not None:
        import torch

        # The global context comes from the whole frame, so every tile sees the same one.
        with torch.inference_mode():
            ctx = net.context_of(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])
        model = functools.partial(net, ctx=ctx)
    out = run_tiled(model, raw, tile=p.tile, overlap=96, multiple=net.multiple, progress=progress)
    if p.photo_albedo:
        # Bi 2019's second stage: the image is shading x albedo, so swapping the rendered diffuse
        # albedo for the photo-like one is a per-pixel ratio on the translated image.
        import torch

        tr, _ = load_albedo_translator(p.albedo_weights)
        old = raw[..., 3:6]
        with torch.inference_mode():
            new = tr(torch.from_numpy(old.transpose(2, 0, 1).copy())[None])[0].permute(1, 2, 0).numpy()
        out = out * (new + REFL_EPS) / (old + REFL_EPS)
    return out


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
        available=torch_unavailable,
        progress_aware=True,
    )
)
