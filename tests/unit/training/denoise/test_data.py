"""The denoiser's loader on a tiny sample folder written with write_exr (no Blender)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neural_ops import PassSetError, read_exr, write_exr
from neural_ops.denoise.inputs import RAW_CHANNELS, raw_inputs
from neural_ops.denoise.network import DenoiserConfig, DenoiserNet
from tests.conftest import make_passset
from training.common.samples import list_samples, sample_dir
from training.denoise.data import INPUT_CHANNELS, PairStore, make_batch, read_sample, target_file


def _dataset(root, samples=2, spp=(1, 4), h=24, w=32):
    """``samples`` denoise samples: ``sppNNNN.exr`` inputs (independent noise) and a clean
    ``reference.exr``, as ``neural-render data denoise`` lays them out."""
    for i in range(samples):
        d = sample_dir(root, i)
        d.mkdir(parents=True)
        for k, s in enumerate(spp):
            write_exr(make_passset(h, w, seed=10 * i + k, spp=s), d / f"spp{s:04d}.exr")
        ref = make_passset(h, w, seed=10 * i, noise=1e-3)
        write_exr(ref, d / "reference.exr")
        (d / "sample.json").write_text(json.dumps({"index": i}))
    (root / "manifest.json").write_text(json.dumps({"config": {"seed": 7, "resolution": w, "ref_spp": 64}}))
    return root


@pytest.fixture
def data(tmp_path):
    return _dataset(tmp_path / "ds")


def test_store_holds_the_inference_inputs_of_every_pair(data):
    store = PairStore(data, list_samples(data), [1, 4], "noisy", log=None)
    assert len(store) == 4 and store.keys == [(0, 1), (0, 4), (1, 1), (1, 4)]
    assert INPUT_CHANNELS == RAW_CHANNELS == 13
    for (i, s), raw, tgt in zip(store.keys, store.raw, store.target):
        assert raw.shape == (24, 32, RAW_CHANNELS) and tgt.shape == (24, 32, 3) and raw.dtype == np.float32
        # The very function inference calls, on the same file: training cannot drift from it.
        np.testing.assert_array_equal(raw, raw_inputs(read_exr(sample_dir(data, i) / f"spp{s:04d}.exr")))
        np.testing.assert_array_equal(tgt, read_exr(sample_dir(data, i) / "reference.exr").color)


class _Store(SimpleNamespace):
    def __len__(self):
        return len(self.raw)


def test_batches_are_crops_with_exposure_on_radiance_only():
    """Crops of (H, W, 13) inputs the network accepts; the exposure change scales the colour, the
    base and the target alike and leaves albedo, normal and depth alone."""
    h, w = 20, 24
    r = np.random.default_rng(0)
    tgt = r.uniform(0.1, 1, (h, w, 3)).astype(np.float32)
    raw = np.zeros((h, w, RAW_CHANNELS), np.float32)
    raw[..., 0:3] = raw[..., 10:13] = tgt
    raw[..., 3] = np.arange(h * w).reshape(h, w)  # which pixel: unscaled, so it can be read back
    raw[..., 4:10] = r.uniform(0, 1, (h, w, 6))
    store = _Store(raw=[raw], target=[tgt])
    x, y = make_batch(store, np.random.default_rng(0), 8, 16)
    assert x.shape == (8, RAW_CHANNELS, 16, 16) and y.shape == (8, 3, 16, 16) and x.dtype == torch.float32
    assert DenoiserNet(DenoiserConfig())(x).shape == (8, 3, 16, 16)
    gains = []
    for b in range(8):
        idx = x[b, 3].numpy().astype(int)
        yy, xx = idx // w, idx % w
        np.testing.assert_array_equal(x[b, 4:10].numpy(), raw[yy, xx, 4:10].transpose(2, 0, 1))
        g = float(y[b].mean() / tgt[yy, xx].mean())
        np.testing.assert_allclose(y[b].numpy(), g * tgt[yy, xx].transpose(2, 0, 1), rtol=1e-5)
        np.testing.assert_allclose(x[b, 0:3].numpy(), y[b].numpy(), rtol=1e-6)
        np.testing.assert_allclose(x[b, 10:13].numpy(), y[b].numpy(), rtol=1e-6)
        gains.append(g)
    assert all(0.25 - 1e-4 <= g <= 4 + 1e-4 for g in gains) and max(np.abs(np.log2(gains))) > 0.5
    assert np.array_equal(store.raw[0][..., 0:3], tgt)  # the store is never modified


def test_same_seed_same_batches(data):
    store = PairStore(data, [0, 1], [1, 4], "noisy", log=None)
    a = make_batch(store, np.random.default_rng(3), 4, 16)
    b = make_batch(store, np.random.default_rng(3), 4, 16)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_targets_and_the_evaluators_reader(data):
    assert target_file("reference") == "reference.exr" and target_file("noise2noise") == "n2n_target.exr"
    assert target_file("spp16") == "spp0016.exr"
    with pytest.raises(Exception, match="unknown target 'clean'"):
        target_file("clean")
    ps, ref = read_sample(data, 1, 4)
    assert ps.shape == (24, 32) and ref.shape == (24, 32, 3)
    with pytest.raises(Exception, match=r"spp0016\.exr: missing \(render the dataset with --spp including 16\)"):
        read_sample(data, 1, 16)


def test_malformed_samples_are_named(data):
    ref = sample_dir(data, 1) / "reference.exr"
    ref.write_bytes(ref.read_bytes()[:200])
    with pytest.raises(PassSetError, match=r"malformed sample .*000001.*reference\.exr"):
        PairStore(data, [0, 1], [1], "noisy", log=None)
    (sample_dir(data, 0) / "spp0001.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000.*spp0001\.exr"):
        PairStore(data, [0], [1], "noisy", log=None)
