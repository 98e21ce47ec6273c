"""Settings -> op parameters (addon.params), with stand-ins for the PropertyGroups."""

from __future__ import annotations

import dataclasses
import json
import math
from types import SimpleNamespace

import pytest

from addon import params
from neural_ops import NeuralRenderError, get_op

from .stand_ins import (
    CameraData,
    Dataset,
    Denoise,
    Export,
    Object,
    Photoreal,
    Relight,
    Scene,
    colour_world,
)


def _accepted(kind: str, method: str) -> set[str]:
    return {f.name for f in dataclasses.fields(get_op(kind, method).params)}


@pytest.mark.parametrize("method, want", [
    ("oidn", {"quality": "high"}),
    ("bilateral", {"radius": 6, "sigma_color": 0.6, "despike": True}),
    ("neural", {"weights": "", "tile": 1024, "per_aov": False}),
    ("spikes", {}),
])
def test_denoise_params_are_only_the_methods_own(method, want):
    p = params.denoise_params(Denoise(method=method))
    assert p == want
    assert set(p) <= _accepted("denoise", method)  # every name is one the op takes


def test_denoise_tile_and_weights():
    assert params.denoise_params(Denoise(tile=10))["tile"] == 64  # small tiles lack context
    assert params.denoise_params(Denoise(tile=0))["tile"] == 0  # whole frame
    assert params.denoise_params(Denoise(model_weights="/w/d.safetensors"))["weights"] == "/w/d.safetensors"


def test_cg2real_params():
    p = params.cg2real_params(Photoreal(tile=32, photo_albedo=True, albedo_weights="/w/a.safetensors"))
    assert p == {"weights": "", "tile": 64, "photo_albedo": True, "albedo_weights": "/w/a.safetensors"}
    assert set(p) <= _accepted("cg2real", "neural")


def test_relight_hdri_target():
    frame_scene = Scene(world=colour_world((0.1, 0.2, 0.3), 2.0))
    p = params.relight_params(Relight(hdri="city.exr", rotation=math.pi / 2, strength=0.5), frame_scene)
    assert p["hdri"] == "city.exr" and p["rotation"] == pytest.approx(90.0) and p["strength"] == 0.5
    assert p["lights"] == "" and p["use_source"] is True and p["tile"] == 512
    src = json.loads(p["source_lighting"])  # the frame's own lighting, for the network
    assert src["world"] == {"color": pytest.approx([0.1, 0.2, 0.3]), "strength": 2.0}
    assert set(p) <= _accepted("relight", "neural")


def test_relight_scene_target_and_analytic_method():
    target = Scene(world=colour_world((1.0, 0.5, 0.25)))
    p = params.relight_params(Relight(method="analytic", target="SCENE", scene=target), Scene())
    assert json.loads(p["lighting"]) == {"world": {"color": [1.0, 0.5, 0.25], "strength": 1.5}, "lights": []}
    assert set(p) == {"lighting"}  # nothing of the network's
    assert set(p) <= _accepted("relight", "analytic")
    with pytest.raises(NeuralRenderError, match="choose the scene"):
        params.relight_params(Relight(target="SCENE", scene=None), Scene())


def test_relight_turns_use_source_off_for_a_world_it_cannot_describe():
    from .stand_ins import Link, Node, NodeTree, Socket, World

    noise = Node("TEX_NOISE", "Noise")
    world = World(node_tree=NodeTree([Node("BACKGROUND", "Background", {"Color": Socket(links=[Link(noise)]),
                                                                        "Strength": Socket(1.0)})]))
    p = params.relight_params(Relight(), Scene(world=world))
    assert p["use_source"] is False and "source_lighting" not in p


def test_export_config_from_settings():
    scene = Scene(objects=[Object("CamA", "CAMERA", CameraData(SimpleNamespace(export=True))),
                           Object("CamB", "CAMERA", CameraData(SimpleNamespace(export=False)))])
    cfg = params.export_config(Export(spp=8, half=False), scene)
    assert (cfg.frames, cfg.cameras, cfg.spp, cfg.half, cfg.directory) == ([], [], 8, False, "/tmp/out")
    assert cfg.cycles_denoised
    assert params.export_config(Export(views="FRAMES", frame_start=3, frame_end=5), scene).frames == [3, 4, 5]
    assert params.export_config(Export(views="MARKED"), scene).cameras == ["CamA"]
    with pytest.raises(NeuralRenderError, match="no camera is marked"):
        params.export_config(Export(views="MARKED"), Scene())


def test_dataset_args():
    args = params.dataset_args(Dataset(kind="relight", scenes=3, spp="1,4"), "/d/source.blend", "/d")
    assert args == ["data", "relight", "--from", "/d/source.blend", "--scenes", "3", "--seed", "0",
                    "--resolution", "128", "--spp", "1,4", "--ref-spp", "256", "-o", "/d"]
