"""Pattern A + B: the Neural Denoised pass and the Neural Denoise node in a real F12 render."""


import bpy
import numpy as np
import pytest

from neural_ops import get_op, read_exr


def _tree(scene, method, mix=1.0):
    tree = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    scene.compositing_node_group = tree
    rl = tree.nodes.new("CompositorNodeRLayers")
    assert "Neural Denoised" not in rl.outputs or not rl.outputs["Neural Denoised"].enabled
    node = tree.nodes.new("NeuralDenoiseNode")  # adding the node makes the pass appear
    node.settings.method = method
    node.inputs["Mix"].default_value = mix
    out = tree.nodes.new("NodeGroupOutput")
    tree.links.new(rl.outputs["Image"], node.inputs["Image"])
    tree.links.new(rl.outputs["Neural Denoised"], node.inputs["Denoised"])
    tree.links.new(node.outputs["Image"], out.inputs[0])
    # A File Output node saves the passes of the same render, at full float precision.
    fo = tree.nodes.new("CompositorNodeOutputFile")
    fo.format.media_type = "MULTI_LAYER_IMAGE"
    fo.format.file_format = "OPEN_EXR_MULTILAYER"
    fo.format.color_depth = "32"
    for name, kind in (("Combined", "RGBA"), ("Denoising Albedo", "RGBA"), ("Denoising Normal", "VECTOR"),
                       ("Denoising Depth", "FLOAT"), ("Depth", "FLOAT"), ("Position", "VECTOR")):
        fo.file_output_items.new(kind, name)
        src = "Image" if name == "Combined" else name
        tree.links.new(rl.outputs[src], fo.inputs[name])
    scene.compositing_node_group = tree
    scene.render.use_compositing = True
    return tree, fo


@pytest.mark.parametrize("method, mix", [("bilateral", 1.0), ("oidn", 0.5), ("neural", 1.0)])
def test_composited_output_equals_op_on_same_passes(tmp_path, default_scene, registered, method, mix):
    scene = default_scene
    vl = scene.view_layers[0]
    vl.use_pass_z = vl.use_pass_position = True
    vl.cycles.denoising_store_passes = True
    _, fo = _tree(scene, method, mix)
    fo.directory = str(tmp_path / "passes") + "/"
    fo.file_name = "p_"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(tmp_path / "composite.exr")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}

    composite = read_exr(tmp_path / "composite.exr").color
    files = list((tmp_path / "passes").glob("*.exr"))
    assert len(files) == 1
    ps = read_exr(files[0])
    ps.passes["Denoising Albedo"].pixels = ps.get("Denoising Albedo")[..., :3]
    ps.passes["Denoising Albedo"].channels = "RGB"
    from addon.blender import bridge

    ps.meta["camera"] = bridge.camera_meta(scene)  # what the EXR sidecar holds for the CLI
    expect = get_op("denoise", method)(ps)
    noisy = ps.color
    want = (1 - mix) * noisy + mix * expect
    assert np.abs(composite - want).max() < 1e-4
    assert np.abs(composite - noisy).mean() > 1e-3  # the op really changed the picture


def test_pass_registered_only_when_enabled(default_scene, registered):
    scene = default_scene
    tree = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    scene.compositing_node_group = tree
    rl = tree.nodes.new("CompositorNodeRLayers")
    assert "Neural Denoised" not in rl.outputs or not rl.outputs["Neural Denoised"].enabled
    scene.neural_render.denoise.enabled = True  # the existing node shows the pass at once
    assert "Neural Denoised" in rl.outputs and rl.outputs["Neural Denoised"].enabled
    scene.neural_render.denoise.enabled = False
    assert "Neural Denoised" not in rl.outputs or not rl.outputs["Neural Denoised"].enabled


def test_render_pass_in_multilayer_output(tmp_path, default_scene, registered):
    scene = default_scene
    scene.neural_render.denoise.enabled = True
    scene.neural_render.denoise.method = "spikes"
    s = scene.render.image_settings
    s.media_type = "MULTI_LAYER_IMAGE"
    s.color_depth = "32"
    scene.render.filepath = str(tmp_path / "out.exr")
    bpy.ops.render.render(write_still=True)
    ps = read_exr(tmp_path / "out.exr")
    assert np.array_equal(ps.get("Neural Denoised")[..., :3], get_op("denoise", "spikes")(ps))


def test_unregister_restores_cycles(default_scene):
    import cycles

    import addon

    before = (cycles.CyclesRender.render, cycles.CyclesRender.render_frame_finish, cycles.CyclesRender.update_render_passes)
    addon.register()
    assert cycles.CyclesRender.render_frame_finish is not before[1]
    addon.unregister()
    assert (cycles.CyclesRender.render, cycles.CyclesRender.render_frame_finish, cycles.CyclesRender.update_render_passes) == before


def _render_layers(scene, path):
    """F12 to a 32-bit multilayer EXR (every pass of the render); the pass set."""
    s = scene.render.image_settings
    s.media_type = "MULTI_LAYER_IMAGE"
    s.color_depth = "32"
    scene.render.filepath = str(path)
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    return read_exr(path)


def _one_failure_line(capsys, what: str) -> str:
    from addon.engine import failures

    msg = failures.recent[-1]
    assert what in msg and "\n" not in msg and "Traceback" not in msg
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("neural-render:") and "failed" in ln]
    assert printed == [f"neural-render: {msg}"]
    return msg


