"""Intel Open Image Denoise through ``pyoidn``: the anchor every denoiser here is measured against.

Uses albedo and normal when the pass set has them (``Denoising Albedo``/``Denoising Normal``,
as Cycles' own OIDN does), with OIDN's prefiltering of the auxiliary images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OpError
from ..passset import ALBEDO_PASSES, NORMAL_PASSES, PassSet
from .registry import OpSpec, register

QUALITIES = ("high", "balanced", "fast")


@dataclass
class OIDNParams:
    """Settings of OIDN.

    Attributes:
        quality: ``high``, ``balanced`` or ``fast``.
        use_albedo: use the albedo pass as a guide when present.
        use_normal: use the normal pass as a guide when present (needs albedo).
    """

    quality: str = "high"
    use_albedo: bool = True
    use_normal: bool = True

    def check(self) -> None:
        if self.quality not in QUALITIES:
            raise OpError(f"OIDN quality must be one of {', '.join(QUALITIES)}, got '{self.quality}'")


def oidn_unavailable() -> str | None:
    try:
        import pyoidn  # noqa: F401
    except ImportError as e:
        return f"the 'pyoidn' package is not installed ({e}); pip install pyoidn"
    return None


def oidn_denoise(passes: PassSet, params: OIDNParams | None = None) -> np.ndarray:
    """Denoise ``Combined`` with OIDN (RT filter, HDR).

    Returns:
        (H, W, 3) float32 linear HDR.
    """
    import pyoidn

    p = params or OIDNParams()
    color = np.ascontiguousarray(np.maximum(passes.color, 0.0), dtype=np.float32)
    albedo = normal = None
    if p.use_albedo and any(n in passes for n in ALBEDO_PASSES):
        albedo = np.ascontiguousarray(np.clip(passes.albedo, 0.0, 1.0), dtype=np.float32)
        # OIDN accepts normals only together with albedo.
        if p.use_normal and any(n in passes for n in NORMAL_PASSES):
            normal = np.ascontiguousarray(np.clip(passes.normal, -1.0, 1.0), dtype=np.float32)
    try:
        return pyoidn.denoise(color, albedo, normal, hdr=True, quality=p.quality)
    except (RuntimeError, ValueError, TypeError) as e:
        raise OpError(f"{passes.source}: OIDN failed: {e}") from None


register(
    OpSpec(
        kind="denoise",
        name="oidn",
        label="OIDN (Intel Open Image Denoise)",
        description="Intel Open Image Denoise with albedo and normal guides: the anchor denoiser.",
        fn=oidn_denoise,
        params=OIDNParams,
        requires=("Combined",),
        pass_name="Denoised OIDN",
        available=oidn_unavailable,
    )
)
