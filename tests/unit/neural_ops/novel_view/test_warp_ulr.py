"""Cameras, warping and ULR on synthetic scenes traced analytically (no bpy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neural_ops import OpError, PassSet, write_exr
from neural_ops.core.cameras import Camera, clean_depth, load_views
from neural_ops.novel_view import (
    backward_warp,
    backward_warp_environment,
    forward_splat,
    splat_depth,
    ulr_render,
)
from neural_ops.novel_view.ulr import blend_weights


def look_at(eye, target, up=(0, 0, 1)) -> np.ndarray:
    """Camera-to-world pose looking from ``eye`` at ``target`` (-Z forward, +Y up)."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    back = eye - target
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(back, right), back, eye
    return m


def cam(eye, target=(0, 0, 0), size=32, f=40.0, up=(0, 0, 1)) -> Camera:
    return Camera(look_at(eye, target, up), f, f, size / 2, size / 2, size, size)


def texture(x, y):
    """A smooth colour pattern on the z = 0 plane (bilinear sampling of it is nearly exact)."""
    return np.stack([0.5 + 0.4 * np.sin(3 * x), 0.5 + 0.4 * np.cos(2 * y), 0.3 + 0.2 * np.sin(x + y)], axis=-1)


def environment(d):
    return np.stack([0.2 + 0.1 * d[..., 0], 0.3 + 0.1 * d[..., 1], 0.6 + 0.2 * d[..., 2]], axis=-1)


def trace(camera: Camera, half=None, occluder=None):
    """Colour and planar depth (1e10 at misses, as Blender writes) of the z = 0 plane, limited to
    |x|, |y| < ``half`` (None: infinite), and an optional occluding square ``(centre (3,), half
    size)`` parallel to it, in front of a grey-world ``environment``."""
    o, d = camera.rays()
    fwd = camera.forward
    best_t = np.full(d.shape[:2], np.inf)
    color = environment(d)
    planes = [(0.0, half, texture)]
    if occluder is not None:
        (ox, oy, oz), s = occluder
        planes.append((oz, s, lambda x, y: np.full(x.shape + (3,), 0.9)))
        shift = np.array([ox, oy])
    for z0, h, tex in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (z0 - o[..., 2]) / d[..., 2]
        p = o + t[..., None] * d
        c = shift if z0 != 0.0 else np.zeros(2)
        inside = np.ones(t.shape, bool) if h is None else (np.abs(p[..., :2] - c) < h).all(axis=-1)
        hit = (t > 0) & inside & (t < best_t)
        best_t = np.where(hit, t, best_t)
        color = np.where(hit[..., None], tex(p[..., 0], p[..., 1]), color)
    depth = np.where(np.isfinite(best_t), best_t * (d @ fwd), 1e10)
    return color.astype(np.float32), depth


# -- cameras -------------------------------------------------------------------------------------


def test_known_point_projects_to_its_pixel_with_transforms_conventions():
    c2w = look_at((3.0, -4.0, 2.0), (0.2, 0.1, 0.3))
    frame = {"transform_matrix": c2w.tolist()}
    meta = {"fl_x": 50.0, "fl_y": 60.0, "cx": 20.5, "cy": 14.0, "w": 40, "h": 30}
    camera = Camera.from_transforms(frame, meta)
    p_cam = np.array([0.3, -0.2, -5.0])  # right, below the axis, 5 in front
    p_world = c2w[:3, :3] @ p_cam + c2w[:3, 3]
    uv, depth = camera.project(p_world)
    # cy counts from the top row: a point below the axis (y < 0) has a larger v.
    assert uv == pytest.approx([20.5 + 50 * 0.3 / 5, 14.0 + 60 * 0.2 / 5])
    assert depth == pytest.approx(5.0)
    # Round trip: a depth map that holds 5 at that pixel unprojects (at the pixel centre) onto the point.
    j, i = np.floor(uv).astype(int)
    dm = np.zeros((30, 40))
    dm[i, j] = depth
    back = camera.unproject(dm, uv=np.broadcast_to(uv, (30, 40, 2)))[i, j]
    assert back == pytest.approx(p_world)
    assert np.isnan(camera.unproject(dm)[0, 0]).all()  # depth 0 is a miss


