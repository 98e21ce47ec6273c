"""The unpaired second stage of CG2Real (Bi et al. 2019): rendered albedo -> photo-like albedo.

A small residual CNN on linear reflectance in [0, 1]. It changes the logit of each reflectance
value, so its output stays a valid reflectance and a zero network is the identity. Trained
CycleGAN-style against crops of real photographs (``training/cg2real/unpaired.py``); the
translated albedo replaces the rendered one in the paired stage's shading x albedo product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..nn.blocks import zero_init_
from ..nn.config import ModelConfig


@dataclass
class AlbedoConfig(ModelConfig):
    """Attributes: channels (feature width), blocks (residual blocks)."""

    channels: int = 32
    blocks: int = 4

    def check(self) -> None:
        if self.channels < 4 or self.blocks < 1:
            raise ValueError(f"need channels >= 4 and blocks >= 1, got {self.channels}, {self.blocks}")


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class AlbedoTranslator(nn.Module):
    """(B, 3, H, W) reflectance in [0, 1] -> (B, 3, H, W) reflectance in (0, 1)."""

    def __init__(self, cfg: AlbedoConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AlbedoConfig()
        cfg.check()
        c = cfg.channels
        self.inp = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[_Res(c) for _ in range(cfg.blocks)])
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        zero_init_(self.out)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a = a.clamp(1e-3, 1 - 1e-3)
        logit = torch.log(a) - torch.log1p(-a)
        return torch.sigmoid(logit + self.out(self.body(self.inp(a))))


def onnx_graph(net: AlbedoTranslator):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of the translator: ``raw`` is the
    (B, 3, H, W) rendered reflectance (no pooling: any H, W)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    return OnnxSpec(net, {"raw": torch.rand(1, 3, 40, 56)}, {"raw": image_axes()}, 1,
                    {"kind": "cg2real-albedo", "config": net.cfg.to_dict()})
