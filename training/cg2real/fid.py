"""Frechet distance between feature distributions, and its bias-free extrapolation FID-infinity.

FID is biased: computed from N samples it overestimates the true distance by a term that falls
like 1/N (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find
them"). FID-infinity computes FID on random subsets of several sizes N, fits FID_N = a + b / N,
and reports a, the value at N -> infinity.

The features come from an Inception network whose weights cannot be downloaded here: the user
points to a local TorchScript file (e.g. ``inception-2015-12-05.pkl`` as used by StyleGAN and
clean-fid). Without it, realism is reported as not available.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_ops.core.errors import NeuralRenderError


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) of two Gaussians, by symmetric eigensolves
    (tr (S1 S2)^(1/2) = tr (S1^(1/2) S2 S1^(1/2))^(1/2), which stays real and stable)."""
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sum(np.sqrt(np.clip(ev, 0, None))))
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID of two (N, D) feature sets."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def fid_infinity(f1: np.ndarray, f2: np.ndarray, points: int = 15, min_n: int | None = None,
                 seed: int = 0) -> tuple[float, list[tuple[int, float]]]:
    """FID extrapolated to infinitely many samples.

    Args:
        f1: (N1, D) features of the generated images; subsets of it are drawn.
        f2: (N2, D) features of the real images (used whole: its statistics are the target).
        points: subset sizes between ``min_n`` and N1, evenly spaced in 1/N.
        min_n: smallest subset (default N1 / 5, at least D + 2 so covariances are full rank).
    Returns:
        (FID-infinity, [(N, FID_N), ...]).
    """
    f1 = np.asarray(f1, np.float64)
    n1, dim = f1.shape
    lo = min_n or max(dim + 2, n1 // 5)
    if lo >= n1:
        raise NeuralRenderError(f"FID-infinity needs more than {lo} samples of {dim}-d features, got {n1}")
    rng = np.random.default_rng(seed)
    ns = np.unique(np.round(1.0 / np.linspace(1.0 / lo, 1.0 / n1, points)).astype(int))
    f2 = np.asarray(f2, np.float64)
    mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    curve = []
    for n in ns:
        sub = f1[rng.choice(n1, size=int(n), replace=False)]
        curve.append((int(n), frechet_distance(sub.mean(0), np.cov(sub, rowvar=False), mu2, s2)))
    x = np.array([1.0 / n for n, _ in curve])
    y = np.array([v for _, v in curve])
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), curve


class InceptionFeatures:
    """Pool features of a local Inception TorchScript file, for (N, H, W, 3) uint8 images."""

    def __init__(self, path: str):
        import torch

        p = Path(path)
        if not p.is_file():
            raise NeuralRenderError(f"{path}: no such Inception weights file")
        try:
            self.net = torch.jit.load(str(p), map_location="cpu").eval()
        except Exception as e:  # TorchScript raises several error types for foreign files
            raise NeuralRenderError(f"{path}: not a TorchScript Inception network ({str(e).splitlines()[0]})") from None

    def __call__(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for k in range(0, len(images), batch):
                x = torch.from_numpy(np.ascontiguousarray(images[k : k + batch])).permute(0, 3, 1, 2)
                try:
                    f = self.net(x, return_features=True)
                except (RuntimeError, TypeError):
                    f = self.net(x.float() / 255.0)
                out.append(f.reshape(f.shape[0], -1).float().numpy())
        return np.concatenate(out)


def realism(generated: np.ndarray, real: np.ndarray, inception: str | None) -> dict:
    """FID and FID-infinity of two sets of uint8 images, or why they are not available."""
    if not inception:
        return {"fid": None, "fid_inf": None,
                "note": "not available: pass --inception FILE (a local Inception TorchScript, e.g. inception-2015-12-05.pkl)"}
    feats = InceptionFeatures(inception)
    g, r = feats(generated), feats(real)
    inf, curve = fid_infinity(g, r)
    return {"fid": fid(g, r), "fid_inf": inf, "curve": curve, "generated": len(g), "real": len(r)}