def test_no_unknown_pass_error_from_cycles(tmp_path, default_scene, registered, capfd):
    """The neural passes are AOVs to Cycles: it logs no "ERROR Unknown pass" on each render."""
    scene = default_scene
    scene.neural_render.denoise.enabled = True
    scene.neural_render.denoise.method = "spikes"
    scene.neural_render.relight.enabled = True
    scene.neural_render.relight.method = "analytic"
    ps = _render_layers(scene, tmp_path / "out.exr")
    out, err = capfd.readouterr()
    assert "Unknown pass" not in out + err
    assert {"Neural Denoised", "Neural Relit"} <= set(ps.passes)
    assert np.abs(ps.get("Neural Relit")[..., :3] - ps.color).mean() > 1e-3  # filled, not left black


def test_denoise_reads_the_noisy_image_when_cycles_denoised(tmp_path, default_scene, registered):
    """Cycles' own denoiser on: the op denoises 'Noisy Image' (Combined is already denoised)."""
    scene = default_scene
    scene.cycles.use_denoising = True
    scene.neural_render.denoise.enabled = True  # turns on Denoising Data, hence 'Noisy Image'
    scene.neural_render.denoise.method = "spikes"
    ps = _render_layers(scene, tmp_path / "out.exr")
    assert "Noisy Image" in ps.passes
    noisy = ps.copy()
    noisy.add("Combined", ps.get("Noisy Image"), "RGBA")
    got = ps.get("Neural Denoised")[..., :3]
    assert np.array_equal(got, get_op("denoise", "spikes")(noisy))
    assert np.abs(got - ps.color).mean() > 1e-4  # not Cycles' denoised image


def test_neural_denoise_refines_cycles_denoiser_without_pyoidn(tmp_path, default_scene, registered, monkeypatch, capfd):
    """The default method with Cycles' denoiser on: the ensemble's base is Cycles' own OIDN result
    (no pyoidn inside Blender), the noisy input 'Noisy Image'."""
    from addon import denoise
    from neural_ops.denoise import learned

    def no_oidn(passes, base, *a, **k):
        assert base != "oidn", "the hook should give the ensemble its base from Cycles' denoiser"
        return None

    monkeypatch.setattr(learned, "compute_base", no_oidn)
    scene = default_scene
    scene.cycles.use_denoising = True
    scene.neural_render.denoise.enabled = True
    assert scene.neural_render.denoise.method == "neural"  # the default
    ps = _render_layers(scene, tmp_path / "out.exr")
    inputs, params = denoise.denoise_input(ps, "neural", scene.neural_render.denoise.to_params())
    assert params["base_pass"] == "Cycles Denoised"
    want = get_op("denoise", "neural")(inputs, **params)
    got = ps.get("Neural Denoised")[..., :3]
    # The model refined Cycles' image, or its energy check took it back there (and said so).
    moved = np.abs(got - ps.color).mean() > 0
    assert np.abs(got - want).max() < 1e-4 and (moved or "mean brightness" in capfd.readouterr().err)


def test_denoise_pass_failure_passes_the_image_through(tmp_path, default_scene, registered, capsys):
    scene = default_scene
    d = scene.neural_render.denoise
    d.enabled, d.method, d.model_weights = True, "neural", str(tmp_path / "missing.safetensors")
    ps = _render_layers(scene, tmp_path / "out.exr")
    assert np.array_equal(ps.get("Neural Denoised")[..., :3], ps.color)
    _one_failure_line(capsys, "Neural denoise")


def test_relit_pass_failure_passes_the_image_through(tmp_path, default_scene, registered, capsys):
    scene = default_scene
    r = scene.neural_render.relight
    r.enabled, r.method = True, "analytic"
    scene.view_layers[0].use_pass_position = False  # a pass the op needs, turned off after enabling it
    ps = _render_layers(scene, tmp_path / "out.exr")
    assert np.array_equal(ps.get("Neural Relit")[..., :3], ps.color)
    assert "Position" in _one_failure_line(capsys, "Neural relight")


def _composite(scene, path):
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(path)
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    return read_exr(path).color


def test_photoreal_failure_passes_the_raster_through(tmp_path, default_scene, registered, capsys):
    from addon import cg2real

    scene = default_scene
    scene.render.engine = "BLENDER_EEVEE"
    scene.eevee.taa_render_samples = 1
    pr = scene.neural_render.photoreal
    pr.model_weights = str(tmp_path / "missing.safetensors")
    pr.enabled = True
    composite = _composite(scene, tmp_path / "composite.exr")
    raster = read_exr(cg2real.last_input[cg2real.helper_name(scene)]).color
    assert np.abs(composite - raster).max() < 1e-6 and raster.mean() > 1e-3
    _one_failure_line(capsys, "Neural Photoreal")


def test_novel_view_failure_passes_the_render_through(tmp_path, default_scene, registered, capsys):
    """A folder that is no multiview set: the frame is the scene's own render, not black."""
    scene = default_scene
    scene.render.engine = "BLENDER_WORKBENCH"
    plain = _composite(scene, tmp_path / "plain.exr")
    nv = scene.neural_render.novel_view
    nv.folder = str(tmp_path)
    nv.enabled = True
    composite = _composite(scene, tmp_path / "composite.exr")
    assert np.abs(composite - plain).max() < 1e-5 and plain.mean() > 1e-3
    assert "transforms.json" in _one_failure_line(capsys, "Neural Novel View")
