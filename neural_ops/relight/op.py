"""Relighting as an op: a rendered frame's passes + a target lighting -> the frame under it.

Methods: ``neural`` (our model: analytic buffers + G-buffer [+ the original frame] through a
U-Net), ``analytic`` (re-shading alone, the baseline) and ``gradient`` (the capture route, from
two renders under spherical gradient illumination). The target lighting is an HDRI file with
rotation and strength plus lights, or a whole lighting JSON (see
:func:`neural_ops.core.lighting.parse_lighting`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import OpError
from ..core.passset import PassSet
from ..core.registry import OpSpec, register
from ..nn.runtime import BACKENDS, learned_unavailable
from ..nn.weights import load_model, weights_paths

DEFAULT_MODEL = "default"
GBUFFER = ("Combined", ("Diffuse Color", "Denoising Albedo"), ("Normal", "Denoising Normal"), "Position", ("Depth",))


def _json_arg(text: str, what: str):
    """A JSON value given inline or as a file path."""
    if not text:
        return None
    p = Path(text)
    try:
        if text.lstrip()[:1] in "[{":
            return json.loads(text)
        if not p.is_file():
            raise OpError(f"{what}: no such file '{text}'")
        if p.stat().st_size > MAX_JSON_BYTES:
            raise OpError(f"{what}: {text} is {p.stat().st_size / 1e6:.0f} MB; a lighting JSON is at most "
                          f"{MAX_JSON_BYTES // 10**6} MB")
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise OpError(f"{what}: not valid JSON ({e})") from None
    except UnicodeDecodeError:
        raise OpError(f"{what}: {text} is not a text (UTF-8 JSON) file") from None
    except OSError as e:
        raise OpError(f"{what}: cannot read {text}: {e.strerror}") from None


#: The largest lighting JSON read (bytes): far more than MAX_LIGHTS lights need.
MAX_JSON_BYTES = 4 * 10**6


@dataclass
class RelightParams:
    """Settings of a relighting method.

    Attributes:
        hdri: target environment: an HDRI file (or a name of Blender's bundled studio lights,
            e.g. ``forest.exr``); empty with ``lights``: a black world. With none of ``hdri``,
            ``lights`` and ``lighting`` there is no target: an error, not a default.
        rotation: rotation of the HDRI about the world Z axis, in degrees.
        strength: the world's strength (>= 0).
        lights: target lights, a JSON list (inline or a file) of ``{"type", "location",
            "target", "color", "power", "size"}``.
        lighting: a whole lighting JSON (``{"world": ..., "lights": [...]}``, inline or a file);
            overrides the four settings above.
        source_lighting: the input frame's own lighting (same format); lets the model compare
            the frame with its analytic prediction, a hint of shadows. Optional.
        use_source: give the model the input frame (with ``source_lighting``).
        model, weights: shipped model name or a ``.safetensors`` path (``neural`` only).
        tile: tile side in pixels (0: whole frame).
        grad_a, grad_b: the two gradient-illumination renders (``gradient`` only).
        backend: ``auto`` (ONNX Runtime when it is installed and the model's ``.onnx`` lies
            beside its weights, else torch), ``torch`` or ``onnx`` (``neural`` only).
    """

    hdri: str = ""
    rotation: float = 0.0
    strength: float = 1.0
    lights: str = ""
    lighting: str = ""
    source_lighting: str = ""
    use_source: bool = True
    model: str = ""
    weights: str = ""
    tile: int = 512
    grad_a: str = ""
    grad_b: str = ""
    backend: str = "auto"

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise OpError(f"backend must be auto, torch or onnx, got '{self.backend}'")
        if self.tile < 0 or (0 < self.tile < 64):
            raise OpError(f"tile must be 0 (no tiling) or >= 64 pixels, got {self.tile}")
        if not math.isfinite(self.strength) or self.strength < 0:
            raise OpError(f"strength must be a finite number >= 0, got {self.strength}")
        if not math.isfinite(self.rotation):
            raise OpError(f"rotation must be finite, got {self.rotation}")

    def target_lighting(self):
        from ..core.lighting import parse_lighting

        d = _json_arg(self.lighting, "lighting")
        if d is None:
            if not self.hdri and not self.lights:
                raise OpError("no target lighting: give an HDRI, lights or a whole lighting "
                              "(--hdri, --lights or --lighting)")
            lights = _json_arg(self.lights, "lights")
            if isinstance(lights, dict):
                if "lights" not in lights:
                    raise OpError(f"lights: expected a list of lights (or an object with 'lights'), got an object "
                                  f"with {', '.join(map(repr, lights)) or 'no keys'}")
                lights = lights["lights"]
            world = {"hdri": self.hdri, "rotation": math.radians(self.rotation), "strength": self.strength} if self.hdri else None
            d = {"world": world, "lights": lights}
        return parse_lighting(d)

    def source(self):
        from ..core.lighting import parse_lighting

        d = _json_arg(self.source_lighting, "source_lighting")
        return None if d is None else parse_lighting(d)


def load_relight(model: str = "", weights: str = ""):
    from ..nn.weights import available_models
    from .network import RelightConfig, RelightNet

    if not weights and not model and not available_models("relight"):
        raise OpError("no trained relighting model is shipped yet: use the 'analytic' method, or give weights=PATH "
                      "to a model trained with 'neural-render train relight'")
    return load_model("relight", lambda card: RelightNet(RelightConfig.from_dict(card.get("config", {}))), model,
                      weights, default=DEFAULT_MODEL)


def network_inputs(passes: PassSet, target, source=None, use_source: bool = True, shadows: bool = False) -> np.ndarray:
    """The raw layout of :mod:`neural_ops.relight.network` for ``passes`` relit under ``target``
    (``shadows``: the analytic buffers with screen-space shadows, as the model was trained)."""
    from ..core.passset import clamped
    from ..core.strips import first_present, whole_depth_median
    from ..nn.features import depth_feature
    from . import analytic_shading
    from .inputs import raw_inputs
    from .screen_space import shadowed_shading

    sh = shadowed_shading(passes, target) if shadows else analytic_shading(passes, target)
    src = sa = None
    if use_source and source is not None:
        # Ambient occlusion depends on the geometry only: traced once for both lightings.
        sa = (shadowed_shading(passes, source, ao=sh["visibility"]["ao"]) if shadows
              else analytic_shading(passes, source))["image"]
        src = passes.color
    glossy_color = passes.get("Glossy Color")[..., :3] if "Glossy Color" in passes else np.zeros_like(passes.color)
    src_name = passes.source
    albedo_name = first_present(passes, ("Diffuse Color", "Denoising Albedo"))
    normal_name = first_present(passes, ("Normal", "Denoising Normal"))
    return raw_inputs(sh["diffuse"] + sh["background"], sh["glossy"],
                      clamped(passes.first(("Diffuse Color", "Denoising Albedo"))[..., :3], 0, 1, src_name, albedo_name),
                      clamped(glossy_color, 0, 1, src_name, "Glossy Color"),
                      clamped(passes.first(("Normal", "Denoising Normal"))[..., :3], -1, 1, src_name, normal_name),
                      depth_feature(passes.get("Depth"), whole_depth_median(passes, ("Depth",))), src, sa)


def neural_relight(passes: PassSet, params: RelightParams | None = None, progress=None) -> np.ndarray:
    """Our model: analytic shading under the target lighting, corrected by the network."""
    from ..core.strips import refuse_in_strips
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.tiling import run_tiled
    from ..nn.weights import available_models, read_card, resolve_weights
    from .inputs import lighting_code

    p = params or RelightParams()
    if not p.weights and not p.model and not available_models("relight"):
        load_relight()  # its message: no model shipped
    wpath, cpath, _key = resolve_weights("relight", p.model, p.weights, DEFAULT_MODEL)
    backend = choose_backend(p.backend, wpath)
    if backend == "onnx":
        from ..nn.onnx_backend import load_graph

        graph = load_graph(onnx_path(wpath))
        cfg = graph.meta.get("config") or {}
    else:
        cfg = read_card(cpath).get("config", {})
    target = p.target_lighting()
    raw = network_inputs(passes, target, p.source(), p.use_source, shadows=bool(cfg.get("shadows")))
    code = lighting_code(target)[None] if cfg.get("condition") == "film" else None
    frame = np.ascontiguousarray(raw.transpose(2, 0, 1))[None]
    if backend == "onnx":
        from ..nn.features import thumbnail
        from ..nn.onnx_backend import TileGraph

        extra = {} if code is None else {"code": code}
        if "thumb" in graph.inputs:  # the whole frame's context, the same for every tile
            refuse_in_strips(passes, f"the model '{wpath.stem}'")
            extra["thumb"] = thumbnail(frame)
        model, multiple = TileGraph(graph, **extra), graph.multiple
    else:
        import torch

        from ..nn.tiling import TorchModel, set_threads

        net, _ = load_relight(p.model, p.weights)
        set_threads()
        tcode = None if code is None else torch.from_numpy(code)
        if net.ctx is not None:
            refuse_in_strips(passes, f"the model '{wpath.stem}'")
        with torch.inference_mode():  # the whole frame's context, the same for every tile
            ctx = net.context_of(torch.from_numpy(frame))
        model, multiple = TorchModel(lambda x: net(x, tcode, ctx)), net.multiple
    return run_tiled(model, raw, tile=p.tile, overlap=96, multiple=multiple, progress=progress)


def export_onnx(weights: Path, out: Path | None = None):
    """Write the ONNX graph of the relighting model ``weights`` (default: beside it); needs
    torch. Returns (the graph's path, its :class:`~neural_ops.nn.onnx_export.OnnxSpec`)."""
    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path
    from .network import onnx_graph

    net, _ = load_relight(weights=str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec


def analytic_relight(passes: PassSet, params: RelightParams | None = None) -> np.ndarray:
    from . import analytic_shading

    p = params or RelightParams()
    return analytic_shading(passes, p.target_lighting())["image"]


def shadowed_relight(passes: PassSet, params: RelightParams | None = None) -> np.ndarray:
    from .screen_space import shadowed_shading

    p = params or RelightParams()
    return shadowed_shading(passes, p.target_lighting())["image"]


def gradient_relight(passes: PassSet, params: RelightParams | None = None) -> np.ndarray:
    from ..core.exr import read_exr
    from .gradient import relight

    p = params or RelightParams()
    if not p.grad_a or not p.grad_b:
        raise OpError("the gradient method needs grad_a=FILE and grad_b=FILE: the frame under the spherical "
                      "gradient and its complement ('neural-render data relight' writes grad_a.exr / grad_b.exr)")
    a, b = read_exr(p.grad_a), read_exr(p.grad_b)
    if a.shape != passes.shape:
        raise OpError(f"{p.grad_a}: {a.shape[1]}x{a.shape[0]}, the frame is {passes.shape[1]}x{passes.shape[0]}")
    return relight(a, b, p.target_lighting(), _camera(passes))


def _camera(passes: PassSet):
    from . import camera_position_from_meta

    return camera_position_from_meta(passes.meta)


def _glossy_reads(params) -> tuple[str, ...]:
    return ("Glossy Color",)


def _visibility_of_target(read, p: RelightParams) -> dict:
    """For strips: the screen-space visibility traced on the whole frame (target lighting)."""
    from .screen_space import frame_visibility

    return {"visibility": frame_visibility(read, [p.target_lighting()])}


def _visibility_of_both(read, p: RelightParams) -> dict:
    """For strips: the whole frame's visibility under the target and the source lighting."""
    from .screen_space import frame_visibility

    source = p.source() if p.use_source else None
    return {"visibility": frame_visibility(read, [p.target_lighting(), *([source] if source else [])])}


for _spec in (
    OpSpec(kind="relight", name="neural", label="Neural Relight",
           description="Analytic re-shading under the target lighting, corrected by a U-Net (shadows, interreflection).",
           fn=neural_relight, params=RelightParams, requires=GBUFFER, pass_name="Neural Relit", extra_reads=_glossy_reads,
           halo=lambda p: 96, align=16, prepare=_visibility_of_both,
           available=lambda: learned_unavailable(weights_paths("relight", DEFAULT_MODEL)[0]), progress_aware=True),
    OpSpec(kind="relight", name="analytic", label="Analytic re-shading",
           description="SH irradiance from the HDRI + a GGX highlight per light, no shadows (the baseline).",
           fn=analytic_relight, params=RelightParams, requires=GBUFFER, pass_name="Relit Analytic",
           extra_reads=_glossy_reads, halo=lambda p: 0),
    OpSpec(kind="relight", name="shadowed", label="Analytic + screen-space shadows",
           description="Analytic re-shading with shadows and ambient occlusion traced through the frame's own depth.",
           fn=shadowed_relight, params=RelightParams, requires=GBUFFER, pass_name="Relit Shadowed",
           extra_reads=_glossy_reads, halo=lambda p: 0, prepare=_visibility_of_target),
    OpSpec(kind="relight", name="gradient", label="Gradient illumination (capture route)",
           description="Albedo, photometric normal and gloss from two spherical-gradient renders, then re-shaded.",
           fn=gradient_relight, params=RelightParams, requires=("Combined", "Position"), pass_name="Relit Gradient"),
):
    register(_spec)
