"""`eval inbetween`'s options: bad ones are one clear line before anything renders."""

import pytest

from training.novel_view.inbetween_eval import InbetweenEvalConfig


def test_options_are_checked_and_lists_split():
    cfg = InbetweenEvalConfig(shots=["objects,thin"], every=["2,4"], max_flip=["0.03,0.05"], methods=["motion,flow"])
    cfg.check()
    assert cfg.shots == ["objects", "thin"] and cfg.every == [2, 4] and cfg.max_flip == [0.03, 0.05]
    assert cfg.size == (320, 180)
    for bad, match in ((dict(shots=["garden"]), "unknown --shot garden"),
                       (dict(methods=["rife"]), "unknown --method rife"),
                       (dict(every=[17]), "--every must be between 2"),
                       (dict(resolution="320"), "expected WxH")):
        with pytest.raises(ValueError, match=match):
            InbetweenEvalConfig(**bad).check()


def test_the_low_spp_route_renders_every_frame_at_a_quarter_of_the_samples():
    from training.novel_view.inbetween_eval import _routes, low_spp

    cfg = InbetweenEvalConfig(methods=["lowspp"], spp=64)
    cfg.check()
    assert low_spp(64) == 16 and low_spp(2) == 1
    assert [r[:3] for r in _routes(cfg)] == [("lowspp", "every frame at 16 spp", "lowspp")]


@pytest.mark.bpy
def test_a_training_shot_moves_its_camera_and_objects(tmp_path):
    bpy = pytest.importorskip("bpy", reason="builds a Blender scene: needs the bpy module (make env)")
    from training.novel_view.inbetween_data import build_random_shot

    scene = build_random_shot(20001, 9, (64, 36), tmp_path)
    seen = []
    for f in (1, 9):
        scene.frame_set(f)
        bpy.context.view_layer.update()
        seen.append([tuple(o.matrix_world.translation) for o in scene.objects if o.type in ("MESH", "CAMERA")])
    moved = sum(a != b for a, b in zip(*seen))
    assert scene.frame_end == 9 and scene.render.use_motion_blur is False and 2 <= moved <= 4  # camera + 1-3 objects
