"""The learned denoiser's building blocks: features, network, kernels, tiling, weights, losses."""

import json

import numpy as np
import pytest
import torch

from neural_ops import OpError, PassSetError
from neural_ops.denoise.inputs import RAW_CHANNELS, raw_inputs
from neural_ops.denoise.learned import NeuralParams, load_denoiser, neural_denoise
from neural_ops.denoise.network import DenoiserConfig, DenoiserNet, apply_kernels
from neural_ops.nn.features import MISS_DEPTH, depth_feature
from neural_ops.nn.tiling import run_tiled
from neural_ops.nn.weights import save_model
from tests.conftest import make_passset
from training.common.losses import LOSSES, ms_ssim


def test_depth_feature_is_scale_free_and_marks_misses():
    d = np.array([[[0.0], [2.0], [4.0], [1e10]]], np.float32)
    f = depth_feature(d)
    assert f[0, 0, 0] == MISS_DEPTH and f[0, 3, 0] == MISS_DEPTH
    assert np.allclose(depth_feature(d * 100)[0, 1:3], f[0, 1:3], atol=1e-6)  # metres or cm: same


def test_raw_inputs_layout_and_base_shape_check(passset):
    raw = raw_inputs(passset)
    assert raw.shape == (*passset.shape, RAW_CHANNELS) and raw.dtype == np.float32
    assert np.array_equal(raw[..., 10:13], raw[..., 0:3])  # base defaults to the noisy colour
    with pytest.raises(PassSetError, match="base image is"):
        raw_inputs(passset, np.zeros((3, 3, 3), np.float32))


def test_missing_guide_pass_is_named():
    ps = make_passset()
    del ps.passes["Denoising Normal"]
    with pytest.raises(PassSetError, match="missing pass 'Denoising Normal'"):
        raw_inputs(ps)


@pytest.mark.parametrize("head", ["direct", "kernel", "bilateral"])
def test_network_shapes_for_odd_sizes(head):
    net = DenoiserNet(DenoiserConfig(head=head, channels=[8, 8, 8], base="despiked" if head == "bilateral" else "noisy")).eval()
    x = torch.rand(2, RAW_CHANNELS, 37, 29)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == (2, 3, 37, 29) and torch.isfinite(y).all() and (y >= 0).all()


def test_untrained_direct_model_returns_its_base():
    # The residual starts at zero: a fresh model is the identity on its base image.
    ps = make_passset()
    net = DenoiserNet(DenoiserConfig(channels=[8, 8, 8])).eval()
    raw = raw_inputs(ps)
    with torch.inference_mode():
        y = net(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(y, np.maximum(ps.color, 0), rtol=1e-4, atol=1e-5)


def test_network_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="expected 13 raw channels"):
        DenoiserNet(DenoiserConfig(channels=[8, 8, 8]))(torch.rand(1, 10, 16, 16))


def test_bad_configs_are_refused():
    for bad in (dict(head="nope"), dict(base="x"), dict(channels=[8, 8]), dict(kernel_size=4),
                dict(head="bilateral", base="oidn")):
        with pytest.raises(ValueError):
            DenoiserConfig(**bad).check()


def test_kernels_are_normalised_and_match_a_box_filter():
    img = torch.rand(1, 3, 12, 12)
    flat = apply_kernels(torch.ones(1, 3, 12, 12), torch.randn(1, 25, 12, 12), 5)
    assert torch.allclose(flat, torch.ones_like(flat), atol=1e-6)  # weights sum to one
    box = apply_kernels(img, torch.zeros(1, 25, 12, 12), 5)  # equal logits: 5x5 mean
    ref = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(img, [2] * 4, mode="replicate"), 5, stride=1)
    assert torch.allclose(box, ref, atol=1e-6)


def test_bilateral_head_is_a_normalised_mean_that_smooths_noise():
    from neural_ops.denoise.network import bilateral_filter

    torch.manual_seed(0)
    flat = torch.full((1, 3, 24, 24), 0.7)
    feats = torch.zeros(1, 7, 24, 24)
    params = torch.randn(1, 5, 24, 24)
    assert torch.allclose(bilateral_filter(flat, torch.log1p(flat), feats, params), flat, atol=1e-6)
    noisy = flat * torch.distributions.Gamma(4.0, 4.0).sample((1, 1, 24, 24))
    out = bilateral_filter(noisy, torch.log1p(noisy), feats, torch.zeros(1, 5, 24, 24) + torch.tensor([0, 2, 0, 0, 0.]).view(1, 5, 1, 1))
    assert (out - flat).pow(2).mean() < 0.2 * (noisy - flat).pow(2).mean()
    # A feature edge (different albedo on each half) stops the filter from mixing the halves.
    img = torch.cat([torch.zeros(1, 3, 24, 12), torch.ones(1, 3, 24, 12)], dim=3)
    feats[:, 0:3, :, 12:] = 1.0
    sharp = bilateral_filter(img, torch.log1p(img), feats, torch.zeros(1, 5, 24, 24))
    assert torch.allclose(sharp, img, atol=1e-3)


