"""Intel Open Image Denoise through ``pyoidn``: the anchor every denoiser here is measured against,
and the clean-up step of other ops (rendered views, training targets).

Uses albedo and normal when the pass set has them (``Denoising Albedo``/``Denoising Normal``,
as Cycles' own OIDN does), with OIDN's prefiltering of the auxiliary images.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .errors import OpError
from .passset import ALBEDO_PASSES, NORMAL_PASSES, PassSet, clamped
from .strips import frame_stat

QUALITIES = ("high", "balanced", "fast")
#: OIDN's working-memory cap on a strip of a big frame (see neural_ops.core.strips).
STRIP_MEMORY_MB = 1024


@dataclass
class OIDNParams:
    """Settings of OIDN.

    Attributes:
        quality: ``high``, ``balanced`` or ``fast``.
        use_albedo: use the albedo pass as a guide when present.
        use_normal: use the normal pass as a guide when present (needs albedo).
        max_memory_mb: cap OIDN's working memory (it then runs in tiles internally, with the
            same result); 0 leaves OIDN's default, which needs about 2.8 GB at 3840x2160.
    """

    quality: str = "high"
    use_albedo: bool = True
    use_normal: bool = True
    max_memory_mb: int = 0

    def check(self) -> None:
        if self.max_memory_mb < 0 or 0 < self.max_memory_mb < 64:
            raise OpError(f"OIDN max_memory_mb must be 0 (OIDN's default) or >= 64, got {self.max_memory_mb}")
        if self.quality not in QUALITIES:
            raise OpError(f"OIDN quality must be one of {', '.join(QUALITIES)}, got '{self.quality}'")


def oidn_unavailable() -> str | None:
    try:
        import pyoidn  # noqa: F401
    except ImportError as e:
        return f"the 'pyoidn' package is not installed ({e}); pip install pyoidn"
    return None


def oidn_denoise(passes: PassSet, params: OIDNParams | None = None, color: np.ndarray | None = None) -> np.ndarray:
    """Denoise ``Combined`` (or ``color``, e.g. one light component of the same frame) with OIDN
    (RT filter, HDR), guided by the frame's albedo and normal passes.

    Returns:
        (H, W, 3) float32 linear HDR.
    """
    import pyoidn

    p = params or OIDNParams()
    color_arg_is_combined = color is None
    color = np.ascontiguousarray(np.maximum(color[..., :3], 0.0) if color is not None
                                 else clamped(passes.color, 0.0, None, passes.source, "Combined"), dtype=np.float32)
    albedo = normal = None
    if p.use_albedo and not any(n in passes for n in ALBEDO_PASSES):
        from .notes import note

        note(f"{passes.source}: no albedo pass ({' or '.join(ALBEDO_PASSES)}); OIDN runs on the colour alone")
    elif p.use_normal and not any(n in passes for n in NORMAL_PASSES):
        from .notes import note

        note(f"{passes.source}: no normal pass ({' or '.join(NORMAL_PASSES)}); OIDN runs with albedo only")
    if p.use_albedo and any(n in passes for n in ALBEDO_PASSES):
        albedo = np.ascontiguousarray(clamped(passes.albedo, 0.0, 1.0, passes.source, _first(passes, ALBEDO_PASSES)),
                                      dtype=np.float32)
        # OIDN accepts normals only together with albedo.
        if p.use_normal and any(n in passes for n in NORMAL_PASSES):
            normal = np.ascontiguousarray(clamped(passes.normal, -1.0, 1.0, passes.source,
                                                  _first(passes, NORMAL_PASSES)), dtype=np.float32)
    # A strip of a bigger frame: OIDN's auto-exposure measured on the whole frame (``Combined``
    # of these passes), so the strip is scaled as the frame would be.
    scale = frame_stat(passes, "exposure", "Combined") if color_arg_is_combined else None
    # In strips, OIDN's scratch memory is capped too (it then tiles inside; same image).
    cap = p.max_memory_mb or (STRIP_MEMORY_MB if scale is not None else 0)
    try:
        if cap or scale is not None:
            return _denoise_bounded(color, albedo, normal, p.quality, cap, scale)
        return pyoidn.denoise(color, albedo, normal, hdr=True, quality=p.quality)
    except (RuntimeError, ValueError, TypeError) as e:
        raise OpError(f"{passes.source}: OIDN failed: {e}") from None


def _first(passes: PassSet, names: tuple[str, ...]) -> str:
    return next((n for n in names if n in passes), names[0])


_device: dict = {}
_device_lock = threading.Lock()


def _denoise_bounded(color, albedo, normal, quality: str, max_memory_mb: int, scale: float | None = None) -> np.ndarray:
    """OIDN's RT filter with ``maxMemoryMB`` and ``inputScale`` set where given (``pyoidn.denoise``
    has neither option)."""
    import pyoidn

    out = np.empty_like(color)
    with _device_lock:
        dev = _device.get("cpu")
        if dev is None:
            dev = pyoidn.Device()
            dev.commit()
            _device["cpu"] = dev
        flt = pyoidn.Filter(dev, "RT")
        try:
            for name, img in (("color", color), ("albedo", albedo), ("normal", normal), ("output", out)):
                if img is not None:
                    flt.set_image(name, img, pyoidn.OIDN_FORMAT_FLOAT3)
            flt.set_bool("hdr", True)
            flt.set_quality({"high": pyoidn.OIDN_QUALITY_HIGH, "balanced": pyoidn.OIDN_QUALITY_BALANCED,
                             "fast": pyoidn.OIDN_QUALITY_FAST}[quality])
            if max_memory_mb:
                flt.set_int("maxMemoryMB", int(max_memory_mb))
            if scale is not None:
                flt.set_float("inputScale", float(scale))
            flt.commit()
            flt.execute()
            err = dev.get_error()
            if err:
                raise RuntimeError(err)
        finally:
            flt.release()
    return out
