"""Relighting network inputs: the raw layout and the FiLM lighting code (numpy, shared by the
torch and ONNX paths and by training; the layout table is in :mod:`.network`'s docstring)."""

from __future__ import annotations

import numpy as np

from ..core.lighting import LIGHT_TYPES

RAW_CHANNELS = 22
#: Lights the lighting code describes (the strongest first); the procedural lightings have 0-3.
CODE_LIGHTS = 3
#: Length of :func:`lighting_code`: 27 SH numbers, then per light presence, type, direction,
#: log distance, log power and colour.
CODE_DIM = 27 + CODE_LIGHTS * (1 + 4 + 3 + 1 + 1 + 3)


def lighting_code(lighting) -> np.ndarray:
    """(CODE_DIM,) float32 description of a :class:`~neural_ops.core.lighting.Lighting` for FiLM:
    the world's 9 RGB SH radiance coefficients (signed log), and the strongest lights."""
    from . import world_sh

    sh = world_sh(lighting.world).ravel()
    parts = [np.sign(sh) * np.log1p(np.abs(sh))]
    lights = sorted(lighting.lights, key=lambda li: -li.power * float(np.mean(li.color)))[:CODE_LIGHTS]
    for k in range(CODE_LIGHTS):
        v = np.zeros(13)
        if k < len(lights):
            li = lights[k]
            loc = np.asarray(li.location, float)
            dist = float(np.linalg.norm(loc))
            v[0] = 1.0
            v[1 + LIGHT_TYPES.index(li.type)] = 1.0
            v[5:8] = loc / max(dist, 1e-6)
            v[8] = np.log1p(dist)
            v[9] = np.log1p(li.power)
            v[10:13] = li.color
        parts.append(v)
    return np.concatenate(parts).astype(np.float32)


def raw_inputs(diffuse: np.ndarray, glossy: np.ndarray, diffuse_color: np.ndarray, glossy_color: np.ndarray,
               normal: np.ndarray, depth_feat: np.ndarray, source: np.ndarray | None = None,
               source_analytic: np.ndarray | None = None) -> np.ndarray:
    """Stack the buffers (each (H, W, C)) into the raw layout above."""
    h, w = normal.shape[:2]
    z = np.zeros((h, w, 3), np.float32)
    src = z if source is None else np.maximum(source[..., :3], 0)
    sa = z if source_analytic is None else np.maximum(source_analytic[..., :3], 0)
    x = np.concatenate([np.maximum(diffuse[..., :3], 0), np.maximum(glossy[..., :3], 0),
                        np.clip(diffuse_color[..., :3], 0, 1), np.clip(glossy_color[..., :3], 0, 1),
                        np.clip(normal[..., :3], -1, 1), depth_feat[..., :1], src, sa], axis=2)
    return np.ascontiguousarray(x, dtype=np.float32)
