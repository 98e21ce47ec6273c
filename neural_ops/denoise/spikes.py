"""Spike (firefly) removal that leaves real HDR highlights alone.

A pixel is a spike when its log-luminance stands far above the statistics of its neighbours
(the seed's Kalantari 2015 preprocess). Working in log space makes the test scale-free: a
bright lamp whose neighbours are also bright is not an outlier, so nothing is clamped. A
spike is replaced by the per-channel median of its neighbours, never by a fixed ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..core.errors import OpError
from ..core.metrics import LUMA
from ..core.passset import PassSet
from ..core.registry import OpSpec, register


@dataclass
class SpikeParams:
    """Settings of spike removal.

    Attributes:
        radius: neighbourhood half-size in pixels (2 -> 5x5 window).
        k: a pixel is a spike if its log-luminance exceeds the neighbours' mean by ``k`` standard deviations...
        min_ratio: ...and is at least this many times brighter than the neighbours' geometric mean.
    """

    radius: int = 2
    k: float = 3.0
    min_ratio: float = 4.0

    def check(self) -> None:
        if not 1 <= self.radius <= 8:
            raise OpError(f"spike radius must be in 1..8, got {self.radius}")
        if self.k <= 0 or self.min_ratio < 1:
            raise OpError("spike k must be > 0 and min_ratio >= 1")


def spike_mask(color: np.ndarray, params: SpikeParams | None = None) -> np.ndarray:
    """(H, W) bool mask of spike pixels in ``color`` (H, W, 3) linear HDR."""
    p = params or SpikeParams()
    r = p.radius
    lum = np.maximum(color[:, :, :3] @ LUMA, 0.0)
    loglum = np.log(lum + 1e-4).astype(np.float64)
    pad = np.pad(loglum, r, mode="reflect")
    win = sliding_window_view(pad, (2 * r + 1, 2 * r + 1))  # (H, W, n, n), a view
    n = (2 * r + 1) ** 2 - 1
    s1 = win.sum(axis=(2, 3)) - loglum
    s2 = (win * win).sum(axis=(2, 3)) - loglum * loglum
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
    excess = loglum - mean
    return (excess > p.k * std) & (excess > np.log(p.min_ratio))


def remove_spikes(color: np.ndarray, params: SpikeParams | None = None) -> np.ndarray:
    """Replace spikes by the median of their neighbours.

    Args:
        color: (H, W, 3) linear HDR float32.
    Returns:
        (H, W, 3) float32; only spike pixels differ from ``color``.
    """
    p = params or SpikeParams()
    color = np.asarray(color, dtype=np.float32)[:, :, :3]
    mask = spike_mask(color, p)
    out = color.copy()
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return out
    r = p.radius
    pad = np.pad(color, ((r, r), (r, r), (0, 0)), mode="reflect")
    win = sliding_window_view(pad, (2 * r + 1, 2 * r + 1), axis=(0, 1))  # (H, W, 3, n, n)
    patches = win[ys, xs].reshape(len(ys), 3, -1).copy()  # only the spikes are gathered
    centre = (2 * r + 1) ** 2 // 2
    patches = np.delete(patches, centre, axis=2)
    out[ys, xs] = np.median(patches, axis=2)
    return out


def _run(passes: PassSet, params: SpikeParams) -> np.ndarray:
    return remove_spikes(passes.color, params)


register(
    OpSpec(
        kind="denoise",
        name="spikes",
        label="Spike Removal",
        description="Remove fireflies (isolated outliers in log luminance) without clamping HDR highlights.",
        fn=_run,
        params=SpikeParams,
        requires=("Combined",),
        pass_name="Despiked",
        halo=lambda p: p.radius,
    )
)
