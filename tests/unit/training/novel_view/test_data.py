"""Novel views' loader on a tiny multiview sample written with write_exr (no Blender): a textured
plane seen by three cameras, traced analytically."""

import json

import numpy as np
import pytest
import torch

from neural_ops import PassSet, write_exr
from neural_ops.core.cameras import Camera
from neural_ops.novel_view.features import blend_features
from neural_ops.novel_view.network import (
    SHARED_CHANNELS,
    SLOT_CHANNELS,
    BlendConfig,
    BlendNet,
    pack_features,
)
from neural_ops.novel_view.views import load_scene
from training.common.samples import sample_dir
from training.novel_view.data import ExampleStore, make_batch, sparse_sources
from training.novel_view.train import NovelViewTrainConfig

SIZE = 32


def _camera(deg: float) -> Camera:
    a = np.radians(deg)
    eye = np.array([4 * np.cos(a), 4 * np.sin(a), 3.0])
    back = eye / np.linalg.norm(eye)
    right = np.cross([0, 0, 1], back)
    right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, np.cross(back, right), back, eye
    return Camera(c2w, 40.0, 40.0, SIZE / 2, SIZE / 2, SIZE, SIZE)


def _view(cam: Camera) -> PassSet:
    """The plane z = 0 (|x|, |y| < 3), textured, in front of a constant sky."""
    o, d = cam.rays()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[..., 2] / d[..., 2]
    p = o + t[..., None] * d
    hit = (t > 0) & (np.abs(p[..., :2]) < 3).all(axis=-1)
    tex = np.stack([0.5 + 0.4 * np.sin(3 * p[..., 0]), 0.5 + 0.4 * np.cos(2 * p[..., 1]), np.full(t.shape, 0.3)], -1)
    color = np.where(hit[..., None], tex, 0.4).astype(np.float32)
    depth = np.where(hit, t * (d @ cam.forward), 1e10).astype(np.float32)[..., None]
    normal = np.where(hit[..., None], np.array([0.0, 0.0, 1.0]), 0.0).astype(np.float32)
    ps = PassSet(source="view")
    ps.add("Combined", np.concatenate([color, np.ones((SIZE, SIZE, 1), np.float32)], 2), "RGBA")
    ps.add("Depth", depth, "Z")
    ps.add("Normal", normal, "XYZ")
    return ps


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "ds"
    d = sample_dir(root, 0)
    d.mkdir(parents=True)
    frames = []
    for v, deg in enumerate((0, 40, 80)):
        cam = _camera(deg)
        write_exr(_view(cam), d / f"r_{v:03d}.exr", sidecar=False)
        frames.append({"file_path": f"r_{v:03d}.png", "exr_file_path": f"r_{v:03d}.exr",
                       "transform_matrix": cam.c2w.tolist()})
    (d / "transforms.json").write_text(json.dumps({"fl_x": 40.0, "fl_y": 40.0, "cx": SIZE / 2, "cy": SIZE / 2,
                                                   "w": SIZE, "h": SIZE, "frames": frames}))
    (d / "sample.json").write_text(json.dumps({"index": 0, "kind": "multiview"}))
    return root


def _cfg(data, **kw):
    return NovelViewTrainConfig(data=str(data), out="", model=BlendConfig(channels=[8, 12], k=2), batch=3, crop=16,
                          depth="gbuffer", denoise=False, **kw)


def test_examples_are_the_inference_features(data):
    cfg = _cfg(data, temporal_weight=0.0)
    store = ExampleStore(data, [0], cfg, train=False, log=None)
    assert len(store.examples) == 3 and [ex.key for ex in store.examples] == [(0, 0), (0, 1), (0, 2)]
    views = load_scene(sample_dir(data, 0))
    for t, ex in enumerate(store.examples):
        assert ex.slots.shape == (2, SLOT_CHANNELS, SIZE, SIZE) and ex.shared.shape == (SHARED_CHANNELS, SIZE, SIZE)
        sources = [v.source() for j, v in enumerate(views) if j != t]
        slots, shared = pack_features(blend_features(views[t].camera, sources, views[t].depth, k=2,
                                                     target_normal=views[t].normal))
        np.testing.assert_array_equal(ex.slots, slots.astype(np.float16))
        np.testing.assert_array_equal(ex.shared, shared.astype(np.float16))
        np.testing.assert_array_equal(ex.target, np.maximum(views[t].color, 0).transpose(2, 0, 1))


def test_batches_with_temporal_pairs(data):
    cfg = _cfg(data, temporal_weight=0.5, temporal_share=1.0, temporal_batch=1)
    store = ExampleStore(data, [0], cfg, train=True, log=None)
    assert store.jittered == [0, 1, 2] and store.nbytes() > 0
    b = make_batch(store, np.random.default_rng(0), cfg)
    assert b["slots"].shape == (3 + 2, 2, SLOT_CHANNELS, 16, 16) and b["shared"].shape == (5, SHARED_CHANNELS, 16, 16)
    assert b["target"].shape == (4, 3, 16, 16) and b["pairs"] == 1 and b["grid"].shape == (1, 16, 16, 2)
    assert BlendNet(cfg.model)(b["slots"], b["shared"]).shape == (5, 3, 16, 16)
    again = make_batch(store, np.random.default_rng(0), cfg)
    assert all(torch.equal(b[k], again[k]) for k in ("slots", "shared", "target", "grid"))


def test_render_one_in_n_sources():
    assert sparse_sources(9, 2, 4, 1) == [0, 4]
    r = np.random.default_rng(0)
    for t in range(1, 8):
        s = sparse_sources(9, t, 4, 1, r)
        assert s and t not in s and all((a - b) % 4 == 0 for a in s for b in s)  # keys every 4th view
