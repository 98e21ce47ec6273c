"""Image quality metrics used in every evaluation table: relMSE, PSNR, SSIM, FLIP.

relMSE runs on linear HDR; PSNR and SSIM on the display image (clip to [0, 1] then the sRGB
transfer curve, what Blender's "Standard" view shows); FLIP in its HDR mode via
``flip-evaluator``. No metric here needs pretrained network weights.
"""

from __future__ import annotations

import numpy as np

from .errors import OpError

#: Rec. 709 luminance weights (linear RGB), shared by every op that measures brightness.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _check(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)[..., :3]
    ref = np.asarray(ref, dtype=np.float32)[..., :3]
    if x.shape != ref.shape:
        raise OpError(f"metric inputs differ in shape: {x.shape} vs reference {ref.shape}")
    return x, ref


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear -> display sRGB in [0, 1] (clipped), any shape."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def relmse(x: np.ndarray, ref: np.ndarray, eps: float = 0.01) -> float:
    """Relative MSE, mean over pixels and channels of (x - ref)^2 / (ref^2 + eps). Lower is better.

    Args:
        x, ref: (H, W, 3) linear HDR.
    """
    x, ref = _check(x, ref)
    return float(np.mean((x - ref) ** 2 / (ref * ref + eps)))


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    """PSNR in dB of the sRGB display images (peak 1). Higher is better; inf if identical."""
    x, ref = _check(x, ref)
    mse = float(np.mean((srgb_encode(x) - srgb_encode(ref)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def _gauss_blur(img: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    """Separable Gaussian blur of (H, W[, C]) with reflected borders."""
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-(t * t) / (2 * sigma * sigma))
    k /= k.sum()
    pad = [(radius, radius), (radius, radius)] + [(0, 0)] * (img.ndim - 2)
    p = np.pad(img, pad, mode="reflect")
    h, w = img.shape[:2]
    tmp = sum(k[i] * p[i : i + h] for i in range(2 * radius + 1))
    return sum(k[i] * tmp[:, i : i + w] for i in range(2 * radius + 1))


def ssim(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) of the sRGB display
    images, averaged over the three channels. 1 is identical."""
    x, ref = _check(x, ref)
    a, b = srgb_encode(x).astype(np.float64), srgb_encode(ref).astype(np.float64)
    if min(a.shape[:2]) < 11:
        raise OpError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gauss_blur(a), _gauss_blur(b)
    saa = _gauss_blur(a * a) - mu_a**2
    sbb = _gauss_blur(b * b) - mu_b**2
    sab = _gauss_blur(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2))
    return float(m.mean())


def flip(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean HDR-FLIP error (Andersson et al. 2020/2021) via ``flip-evaluator``. 0 is identical."""
    return _flip(x, ref)[1]


def flip_map(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-pixel HDR-FLIP error (H, W) float32; its mean is :func:`flip`."""
    img = np.asarray(_flip(x, ref)[0], np.float32)
    return img[..., 0] if img.ndim == 3 else img


def _flip(x: np.ndarray, ref: np.ndarray):
    x, ref = _check(x, ref)
    try:
        import flip_evaluator
    except ImportError:
        raise OpError("FLIP needs the 'flip-evaluator' package: pip install flip-evaluator") from None
    img, mean, _ = flip_evaluator.evaluate(
        np.ascontiguousarray(np.maximum(ref, 0.0)),
        np.ascontiguousarray(np.maximum(x, 0.0)),
        "HDR",
        applyMagma=False,
    )
    return img, float(mean)


METRICS = {"relMSE": relmse, "PSNR": psnr, "SSIM": ssim, "FLIP": flip}
#: True where a higher value is better.
HIGHER_IS_BETTER = {"relMSE": False, "PSNR": True, "SSIM": True, "FLIP": False}


def all_metrics(x: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS`, in that order."""
    return {name: fn(x, ref) for name, fn in METRICS.items()}


def format_table(rows: dict[str, dict[str, float]], extra: dict[str, dict[str, str]] | None = None) -> str:
    """A Markdown table: one row per method, one column per metric, then optional extra columns."""
    if not rows:
        return ""
    extra = extra or {}
    cols = list(next(iter(rows.values())))
    extra_cols = list(next(iter(extra.values()))) if extra else []
    lines = [
        "| method | " + " | ".join(cols + extra_cols) + " |",
        "|---|" + "---:|" * (len(cols) + len(extra_cols)),
    ]
    for name, vals in rows.items():
        cells = [_fmt(c, vals[c]) for c in cols] + [extra.get(name, {}).get(c, "") for c in extra_cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(name: str, v: float) -> str:
    if name.endswith("PSNR"):
        return f"{v:.2f}"
    if name == "relMSE":
        return f"{v:.5f}"
    return f"{v:.4f}"
