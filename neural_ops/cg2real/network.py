"""CG2Real generator: a raster (EEVEE) frame and its G-buffer -> the path-traced (Cycles) look.

The split follows Bi et al. 2019 (Deep CG2Real): what a raster engine gets wrong is mostly the
*shading* (soft shadows, interreflection, glossy reflections), while the *albedo* it writes is
already right. So the network sees the raster image demodulated by its reflectance, predicts a
correction of the log shading, and the result is re-modulated; a second, additive head carries
what does not factor that way (emission, environment, transmission). A second stage may swap
the albedo for a photo-like one (see ``training/cg2real_unpaired.py``).

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

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import PassSetError
from ..core.passset import PassSet
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
from ..nn.features import depth_feature

RAW_CHANNELS = 13
#: Passes the generator reads (EEVEE writes all of them when they are enabled).
REQUIRED_PASSES = ("Combined", "Diffuse Color", "Glossy Color", "Normal", "Depth")
#: Added to the reflectance before demodulation (black or purely emissive surfaces).
REFL_EPS = 0.02
NORMS = ("none", "batch", "spade")
#: Channels of the G-buffer that conditions SPADE: reflectances, normal, depth feature.
GBUFFER = slice(3, 13)


def raw_inputs(passes: PassSet) -> np.ndarray:
    """Stack a raster pass set into the raw layout above; a clear error names missing passes."""
    passes.validate(REQUIRED_PASSES, finite=True)
    x = np.concatenate(
        [np.maximum(passes.color, 0.0), np.clip(passes.get("Diffuse Color")[..., :3], 0, 1),
         np.clip(passes.get("Glossy Color")[..., :3], 0, 1), np.clip(passes.get("Normal")[..., :3], -1, 1),
         depth_feature(passes.get("Depth"))], axis=2)
    if x.shape[2] != RAW_CHANNELS:
        raise PassSetError(f"{passes.source}: expected {RAW_CHANNELS} input channels, got {x.shape[2]}")
    return np.ascontiguousarray(x, dtype=np.float32)


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

