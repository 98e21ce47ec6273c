"""Learned blending end to end on real (tiny) Cycles camera moves: the multiview ``--arc`` data,
``train ibr`` (resume) and ``eval ibr`` through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytest.importorskip("torch")

from neural_ops.cli import main  # noqa: E402
from neural_ops.core.cameras import load_views  # noqa: E402
from neural_ops.novel_view import backward_warp  # noqa: E402
from training.datagen import generate as datagen  # noqa: E402


@pytest.fixture(scope="module")
def moves(tmp_path_factory):
    """Two procedural scenes, 5 views each along a 40-degree camera move, 48x48, 8 spp."""
    out = tmp_path_factory.mktemp("ibr_moves")
    assert main(["data", "multiview", "--scenes", "2", "--seed", "31", "--resolution", "48", "--ref-spp", "8",
                 "--views", "5", "--arc", "40", "-o", str(out)]) == 0
    return out


def test_arc_views_form_an_ordered_move_whose_neighbours_overlap(moves):
    views = load_views(datagen.sample_dir(moves, 0))
    centres = np.array([c.center for c, _, _ in views])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert np.allclose(steps, steps.mean(), rtol=0.2)  # evenly spaced along the arc
    assert np.linalg.norm(centres[-1] - centres[0]) > 3 * steps.mean()  # in order, not shuffled
    (c0, _, d0), (c1, col1, d1) = views[0], views[1]
    seen = backward_warp(c0, d0, c1, col1, d1).valid
    assert seen.sum() > 0.5 * (d0 > 0).sum(), "neighbouring views of a move should overlap"


def test_train_ibr_resumes_and_eval_compares_with_ulr(moves, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "ibr", "--data", str(moves), "-o", str(run), "--steps", "6", "--batch", "2", "--crop", "32",
            "--val-count", "1", "--split"]
    assert main(args) == 0
    card = json.loads((run / "model.json").read_text())
    assert card["kind"] == "ibr" and card["config"]["split"] is True and card["train"]["steps"] == 6
    args[args.index("6")] = "8"
    assert main(args) == 0
    assert "resumed at step 6" in capsys.readouterr().out
    out = tmp_path / "eval"
    assert main(["eval", "ibr", "--data", str(moves), "--model", f"tiny={run / 'model.safetensors'}",
                 "-o", str(out), "--max-samples", "1"]) == 0
    text = capsys.readouterr().out
    assert "ULR (" in text and "tiny (" in text
    res = json.loads((out / "eval.json").read_text())
    assert res["targets"] == 5 and any(r.startswith("tiny") for r in res["mean"])
    assert (out / "grid.png").stat().st_size > 1000
    # Render 1 in 2 along the 5-view move: targets 1 and 3, each from the rendered views around it.
    assert main(["eval", "ibr", "--data", str(moves), "--model", f"tiny={run / 'model.safetensors'}",
                 "-o", str(tmp_path / "e2"), "--max-samples", "1", "--every", "2"]) == 0
    assert "render 1 in 2" in capsys.readouterr().out
    res2 = json.loads((tmp_path / "e2" / "eval.json").read_text())
    assert res2["targets"] == 2 and res2["every"] == 2
    # A bad --model spec: one clear line and exit status 2.
    assert main(["eval", "ibr", "--data", str(moves), "--model", "nolabel"]) == 2
    assert "LABEL=NAME|PATH" in capsys.readouterr().err


def test_novel_view_cli_renders_a_view_between_two_sources(moves, tmp_path, capsys):
    """Views 0 and 2 of a move as the only sources, view 1 as the target: ULR fills most of it
    close to the render; the camera given as JSON or as a transforms.json gives the same image."""
    import shutil

    from neural_ops import read_exr
    from neural_ops.core.metrics import psnr

    src = datagen.sample_dir(moves, 1)
    tf = json.loads((src / "transforms.json").read_text())
    folder = tmp_path / "two"
    folder.mkdir()
    keep = [tf["frames"][0], tf["frames"][2]]
    for fr in keep:
        shutil.copy(src / fr["exr_file_path"], folder / fr["exr_file_path"])
    (folder / "transforms.json").write_text(json.dumps({**tf, "frames": keep}))
    target = tf["frames"][1]
    cam_json = json.dumps({"transform_matrix": target["transform_matrix"]})
    assert main(["novel-view", str(folder / "transforms.json"), "--camera", cam_json, "-o", str(tmp_path / "a"),
                 "--method", "ulr"]) == 0
    assert "% of pixels seen" in capsys.readouterr().out
    got = read_exr(tmp_path / "a" / "view_0000.exr")
    ref = read_exr(src / target["exr_file_path"]).color
    seen = got.get("Combined")[..., 3] > 0.5
    near = read_exr(folder / keep[0]["exr_file_path"]).color  # the nearest source, unwarped
    print(f"seen {seen.mean():.2f}, PSNR seen {psnr(got.color[seen][None], ref[seen][None]):.2f}, "
          f"all {psnr(got.color, ref):.2f}, nearest source {psnr(near, ref):.2f}, "
          f"seen {psnr(near[seen][None], ref[seen][None]):.2f}")
    # 8-spp 48x48 renders 10 degrees apart: noise and glossy surfaces bound what warping gains
    # (measured: 17.3 dB against 16.0 dB for the nearest source unwarped, on the seen pixels).
    assert seen.mean() > 0.6
    assert psnr(got.color[seen][None], ref[seen][None]) > psnr(near[seen][None], ref[seen][None]) + 0.5
    # The same target through a transforms.json of targets.
    (tmp_path / "targets.json").write_text(json.dumps({"frames": [{"file_path": "mid.png",
                                                                    "transform_matrix": target["transform_matrix"]}]}))
    assert main(["novel-view", str(folder), "--transforms", str(tmp_path / "targets.json"), "-o", str(tmp_path / "b"),
                 "--method", "ulr"]) == 0
    assert np.array_equal(read_exr(tmp_path / "b" / "mid.exr").color, got.color)
    out_tf = json.loads((tmp_path / "b" / "transforms.json").read_text())
    assert out_tf["frames"][0]["file_path"] == "mid.png" and (tmp_path / "b" / "mid.png").exists()
    # Neither or both target options, or a bad JSON: one clear line, exit status 2.
    capsys.readouterr()
    assert main(["novel-view", str(folder), "-o", str(tmp_path / "c")]) == 2
    assert "--camera JSON or --transforms FILE" in capsys.readouterr().err
    assert main(["novel-view", str(folder), "--camera", "{not json", "-o", str(tmp_path / "c")]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_inbetween_renders_1_in_n_and_synthesises_the_rest(tmp_path, default_scene, capsys):
    """A 5-frame camera move, 1 frame in 2 rendered: every output frame exists, the synthesised
    one is closer to a real render of it than the nearest rendered frame, and a rerun resumes."""
    from neural_ops import read_exr
    from neural_ops.core.metrics import psnr

    scene = default_scene
    cam = scene.camera
    scene.frame_start, scene.frame_end = 1, 5
    start = cam.location.copy()
    for f, dx in ((1, -0.3), (5, 0.3)):
        cam.location = (start.x + dx, start.y, start.z)
        cam.keyframe_insert("location", frame=f)
    path = tmp_path / "move.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    out = tmp_path / "seq"
    args = ["inbetween", str(path), "--every", "2", "--spp", "16", "-o", str(out), "--method", "ulr"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "rendered frame 3" in text and "faster" in text
    assert sorted(p.name for p in out.glob("frame_*.exr")) == [f"frame_{f:04d}.exr" for f in range(1, 6)]
    assert sorted(p.name for p in (out / "keys").glob("frame_*.exr")) == ["frame_0001.exr", "frame_0003.exr",
                                                                          "frame_0005.exr"]
    summary = json.loads((out / "inbetween.json").read_text())
    assert summary["rendered"] == 3 and summary["synthesised"] == 2 and summary["speedup_estimate"] > 0
    # Frame 2 rendered for real, for comparison.
    ref_dir = tmp_path / "ref"
    assert main(["export", str(path), "--frames", "2", "--spp", "16", "-o", str(ref_dir)]) == 0
    from neural_ops.core.oidn import oidn_denoise

    ref = oidn_denoise(read_exr(ref_dir / "frame_0002.exr"))  # as the rendered frames of the sequence are
    got = read_exr(out / "frame_0002.exr")
    near = read_exr(out / "frame_0001.exr").color
    seen = got.get("Combined")[..., 3] > 0.5
    ours, theirs = psnr(got.color[seen][None], ref[seen][None]), psnr(near[seen][None], ref[seen][None])
    print(f"seen {seen.mean():.2f}: synthesised {ours:.2f} dB, nearest rendered frame {theirs:.2f} dB")
    assert seen.mean() > 0.8 and ours > theirs + 1
    # Rerun: the rendered frames are reused, nothing is rendered again.
    capsys.readouterr()
    assert main(args) == 0
    assert "rendered frame" not in capsys.readouterr().out
    # With each synthesised frame's own depth (Workbench): exact visibility, at least as close.
    assert main(args + ["--geometry"]) == 0
    assert sorted(p.name for p in (out / "geometry").glob("frame_*.exr")) == ["frame_0002.exr", "frame_0004.exr"]
    got2 = read_exr(out / "frame_0002.exr")
    seen2 = got2.get("Combined")[..., 3] > 0.5
    both = seen & seen2
    aware, splat = psnr(got2.color[both][None], ref[both][None]), psnr(got.color[both][None], ref[both][None])
    print(f"with the frame's own depth: seen {seen2.mean():.2f}, {aware:.2f} dB against {splat:.2f} dB splatted")
    assert seen2.mean() > 0.8 and aware > splat - 0.3
    # Bad input: one line, exit status 2.
    assert main(["inbetween", str(path), "--every", "0", "-o", str(out)]) == 2
    assert "--every" in capsys.readouterr().err
    assert main(["inbetween", str(path), "--every", "5", "-o", str(out)]) == 2  # 5 frames: 1 in 5 spans them all
    assert "spans the whole range 1-5" in (err := capsys.readouterr().err) and len(err.strip().splitlines()) == 1


def _scene_of(moves, index: int, view: int):
    """The procedural scene of a multiview sample, its camera set to the sample's view ``view``."""
    from training.datagen.multiview import add_ring_cameras
    from training.scenes.build import build_scene

    d = datagen.sample_dir(moves, index)
    spec = json.loads((d / "scene.json").read_text())
    rec = json.loads((d / "sample.json").read_text())
    scene = build_scene(spec, moves / "textures", (48, 48))
    n = len(json.loads((d / "transforms.json").read_text())["frames"])
    cams = add_ring_cameras(scene, n, spec["camera"]["target"], np.random.default_rng(rec["seed"]), 40)
    scene.camera = cams[view]
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    return scene


