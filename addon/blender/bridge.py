"""The one place where Blender pixels become arrays and back.

Arrays here are (H, W, C) float32, linear, top row first. Blender's render buffers are flat
and bottom row first.
"""

from __future__ import annotations

import numpy as np

from ..shim import nops

#: Render-result passes the ops read, with their channel letters.
READ_PASSES = {
    "Combined": "RGBA",
    "Noisy Image": "RGBA",  # Cycles' denoiser on, Denoising Data on: the render before denoising
    "Denoising Albedo": "RGB",
    "Denoising Normal": "XYZ",
    "Denoising Depth": "Z",
    "Depth": "Z",
    "Normal": "XYZ",
    "Position": "XYZ",
    "Diffuse Color": "RGB",
    "Glossy Color": "RGB",
    "Vector": "XYZW",
}


def pass_to_array(render_pass, width: int, height: int) -> np.ndarray:
    """A RenderPass -> (H, W, C) float32, top row first."""
    c = render_pass.channels
    buf = np.empty(width * height * c, dtype=np.float32)
    render_pass.rect.foreach_get(buf)
    return buf.reshape(height, width, c)[::-1].copy()


def array_to_pass(render_pass, pixels: np.ndarray) -> None:
    """(H, W, C) top-first array -> a RenderPass (channel count must match)."""
    c = render_pass.channels
    px = np.asarray(pixels, dtype=np.float32)
    if px.shape[2] < c:  # e.g. RGB result into an RGBA pass: opaque alpha
        px = np.concatenate([px, np.ones(px.shape[:2] + (c - px.shape[2],), np.float32)], axis=2)
    render_pass.rect.foreach_set(np.ascontiguousarray(px[::-1, :, :c]).ravel())


def passset_from_render_layer(layer, width: int, height: int, meta: dict | None = None):
    """Build a PassSet from the passes of a RenderLayer that the ops know how to read."""
    ps = nops.PassSet(layer=layer.name, meta=dict(meta or {}), source=f"render layer '{layer.name}'")
    for name, letters in READ_PASSES.items():
        p = layer.passes.find_by_name(name, "")
        if p is None or p.channels != len(letters):
            continue
        ps.add(name, pass_to_array(p, width, height), letters)
    return ps


def camera_meta(scene, camera_obj=None) -> dict:
    """Camera intrinsics and extrinsics for the sidecar (matrix_world is camera-to-world,
    Blender camera looks down -Z with +Y up, as in the NeRF convention)."""
    cam_obj = camera_obj or scene.camera
    r = scene.render
    w = int(r.resolution_x * r.resolution_percentage / 100)
    h = int(r.resolution_y * r.resolution_percentage / 100)
    meta = {"resolution": [w, h], "pixel_aspect": [r.pixel_aspect_x, r.pixel_aspect_y]}
    if cam_obj is None:
        return meta
    cam = cam_obj.data
    meta.update(
        {
            "name": cam_obj.name,
            "matrix_world": [list(row) for row in cam_obj.matrix_world],
            "type": cam.type,
            "lens": cam.lens,
            "sensor_width": cam.sensor_width,
            "sensor_height": cam.sensor_height,
            "sensor_fit": cam.sensor_fit,
            "shift_x": cam.shift_x,
            "shift_y": cam.shift_y,
            "clip_start": cam.clip_start,
            "clip_end": cam.clip_end,
            "angle_x": cam.angle_x,
            "angle_y": cam.angle_y,
        }
    )
    return meta
