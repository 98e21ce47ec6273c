"""The relighting network without bpy: input layout, identity at initialisation, FiLM."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neural_ops.relight.network import RAW_CHANNELS, RelightConfig, RelightNet, raw_inputs  # noqa: E402


def _raw(h=21, w=18, source=True, seed=0):
    r = np.random.default_rng(seed)
    f = lambda c, lo=0.0, hi=1.0: r.uniform(lo, hi, (h, w, c)).astype(np.float32)  # noqa: E731
    return raw_inputs(f(3, 0, 2), f(3, 0, 0.5), f(3), f(3, 0, 0.2), f(3, -1, 1), f(1, -1, 1),
                      f(3, 0, 2) if source else None, f(3, 0, 2) if source else None)


@pytest.mark.parametrize("condition,context", [("buffers", False), ("film", False), ("buffers", True)])
def test_untrained_model_returns_the_analytic_image(condition, context):
    cfg = RelightConfig(channels=[8, 12, 16], condition=condition, lighting_dim=5 if condition == "film" else 0,
                        context=context)
    net = RelightNet(cfg).eval()
    raw = _raw()
    assert raw.shape == (21, 18, RAW_CHANNELS)
    code = torch.randn(1, 5) if condition == "film" else None
    with torch.inference_mode():
        out = net(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None], code)
    assert out.shape == (1, 3, 21, 18)
    assert np.allclose(out[0].permute(1, 2, 0).numpy(), raw[..., 0:3] + raw[..., 3:6], rtol=1e-4, atol=1e-5)


def test_without_source_the_source_channels_are_zero_and_film_needs_a_code():
    raw = _raw(source=False)
    assert not raw[..., 16:22].any()
    net = RelightNet(RelightConfig(channels=[8, 8, 8], condition="film", lighting_dim=3))
    with pytest.raises(ValueError, match="FiLM"):
        net(torch.zeros(1, RAW_CHANNELS, 8, 8))
    with pytest.raises(ValueError, match="lighting_dim"):
        RelightConfig(condition="film").check()


def test_context_reads_the_whole_frame_and_tiles_agree(tmp_path):
    """A frame that is darker than its analytic image everywhere changes the context; the op
    gives every tile the whole frame's context, so tiled and whole-frame outputs agree."""
    from neural_ops import PassSet
    from neural_ops.nn.weights import save_model
    from neural_ops.relight import op as relight_op

    torch.manual_seed(1)
    net = RelightNet(RelightConfig(channels=[8, 12, 16], context=True)).eval()
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    raw = torch.from_numpy(_raw(70, 66).transpose(2, 0, 1).copy())[None]
    dark = raw.clone()
    dark[:, 16:19] *= 0.1  # the rendered frame, ten times darker than its analytic image
    with torch.inference_mode():
        assert not torch.allclose(net.context_of(raw), net.context_of(dark))
        whole = net(raw)[0].permute(1, 2, 0).numpy()
    w = save_model(net, {"kind": "relight", "config": net.cfg.to_dict()}, tmp_path / "ctx.safetensors")
    x = raw[0].permute(1, 2, 0).numpy()
    orig = relight_op.network_inputs
    try:
        relight_op.network_inputs = lambda *a, **k: x  # the op's own inputs are tested elsewhere
        params = relight_op.RelightParams(weights=str(w), hdri="forest.exr", tile=64)
        tiled = relight_op.neural_relight(PassSet(source="t"), params)
        params.tile = 0
        full = relight_op.neural_relight(PassSet(source="t"), params)
    finally:
        relight_op.network_inputs = orig
    np.testing.assert_allclose(tiled, full, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(full, whole, rtol=1e-4, atol=1e-5)