def test_novel_view_compositor_output_equals_the_cli_and_uses_the_render_geometry(moves, tmp_path, registered, capsys):
    """A Workbench render of view 2 with Neural Novel View fed by views 0, 1, 3 and 4: the
    composite is the CLI's novel view of the same camera; with the render's own depth
    (renderer-aware) it covers more of the frame and is closer to the Cycles render of view 2."""
    import shutil

    from addon import novel_view
    from neural_ops import read_exr
    from neural_ops.core.metrics import psnr
    from neural_ops.novel_view.synthesis import synthesise
    from neural_ops.novel_view.views import load_scene

    src = datagen.sample_dir(moves, 0)
    tf = json.loads((src / "transforms.json").read_text())
    folder = tmp_path / "views"
    folder.mkdir()
    keep = [fr for i, fr in enumerate(tf["frames"]) if i != 2]
    for fr in keep:
        shutil.copy(src / fr["exr_file_path"], folder / fr["exr_file_path"])
    (folder / "transforms.json").write_text(json.dumps({**tf, "frames": keep}))
    scene = _scene_of(moves, 0, 2)
    assert np.allclose(np.array(scene.camera.matrix_world), tf["frames"][2]["transform_matrix"], atol=1e-5)
    scene.render.engine = "BLENDER_WORKBENCH"
    nv = scene.neural_render.novel_view
    nv.folder, nv.method, nv.use_render_geometry, nv.denoise_views = str(folder), "ulr", False, False
    nv.enabled = True
    helper = bpy.data.scenes[novel_view.helper_name(scene)]
    assert helper.render.engine == novel_view.ENGINE_ID and scene.view_layers[0].use_pass_z
    scene.render.filepath = str(tmp_path / "splat.exr")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    splat = read_exr(tmp_path / "splat.exr").color
    assert not novel_view.last_info[scene.name]["render_geometry"]
    cam = json.dumps({"transform_matrix": tf["frames"][2]["transform_matrix"]})
    assert main(["novel-view", str(folder), "--camera", cam, "-o", str(tmp_path / "cli"), "--method", "ulr"]) == 0
    assert np.abs(splat - read_exr(tmp_path / "cli" / "view_0000.exr").color).max() < 1e-4
    nv.use_render_geometry = True
    scene.render.filepath = str(tmp_path / "aware.exr")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    aware = read_exr(tmp_path / "aware.exr").color
    info = novel_view.last_info[scene.name]
    ref = read_exr(src / tf["frames"][2]["exr_file_path"]).color
    assert info["render_geometry"] and info["views"] == 4
    # Workbench's depth is the Cycles G-buffer's: the same image as warping through the G-buffer of view 2.
    views = load_scene(src)
    want = synthesise([v for i, v in enumerate(views) if i != 2], "v", views[2].camera, None,
                      target_depth=views[2].depth).image
    differ = np.abs(aware - want).max(axis=2) > 1e-3  # a depth test may flip at a few edge pixels
    print(f"{differ.mean():.4f} of the pixels differ from warping through the Cycles G-buffer")
    assert differ.mean() < 0.01
    both = (aware.sum(axis=2) > 0) & (splat.sum(axis=2) > 0)  # ULR leaves what no view sees black
    a, b = psnr(aware[both][None], ref[both][None]), psnr(splat[both][None], ref[both][None])
    print(f"seen {info['seen']:.2f}; PSNR where both see: splatted {b:.2f}, render geometry {a:.2f}")
    assert a > b + 0.3  # measured 22.4 against 21.7 dB
    # No folder: the render goes on, the error is reported and the scene's own image passes through.
    nv.folder = str(tmp_path / "nowhere")
    scene.render.filepath = str(tmp_path / "bad.exr")
    assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    assert "has no transforms.json" in capsys.readouterr().out
    nv.enabled = False
    assert novel_view.helper_name(scene) not in bpy.data.scenes
    assert not any(n.bl_idname == "NeuralNovelViewNode" for n in scene.compositing_node_group.nodes)


