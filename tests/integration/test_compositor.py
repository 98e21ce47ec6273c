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
