"""Analytic re-shading: a Cycles G-buffer shaded under a new lighting, without shadows.

Given the world-space ``Normal`` and ``Position`` passes, ``Diffuse Color`` and ``Glossy Color``,
and a lighting (an HDRI world plus Blender lights, as :func:`addon.blender.lighting.apply_lighting`
builds them), this computes what the surfaces would look like if nothing occluded the light:

* environment diffuse: irradiance from 9 spherical-harmonic coefficients of the HDRI
  (Ramamoorthi and Hanrahan 2001, "An Efficient Representation for Irradiance Environment Maps");
* environment glossy: the HDRI prefiltered with a reflection lobe per roughness and looked up in
  the mirror direction (the "split sum" idea of Karis 2013, "Real Shading in Unreal Engine 4",
  with the directional-albedo factor taken as 1 because ``Glossy Color`` already carries it);
* lights: Lambert diffuse and a GGX microfacet highlight (Walter et al. 2007; height-correlated
  Smith masking, Heitz 2014) per light, each light treated as a point (or a direction for suns)
  whose highlight is widened by the light's angular size.

Shadows, interreflections and reflections of other objects are left out on purpose: they need
the rest of the scene, and are what the relighting network learns.

Conventions (all verified against Cycles renders in ``tests/integration/test_shading_cycles.py``
unless marked otherwise):

World and equirectangular maps
    Blender's world is ``TexCoord.Generated -> Mapping(POINT, Rotation=(0, 0, rotation)) ->
    Environment Texture -> Background(Strength)``. For a world direction ``d`` the texture is
    looked up at ``t = R_z(rotation) @ d`` (so the visible environment turns by ``-rotation``),
    with Blender's equirectangular mapping

        u = atan2(t.y, -t.x) / (2 pi)  (mod 1),    v = 0.5 + atan2(t.z, hypot(t.x, t.y)) / pi

    i.e. +X sits at the image centre (u = 0.5), +Y at u = 0.25, -Y at u = 0.75, and v = 1 (the
    top row of the EXR as read by :func:`neural_ops.read_exr`) is the zenith +Z. Radiance is
    ``strength * texture``.

Units (Blender/Cycles)
    * POINT: power ``P`` W is radiant intensity ``P / (4 pi)`` W/sr in every direction, so the
      irradiance at distance ``r`` facing the light is ``P / (4 pi r^2)``.
    * SPOT: the same intensity as a point light of that power (the cone does not concentrate
      it), times Cycles' smooth cone ``smoothstep((cos a - cos(size/2)) / ((1 - cos(size/2))
      * blend))`` where ``a`` is the angle from the spot axis. Blender's defaults
      ``spot_size = 45 deg`` and ``spot_blend = 0.15`` apply when the dict has no such keys.
    * AREA: a one-sided Lambertian emitter of radiance ``P / (pi A)`` facing its -Z axis; seen
      from afar that is intensity ``P cos(theta) / pi`` W/sr (theta from the light's axis).
    * SUN: ``power`` is the irradiance in W/m^2 on a surface facing the sun; the light arrives
      from the light's +Z axis (it shines along -Z).
    * A light's -Z axis points from ``location`` at ``target`` (``training.scenes.build``).
    * ``size`` is the lighting dict's size parameter, mapped onto Blender's lights by
      :data:`neural_ops.core.lighting.BLENDER_SIZE`. It only widens highlights here.
    * Diffuse: Cycles' Diffuse BSDF is ``albedo / pi``; ``Diffuse Color`` is the albedo, so the
      diffuse radiance is ``Diffuse Color * E / pi`` with irradiance ``E(n) = integral of
      L(w) max(0, n.w) dw`` (a constant environment ``L`` gives ``E = pi L``).
    * Glossy: ``Glossy Color * (light or environment term of a unit-albedo GGX lobe)``, with
      Blender's roughness mapping ``alpha = roughness^2``. Not compared with Cycles.

Arrays are float32, (H, W, C), top row first, as in :class:`neural_ops.PassSet`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import OpError
from ..core.exr import read_exr
from ..core.lighting import (  # noqa: F401
    LIGHT_TYPES,
    Light,
    Lighting,
    World,
    default_hdri_dirs,
    load_lighting,
    parse_lighting,
)
from ..core.passset import PassSet

DEFAULT_ROUGHNESS = 0.3

#: Roughness levels of the prefiltered environment (glossy lookups interpolate between them).
ROUGHNESS_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0)

#: Widths the environment is reduced to: SH projection, mirror level, convolved levels.
_SH_WIDTH = 256
_MIRROR_WIDTH = 1024
_CONV_WIDTH = 64

#: GGX alpha never goes below this (a mirror-sharp highlight of a point light is a delta).
_MIN_ALPHA = 0.01

# Cosine-lobe convolution constants A_l of Ramamoorthi and Hanrahan 2001 (eq. 8): pi, 2pi/3, pi/4.
_SH_BAND = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
_SH_A = np.array([math.pi, 2 * math.pi / 3, math.pi / 4])[_SH_BAND]
# Normalisation constants of the real SH basis: Y_00, Y_1m, Y_2{-2,-1,1}, Y_20, Y_22.
_SH_C = (math.sqrt(1 / (4 * math.pi)), math.sqrt(3 / (4 * math.pi)), math.sqrt(15 / (4 * math.pi)),
         math.sqrt(5 / (16 * math.pi)), math.sqrt(15 / (16 * math.pi)))


# Equirectangular maps (Blender's Environment Texture convention, see module docstring)
# ---------------------------------------------------------------------------------------------
def _rot_z(d: np.ndarray, angle: float) -> np.ndarray:
    """R_z(angle) @ d for (..., 3) vectors."""
    c, s = math.cos(angle), math.sin(angle)
    x, y = d[..., 0], d[..., 1]
    return np.stack([c * x - s * y, s * x + c * y, d[..., 2]], axis=-1)


def equirect_uv(dirs: np.ndarray, rotation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Texture coordinates of world directions under a world rotated by ``rotation`` (radians).

    Args:
        dirs: (..., 3) world directions (need not be unit length).
    Returns:
        u, v: (...) in [0, 1); v = 1 is the top row (zenith).
    """
    t = _rot_z(np.asarray(dirs), rotation) if rotation else np.asarray(dirs)
    u = np.mod(np.arctan2(t[..., 1], -t[..., 0]) / (2 * np.pi), 1.0)
    v = 0.5 + np.arctan2(t[..., 2], np.hypot(t[..., 0], t[..., 1])) / np.pi
    return u, v


