"""A scene's lighting read as the lighting schema (addon.blender.lighting), from stand-ins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from addon.blender import lighting
from neural_ops import NeuralRenderError
from neural_ops.core.lighting import parse_lighting

from .stand_ins import (
    LightData,
    Object,
    Scene,
    World,
    colour_world,
    hdri_world,
    rotation_x,
    translation,
)


@pytest.mark.parametrize("kind, attr, value, size", [
    ("AREA", "size", 1.5, 1.5), ("POINT", "shadow_soft_size", 0.5, 2.0), ("SPOT", "shadow_soft_size", 0.1, 0.4),
    ("SUN", "angle", 0.05, 0.5),
])
def test_light_size_mapping_both_ways(kind, attr, value, size):
    d = LightData(kind, **{attr: value})
    assert lighting.light_size(d) == pytest.approx(size)
    d2 = LightData(kind)
    lighting.set_light_size(d2, size)
    assert getattr(d2, attr) == pytest.approx(value)


def test_worlds():
    assert lighting.world_lighting(None) is None
    assert lighting.world_lighting(World(node_tree=None, color=(0.1, 0.2, 0.3))) == {"color": [0.1, 0.2, 0.3],
                                                                                     "strength": 1.0}
    assert lighting.world_lighting(colour_world((0.2, 0.3, 0.4), 1.5)) == {"color": [0.2, 0.3, 0.4], "strength": 1.5}
    w = lighting.world_lighting(hdri_world("/hdri/sky.exr", rotation=0.7, strength=0.8))
    assert w == {"hdri": "sky.exr", "hdri_path": "/hdri/sky.exr", "rotation": 0.7, "strength": 0.8}
    assert lighting.world_lighting(hdri_world(mapping=False))["rotation"] == 0.0


def test_world_from_another_node_is_a_clear_error():
    w = hdri_world()
    env = w.node_tree.nodes[1]
    env.type, env.name = "TEX_SKY", "Sky Texture"
    with pytest.raises(NeuralRenderError, match="'Sky Texture' node"):
        lighting.world_lighting(w)


def test_lights_position_axis_and_parent():
    # A spot at (1, 2, 3) tilted 90 degrees about X: its -Z axis points along +Y.
    spot = Object("Spot", "LIGHT", LightData("SPOT", color=(1.0, 0.9, 0.8), energy=300.0, shadow_soft_size=0.2),
                  matrix_basis=(np.array(translation(1, 2, 3)) @ np.array(rotation_x(math.pi / 2))).tolist())
    parent = Object("Rig", "EMPTY", matrix_basis=translation(10, 0, 0))
    child = Object("Area", "LIGHT", LightData("AREA", size=2.0), matrix_basis=translation(0, 0, 5), parent=parent)
    hidden = Object("Off", "LIGHT", LightData("POINT"), hide_render=True)
    scene = Scene(world=hdri_world(), objects=[spot, parent, child, hidden])
    got = lighting.scene_lighting(scene)
    assert [li["type"] for li in got["lights"]] == ["SPOT", "AREA"]
    s, a = got["lights"]
    assert s["location"] == pytest.approx([1, 2, 3]) and s["target"] == pytest.approx([1, 3, 3])
    assert s["power"] == 300.0 and s["size"] == pytest.approx(0.8) and s["color"] == pytest.approx([1.0, 0.9, 0.8])
    assert s["spot_size"] == pytest.approx(0.785) and s["spot_blend"] == pytest.approx(0.15)
    assert a["location"] == pytest.approx([10, 0, 5]) and a["target"] == pytest.approx([10, 0, 4]) and a["size"] == 2.0
    got["world"] = {"color": [0.1, 0.1, 0.1], "strength": 1.0}  # the HDRI file does not exist here
    parse_lighting(got)  # what the add-on reads, the op accepts
