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