def test_kernel_head_gradients_reach_every_parameter():
    net = DenoiserNet(DenoiserConfig(head="kernel", channels=[8, 8, 8]))
    net(torch.rand(1, RAW_CHANNELS, 16, 16)).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("head", ["direct", "kernel", "bilateral"])
def test_tiled_equals_untiled(head):
    torch.manual_seed(0)
    net = DenoiserNet(DenoiserConfig(head=head, channels=[8, 12, 16, 16])).eval()
    for p in net.parameters():  # a non-trivial function everywhere
        torch.nn.init.normal_(p, std=0.2)
    raw = np.random.default_rng(0).random((150, 170, RAW_CHANNELS)).astype(np.float32)
    whole = run_tiled(net, raw, tile=0)
    calls = []
    tiled = run_tiled(net, raw, tile=64, overlap=64, multiple=net.multiple, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (9, 9)
    # Compared in log space: random weights give outputs up to ~1e12, where float32 rounding
    # in exp() alone exceeds any absolute tolerance.
    np.testing.assert_allclose(np.log1p(tiled), np.log1p(whole), rtol=0, atol=2e-3)


def test_tiling_can_be_cancelled():
    net = DenoiserNet(DenoiserConfig(channels=[8, 8, 8])).eval()
    raw = np.zeros((130, 130, RAW_CHANNELS), np.float32)
    with pytest.raises(InterruptedError):
        run_tiled(net, raw, tile=64, progress=lambda d, t: d >= 1)


def test_weights_round_trip_and_corrupt_files(tmp_path):
    net = DenoiserNet(DenoiserConfig(head="kernel", channels=[8, 8, 8]))
    path = save_model(net, {"kind": "denoise"}, tmp_path / "m.safetensors")
    loaded, card = load_denoiser(weights=str(path))
    assert card["config"]["head"] == "kernel"
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    ps = make_passset()
    out = neural_denoise(ps, NeuralParams(weights=str(path), tile=64))
    assert out.shape == (*ps.shape, 3)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:100])
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(OpError, match="cannot read weights"):
        load_denoiser(weights=str(bad))
    other = tmp_path / "other.safetensors"
    other.write_bytes(path.read_bytes())
    (tmp_path / "other.json").write_text(json.dumps({**card, "config": {**card["config"], "channels": [8, 8, 16]}}))
    with pytest.raises(OpError, match="do not match the model card"):
        load_denoiser(weights=str(other))
    (tmp_path / "nocard.safetensors").write_bytes(path.read_bytes())
    with pytest.raises(OpError, match="model card nocard.json is missing"):
        load_denoiser(weights=str(tmp_path / "nocard.safetensors"))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_are_zero_at_the_target_and_grow_with_error(name):
    t = torch.rand(2, 3, 32, 32) * 4
    fn = LOSSES[name]
    assert float(fn(t, t)) < 1e-6
    small, big = float(fn(t * 1.1, t)), float(fn(t * 2.0, t))
    assert 0 < small < big


def test_ms_ssim_is_one_for_identical_images_and_drops_with_noise():
    x = torch.rand(1, 3, 64, 64)
    assert abs(float(ms_ssim(x, x)) - 1) < 1e-5
    assert float(ms_ssim((x + 0.3 * torch.randn_like(x)).clamp(0, 1), x)) < 0.9


@pytest.mark.parametrize("head", ["direct", "kernel", "bilateral"])
def test_onnx_graph_equals_torch(head, tmp_path):
    pytest.importorskip("onnxruntime")
    from neural_ops.denoise.network import onnx_graph
    from neural_ops.nn.onnx_backend import OnnxGraph, TileGraph
    from neural_ops.nn.onnx_export import export_graph

    torch.manual_seed(1)
    net = DenoiserNet(DenoiserConfig(head=head, channels=[8, 8, 16], base="despiked" if head == "bilateral" else "noisy")).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    graph = OnnxGraph(export_graph(onnx_graph(net), tmp_path / "m.onnx"))
    assert graph.multiple == net.multiple and graph.meta["config"]["head"] == head
    raw = np.random.default_rng(0).random((40, 58, RAW_CHANNELS)).astype(np.float32)  # padded in numpy
    np.testing.assert_allclose(run_tiled(TileGraph(graph), raw, tile=0), run_tiled(net, raw, tile=0), rtol=1e-4, atol=1e-5)


def test_power_law_fit_recovers_the_exponent():
    from training.common.curves import fit_power_law

    pts = [(n, 2.0 * n**-0.5, f"n{n}") for n in (50, 100, 200)]
    a, b = fit_power_law(pts)
    assert abs(b + 0.5) < 1e-9 and abs(np.exp(a) - 2.0) < 1e-9
    assert fit_power_law(pts[:1]) is None
