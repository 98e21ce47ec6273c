"""The capture route to relighting: reflectance and normals from spherical gradient illumination.

Ma et al. 2007 and Guo et al. 2019 (The Relightables) light a subject with a spherical gradient
and its complement. Here the two images are renders of the frame under a world whose radiance in
direction w is ((1 + wx) / 2, (1 + wy) / 2, (1 + wz) / 2) (``grad_a``) and ((1 - wx) / 2, ...)
(``grad_b``), one axis per colour channel, no other light (``training.scenes.build.
apply_gradient_world``). For an unoccluded Lambertian point with albedo rho and normal n, channel c
(axis c) receives irradiance pi (1/2 +- n_c / 3), so

    rho_c = I_a,c + I_b,c,        n_c = 3/2 (I_a,c - I_b,c) / (I_a,c + I_b,c).

The Relightables separate diffuse from specular reflection with polarisation; a renderer has
that separation for free in its Diffuse and Glossy passes, which play that role here (with only
``Combined``, the specular light contaminates both estimates). The gloss term is the specular
radiance under the uniform white world, I_a + I_b of the glossy part: the directional specular
albedo. Occlusion darkens the recovered albedo (ambient occlusion is baked in) and bends the
normal toward open directions, which is what real captures show too.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import OpError
from ..core.passset import PassSet

COMPONENTS = ("Diffuse Direct", "Diffuse Indirect", "Diffuse Color", "Glossy Direct", "Glossy Indirect", "Glossy Color")


def _split(ps: PassSet) -> tuple[np.ndarray, np.ndarray]:
    """(diffuse radiance, glossy radiance) of a render; all of Combined as diffuse without passes."""
    if all(n in ps for n in COMPONENTS):
        d = (ps.get("Diffuse Direct")[..., :3] + ps.get("Diffuse Indirect")[..., :3]) * ps.get("Diffuse Color")[..., :3]
        g = (ps.get("Glossy Direct")[..., :3] + ps.get("Glossy Indirect")[..., :3]) * ps.get("Glossy Color")[..., :3]
        return d.astype(np.float32), g.astype(np.float32)
    return np.maximum(ps.color, 0).astype(np.float32), np.zeros_like(ps.color, dtype=np.float32)


def recover(grad_a: PassSet, grad_b: PassSet, eps: float = 1e-4) -> dict[str, np.ndarray]:
    """Albedo, photometric normal and gloss from the gradient pair.

    Returns:
        ``albedo`` (H, W, 3) diffuse reflectance (occlusion included), ``normal`` (H, W, 3) unit
        world-space (zero where nothing was lit), ``gloss`` (H, W, 3) specular albedo.
    """
    if grad_a.shape != grad_b.shape:
        raise OpError(f"gradient images differ in size: {grad_a.shape} and {grad_b.shape}")
    da, ga = _split(grad_a)
    db, gb = _split(grad_b)
    s = da + db
    n = 1.5 * (da - db) / np.maximum(s, eps)
    length = np.linalg.norm(n, axis=2, keepdims=True)
    lit = (s.max(axis=2, keepdims=True) > 10 * eps) & (length > 1e-3)
    n = np.where(lit, n / np.maximum(length, 1e-6), 0.0)
    return {"albedo": s.astype(np.float32), "normal": n.astype(np.float32), "gloss": (ga + gb).astype(np.float32)}


def relight(grad_a: PassSet, grad_b: PassSet, lighting, camera_position=None) -> np.ndarray:
    """The frame under ``lighting`` from the gradient pair alone (plus the Position pass, which a
    capture rig gets from its depth sensing): analytic shading of the recovered reflectance."""
    from .shading import analytic_shading, camera_position_from_meta

    if "Position" not in grad_a:
        raise OpError(f"{grad_a.source}: the gradient route needs the 'Position' pass")
    rec = recover(grad_a, grad_b)
    cam = camera_position_from_meta(grad_a.meta) if camera_position is None else camera_position
    g = {"Normal": rec["normal"], "Position": grad_a.get("Position")[..., :3], "Diffuse Color": rec["albedo"],
         "Glossy Color": rec["gloss"]}
    image = analytic_shading(g, lighting, cam)["image"]
    if "Normal" in grad_a and grad_a.meta.get("camera") is not None:
        # The rig sees the background directly; a render of it under the new world shows that world.
        from ..core.cameras import Camera
        from .shading import environment_background

        try:
            camera = Camera.from_sidecar(grad_a.meta)
        except OpError:
            camera = None
        if camera is not None and (camera.h, camera.w) == image.shape[:2]:
            empty = np.linalg.norm(grad_a.get("Normal")[..., :3], axis=2) <= 0.5
            image = image + np.where(empty[..., None], environment_background(lighting.world, camera), 0.0)
    return image.astype(np.float32)
