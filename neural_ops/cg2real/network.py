"""CG2Real generator: a raster (EEVEE) frame and its G-buffer -> the path-traced (Cycles) look.

The split follows Bi et al. 2019 (Deep CG2Real): what a raster engine gets wrong is mostly the
*shading* (soft shadows, interreflection, glossy reflections), while the *albedo* it writes is
already right. So the network sees the raster image demodulated by its reflectance, predicts a
correction of the log shading, and the result is re-modulated; a second, additive head carries
what does not factor that way (emission, environment, transmission). A second stage may swap
the albedo for a photo-like one (see ``training/cg2real/unpaired.py``).

Raw channel layout, (H, W, RAW_CHANNELS) float32 (built by :func:`raw_inputs`):

======  ===================================================================
0:3     raster colour, linear HDR (``Combined``), clamped at 0
3:6     diffuse reflectance (``Diffuse Color``) in [0, 1]
6:9     specular reflectance (``Glossy Color``) in [0, 1]
9:12    world-space normal (``Normal``) in [-1, 1]
12      depth feature: log(depth / median depth of the frame), misses = +4
======  ===================================================================

Global context (``context=True``): a raster engine's error is partly global. EEVEE lets the
world light into closed rooms that Cycles keeps dark (2x brighter frames are common), which a
crop cannot see. A small branch looks at a thumbnail of the *whole* frame (long side
:data:`THUMB` px) and outputs a per-frame log gain for the shading and a bias for the bottleneck
and the last decoder level (as HDRNet's global path). The thumbnail is taken before tiling, so
every tile of a large frame gets the same context.

Normalisation options (measured against each other in the model card):
``none`` (plain convolutions, the G-buffer only at the input), ``batch`` (BatchNorm with learned
scale and shift) and ``spade`` (parameter-free BatchNorm whose per-pixel scale and shift are
predicted from the G-buffer at every level: Park et al. 2019, so normalisation cannot wash out
what the G-buffer says). BatchNorm keeps running statistics, so crops at training time and
tiles at inference see the same normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn.blocks import (  # noqa: F401  (THUMB, thumbnail: part of this model's API)
    THUMB,
    ContextUNet,
    ConvBlock,
    GlobalContext,
    thumbnail,
    unet_levels,
    zero_init_,
)
from ..nn.config import ModelConfig, check_levels
from .inputs import RAW_CHANNELS, REFL_EPS, REQUIRED_PASSES, raw_inputs  # noqa: F401  (this model's input layout)

NORMS = ("none", "batch", "spade")
#: Channels of the G-buffer that conditions SPADE: reflectances, normal, depth feature.
GBUFFER = slice(3, 13)


@dataclass
class Cg2RealConfig(ModelConfig):
    """Architecture of a CG2Real generator (saved in the model card, rebuilt on load).

    Attributes:
        channels: U-Net feature channels per level, finest first (>= 3 levels).
        norm: ``none``, ``batch`` or ``spade`` (see the module docstring).
        factor: predict a log-shading correction times the reflectance plus an additive term
            (True, Bi 2019), or the output colour directly from the log raster colour (False).
        context: add the whole-frame global-context branch (see the module docstring).
    """

    channels: list[int] = field(default_factory=lambda: [24, 48, 64, 96])
    norm: str = field(default="none", metadata={"choices": NORMS})
    factor: bool = True
    context: bool = False

    def check(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        check_levels(self.channels)


class Cg2RealNet(ContextUNet):
    """U-Net generator (pix2pix's skip-connected encoder-decoder) over the raw layout above.

    Shape:
        forward: (B, 13, H, W) raw -> (B, 3, H, W) linear HDR, any H, W (padded internally).
        With ``context``, ``forward(raw, ctx)`` takes the context vector of the whole frame
        (:meth:`context_of`); without it the context comes from ``raw`` itself.
    """

    def __init__(self, cfg: Cg2RealConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or Cg2RealConfig()
        cfg.check()
        ch = list(cfg.channels)
        self.levels = len(ch)
        n_in = RAW_CHANNELS + 3  # log colour (or log shading), reflectances, normal, depth; + log colour
        self.enc, self.dec = unet_levels(n_in, ch, lambda cin, cout: ConvBlock(cin, cout, cfg.norm))
        self.out = nn.Conv2d(ch[0], 6, 3, padding=1)  # log-shading (or log-colour) change, additive term
        zero_init_(self.out)
        self.ctx = GlobalContext(n_in, ch[-1], ch[0]) if cfg.context else None

    @staticmethod
    def reflectance(raw: torch.Tensor) -> torch.Tensor:
        """Diffuse + specular reflectance + eps: what the raster colour is demodulated by."""
        return (raw[:, 3:6] + raw[:, 6:9]).clamp(max=1.0) + REFL_EPS

    def features(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(network input, log shading, reflectance)."""
        color = raw[:, 0:3].clamp(min=0)
        a = self.reflectance(raw)
        ls = torch.log1p(color / a)
        return torch.cat([ls, raw[:, 3:13], torch.log1p(color)], dim=1), ls, a

    def forward(self, raw: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        if raw.shape[1] != RAW_CHANNELS:
            raise ValueError(f"expected {RAW_CHANNELS} raw channels, got {raw.shape[1]}")
        if self.ctx is not None and ctx is None:
            ctx = self.context_of(raw)
        h, w = raw.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            raw = F.pad(raw, [0, pw, 0, ph], mode="replicate")
        x, ls, a = self.features(raw)
        o = self.core(x, raw[:, GBUFFER], ctx)
        add = o[:, 3:6]
        if self.cfg.factor:
            out = torch.expm1((ls + o[:, 0:3]).clamp(max=30.0)) * a + add
        else:
            out = torch.expm1((torch.log1p(raw[:, 0:3].clamp(min=0)) + o[:, 0:3]).clamp(max=30.0)) + add
        return out.clamp(min=0)[..., :h, :w]

    def core(self, x: torch.Tensor, g: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        gain = deep = fine = None
        if ctx is not None:
            gain, deep, fine = (t[:, :, None, None] for t in torch.split(ctx, self.ctx.split, dim=1))
        skips, gs = [], [g]
        for _ in range(1, self.levels):
            gs.append(F.avg_pool2d(gs[-1], 2))
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2), gs[i])
            skips.append(x)
        if deep is not None:
            x = x + deep
        for i in range(self.levels - 2, -1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.dec[i](torch.cat([x, skips[i]], dim=1), gs[i])
        if fine is not None:
            x = F.relu(x + fine)
        o = self.out(x)
        if gain is not None:
            o = torch.cat([o[:, 0:3] + gain, o[:, 3:]], dim=1)
        return o



class _Graph(nn.Module):
    """What the ONNX graph computes: raw (B, 13, H, W), H and W multiples of the net's multiple
    [, the whole frame's thumbnail (B, 13, h, w) for a model with context] -> (B, 3, H, W)."""

    def __init__(self, net: Cg2RealNet):
        super().__init__()
        self.net = net

    def forward(self, raw: torch.Tensor, thumb: torch.Tensor | None = None) -> torch.Tensor:
        ctx = None if thumb is None else self.net.ctx(self.net.features(thumb)[0])
        return self.net(raw, ctx)


def onnx_graph(net: Cg2RealNet):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of a generator (inputs ``raw`` and, with
    context, ``thumb``)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    m = net.multiple
    inputs = {"raw": torch.rand(1, RAW_CHANNELS, 6 * m, 8 * m)}
    axes = {"raw": image_axes()}
    if net.ctx is not None:
        inputs["thumb"] = torch.rand(1, RAW_CHANNELS, 48, 64)
        axes["thumb"] = {0: "batch", 2: "thumb_height", 3: "thumb_width"}
    return OnnxSpec(_Graph(net), inputs, axes, m, {"kind": "cg2real", "config": net.cfg.to_dict()})
