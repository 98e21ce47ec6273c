"""Relight: a rendered frame under a new lighting, from its G-buffer (numpy analytic shading,
:mod:`.shading` and :mod:`.screen_space`; the capture route :mod:`.gradient`) and the learned
correction (:mod:`.network`, run by the op in :mod:`.op`). The lighting schema itself is
:mod:`neural_ops.core.lighting`.
"""

from . import op  # noqa: F401  (registration)
from .shading import (
    analytic_shading,
    camera_position_from_meta,
    equirect_directions,
    equirect_uv,
    irradiance,
    load_environment,
    prefilter_environment,
    sample_equirect,
    sh9_basis,
    sh9_project,
    world_sh,
)

__all__ = [
    "analytic_shading", "camera_position_from_meta", "equirect_directions", "equirect_uv", "irradiance",
    "load_environment", "prefilter_environment", "sample_equirect", "sh9_basis", "sh9_project", "world_sh",
]
