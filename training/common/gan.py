"""Discriminators for the adversarial terms (CG2Real's paired and unpaired stages)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN (pix2pix): strided 4x4 convolutions with spectral normalisation,
    one real/fake score per overlapping patch. Input: the image (tonemapped) and the condition
    (tonemapped raster colour + G-buffer)."""

    def __init__(self, cin: int, ch: int = 32, layers: int = 3):
        super().__init__()
        sn = nn.utils.spectral_norm
        mods, c = [], cin
        for i in range(layers):
            co = ch * 2**i
            mods.append(nn.Sequential(sn(nn.Conv2d(c, co, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)))
            c = co
        mods.append(nn.Sequential(sn(nn.Conv2d(c, c, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)))
        self.blocks = nn.ModuleList(mods)
        self.head = sn(nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.head(x), feats


class MultiScaleDiscriminator(nn.Module):
    """pix2pixHD: the same PatchGAN at full and half resolution."""

    def __init__(self, cin: int, scales: int = 2, ch: int = 32):
        super().__init__()
        self.ds = nn.ModuleList([PatchDiscriminator(cin, ch) for _ in range(scales)])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        outs = []
        for i, d in enumerate(self.ds):
            outs.append(d(x if i == 0 else F.avg_pool2d(x, 2**i)))
        return outs
