"""A synthetic frame with every pass an op reads: for timing, warm-up and tests without a render."""

from __future__ import annotations

import numpy as np

from .passset import PassSet


def synthetic_frame(width: int, height: int, seed: int = 0, raster: bool = False) -> PassSet:
    """A smooth synthetic frame with the denoising passes (noisy colour); ``raster=True`` adds
    the passes EEVEE writes (``Diffuse Color``, ``Glossy Color``, ``Normal``, ``Depth``)."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    albedo = np.stack([0.5 + 0.4 * np.sin(xx / 37), 0.5 + 0.4 * np.cos(yy / 23), np.full_like(xx, 0.4)], 2)
    light = (0.2 + 2.0 * (yy / height))[..., None]
    noisy = albedo * light * r.gamma(2.0, 0.5, size=(height, width, 1)).astype(np.float32)
    n = np.stack([np.sin(xx / 200), np.cos(yy / 150), np.ones_like(xx)], 2)
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    depth = (3 + yy / height)[..., None]
    ps = PassSet(source=f"synthetic {width}x{height}")
    ps.add("Combined", np.concatenate([noisy, np.ones_like(depth)], 2), "RGBA", half=True)
    ps.add("Denoising Albedo", albedo, "RGB", half=True)
    ps.add("Denoising Normal", n, "XYZ")
    ps.add("Denoising Depth", depth, "Z")
    ps.add("Position", np.stack([xx / 500, yy / 500, depth[..., 0]], 2), "XYZ")
    if raster:
        ps.add("Diffuse Color", albedo, "RGB", half=True)
        ps.add("Glossy Color", np.full_like(albedo, 0.04), "RGB", half=True)
        ps.add("Normal", n, "XYZ")
        ps.add("Depth", depth, "Z")
    return ps
