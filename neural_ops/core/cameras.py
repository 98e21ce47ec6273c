"""Pinhole cameras of rendered views: intrinsics and pose from ``transforms.json`` or an EXR
sidecar, projection of world points to pixels and back, and loading a multi-view sample.

Conventions (the ones the datasets are written in, checked on Cycles renders):

- ``c2w`` is camera-to-world (Blender's ``matrix_world``; nerfstudio's ``transform_matrix``).
  The camera looks down its -Z axis with +Y up (OpenGL / NeRF convention).
- Pixel coordinates ``(u, v)`` are continuous: ``u`` to the right from the left edge, ``v`` down
  from the top edge (arrays are top row first). Pixel ``[i, j]`` covers ``[j, j+1) x [i, i+1)``,
  so its centre is ``(j + 0.5, i + 0.5)``.
- ``u = cx + fx * x / -z`` and ``v = cy - fy * y / -z`` for a camera-space point ``(x, y, z)``.
- Depth is planar: the distance along the camera's -Z axis (``-z``), which is what Blender's
  ``Depth`` pass holds (not the ray length, and not the ``Denoising Depth`` pass, which is a
  per-pixel average over samples). A miss (no geometry: the world) is written as 1e10; here it
  is 0 after :func:`clean_depth`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OpError, PassSetError

#: Depths at or beyond this are misses (Blender writes 1e10 where a ray hits nothing).
MISS_DEPTH = 1e9


def clean_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) float64 planar depth with misses (<= 0, >= 1e9, non-finite) set to 0.

    Args:
        depth: (H, W) or (H, W, 1) depth as Blender writes it.
    """
    d = np.asarray(depth, np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[..., 0]
    if d.ndim != 2:
        raise OpError(f"depth must be (H, W) or (H, W, 1), got shape {d.shape}")
    return np.where(np.isfinite(d) & (d > 0) & (d < MISS_DEPTH), d, 0.0)


#: The largest image a camera may ask for (16384x8192): beyond it no frame fits in memory here.
MAX_CAMERA_PIXELS = 16384 * 8192


@dataclass
class Camera:
    """A pinhole camera.

    Attributes:
        c2w: (4, 4) camera-to-world pose (rigid; looks down -Z, +Y up).
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels (``cy`` counted from the top edge).
        w, h: image size in pixels.
    """

    c2w: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    w: int
    h: int

    def __post_init__(self) -> None:
        try:
            m = np.asarray(self.c2w, np.float64)
        except (TypeError, ValueError):
            raise OpError("camera pose must be a 4x4 matrix of numbers") from None
        if m.shape != (4, 4):
            raise OpError(f"camera pose must be a 4x4 matrix, got shape {m.shape}")
        if not np.isfinite(m).all():
            raise OpError("camera pose has non-finite values (NaN/Inf)")
        if abs(np.linalg.det(m[:3, :3])) < 1e-9:
            raise OpError("camera pose has no orientation (its 3x3 rotation part is singular, e.g. all zero)")
        self.c2w = m
        self.fx, self.fy, self.cx, self.cy = (float(v) for v in (self.fx, self.fy, self.cx, self.cy))
        if not all(np.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy)) or self.fx <= 0 or self.fy <= 0:
            raise OpError(f"camera intrinsics must be finite with positive focal lengths, got fx={self.fx}, fy={self.fy}")
        self.w, self.h = int(self.w), int(self.h)
        if self.w < 1 or self.h < 1 or self.w * self.h > MAX_CAMERA_PIXELS:
            raise OpError(f"camera of {self.w}x{self.h} pixels: at least 1x1 and at most "
                          f"{MAX_CAMERA_PIXELS / 1e6:.0f} megapixels (16384x8192)")
        if not (self.fx > 0 and self.fy > 0 and self.w > 0 and self.h > 0):
            raise OpError(f"camera needs positive focal lengths and size, got fx={self.fx} fy={self.fy} {self.w}x{self.h}")

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_transforms(cls, frame: Mapping[str, Any], meta: Mapping[str, Any]) -> Camera:
        """The camera of one ``frames[]`` entry of a nerfstudio ``transforms.json``.

        Intrinsics (``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``) are read from the frame
        when it has them, else from the file's top level ``meta``; ``fl_y`` defaults to ``fl_x``,
        ``cx``/``cy`` to the image centre, and ``fl_x`` may come from ``camera_angle_x``.
        """
        def get(name, default=None):
            if name in frame:
                return frame[name]
            if name in meta:
                return meta[name]
            if default is None:
                raise OpError(f"transforms.json: no '{name}' in the frame or at the top level")
            return default

        try:
            w, h = int(get("w")), int(get("h"))
            if "fl_x" in frame or "fl_x" in meta:
                fx = float(get("fl_x"))
            else:
                fx = 0.5 * w / math.tan(0.5 * float(get("camera_angle_x")))
            fy = float(get("fl_y", fx))
            cx, cy = float(get("cx", 0.5 * w)), float(get("cy", 0.5 * h))
            pose = np.asarray(frame["transform_matrix"], np.float64)
        except KeyError as e:
            raise OpError(f"transforms.json: frame has no {e}") from None
        except (TypeError, ValueError) as e:
            raise OpError(f"transforms.json: bad camera entry: {e}") from None
        return cls(pose.reshape(4, 4) if pose.size == 16 else pose, fx, fy, cx, cy, w, h)

    @classmethod
    def from_sidecar(cls, meta: Mapping[str, Any]) -> Camera:
        """The camera of an EXR's JSON sidecar (the whole sidecar or its ``camera`` block).

        Uses ``matrix_world``, ``lens``, ``sensor_width``/``sensor_height``, ``sensor_fit``,
        ``shift_x``/``shift_y``, ``resolution`` and ``pixel_aspect``, the way Blender builds its
        view plane: the sensor size (``sensor_width`` for AUTO and HORIZONTAL fits, even in
        portrait images) spans the image width for a horizontal fit and the height for a vertical
        one (AUTO: whichever side is longer), and the shift is in units of that side. Only
        perspective cameras.
        """
        cam = meta.get("camera", meta)
        try:
            if cam.get("type", "PERSP") != "PERSP":
                raise OpError(f"sidecar camera is {cam['type']}: only perspective cameras are supported")
            w, h = (int(v) for v in cam["resolution"])
            ax, ay = (float(v) for v in cam.get("pixel_aspect", (1.0, 1.0)))
            lens = float(cam["lens"])
            sw, sh = float(cam["sensor_width"]), float(cam["sensor_height"])
            fit = cam.get("sensor_fit", "AUTO")
            sx, sy = float(cam.get("shift_x", 0.0)), float(cam.get("shift_y", 0.0))
            pose = np.asarray(cam["matrix_world"], np.float64)
        except KeyError as e:
            raise OpError(f"sidecar camera block has no {e}") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise OpError(f"sidecar camera block is malformed: {e}") from None
        if fit not in ("AUTO", "HORIZONTAL", "VERTICAL"):
            raise OpError(f"sidecar camera: unknown sensor_fit '{fit}'")
        sensor = sh if fit == "VERTICAL" else sw
        ycor = ay / ax  # a pixel's height over its width
        horizontal = fit == "HORIZONTAL" or (fit == "AUTO" and ax * w >= ay * h)
        span = w if horizontal else ycor * h  # the sensor spans this many pixel widths
        fx = lens / sensor * span
        return cls(pose, fx, fx / ycor, 0.5 * w - sx * span, 0.5 * h + sy * span / ycor, w, h)

    # -- geometry ---------------------------------------------------------------------------

    @property
    def center(self) -> np.ndarray:
        """(3,) camera position in world space."""
        return self.c2w[:3, 3].copy()

    @property
    def w2c(self) -> np.ndarray:
        """(4, 4) world-to-camera matrix (the rigid inverse of ``c2w``)."""
        r, t = self.c2w[:3, :3], self.c2w[:3, 3]
        m = np.eye(4)
        m[:3, :3] = r.T
        m[:3, 3] = -r.T @ t
        return m

    @property
    def forward(self) -> np.ndarray:
        """(3,) unit viewing direction (the camera's -Z axis) in world space."""
        f = -self.c2w[:3, 2]
        return f / np.linalg.norm(f)

    def pixel_centers(self) -> np.ndarray:
        """(H, W, 2) ``(u, v)`` of every pixel centre."""
        v, u = np.mgrid[0 : self.h, 0 : self.w].astype(np.float64) + 0.5
        return np.stack([u, v], axis=-1)

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world points in this camera's frame."""
        w2c = self.w2c
        return np.asarray(points_world, np.float64) @ w2c[:3, :3].T + w2c[:3, 3]

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points.

        Args:
            points_world: (..., 3) world points.

        Returns:
            uv: (..., 2) pixel coordinates (NaN for points at or behind the camera plane).
            depth: (...,) planar depth ``-z`` (<= 0 behind the camera).
        """
        p = self.to_camera(points_world)
        depth = -p[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(depth > 0, 1.0 / np.where(depth > 0, depth, 1.0), np.nan)
        uv = np.stack([self.cx + self.fx * p[..., 0] * inv, self.cy - self.fy * p[..., 1] * inv], axis=-1)
        return uv, depth

    def project_directions(self, directions_world: np.ndarray) -> np.ndarray:
        """(..., 2) pixel coordinates of points at infinity in world directions (..., 3); NaN
        for directions that point away from the camera's view (``z >= 0``)."""
        d = np.asarray(directions_world, np.float64) @ self.w2c[:3, :3].T
        zf = -d[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(zf > 0, 1.0 / np.where(zf > 0, zf, 1.0), np.nan)
        return np.stack([self.cx + self.fx * d[..., 0] * inv, self.cy - self.fy * d[..., 1] * inv], axis=-1)

    def camera_directions(self, uv: np.ndarray | None = None) -> np.ndarray:
        """(..., 3) camera-space directions ``(x, y, -1)`` through pixel coordinates ``uv``
        (default: every pixel centre, (H, W, 3)); scaled by a planar depth they give the point."""
        uv = self.pixel_centers() if uv is None else np.asarray(uv, np.float64)
        x = (uv[..., 0] - self.cx) / self.fx
        y = -(uv[..., 1] - self.cy) / self.fy
        return np.stack([x, y, -np.ones_like(x)], axis=-1)

    def unproject(self, depth_map: np.ndarray, uv: np.ndarray | None = None) -> np.ndarray:
        """World points at planar depths.

        Args:
            depth_map: (H, W) or (H, W, 1) planar depth at the pixel centres (or at ``uv``);
                misses (<= 0, >= 1e9, non-finite) give NaN points.
            uv: optional (H, W, 2) pixel coordinates instead of the pixel centres.

        Returns:
            (H, W, 3) world points.
        """
        d = clean_depth(depth_map)
        if uv is None and d.shape != (self.h, self.w):
            raise OpError(f"depth map is {d.shape[1]}x{d.shape[0]}, the camera is {self.w}x{self.h}")
        p = self.camera_directions(uv) * d[..., None]
        world = p @ self.c2w[:3, :3].T + self.c2w[:3, 3]
        world[d <= 0] = np.nan
        return world

    def rays(self, uv: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World rays through pixel coordinates ``uv`` (default every pixel centre).

        Returns:
            origins: (..., 3) the camera centre, broadcast.
            directions: (..., 3) unit world directions.
        """
        d = self.camera_directions(uv) @ self.c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return np.broadcast_to(self.center, d.shape).copy(), d

    def inside(self, uv: np.ndarray) -> np.ndarray:
        """(...,) bool: pixel coordinates inside the image (``0 <= u < w``, ``0 <= v < h``)."""
        u, v = uv[..., 0], uv[..., 1]
        with np.errstate(invalid="ignore"):
            return (u >= 0) & (u < self.w) & (v >= 0) & (v < self.h)


View = tuple[Camera, np.ndarray, np.ndarray]


def transforms_frames(folder: str | Path) -> list[tuple[Camera, Path]]:
    """``(camera, EXR path)`` of every frame of a multi-view folder's ``transforms.json``, in the
    file's order (each frame's ``exr_file_path`` holds the HDR colour, depth and other passes)."""
    folder = Path(folder)
    path = folder / "transforms.json"
    try:
        tf = json.loads(path.read_text())
        frames = tf["frames"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PassSetError(f"{path}: unreadable or without frames: {e}") from None
    if not isinstance(frames, list) or not all(isinstance(fr, dict) for fr in frames):
        raise PassSetError(f"{path}: 'frames' must be a list of objects")
    out = []
    for fr in frames:
        name = fr.get("exr_file_path")
        if not name:
            raise PassSetError(f"{path}: frame {fr.get('file_path')} has no exr_file_path (the HDR colour and depth)")
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            raise PassSetError(f"{path}: exr_file_path {name!r} must name a file inside {folder}")
        out.append((Camera.from_transforms(fr, tf), folder / name))
    return out


def load_views(folder: str | Path) -> list[View]:
    """The views of a multi-view sample folder (:func:`transforms_frames`), in the file's order.

    Returns:
        a list of ``(camera, color (H, W, 3) linear HDR float32, depth (H, W) planar, 0 = miss)``.
    """
    from .exr import read_exr

    views = []
    for cam, exr in transforms_frames(folder):
        ps = read_exr(exr, sidecar=False).validate(("Combined", "Depth"))
        if ps.shape != (cam.h, cam.w):
            raise PassSetError(f"{exr} is {ps.shape[1]}x{ps.shape[0]}, transforms.json says {cam.w}x{cam.h}")
        views.append((cam, ps.color.astype(np.float32), clean_depth(ps.get("Depth"))))
    return views