@pytest.fixture(scope="module")
def held_out_move(tmp_path_factory):
    """One procedural scene never used in training (dataset seed 9200), 5 views along a 40-degree
    camera move, 64x64 at 32 spp."""
    out = tmp_path_factory.mktemp("ibr_held_out")
    assert main(["data", "multiview", "--scenes", "1", "--seed", "9200", "--resolution", "64", "--ref-spp", "32",
                 "--views", "5", "--arc", "40", "-o", str(out)]) == 0
    return out


def test_shipped_blending_beats_ulr_on_a_held_out_move(held_out_move):
    """Render 1 in 2 along the move (views 1 and 3 from views 0, 2 and 4), as ``inbetween`` does."""
    from training.novel_view.eval import evaluate

    res = evaluate(held_out_move, {"ours": "default"}, None, log=print, every=2)
    m = res["mean"]
    for mode in ("G-buffer depth", "splatted depth"):
        ours, ulr = m[f"ours ({mode})"], m[f"ULR ({mode})"]
        assert ours["PSNR"] > ulr["PSNR"] + 1.0 and ours["FLIP"] < ulr["FLIP"]
        assert ours["flicker"] < ulr["flicker"]


def test_inbetween_motion_follows_a_moving_object_and_keeps_every_pass(tmp_path, default_scene, capsys):
    """The sphere moves and the camera slides; 1 frame in 2 rendered, the others carried along
    every frame's auxiliary render: the sphere is where a real render of the frame has it, every
    pass is written and the light passes add up."""
    from neural_ops import read_exr
    from neural_ops.core.metrics import psnr
    from neural_ops.core.oidn import oidn_denoise

    scene = default_scene
    scene.frame_start, scene.frame_end = 1, 3
    scene.render.resolution_x, scene.render.resolution_y = 128, 96
    ob = bpy.data.objects["Sphere"]
    y0 = ob.location.copy()
    for f, dx in ((1, -0.6), (3, 0.6)):
        ob.location = (y0.x + dx, y0.y, y0.z)
        ob.keyframe_insert("location", frame=f)
    cam = scene.camera
    start = cam.location.copy()
    for f, dx in ((1, -0.1), (3, 0.1)):
        cam.location = (start.x + dx, start.y, start.z)
        cam.keyframe_insert("location", frame=f)
    path = tmp_path / "move.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    out = tmp_path / "seq"
    args = ["inbetween", str(path), "--every", "2", "--spp", "16", "-o", str(out), "--method", "motion"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "auxiliary render of frame 2" in text and "faster" in text
    assert sorted(p.name for p in (out / "aux").glob("frame_*.exr")) == [f"frame_{f:04d}.exr" for f in (1, 2, 3)]
    got = read_exr(out / "frame_0002.exr")
    key = read_exr(out / "keys" / "frame_0001.exr")
    for name in ("Combined", "Diffuse Direct", "Glossy Indirect", "Diffuse Color", "Vector", "Depth", "Confidence"):
        assert name in got.passes, name
    explained = sum(got.get(f"{k} {d}")[..., :3] * got.get(f"{k} Color")[..., :3]
                    for k in ("Diffuse", "Glossy") for d in ("Direct", "Indirect"))
    assert float(np.abs(got.color - explained).mean()) < 0.05 * float(got.color.mean())  # little else in this scene
    assert read_exr(out / "frame_0001.exr").get("Confidence").min() == 1.0
    summary = json.loads((out / "inbetween.json").read_text())
    assert summary["method"] == "motion" and summary["aux_seconds_per_frame"] > 0 and summary["synthesised"] == 1
    # Where the sphere uncovered the wall, tiles were re-rendered (a region render), not all.
    assert 0 < summary["rerendered_fraction"] < 0.9 and summary["rerender_seconds"] > 0
    assert len(list((out / "regions").glob("frame_0002_*.exr"))) >= 1
    # Frame 2 rendered for real: the synthesised frame is far closer to it than either key.
    assert main(["export", str(path), "--frames", "2", "--spp", "16", "-o", str(tmp_path / "ref")]) == 0
    ref = oidn_denoise(read_exr(tmp_path / "ref" / "frame_0002.exr"))
    ours = psnr(got.color, ref)
    theirs = psnr(read_exr(out / "frame_0001.exr").color, ref)
    assert (got.get("Combined")[..., 3] == 1).all() and ours > theirs + 3, (ours, theirs)
    # Without re-rendering: every hole filled from around it, nothing rendered in regions.
    capsys.readouterr()
    assert main(args + ["--no-rerender", "-o", str(tmp_path / "filled")]) == 0
    filled = json.loads((tmp_path / "filled" / "inbetween.json").read_text())
    assert filled["rerendered_fraction"] == 0 and not (tmp_path / "filled" / "regions").exists()
    assert psnr(read_exr(tmp_path / "filled" / "frame_0002.exr").color, ref) > theirs + 2
    # Rerun: keys and auxiliary renders reused.
    capsys.readouterr()
    assert main(args) == 0
    assert "rendered frame" not in (t := capsys.readouterr().out) and "auxiliary render" not in t
    assert summary == {**json.loads((out / "inbetween.json").read_text()), **{k: summary[k] for k in summary
                                                                              if "seconds" in k or k == "speedup_estimate"}}
    del key
