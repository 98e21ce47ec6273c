"""CG2Real end to end with real renders: training (resume), evaluation, the CLI, the unpaired
stage, and Neural Photoreal in EEVEE F12 renders (the helper-scene engine)."""

import json

import bpy
import numpy as np
import pytest

from neural_ops import get_op, read_exr
from neural_ops.cli import main
from training.datagen import generate as datagen


@pytest.fixture(scope="module")
def cg2real_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cg2real")
    datagen.generate(datagen.DataConfig(kind="cg2real", out=str(out), scenes=3, seed=77, resolution=48, spp=[2],
                                        ref_spp=16), progress=lambda m: None)
    return out


@pytest.fixture(scope="module")
def tiny_run(cg2real_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    args = ["train", "cg2real", "--data", str(cg2real_data), "-o", str(run), "--channels", "8,12,16", "--steps", "12",
            "--batch", "2", "--crop", "32", "--val-count", "1", "--norm", "spade", "--gan", "multiscale"]
    assert main(args) == 0
    return run


def test_train_resumes_and_exports_a_card(tiny_run, cg2real_data, capsys):
    card = json.loads((tiny_run / "model.json").read_text())
    assert card["kind"] == "cg2real" and card["config"]["norm"] == "spade" and card["train"]["gan"] == "multiscale"
    assert card["train"]["steps"] == 12 and card["data"]["train_samples"] == 2
    assert (tiny_run / "log.png").exists() and (tiny_run / "checkpoint.pt").exists()
    args = ["train", "cg2real", "--data", str(cg2real_data), "-o", str(tiny_run), "--channels", "8,12,16", "--steps", "16",
            "--batch", "2", "--crop", "32", "--val-count", "1", "--norm", "spade", "--gan", "multiscale"]
    assert main(args) == 0
    assert "resumed at step 12" in capsys.readouterr().out
    assert json.loads((tiny_run / "model.json").read_text())["train"]["steps"] == 16
    # Other settings on the same folder: a clear error, not a traceback.
    bad = args[:-4] + ["--norm", "batch", "--gan", "none"]
    assert main(bad) == 2
    assert "other settings" in capsys.readouterr().err


def test_eval_and_cli(tiny_run, cg2real_data, tmp_path, capsys):
    weights = str(tiny_run / "model.safetensors")
    out = tmp_path / "eval"
    assert main(["eval", "cg2real", "--data", str(cg2real_data), "--model", f"tiny={weights}", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    for row in ("| eevee |", "| reinhard (oracle) |", "| tiny |"):
        assert row in text
    assert "re-render with compiled shaders" in text
    res = json.loads((out / "eval.json").read_text())
    assert res["samples"] == 3 and set(res["mean"]) == {"eevee", "reinhard (oracle)", "tiny"}
    assert res["timing"]["tiny"]["speedup"] > 0 and (out / "grid.png").stat().st_size > 1000

    src = datagen.sample_dir(cg2real_data, 0) / "eevee.exr"
    dst = tmp_path / "photoreal.exr"
    assert main(["cg2real", str(src), "-o", str(dst), "--param", f"weights={weights}"]) == 0
    ps = read_exr(dst)
    assert "Neural Photoreal" in ps and set(read_exr(src).passes) < set(ps.passes)
    want = get_op("cg2real", "neural")(read_exr(src), weights=weights)
    assert np.abs(ps.get("Neural Photoreal") - want).max() < 1e-5
    # A Workbench frame lacks the reflectance passes: one clear line, exit status 2.
    wb = datagen.sample_dir(cg2real_data, 0) / "workbench.exr"
    assert main(["cg2real", str(wb), "-o", str(tmp_path / "wb.exr"), "--param", f"weights={weights}"]) == 2
    assert "Diffuse Color" in capsys.readouterr().err


def test_unpaired_stage_and_photo_albedo(cg2real_data, tiny_run, tmp_path):
    run = tmp_path / "albedo"
    assert main(["train", "cg2real-unpaired", "--data", str(cg2real_data), "--photos", "skimage", "-o", str(run),
                 "--steps", "6", "--crop", "32", "--batch", "2"]) == 0
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "cg2real-albedo" and card["data"]["photo_images"] == 7
    assert "not available" in card["realism"]["note"] and (run / "albedo_grid.png").exists()
    ps = read_exr(datagen.sample_dir(cg2real_data, 1) / "eevee.exr")
    spec = get_op("cg2real", "neural")
    plain = spec(ps, weights=str(tiny_run / "model.safetensors"))
    swapped = spec(ps, weights=str(tiny_run / "model.safetensors"), photo_albedo=True,
                   albedo_weights=str(run / "model.safetensors"))
    assert swapped.shape == plain.shape and np.isfinite(swapped).all()


def _eevee_scene(size=(40, 32)):
    from addon.blender import scenes

    scene = scenes.build_default_scene(size)
    scene.render.engine = "BLENDER_EEVEE"
    scene.eevee.taa_render_samples = 1
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    return scene


def test_f12_photoreal_equals_cli_on_the_same_passes(tmp_path, registered, tiny_run):
    from addon import cg2real as photoreal

    scene = _eevee_scene()
    pr = scene.neural_render.photoreal
    pr.model_weights = str(tiny_run / "model.safetensors")
    pr.enabled = True
    helper = bpy.data.scenes[photoreal.helper_name(scene)]
    assert helper.render.engine == photoreal.ENGINE_ID
    tree = scene.compositing_node_group
    assert {"Neural Photoreal Source", "Render Layers"} <= {n.name for n in tree.nodes}
    # A File Output node saves the raster image of the same render, to check the helper reads this frame.
    fo = tree.nodes.new("CompositorNodeOutputFile")
    fo.format.media_type = "MULTI_LAYER_IMAGE"
    fo.format.color_depth = "32"
    fo.file_output_items.new("RGBA", "Combined")
    main_rl = tree.nodes["Render Layers"]
    tree.links.new(main_rl.outputs["Image"], fo.inputs["Combined"])
    fo.directory = str(tmp_path / "raster") + "/"
    spec = get_op("cg2real", "neural")
    for frame in (1, 2):
        scene.frame_set(frame)
        scene.objects[0].location.x += 0.3  # a different picture each frame
        scene.render.filepath = str(tmp_path / f"composite_{frame}.exr")
        fo.file_name = f"raster_{frame}_"
        assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
        composite = read_exr(tmp_path / f"composite_{frame}.exr").color
        passes = read_exr(photoreal.last_input[helper.name])
        raster = read_exr(next((tmp_path / "raster").glob(f"raster_{frame}_*.exr"))).color
        assert np.abs(passes.color - raster).max() < 1e-6  # the helper translated this frame, not the last one
        want = spec(passes, weights=pr.model_weights)
        assert np.abs(composite - want).max() < 1e-5
        assert np.abs(composite - raster).mean() > 1e-4  # the op really changed the picture
    pr.enabled = False
    assert photoreal.helper_name(scene) not in bpy.data.scenes
    assert {n.name for n in tree.nodes} & {"Neural Photoreal Source", "Neural Photoreal"} == set()
    assert any(lk.to_node.bl_idname == "NodeGroupOutput" for lk in tree.links)


def test_f12_photoreal_without_passes_passes_the_raster_through(tmp_path, registered, tiny_run):
    from addon import cg2real as photoreal

    scene = _eevee_scene()
    pr = scene.neural_render.photoreal
    pr.model_weights = str(tiny_run / "model.safetensors")
    pr.enabled = True
    for vl in scene.view_layers:
        vl.use_pass_glossy_color = False  # the op needs it: it must fail clearly, not crash the render
    scene.render.filepath = str(tmp_path / "composite.exr")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    composite = read_exr(tmp_path / "composite.exr").color
    raster = read_exr(photoreal.last_input[photoreal.helper_name(scene)]).color
    assert np.abs(composite - raster).max() < 1e-6


def test_export_eevee_then_cg2real_cli(tmp_path, blend, tiny_run):
    out = tmp_path / "passes"
    assert main(["export", str(blend), "-o", str(out), "--engine", "eevee", "--spp", "1"]) == 0
    exr = next(out.glob("*.exr"))
    ps = read_exr(exr)
    assert ps.meta.get("engine") == "BLENDER_EEVEE" and {"Diffuse Color", "Glossy Color", "Normal", "Depth"} <= set(ps.passes)
    assert main(["cg2real", str(exr), "-o", str(tmp_path / "out.exr"), "--param",
                 f"weights={tiny_run / 'model.safetensors'}"]) == 0
    assert "Neural Photoreal" in read_exr(tmp_path / "out.exr")


def test_animation_render_translates_every_frame(tmp_path, registered, tiny_run):
    from addon import cg2real as photoreal

    scene = _eevee_scene((32, 24))
    pr = scene.neural_render.photoreal
    pr.model_weights = str(tiny_run / "model.safetensors")
    pr.enabled = True
    cam = scene.camera
    cam.keyframe_insert("location", frame=1)
    cam.location.x += 0.5
    cam.keyframe_insert("location", frame=2)
    scene.frame_start, scene.frame_end = 1, 2
    scene.render.filepath = str(tmp_path / "anim_")
    inputs = []

    def keep(sc, *a):
        path = photoreal.last_input.get(photoreal.helper_name(scene))
        if path:
            inputs.append(read_exr(path))

    bpy.app.handlers.render_write.append(keep)
    try:
        assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    finally:
        bpy.app.handlers.render_write.remove(keep)
    frames = sorted(tmp_path.glob("anim_*.exr"))
    assert len(frames) == 2 and len(inputs) == 2
    spec = get_op("cg2real", "neural")
    for f, ps in zip(frames, inputs):
        assert np.abs(read_exr(f).color - spec(ps, weights=pr.model_weights)).max() < 1e-5
    assert np.abs(inputs[0].color - inputs[1].color).mean() > 1e-4  # two different frames were translated


def test_shipped_model_beats_the_raw_raster_on_a_held_out_scene(tmp_path):
    """The default shipped generator on a procedural scene rendered here (dataset seed 9000, never
    used in training): EEVEE 16 samples in, Cycles 128 spp + OIDN as the reference. EEVEE with
    Blender's defaults, the set-up the shipped model was trained on (measured: raw 13.71 dB, ours
    14.23 dB; on tuned EEVEE it gains 0.23 dB, and a model trained on tuned EEVEE 0.01 dB)."""
    from neural_ops.core.metrics import psnr
    from training.cg2real.data import load_pair

    out = tmp_path / "ci"
    datagen.generate(datagen.DataConfig(kind="cg2real", out=str(out), scenes=1, seed=9000, resolution=128, spp=[16],
                                        ref_spp=128, eevee="default"), progress=lambda m: None)
    raw, ref, _ = load_pair(datagen.sample_dir(out, 0))
    ps = read_exr(datagen.sample_dir(out, 0) / "eevee.exr")
    ours = get_op("cg2real", "neural")(ps)  # the shipped default
    assert psnr(ours, ref) > psnr(raw[..., :3], ref) + 0.2


def test_eevee_setup_and_redoing_the_eevee_images(tmp_path, registered):
    """A dataset made with Blender's EEVEE defaults, then --redo-eevee with the tuned set-up: only
    the EEVEE image changes, and the samples record how it was made."""
    out = tmp_path / "d"
    base = dict(kind="cg2real", out=str(out), scenes=1, seed=77, resolution=32, spp=[1], ref_spp=4)
    datagen.generate(datagen.DataConfig(**base, eevee="default"), progress=lambda m: None)
    d = datagen.sample_dir(out, 0)
    assert json.loads((d / "sample.json").read_text())["eevee"] == "default"
    before, cycles = read_exr(d / "eevee.exr").color, (d / "cycles.exr").read_bytes()
    assert datagen.eevee_mismatched(out, "tuned") == [0] and datagen.eevee_mismatched(out, "default") == []
    datagen.generate(datagen.DataConfig(**base, eevee="tuned", redo_eevee=True), progress=lambda m: None)
    rec = json.loads((d / "sample.json").read_text())
    assert rec["eevee"] == "tuned" and rec["render_seconds"]["eevee_bake"] > 0
    assert (d / "cycles.exr").read_bytes() == cycles and not list(d.glob(".eevee*"))
    after = read_exr(d / "eevee.exr")
    assert after.color.shape == before.shape and np.abs(after.color - before).mean() > 1e-3
    assert {"Diffuse Color", "Glossy Color", "Normal", "Depth"} <= set(after.passes)
    assert datagen.eevee_mismatched(out, "tuned") == []
    # The operator on the user's scene: ray tracing on and one baked probe of ours, however often it runs.
    from addon.blender import eevee_setup

    scene = _eevee_scene()
    for _ in range(2):
        assert bpy.ops.neural.prepare_eevee() == {"FINISHED"}
    assert scene.eevee.use_raytracing
    assert [o.name for o in scene.objects if o.type == "LIGHT_PROBE"] == [eevee_setup.PROBE_NAME]
    with pytest.raises(ValueError, match="set-up"):
        eevee_setup.prepare_eevee(scene, "fancy")
