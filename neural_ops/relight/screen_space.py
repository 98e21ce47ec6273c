"""Screen-space visibility: shadows and ambient occlusion traced through the frame's own depth.

Analytic re-shading (:mod:`.shading`) lights every surface as if nothing stood between it and
the light. Deferred renderers get most shadows back without the scene by marching from each
pixel towards the light through the depth buffer (screen-space shadows) and by probing the
hemisphere around the normal the same way (screen-space ambient occlusion). What the frame does
not show (occluders off screen, the back of objects beyond an assumed thickness) stays unknown:
that is left to the network, which gets these shadowed buffers as inputs.

Geometry comes from the pass set: ``Position`` and ``Normal`` (world space), ``Depth`` (planar,
along the camera's -Z) and the sidecar camera (:class:`~neural_ops.core.cameras.Camera`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import OpError
from ..core.lighting import Lighting
from ..core.passset import PassSet
from .shading import analytic_shading


@dataclass(frozen=True)
class TraceSettings:
    """How far and how finely to march, relative to the frame's median depth ``m``.

    Attributes:
        steps: samples along each shadow ray.
        reach: longest shadow ray (sun, or lights further away), in units of ``m``.
        thickness: how deep behind the depth buffer a surface is assumed to extend (``m`` units):
            a sample further behind it passes (the occluder is thinner than that).
        ao_directions, ao_steps, ao_radius: the hemisphere probe for the world's light.
        max_pixels: larger frames are traced on every n-th pixel (n the smallest stride that
            brings them under this count) against the full depth buffer, and the visibility is
            interpolated back; shadows are smooth enough, and a 1080p frame costs what a 512x512
            one does.
    """

    steps: int = 24
    reach: float = 1.0
    thickness: float = 0.12
    ao_directions: int = 8
    ao_steps: int = 6
    ao_radius: float = 0.25
    max_pixels: int = 512 * 512


def _geometry(passes: PassSet):
    from ..core.cameras import Camera

    passes.validate(("Position", "Normal", "Depth"))
    try:
        camera = Camera.from_sidecar(passes.meta)
    except OpError as e:
        raise OpError(f"{passes.source}: screen-space shadows need the sidecar's camera ({e})") from None
    h, w = passes.shape
    if (camera.h, camera.w) != (h, w):
        raise OpError(f"{passes.source}: the sidecar camera is {camera.w}x{camera.h}, the passes {w}x{h}")
    depth = passes.get("Depth")[..., 0].astype(np.float32)
    normal = passes.get("Normal")[..., :3].astype(np.float32)
    hit = (np.linalg.norm(normal, axis=2) > 0.5) & np.isfinite(depth) & (depth > 0) & (depth < 1e9)
    zbuf = np.where(hit, depth, np.inf).astype(np.float32)
    return camera, passes.get("Position")[..., :3].astype(np.float32), normal, zbuf, hit


def _occluded(camera, zbuf: np.ndarray, points: np.ndarray, thickness: float) -> np.ndarray:
    """(N,) True where the depth buffer holds a surface in front of each world point (N, 3), no
    more than ``thickness`` in front of it. Points off screen or behind the camera: False."""
    uv, z = camera.project(points.astype(np.float64))
    h, w = zbuf.shape
    ok = np.isfinite(uv).all(axis=1) & (z > 0)
    col = np.floor(np.where(ok, uv[:, 0], -1)).astype(np.int64)
    row = np.floor(np.where(ok, uv[:, 1], -1)).astype(np.int64)
    ok &= (col >= 0) & (col < w) & (row >= 0) & (row < h)
    zb = np.full(len(points), np.inf, np.float32)
    zb[ok] = zbuf[row[ok], col[ok]]
    gap = z - zb
    return ok & (gap > 0.01 * z) & (gap < thickness)


def _march(camera, zbuf, origins, dirs, lengths, steps, thickness, chunk=1 << 16) -> np.ndarray:
    """(N,) visibility in {0, 1} of segments ``origins + t dirs``, t in (0, lengths]."""
    vis = np.ones(len(origins), np.float32)
    # Denser near the surface, where contact shadows are decided.
    ts = ((np.arange(steps, dtype=np.float32) + 0.5) / steps) ** 1.5
    for a in range(0, len(origins), chunk):
        o, d, ln = origins[a:a + chunk], dirs[a:a + chunk], lengths[a:a + chunk]
        blocked = np.zeros(len(o), bool)
        for t in ts:
            blocked |= _occluded(camera, zbuf, o + d * (t * ln)[:, None], thickness)
        vis[a:a + chunk] = ~blocked
    return vis


def _tangent_frame(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.where(np.abs(n[:, :1]) < 0.9, np.array([[1.0, 0, 0]], np.float32), np.array([[0, 1.0, 0]], np.float32))
    t = np.cross(n, a)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return t, np.cross(n, t)


def screen_space_visibility(passes: PassSet, lighting: Lighting, settings: TraceSettings | None = None,
                            ao: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Visibility of each light and of the world from every surface pixel. ``ao``: the ambient
    occlusion of these passes from an earlier call (it depends on the geometry only), reused.

    A strip of a bigger frame (:mod:`neural_ops.core.strips`) takes its rows of the grid traced
    on the whole frame beforehand (:func:`frame_visibility`).

    Returns:
        ``lights``: (L, H, W) in {0, 1}, one map per light of ``lighting`` (1: nothing seen in
        the way); ``ao``: (H, W) in [0, 1], the share of cosine-weighted hemisphere probes that
        escape. Background pixels are 1.
    """
    from ..core.strips import strip_rows

    rows = strip_rows(passes)
    if rows is None:
        grid = visibility_grid(passes, lighting, settings, with_ao=ao is None)
        r0 = 0
    else:
        grid = next((g for key, g in passes.meta["strip"].get("visibility", ()) if key == repr(lighting)), None)
        if grid is None:
            raise OpError(f"{passes.source}: a strip without the whole frame's visibility for this lighting")
        r0 = rows[0]
    h, w = passes.shape
    if ao is not None and ao.shape != (h, w):
        raise OpError(f"ambient occlusion given for {ao.shape[1]}x{ao.shape[0]}, the passes are {w}x{h}")
    stride = grid["stride"]
    lights = grid["lights"]
    if len(lights):
        lights = np.stack([_upsample(v, stride, r0, h, w) for v in lights])
    else:
        lights = np.ones((0, h, w), np.float32)
    return {"lights": lights, "ao": ao if ao is not None else _upsample(grid["ao"], stride, r0, h, w)}


