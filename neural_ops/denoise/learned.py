"""The learned denoiser as an op: shipped (or user-trained) weights, tiled CPU inference.

Models whose base is ``oidn`` refine OIDN's output (an ensemble: OIDN runs first, the network
corrects it with the noisy colour and the guide passes); ``noisy`` models denoise on their own.
The base may also come from a pass already in the frame (``base_pass``: inside Blender, Cycles'
own OIDN result), so no pyoidn is needed there.

The model runs in ONNX Runtime from the ``.onnx`` shipped beside its weights (no torch), or in
torch (``backend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import OpError
from ..core.metrics import LUMA
from ..core.passset import CYCLES_DENOISED, PassSet, noisy_combined
from ..core.registry import OpSpec, register
from ..nn.runtime import BACKENDS, learned_unavailable
from ..nn.weights import weights_paths

#: The model ``neural-render denoise`` uses when none is named (chosen by measurement, see its card).
DEFAULT_MODEL = "ensemble_small"


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
        backend: ``auto`` (ONNX Runtime when it is installed and the model's ``.onnx`` lies
            beside its weights, as for every shipped model: its network pass measured about
            15 % faster than torch at 1080p on a 2-core CPU, ``neural-render bench`` times both;
            else torch), ``torch`` or ``onnx`` (user weights: ``neural-render export-onnx
            WEIGHTS`` writes the graph).
        base_pass: for models whose base is OIDN's output: empty computes it with pyoidn;
            a pass name takes it from that pass instead, e.g. ``Combined`` when Cycles' own
            denoiser (OIDN) has already run (the render hook inside Blender, where pyoidn is
            missing). Other models ignore it. Whenever the frame has ``Noisy Image`` (Cycles
            denoised ``Combined`` and kept the noisy colour there), the noisy colour is read
            from it, not from ``Combined``. Empty, where pyoidn is missing and the frame holds
            Cycles' denoised image (``Cycles Denoised``, or ``Combined`` beside ``Noisy
            Image``), that image is the base, with a note.
        energy_tolerance: for models that refine a base (OIDN's output): the largest change of
            mean luminance against the noisy input the model may add (0.01: 1 %), beyond what
            the base itself has; a result outside it is moved back towards the base, with a
            note (:func:`keep_energy`). 0 turns the check off.
    """

    model: str = ""
    weights: str = ""
    tile: int = 1024
    oidn_quality: str = "high"
    oidn_max_memory_mb: int = 1024
    per_aov: bool = False
    backend: str = "auto"
    base_pass: str = ""
    energy_tolerance: float = 0.01

    def check(self) -> None:
        if self.tile < 0 or (0 < self.tile < 64):
            raise OpError(f"tile must be 0 (no tiling) or >= 64 pixels, got {self.tile}")
        if self.base_pass and self.per_aov:
            raise OpError("base_pass cannot be combined with per_aov (each light component needs its own base)")
        if self.backend not in BACKENDS:
            raise OpError(f"backend must be auto, torch or onnx, got '{self.backend}'")
        if not 0 <= self.energy_tolerance <= 1:
            raise OpError(f"energy_tolerance must be in [0, 1], got {self.energy_tolerance}")
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


def input_stats(raw: np.ndarray) -> dict[str, float]:
    """What a frame looks like to a model refining a base (raw layout of :mod:`.inputs`): its
    mean log demodulated brightness (of the base) and its log relative noise (the noisy colour
    against the base). The card of a trained model keeps the range of these over its training
    data (``input_range``); a frame outside it is out of distribution."""
    from .inputs import ALBEDO_EPS

    a = raw[..., 3:6] + ALBEDO_EPS
    base = np.maximum(raw[..., 10:13], 0.0)
    bright = float(np.log1p(base / a).mean())
    noise = float(np.log(np.mean(np.abs(raw[..., 0:3] - base) / (base + 0.01)) + 1e-6))
    return {"brightness": bright, "noise": noise}


#: How far outside its training range (in the units of :func:`input_stats`) a frame may be
#: before a model with an ``input_range`` hands it to its base denoiser.
OOD_MARGIN = {"brightness": 1.5, "noise": 1.0}


def out_of_range(stats: dict[str, float], ranges: dict | None) -> str | None:
    """Why a frame is outside a model's training range (None: inside, or no range known)."""
    for k, (lo, hi) in (ranges or {}).items():
        v = stats.get(k)
        m = OOD_MARGIN.get(k, 0.0)
        if v is not None and not lo - m <= v <= hi + m:
            return f"its {k} ({v:.2f}) is outside the training data's ({lo:.2f} to {hi:.2f})"
    return None


def _card_range(cpath) -> dict | None:
    from ..nn.weights import read_card

    try:
        return read_card(cpath).get("input_range") if Path(cpath).is_file() else None
    except OpError:
        return None


def denoiser_model(p: NeuralParams):
    """(numpy tile model for :func:`~neural_ops.nn.tiling.run_tiled`, pooling multiple, base
    kind) of the model ``p`` names, on the backend ``p.backend`` picks."""
    return _denoiser_model(p)[:3]


def _denoiser_model(p: NeuralParams):
    """:func:`denoiser_model` and the model's training input range (or None)."""
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.weights import resolve_weights

    wpath, cpath, _key = resolve_weights("denoise", p.model, p.weights, DEFAULT_MODEL, "denoiser")
    ranges = _card_range(cpath)
    if choose_backend(p.backend, wpath) == "onnx":
        from ..nn.onnx_backend import TileGraph, load_graph

        graph = load_graph(onnx_path(wpath))
        return TileGraph(graph), graph.multiple, graph.meta.get("config", {}).get("base", "noisy"), ranges
    from ..nn.tiling import TorchModel, set_threads

    net, _card = load_denoiser(p.model, p.weights)
    set_threads()
    return TorchModel(net), net.multiple, net.cfg.base, ranges


