"""Cross-bilateral filter on render features (the seed's Kalantari et al. 2015 filter).

The weight between pixel i and a neighbour j is

    d_ij = exp(-|p_i - p_j|^2 / 2a^2) * exp(-D(c_i, c_j) / 2b^2) * prod_k exp(-D_k(f_ik, f_jk) / 2g_k^2)

with p the pixel position, c the colour (compared in log space so HDR highlights do not
dominate) and f_k the features albedo, normal, depth and world position. Kalantari et al.
learn a, b, g_k per pixel with a network; this op uses global values (the learned variant
plugs per-pixel parameter maps into the same :func:`cross_bilateral`).

Vectorised: one loop over the (2r+1)^2 window offsets, each a whole-image array operation.
All feature terms are folded into one pre-scaled feature stack, so each offset costs a single
squared distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import OpError
from ..core.passset import DEPTH_PASSES, PassSet
from ..core.registry import OpSpec, register
from ..core.strips import first_present, frame_stat
from .spikes import SpikeParams, remove_spikes


@dataclass
class BilateralParams:
    """Settings of the cross-bilateral filter.

    Attributes:
        radius: window half-size in pixels ((2r+1)^2 neighbours).
        sigma_spatial: a, spatial std in pixels.
        sigma_color: b, std of log-colour differences.
        sigma_albedo: g for albedo (RGB in [0, 1]).
        sigma_normal: g for normals (unit vectors).
        sigma_depth: g for depth, relative to the pixel's own depth.
        sigma_position: g for world position, in units of the pixel footprint at its depth.
        despike: remove fireflies before filtering (the seed's preprocess).
    """

    radius: int = 6
    sigma_spatial: float = 4.0
    sigma_color: float = 0.6
    sigma_albedo: float = 0.08
    sigma_normal: float = 0.25
    sigma_depth: float = 0.05
    sigma_position: float = 4.0
    despike: bool = True

    def check(self) -> None:
        if not 1 <= self.radius <= 32:
            raise OpError(f"bilateral radius must be in 1..32, got {self.radius}")
        for name in ("sigma_spatial", "sigma_color", "sigma_albedo", "sigma_normal", "sigma_depth", "sigma_position"):
            if getattr(self, name) <= 0:
                raise OpError(f"bilateral {name} must be > 0, got {getattr(self, name)}")


def cross_bilateral(
    color: np.ndarray, guides: np.ndarray, radius: int, sigma_spatial: float
) -> np.ndarray:
    """Filter ``color`` with weights exp(-spatial) * exp(-|g_i - g_j|^2).

    Args:
        color: (H, W, 3) values to average.
        guides: (H, W, F) guide features already divided by sqrt(2) * sigma per channel, so the
            range weight is exp(-squared distance).
        radius: window half-size.
        sigma_spatial: spatial std in pixels.
    Returns:
        (H, W, 3) float32 filtered colour.
    """
    h, w, _ = color.shape
    r = radius
    padc = np.pad(color.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="edge")
    padg = np.pad(guides.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="edge")
    # Out-of-image neighbours get weight 0 (edge padding alone would over-weight the border).
    valid = np.pad(np.ones((h, w), np.float32), r)
    acc = np.zeros((h, w, 3), np.float32)
    wsum = np.zeros((h, w), np.float32)
    inv2a2 = 1.0 / (2.0 * sigma_spatial**2)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            sp = (dy * dy + dx * dx) * inv2a2
            if sp > 4.5:  # weight < 1.1e-2 of the centre: skip the corners of the window
                continue
            ys, xs = slice(r + dy, r + dy + h), slice(r + dx, r + dx + w)
            diff = padg[ys, xs] - guides
            d2 = np.einsum("hwf,hwf->hw", diff, diff)
            wt = np.exp(-(d2 + sp)) * valid[ys, xs]
            acc += wt[:, :, None] * padc[ys, xs]
            wsum += wt
    return acc / np.maximum(wsum, 1e-12)[:, :, None]


def _guides(passes: PassSet, color: np.ndarray, p: BilateralParams) -> np.ndarray:
    """Stack colour and features, each divided by sqrt(2)*sigma so distances are exponents."""
    s2 = np.sqrt(2.0)
    feats = [np.log1p(np.maximum(color, 0.0)) / (s2 * p.sigma_color)]
    if any(n in passes for n in ("Denoising Albedo", "Diffuse Color")):
        feats.append(passes.albedo / (s2 * p.sigma_albedo))
    if any(n in passes for n in ("Denoising Normal", "Normal")):
        feats.append(passes.normal / (s2 * p.sigma_normal))
    depth = None
    if any(n in passes for n in ("Denoising Depth", "Depth")):
        depth = passes.depth
        name = first_present(passes, DEPTH_PASSES)
        # Background is 1e10 in 'Depth' and 0 in 'Denoising Depth': both become "far".
        hit = (depth > 0) & (depth < 1e9)
        scale = frame_stat(passes, "depth_median", name)  # a strip: the whole frame's
        if scale is None:
            scale = float(np.median(depth[hit])) if hit.any() else 1.0
        d = np.where(hit, depth, 1e3 * scale)
        feats.append(np.log(d / scale + 1e-3) / (s2 * p.sigma_depth))
    if "Position" in passes and depth is not None:
        # Footprint of one pixel at its depth ~ depth * (2 tan(fov/2) / width); we do not need
        # the exact fov: distances are relative to the median footprint of the image.
        h, w = passes.shape
        cam = passes.meta.get("camera", {})
        lens, sensor = cam.get("lens", 50.0), cam.get("sensor_width", 36.0)
        footprint = np.maximum(d, 1e-3) * (sensor / lens) / w
        pos = passes.position
        far = frame_stat(passes, "depth_far_median", name)
        fp = np.median(footprint) if far is None else far * (sensor / lens) / w
        feats.append(np.clip(pos, -1e6, 1e6) / (s2 * p.sigma_position * fp))
    return np.concatenate(feats, axis=2).astype(np.float32)


def bilateral_denoise(passes: PassSet, params: BilateralParams | None = None) -> np.ndarray:
    """Denoise ``Combined`` with the cross-bilateral filter guided by the available features.

    Returns:
        (H, W, 3) float32 linear HDR.
    """
    p = params or BilateralParams()
    color = passes.color
    if p.despike:
        color = remove_spikes(color, SpikeParams())
    return cross_bilateral(color, _guides(passes, color, p), p.radius, p.sigma_spatial)


register(
    OpSpec(
        kind="denoise",
        name="bilateral",
        label="Cross-Bilateral (Kalantari 2015)",
        description="Cross-bilateral filter on colour, albedo, normal, depth and position, after spike removal.",
        fn=bilateral_denoise,
        params=BilateralParams,
        requires=("Combined",),
        pass_name="Denoised Bilateral",
        halo=lambda p: p.radius + (SpikeParams().radius if p.despike else 0),
    )
)
