"""Losses for HDR image regression (denoising and the other ops). None needs pretrained weights.

All take (B, C, H, W) linear HDR prediction and target and return a scalar tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def l1_log(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 of log1p-compressed radiance: about relative error on highlights, absolute in the darks."""
    return (torch.log1p(pred.clamp(min=0)) - torch.log1p(target.clamp(min=0))).abs().mean()


def smape(pred: torch.Tensor, target: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Symmetric mean absolute percentage error |p - t| / (|p| + |t| + eps) (Vogels et al. 2018)."""
    return ((pred - target).abs() / (pred.abs() + target.abs() + eps)).mean()


def relmse(pred: torch.Tensor, target: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Relative MSE (p - t)^2 / (t^2 + eps), the metric we report; the target in the denominator
    is detached so it is a weighting, not a path for gradients."""
    return ((pred - target) ** 2 / (target.detach() ** 2 + eps)).mean()


def relmse_n2n(pred: torch.Tensor, target: torch.Tensor, eps: float = 0.01) -> torch.Tensor:
    """Relative MSE normalised by the (detached) prediction, for noisy targets (Noise2Noise,
    Lehtinen et al. 2018): L2 keeps the noisy target's mean as the optimum, and a denominator
    that does not depend on the target's noise keeps that true."""
    return ((pred - target) ** 2 / (pred.detach() ** 2 + eps)).mean()


def _gauss_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-(t * t) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    w = win.expand(c, 1, *win.shape[-2:])
    pad = win.shape[-1] // 2

    def blur(t):
        return F.conv2d(F.pad(t, [pad] * 4, mode="reflect"), w, groups=c)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Multi-scale SSIM of images in [0, 1] (Wang et al. 2003), mean over the batch; 1 = identical.
    Three scales (not five) so that 64-pixel training crops still have a meaningful coarsest scale."""
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:scales], device=x.device)
    weights = weights / weights.sum()
    win = _gauss_window(device=x.device)
    vals = []
    for s in range(scales):
        ssim_s, cs = _ssim_cs(x, y, win)
        vals.append(ssim_s if s == scales - 1 else cs)
        if s < scales - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    v = torch.stack(vals, dim=1).clamp(min=1e-6)
    return torch.prod(v ** weights, dim=1).mean()


def tonemap(x: torch.Tensor) -> torch.Tensor:
    """HDR -> [0, 1) for perceptual losses: x / (1 + x) then gamma 1/2.2."""
    x = x.clamp(min=0)
    return (x / (1 + x)).clamp(min=1e-8) ** (1 / 2.2)


def display(x: torch.Tensor) -> torch.Tensor:
    """Linear -> the sRGB display image in [0, 1] that PSNR and FLIP are measured on (clipped)."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def display_loss(pred: torch.Tensor, target: torch.Tensor, tail: float = 0.2) -> torch.Tensor:
    """MSE of the display images (what PSNR measures), plus ``tail`` x L1 of the tonemapped
    images, which still has a gradient where the display image clips at white."""
    return ((display(pred) - display(target)) ** 2).mean() + tail * (tonemap(pred) - tonemap(target)).abs().mean()


def l1_msssim(pred: torch.Tensor, target: torch.Tensor, alpha: float = 0.84) -> torch.Tensor:
    """(1 - a) L1 + a (1 - MS-SSIM) on tonemapped images (OIDN's choice, a = 0.84)."""
    p, t = tonemap(pred), tonemap(target)
    return (1 - alpha) * (p - t).abs().mean() + alpha * (1 - ms_ssim(p, t))


LOSSES = {"l1log": l1_log, "smape": smape, "relmse": relmse, "relmse_n2n": relmse_n2n, "l1msssim": l1_msssim}


def get_loss(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss '{name}' (choose from {', '.join(LOSSES)})") from None
