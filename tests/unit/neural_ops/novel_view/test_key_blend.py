"""Render 1 in N's learned key blend: an untrained model is the linear blend, the weights stay
convex over the keys that count, the gain keeps the passes adding up, the ONNX graph equals torch."""

import numpy as np
import pytest

from neural_ops.novel_view import key_blend
from neural_ops.novel_view.motion import DIRECT, carry, interpolate

from .test_motion import _frame

torch = pytest.importorskip("torch")
from neural_ops.novel_view.key_blend_net import KeyBlendConfig, KeyBlendNet  # noqa: E402


def _shot():
    keys = {0: _frame(0, True), 4: _frame(4, True)}
    aux = {f: _frame(f, False) for f in range(5)}
    # The auxiliary render's Combined: frame t's own direct light (1 spp in a real shot).
    for f, ps in aux.items():
        truth = _frame(f, True)
        ps.add("Combined", truth.get("Combined").copy(), "RGBA")
    return keys, aux


class _Fixed:
    """A stand-in model: fixed weights and gain, as a trained one would return them."""

    def __init__(self, w0: float, gain: float):
        self.w0, self.gain = w0, gain

    def __call__(self, c, base):
        h, w = c.guides.shape[:2]
        w0 = np.where(base[0] > 0, self.w0, 0.0) * (base[1] > 0) + (base[1] <= 0) * (base[0] > 0)
        return [w0.astype(np.float32), ((1 - w0) * ((base[0] + base[1]) > 0)).astype(np.float32)], \
            np.full((h, w), self.gain, np.float32)


def test_an_untrained_model_is_the_linear_blend():
    keys, aux = _shot()
    torch.manual_seed(0)
    blend = key_blend.KeyBlend(net=KeyBlendNet(KeyBlendConfig([8, 8])).eval())
    got = interpolate(2, keys, aux, fill=True, blend=blend)
    lin = interpolate(2, keys, aux, fill=True)
    for name in lin.passes:
        np.testing.assert_allclose(got.passes[name], lin.passes[name], atol=1e-5, err_msg=name)


def test_weights_are_convex_and_zero_where_a_key_does_not_count():
    keys, aux = _shot()
    c = carry(2, keys, aux)
    base = c.base_weights(True)
    x = key_blend.features(c, base)
    assert x.shape == (key_blend.FEATURES, 16, 40) and np.isfinite(x).all()
    net = KeyBlendNet(KeyBlendConfig([8, 8])).eval()
    torch.nn.init.normal_(net.out.weight, std=2.0)  # far from "no change"
    with torch.inference_mode():
        y = net(torch.from_numpy(x)[None])[0].numpy()
    counts = (base[0] + base[1]) > 0
    np.testing.assert_allclose((y[0] + y[1])[counts], 1.0, atol=1e-5)
    assert (y[0][base[0] == 0] == 0).all() and (y[1][base[1] == 0] == 0).all()
    assert (y[2] >= 0.25 - 1e-6).all() and (y[2] <= 4.0 + 1e-5).all()


def test_the_gain_scales_the_direct_light_and_the_passes_still_add_up():
    keys, aux = _shot()
    lin = interpolate(2, keys, aux, fill=True, blend=_Fixed(0.5, 1.0))
    got = interpolate(2, keys, aux, fill=True, blend=_Fixed(0.5, 0.5))
    for n in DIRECT:
        if n in got.passes:
            np.testing.assert_allclose(got.passes[n], 0.5 * lin.passes[n], atol=1e-5)
    explained = (got.passes["Diffuse Direct"] * got.passes["Diffuse Color"]
                 + got.passes["Glossy Direct"] * got.passes["Glossy Color"])
    assert np.allclose(got.passes["Combined"][..., :3] - explained, 0.05, atol=1e-4)  # the emission, as rendered


def test_one_key_is_left_as_it_is():
    keys, aux = _shot()
    blend = key_blend.KeyBlend(net=KeyBlendNet(KeyBlendConfig([8, 8])).eval())
    only = {0: keys[0]}
    got = interpolate(2, only, aux, fill=True, blend=blend)
    lin = interpolate(2, only, aux, fill=True)
    np.testing.assert_array_equal(got.passes["Combined"], lin.passes["Combined"])


