"""Screen-space shadows and ambient occlusion on a ray-cast G-buffer (a sphere over a floor)."""

import numpy as np

from neural_ops import PassSet
from neural_ops.core.cameras import Camera
from neural_ops.core.lighting import Light, Lighting, World
from neural_ops.relight import analytic_shading
from neural_ops.relight.screen_space import screen_space_visibility, shadowed_shading

SIZE = 64
CENTRE, RADIUS = np.array([0.0, 0.0, 0.6]), 0.5


def _scene():
    """A camera looking down at 45 degrees on the floor z = 0 with a sphere floating above it."""
    eye = np.array([0.0, -3.0, 3.0])
    fwd = -eye / np.linalg.norm(eye)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -fwd, eye
    meta = {"camera": {"resolution": [SIZE, SIZE], "lens": 30.0, "sensor_width": 36.0, "sensor_height": 24.0,
                       "sensor_fit": "AUTO", "matrix_world": c2w.tolist()}}
    cam = Camera.from_sidecar(meta)
    d = cam.camera_directions() @ cam.c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    # Floor hit.
    t_floor = np.where(d[..., 2] < 0, -eye[2] / np.minimum(d[..., 2], -1e-9), np.inf)
    # Sphere hit (nearest root).
    oc = eye - CENTRE
    b = np.einsum("hwc,c->hw", d, oc)
    disc = b * b - (oc @ oc - RADIUS**2)
    t_sph = np.where(disc > 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
    t = np.minimum(t_floor, t_sph)
    pos = eye + d * t[..., None]
    normal = np.where((t_sph < t_floor)[..., None], (pos - CENTRE) / RADIUS, [0.0, 0.0, 1.0])
    depth = t * np.einsum("hwc,c->hw", d, fwd)  # planar depth
    hit = np.isfinite(t)
    ps = PassSet(source="ray-cast", meta=meta)
    ps.add("Combined", np.ones((SIZE, SIZE, 4), np.float32), "RGBA")
    ps.add("Position", np.where(hit[..., None], pos, 0).astype(np.float32), "XYZ")
    ps.add("Normal", np.where(hit[..., None], normal, 0).astype(np.float32), "XYZ")
    ps.add("Depth", np.where(hit, depth, 1e10)[..., None].astype(np.float32), "Z")
    ps.add("Diffuse Color", np.full((SIZE, SIZE, 3), 0.8, np.float32), "RGB")
    return ps, pos, (t_sph < t_floor) & hit


def test_a_light_above_the_sphere_casts_its_shadow_on_the_floor():
    ps, pos, on_sphere = _scene()
    light = Light("POINT", (0.0, 0.0, 3.0), (0.0, 0.0, 0.0), power=100.0)
    vis = screen_space_visibility(ps, Lighting(None, (light,)))["lights"][0]
    floor = ~on_sphere & (np.abs(pos[..., 2]) < 1e-6)
    r = np.linalg.norm(pos[..., :2], axis=-1)
    # Under a point light at height 3 the sphere's shadow on the floor has radius about 0.5 * 3 / 2.4.
    under = floor & (r < 0.4)
    away = floor & (r > 1.2)
    assert under.sum() > 10 and away.sum() > 100
    assert vis[under].mean() < 0.2
    assert vis[away].mean() > 0.95
    assert vis[on_sphere & (pos[..., 2] > CENTRE[2] + 0.3)].mean() > 0.95  # the sphere's lit top
    # The shadowed shading is the analytic one times that visibility.
    lit = Lighting(None, (light,))
    sh, an = shadowed_shading(ps, lit), analytic_shading(ps, lit)
    np.testing.assert_allclose(sh["diffuse"], an["diffuse"] * vis[..., None], rtol=1e-5, atol=1e-6)


def test_ambient_occlusion_darkens_the_floor_under_the_sphere_only():
    ps, pos, on_sphere = _scene()
    ao = screen_space_visibility(ps, Lighting(World(None, strength=1.0), ()))["ao"]
    floor = ~on_sphere & (np.abs(pos[..., 2]) < 1e-6)
    r = np.linalg.norm(pos[..., :2], axis=-1)
    assert ao[floor & (r < 0.3)].mean() < ao[floor & (r > 1.5)].mean() - 0.2
    assert ao[floor & (r > 1.5)].mean() > 0.9
    sh = shadowed_shading(ps, Lighting(World(None, strength=1.0), ()))
    assert (sh["image"] <= analytic_shading(ps, Lighting(World(None, strength=1.0), ()))["image"] + 1e-6).all()


def test_large_frames_are_traced_on_a_grid_and_interpolated():
    from neural_ops.relight.screen_space import TraceSettings

    ps, pos, on_sphere = _scene()
    light = Lighting(World(None, strength=1.0), (Light("POINT", (0.0, 0.0, 3.0), (0.0, 0.0, 0.0), power=100.0),))
    full = screen_space_visibility(ps, light)
    coarse = screen_space_visibility(ps, light, TraceSettings(max_pixels=SIZE * SIZE // 4))  # stride 2
    assert coarse["lights"].shape == full["lights"].shape and coarse["ao"].shape == full["ao"].shape
    # Same values on the traced grid, close elsewhere (shadow edges move by at most a pixel).
    np.testing.assert_array_equal(coarse["lights"][:, ::2, ::2], full["lights"][:, ::2, ::2])
    np.testing.assert_allclose(coarse["ao"][::2, ::2], full["ao"][::2, ::2])
    assert np.abs(coarse["lights"] - full["lights"]).mean() < 0.05


def test_ambient_occlusion_can_be_reused_for_another_lighting():
    ps, _, _ = _scene()
    light = Lighting(World(None, strength=1.0), (Light("SUN", (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), power=3.0),))
    first = shadowed_shading(ps, light)
    again = shadowed_shading(ps, light, ao=first["visibility"]["ao"])
    for key in ("diffuse", "glossy", "image"):
        np.testing.assert_array_equal(first[key], again[key])
