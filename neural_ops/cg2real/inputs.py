"""CG2Real generator inputs: the raw layout the generator reads (built in numpy, shared by the
torch and ONNX paths and by training; the layout table is in :mod:`.network`'s docstring)."""

from __future__ import annotations

import numpy as np

from ..core.errors import PassSetError
from ..core.passset import PassSet, clamped
from ..core.strips import whole_depth_median
from ..nn.features import depth_feature

RAW_CHANNELS = 13
#: Passes the generator reads (EEVEE writes all of them when they are enabled).
REQUIRED_PASSES = ("Combined", "Diffuse Color", "Glossy Color", "Normal", "Depth")
#: Added to the reflectance before demodulation (black or purely emissive surfaces).
REFL_EPS = 0.02


def raw_inputs(passes: PassSet) -> np.ndarray:
    """Stack a raster pass set into the raw layout (H, W, 13); a clear error names missing passes."""
    passes.validate(REQUIRED_PASSES, finite=True)
    x = np.concatenate(
        [clamped(passes.color, 0.0, None, passes.source, "Combined"),
         clamped(passes.get("Diffuse Color")[..., :3], 0, 1, passes.source, "Diffuse Color"),
         clamped(passes.get("Glossy Color")[..., :3], 0, 1, passes.source, "Glossy Color"),
         clamped(passes.get("Normal")[..., :3], -1, 1, passes.source, "Normal"),
         depth_feature(passes.get("Depth"), whole_depth_median(passes, ("Depth",)))], axis=2)
    if x.shape[2] != RAW_CHANNELS:
        raise PassSetError(f"{passes.source}: expected {RAW_CHANNELS} input channels, got {x.shape[2]}")
    return np.ascontiguousarray(x, dtype=np.float32)