def frame_visibility(read, lightings: list[Lighting], settings: TraceSettings | None = None) -> list:
    """The visibility grids of the whole frame (``read(passes=...)`` reads it) under each of
    ``lightings``, for its strips: [(repr of the lighting, grid)]. Reads only the geometry."""
    passes = read(passes=("Position", "Normal", "Depth"))
    out = []
    for lt in lightings:
        if all(key != repr(lt) for key, _ in out):
            out.append((repr(lt), visibility_grid(passes, lt, settings)))
    return out


def visibility_grid(passes: PassSet, lighting: Lighting, settings: TraceSettings | None = None,
                    with_ao: bool = True) -> dict:
    """The visibility of every ``stride``-th pixel of the whole frame: ``lights`` (L, gh, gw),
    ``ao`` (gh, gw) (None without ``with_ao``), ``stride``."""
    s = settings or TraceSettings()
    camera, pos, normal, zbuf, hit = _geometry(passes)
    h, w = hit.shape
    scale = float(np.median(zbuf[hit])) if hit.any() else 1.0  # the frame's scene scale
    stride = max(1, int(np.ceil(np.sqrt(h * w / max(s.max_pixels, 1)))))
    if stride > 1:
        pos, normal, hit = pos[::stride, ::stride], normal[::stride, ::stride], hit[::stride, ::stride]
    gh, gw = hit.shape
    idx = np.flatnonzero(hit.ravel())
    p = pos.reshape(-1, 3)[idx]
    n = normal.reshape(-1, 3)[idx]
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    thick = s.thickness * scale
    origin = p + n * (0.01 * scale)
    out_l = np.ones((len(lighting.lights), gh * gw), np.float32)
    for k, light in enumerate(lighting.lights):
        if idx.size == 0:
            break
        if light.type == "SUN":
            d = np.broadcast_to(-light.axis.astype(np.float32), origin.shape)
            ln = np.full(len(origin), s.reach * scale, np.float32)
        else:
            v = np.asarray(light.location, np.float32) - origin
            dist = np.linalg.norm(v, axis=1)
            d = v / np.maximum(dist, 1e-6)[:, None]
            ln = np.minimum(dist * 0.98, s.reach * scale)
        facing = np.einsum("ij,ij->i", d, n) > 0
        vis = np.zeros(len(origin), np.float32)
        vis[facing] = _march(camera, zbuf, origin[facing], d[facing], ln[facing], s.steps, thick)
        out_l[k, idx] = vis
    if not with_ao:
        return {"lights": out_l.reshape(-1, gh, gw), "ao": None, "stride": stride}
    ao = np.ones(gh * gw, np.float32)
    if idx.size:
        t, b = _tangent_frame(n)
        acc = np.zeros(len(origin), np.float32)
        # A fixed stratified set of cosine-weighted directions (the same for every pixel: no noise).
        for j in range(s.ao_directions):
            phi = 2 * np.pi * (j + 0.5) / s.ao_directions
            r = np.sqrt((j % 2 + 0.5) / 2)  # two rings, at sin(theta) = 0.5 and 0.87
            d = (np.cos(phi) * r) * t + (np.sin(phi) * r) * b + np.sqrt(1 - r * r) * n
            acc += _march(camera, zbuf, origin, d.astype(np.float32),
                          np.full(len(origin), s.ao_radius * scale, np.float32), s.ao_steps, thick)
        ao[idx] = acc / s.ao_directions
    return {"lights": out_l.reshape(-1, gh, gw), "ao": ao.reshape(gh, gw), "stride": stride}


def _upsample(grid: np.ndarray, stride: int, r0: int, h: int, w: int) -> np.ndarray:
    """Rows ``r0`` to ``r0 + h`` of the bilinear interpolation of values at pixels
    (i * stride, j * stride) to every pixel."""
    if stride == 1:
        return np.ascontiguousarray(grid[r0:r0 + h], np.float32)
    gy = np.minimum(np.arange(r0, r0 + h) / stride, grid.shape[0] - 1)
    gx = np.minimum(np.arange(w) / stride, grid.shape[1] - 1)
    y0, x0 = np.floor(gy).astype(int), np.floor(gx).astype(int)
    y1, x1 = np.minimum(y0 + 1, grid.shape[0] - 1), np.minimum(x0 + 1, grid.shape[1] - 1)
    fy, fx = (gy - y0)[:, None].astype(np.float32), (gx - x0)[None, :].astype(np.float32)
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bot = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def shadowed_shading(passes: PassSet, lighting: Lighting, settings: TraceSettings | None = None,
                     ao: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`~.shading.analytic_shading` with screen-space shadows: each light's diffuse and
    glossy terms times its visibility, the world's times the ambient occlusion. Same keys
    (``diffuse``, ``glossy``, ``background``, ``image``) plus ``visibility`` (the maps above)."""
    vis = screen_space_visibility(passes, lighting, settings, ao)
    return {**analytic_shading(passes, lighting, visibility=vis), "visibility": vis}
