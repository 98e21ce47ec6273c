"""Learned blending for novel-view synthesis (Hedman et al. 2018, Deep Blending), optionally with
EffectsNet's split (Thies et al. 2020): the view-independent part is blended, the view-dependent
(glossy) part predicted for the target.

A small U-Net encodes each of the K slots of :mod:`neural_ops.novel_view.features` on its own (the
same weights for every slot, so any K works and the order of equally good views does not
matter) with one cross-slot exchange at its coarsest level (each slot also sees the mean and
maximum over slots). Per slot it predicts a blending logit; a softmax over the slots that see
the pixel blends their warped colours, so an invalid view gets exactly zero weight. A head on
the slot features pooled over the valid slots then predicts a log-space residual of the blend;
pixels no view sees (holes) start from a push-pull fill of the blend (mask-weighted mean
pyramid) and the same head corrects them.

Identity-ish start: the logit and residual convolutions start at zero, so an untrained model
returns the validity-weighted average of the warped colours (holes: the push-pull fill), and
training starts from about ULR quality instead of noise.

``split``: the slots' ``colour - glossy`` (diffuse, emission, environment, transmission: the
light that does not change much with the view; Blender's diffuse passes alone would miss the
background and emitters) is blended as above, and the glossy part is blended with a second set
of logits and corrected by its own residual, which sees the target's view direction and normal
(the reflection direction decides where highlights go). Both start at the same average, so the
untrained split model equals the unsplit one.

Per-slot channel layout, (K, SLOT_CHANNELS, H, W) float32 (built by :func:`pack_features`):

======  =================================================================
0:3     log1p of the warped colour (linear HDR)
3       valid (1: the view sees the point)
4       ULR penalty (radians, clipped to [0, pi])
5       relative depth difference / ``REL_TOL``, clipped to [0, 4]
6       ULR weight of the view
7:10    unit world direction from the point to the view's centre
10:13   log1p of the warped glossy pass (zeros without one)
======  =================================================================

Shared channel layout, (SHARED_CHANNELS, H, W) float32:

======  =================================================================
0:3     log1p of the ULR image
3       target sees geometry (1) or the environment (0)
4:7     unit world direction of the target ray
7:10    world normal of the target (zeros when unknown)
10      1 when the normal is known (renderer-aware mode with a G-buffer)
======  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.blocks import UNet, double_conv, unet_levels, zero_init_
from ..nn.config import ModelConfig
from .features import SHARED_CHANNELS, SLOT_CHANNELS, VALID, pack_features  # noqa: F401  (this model's layout)

#: Push-pull levels of the ONNX graph: fixed, as a graph has no data-dependent loop here; a
#: level below 1x1 changes nothing, so 20 cover any frame up to 2^20 pixels a side.
ONNX_PULL_LEVELS = 20

@dataclass
class BlendConfig(ModelConfig):
    """Architecture of a learned-blending model (saved in the model card, rebuilt on load).

    Attributes:
        channels: per-slot U-Net channels per level, finest first (>= 2 levels).
        k: source views per pixel the model is trained with (features are built for this many).
        split: blend only the view-independent part and predict the glossy part (EffectsNet).
    """

    channels: list[int] = field(default_factory=lambda: [16, 32, 48])
    k: int = 4
    split: bool = False

    def check(self) -> None:
        if not 1 <= self.k <= 16:
            raise ValueError(f"k (views per pixel) must be in 1..16, got {self.k}")
        if len(self.channels) < 2 or min(self.channels) < 4:
            raise ValueError(f"need >= 2 levels of >= 4 channels, got {self.channels}")


def push_pull(x: torch.Tensor, w: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """Fill the pixels of ``x`` where ``w`` is 0 from their surroundings (Gortler et al. 1996).

    Push: a pyramid of ``w``-weighted 2x2 means down to one pixel. Pull: from coarse to fine, a
    pixel with any weight keeps its weighted mean, one without takes the bilinearly upsampled
    coarser level. Where ``w`` is 1 the output is ``x`` exactly.

    Args:
        x: (B, C, H, W).
        w: (B, 1, H, W) weights in [0, 1] (here 0/1 masks).
        levels: pyramid levels below the image; None: down to one pixel. More than that
            repeats the 1x1 level (a 2x2 mean with ``ceil_mode`` of one pixel is that pixel),
            so the result is the same: what the ONNX graph uses, as it cannot loop on a size.

    Returns:
        (B, C, H, W); 0 where the whole image has no weight.
    """
    xs, ws = [x * w], [w]
    while (min(xs[-1].shape[-2:]) > 1) if levels is None else (len(xs) <= levels):
        xs.append(F.avg_pool2d(xs[-1], 2, ceil_mode=True))
        ws.append(F.avg_pool2d(ws[-1], 2, ceil_mode=True))
    fill = xs[-1] / ws[-1].clamp(min=1e-12)
    for xl, wl in zip(reversed(xs[:-1]), reversed(ws[:-1])):
        up = F.interpolate(fill, size=xl.shape[-2:], mode="bilinear", align_corners=False)
        # clamp, not where-division: 0 / 0 in the unused branch would still poison the gradient
        fill = torch.where(wl > 0, xl / wl.clamp(min=1e-12), up)
    return fill


def masked_softmax(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 (views) among the valid ones; exactly 0 for invalid views and for
    pixels no view sees. logits, valid: (B, K, ...)."""
    ok = valid > 0.5
    e = torch.softmax(logits.masked_fill(~ok, -1e9), dim=1) * ok
    return e / e.sum(dim=1, keepdim=True).clamp(min=1e-12)


