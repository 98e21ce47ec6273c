"""CG2Real without bpy: the generator, its inputs, the colour-transfer baseline, FID-infinity."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neural_ops import (  # noqa: E402
    PassSetError,
    get_op,  # noqa: E402
)
from neural_ops.cg2real.albedo import AlbedoConfig, AlbedoTranslator  # noqa: E402
from neural_ops.cg2real.network import RAW_CHANNELS, Cg2RealConfig, Cg2RealNet, raw_inputs  # noqa: E402
from neural_ops.cg2real.op import lab_stats, reinhard_transfer  # noqa: E402
from neural_ops.core.errors import OpError  # noqa: E402
from tests.conftest import make_raster as raster  # noqa: E402
from training.cg2real.fid import fid, fid_infinity, frechet_distance, realism  # noqa: E402


@pytest.mark.parametrize("norm,context", [("none", False), ("batch", False), ("spade", False), ("none", True)])
def test_generator_shapes_and_identity_at_init(norm, context):
    net = Cg2RealNet(Cg2RealConfig(channels=[8, 12, 16], norm=norm, context=context)).eval()
    raw = raw_inputs(raster(23, 19))  # odd sizes: padded inside, cropped back
    assert raw.shape == (23, 19, RAW_CHANNELS)
    with torch.inference_mode():
        out = net(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])
    assert out.shape == (1, 3, 23, 19)
    # The output head starts at zero: shading unchanged, so the untrained model returns the raster image.
    assert np.allclose(out[0].permute(1, 2, 0).numpy(), raw[..., :3], rtol=1e-4, atol=1e-5)


def test_global_context_is_the_whole_frames_and_tiles_agree(tmp_path):
    from neural_ops.nn.blocks import THUMB, thumbnail
    from neural_ops.nn.weights import save_model

    torch.manual_seed(0)
    net = Cg2RealNet(Cg2RealConfig(channels=[8, 12, 16], context=True)).eval()
    with torch.no_grad():
        for prm in net.parameters():  # leave the zero-initialised identity: a generic model
            prm.add_(0.05 * torch.randn_like(prm))
    ps = raster(150, 130, seed=3)
    raw = torch.from_numpy(raw_inputs(ps).transpose(2, 0, 1).copy())[None]
    assert thumbnail(raw).shape[-2:] == (THUMB, round(130 * THUMB / 150))
    with torch.inference_mode():
        whole = net(raw)
        # A brighter frame gives another context, so the same crop comes out differently.
        brighter = raw.clone()
        brighter[:, 0:3] *= 4
        assert not torch.allclose(net.context_of(raw), net.context_of(brighter))
    w = save_model(net, {"kind": "cg2real", "config": net.cfg.to_dict()}, tmp_path / "ctx.safetensors")
    spec = get_op("cg2real", "neural")
    tiled = spec(ps, weights=str(w), tile=64)
    full = spec(ps, weights=str(w), tile=0)
    assert np.allclose(tiled, full, rtol=1e-3, atol=1e-4)
    assert np.allclose(full, whole[0].permute(1, 2, 0).numpy(), rtol=1e-4, atol=1e-5)


def test_generator_rejects_wrong_channels_and_bad_config():
    with pytest.raises(ValueError, match="13 raw channels"):
        Cg2RealNet(Cg2RealConfig(channels=[4, 4, 4]))(torch.zeros(1, 10, 8, 8))
    with pytest.raises(ValueError, match="norm"):
        Cg2RealConfig(norm="instance").check()
    with pytest.raises(ValueError, match="levels"):
        Cg2RealConfig(channels=[8, 8]).check()


def test_raw_inputs_name_missing_and_non_finite_passes():
    ps = raster()
    del ps.passes["Glossy Color"]
    with pytest.raises(PassSetError, match="Glossy Color"):
        raw_inputs(ps)
    ps = raster()
    ps.passes["Normal"].pixels[3, 4, 0] = np.nan
    with pytest.raises(PassSetError, match="Normal"):
        raw_inputs(ps)


def test_op_validates_params_and_missing_model():
    spec = get_op("cg2real", "neural")
    with pytest.raises(OpError, match="tile"):
        spec.make_params(tile=10)
    with pytest.raises(OpError, match="no shipped cg2real model 'nope'"):
        spec(raster(), model="nope")
    with pytest.raises(OpError, match="no such weights file|no such"):
        spec(raster(), weights="/nonexistent/x.safetensors")


def test_reinhard_transfer_matches_target_statistics():
    r = np.random.default_rng(1)
    src = r.uniform(0.05, 1.0, (32, 32, 3)).astype(np.float32)
    tgt = (r.uniform(0.05, 1.0, (32, 32, 3)) * [1.5, 0.8, 0.4]).astype(np.float32)
    out = reinhard_transfer(src, lab_stats(tgt))
    m, s = lab_stats(out)
    tm, ts = lab_stats(tgt)
    assert np.allclose(m, tm, atol=2e-3) and np.allclose(s, ts, rtol=1e-2)  # float32 output, clipped at 0


def test_albedo_translator_starts_as_identity_and_stays_a_reflectance():
    net = AlbedoTranslator(AlbedoConfig(channels=8, blocks=1))
    a = torch.rand(2, 3, 16, 16) * 0.9 + 0.05
    assert torch.allclose(net(a), a, atol=1e-5)
    torch.nn.init.normal_(net.out.weight, std=5.0)
    out = net(a)
    assert out.min() >= 0 and out.max() <= 1


def test_frechet_distance_closed_form():
    # Diagonal Gaussians: FD = |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    want = 5.0 + (1 + 1 + 4)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-9)
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-9)


def test_fid_infinity_removes_the_small_sample_bias():
    """Gaussian features with a known distance: FID at N samples is biased upward; the
    extrapolation to N -> infinity lands much closer to the truth."""
    d = 32
    r = np.random.default_rng(0)
    a = r.normal(size=(d, d)) / np.sqrt(d)
    cov1 = a @ a.T + 0.5 * np.eye(d)
    cov2 = np.diag(r.uniform(0.5, 1.5, d))
    mu1, mu2 = np.zeros(d), np.full(d, 0.1)
    truth = frechet_distance(mu1, cov1, mu2, cov2)
    gen = r.multivariate_normal(mu1, cov1, size=1500)
    real = r.multivariate_normal(mu2, cov2, size=20000)
    biased = fid(gen, real)
    inf, curve = fid_infinity(gen, real, points=12)
    assert len(curve) >= 8 and curve[0][0] < curve[-1][0]
    assert biased - truth > 0.05 * truth  # the bias is real at this N
    assert abs(inf - truth) < 0.35 * (biased - truth)
    assert abs(inf - truth) < 0.05 * truth


def test_realism_without_inception_weights_says_so():
    img = np.zeros((4, 8, 8, 3), np.uint8)
    rep = realism(img, img, None)
    assert rep["fid_inf"] is None and "not available" in rep["note"]


def test_colour_permutation_moves_every_colour_with_the_target():
    from types import SimpleNamespace

    from neural_ops.nn.blocks import thumbnail
    from training.cg2real.data import make_batch

    raw = raw_inputs(raster(32, 32, seed=3))
    # Diffuse channel c lies in [0.35 c, 0.35 c + 0.3]: which channel went where can be read back.
    raw[..., 3:6] = raw[..., 3:6] * 0.3 + np.array([0.0, 0.35, 0.7], np.float32)
    # A target that is a per-channel function of the colour and the reflectances: a permutation
    # applied to all of them alike keeps the relation, any other breaks it.
    target = raw[..., 0:3] * 0.5 + raw[..., 3:6] + 2 * raw[..., 6:9]
    thumb = thumbnail(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].numpy()
    kept = raw.copy()

    class Store(SimpleNamespace):
        def __len__(self):
            return 1

    store = Store(raw=[raw], target=[target], thumb=[thumb])
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y, t = (a.numpy() for a in make_batch(store, rng, 8, 16, permute=True))
        for b in range(8):
            # y - colour / 2 = g (diffuse + 2 glossy), g the exposure change, the same everywhere.
            g = (y[b] - 0.5 * x[b, 0:3]) / (x[b, 3:6] + 2 * x[b, 6:9])
            assert np.allclose(g, g.mean(), rtol=1e-4)
            p = [int(x[b, 3 + c].mean() // 0.35) for c in range(3)]
            assert [int(t[b, 3 + c].mean() // 0.35) for c in range(3)] == p  # the thumbnail moved alike
            assert np.allclose(t[b, 0:3], thumb[p] * g.mean(), rtol=1e-4)
            assert np.allclose(t[b, 6:9], thumb[[6 + q for q in p]])
            seen.add(tuple(p))
    assert len(seen) == 6
    assert np.array_equal(raw, kept)  # the store is never modified
    x, y, _ = make_batch(store, np.random.default_rng(0), 8, 16, permute=False)
    assert all(int(x[b, 3 + c].mean() // 0.35) == c for b in range(8) for c in range(3))


def test_display_loss_measures_what_psnr_measures():
    from neural_ops.core.metrics import srgb_encode
    from training.common.losses import display, display_loss

    x = np.random.default_rng(0).uniform(0, 3, (2, 3, 8, 8)).astype(np.float32)
    assert np.allclose(display(torch.from_numpy(x)).numpy(), srgb_encode(x), atol=1e-6)
    y = torch.from_numpy(x)
    assert float(display_loss(y, y)) == 0.0
    # Above white the display image is flat; the tonemapped tail still pulls towards the target.
    p = torch.full((1, 3, 4, 4), 4.0, requires_grad=True)
    display_loss(p, torch.full((1, 3, 4, 4), 2.0)).backward()
    assert float(p.grad.min()) > 0


def test_shipped_models_load_and_keep_their_training_set_up():
    from neural_ops.cg2real.op import load_cg2real
    from neural_ops.nn.weights import available_models

    assert {"default", "tuned"} <= set(available_models("cg2real"))
    net, card = load_cg2real(model="tuned")
    assert "tuned" in card["notes"] and card["data"]["train_samples"] > 500
    out = get_op("cg2real", "neural")(raster(), model="tuned")
    assert out.shape == (24, 20, 3) and np.isfinite(out).all()
