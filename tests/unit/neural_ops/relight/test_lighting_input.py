"""Relighting never relights under a default the user did not ask for, and every lighting input
error is one line."""

import json

import pytest

from neural_ops import OpError
from neural_ops.core.lighting import MAX_LIGHTS, parse_lighting
from neural_ops.relight.op import RelightParams

LIGHT = {"type": "POINT", "location": [0, 0, 3], "target": [0, 0, 0], "color": [1, 1, 1], "power": 100.0}


@pytest.mark.parametrize("kw, want", [
    ({}, "no target lighting"),
    ({"lights": json.dumps({"light": LIGHT})}, "expected a list of lights"),
    ({"lighting": json.dumps({"sun": LIGHT})}, "no 'world' or 'lights'"),
    ({"lights": json.dumps([LIGHT] * (MAX_LIGHTS + 1))}, f"at most {MAX_LIGHTS}"),
    ({"lighting": json.dumps({"world": {"hdri": "../../etc/forest.exr"}})}, "leaves its folder"),
])
def test_no_silent_default_lighting(kw, want):
    with pytest.raises(OpError, match=want) as e:
        RelightParams(**kw).target_lighting()
    assert "\n" not in str(e.value)


def test_lighting_files_that_are_not_text_or_too_large(tmp_path):
    binary = tmp_path / "l.json"
    binary.write_bytes(b"\xff\xfe\x00\x89PNG")
    with pytest.raises(OpError, match="not a text"):
        RelightParams(lighting=str(binary)).target_lighting()
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"lights": [LIGHT] * 40000}))
    with pytest.raises(OpError, match="at most"):
        RelightParams(lighting=str(big)).target_lighting()


def test_lights_alone_are_a_black_world_with_lights():
    lt = RelightParams(lights=json.dumps([LIGHT])).target_lighting()
    assert lt.world is None and len(lt.lights) == 1
    assert parse_lighting({"world": None, "lights": []}).lights == ()  # explicit darkness is allowed
