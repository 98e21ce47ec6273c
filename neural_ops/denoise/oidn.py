"""OIDN as a registered denoiser (the wrapper itself is :mod:`neural_ops.core.oidn`)."""

from __future__ import annotations

from ..core.oidn import OIDNParams, oidn_denoise, oidn_unavailable
from ..core.registry import OpSpec, register

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
        # OIDN's receptive field is about 90 px each side; its U-Net pools 4 times.
        halo=lambda p: 128,
        align=16,
    )
)
