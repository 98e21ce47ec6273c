"""The learned denoiser as an op: shipped (or user-trained) weights, tiled CPU inference.

Models whose base is ``oidn`` refine OIDN's output (an ensemble: OIDN runs first, the network
corrects it with the noisy colour and the guide passes); ``noisy`` models denoise on their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..core.errors import OpError
from ..core.passset import PassSet
from ..core.registry import OpSpec, register
from ..nn.runtime import torch_unavailable

#: The model ``neural-render denoise`` uses when none is named (chosen by measurement, see its card).
DEFAULT_MODEL = "ensemble_small"

_cache: dict[str, object] = {}  # ONNX sessions, by weights digest
_lock = threading.Lock()


@dataclass
class NeuralParams:
    """Settings of the learned denoiser.

    Attributes:
        model: name of a shipped model (``neural-render ops`` lists them); empty: the default.
        weights: path to a user-trained ``.safetensors`` (its ``.json`` card beside it);
            overrides ``model``.
        tile: tile side in pixels for bounded memory (0: whole frame at once).
        oidn_quality: OIDN quality for ensemble models (``high``, ``balanced``, ``fast``).
        oidn_max_memory_mb: OIDN's memory cap for ensemble models (it tiles internally; 0: its
            default, about 2.8 GB at 3840x2160).
        per_aov: denoise the diffuse and glossy light and the rest of ``Combined`` separately
            and add them up (needs Cycles' Diffuse/Glossy Direct, Indirect and Color passes).
        backend: ``auto`` (ONNX Runtime when installed: its network pass measured about 15 %
            faster than torch at 1080p on this 2-core CPU; ``neural-render bench`` times both),
            ``torch`` or ``onnx`` (exported once per weights file and cached).
    """

    model: str = ""
    weights: str = ""
    tile: int = 1024
    oidn_quality: str = "high"
    oidn_max_memory_mb: int = 1024
    per_aov: bool = False
    backend: str = "auto"

    def check(self) -> None:
        if self.tile < 0 or (0 < self.tile < 64):
            raise OpError(f"tile must be 0 (no tiling) or >= 64 pixels, got {self.tile}")
        if self.backend not in ("auto", "torch", "onnx"):
            raise OpError(f"backend must be auto, torch or onnx, got '{self.backend}'")
        if self.oidn_quality not in ("high", "balanced", "fast"):
            raise OpError(f"oidn_quality must be high, balanced or fast, got '{self.oidn_quality}'")


def load_denoiser(model: str = "", weights: str = ""):
    """(DenoiserNet in eval mode, channels-last, model card) for a shipped model name or a
    weights path; cached."""
    from ..nn.weights import load_model
    from .network import DenoiserConfig, DenoiserNet

    def build(card):
        import torch

        net = DenoiserNet(DenoiserConfig.from_dict(card.get("config", {})))
        return net.to(memory_format=torch.channels_last)

    return load_model("denoise", build, model, weights, default=DEFAULT_MODEL, noun="denoiser")


def compute_base(passes: PassSet, base: str, oidn_quality: str = "high", oidn_max_memory_mb: int = 0) -> np.ndarray | None:
    """The image a model refines (raw channels 10:13): None for ``noisy`` (the colour itself),
    OIDN's output for ``oidn``, the spike-removed colour for ``despiked``."""
    if base == "oidn":
        from ..core.oidn import OIDNParams, oidn_denoise

        return oidn_denoise(passes, OIDNParams(quality=oidn_quality, max_memory_mb=oidn_max_memory_mb))
    if base == "despiked":
        from .spikes import remove_spikes

        return remove_spikes(np.maximum(passes.color, 0.0))
    return None


def neural_denoise(passes: PassSet, params: NeuralParams | None = None, progress=None) -> np.ndarray:
    """Denoise ``Combined`` with the learned model.

    Args:
        passes: ``Combined``, ``Denoising Albedo``, ``Denoising Normal``, ``Denoising Depth``
            (or their fallbacks ``Diffuse Color``, ``Normal``, ``Depth``).
        progress: optional ``progress(done, total)`` per tile; returning True cancels.
    Returns:
        (H, W, 3) float32 linear HDR.
    """
    from ..nn.tiling import run_tiled, set_threads
    from .inputs import raw_inputs

    p = params or NeuralParams()
    net, _card = load_denoiser(p.model, p.weights)
    set_threads()
    model = net
    backend = p.backend
    if backend == "auto":
        from ..nn.onnx_backend import onnx_unavailable

        backend = "torch" if onnx_unavailable() else "onnx"
    if backend == "onnx":
        from ..nn.onnx_backend import OnnxModel

        key = f"onnx:{net.weights_digest}"
        with _lock:
            if key not in _cache:
                _cache[key] = OnnxModel(net, net.weights_digest)
            model = _cache[key]

    def run(ps: PassSet) -> np.ndarray:
        raw = raw_inputs(ps, compute_base(ps, net.cfg.base, p.oidn_quality, p.oidn_max_memory_mb))
        return run_tiled(model, raw, tile=p.tile, overlap=64, multiple=net.multiple, progress=progress)

    if p.per_aov:
        return denoise_per_aov(passes, run)
    return run(passes)


AOV_PASSES = tuple(f"{k} {c}" for k in ("Diffuse", "Glossy") for c in ("Direct", "Indirect", "Color"))


def light_components(passes: PassSet) -> dict[str, np.ndarray]:
    """Split ``Combined`` into diffuse light, glossy light and the rest (emission, transmission,
    environment, ...), each (H, W, 3); the three add up to ``Combined`` exactly."""
    missing = [n for n in AOV_PASSES if n not in passes]
    if missing:
        raise OpError(f"{passes.source}: per-AOV denoising needs the pass(es) {', '.join(missing)} "
                      "(enable Diffuse and Glossy Direct/Indirect/Color in the view layer)")
    comp = {}
    for k in ("Diffuse", "Glossy"):
        light = passes.get(f"{k} Direct")[..., :3] + passes.get(f"{k} Indirect")[..., :3]
        comp[k.lower()] = light * passes.get(f"{k} Color")[..., :3]
    comp["rest"] = passes.color - comp["diffuse"] - comp["glossy"]
    return comp


def denoise_per_aov(passes: PassSet, run) -> np.ndarray:
    """Denoise each light component as its own image (same guides) and add the results; the
    glossy and diffuse noise then never mix, and each keeps its own structure."""
    out = np.zeros((*passes.shape, 3), np.float32)
    for _name, img in light_components(passes).items():
        part = passes.copy()
        alpha = passes.alpha if passes.alpha is not None else np.ones((*passes.shape, 1), np.float32)
        part.add("Combined", np.concatenate([np.maximum(img, 0.0), alpha], axis=2), "RGBA")
        out += run(part)
    return out


register(
    OpSpec(
        kind="denoise",
        name="neural",
        label="Neural (learned U-Net)",
        description="Our learned denoiser (U-Net on demodulated log radiance with albedo, normal, depth), tiled on the CPU.",
        fn=neural_denoise,
        params=NeuralParams,
        requires=("Combined", ("Denoising Albedo", "Diffuse Color"), ("Denoising Normal", "Normal"),
                  ("Denoising Depth", "Depth")),
        pass_name="Neural Denoised",
        available=torch_unavailable,
        progress_aware=True,
    )
)
