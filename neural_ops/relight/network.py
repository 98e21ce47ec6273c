"""Relighting network: the G-buffer and analytic shading under the target lighting -> the frame
under that lighting (Deep Shading, Nalbach et al. 2017, with the analytic part computed first).

Analytic re-shading (:mod:`neural_ops.relight.shading`) gets the unoccluded light right: SH
irradiance from the HDRI and a microfacet highlight per light. What it misses is what needs the
rest of the scene: shadows, interreflection, reflections of other objects. The network sees the
analytic buffers and the G-buffer, optionally the original frame under its own lighting together
with that lighting's analytic image (their ratio is a visibility hint: where the source image is
darker than its analytic prediction, something occludes), and predicts a log-space correction of
the analytic image plus an additive term.

Raw channel layout, (H, W, RAW_CHANNELS) float32 (built by :func:`raw_inputs`):

======  ===================================================================
0:3     analytic diffuse under the target lighting, linear (+ the world seen directly where no
        surface is: ``background`` of :func:`~neural_ops.relight.analytic_shading`)
3:6     analytic glossy under the target lighting, linear
6:9     diffuse reflectance (``Diffuse Color``)
9:12    specular reflectance (``Glossy Color``)
12:15   world-space normal
15      depth feature: log(depth / median), misses = +4
16:19   source frame (the original render), linear; zeros without one
19:22   analytic image under the source lighting; zeros without one
======  ===================================================================

Lighting conditioning (measured against each other in the model card): ``buffers`` (the analytic
buffers only) or ``film`` (also a FiLM scale and shift of every decoder level from an encoding of
the target lighting, Perez et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn.blocks import ContextUNet, ConvBlock, GlobalContext, unet_levels, zero_init_
from ..nn.config import ModelConfig, check_levels
from .inputs import CODE_DIM, CODE_LIGHTS, RAW_CHANNELS, lighting_code, raw_inputs  # noqa: F401  (this model's inputs)

CONDITIONS = ("buffers", "film")


@dataclass
class RelightConfig(ModelConfig):
    """Architecture: U-Net ``channels`` (finest first), lighting ``condition`` (``buffers`` or
    ``film``) and the size of the lighting code FiLM reads (``lighting_dim``). With ``shadows``
    the analytic buffers it reads (channels 0:6 and 19:22) carry screen-space shadows and ambient
    occlusion (:func:`~neural_ops.relight.screen_space.shadowed_shading`). With ``context`` a
    branch reads a thumbnail of the whole frame (as the CG2Real generator's): how much darker
    the rendered frame is than its own analytic image *everywhere* says, e.g., that a ceiling
    out of view blocks the sky, which no crop can tell."""

    channels: list[int] = field(default_factory=lambda: [24, 48, 64, 96])
    """U-Net feature channels per level, finest first (>= 3 levels)."""
    condition: str = field(default="buffers", metadata={"choices": CONDITIONS})
    """Lighting conditioning: the analytic buffers only, or also FiLM from a lighting code."""
    lighting_dim: int = 0
    """Size of the lighting code FiLM reads (0 without FiLM)."""
    shadows: bool = False
    """Analytic buffers with screen-space shadows and ambient occlusion."""
    context: bool = False
    """Add the whole-frame global-context branch (per-frame gain and biases)."""

    def check(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.condition == "film" and self.lighting_dim < 1:
            raise ValueError("film conditioning needs lighting_dim >= 1")
        check_levels(self.channels)


class RelightNet(ContextUNet):
    """(B, 22, H, W) raw [+ (B, lighting_dim) code for FiLM] -> (B, 3, H, W) linear HDR."""

    def __init__(self, cfg: RelightConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or RelightConfig()
        cfg.check()
        ch = list(cfg.channels)
        self.levels = len(ch)
        n_in = 3 + 3 + 3 + 3 + 3 + 3 + 1 + 3 + 1  # log analytic image, log diffuse, log glossy, 2 reflectances, normal, depth, log ratio, has-source
        self.enc, self.dec = unet_levels(n_in, ch, lambda cin, cout: ConvBlock(cin, cout, "none"))
        if cfg.condition == "film":
            self.film = nn.ModuleList([nn.Linear(cfg.lighting_dim, 2 * c) for c in ch])
            zero_init_(*self.film)
        self.out = nn.Conv2d(ch[0], 6, 3, padding=1)
        zero_init_(self.out)
        self.ctx = GlobalContext(n_in, ch[-1], ch[0]) if cfg.context else None

    @staticmethod
    def features(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(network input, log analytic image) of raw (B, 22, H, W)."""
        diff, gloss = raw[:, 0:3].clamp(min=0), raw[:, 3:6].clamp(min=0)
        la = torch.log1p(diff + gloss)
        src, sa = raw[:, 16:19].clamp(min=0), raw[:, 19:22].clamp(min=0)
        has_src = (sa.sum(dim=1, keepdim=True) > 0).float()
        ratio = (torch.log1p(src) - torch.log1p(sa)) * has_src
        return torch.cat([la, torch.log1p(diff), torch.log1p(gloss), raw[:, 6:16], ratio, has_src], dim=1), la

    def forward(self, raw: torch.Tensor, code: torch.Tensor | None = None, ctx: torch.Tensor | None = None
                ) -> torch.Tensor:
        if raw.shape[1] != RAW_CHANNELS:
            raise ValueError(f"expected {RAW_CHANNELS} raw channels, got {raw.shape[1]}")
        if self.cfg.condition == "film" and code is None:
            raise ValueError("this model is FiLM-conditioned: pass the target lighting's code")
        if self.ctx is not None and ctx is None:
            ctx = self.context_of(raw)
        gain = deep = fine = None
        if ctx is not None:
            gain, deep, fine = (t[:, :, None, None] for t in torch.split(ctx, self.ctx.split, dim=1))
        h, w = raw.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            raw = F.pad(raw, [0, pw, 0, ph], mode="replicate")
        x, la = self.features(raw)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2), None)
            skips.append(x)
        x = self._film(x, code, self.levels - 1)
        if deep is not None:
            x = x + deep
        for i in range(self.levels - 2, -1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self._film(self.dec[i](torch.cat([x, skips[i]], dim=1), None), code, i)
        if fine is not None:
            x = F.relu(x + fine)
        o = self.out(x)
        log_gain = o[:, 0:3] if gain is None else o[:, 0:3] + gain
        out = torch.expm1((la + log_gain).clamp(max=30.0)) + o[:, 3:6]
        return out.clamp(min=0)[..., :h, :w]

    def _film(self, x: torch.Tensor, code, level: int) -> torch.Tensor:
        if self.cfg.condition != "film":
            return x
        g, b = self.film[level](code).chunk(2, dim=1)
        return x * (1 + g[:, :, None, None]) + b[:, :, None, None]


class _Graph(nn.Module):
    """What the ONNX graph computes: raw (B, 22, H, W), H and W multiples of the net's multiple
    [, the lighting code (B, lighting_dim) for FiLM] [, the whole frame's thumbnail
    (B, 22, h, w) for a model with context] -> (B, 3, H, W)."""

    def __init__(self, net: RelightNet):
        super().__init__()
        self.net = net

    def forward(self, raw: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        extra = list(extra)
        code = extra.pop(0) if self.net.cfg.condition == "film" else None
        ctx = self.net.ctx(self.net.features(extra.pop(0))[0]) if self.net.ctx is not None else None
        return self.net(raw, code, ctx)


def onnx_graph(net: RelightNet):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of a relighting model (inputs ``raw``,
    ``code`` with FiLM, ``thumb`` with context)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    m = net.multiple
    inputs = {"raw": torch.rand(1, RAW_CHANNELS, 6 * m, 8 * m)}
    axes = {"raw": image_axes()}
    if net.cfg.condition == "film":
        inputs["code"] = torch.rand(1, net.cfg.lighting_dim)
        axes["code"] = {0: "batch"}
    if net.ctx is not None:
        inputs["thumb"] = torch.rand(1, RAW_CHANNELS, 48, 64)
        axes["thumb"] = {0: "batch", 2: "thumb_height", 3: "thumb_width"}
    return OnnxSpec(_Graph(net), inputs, axes, m, {"kind": "relight", "config": net.cfg.to_dict()})