def test_the_onnx_graph_equals_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from neural_ops.nn.onnx_backend import OnnxGraph
    from neural_ops.nn.onnx_export import export_graph
    from neural_ops.novel_view.key_blend_net import onnx_graph

    torch.manual_seed(1)
    net = KeyBlendNet(KeyBlendConfig([8, 8, 8])).eval()
    torch.nn.init.normal_(net.out.weight, std=0.5)
    path = export_graph(onnx_graph(net), tmp_path / "kb.onnx")
    keys, aux = _shot()
    c = carry(2, keys, aux)
    x = key_blend.features(c, c.base_weights(True))  # 16x40: padded to the graph's multiple
    on = key_blend.KeyBlend(graph=OnnxGraph(path)).predict(x)
    tv = key_blend.KeyBlend(net=net).predict(x)
    assert on.shape == tv.shape == (3, 16, 40)
    np.testing.assert_allclose(on, tv, atol=1e-5)


def test_a_big_frame_runs_the_model_strided_and_keeps_the_frames_own_checks():
    """Above ``max_pixels`` the model sees every s-th pixel; an untrained one is still the linear
    blend, and a trained one's weights stay convex and 0 where a key's walk failed at full size."""
    keys, aux = _shot()
    torch.manual_seed(0)
    untrained = key_blend.KeyBlend(net=KeyBlendNet(KeyBlendConfig([8, 8])).eval(), max_pixels=100)
    assert key_blend.net_stride(16, 40, 100) == 3 and key_blend.net_stride(16, 40, None) == 1
    got = interpolate(2, keys, aux, fill=True, blend=untrained)
    lin = interpolate(2, keys, aux, fill=True)
    for name in lin.passes:
        np.testing.assert_allclose(got.passes[name], lin.passes[name], atol=1e-5, err_msg=name)
    net = KeyBlendNet(KeyBlendConfig([8, 8])).eval()
    torch.nn.init.normal_(net.out.weight, std=2.0)
    c = carry(2, keys, aux)
    base = c.base_weights(True)
    (w0, w1), gain = key_blend.KeyBlend(net=net, max_pixels=100)(c, base)
    counts = (base[0] + base[1]) > 0
    np.testing.assert_allclose((w0 + w1)[counts], 1.0, atol=1e-5)
    assert (w0[base[0] == 0] == 0).all() and (w1[base[1] == 0] == 0).all()
    assert w0.shape == gain.shape == (16, 40) and (gain >= 0.25 - 1e-6).all() and (gain <= 4 + 1e-5).all()
    assert not np.allclose(w0[counts], (base[0] / np.maximum(base[0] + base[1], 1e-12))[counts])


def test_a_key_aux_model_sees_each_keys_auxiliary_render_and_starts_linear():
    keys, aux = _shot()
    c = carry(2, keys, aux, key_aux=True)
    assert len(c.carried_aux) == 2 and c.carried_aux[0].shape == (16, 40, 3)
    plain = carry(2, keys, aux)
    for a, b in zip(c.stacks, plain.stacks):
        np.testing.assert_array_equal(a, b)
    x = key_blend.features(c, c.base_weights(True), key_aux=True)
    assert x.shape == (key_blend.n_features(True), 16, 40)
    np.testing.assert_array_equal(x[:key_blend.FEATURES], key_blend.features(plain, plain.base_weights(True)))
    with pytest.raises(ValueError, match="key_aux"):
        key_blend.features(plain, plain.base_weights(True), key_aux=True)
    torch.manual_seed(0)
    blend = key_blend.KeyBlend(net=KeyBlendNet(KeyBlendConfig([8, 8], key_aux=True)).eval())
    assert blend.key_aux
    got = interpolate(2, keys, aux, fill=True, blend=blend)
    lin = interpolate(2, keys, aux, fill=True)
    for name in lin.passes:
        np.testing.assert_allclose(got.passes[name], lin.passes[name], atol=1e-5, err_msg=name)