class BlendNet(UNet):
    """K warped views -> the target image.

    Shape:
        forward: slots (B, K, SLOT_CHANNELS, H, W), shared (B, SHARED_CHANNELS, H, W) ->
        (B, 3, H, W) linear HDR. Any K >= 1 and any H, W (padded internally to a multiple of
        2^(levels-1)).
    """

    def __init__(self, cfg: BlendConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or BlendConfig()
        cfg.check()
        ch = list(cfg.channels)
        self.levels = len(ch)
        n_in = SLOT_CHANNELS + SHARED_CHANNELS
        self.enc, self.dec = unet_levels(n_in, ch, double_conv)
        self.mix = nn.Sequential(nn.Conv2d(3 * ch[-1], ch[-1], 1), nn.ReLU(inplace=True))
        n_parts = 2 if cfg.split else 1
        self.logit = nn.Conv2d(ch[0], n_parts, 3, padding=1)
        self.head = double_conv(2 * ch[0] + SHARED_CHANNELS + 1, ch[0])
        self.out = nn.Conv2d(ch[0], 3 * n_parts, 3, padding=1)
        # Learned trust in the ULR weights (logit += prior * log w_ulr); 0: not used at first.
        self.prior = nn.Parameter(torch.zeros(n_parts))
        zero_init_(self.logit, self.out)
        #: Fixed push-pull depth (None: to one pixel); set while exporting to ONNX.
        self.pull_levels: int | None = None

    def forward(self, slots: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        return self.parts(slots, shared)["image"]

    def parts(self, slots: torch.Tensor, shared: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output and what made it.

        Returns:
            ``image`` (B, 3, H, W) linear HDR; ``weights`` (B, K, H, W) blending weights of the
            slots (the view-independent ones for a split model); ``hole`` (B, 1, H, W) 1 where
            no view sees the pixel; for a split model also ``glossy`` (B, 3, H, W), the
            predicted view-dependent part, and ``glossy_weights``.
        """
        if slots.ndim != 5 or slots.shape[2] != SLOT_CHANNELS:
            raise ValueError(f"slots must be (B, K, {SLOT_CHANNELS}, H, W), got {tuple(slots.shape)}")
        b, k, _, h, w = slots.shape
        if shared.shape != (b, SHARED_CHANNELS, h, w):
            raise ValueError(f"shared must be ({b}, {SHARED_CHANNELS}, {h}, {w}), got {tuple(shared.shape)}")
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            slots = F.pad(slots.reshape(b, k * SLOT_CHANNELS, h, w), [0, pw, 0, ph], mode="replicate")
            slots = slots.reshape(b, k, SLOT_CHANNELS, h + ph, w + pw)
            shared = F.pad(shared, [0, pw, 0, ph], mode="replicate")
        hp, wp = h + ph, w + pw
        valid = (slots[:, :, VALID] > 0.5).to(slots.dtype)  # (B, K, H, W)
        # Whatever an invalid slot holds never reaches the output: its inputs are zeroed here,
        # its weight is 0 below, and it is left out of the pooled features.
        slots = slots * valid[:, :, None]
        x = torch.cat([slots, shared[:, None].expand(b, k, *shared.shape[1:])], dim=2).reshape(b * k, -1, hp, wp)
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        xs = x.reshape(b, k, *x.shape[1:])
        x = self.mix(torch.cat([xs, xs.mean(1, keepdim=True).expand_as(xs), xs.amax(1, keepdim=True).expand_as(xs)],
                               dim=2).reshape(b * k, -1, *x.shape[-2:]))
        for i in range(self.levels - 2, -1, -1):
            x = F.interpolate(x, size=skips[i].shape[-2:], mode="nearest")
            x = self.dec[i](torch.cat([x, skips[i]], dim=1))
        feat = x.reshape(b, k, -1, hp, wp)

        logits = self.logit(x).reshape(b, k, -1, hp, wp)
        prior = torch.log(slots[:, :, 6:7].clamp(min=1e-4))  # (B, K, 1, H, W)
        any_valid = (valid.sum(1, keepdim=True) > 0).to(slots.dtype)  # (B, 1, H, W)
        vw = valid[:, :, None]
        pooled_mean = (feat * vw).sum(1) / vw.sum(1).clamp(min=1.0)
        pooled_max = feat.masked_fill(vw <= 0.5, 0.0).amax(1)
        res = self.out(self.head(torch.cat([pooled_mean, pooled_max, shared, any_valid], dim=1)))

        color = torch.expm1(slots[:, :, 0:3])
        out = {"hole": 1.0 - any_valid}
        if self.cfg.split:
            glossy = torch.expm1(slots[:, :, 10:13])
            parts = [(color - glossy).clamp(min=0), glossy]
        else:
            parts = [color]
        images = []
        for p, part in enumerate(parts):
            wts = masked_softmax(logits[:, :, p] + self.prior[p] * prior[:, :, 0], valid)
            blend = (part * wts[:, :, None]).sum(1)
            base = push_pull(torch.log1p(blend.clamp(min=0)), any_valid, self.pull_levels)
            images.append(torch.expm1((base + res[:, 3 * p : 3 * p + 3]).clamp(max=30.0)).clamp(min=0))
            out["weights" if p == 0 else "glossy_weights"] = wts[..., :h, :w]
        if self.cfg.split:
            out["glossy"] = images[1][..., :h, :w]
        out["image"] = sum(images)[..., :h, :w]
        out["hole"] = out["hole"][..., :h, :w]
        return out


def bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (AVX-512 BF16 / AMX): then they take
    about half the time of float32; elsewhere they would be slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def blend_image(net: BlendNet, feats, bf16: bool | None = None) -> np.ndarray:
    """(H, W, 3) float32 linear HDR: ``net`` applied to the features of one target view
    (:func:`neural_ops.novel_view.features.blend_features`, built with ``k = net.cfg.k``).

    ``bf16``: run the convolutions in bfloat16 (None: where the CPU supports it natively; the
    image then differs from float32 by about 0.1 % on average, measured on held-out views).
    """
    from ..nn.tiling import set_threads

    set_threads()
    slots, shared = pack_features(feats)
    use_bf16 = bf16_supported() if bf16 is None else bf16
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        y = net(torch.from_numpy(slots)[None], torch.from_numpy(shared)[None])
    return y[0].float().permute(1, 2, 0).numpy().copy()


def load_blend_model(weights: str = "", model: str = "") -> tuple[BlendNet, dict]:
    """(net in eval mode, model card) from a ``.safetensors`` path or a shipped ``ibr_NAME``."""
    from ..nn.weights import load_model

    return load_model("ibr", lambda card: BlendNet(BlendConfig.from_dict(card["config"])), model=model,
                      weights=weights, noun="learned blending")


class _Graph(nn.Module):
    """What the ONNX graph computes: slots (B, K, SLOT_CHANNELS, H, W) and shared
    (B, SHARED_CHANNELS, H, W), H and W multiples of the net's multiple -> (B, 3, H, W)."""

    def __init__(self, net: BlendNet):
        super().__init__()
        self.net = net

    def forward(self, slots: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        self.net.pull_levels = ONNX_PULL_LEVELS
        try:
            return self.net(slots, shared)
        finally:
            self.net.pull_levels = None


def onnx_graph(net: BlendNet):
    """The :class:`~neural_ops.nn.onnx_export.OnnxSpec` of a blending model (inputs ``slots``
    with a dynamic number of views, and ``shared``)."""
    from ..nn.onnx_export import OnnxSpec, image_axes

    m = net.multiple
    h, w = 6 * m, 8 * m
    slots = torch.rand(1, net.cfg.k, SLOT_CHANNELS, h, w)
    slots[:, :, VALID] = (slots[:, :, VALID] > 0.3).float()
    axes = {"slots": {**image_axes(5), 1: "views"}, "shared": image_axes()}
    return OnnxSpec(_Graph(net), {"slots": slots, "shared": torch.rand(1, SHARED_CHANNELS, h, w)}, axes, m,
                    {"kind": "ibr", "config": net.cfg.to_dict()})


def export_onnx(weights, out=None):
    """Write the ONNX graph of the blending model ``weights`` (default: beside it). Returns
    (the graph's path, its :class:`~neural_ops.nn.onnx_export.OnnxSpec`)."""
    from pathlib import Path

    from ..nn.onnx_export import export_graph
    from ..nn.runtime import onnx_path

    net, _ = load_blend_model(weights=str(weights))
    spec = onnx_graph(net)
    return export_graph(spec, Path(out) if out else onnx_path(weights)), spec
