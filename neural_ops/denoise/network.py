"""The learned Monte-Carlo denoiser: a U-Net on demodulated, log-compressed radiance.

Two heads share the backbone (chosen per model by :class:`DenoiserConfig`):

- ``direct``: predicts a residual that is added to the base image in log space (OIDN's way:
  direct prediction, cheap).
- ``kernel``: predicts a normalised 5x5 kernel per pixel at three scales (the KPCN idea of Bako
  et al. 2017, at an affordable cost: small kernels on a pyramid reach as far as one 21x21
  kernel); the scales are merged coarse to fine with a predicted per-pixel weight (Vogels et al.
  2018), plus a small additive residual.
- ``convex``: safe by construction. Every output pixel is a convex combination (softmax
  weights) of candidate estimates of its demodulated radiance: OIDN's output at the pixel and
  its 3x3 neighbours, the noisy colour at the pixel and its neighbours, and the noisy colour
  filtered by predicted normalised 5x5 kernels at 1/2 and 1/4 resolution, mixed with OIDN's
  own output by a predicted per-pixel gate: out = (1 - g) OIDN + g sum_i w_i c_i. The result can
  neither exceed nor fall below what its inputs show nearby, and it starts as OIDN's output
  (the gate starts at 1 %, a sigmoid away from saturation, so its gradient is alive from the
  first step), so training only moves away from OIDN where that lowers the loss. ``half_res`` runs the U-Net at half resolution (the weights are upsampled):
  about 4x cheaper.
- ``bilateral``: the seed's Kalantari et al. 2015 model: the network predicts, per pixel, the
  parameters of the cross-bilateral filter (spatial, colour, albedo, normal and depth
  bandwidths), and the filter itself is applied to the spike-removed colour. Every output
  pixel is a normalised weighted mean of input pixels, which makes it robust but unable to
  fix anything a weighted mean cannot.

Radiance is demodulated by the albedo (colour / (albedo + eps)), so textures pass through
untouched and the network only smooths lighting, then compressed with log1p so HDR highlights do
not dominate. The "base" image (channels 10:13 of the raw input, see :mod:`.features`) is what
the model refines: the noisy colour for a standalone denoiser, or another denoiser's output for
an ensemble model (Zheng et al. 2021 combine denoisers in this spirit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import UNet, double_conv, unet_levels, zero_init_
from ..nn.config import ModelConfig, check_levels
from .inputs import ALBEDO_EPS, RAW_CHANNELS

HEADS = ("direct", "kernel", "bilateral", "convex")
BASES = ("noisy", "oidn", "despiked")
#: Learned-bilateral head: window radius and tap spacing (taps at -R, -R+S, ..., R).
BILATERAL_RADIUS, BILATERAL_STRIDE = 8, 2


@dataclass
class DenoiserConfig(ModelConfig):
    """Architecture of a denoiser model (saved in the model card, rebuilt on load).

    Attributes:
        head: ``direct`` (residual in log space), ``kernel`` (per-pixel kernels at 3 scales),
            ``bilateral`` (per-pixel cross-bilateral parameters, Kalantari 2015) or ``convex``
            (softmax weights over OIDN's and the noisy colour's neighbourhoods: safe by construction).
        base: what the raw input's base channels hold: ``noisy`` colour, ``despiked`` colour
            (spike removal first, the seed's pipeline), or ``oidn`` output.
        channels: feature channels per U-Net level, finest first (len = levels, >= 2).
        kernel_size: side of the per-pixel kernels (``kernel`` and ``convex`` heads).
        half_res: run the U-Net on the half-resolution input (``convex`` head).
    """

    head: str = field(default="direct", metadata={"choices": HEADS})
    base: str = field(default="noisy", metadata={"choices": BASES})
    channels: list[int] = field(default_factory=lambda: [24, 32, 48, 64])
    kernel_size: int = 5
    half_res: bool = False

    def check(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {self.base!r}")
        check_levels(self.channels)
        if self.head == "bilateral" and self.base == "oidn":
            raise ValueError("the bilateral head filters the (despiked) noisy colour, not OIDN's output")
        if self.head == "convex" and self.base != "oidn":
            raise ValueError("the convex head weighs OIDN's output against the noisy colour: it needs base oidn")
        if self.half_res and self.head != "convex":
            raise ValueError("half_res is a convex-head option")
        if self.kernel_size % 2 == 0 or self.kernel_size < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {self.kernel_size}")


def apply_kernels(img: torch.Tensor, logits: torch.Tensor, k: int) -> torch.Tensor:
    """Filter each pixel of ``img`` with its own normalised k x k kernel.

    Args:
        img: (B, C, H, W).
        logits: (B, k*k, H, W) unnormalised kernel weights (softmax over the k*k axis).
    Returns:
        (B, C, H, W).
    """
    h, w = img.shape[-2:]
    # Plain NCHW: shifted slices of channels-last tensors are strided and several times slower.
    pad = F.pad(img.contiguous(), [k // 2] * 4, mode="replicate")
    wts = torch.softmax(logits.contiguous(), dim=1)
    # One shifted view per kernel tap: no (C * k * k)-fold copy of the image as unfold makes.
    out = None
    for t in range(k * k):
        dy, dx = divmod(t, k)
        term = pad[:, :, dy : dy + h, dx : dx + w] * wts[:, t : t + 1]
        out = term if out is None else out + term
    return out


class DenoiserNet(UNet):
    """U-Net denoiser over the raw input layout of :mod:`.features`.

    Shape:
        forward: (B, 13, H, W) raw -> (B, 3, H, W) linear HDR. Any H, W (padded internally to a
        multiple of 2^(levels-1)).
    """

    def __init__(self, cfg: DenoiserConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DenoiserConfig()
        cfg.check()
        ch = list(cfg.channels)
        self.levels = len(ch)
        n_in = 13  # log noisy (3), log base (3), albedo (3), normal (3), depth (1)
        self.enc, self.dec = unet_levels(n_in, ch, double_conv)
        kk = cfg.kernel_size ** 2
        if cfg.head == "direct":
            self.out = nn.Conv2d(ch[0], 3, 3, padding=1)
        elif cfg.head == "bilateral":
            self.out = nn.Conv2d(ch[0], 5, 3, padding=1)  # log bandwidths: spatial, colour, albedo, normal, depth
        elif cfg.head == "convex":
            # Blend logits over the candidates (9 OIDN taps, 9 noisy taps, 2 coarse filtered) and
            # the gate's logit, and the coarse kernels at 1/2 and 1/4 resolution.
            self.out = nn.Conv2d(ch[0], CONVEX_CANDIDATES + 1, 3, padding=1)
            self.out1 = nn.Conv2d(ch[0 if cfg.half_res else 1], kk, 3, padding=1)
            self.out2 = nn.Conv2d(ch[1 if cfg.half_res else 2], kk, 3, padding=1)
            zero_init_(self.out, self.out1, self.out2)
            with torch.no_grad():
                self.out.bias[CONVEX_CANDIDATES] = CONVEX_GATE_INIT  # the model starts as OIDN
        else:
            # Full resolution: kernel, merge weight, residual; half: kernel, merge weight; quarter: kernel.
            self.out = nn.Conv2d(ch[0], kk + 1 + 3, 3, padding=1)
            self.out1 = nn.Conv2d(ch[1], kk + 1, 3, padding=1)
            self.out2 = nn.Conv2d(ch[2], kk, 3, padding=1)
        if cfg.head in ("direct", "bilateral"):
            zero_init_(self.out)

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1) * (2 if self.cfg.half_res else 1)

    def features(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(network input, log-demodulated base, albedo + eps) from the raw layout."""
        color, albedo, normal, depth, base = raw[:, 0:3], raw[:, 3:6], raw[:, 6:9], raw[:, 9:10], raw[:, 10:13]
        a = albedo + ALBEDO_EPS
        ln = torch.log1p(color.clamp(min=0) / a)
        lb = torch.log1p(base.clamp(min=0) / a)
        return torch.cat([ln, lb, albedo, normal, depth], dim=1), lb, a

    def forward(self, raw: torch.Tensor, core=None) -> torch.Tensor:
        """Denoise; ``core`` replaces :meth:`core` (e.g. the same network run by ONNX Runtime)."""
        if raw.shape[1] != RAW_CHANNELS:
            raise ValueError(f"expected {RAW_CHANNELS} raw channels, got {raw.shape[1]}")
        h, w = raw.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            raw = F.pad(raw, [0, pw, 0, ph], mode="replicate")
        x, lb, a = self.features(raw)
        if self.cfg.head == "convex":
            heads = (core or self.core)(F.avg_pool2d(x, 2) if self.cfg.half_res else x)
            dn = raw[:, 0:3].clamp(min=0) / a
            do = raw[:, 10:13].clamp(min=0) / a
            return (convex_blend(dn, do, heads, self.cfg.kernel_size, self.cfg.half_res) * a)[..., :h, :w]
        heads = (core or self.core)(x)
        if self.cfg.head == "direct":
            out_l = lb + heads[0]
        elif self.cfg.head == "bilateral":
            d = raw[:, 10:13].clamp(min=0) / a  # filtered linearly: the weighted mean keeps energy
            out = bilateral_filter(d, lb, raw[:, 3:10], heads[0]) * a
            return out[..., :h, :w]
        else:
            out_l = self._kernel_head(heads, lb)
        out = torch.expm1(out_l.clamp(max=30.0)).clamp(min=0) * a
        return out[..., :h, :w]

    def core(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The convolutional part: features (B, 13, H, W) -> the head's raw outputs (one tensor
        per scale). Everything else in :meth:`forward` is cheap per-pixel arithmetic."""
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        dec_feats = [None] * (self.levels - 1) + [x]
        for i in range(self.levels - 2, -1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.dec[i](torch.cat([x, skips[i]], dim=1))
            dec_feats[i] = x
        if self.cfg.head == "kernel":
            return self.out(dec_feats[0]), self.out1(dec_feats[1]), self.out2(dec_feats[2])
        if self.cfg.head == "convex":
            o = 0 if self.cfg.half_res else 1
            return self.out(dec_feats[0]), self.out1(dec_feats[o]), self.out2(dec_feats[o + 1])
        return (self.out(x),)

    def _kernel_head(self, heads, lb: torch.Tensor) -> torch.Tensor:
        k = self.cfg.kernel_size
        kk = k * k
        o0, o1, o2 = heads
        l1 = F.avg_pool2d(lb, 2)
        l2 = F.avg_pool2d(l1, 2)
        f2 = apply_kernels(l2, o2, k)
        f1 = apply_kernels(l1, o1[:, :kk], k)
        f0 = apply_kernels(lb, o0[:, :kk], k)
        a1, a0 = torch.sigmoid(o1[:, kk : kk + 1]), torch.sigmoid(o0[:, kk : kk + 1])

        def up(t):
            return F.interpolate(t, scale_factor=2.0, mode="nearest")

        m1 = f1 - a1 * up(F.avg_pool2d(f1, 2)) + a1 * up(f2)
        m0 = f0 - a0 * up(F.avg_pool2d(f0, 2)) + a0 * up(m1)
        return m0 + o0[:, kk + 1 :]


#: Candidates of the convex head: OIDN's 3x3 taps, the noisy 3x3 taps, two coarse filtered.
CONVEX_CANDIDATES = 9 + 9 + 2
#: Starting logit of the gate between OIDN's output and the candidates' mix: sigmoid(-4.6) = 1 %.
CONVEX_GATE_INIT = -4.6


def taps3(img: torch.Tensor) -> list[torch.Tensor]:
    """The 3x3 neighbourhood of every pixel as nine shifted images (edges replicated)."""
    h, w = img.shape[-2:]
    pad = F.pad(img.contiguous(), [1, 1, 1, 1], mode="replicate")
    return [pad[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]


def convex_candidates(dn: torch.Tensor, do: torch.Tensor, heads, k: int, half_res: bool) -> list[torch.Tensor]:
    """The convex head's candidate images (each (B, 3, H, W), in :data:`CONVEX_CANDIDATES`
    order): OIDN's 3x3 taps, the noisy 3x3 taps, the noisy colour filtered by the predicted
    normalised kernels at 1/2 and 1/4 resolution (upsampled bilinearly: still convex)."""
    h, w = dn.shape[-2:]
    _o0, o1, o2 = heads
    n1 = F.avg_pool2d(dn, 2)
    n2 = F.avg_pool2d(n1, 2)
    f1 = apply_kernels(n1, o1, k)
    f2 = apply_kernels(n2, o2, k)
    c1 = F.interpolate(f1, size=(h, w), mode="bilinear", align_corners=False)
    c2 = F.interpolate(f2, size=(h, w), mode="bilinear", align_corners=False)
    return [*taps3(do), *taps3(dn), c1, c2]


def convex_blend(dn: torch.Tensor, do: torch.Tensor, heads, k: int, half_res: bool) -> torch.Tensor:
    """OIDN's output gated with the softmax-weighted mean of :func:`convex_candidates`
    (demodulated radiance in and out): (1 - g) OIDN + g sum_i w_i c_i, a convex combination."""
    logits = heads[0]
    if half_res:
        logits = F.interpolate(logits, size=dn.shape[-2:], mode="bilinear", align_corners=False)
    n = CONVEX_CANDIDATES
    wts = torch.softmax(logits[:, :n].contiguous(), dim=1)
    gate = torch.sigmoid(logits[:, n:n + 1])
    mix = None
    for i, c in enumerate(convex_candidates(dn, do, heads, k, half_res)):
        term = c * wts[:, i:i + 1]
        mix = term if mix is None else mix + term
    return do + gate * (mix - do)


#: Bandwidths the bilateral head starts from (its output is a log-offset to these): spatial in
#: pixels, then colour (log radiance), albedo, normal and depth-feature differences.
_BILATERAL_INIT = (4.0, 0.6, 0.1, 0.3, 0.1)


def bilateral_filter(img: torch.Tensor, logc: torch.Tensor, feats: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Cross-bilateral filter with per-pixel bandwidths (Kalantari et al. 2015's filter).

    w_ij = exp(-|p_i - p_j|^2 / 2a_i^2) * exp(-|c_i - c_j|^2 / 2b_i^2) * prod_k exp(-|f_ik - f_jk|^2 / 2g_ik^2)

    Args:
        img: (B, 3, H, W) values to average (demodulated radiance).
        logc: (B, 3, H, W) colour compared by the colour term (log radiance).
        feats: (B, 7, H, W) albedo (3), normal (3), depth feature (1).
        params: (B, 5, H, W) log-offsets of (a, b, g_albedo, g_normal, g_depth) from their defaults.
    Returns:
        (B, 3, H, W).
    """
    img, logc, feats, params = (t.contiguous() for t in (img, logc, feats, params))  # see apply_kernels
    init = torch.tensor(_BILATERAL_INIT, dtype=img.dtype, device=img.device).view(1, 5, 1, 1)
    sig = init * torch.exp(params.clamp(-6, 6))
    inv = 1.0 / (2.0 * sig * sig)
    guides = torch.cat([logc, feats], dim=1)
    # Per-channel inverse bandwidths: colour (3 ch), albedo (3), normal (3), depth (1).
    ginv = torch.cat([inv[:, 1:2].expand(-1, 3, -1, -1), inv[:, 2:3].expand(-1, 3, -1, -1),
                      inv[:, 3:4].expand(-1, 3, -1, -1), inv[:, 4:5]], dim=1)
    r, st = BILATERAL_RADIUS, BILATERAL_STRIDE
    h, w = img.shape[-2:]
    pimg = F.pad(img, [r] * 4, mode="replicate")
    pg = F.pad(guides, [r] * 4, mode="replicate")
    acc = torch.zeros_like(img)
    wsum = torch.zeros_like(img[:, :1])
    for dy in range(-r, r + 1, st):
        for dx in range(-r, r + 1, st):
            ys, xs = slice(r + dy, r + dy + h), slice(r + dx, r + dx + w)
            diff = pg[:, :, ys, xs] - guides
            e = (diff * diff * ginv).sum(dim=1, keepdim=True) + (dy * dy + dx * dx) * inv[:, 0:1]
            wt = torch.exp(-e)
            acc = acc + wt * pimg[:, :, ys, xs]
            wsum = wsum + wt
    return acc / wsum  # the centre tap has weight 1, so wsum >= 1


class _Graph(nn.Module):
    """What the ONNX graph computes: raw (B, 13, H, W), H and W multiples of the net's
    :attr:`~DenoiserNet.multiple` -> (B, 3, H, W) linear HDR."""

    def __init__(self, net: DenoiserNet):
        super().__init__()
        self.net = net

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.net(raw)


def onnx_graph(net: DenoiserNet):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of a denoiser (input ``raw``)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    m = net.multiple
    raw = torch.rand(1, RAW_CHANNELS, 6 * m, 8 * m)
    return OnnxSpec(_Graph(net), {"raw": raw}, {"raw": image_axes()}, m, {"kind": "denoise", "config": net.cfg.to_dict()})