def test_unproject_then_project_returns_pixel_centres_and_depths(rng):
    camera = Camera.from_transforms({"transform_matrix": look_at((1, 2, 3), (0, 0, 0)).tolist(), "fl_x": 30.0},
                                    {"w": 24, "h": 16, "cx": 11.0, "cy": 9.0})
    depth = rng.uniform(1, 10, (16, 24))
    uv, z = camera.project(camera.unproject(depth))
    np.testing.assert_allclose(uv, camera.pixel_centers(), atol=1e-9)
    np.testing.assert_allclose(z, depth, rtol=1e-12)
    o, d = camera.rays()
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0)
    np.testing.assert_allclose(o + d * (depth / (d @ camera.forward))[..., None], camera.unproject(depth), atol=1e-9)


def test_camera_from_sidecar_matches_transforms_intrinsics():
    c2w = look_at((0, -5, 1), (0, 0, 0))
    side = {"camera": {"resolution": [64, 48], "lens": 50.0, "sensor_width": 36.0, "sensor_height": 24.0,
                       "sensor_fit": "AUTO", "shift_x": 0.1, "shift_y": -0.05, "matrix_world": c2w.tolist()}}
    camera = Camera.from_sidecar(side)
    fl = 50 / 36 * 64
    assert (camera.fx, camera.fy) == pytest.approx((fl, fl))
    assert (camera.cx, camera.cy) == pytest.approx((32 - 0.1 * 64, 24 - 0.05 * 64))
    np.testing.assert_array_equal(camera.c2w, c2w)
    # Vertical fit: the sensor height spans the image height.
    vert = Camera.from_sidecar({**side["camera"], "sensor_fit": "VERTICAL", "shift_x": 0, "shift_y": 0})
    assert vert.fx == pytest.approx(50 / 24 * 48)
    with pytest.raises(OpError, match="lens"):
        Camera.from_sidecar({"camera": {k: v for k, v in side["camera"].items() if k != "lens"}})
    with pytest.raises(OpError, match="perspective"):
        Camera.from_sidecar({**side["camera"], "type": "ORTHO"})


def test_clean_depth_marks_misses():
    d = clean_depth(np.array([[1e10, 0.0, -1.0, np.inf, 2.5]])[..., None])
    assert d.tolist() == [[0, 0, 0, 0, 2.5]]


# -- warping -------------------------------------------------------------------------------------


def test_warp_to_own_camera_is_exact():
    camera = cam((1.0, -3.0, 2.5))
    color, depth = trace(camera, half=1.0)
    hit = depth < 1e9
    assert 0.2 < hit.mean() < 0.9
    w = backward_warp(camera, depth, camera, color, depth)
    np.testing.assert_array_equal(w.valid, hit)
    np.testing.assert_allclose(w.color[hit], color[hit], atol=1e-6)
    np.testing.assert_allclose(w.uv[hit], camera.pixel_centers()[hit], atol=1e-9)
    assert np.abs(w.depth_diff[hit]).max() < 1e-9
    s = forward_splat(camera, depth, camera, color)
    np.testing.assert_array_equal(s.valid, hit)
    np.testing.assert_allclose(s.depth[hit], depth[hit], rtol=1e-12)
    np.testing.assert_array_equal(s.color[hit], color[hit])
    assert not s.depth[~hit].any()


def test_translated_camera_shifts_by_f_baseline_over_depth():
    # Fronto-parallel plane 5 below both cameras; the source sits b to the right (+x) with
    # f * b / Z = 3 px, so a target pixel's point appears 3 px further left in the source.
    f, z, size = 40.0, 5.0, 32
    b = 3 * z / f
    target = Camera(np.diag([1.0, 1, 1, 1]) @ _translate(0, 0, z), f, f, 16, 16, size, size)
    source = Camera(_translate(b, 0, z), f, f, 16, 16, size, size)
    t_color, t_depth = trace(target)
    s_color, s_depth = trace(source)
    assert np.allclose(t_depth, z)
    w = backward_warp(target, t_depth, source, s_color, s_depth)
    np.testing.assert_allclose(w.uv[..., 0][w.valid], (target.pixel_centers()[..., 0] - 3)[w.valid], atol=1e-9)
    assert not w.valid[:, :3].any() and w.valid[:, 3:].all()
    np.testing.assert_allclose(w.color[:, 3:], s_color[:, :-3], atol=1e-6)
    np.testing.assert_allclose(w.color[:, 3:], t_color[:, 3:], atol=1e-6)
    # Forward: the source's pixels land 3 px to the right; its first 3 target columns are holes.
    s = forward_splat(source, s_depth, target, s_color)
    assert not s.valid[:, :3].any() and s.valid[:, 3:].all()
    np.testing.assert_allclose(s.color[:, 3:], s_color[:, :-3], atol=1e-6)
    np.testing.assert_allclose(s.uv[:, 3:], source.pixel_centers()[:, :-3])