def equirect_directions(h: int, w: int, rotation: float = 0.0) -> np.ndarray:
    """(h, w, 3) float64 unit world directions of the texel centres of an (h, w) equirect map
    (top row first) seen through a world rotation ``rotation`` (inverse of :func:`equirect_uv`)."""
    phi = 2 * np.pi * (np.arange(w) + 0.5) / w
    elev = np.pi / 2 - np.pi * (np.arange(h) + 0.5) / h
    ce, se = np.cos(elev)[:, None], np.sin(elev)[:, None]
    t = np.stack(np.broadcast_arrays(-np.cos(phi)[None] * ce, np.sin(phi)[None] * ce, se), axis=-1)
    return _rot_z(t, -rotation) if rotation else t


def texel_solid_angles(h: int, w: int) -> np.ndarray:
    """(h,) exact solid angle of one texel in each row of an (h, w) equirect map (they sum to 4 pi)."""
    edges = np.sin(np.pi / 2 - np.pi * np.arange(h + 1) / h)
    return (2 * np.pi / w) * (edges[:-1] - edges[1:])


def sample_equirect(env: np.ndarray, dirs: np.ndarray, rotation: float = 0.0) -> np.ndarray:
    """Bilinear lookup (wrapping in u, clamped at the poles) of an equirect map.

    Args:
        env: (h, w, C) map, top row first.
        dirs: (..., 3) world directions.
    Returns:
        (..., C) values, dtype of ``env``.
    """
    h, w = env.shape[:2]
    u, v = equirect_uv(dirs, rotation)
    x = u * w - 0.5
    y = np.clip((1.0 - v) * h - 0.5, 0.0, h - 1.0)
    x0 = np.floor(x)
    y0 = np.minimum(np.floor(y), h - 2) if h > 1 else np.zeros_like(y)
    fx = (x - x0)[..., None].astype(env.dtype)
    fy = (y - y0)[..., None].astype(env.dtype)
    x0 = x0.astype(np.int64) % w
    x1 = (x0 + 1) % w
    y0 = y0.astype(np.int64)
    y1 = np.minimum(y0 + 1, h - 1)
    top = env[y0, x0] * (1 - fx) + env[y0, x1] * fx
    bot = env[y1, x0] * (1 - fx) + env[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def _resample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) overlap fractions of equal cells: a box filter from n_in to n_out cells."""
    e_in = np.arange(n_in + 1) / n_in
    e_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(e_out[:-1, None], e_in[None, :-1])
    hi = np.minimum(e_out[1:, None], e_in[None, 1:])
    return np.clip(hi - lo, 0, None) * n_in


def downsample_equirect(env: np.ndarray, width: int) -> np.ndarray:
    """Reduce an (h, w, C) equirect map to (width // 2, width) keeping the radiance integral:
    each new texel is the solid-angle-weighted mean of the texels it covers. Maps no wider than
    ``width`` are returned as float64 copies."""
    env = np.asarray(env, np.float64)
    h, w = env.shape[:2]
    if w <= width:
        return env.copy()
    # Halve by 2x2 blocks while that stays above the target (cheap for 8k maps), then a box filter.
    while w >= 2 * width and h % 2 == 0 and w % 2 == 0:
        sa = texel_solid_angles(h, w)[:, None, None]
        num = (env * sa).reshape(h // 2, 2, w // 2, 2, -1).sum(axis=(1, 3))
        den = 2 * sa.reshape(h // 2, 2, 1, 1).sum(axis=1)  # two columns of each row pair
        env, h, w = num / den, h // 2, w // 2
    if w != width or h != width // 2:
        sa = texel_solid_angles(h, w)
        mh, mw = _resample_matrix(h, width // 2), _resample_matrix(w, width)
        num = np.einsum("ah,hwc,bw->abc", mh * sa[None], env, mw, optimize=True)
        den = (mh @ sa)[:, None, None] * mw.sum(axis=1)[None, :, None]
        env = num / den
    return env


# ---------------------------------------------------------------------------------------------
# Spherical harmonics (real basis, Ramamoorthi and Hanrahan's ordering)
# ---------------------------------------------------------------------------------------------
def sh9_basis(dirs: np.ndarray) -> np.ndarray:
    """The 9 real SH functions Y_00, Y_1-1, Y_10, Y_11, Y_2-2, Y_2-1, Y_20, Y_21, Y_22 at unit
    directions (..., 3) -> (..., 9), in the dtype of ``dirs``."""
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    c0, c1, c2, c3, c4 = _SH_C
    return np.stack([
        np.full_like(x, c0), c1 * y, c1 * z, c1 * x,
        c2 * x * y, c2 * y * z, c3 * (3 * z * z - 1), c2 * x * z, c4 * (x * x - y * y),
    ], axis=-1)


def sh9_project(env_rgb: np.ndarray, rotation: float = 0.0, strength: float = 1.0,
                max_width: int = _SH_WIDTH) -> np.ndarray:
    """Radiance SH coefficients of a world made of an equirect HDRI.

    ``L_lm = strength * sum_texels env(t) Y_lm(d) dw`` over the texel centres, where ``d`` is the
    world direction a texel lands on under ``rotation`` and ``dw`` its exact solid angle. Maps
    wider than ``max_width`` are first reduced with :func:`downsample_equirect`.

    Args:
        env_rgb: (h, w, 3) linear radiance, top row first.
    Returns:
        (9, 3) float64 coefficients.
    """
    env = downsample_equirect(env_rgb[..., :3], max_width)
    h, w = env.shape[:2]
    basis = sh9_basis(equirect_directions(h, w, rotation))
    return strength * np.einsum("hwk,hwc,h->kc", basis, env, texel_solid_angles(h, w), optimize=True)


def irradiance(sh: np.ndarray, normals: np.ndarray, clamp: bool = True) -> np.ndarray:
    """Irradiance ``E(n) = integral L(w) max(0, n.w) dw`` from radiance SH coefficients.

    The cosine lobe is applied in the SH domain (Ramamoorthi and Hanrahan 2001: A_0 = pi,
    A_1 = 2 pi / 3, A_2 = pi / 4). Nine terms cannot hold a very bright small source: its
    irradiance rings slightly below zero on the far side, which ``clamp`` cuts to 0.

    Args:
        sh: (9, 3) radiance coefficients (:func:`sh9_project`).
        normals: (..., 3) directions; normalised here.
    Returns:
        (..., 3) float32 irradiance in W/m^2 (radiance units times sr).
    """
    n = np.asarray(normals, np.float32)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    n = n / np.maximum(length, 1e-12)
    e = sh9_basis(n) @ (_SH_A[:, None] * np.asarray(sh, np.float64)).astype(np.float32)
    return np.maximum(e, 0.0) if clamp else e


# ---------------------------------------------------------------------------------------------
# Prefiltered environment for glossy reflections
# ---------------------------------------------------------------------------------------------
def _lobe_exponent(roughness: float) -> float:
    """Phong exponent of the reflected GGX lobe around the mirror direction.

    A Beckmann-like NDF of width alpha is close to a Phong lobe of exponent 2 / alpha^2 - 2 over
    the half vector (Walter et al. 2007); reflecting doubles angles, so around the mirror
    direction the exponent is a quarter of that.
    """
    alpha = max(roughness * roughness, _MIN_ALPHA)
    return max(0.5 / alpha**2 - 0.5, 0.0)


def prefilter_environment(env_rgb: np.ndarray, levels: Sequence[float] = ROUGHNESS_LEVELS
                          ) -> list[tuple[float, np.ndarray]]:
    """Blur an equirect map once per roughness level (in texture space, so any rotation reuses it).

    Narrow lobes are approximated by box-reducing the map until a texel is about as wide as the
    lobe; lobes wider than a texel of a 64-wide map are convolved exactly on that grid with the
    normalised lobe ``max(0, r.w)^s`` (a few dense 2048 x 2048 products).

    Returns:
        [(roughness, (h_k, w_k, 3) float32 map)], sorted by roughness.
    """
    out = []
    conv_env = None
    for r in sorted(levels):
        s = _lobe_exponent(r)
        sigma = 1.0 / math.sqrt(s) if s > 0 else math.inf  # angular std of the lobe, radians
        if r <= 0.0 or sigma < 2 * math.pi / _CONV_WIDTH:
            width = _MIRROR_WIDTH if r <= 0.0 else 2 ** math.ceil(math.log2(2 * math.pi / sigma))
            width = int(min(max(width, _CONV_WIDTH), _MIRROR_WIDTH))
            out.append((float(r), downsample_equirect(env_rgb[..., :3], width).astype(np.float32)))
            continue
        if conv_env is None:
            conv_env = downsample_equirect(env_rgb[..., :3], _CONV_WIDTH)
            h, w = conv_env.shape[:2]
            dirs = equirect_directions(h, w).reshape(-1, 3)
            cosines = dirs @ dirs.T
            sa = np.repeat(texel_solid_angles(h, w), w)
            flat = conv_env.reshape(-1, 3)
        k = np.where(cosines > 0, np.maximum(cosines, 0) ** s, 0.0) * sa[None]
        k /= k.sum(axis=1, keepdims=True)
        out.append((float(r), (k @ flat).reshape(h, w, 3).astype(np.float32)))
    return out


def _sample_levels(levels: list[tuple[float, np.ndarray]], dirs: np.ndarray, rough: np.ndarray,
                   rotation: float) -> np.ndarray:
    """(N, 3) prefiltered radiance for (N, 3) directions and (N,) roughness, interpolated
    linearly between the two bracketing levels."""
    rs = np.array([r for r, _ in levels])
    rough = np.clip(rough, rs[0], rs[-1])
    k = np.clip(np.searchsorted(rs, rough, side="right") - 1, 0, len(rs) - 2)
    out = np.zeros((len(dirs), 3), np.float32)
    for i in np.unique(k):
        sel = np.flatnonzero(k == i)
        t = ((rough[sel] - rs[i]) / (rs[i + 1] - rs[i]))[:, None].astype(np.float32)
        d = dirs[sel]
        a = sample_equirect(levels[i][1], d, rotation)
        b = sample_equirect(levels[i + 1][1], d, rotation)
        out[sel] = a * (1 - t) + b * t
    return out


@dataclass(frozen=True)
class _Environment:
    """An HDRI prepared once: the map reduced for SH projection and the prefiltered levels."""

    sh_map: np.ndarray
    levels: list


@functools.lru_cache(maxsize=8)
def _prepared(path: str, mtime_ns: int, size: int) -> _Environment:
    del mtime_ns, size  # cache key only: a rewritten file is read again
    env = load_environment(path)
    prepared = _Environment(downsample_equirect(env, _SH_WIDTH), prefilter_environment(env))
    for a in [prepared.sh_map] + [m for _, m in prepared.levels]:
        a.setflags(write=False)  # shared by every caller through the cache
    return prepared


def load_environment(path: str | os.PathLike) -> np.ndarray:
    """(h, w, 3) float32 linear radiance of an equirect EXR (top row first).

    Raises:
        PassSetError: missing or unreadable file.
        OpError: not a 2:1 map.
    """
    env = read_exr(path, sidecar=False).color
    h, w = env.shape[:2]
    if w != 2 * h:
        raise OpError(f"{path}: an equirectangular HDRI is twice as wide as high, this one is {w}x{h}")
    return env


def _world_environment(world: World) -> _Environment:
    if world.hdri_path is None:
        const = np.broadcast_to(np.asarray(world.color, np.float32), (4, 8, 3)).copy()
        return _Environment(const.astype(np.float64), [(0.0, const), (1.0, const)])
    st = os.stat(world.hdri_path)
    return _prepared(str(world.hdri_path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _full_map(path: str, mtime_ns: int, size: int) -> np.ndarray:
    del mtime_ns, size
    env = load_environment(path)
    env.setflags(write=False)
    return env


def environment_background(world: World | None, camera, rows: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) float32: the world seen directly through every pixel of ``camera`` (an
    :class:`~neural_ops.core.cameras.Camera`): the HDRI at full resolution, rotated and scaled
    as Blender's world does, or the world colour. What a render shows where no surface is.
    ``rows=(y0, y1)``: only those rows of the image."""
    y0, y1 = rows or (0, camera.h)
    h, w = y1 - y0, camera.w
    if world is None or world.strength <= 0:
        return np.zeros((h, w, 3), np.float32)
    if world.hdri_path is None:
        return np.broadcast_to(np.float32(world.strength) * np.asarray(world.color, np.float32), (h, w, 3)).copy()
    v, u = np.mgrid[y0:y1, 0:w].astype(np.float64) + 0.5
    d = camera.camera_directions(np.stack([u, v], axis=-1)) @ camera.c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    st = os.stat(world.hdri_path)
    env = _full_map(str(world.hdri_path), st.st_mtime_ns, st.st_size)
    return (np.float32(world.strength) * sample_equirect(env, d, world.rotation)).astype(np.float32)


def world_sh(world: World | None) -> np.ndarray:
    """(9, 3) radiance SH of a world (zeros for None), rotation and strength applied."""
    sh = np.zeros((9, 3))
    if world is None:
        return sh
    if world.hdri_path is None:  # exact: only the constant band, integral of Y_00 = sqrt(4 pi)
        sh[0] = world.strength * np.asarray(world.color) * math.sqrt(4 * math.pi)
        return sh
    env = _world_environment(world)
    return sh9_project(env.sh_map, world.rotation, world.strength)


# ---------------------------------------------------------------------------------------------
# Lights
# ---------------------------------------------------------------------------------------------
def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _light_incidence(light: Light, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: unit direction to the light (N, 3), irradiance on a plane facing it (N, 3) in
    W/m^2, and the GGX alpha widening from the light's angular radius (N,)."""
    color = np.asarray(light.color, np.float32) * np.float32(light.power)
    axis = light.axis.astype(np.float32) if light.type != "POINT" else None
    if light.type == "SUN":
        to_l = np.broadcast_to(-axis, pos.shape)
        e = np.broadcast_to(color, pos.shape)
        widen = np.full(len(pos), light.angular_radius_scale / 2, np.float32)
        return to_l, e, widen
    d = np.asarray(light.location, np.float32) - pos
    radius = light.angular_radius_scale
    dist2 = np.maximum(np.einsum("ij,ij->i", d, d), max(radius * radius, 1e-8))
    dist = np.sqrt(dist2)
    to_l = d / dist[:, None]
    if light.type == "AREA":
        cos_e = np.maximum(-(to_l @ axis), 0.0)  # one-sided emitter facing -Z
        intensity = cos_e / np.float32(np.pi)
    else:
        intensity = np.full(len(pos), 1.0 / (4 * np.pi), np.float32)
        if light.type == "SPOT":
            cos_h = math.cos(light.spot_size / 2)
            cos_a = -(to_l @ axis)
            if light.spot_blend > 0:
                intensity = intensity * _smoothstep((cos_a - cos_h) / ((1 - cos_h) * light.spot_blend))
            else:
                intensity = intensity * (cos_a > cos_h)
    e = (intensity / dist2)[:, None] * color[None]
    widen = (radius / (2 * dist)).astype(np.float32)
    return to_l, e, widen


def _ggx_unit(n: np.ndarray, v: np.ndarray, l: np.ndarray, alpha: np.ndarray) -> np.ndarray:  # noqa: E741
    """(N,) GGX BRDF times cos(theta_l) with unit reflectance (Fresnel is in ``Glossy Color``):
    D (Walter et al. 2007) times the height-correlated Smith visibility (Heitz 2014)."""
    nl = np.einsum("ij,ij->i", n, l)
    nv = np.maximum(np.einsum("ij,ij->i", n, v), 1e-4)
    h = l + v
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    nh = np.clip(np.einsum("ij,ij->i", n, h), 0.0, 1.0)
    a2 = alpha * alpha
    denom = nh * nh * (a2 - 1) + 1
    d = a2 / (np.pi * denom * denom)
    nlp = np.maximum(nl, 0.0)
    vis = 0.5 / np.maximum(nlp * np.sqrt(nv * nv * (1 - a2) + a2) + nv * np.sqrt(nlp * nlp * (1 - a2) + a2), 1e-12)
    return np.where(nl > 0, d * vis * nlp, 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------------
def camera_position_from_meta(meta: Mapping[str, Any]) -> np.ndarray:
    """(3,) camera position from a sidecar's ``camera.matrix_world`` (4x4 row-major, camera to
    world: the translation is the last column)."""
    try:
        m = np.asarray(meta["camera"]["matrix_world"], np.float64)
    except (KeyError, TypeError):
        raise OpError("camera_position: not given, and the pass set's sidecar has no camera.matrix_world") from None
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise OpError(f"camera.matrix_world: must be a finite 4x4 matrix, got shape {m.shape}")
    return m[:3, 3].copy()


def _gbuffer(passes) -> tuple[dict[str, np.ndarray | None], Mapping[str, Any]]:
    if isinstance(passes, PassSet):
        src = passes.source
        get = {
            "normal": passes.first(("Normal", "Denoising Normal")),
            "position": passes.get("Position"),
            "diffuse": passes.first(("Diffuse Color", "Denoising Albedo")),
            "glossy": passes.get("Glossy Color") if "Glossy Color" in passes else None,
        }
        meta = passes.meta
    elif isinstance(passes, Mapping):
        src = "gbuffer"

        def pick(*names):
            for k in names:
                if k in passes:
                    return np.asarray(passes[k], np.float32)
            return None

        get = {
            "normal": pick("Normal", "normal", "Denoising Normal"),
            "position": pick("Position", "position"),
            "diffuse": pick("Diffuse Color", "diffuse_color", "Denoising Albedo"),
            "glossy": pick("Glossy Color", "glossy_color"),
        }
        for key, name in (("normal", "Normal"), ("position", "Position"), ("diffuse", "Diffuse Color")):
            if get[key] is None:
                raise OpError(f"{src}: missing pass '{name}' (has: {', '.join(map(str, passes)) or 'none'})")
        meta = {}
    else:
        raise OpError(f"analytic_shading: passes must be a PassSet or a dict of arrays, got {type(passes).__name__}")
    shape = None
    for key, a in get.items():
        if a is None:
            continue
        if a.ndim != 3 or a.shape[2] < 3:
            raise OpError(f"{src}: pass '{key}' must be (H, W, 3), got shape {a.shape}")
        if shape is not None and a.shape[:2] != shape:
            raise OpError(f"{src}: pass '{key}' is {a.shape[1]}x{a.shape[0]}, the others are {shape[1]}x{shape[0]}")
        shape = a.shape[:2]
        get[key] = np.nan_to_num(a[..., :3].astype(np.float32, copy=False))
    return get, meta


def analytic_shading(passes: PassSet | Mapping[str, np.ndarray], lighting: Lighting,
                     camera_position: Sequence[float] | np.ndarray | None = None,
                     roughness: float | np.ndarray = DEFAULT_ROUGHNESS,
                     visibility: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Shade a G-buffer under ``lighting`` without shadows or interreflections (unless
    ``visibility`` gives them).

    Args:
        passes: a :class:`PassSet` (Cycles EXR) or a dict with ``Normal`` (world space, unit),
            ``Position`` (world space), ``Diffuse Color`` (albedo) and optionally ``Glossy
            Color``; each (H, W, >=3). Without ``Glossy Color`` the glossy output is zero.
            ``Denoising Normal`` / ``Denoising Albedo`` stand in when ``Normal`` / ``Diffuse
            Color`` are missing.
        lighting: from :func:`parse_lighting`.
        camera_position: (3,) world position of a perspective camera; default: the sidecar's
            ``camera.matrix_world``. (Orthographic cameras are not handled.)
        roughness: Blender roughness in [0, 1], a scalar or an (H, W[, 1]) map; GGX alpha is
            its square.
        visibility: optional ``lights`` (L, H, W), one map per light of ``lighting``, and ``ao``
            (H, W): each light's terms and the world's are weighted by them (screen-space
            shadows: :mod:`.screen_space`).

    Returns:
        ``diffuse``, ``glossy``, ``background`` and ``image = diffuse + glossy + background``:
        (H, W, 3) float32 linear radiance. ``background`` is the world seen directly at pixels
        with no surface (zero normal) when the sidecar describes the camera
        (:func:`environment_background`), else 0; it is 0 on surfaces.
    """
    g, meta = _gbuffer(passes)
    cam = camera_position_from_meta(meta) if camera_position is None else np.asarray(camera_position, np.float64)
    if cam.shape != (3,) or not np.isfinite(cam).all():
        raise OpError(f"camera_position: must be 3 finite numbers, got {cam!r}")
    if not isinstance(lighting, Lighting):
        raise OpError(f"analytic_shading: lighting must be a Lighting (see parse_lighting), got {type(lighting).__name__}")
    h, w = g["normal"].shape[:2]
    rough_map = np.asarray(roughness, np.float32)
    if rough_map.ndim == 3 and rough_map.shape[2] == 1:
        rough_map = rough_map[..., 0]
    if rough_map.ndim not in (0, 2) or (rough_map.ndim == 2 and rough_map.shape != (h, w)):
        raise OpError(f"roughness: must be a number or an ({h}, {w}) map, got shape {rough_map.shape}")
    if not np.isfinite(rough_map).all():
        raise OpError("roughness: has non-finite values")

    n_len = np.linalg.norm(g["normal"], axis=2)
    idx = np.flatnonzero(n_len.ravel() > 0.5)
    n = g["normal"].reshape(-1, 3)[idx] / n_len.ravel()[idx, None]
    pos = g["position"].reshape(-1, 3)[idx]
    albedo = g["diffuse"].reshape(-1, 3)[idx]
    spec_color = None if g["glossy"] is None else g["glossy"].reshape(-1, 3)[idx]
    rough = np.clip(np.broadcast_to(rough_map, (h, w)).reshape(-1)[idx], 0.0, 1.0)

    diffuse_e = np.zeros((len(idx), 3), np.float32)  # irradiance reaching a Lambertian surface
    glossy_l = np.zeros((len(idx), 3), np.float32)  # glossy radiance with unit reflectance
    v = cam.astype(np.float32) - pos
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    def seen(k=None):
        """Per surface point (N, 1) weight of light ``k`` or of the world (None); 1 without visibility."""
        if visibility is None:
            return np.float32(1.0)
        vmap = visibility["ao"] if k is None else visibility["lights"][k]
        return vmap.reshape(-1)[idx, None].astype(np.float32)

    world = lighting.world
    if world is not None and world.strength > 0:
        ao = seen()
        diffuse_e += irradiance(world_sh(world), n) * ao
        if spec_color is not None:
            env = _world_environment(world)
            refl = 2 * np.einsum("ij,ij->i", n, v)[:, None] * n - v
            glossy_l += world.strength * _sample_levels(env.levels, refl, rough, world.rotation) * ao
    alpha = np.maximum(rough * rough, _MIN_ALPHA)
    for k, light in enumerate(lighting.lights):
        if light.power <= 0:
            continue
        to_l, e, widen = _light_incidence(light, pos)
        e = e * seen(k)
        nl = np.maximum(np.einsum("ij,ij->i", n, to_l), 0.0)
        diffuse_e += e * nl[:, None]
        if spec_color is not None:
            glossy_l += e * _ggx_unit(n, v, to_l, np.minimum(alpha + widen, 1.0))[:, None]

    out = {}
    for key, val in (("diffuse", albedo * diffuse_e / np.float32(np.pi)),
                     ("glossy", spec_color * glossy_l if spec_color is not None else None)):
        img = np.zeros((h * w, 3), np.float32)
        if val is not None:
            img[idx] = val
        out[key] = img.reshape(h, w, 3)
    out["background"] = np.zeros((h, w, 3), np.float32)
    if meta.get("camera") is not None and len(idx) < h * w:
        from ..core.cameras import Camera

        try:
            camera = Camera.from_sidecar(meta)
        except OpError:
            camera = None  # no usable intrinsics: the background stays black
        # A strip of a bigger frame (see neural_ops.core.strips): its rows of the camera's image.
        strip = meta.get("strip") if isinstance(meta.get("strip"), dict) else {"row": 0, "height": h}
        if camera is not None and (camera.h, camera.w) == (strip["height"], w):
            bg = environment_background(world, camera, rows=(strip["row"], strip["row"] + h))
            bg.reshape(-1, 3)[idx] = 0.0
            out["background"] = bg
    out["image"] = out["diffuse"] + out["glossy"] + out["background"]
    return out
