"""Relighting: analytic re-shading of a G-buffer under a new lighting (numpy only).

The learned part (:mod:`neural_ops.nn.relight`) predicts what this analytic shading misses.
"""

from .shading import (
    LIGHT_TYPES,
    Light,
    Lighting,
    World,
    analytic_shading,
    camera_position_from_meta,
    equirect_directions,
    equirect_uv,
    irradiance,
    load_environment,
    load_lighting,
    parse_lighting,
    prefilter_environment,
    sample_equirect,
    sh9_basis,
    sh9_project,
    world_sh,
)

__all__ = [
    "LIGHT_TYPES", "Light", "Lighting", "World", "analytic_shading", "camera_position_from_meta",
    "equirect_directions", "equirect_uv", "irradiance", "load_environment", "load_lighting",
    "parse_lighting", "prefilter_environment", "sample_equirect", "sh9_basis", "sh9_project",
    "world_sh",
]
