"""Torch building blocks more than one network uses: a normalised double convolution (with
optional SPADE modulation by the G-buffer), a whole-frame context branch and its thumbnail.

The attribute names inside these modules are part of the shipped weights' keys: keep them.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .features import THUMB, thumbnail_size  # noqa: F401  (THUMB: the context branch's input size)


class Spade(nn.Module):
    """Parameter-free BatchNorm, then a per-pixel scale and shift predicted from the G-buffer."""

    def __init__(self, ch: int, cond: int = 10, hidden: int = 16):
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, ch, 3, padding=1)
        self.beta = nn.Conv2d(hidden, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        h = self.shared(g)
        return self.bn(x) * (1 + self.gamma(h)) + self.beta(h)


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each followed by the configured normalisation and a ReLU."""

    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none")
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1, bias=norm == "none")
        self.norm = norm
        if norm == "batch":
            self.n1, self.n2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)
        elif norm == "spade":
            self.n1, self.n2 = Spade(cout), Spade(cout)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.c1(x)
        if self.norm == "batch":
            x = self.n1(x)
        elif self.norm == "spade":
            x = self.n1(x, g)
        x = F.relu(x, inplace=True)
        x = self.c2(x)
        if self.norm == "batch":
            x = self.n2(x)
        elif self.norm == "spade":
            x = self.n2(x, g)
        return F.relu(x, inplace=True)


def thumbnail(raw: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w) area-averaged, long side :data:`THUMB` (never upsampled);
    :func:`.features.thumbnail` is the same in numpy."""
    size = thumbnail_size(*raw.shape[-2:])
    return raw if size == tuple(raw.shape[-2:]) else F.interpolate(raw, size=size, mode="area")


class GlobalContext(nn.Module):
    """Whole-frame thumbnail -> (log gain (3), bottleneck bias, finest-level bias)."""

    def __init__(self, n_in: int, deep: int, fine: int, width: int = 48):
        super().__init__()
        layers, c = [], n_in
        for co in (width // 2, width, width, width):
            layers += [nn.Conv2d(c, co, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            c = co
        self.conv = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(2 * c, 64), nn.ReLU(inplace=True), nn.Linear(64, 3 + deep + fine))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.split = (3, deep, fine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x)
        return self.mlp(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1))


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 convolutions with ReLUs, no normalisation (the lightest U-Net level)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


def unet_levels(n_in: int, channels, block) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The encoder and decoder blocks of a U-Net whose skips concatenate: encoder level i maps
    (n_in or channels[i-1]) -> channels[i]; decoder level i maps channels[i+1] + channels[i] ->
    channels[i]. ``block(cin, cout)`` makes one level's module."""
    ch = list(channels)
    enc = nn.ModuleList([block(n_in, ch[0])] + [block(ch[i - 1], ch[i]) for i in range(1, len(ch))])
    dec = nn.ModuleList([block(ch[i + 1] + ch[i], ch[i]) for i in range(len(ch) - 1)])
    return enc, dec


def zero_init_(*modules: nn.Module) -> None:
    """Zero the weight and bias of each module: an output layer that starts as "no change"."""
    for m in modules:
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)


class UNet(nn.Module):
    """Base of the U-Net networks: ``levels`` resolutions, so inputs are padded to a multiple of
    :attr:`multiple` (tiling and padding read it)."""

    levels: int

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1)


class ContextUNet(UNet):
    """A U-Net with the optional whole-frame context branch (``self.ctx``, a :class:`GlobalContext`
    or None) reading ``self.features(thumbnail(raw))[0]``."""

    ctx: GlobalContext | None

    def context_of(self, raw: torch.Tensor) -> torch.Tensor | None:
        """Context vector of whole frames (B, C, H, W) in the network's raw layout, or None for a
        model without the branch. Taken before tiling, so every tile gets the same context."""
        if self.ctx is None:
            return None
        return self.ctx(self.features(thumbnail(raw))[0])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
