"""The U-Net of Render 1 in N's learned key blend (torch; :mod:`.key_blend` has the features, the
layout and the torch-free runner).

Shape:
    forward: (B, n_features(key_aux), H, W) -> (B, 3, H, W): the two keys' weights and the direct-light gain,
    any H, W (padded inside to a multiple of 2^(levels-1)).

The output convolution starts at zero: an untrained model is the linear blend, gain 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import UNet, double_conv, unet_levels, zero_init_
from ..nn.config import ModelConfig
from .key_blend import GAIN_LOG, LOGIT_MAX, PER_KEY, n_features


@dataclass
class KeyBlendConfig(ModelConfig):
    """Architecture of a key-blend model (saved in the model card, rebuilt on load).

    Attributes:
        channels: U-Net channels per level, finest first (>= 2 levels).
        key_aux: the model also sees each key's own auxiliary render (its 1-spp direct light) carried.
    """

    channels: list[int] = field(default_factory=lambda: [16, 32, 48])
    key_aux: bool = False

    def check(self) -> None:
        if len(self.channels) < 2 or min(self.channels) < 4:
            raise ValueError(f"need >= 2 levels of >= 4 channels, got {self.channels}")


class KeyBlendNet(UNet):
    """Features of a carried frame -> per-key weights and a direct-light gain (see the module)."""

    def __init__(self, cfg: KeyBlendConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or KeyBlendConfig()
        cfg.check()
        self.levels = len(cfg.channels)
        self.features = n_features(cfg.key_aux)
        self.enc, self.dec = unet_levels(self.features, cfg.channels, double_conv)
        self.out = nn.Conv2d(cfg.channels[0], 3, 3, padding=1)
        zero_init_(self.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.features:
            raise ValueError(f"features must be (B, {self.features}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, [0, pw, 0, ph], mode="replicate") if (ph or pw) else x
        y, skips = xp, []
        for i, enc in enumerate(self.enc):
            y = enc(y if i == 0 else F.avg_pool2d(y, 2))
            skips.append(y)
        for i in range(self.levels - 2, -1, -1):
            y = F.interpolate(y, size=skips[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.dec[i](torch.cat([y, skips[i]], dim=1))
        raw = self.out(y)[..., :h, :w]
        base = torch.stack([x[:, 6], x[:, PER_KEY + 6]], dim=1)  # (B, 2, H, W) linear weights
        wts = base * torch.exp(raw[:, 0:2].clamp(-LOGIT_MAX, LOGIT_MAX))
        wts = wts / wts.sum(dim=1, keepdim=True).clamp(min=1e-12)
        gain = torch.exp(GAIN_LOG * torch.tanh(raw[:, 2:3]))
        return torch.cat([wts, gain], dim=1)


def load_key_blend_net(weights: str = "", model: str = "") -> tuple[KeyBlendNet, dict]:
    """(net in eval mode, model card) from a ``.safetensors`` path or a shipped ``inbetween_NAME``."""
    from ..nn.weights import load_model

    return load_model("inbetween", lambda card: KeyBlendNet(KeyBlendConfig.from_dict(card["config"])), model=model,
                      weights=weights, noun="Render 1 in N blend")


def onnx_graph(net: KeyBlendNet):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of a key-blend model (input ``raw``)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    m = net.multiple
    x = torch.rand(1, net.features, 6 * m, 8 * m)
    return OnnxSpec(net, {"raw": x}, {"raw": image_axes()}, m, {"kind": "inbetween", "config": net.cfg.to_dict()})


def export_onnx(weights, out=None):
    """Write the ONNX graph of the key-blend model ``weights`` (default: beside it). Returns
    (the graph's path, its :class:`~neural_ops.nn.onnx_export.OnnxSpec`)."""
    from pathlib import Path

    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path

    net, _ = load_key_blend_net(weights=str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec
