import json

import pytest

from neural_ops import NeuralRenderError
from training.datagen.generate import DataConfig, parse_shard, sample_seed
from training.scenes.spec import LIGHTS, MATERIALS, SHAPES, scene_spec


def test_same_seed_same_description():
    a, b = scene_spec(42), scene_spec(42)
    assert a == b
    assert json.loads(json.dumps(a)) == a  # plain JSON types only
    assert scene_spec(43) != a


def test_descriptions_cover_the_variety():
    specs = [scene_spec(s) for s in range(300)]
    shapes = {o["shape"] for s in specs for o in s["objects"]}
    kinds = {o["material"]["kind"] for s in specs for o in s["objects"]}
    lights = {li["type"] for s in specs for li in s["lights"]}
    assert shapes == set(SHAPES) and kinds == set(MATERIALS) and lights == set(LIGHTS)
    assert any(s["camera"]["dof"] for s in specs) and any(s["camera"]["motion_blur"] for s in specs)
    assert {s["world"]["hdri"] for s in specs} >= {"forest.exr", "interior.exr"}
    # The camera stays inside the room, whose walls stand at +-size/2.
    for s in specs:
        x, y, _ = s["camera"]["location"]
        assert max(abs(x), abs(y)) < s["room"]["size"] / 2


def test_sample_seeds_are_stable_and_distinct():
    assert sample_seed(0, 5) == sample_seed(0, 5)
    assert len({sample_seed(0, i) for i in range(1000)}) == 1000
    assert sample_seed(1, 5) != sample_seed(0, 5)


def test_config_and_shard_errors():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1-4"):
        with pytest.raises(NeuralRenderError):
            parse_shard(bad)
    with pytest.raises(NeuralRenderError, match="unknown dataset kind"):
        DataConfig(kind="nope", out="x", scenes=1).check()


def test_families_are_deterministic_and_keep_mixed_unchanged():
    from training.scenes.spec import FAMILIES

    assert scene_spec(11, "mixed") == scene_spec(11)
    for fam in FAMILIES[1:]:
        a = scene_spec(11, fam)
        assert a == scene_spec(11, fam) and a["family"] == fam
        assert json.loads(json.dumps(a)) == a  # JSON only
    with pytest.raises(ValueError, match="unknown scene family 'attic'"):
        scene_spec(1, "attic")


def test_window_rooms_are_closed_and_lit_only_by_the_sun_through_the_window():
    import math

    for seed in range(30):
        s = scene_spec(seed, "window")
        room, win = s["room"], s["room"]["window"]
        assert room["walls"] == 4 and room["ceiling"]
        assert [li["type"] for li in s["lights"]] == ["SUN"]
        assert 0 < win["bottom"] and win["bottom"] + win["height"] < room["size"] / 2
        assert abs(win["center"]) + win["width"] / 2 < room["size"] / 2
        sun = s["lights"][0]
        assert sun["location"][2] > 0  # from above, towards a floor spot inside the room
        assert all(abs(v) < room["size"] / 2 for v in sun["target"][:2])
        cam = s["camera"]["location"]
        assert all(abs(v) < room["size"] / 2 for v in cam[:2]) and 0 < cam[2] < room["size"] / 2
        assert not math.isclose(sun["location"][0], sun["target"][0]) or not math.isclose(sun["location"][1], sun["target"][1])


def test_families_give_what_they_promise():
    for seed in range(10):
        assert all(o["material"]["kind"] == "textured" and o["material"]["texture"]["bump"] > 0
                   for o in scene_spec(seed, "textured")["objects"])
        assert scene_spec(seed, "dof")["camera"]["dof"]["fstop"] <= 2.0
        assert scene_spec(seed, "motion")["camera"]["motion_blur"]
        assert scene_spec(seed, "dark")["world"]["strength"] < 0.1
        assert sum(o["material"]["kind"] == "glass" for o in scene_spec(seed, "glass")["objects"]) >= 2
        small = scene_spec(seed, "small_lights")
        assert small["world"]["strength"] == 0 and all(li["size"] < 0.1 for li in small["lights"])


def test_data_families_option():
    cfg = DataConfig(kind="denoise", out="x", scenes=1, families=["window,dark", "glass"])
    cfg.check()
    assert cfg.families == ["window", "dark", "glass"]
    with pytest.raises(NeuralRenderError, match="unknown scene family 'attic'"):
        DataConfig(kind="denoise", out="x", scenes=1, families=["attic"]).check()
