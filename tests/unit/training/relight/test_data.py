"""Relighting's loader on a tiny sample folder written with write_exr (no Blender): it builds the
network's inputs exactly as inference does (``neural_ops.relight.op.network_inputs``)."""

import json

import numpy as np
import pytest
import torch

from neural_ops import PassSet, PassSetError, read_exr, write_exr
from neural_ops.core.lighting import parse_lighting
from neural_ops.relight.network import (
    CODE_DIM,
    RAW_CHANNELS,
    RelightConfig,
    RelightNet,
    lighting_code,
)
from neural_ops.relight.op import network_inputs
from training.common.samples import sample_dir
from training.relight.data import (
    INPUT_CHANNELS,
    SampleStore,
    clean,
    lighting_count,
    make_batch,
    with_color,
)

LIGHTINGS = [
    {"world": {"color": [0.2, 0.25, 0.3], "strength": 1.0},
     "lights": [{"type": "POINT", "location": [2.0, -1.0, 3.0], "target": [0.0, 0.0, 0.0], "color": [1.0, 0.9, 0.8], "power": 200.0}]},
    {"world": {"color": [0.05, 0.05, 0.1], "strength": 0.5},
     "lights": [{"type": "SUN", "location": [-3.0, 2.0, 4.0], "target": [0.0, 0.0, 0.0], "color": [1.0, 1.0, 1.0], "power": 3.0}]},
]


def _frame(h, w, seed, color_seed):
    """The same G-buffer (a tilted plane in front of the camera) lit differently."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pos = np.stack([(xx - w / 2) * 0.05, (yy - h / 2) * 0.05, 0.1 * xx / w], axis=2).astype(np.float32)
    n = np.zeros((h, w, 3), np.float32)
    n[..., 2] = 1.0
    ps = PassSet(source="lit")
    col = np.random.default_rng(color_seed).uniform(-0.05, 1.5, (h, w, 3)).astype(np.float32)
    ps.add("Combined", np.concatenate([col, np.ones((h, w, 1), np.float32)], 2), "RGBA")
    ps.add("Diffuse Color", r.uniform(0.1, 0.9, (h, w, 3)).astype(np.float32), "RGB")
    ps.add("Glossy Color", r.uniform(0.0, 0.3, (h, w, 3)).astype(np.float32), "RGB")
    ps.add("Normal", n, "XYZ")
    ps.add("Position", pos, "XYZ")
    ps.add("Depth", (5.0 - pos[..., 2:3]).astype(np.float32), "Z")
    cam = np.eye(4)
    cam[:3, 3] = [0.0, 0.0, 5.0]
    ps.meta = {"camera": {"matrix_world": cam.tolist()}}
    return ps


@pytest.fixture
def data(tmp_path):
    """Two relight samples under the two LIGHTINGS, without the Denoising passes (so ``clean``
    leaves the colour alone whether or not OIDN is installed)."""
    root = tmp_path / "ds"
    for i in range(2):
        d = sample_dir(root, i)
        d.mkdir(parents=True)
        for k, light in enumerate(LIGHTINGS):
            write_exr(_frame(24, 32, i, 10 * i + k), d / f"lit_{k}.exr")
            (d / f"lighting_{k}.json").write_text(json.dumps(light))
        (d / "sample.json").write_text(json.dumps({"index": i}))
    return root


def test_pairs_are_built_as_inference_builds_them(data):
    store = SampleStore(data, [0, 1], log=None)
    assert len(store.samples) == 2 and lighting_count(sample_dir(data, 0)) == 2
    d = sample_dir(data, 1)
    src_ps = read_exr(d / "lit_0.exr")
    target, source = (parse_lighting(json.loads((d / f"lighting_{k}.json").read_text())) for k in (1, 0))
    for use_source in (True, False):
        raw, y, code = store.pair(store.samples[1], 0, 1, use_source)
        assert INPUT_CHANNELS == RAW_CHANNELS and raw.shape == (24, 32, RAW_CHANNELS) and y.shape == (24, 32, 3)
        want = network_inputs(src_ps, target, source, use_source=use_source)
        np.testing.assert_allclose(raw, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(code, lighting_code(target))
        np.testing.assert_array_equal(y, clean(read_exr(d / "lit_1.exr")))
    assert code.shape == (CODE_DIM,)


def test_batches_and_exposure(data):
    from training.relight.train import RelightTrainConfig

    store = SampleStore(data, [0, 1], log=None)
    cfg = RelightTrainConfig(data=str(data), out="", model=RelightConfig(channels=[8, 12, 16], context=True),
                             batch=3, crop=16, exposure=1.0)
    x, y, code, thumbs = make_batch(store, np.random.default_rng(0), cfg)
    assert x.shape == (3, RAW_CHANNELS, 16, 16) and y.shape == (3, 3, 16, 16) and code.shape == (3, CODE_DIM)
    assert thumbs.shape[:2] == (3, RAW_CHANNELS)
    net = RelightNet(cfg.model)
    assert net(x, code, net.context_of(thumbs)).shape == (3, 3, 16, 16)
    # Reflectances, normal and depth (channels 6:16) are not light: never scaled.
    stored = set(np.concatenate([np.asarray(s["dc"]).ravel() for s in store.samples]))
    assert set(x[:, 6:9].numpy().ravel()) <= stored
    again = make_batch(store, np.random.default_rng(0), cfg)
    assert all(torch.equal(a, b) for a, b in zip((x, y, code, thumbs), again))


def test_with_color_keeps_the_passes(data):
    ps = read_exr(sample_dir(data, 0) / "lit_0.exr")
    out = with_color(ps, np.zeros((24, 32, 3), np.float32))
    assert np.array_equal(out.color, np.zeros((24, 32, 3))) and np.array_equal(out.get("Normal"), ps.get("Normal"))
    assert not np.array_equal(ps.color, out.color)  # a copy


def test_malformed_samples_are_named(data):
    (sample_dir(data, 0) / "lighting_1.json").write_text("{not json")
    with pytest.raises(PassSetError, match=r"malformed sample .*000000"):
        SampleStore(data, [0], log=None)
    (sample_dir(data, 1) / "lit_1.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000001.*lit_1\.exr"):
        SampleStore(data, [1], log=None)
