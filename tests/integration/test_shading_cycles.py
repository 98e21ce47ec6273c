"""Analytic re-shading against Cycles: pins down the world (equirect + rotation) and light-unit
conventions of :mod:`neural_ops.relight.shading` on a white diffuse sphere (48x48, 64 spp)."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from neural_ops import read_exr
from neural_ops.core.lighting import parse_lighting
from neural_ops.relight import analytic_shading

SIZE, SPP = 48, 64
ALBEDO = 0.8


def _render_sphere(tmp_path, lighting: dict):
    """A unit sphere (Diffuse BSDF, albedo 0.8) at the origin lit by ``lighting`` exactly as the
    relighting datasets apply it; returns the pass set (EXR + sidecar) the exporter writes."""
    from addon.blender import export
    from training.scenes.build import apply_lighting

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    bpy.ops.mesh.primitive_uv_sphere_add(segments=64, ring_count=32, radius=1.0)
    bpy.ops.object.shade_smooth()
    mat = bpy.data.materials.new("white")
    nt = mat.node_tree
    nt.nodes.remove(nt.nodes["Principled BSDF"])
    bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
    bsdf.inputs["Color"].default_value = (ALBEDO, ALBEDO, ALBEDO, 1.0)
    nt.links.new(bsdf.outputs["BSDF"], nt.nodes["Material Output"].inputs["Surface"])
    bpy.context.object.data.materials.append(mat)
    apply_lighting(scene, lighting)
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(cam)
    cam.location = (0.0, -4.5, 1.2)
    cam.rotation_euler = (math.atan2(4.5, 1.2), 0.0, 0.0)  # looks at the origin
    cam.data.lens = 50
    scene.camera = cam
    export.export_views(scene, export.ExportConfig(directory=str(tmp_path), spp=SPP, seed=7, half=False))
    return read_exr(tmp_path / "frame_0001.exr")


def _compare(ps, lighting: dict, extra_mask=None):
    """Mean |relative error| and the ratio of sums (render / analytic) over lit sphere pixels
    that face the camera; the mask excludes the silhouette, where the pixel filter mixes in
    the background."""
    light = parse_lighting(lighting)
    out = analytic_shading(ps, light)  # camera position from the sidecar
    render = ps.color
    n, pos = ps.get("Normal"), ps.get("Position")
    cam = np.asarray(ps.meta["camera"]["matrix_world"])[:3, 3]
    v = cam - pos
    v /= np.linalg.norm(v, axis=2, keepdims=True) + 1e-12
    facing = np.einsum("hwc,hwc->hw", n, v) > 0.4
    lit = out["diffuse"].mean(axis=2) > 0.05 * out["diffuse"].mean(axis=2).max()
    mask = facing & lit
    if extra_mask is not None:
        mask &= extra_mask
    assert mask.sum() > 200, f"only {mask.sum()} pixels to compare"
    a, r = out["diffuse"][mask], render[mask]
    rel = np.abs(r - a) / np.maximum(a, 1e-6)
    ratio = r.sum(axis=0) / a.sum(axis=0)
    print(f"pixels={mask.sum()} mean|rel|={rel.mean(axis=0)} ratio={ratio}")
    return rel.mean(axis=0), ratio, out, mask


@pytest.mark.parametrize("hdri,rotation,strength", [("forest.exr", 1.3, 0.7), ("sunset.exr", -2.2, 1.5)])
def test_hdri_diffuse_matches_cycles(tmp_path, hdri, rotation, strength):
    """Environment-only lighting: SH irradiance with Blender's equirect and Mapping rotation
    conventions reproduces the render (a wrong convention is off by far more than 10%)."""
    lighting = {"world": {"hdri": hdri, "rotation": rotation, "strength": strength}, "lights": []}
    ps = _render_sphere(tmp_path, lighting)
    inside = np.linalg.norm(ps.get("Normal"), axis=2) > 0.99  # silhouette pixels mix in the background
    assert np.allclose(ps.get("Diffuse Color")[inside], ALBEDO, atol=1e-3)
    rel, ratio, out, mask = _compare(ps, lighting)
    assert rel.max() < 0.10, f"mean relative error {rel} (render/analytic = {ratio})"
    # The same sphere shaded with the world turned by half a turn is clearly wrong: the test can fail.
    turned = {"world": {"hdri": hdri, "rotation": rotation + math.pi, "strength": strength}, "lights": []}
    wrong = analytic_shading(ps, parse_lighting(turned))["diffuse"][mask]
    assert (np.abs(ps.color[mask] - wrong) / wrong).mean() > 2 * rel.max()
    # Where no surface is, the render shows the world itself: the background output, through
    # the sidecar's camera, matches it pixel for pixel (away from the sphere's filtered edge).
    empty = np.linalg.norm(ps.get("Normal"), axis=2) < 0.5
    far = empty & ~_grow(~empty, 2)
    assert far.mean() > 0.3 and (out["background"][~empty] == 0).all()
    # Without the brightest 2 %: a sun smaller than a pixel is point-sampled here but
    # integrated over the pixel filter by Cycles.
    bg, seen = out["background"][far].mean(axis=1), ps.color[far].mean(axis=1)
    keep = bg < np.quantile(bg, 0.98)
    ratio = seen[keep].sum() / bg[keep].sum()
    corr = np.corrcoef(np.log(seen), np.log(bg))[0, 1]
    turned_bg = analytic_shading(ps, parse_lighting(turned))["background"][far].mean(axis=1)
    turned_corr = np.corrcoef(np.log(seen), np.log(turned_bg))[0, 1]
    print(f"background: ratio {ratio:.4f}, log correlation {corr:.4f}, turned {turned_corr:.4f}")
    assert abs(ratio - 1) < 0.03 and corr > 0.95 and turned_corr < corr - 0.2


def _grow(mask, r):
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def test_point_light_matches_cycles(tmp_path):
    """One POINT light of P watts in a black world: intensity P / (4 pi) W/sr."""
    lighting = {
        "world": {"hdri": "forest.exr", "rotation": 0.0, "strength": 0.0},
        "lights": [{"type": "POINT", "location": [2.0, -2.5, 2.0], "target": [0.0, 0.0, 0.0],
                    "color": [1.0, 0.9, 0.8], "power": 400.0, "size": 0.2}],
    }
    ps = _render_sphere(tmp_path, lighting)
    n, pos = ps.get("Normal"), ps.get("Position")
    to_l = np.array(lighting["lights"][0]["location"]) - pos
    to_l /= np.linalg.norm(to_l, axis=2, keepdims=True)
    unshadowed = np.einsum("hwc,hwc->hw", n, to_l) > 0.15  # away from the soft terminator
    rel, ratio, _, _ = _compare(ps, lighting, unshadowed)
    assert rel.max() < 0.15, f"mean relative error {rel} (render/analytic = {ratio})"


def test_sun_spot_area_units_match_cycles(tmp_path):
    """SUN (irradiance in W/m^2), SPOT (intensity of a point light of the same power inside the
    cone) and AREA (one-sided Lambertian emitter) in one render, one light per colour channel."""
    lighting = {
        "world": {"hdri": "forest.exr", "rotation": 0.0, "strength": 0.0},
        "lights": [
            {"type": "SUN", "location": [1.0, -2.0, 3.0], "target": [0.0, 0.0, 0.0],
             "color": [1.0, 0.0, 0.0], "power": 3.0, "size": 0.1},
            # The whole sphere sits inside the default 45 degree cone (it subtends 17 degrees).
            {"type": "SPOT", "location": [-1.5, -3.0, 1.0], "target": [0.0, 0.0, 0.0],
             "color": [0.0, 1.0, 0.0], "power": 400.0, "size": 0.1},
            {"type": "AREA", "location": [2.5, -2.5, -0.5], "target": [0.0, 0.0, 0.0],
             "color": [0.0, 0.0, 1.0], "power": 300.0, "size": 0.3},
        ],
    }
    ps = _render_sphere(tmp_path, lighting)
    out = analytic_shading(ps, parse_lighting(lighting))["diffuse"]
    n, pos = ps.get("Normal"), ps.get("Position")
    inside = np.linalg.norm(n, axis=2) > 0.99
    for c, li in enumerate(lighting["lights"]):
        src = np.asarray(li["location"], np.float64)
        to_l = src - (np.asarray(li["target"]) if li["type"] == "SUN" else pos)
        to_l = to_l / np.linalg.norm(to_l, axis=-1, keepdims=True)
        mask = inside & (np.einsum("hwc,hwc->hw", n, np.broadcast_to(to_l, n.shape)) > 0.15)
        a, r = out[..., c][mask], ps.color[..., c][mask]
        rel = np.mean(np.abs(r - a) / a)
        print(f"{li['type']}: pixels={mask.sum()} mean|rel|={rel:.4f} ratio={r.sum() / a.sum():.4f}")
        assert mask.sum() > 100 and rel < 0.10, f"{li['type']}: mean relative error {rel:.3f}"
