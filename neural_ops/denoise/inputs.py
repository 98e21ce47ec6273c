"""Denoiser inputs: which passes a learned denoiser reads and how they are normalised.

Shared by training and inference so both see exactly the same numbers. Normalisations that
need whole-image statistics (depth scale) happen here, on the full frame, before any tiling:
a tile then sees the same values it would see inside the untiled image.

Raw channel layout, (H, W, RAW_CHANNELS) float32:

======  =========================================================================
0:3     noisy colour, linear HDR (``Combined`` RGB), clamped at 0
3:6     albedo in [0, 1] (``Denoising Albedo``)
6:9     world-space normal in [-1, 1] (``Denoising Normal``)
9       depth feature: log(depth / median depth of the frame), misses = +4
10:13   base image, linear HDR: the colour a residual is added to (noisy colour, or
        another denoiser's output, e.g. OIDN's, for the ensemble models)
======  =========================================================================
"""

from __future__ import annotations

import numpy as np

from ..core.errors import PassSetError
from ..core.passset import ALBEDO_PASSES, NORMAL_PASSES, PassSet, clamped
from ..core.strips import first_present, whole_depth_median
from ..nn.features import MISS_DEPTH, depth_feature  # noqa: F401  (MISS_DEPTH: part of the layout above)

RAW_CHANNELS = 13
#: Added to albedo before demodulation so black surfaces do not amplify noise without bound.
ALBEDO_EPS = 0.01


def raw_inputs(passes: PassSet, base: np.ndarray | None = None) -> np.ndarray:
    """Stack a pass set's denoising passes into the raw layout above.

    Args:
        passes: needs ``Combined``, ``Denoising Albedo`` (or ``Diffuse Color``),
            ``Denoising Normal`` (or ``Normal``) and ``Denoising Depth`` (or ``Depth``).
        base: (H, W, 3) linear HDR image the model refines; None uses the noisy colour.
    Returns:
        (H, W, 13) float32.
    """
    color = clamped(passes.color, 0.0, None, passes.source, "Combined")
    if base is None:
        base = color
    elif base.shape[:2] != color.shape[:2]:
        raise PassSetError(f"{passes.source}: base image is {base.shape[:2]}, passes are {color.shape[:2]}")
    x = np.concatenate(
        [color, clamped(passes.albedo, 0.0, 1.0, passes.source, first_present(passes, ALBEDO_PASSES)),
         clamped(passes.normal, -1.0, 1.0, passes.source, first_present(passes, NORMAL_PASSES)),
         depth_feature(passes.depth, whole_depth_median(passes)), np.maximum(base[..., :3], 0.0)],
        axis=2,
    )
    return np.ascontiguousarray(x, dtype=np.float32)
