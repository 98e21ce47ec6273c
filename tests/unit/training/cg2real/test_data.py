"""CG2Real's loader on a tiny sample folder written with write_exr (no Blender)."""

import json

import numpy as np
import pytest
import torch

from neural_ops import PassSet, PassSetError, read_exr, write_exr
from neural_ops.cg2real.network import RAW_CHANNELS, Cg2RealConfig, Cg2RealNet, raw_inputs
from neural_ops.core.imageio import write_png
from neural_ops.nn.blocks import THUMB
from tests.conftest import make_raster
from training.cg2real.data import (
    INPUT_CHANNELS,
    PairStore,
    crops,
    load_albedo,
    load_pair,
    load_photos,
    make_batch,
    render_seconds,
)
from training.common.samples import sample_dir


@pytest.fixture
def data(tmp_path):
    """Two cg2real samples: ``eevee.exr`` (raster passes), ``cycles.exr`` (colour only, so the
    target is the Cycles colour itself, with or without OIDN installed) and the render times."""
    root = tmp_path / "ds"
    for i in range(2):
        d = sample_dir(root, i)
        d.mkdir(parents=True)
        write_exr(make_raster(24, 32, i, source="eevee"), d / "eevee.exr")
        cy = PassSet(source="cycles")
        cy.add("Combined", np.random.default_rng(9 + i).uniform(0, 1, (24, 32, 4)).astype(np.float32), "RGBA")
        write_exr(cy, d / "cycles.exr")
        (d / "sample.json").write_text(json.dumps({"render_seconds": {"eevee.exr": 0.5, "cycles.exr": 12.0}}))
    return root


def test_pairs_are_the_inference_inputs_and_the_cycles_frame(data):
    d = sample_dir(data, 1)
    raw, tgt, secs = load_pair(d)
    assert INPUT_CHANNELS == RAW_CHANNELS and raw.shape == (24, 32, RAW_CHANNELS) and tgt.shape == (24, 32, 3)
    np.testing.assert_array_equal(raw, raw_inputs(read_exr(d / "eevee.exr")))  # what inference feeds the net
    np.testing.assert_array_equal(tgt, read_exr(d / "cycles.exr").color)
    assert secs == 12.0 and render_seconds(d, "eevee.exr") == 0.5 and render_seconds(d, "none.exr") == 0.0


def test_store_and_batches(data):
    store = PairStore(data, [0, 1], log=None)
    assert len(store) == 2 and store.keys == [0, 1] and store.thumb[0].shape[0] == RAW_CHANNELS
    x, y, t = make_batch(store, np.random.default_rng(0), 4, 16)
    assert x.shape == (4, RAW_CHANNELS, 16, 16) and y.shape == (4, 3, 16, 16)
    assert t.shape == (4, *store.thumb[0].shape) and max(t.shape[2:]) <= THUMB
    assert x.dtype == y.dtype == torch.float32
    net = Cg2RealNet(Cg2RealConfig(channels=[8, 12, 16], context=True))
    assert net(x, net.context_of(t)).shape == (4, 3, 16, 16)
    # Only the raster colour and the target are light: reflectances, normal and depth are unscaled.
    stored = [set(np.concatenate([r[..., c].ravel() for r in store.raw])) for c in range(RAW_CHANNELS)]
    for b in range(4):
        for c in range(3, RAW_CHANNELS):
            assert set(x[b, c].numpy().ravel()) <= stored[c], c
    a = make_batch(store, np.random.default_rng(5), 3, 16, permute=True)
    b = make_batch(store, np.random.default_rng(5), 3, 16, permute=True)
    assert all(torch.equal(u, v) for u, v in zip(a, b))  # same seed, same crops and permutations


def test_size_mismatch_is_named(data):
    d = sample_dir(data, 0)
    cy = PassSet(source="cycles")
    cy.add("Combined", np.ones((16, 16, 4), np.float32), "RGBA")
    write_exr(cy, d / "cycles.exr", overwrite=True)
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: eevee\.exr is \(24, 32\), cycles\.exr is \(16, 16\)"):
        load_pair(d)


def test_unpaired_stage_reads_albedo_and_photos(data, tmp_path):
    albedo = load_albedo(str(data))
    assert len(albedo) == 2 and albedo[0].shape == (24, 32, 3)
    np.testing.assert_array_equal(albedo[1], read_exr(sample_dir(data, 1) / "eevee.exr").get("Diffuse Color")[..., :3])
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.full((20, 20, 3), 255, np.uint8))
    write_png(photos / "small.png", np.zeros((8, 8, 3), np.uint8))  # smaller than a crop: skipped
    (photos / "notes.txt").write_text("not a photo")
    imgs = load_photos(str(photos), 16)
    assert len(imgs) == 1 and imgs[0].shape == (20, 20, 3) and np.allclose(imgs[0], 1.0)  # sRGB 1 is linear 1
    c = crops(albedo, np.random.default_rng(0), 5, 16, min_cover=0.5)
    assert c.shape == (5, 3, 16, 16) and c.dtype == torch.float32
