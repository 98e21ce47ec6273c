import json

import bpy
import numpy as np
import pytest

from addon.blender import batch, export
from neural_ops import NeuralRenderError, read_exr
from neural_ops.cli import main

EXPECTED = ["Combined", "Depth", "Normal", "Position", "Vector", "Diffuse Color", "Glossy Color",
            "Denoising Albedo", "Denoising Normal", "Denoising Depth"]


def test_cli_export_frames(tmp_path, blend, capsys):
    out = tmp_path / "out"
    assert main(["export", str(blend), "--spp", "2", "--frames", "1-2", "-o", str(out)]) == 0
    files = sorted(p.name for p in out.glob("*.exr"))
    assert files == ["frame_0001.exr", "frame_0002.exr"]
    ps = read_exr(out / "frame_0001.exr")
    for name in EXPECTED:
        assert name in ps.passes, name
    assert ps.shape == (40, 48)
    assert ps.passes["Combined"].half and not ps.passes["Position"].half
    cam = ps.meta["camera"]
    assert ps.meta["spp"] == 2 and ps.meta["frame"] == 1 and cam["resolution"] == [48, 40]
    assert np.array(cam["matrix_world"]).shape == (4, 4) and cam["lens"] == 35.0
    assert json.loads((out / "export.json").read_text())["spp"] == 2
    assert not list(out.glob(".*partial*"))
    # Rerun refuses to overwrite and says so; --overwrite replaces.
    assert main(["export", str(blend), "--spp", "2", "--frames", "1-2", "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["export", str(blend), "--spp", "1", "--frames", "2", "-o", str(out), "--overwrite"]) == 0


def test_export_restores_scene_settings(tmp_path, default_scene):
    s = default_scene
    s.render.filepath = "/tmp/user_output_"
    s.cycles.samples = 77
    s.render.image_settings.file_format = "PNG"
    export.export_views(s, export.ExportConfig(directory=str(tmp_path), spp=1))
    assert s.render.filepath == "/tmp/user_output_" and s.cycles.samples == 77
    assert s.render.image_settings.file_format == "PNG"
    assert not s.view_layers[0].use_pass_position


def test_aux_render_has_the_data_passes_and_restores_the_bounces(tmp_path, default_scene):
    s = default_scene
    bounces = s.cycles.max_bounces
    export.export_views(s, export.ExportConfig(directory=str(tmp_path / "key"), spp=4))
    export.export_views(s, export.ExportConfig(directory=str(tmp_path / "aux"), spp=1, aux=True))
    assert s.cycles.max_bounces == bounces and s.cycles.diffuse_bounces > 0
    key, aux = read_exr(tmp_path / "key/frame_0001.exr"), read_exr(tmp_path / "aux/frame_0001.exr")
    assert aux.meta["aux"] is True and "aux" not in key.meta
    for name in ("Depth", "Vector", "Diffuse Color", "Denoising Albedo", "Denoising Normal"):
        assert name in aux.passes, name
    np.testing.assert_allclose(aux.get("Depth"), key.get("Depth"), rtol=1e-5)
    # No bounces: no indirect light at all.
    assert float(np.abs(aux.get("Diffuse Indirect")).max()) == 0.0 < float(key.get("Diffuse Indirect").max())


def test_pixels_match_blender_orientation(tmp_path, default_scene):
    """Top row of the EXR is the top of the image: the floor (bottom) is closer than the wall."""
    export.export_views(default_scene, export.ExportConfig(directory=str(tmp_path), spp=1))
    depth = read_exr(tmp_path / "frame_0001.exr").get("Depth")[..., 0]
    assert depth[-1].mean() < depth[0].mean()


def test_scene_without_camera(tmp_path, default_scene):
    bpy.data.objects.remove(bpy.data.objects["Camera"])
    with pytest.raises(NeuralRenderError, match="has no camera"):
        export.export_views(default_scene, export.ExportConfig(directory=str(tmp_path)))
    assert not list(tmp_path.iterdir())


def test_empty_scene(tmp_path, default_scene):
    for ob in list(bpy.data.objects):
        if ob.type not in ("CAMERA", "LIGHT"):
            bpy.data.objects.remove(ob)
    with pytest.raises(NeuralRenderError, match="has no visible objects"):
        export.export_views(default_scene, export.ExportConfig(directory=str(tmp_path)))
    assert not list(tmp_path.iterdir())


def test_export_manifest_keeps_earlier_views(tmp_path, default_scene):
    import json

    export.export_views(default_scene, export.ExportConfig(directory=str(tmp_path), spp=1, frames=[1]))
    export.export_views(default_scene, export.ExportConfig(directory=str(tmp_path), spp=1, frames=[2]))
    views = json.loads((tmp_path / "export.json").read_text())["views"]
    assert [v["file"] for v in views] == ["frame_0001.exr", "frame_0002.exr"]


def test_marked_cameras(tmp_path, default_scene, registered):
    bpy.ops.object.camera_add(location=(0, -6, 1.5), rotation=(1.45, 0, 0))
    side = bpy.context.object
    side.name = "Side"
    side.data.neural_render.export = True
    bpy.data.objects["Camera"].data.neural_render.export = True
    s = default_scene.neural_render.export
    s.directory, s.views, s.spp = str(tmp_path), "MARKED", 1
    assert bpy.ops.neural.export_passes() == {"FINISHED"}
    assert sorted(p.name for p in tmp_path.glob("*.exr")) == ["Camera_0001.exr", "Side_0001.exr"]


def test_bad_blend_files(tmp_path):
    bad = tmp_path / "bad.blend"
    bad.write_bytes(b"this is not a blend file")
    with pytest.raises(NeuralRenderError, match="cannot open .blend"):
        batch.open_blend(bad)
    with pytest.raises(NeuralRenderError, match="no such .blend"):
        batch.open_blend(tmp_path / "none.blend")


def test_export_keeps_cycles_denoised_beside_the_noisy_combined(tmp_path, default_scene):
    """With cycles_denoised, Combined is the same noisy render as without (same seed) and Cycles'
    own OIDN result is the pass 'Cycles Denoised'; Cycles' denoiser settings are restored."""
    s = default_scene
    s.cycles.use_denoising, s.cycles.denoising_prefilter = False, "FAST"
    plain, kept = tmp_path / "plain", tmp_path / "kept"
    export.export_views(s, export.ExportConfig(directory=str(plain), spp=2, seed=3))
    export.export_views(s, export.ExportConfig(directory=str(kept), spp=2, seed=3, cycles_denoised=True))
    a, b = read_exr(plain / "frame_0001.exr"), read_exr(kept / "frame_0001.exr")
    assert "Cycles Denoised" not in a.passes and "Noisy Image" not in b.passes
    assert list(b.passes)[:2] == ["Combined", "Cycles Denoised"]
    np.testing.assert_array_equal(a.get("Combined"), b.get("Combined"))
    den = b.get("Cycles Denoised")
    assert np.isfinite(den).all() and np.abs(den - b.color).mean() > 1e-3  # denoised, not a copy
    assert abs(den.mean() - b.color.mean()) < 0.2 * b.color.mean()  # the same picture
    assert not s.cycles.use_denoising and s.cycles.denoising_prefilter == "FAST"
    assert b.meta["spp"] == 2