def mean_luminance(img: np.ndarray) -> float:
    return float(np.tensordot(img[..., :3].astype(np.float64), LUMA, axes=([-1], [0])).mean())


def keep_energy(out: np.ndarray, noisy: np.ndarray, base: np.ndarray, tol: float = 0.01) -> tuple[np.ndarray, float]:
    """The energy check: a model that refines ``base`` (OIDN's output) may not move the mean
    luminance further from the noisy input's (an unbiased estimate of the true mean) than
    ``tol`` or than ``base`` itself does, whichever is larger. Where it does, the result is moved
    back towards ``base``: ``base + s * (out - base)`` with the largest ``s`` in [0, 1] that keeps
    the bound. Returns (image, s)."""
    ln = mean_luminance(noisy)
    if not ln > 0:
        return out, 1.0
    lo, lb = mean_luminance(out), mean_luminance(base)
    allowed = max(tol, abs(lb / ln - 1))
    dev = lo / ln - 1
    if abs(dev) <= allowed or lo == lb:
        return out, 1.0
    target = ln * (1 + np.copysign(allowed, dev))
    s = float(np.clip((target - lb) / (lo - lb), 0.0, 1.0))
    return (base + s * (out - base)).astype(np.float32), s


def tile_overlap(multiple: int) -> int:
    """Pixels of context a tile gets on each side: 64 for the full-resolution U-Nets (multiple
    8: they see about 52 px), twice that for a network run at half resolution (multiple 16)."""
    return max(64, 8 * multiple)


def neural_denoise(passes: PassSet, params: NeuralParams | None = None, progress=None) -> np.ndarray:
    """Denoise ``Combined`` (or ``Noisy Image``, see :class:`NeuralParams`) with the learned model.

    Args:
        passes: ``Combined``, ``Denoising Albedo``, ``Denoising Normal``, ``Denoising Depth``
            (or their fallbacks ``Diffuse Color``, ``Normal``, ``Depth``); ``base_pass`` if set.
        progress: optional ``progress(done, total)`` per tile; returning True cancels.
    Returns:
        (H, W, 3) float32 linear HDR.
    """
    from ..nn.tiling import run_tiled
    from .inputs import raw_inputs

    p = params or NeuralParams()
    p.check()
    model, multiple, base_kind, ranges = _denoiser_model(p)
    noisy = noisy_combined(passes)
    given_base = None
    if p.base_pass and base_kind == "oidn":
        # Named as in the frame (Combined with Noisy Image beside it is Cycles' result).
        frame = passes if p.base_pass in passes else noisy
        if p.base_pass not in frame:
            raise OpError(f"{passes.source}: base_pass '{p.base_pass}' is not in the frame "
                          f"(passes: {', '.join(passes.passes)})")
        given_base = frame.get(p.base_pass)[..., :3]
    elif base_kind == "oidn" and CYCLES_DENOISED in noisy and not p.per_aov:
        from ..core.oidn import oidn_unavailable

        if oidn_unavailable():
            # The render holds Cycles' own OIDN result: refine that instead of running OIDN again.
            from ..core.notes import note

            note(f"{passes.source}: pyoidn is not installed; the model refines Cycles' denoised image")
            given_base = noisy.get(CYCLES_DENOISED)[..., :3]

    def run(ps: PassSet) -> np.ndarray:
        base = given_base if given_base is not None else compute_base(ps, base_kind, p.oidn_quality,
                                                                      p.oidn_max_memory_mb)
        raw = raw_inputs(ps, base)
        why = out_of_range(input_stats(raw), ranges) if base is not None else None
        if why:
            from ..core.notes import note

            note(f"{passes.source}: out of the model's training range ({why}): the base denoiser's result is used")
            return np.ascontiguousarray(base[..., :3], dtype=np.float32)
        out = run_tiled(model, raw, tile=p.tile, overlap=tile_overlap(multiple), multiple=multiple, progress=progress)
        if base is None or p.energy_tolerance <= 0:
            return out
        out, s = keep_energy(out, raw[..., 0:3], base, p.energy_tolerance)
        if s < 1:
            from ..core.notes import note

            note(f"{passes.source}: the model's result changed the mean brightness by more than "
                 f"{p.energy_tolerance:.0%}; it was moved {1 - s:.0%} of the way back to the base denoiser's")
        return out

    if p.per_aov:
        return denoise_per_aov(noisy, run)
    return run(noisy)


def export_onnx(weights: Path, out: Path | None = None):
    """Write the ONNX graph of the denoiser ``weights`` (default: beside it); needs torch.
    Returns (the graph's path, its :class:`~neural_ops.nn.onnx_export.OnnxSpec`)."""
    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path
    from .network import onnx_graph

    net, _ = load_denoiser(weights=str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec


#: Rows of context a strip of the learned denoiser needs: OIDN's receptive field (about 90 px
#: each side) then the network's (52 px; about 104 px for a network at half resolution), rounded up.
STRIP_HALO = 224
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
        available=lambda: learned_unavailable(weights_paths("denoise", DEFAULT_MODEL)[0]),
        progress_aware=True,
        extra_reads=lambda p: (*AOV_PASSES, *((p.base_pass,) if p.base_pass else ())),
        # The network sees 52 px each side; an OIDN base (receptive field ~90 px) comes first.
        halo=lambda p: None if p.per_aov else STRIP_HALO,
        align=16,
    )
)