def _translate(x, y, z):
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def test_occluded_points_are_invalid():
    # A square hovering over the plane, seen from the side by the source: the plane behind it
    # (from the source) is visible to the target but occluded in the source.
    occ = ((0.3, 0.0, 1.0), 0.35)
    target = cam((0.0, -0.5, 6.0), up=(0, 1, 0))
    source = cam((4.0, -0.5, 5.0), up=(0, 0, 1))
    t_color, t_depth = trace(target, occluder=occ)
    s_color, s_depth = trace(source, occluder=occ)
    w = backward_warp(target, t_depth, source, s_color, s_depth)
    # Ground truth: the segment from the target pixel's point to the source centre crosses the square.
    pts = target.unproject(t_depth)
    c = source.center
    t = (occ[0][2] - pts[..., 2]) / (c[2] - pts[..., 2])
    q = pts + t[..., None] * (c - pts)
    on_plane = np.abs(pts[..., 2]) < 1e-6
    occluded = on_plane & (t > 0) & (t < 1) & (np.abs(q[..., :2] - occ[0][:2]) < occ[1]).all(axis=-1)
    inside = source.inside(source.project(pts)[0])
    assert occluded.sum() > 25
    # Away from the occlusion boundary (one pixel), validity is exactly "inside and not occluded".
    edge = _dilate(occluded) & ~_erode(occluded)
    want = inside & ~occluded
    np.testing.assert_array_equal(w.valid[~edge], want[~edge])
    assert (w.depth_diff[occluded & ~edge] > 0.1).all()  # behind the square the source sees
    err = np.abs(w.color - t_color)[w.valid & ~edge & on_plane]
    assert err.mean() < 0.015 and err.max() < 0.08  # resampling the texture from an oblique view
    # Without the source depth there is no visibility test: the square's colour shows through.
    assert backward_warp(target, t_depth, source, s_color).valid[occluded & ~edge].all()


def _dilate(m):
    p = np.pad(m, 1)
    return np.any([p[i : i + m.shape[0], j : j + m.shape[1]] for i in range(3) for j in range(3)], axis=0)


def _erode(m):
    return ~_dilate(~m)


def test_forward_splat_nearest_depth_wins():
    occ = ((0.0, 0.0, 1.0), 0.4)
    source = cam((0.5, -3.0, 3.0), size=48)
    s_color, s_depth = trace(source, occluder=occ)
    target = cam((0.4, -3.2, 3.1), size=32)
    s = forward_splat(source, s_depth, target, s_color, footprint=2)
    t_color, t_depth = trace(target, occluder=occ)
    ok = s.valid & (t_depth < 1e9)
    assert ok.mean() > 0.5
    near = np.abs(s.depth - t_depth) < 0.05 * t_depth
    assert near[ok].mean() > 0.9  # the z-buffer keeps the square, not the plane behind it
    assert (s.depth_diff[ok] >= 0).all()
    filled = splat_depth(target, [(source, s_depth)])
    assert (filled > 0).sum() >= (forward_splat(source, s_depth, target).depth > 0).sum()


def test_environment_warp_uses_directions_only():
    a, b = cam((1, -3, 2)), cam((1.5, -2.5, 2.2), target=(0.2, 0, 0))
    a_color, a_depth = trace(a, half=0.5)
    b_color, b_depth = trace(b, half=0.5)
    e = backward_warp_environment(b, a, a_color, a_depth, mask=b_depth >= 1e9)
    assert e.valid.sum() > 0.3 * b.w * b.h
    # Bilinear in pixels is not linear in direction: a few 1e-3 off at most.
    np.testing.assert_allclose(e.color[e.valid], b_color[e.valid], atol=5e-3)
    assert not e.valid[b_depth < 1e9].any()


def test_warp_rejects_mismatched_shapes():
    camera = cam((1, -3, 2))
    color, depth = trace(camera)
    with pytest.raises(OpError, match="source colour"):
        backward_warp(camera, depth, camera, color[:10], depth)
    with pytest.raises(OpError, match="target depth"):
        backward_warp(camera, depth[:, :5], camera, color, depth)
    with pytest.raises(OpError, match="footprint"):
        forward_splat(camera, depth, camera, footprint=3)


# -- ULR -----------------------------------------------------------------------------------------


def _ring(n=4, size=32):
    cams = [cam((3.5 * np.cos(a), 3.5 * np.sin(a), 2.0 + 0.3 * np.sin(3 * a)), size=size)
            for a in np.linspace(0, 2 * np.pi, n, endpoint=False) + 0.3]
    return [(c, *trace(c, half=1.0)) for c in cams]


