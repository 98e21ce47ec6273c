"""The learned denoiser's building blocks: features, network, kernels, tiling, weights, losses."""

import json

import numpy as np
import pytest
import torch

from neural_ops import OpError, PassSetError
from neural_ops.denoise.inputs import RAW_CHANNELS, raw_inputs
from neural_ops.denoise.learned import NeuralParams, load_denoiser, neural_denoise, tile_overlap
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


HEADS = ["direct", "kernel", "bilateral", "convex", "convex_half"]


def _cfg(head, channels):
    """A config of ``head`` (``convex_half``: the convex head at half resolution)."""
    base = {"bilateral": "despiked", "convex": "oidn", "convex_half": "oidn"}.get(head, "noisy")
    return DenoiserConfig(head=head.replace("_half", ""), channels=channels, base=base, half_res=head == "convex_half")


@pytest.mark.parametrize("head", HEADS)
def test_network_shapes_for_odd_sizes(head):
    net = DenoiserNet(_cfg(head, [8, 8, 8])).eval()
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


@pytest.mark.parametrize("head", HEADS)
def test_tiled_equals_untiled(head):
    torch.manual_seed(0)
    net = DenoiserNet(_cfg(head, [8, 12, 16, 16])).eval()
    for p in net.parameters():  # a non-trivial function everywhere
        torch.nn.init.normal_(p, std=0.2)
    raw = np.random.default_rng(0).random((150, 170, RAW_CHANNELS)).astype(np.float32)
    whole = run_tiled(net, raw, tile=0)
    calls = []
    tiled = run_tiled(net, raw, tile=64, overlap=tile_overlap(net.multiple), multiple=net.multiple,
                      progress=lambda d, t: calls.append((d, t)))
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


@pytest.mark.parametrize("head", HEADS)
def test_onnx_graph_equals_torch(head, tmp_path):
    pytest.importorskip("onnxruntime")
    from neural_ops.denoise.network import onnx_graph
    from neural_ops.nn.onnx_backend import OnnxGraph, TileGraph
    from neural_ops.nn.onnx_export import export_graph

    torch.manual_seed(1)
    net = DenoiserNet(_cfg(head, [8, 8, 16])).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    graph = OnnxGraph(export_graph(onnx_graph(net), tmp_path / "m.onnx"))
    assert graph.multiple == net.multiple and graph.meta["config"]["head"] == head.replace("_half", "")
    raw = np.random.default_rng(0).random((40, 58, RAW_CHANNELS)).astype(np.float32)  # padded in numpy
    np.testing.assert_allclose(run_tiled(TileGraph(graph), raw, tile=0), run_tiled(net, raw, tile=0), rtol=1e-4, atol=1e-5)


def test_power_law_fit_recovers_the_exponent():
    from training.common.curves import fit_power_law

    pts = [(n, 2.0 * n**-0.5, f"n{n}") for n in (50, 100, 200)]
    a, b = fit_power_law(pts)
    assert abs(b + 0.5) < 1e-9 and abs(np.exp(a) - 2.0) < 1e-9
    assert fit_power_law(pts[:1]) is None


@pytest.mark.parametrize("head", ["convex", "convex_half"])
def test_convex_head_stays_within_its_candidates_and_starts_as_oidn(head):
    from neural_ops.denoise.network import convex_candidates

    torch.manual_seed(3)
    net = DenoiserNet(_cfg(head, [8, 8, 16])).eval()
    raw = torch.rand(1, RAW_CHANNELS, 32, 48)
    raw[:, 0:3] *= 20 * (torch.rand(1, 1, 32, 48) > 0.97) + 1  # fireflies in the noisy colour
    with torch.inference_mode():
        fresh = net(raw)
        a = raw[:, 3:6] + 0.01
        # Untrained: OIDN's output (the base channels) moved 1 % towards the candidates' mix.
        assert (fresh - raw[:, 10:13]).abs().mean() < 0.03 * raw[:, 10:13].mean()
        for p in net.parameters():  # any weights at all
            torch.nn.init.normal_(p, std=0.5)
        out = net(raw) / a
        heads = net.core(torch.nn.functional.avg_pool2d(net.features(raw)[0], 2) if net.cfg.half_res
                         else net.features(raw)[0])
        cands = torch.stack(convex_candidates(raw[:, 0:3] / a, raw[:, 10:13] / a, heads, 5, net.cfg.half_res))
    lo, hi = cands.min(dim=0).values, cands.max(dim=0).values
    assert (out >= lo - 1e-4).all() and (out <= hi + 1e-4).all()
    # and the candidates themselves are local: nothing beyond the input's range.
    d = torch.cat([raw[:, 0:3], raw[:, 10:13]]) / torch.cat([a, a])
    assert hi.max() <= d.max() + 1e-4 and lo.min() >= d.min() - 1e-4


def test_convex_head_needs_an_oidn_base():
    with pytest.raises(ValueError, match="needs base oidn"):
        DenoiserConfig(head="convex", base="noisy").check()
    with pytest.raises(ValueError, match="half_res"):
        DenoiserConfig(head="kernel", half_res=True).check()


def test_energy_check_moves_a_darkening_result_back_to_the_base():
    from neural_ops.denoise.learned import keep_energy, mean_luminance

    rng = np.random.default_rng(0)
    noisy = rng.exponential(0.5, (32, 32, 3)).astype(np.float32)
    base = np.broadcast_to(noisy.mean(axis=(0, 1)) * 0.995, noisy.shape).astype(np.float32)  # 0.5 % dark: allowed
    dark = base * 0.85  # the model took 15 % of the light away
    out, s = keep_energy(dark, noisy, base, 0.01)
    assert 0 < s < 1 and abs(mean_luminance(out) / mean_luminance(noisy) - 1) <= 0.01 + 1e-6
    same, s = keep_energy(base * 1.004, noisy, base, 0.01)
    assert s == 1 and np.array_equal(same, base * 1.004)
    # A base already 3 % off sets the bound: the model may not go further than it.
    base3 = base * (0.97 / 0.995)
    out, s = keep_energy(base3 * 0.9, noisy, base3, 0.01)
    assert s == 0 and np.allclose(out, base3)
    with pytest.raises(OpError, match="energy_tolerance"):
        NeuralParams(energy_tolerance=float("nan")).check()


def test_out_of_range_frames_fall_back_to_the_base(tmp_path, capfd):
    from neural_ops.denoise.learned import input_stats, out_of_range

    ps = make_passset()
    raw = raw_inputs(ps, np.maximum(ps.color, 0) * 0.9)
    st = input_stats(raw)
    assert out_of_range(st, None) is None
    assert out_of_range(st, {k: [v - 0.1, v + 0.1] for k, v in st.items()}) is None
    assert "brightness" in out_of_range({**st, "brightness": st["brightness"] + 5}, {k: [v, v] for k, v in st.items()})
    # A model whose card says it never saw such frames hands them to its base.
    torch.manual_seed(0)
    net = DenoiserNet(DenoiserConfig(head="convex", base="oidn", channels=[8, 8, 8]))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    card = {"kind": "denoise", "input_range": {"brightness": [50.0, 60.0], "noise": [-9.0, 9.0]}}
    w = save_model(net, card, tmp_path / "m.safetensors")
    pytest.importorskip("pyoidn")
    got = neural_denoise(ps, NeuralParams(weights=str(w), backend="torch"))
    from neural_ops.core.oidn import OIDNParams, oidn_denoise

    np.testing.assert_allclose(got, oidn_denoise(ps, OIDNParams(max_memory_mb=1024)), rtol=1e-5, atol=1e-6)
    assert "out of the model's training range" in capfd.readouterr().err
