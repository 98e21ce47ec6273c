"""Analytic re-shading (neural_ops.relight.shading): SH irradiance, equirect conventions,
lighting validation and the shading op on synthetic G-buffers. No bpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neural_ops import OpError, PassSet, write_exr
from neural_ops.core.lighting import Lighting, World, load_lighting, parse_lighting
from neural_ops.relight import (
    analytic_shading,
    equirect_directions,
    equirect_uv,
    irradiance,
    prefilter_environment,
    sample_equirect,
    sh9_project,
)
from neural_ops.relight.shading import _ggx_unit, downsample_equirect, texel_solid_angles


def _unit(rng, n):
    d = rng.normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


@pytest.fixture
def hdri(tmp_path):
    """A small smooth equirect EXR (64x32) written the way read_exr reads single-layer files."""
    d = equirect_directions(32, 64)
    env = (1.0 + 0.5 * d[..., :1] + 0.3 * d[..., 2:3] * np.array([1.0, 0.5, 0.2])).astype(np.float32)
    ps = PassSet(layer="", source="sky.exr")
    ps.add("Combined", env, "RGB")
    write_exr(ps, tmp_path / "sky.exr", sidecar=False)
    return tmp_path / "sky.exr"


# ---- equirect convention ------------------------------------------------------------------
def test_equirect_axes_follow_blender():
    """+X at the image centre, +Y at u = 1/4, -Y at u = 3/4, zenith at v = 1 (measured in Cycles)."""
    u, v = equirect_uv(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [0, 0, -1.0]]))
    np.testing.assert_allclose(u[:3], [0.5, 0.25, 0.75], atol=1e-12)
    np.testing.assert_allclose(v, [0.5, 0.5, 0.5, 1.0, 0.0], atol=1e-12)


def test_equirect_directions_invert_uv(rng):
    d = equirect_directions(16, 32, rotation=0.7)
    u, v = equirect_uv(d, rotation=0.7)
    np.testing.assert_allclose(u, ((np.arange(32) + 0.5) / 32)[None].repeat(16, 0), atol=1e-9)
    np.testing.assert_allclose(v, (1 - (np.arange(16) + 0.5) / 16)[:, None].repeat(32, 1), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(d, axis=2), 1.0, atol=1e-12)


def test_rotation_looks_up_rz_times_d(rng):
    """The Mapping node rotates the lookup direction: t = R_z(rotation) d."""
    d, a = _unit(rng, 50), 1.1
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    for got, want in zip(equirect_uv(d, rotation=a), equirect_uv(d @ rz.T)):
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_rotation_by_two_pi_is_identity(rng):
    env = rng.uniform(0, 2, (32, 64, 3))
    np.testing.assert_allclose(sh9_project(env, 0.4), sh9_project(env, 0.4 + 2 * math.pi), atol=1e-9)
    d = _unit(rng, 100)
    np.testing.assert_allclose(sample_equirect(env, d, 0.4), sample_equirect(env, d, 0.4 - 2 * math.pi), atol=1e-9)


def test_rotation_by_one_column_rolls_the_map(rng):
    """Turning the world by 2 pi k / W equals rolling the map k columns (u -> u - rotation / 2 pi)."""
    env = rng.uniform(0, 2, (32, 64, 3))
    np.testing.assert_allclose(sh9_project(env, 2 * math.pi * 3 / 64), sh9_project(np.roll(env, 3, axis=1)), atol=1e-9)


def test_sample_equirect_hits_texel_centres():
    env = np.arange(8 * 16 * 3, dtype=np.float32).reshape(8, 16, 3)
    d = equirect_directions(8, 16)
    np.testing.assert_allclose(sample_equirect(env, d), env, atol=1e-3)


# ---- spherical harmonics --------------------------------------------------------------------
def test_solid_angles_sum_to_four_pi():
    assert texel_solid_angles(17, 34).sum() * 34 == pytest.approx(4 * math.pi, rel=1e-12)


@pytest.mark.parametrize("shape,rotation", [((32, 64), 0.0), ((512, 1024), 2.5), ((48, 96), -1.0)])
def test_constant_environment_gives_pi_l(rng, shape, rotation):
    """E(n) = pi L for every normal, including maps reduced before projection (1024 wide) and
    widths that are not a power of two."""
    L = np.array([0.5, 1.0, 2.0])
    env = np.broadcast_to(L, (*shape, 3)).astype(np.float32)
    e = irradiance(sh9_project(env, rotation, strength=1.5), _unit(rng, 500))
    np.testing.assert_allclose(e, np.broadcast_to(math.pi * 1.5 * L, e.shape), rtol=0.01)


def test_downsample_keeps_the_radiance_integral(rng):
    env = rng.uniform(0, 1, (256, 512, 3)) ** 4
    small = downsample_equirect(env, 96)
    assert small.shape == (48, 96, 3)

    def integral(m):
        return np.einsum("hwc,h->c", m, texel_solid_angles(*m.shape[:2]))

    # Exact for the 2x2 halvings; the final box filter splits rows by angle, not by solid angle.
    np.testing.assert_allclose(integral(small), integral(env), rtol=1e-4)


def test_single_bright_texel_gives_clamped_cosine(rng):
    """A small source of power P from d gives E(n) ~ P max(0, n.d): nine SH terms hold the
    clamped cosine to within ~9% of its peak (Ramamoorthi and Hanrahan's order-2 error)."""
    h, w = 64, 128
    env = np.zeros((h, w, 3))
    env[20, 40] = 1000.0
    d = equirect_directions(h, w)[20, 40]
    power = 1000.0 * texel_solid_angles(h, w)[20]
    n = _unit(rng, 2000)
    e = irradiance(sh9_project(env), n, clamp=False)[:, 0] / power
    ref = np.maximum(n @ d, 0)
    assert np.abs(e - ref).max() < 0.1
    assert np.corrcoef(e, ref)[0, 1] > 0.99
    assert irradiance(sh9_project(env), d[None])[0, 0] / power == pytest.approx(1.0, abs=0.1)


def test_narrow_lobe_environment_gives_clamped_cosine(rng):
    h, w = 128, 256
    dirs = equirect_directions(h, w)
    d = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    lobe = np.exp(300.0 * (dirs @ d - 1.0))[..., None] * np.array([1.0, 0.5, 0.25])
    power = np.einsum("hwc,h->c", lobe, texel_solid_angles(h, w))
    n = _unit(rng, 1000)
    e = irradiance(sh9_project(lobe), n, clamp=False) / power
    assert np.abs(e - np.maximum(n @ d, 0)[:, None]).max() < 0.1


# ---- prefiltered environment and GGX -----------------------------------------------------------
def test_prefilter_preserves_a_constant_and_blurs_a_spot(rng):
    const = np.full((64, 128, 3), 0.7)
    for r, m in prefilter_environment(const):
        np.testing.assert_allclose(m, 0.7, rtol=1e-5, err_msg=f"roughness {r}")
    spot = np.zeros((64, 128, 3))
    spot[30:34, 60:68] = 100.0
    peaks = [m.max() for _, m in prefilter_environment(spot)]
    assert all(a >= b for a, b in zip(peaks, peaks[1:])) and peaks[-1] < 0.1 * peaks[0]


@pytest.mark.parametrize("roughness", [0.3, 0.6, 0.9])
def test_ggx_albedo_matches_importance_sampling(rng, roughness):
    """At normal incidence the integral of the unit-albedo GGX lobe times cos over the sphere
    equals E[G2] for half vectors drawn from D cos (Walter et al. 2007 sampling): an independent
    check of D and the height-correlated Smith term (it is < 1: masking loses energy)."""
    alpha = roughness**2
    h, w = 512, 1024
    dirs = equirect_directions(h, w).reshape(-1, 3)
    sa = np.repeat(texel_solid_angles(h, w), w)
    z = np.broadcast_to([0.0, 0.0, 1.0], dirs.shape)
    grid = (_ggx_unit(z, z, dirs, np.full(len(dirs), alpha)) * sa).sum()
    u = rng.uniform(size=200_000)
    cos_h = 1 / np.sqrt(1 + alpha**2 * u / (1 - u))
    cos_l = 2 * cos_h**2 - 1  # l = reflect(v = n, h)
    tan2 = (1 - cos_l**2) / np.maximum(cos_l**2, 1e-12)
    g2 = np.where(cos_l > 0, 2 / (1 + np.sqrt(1 + alpha**2 * tan2)), 0.0)  # 1 / (1 + L(v) + L(l)), L(v) = 0
    assert grid == pytest.approx(g2.mean(), rel=0.01)
    assert grid <= 1.01


# ---- lighting validation ----------------------------------------------------------------------
def _lighting(hdri_name="sky.exr", **light):
    li = {"type": "POINT", "location": [0, 0, 3], "target": [0, 0, 0], "color": [1, 1, 1],
          "power": 100.0, "size": 0.5, **light}
    return {"world": {"hdri": hdri_name, "rotation": 0.3, "strength": 1.0}, "lights": [li]}


def test_parse_lighting_with_defaults(hdri):
    lt = parse_lighting(_lighting(type="spot"), hdri_dirs=[hdri.parent])
    assert lt.world.hdri_path == str(hdri.resolve()) and lt.world.rotation == 0.3
    spot = lt.lights[0]
    assert spot.type == "SPOT" and spot.spot_size == pytest.approx(math.radians(45)) and spot.spot_blend == 0.15
    np.testing.assert_allclose(spot.axis, [0, 0, -1])
    assert parse_lighting({"lights": []}).world is None
    uniform = parse_lighting({"world": {"color": [0.1, 0.2, 0.3], "strength": 2}})
    assert uniform.world == World(None, 0.0, 2.0, (0.1, 0.2, 0.3))


def test_dataset_hdri_path_wins(hdri, tmp_path):
    """Dataset lighting files carry the absolute ``hdri_path``; extra keys are ignored."""
    d = {**_lighting("forest.exr"), "hdri_path": str(hdri), "index": 2, "objects": []}
    assert parse_lighting(d, hdri_dirs=[]).world.hdri_path == str(hdri.resolve())


@pytest.mark.parametrize("patch,message", [
    ({"world": {"hdri": "nowhere.exr"}}, r"world\.hdri: HDRI file 'nowhere.exr' not found"),
    ({"world": {"hdri": "sky.exr", "strength": -1}}, r"world\.strength: must be >= 0, got -1"),
    ({"world": {"hdri": "sky.exr", "rotation": "90"}}, r"world\.rotation: must be a number"),
    ({"world": {"color": [1, 1]}}, r"world\.color: must be a list of 3 numbers, got 2 values"),
    ({"world": {"hdri": "sky.exr", "color": [1, 1, 1]}}, r"either 'hdri' or 'color'"),
    ({"world": "sky.exr"}, r"world: must be an object"),
    ({"lights": {"type": "POINT"}}, r"lights: must be a list"),
])
def test_world_errors(hdri, patch, message):
    d = {**_lighting(), **patch}
    with pytest.raises(OpError, match=message):
        parse_lighting(d, hdri_dirs=[hdri.parent], source="my.json")


@pytest.mark.parametrize("light,message", [
    ({"type": "LAMP"}, r"lights\[0\]\.type: unknown light type 'LAMP' \(expected one of AREA, POINT, SPOT, SUN\)"),
    ({"power": -5}, r"lights\[0\]\.power: must be >= 0, got -5"),
    ({"power": None}, r"lights\[0\]\.power: must be a number"),
    ({"power": float("nan")}, r"lights\[0\]\.power: must be finite"),
    ({"location": [1, 2]}, r"lights\[0\]\.location: must be a list of 3 numbers, got 2 values"),
    ({"target": [0, 0, 0, 1]}, r"lights\[0\]\.target: must be a list of 3 numbers, got 4 values"),
    ({"color": [1, -1, 1]}, r"lights\[0\]\.color\[1\]: must be >= 0"),
    ({"size": -0.1}, r"lights\[0\]\.size: must be >= 0"),
    ({"type": "SUN", "location": [0, 0, 0]}, r"lights\[0\]: location and target coincide"),
    ({"type": "SPOT", "spot_size": 4.0}, r"lights\[0\]\.spot_size: must be in \(0, pi\]"),
    ({"type": "SPOT", "spot_blend": 2}, r"lights\[0\]\.spot_blend: must be in \[0, 1\]"),
])
def test_light_errors(hdri, light, message):
    with pytest.raises(OpError, match=r"^my\.json: " + message):
        parse_lighting(_lighting(**light), hdri_dirs=[hdri.parent], source="my.json")


def test_light_missing_keys(hdri):
    d = _lighting()
    del d["lights"][0]["power"]
    with pytest.raises(OpError, match=r"lights\[0\]\.power: missing"):
        parse_lighting(d, hdri_dirs=[hdri.parent])
    d = _lighting()
    del d["lights"][0]["target"]
    with pytest.raises(OpError, match=r"lights\[0\]\.target: missing"):
        parse_lighting(d, hdri_dirs=[hdri.parent])


def test_load_lighting_file(hdri, tmp_path):
    path = tmp_path / "lighting_0.json"
    path.write_text(json.dumps(_lighting()))  # relative 'sky.exr' resolves beside the JSON
    assert load_lighting(path, hdri_dirs=[]).world.hdri_path == str(hdri.resolve())
    path.write_text("{not json")
    with pytest.raises(OpError, match="lighting_0.json: unreadable lighting JSON"):
        load_lighting(path)
    with pytest.raises(OpError, match="no such lighting file"):
        load_lighting(tmp_path / "missing.json")


# ---- the shading op -----------------------------------------------------------------------------
def _gbuffer(normals, positions, albedo=0.8, glossy=0.0):
    h, w = normals.shape[:2]
    return {"Normal": normals.astype(np.float32), "Position": positions.astype(np.float32),
            "Diffuse Color": np.full((h, w, 3), albedo, np.float32),
            "Glossy Color": np.full((h, w, 3), glossy, np.float32)}


def test_uniform_world_shades_albedo_times_strength(rng):
    n = _unit(rng, 60).reshape(6, 10, 3)
    n[0, 0] = 0  # background pixel
    g = _gbuffer(n, rng.normal(size=(6, 10, 3)), albedo=0.8, glossy=0.1)
    out = analytic_shading(g, Lighting(World(None, 0.0, 2.0, (1.0, 0.5, 0.25))), camera_position=[0, -9, 1])
    want = 2.0 * np.array([1.0, 0.5, 0.25])
    np.testing.assert_allclose(out["diffuse"][1:], np.broadcast_to(0.8 * want, (5, 10, 3)), rtol=0.01)
    np.testing.assert_allclose(out["glossy"][1:], np.broadcast_to(0.1 * want, (5, 10, 3)), rtol=1e-4)
    np.testing.assert_array_equal(out["image"][0, 0], 0.0)
    np.testing.assert_allclose(out["image"], out["diffuse"] + out["glossy"])


def test_light_units():
    """POINT: P / (4 pi r^2) facing the light; SUN: S cos; SPOT outside its cone and AREA behind
    its emitting side: 0. Diffuse radiance is albedo E / pi."""
    n = np.zeros((1, 4, 3))
    n[..., 2] = 1
    pos = np.zeros((1, 4, 3))
    pos[0, :, 0] = [0, 10, 20, 30]  # far apart so each light is checked at its own pixel
    g = _gbuffer(n, pos, albedo=1.0)

    def shade(**li):
        d = {"type": "POINT", "target": [0, 0, 0], "color": [1, 1, 1], "size": 0.0, **li}
        return analytic_shading(g, parse_lighting({"lights": [d]}), camera_position=[0, 0, 5])["diffuse"][0, :, 0]

    assert shade(location=[0, 0, 2], power=100)[0] == pytest.approx(100 / (4 * math.pi * 4) / math.pi, rel=1e-5)
    sun = shade(type="SUN", location=[1, 0, 1], power=3)  # 45 degrees everywhere
    np.testing.assert_allclose(sun, 3 * math.cos(math.pi / 4) / math.pi, rtol=1e-5)
    spot = shade(type="SPOT", location=[0, 0, 2], power=100)
    assert spot[0] == pytest.approx(100 / (4 * math.pi * 4) / math.pi, rel=1e-5) and spot[1] == 0
    area = shade(type="AREA", location=[0, 0, 2], target=[0, 0, 3], power=100)
    assert area[0] == 0


def test_highlight_peaks_in_the_mirror_direction():
    xs = np.linspace(-2, 2, 41)
    pos = np.stack([xs, np.zeros_like(xs), np.zeros_like(xs)], axis=1)[None]
    n = np.broadcast_to([0.0, 0.0, 1.0], pos.shape)
    g = _gbuffer(n, pos, albedo=0.0, glossy=1.0)
    lt = parse_lighting({"lights": [{"type": "POINT", "location": [1, 0, 1], "target": [0, 0, 0], "power": 100}]})
    spec = analytic_shading(g, lt, camera_position=[-1, 0, 1], roughness=0.2)["glossy"][0, :, 0]
    assert xs[np.argmax(spec)] == pytest.approx(0.0, abs=0.11)
    assert spec.max() > 10 * spec[0]


def test_passset_input_and_camera_from_sidecar(rng, hdri):
    n = _unit(rng, 12).reshape(3, 4, 3)
    ps = PassSet(source="frame.exr")
    ps.add("Normal", n, "XYZ")
    ps.add("Position", rng.normal(size=(3, 4, 3)), "XYZ")
    ps.add("Diffuse Color", np.full((3, 4, 3), 0.5), "RGB")
    m = np.eye(4)
    m[:3, 3] = [0, -6, 1]
    ps.meta = {"camera": {"matrix_world": m.tolist()}}
    lt = parse_lighting(_lighting(), hdri_dirs=[hdri.parent])
    out = analytic_shading(ps, lt, roughness=np.full((3, 4, 1), 0.5))
    np.testing.assert_array_equal(out["glossy"], 0.0)  # no Glossy Color pass
    assert out["diffuse"].dtype == np.float32 and (out["diffuse"] > 0).all()
    np.testing.assert_allclose(out["image"], analytic_shading(ps, lt, camera_position=[0, -6, 1])["image"])
    ps.meta = {}
    with pytest.raises(OpError, match="no camera.matrix_world"):
        analytic_shading(ps, lt)


def test_bad_gbuffers(rng):
    n = _unit(rng, 12).reshape(3, 4, 3)
    lt = Lighting(World(None))
    with pytest.raises(OpError, match="missing pass 'Position'"):
        analytic_shading({"Normal": n, "Diffuse Color": n}, lt, camera_position=[0, 0, 1])
    with pytest.raises(OpError, match="is 5x3, the others are 4x3"):
        analytic_shading({"Normal": n, "Position": n, "Diffuse Color": np.ones((3, 5, 3))}, lt, [0, 0, 1])
    with pytest.raises(OpError, match=r"roughness: must be a number or an \(3, 4\) map"):
        analytic_shading(_gbuffer(n, n), lt, [0, 0, 1], roughness=np.ones((2, 2)))
    with pytest.raises(OpError, match="camera_position: must be 3 finite numbers"):
        analytic_shading(_gbuffer(n, n), lt, [0, 0])


def test_rotated_world_rotates_the_shading(hdri):
    """Shading a normal n under rotation a equals shading R_z(-a) n... under rotation 0, i.e. the
    lookup direction is R_z(a) d for the whole pipeline, not only equirect_uv."""
    a = 0.9
    n = np.array([[[1.0, 0.0, 0.2]]]) / math.hypot(1, 0.2)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    pos = np.zeros((1, 1, 3))

    def shade(normal, rot):
        w = World(str(hdri), rot, 1.0)
        return analytic_shading(_gbuffer(normal, pos), Lighting(w), camera_position=[0, 0, 5])["diffuse"]

    np.testing.assert_allclose(shade(n, a), shade((rz @ n[0, 0])[None, None], 0.0), rtol=1e-4)