def test_ulr_with_target_equal_to_a_source_returns_that_source():
    views = _ring(4)
    camera, color, depth = views[2]
    img, w, valid = ulr_render(camera, views, target_depth=depth, k=3)
    assert valid.all()  # geometry and environment alike
    np.testing.assert_allclose(img, color, atol=1e-5)
    np.testing.assert_allclose(w[..., 2], 1.0)
    # Without the target's depth (splatted from the sources, its own among them) it is still that view.
    img2, w2, valid2 = ulr_render(camera, views, k=3)
    assert valid2.mean() > 0.97
    assert np.abs(img2 - color)[valid2].mean() < 0.01


def test_ulr_weights_sum_to_one_where_valid_and_novel_view_is_close():
    views = _ring(5)
    target = cam((3.3 * np.cos(1.0), 3.3 * np.sin(1.0), 2.3))
    t_color, t_depth = trace(target, half=1.0)
    img, w, valid = ulr_render(target, views, target_depth=t_depth, k=2)
    assert w.shape == (32, 32, 5) and img.shape == (32, 32, 3) and img.dtype == np.float32
    np.testing.assert_allclose(w.sum(-1)[valid], 1.0, atol=1e-6)
    assert not w[~valid].any() and not img[~valid].any()
    assert ((w > 0).sum(-1) <= 2).all() and (w >= 0).all()
    hit = t_depth < 1e9
    # A few points on the plane's rim fall in source pixels that see past it: not visible there.
    assert valid[hit].mean() > 0.98 and np.abs(img - t_color)[valid & hit].mean() < 0.015
    # Background: only the sources whose view covers the target ray's direction (and that see
    # no geometry there) contribute; elsewhere the pixel is a hole.
    assert 0.3 < valid[~hit].mean() < 1 and np.abs(img - t_color)[valid & ~hit].max() < 0.01
    # The splatted-geometry route lands close too (silhouette pixels aside).
    img2, w2, valid2 = ulr_render(target, views, k=2)
    np.testing.assert_allclose(w2.sum(-1)[valid2], 1.0, atol=1e-6)
    assert valid2[hit].mean() > 0.95 and np.abs(img2 - t_color)[valid2].mean() < 0.03


def test_blend_weights_are_buehlers():
    p = np.array([0.1, 0.2, 0.4, 0.8])[:, None, None]
    valid = np.ones_like(p, bool)
    w = blend_weights(p, valid, k=2)[:, 0, 0]
    raw = np.array([(1 - 0.1 / 0.4) / 0.1, (1 - 0.2 / 0.4) / 0.2, 0, 0])
    np.testing.assert_allclose(w, raw / raw.sum())
    # Fewer valid sources than k: all of them, inverse-penalty weighted; none valid: all zero.
    w = blend_weights(p, np.array([True, False, True, False])[:, None, None], k=3)[:, 0, 0]
    np.testing.assert_allclose(w, np.array([10, 0, 2.5, 0]) / 12.5)
    assert not blend_weights(p, ~valid, k=2).any()
    with pytest.raises(OpError, match="k >= 1"):
        blend_weights(p, valid, k=0)


def test_load_views_reads_transforms_and_exr(tmp_path):
    frames = []
    for v, c in enumerate([cam((3, 0, 2)), cam((0, 3, 2))]):
        color, depth = trace(c, half=1.0)
        ps = PassSet(source=f"r_{v:03d}.exr")
        ps.add("Combined", np.concatenate([color, np.ones((32, 32, 1), np.float32)], -1), "RGBA")
        ps.add("Depth", depth.astype(np.float32)[..., None], "Z")
        write_exr(ps, tmp_path / f"r_{v:03d}.exr")
        frames.append({"file_path": f"r_{v:03d}.png", "exr_file_path": f"r_{v:03d}.exr",
                       "transform_matrix": c.c2w.tolist()})
    (tmp_path / "transforms.json").write_text(json.dumps({"fl_x": 40.0, "fl_y": 40.0, "cx": 16, "cy": 16, "w": 32,
                                                          "h": 32, "frames": frames}))
    views = load_views(tmp_path)
    assert len(views) == 2
    c, color, depth = views[1]
    np.testing.assert_allclose(c.c2w, frames[1]["transform_matrix"])
    assert color.shape == (32, 32, 3) and depth.shape == (32, 32)
    assert (depth == 0).any() and (depth[depth > 0] < 1e9).all()
