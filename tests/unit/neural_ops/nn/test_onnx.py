"""The ONNX Runtime path of the learned ops: every shipped model's graph equals its torch model,
user-trained weights export and run the same, and the ONNX path imports neither torch nor
safetensors (a stock Blender Python has neither)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from neural_ops.core.errors import OpError  # noqa: E402
from neural_ops.core.synthetic import synthetic_frame  # noqa: E402
from neural_ops.nn.weights import WEIGHTS_DIR, available_models, save_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[4]
#: A target lighting that needs no HDRI file.
LIGHTS = json.dumps({"world": {"color": [0.2, 0.25, 0.3], "strength": 1.0},
                     "lights": [{"type": "POINT", "location": [1.0, -2.0, 4.0], "target": [0.0, 0.0, 0.0],
                                 "power": 300.0}]})


def relight_frame(w: int, h: int):
    """The synthetic raster frame with the sidecar camera relighting's screen-space shadows read
    (above the frame, looking down -Z)."""
    ps = synthetic_frame(w, h, raster=True)
    c2w = np.eye(4)
    c2w[2, 3] = 5.0
    ps.meta["camera"] = {"resolution": [w, h], "lens": 30.0, "sensor_width": 36.0, "sensor_height": 24.0,
                         "sensor_fit": "AUTO", "matrix_world": c2w.tolist()}
    return ps


def _close(a: np.ndarray, b: np.ndarray) -> None:
    """ONNX vs torch: same float32 arithmetic in another order (exp(x) - 1 for expm1)."""
    assert a.shape == b.shape and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(b).max())))


def test_every_shipped_model_has_its_graph():
    missing = [w.name for w in WEIGHTS_DIR.glob("*.safetensors") if not w.with_suffix(".onnx").exists()]
    assert not missing, f"run 'neural-render export-onnx --all' (missing graphs for {missing})"


@pytest.mark.parametrize("name", available_models("denoise"))
def test_denoisers_onnx_equal_torch(name):
    from neural_ops.denoise.learned import NeuralParams, neural_denoise

    ps = synthetic_frame(64, 48)
    a = neural_denoise(ps, NeuralParams(model=name, backend="onnx"))
    b = neural_denoise(ps, NeuralParams(model=name, backend="torch"))
    _close(a, b)


def test_tiled_onnx_equals_tiled_torch_and_whole_frame():
    from neural_ops.denoise.learned import NeuralParams, neural_denoise

    ps = synthetic_frame(150, 100)
    kw = dict(model="kpcn", tile=64)  # 6 tiles, each padded to the graph's multiple in numpy
    tiled = neural_denoise(ps, NeuralParams(backend="onnx", **kw))
    _close(tiled, neural_denoise(ps, NeuralParams(backend="torch", **kw)))
    _close(tiled, neural_denoise(ps, NeuralParams(backend="onnx", **{**kw, "tile": 0})))


@pytest.mark.parametrize("name", available_models("cg2real"))
def test_cg2real_onnx_equals_torch(name):
    from neural_ops.cg2real.op import Cg2RealParams, neural_cg2real

    ps = synthetic_frame(64, 48, raster=True)
    kw = {"photo_albedo": True} if name == "albedo" else {"model": name}  # albedo: the second stage
    a = neural_cg2real(ps, Cg2RealParams(backend="onnx", **kw))
    b = neural_cg2real(ps, Cg2RealParams(backend="torch", **kw))
    _close(a, b)


@pytest.mark.parametrize("name", available_models("relight"))
def test_relight_onnx_equals_torch(name):
    from neural_ops.relight.op import RelightParams, neural_relight

    ps = relight_frame(64, 48)
    a = neural_relight(ps, RelightParams(model=name, lighting=LIGHTS, backend="onnx", tile=0))
    b = neural_relight(ps, RelightParams(model=name, lighting=LIGHTS, backend="torch", tile=0))
    _close(a, b)


def _slots(k: int, h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Plausible blending inputs (log colours, a validity mask with a hole no view sees)."""
    from neural_ops.novel_view.features import SHARED_CHANNELS, SLOT_CHANNELS, VALID

    r = np.random.default_rng(seed)
    slots = r.random((1, k, SLOT_CHANNELS, h, w)).astype(np.float32)
    slots[:, :, VALID] = (r.random((1, k, h, w)) > 0.3).astype(np.float32)
    slots[:, :, VALID, 5:15, 4:20] = 0
    return slots, r.random((1, SHARED_CHANNELS, h, w)).astype(np.float32)


@pytest.mark.parametrize("name", available_models("ibr"))
def test_novel_view_blending_onnx_equals_torch(name):
    from neural_ops.nn.onnx_backend import pad_to
    from neural_ops.novel_view.synthesis import OnnxBlend, load_blending

    ob, net = load_blending(model=name, backend="onnx"), load_blending(model=name, backend="torch")
    assert isinstance(ob, OnnxBlend) and ob.cfg.k == net.cfg.k and ob.cfg.split == net.cfg.split
    slots, shared = _slots(net.cfg.k, 45, 37)  # odd sizes: padded to the multiple in numpy
    m = ob.graph.multiple
    a = ob.graph.run(slots=pad_to(slots, m), shared=pad_to(shared, m))[0][..., :45, :37]
    with torch.inference_mode():
        b = net(torch.from_numpy(slots), torch.from_numpy(shared)).numpy()
    _close(a, b)


def _perturbed(net):
    torch.manual_seed(0)
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    return net.eval()


def test_user_models_with_context_and_film_export_and_match(tmp_path):
    """Models with the whole-frame context branch (the graph's ``thumb`` input) and FiLM
    (``code``), trained by a user: exported by the command's function, run by the ops."""
    from neural_ops.cg2real.network import Cg2RealConfig, Cg2RealNet
    from neural_ops.cg2real.op import Cg2RealParams, neural_cg2real
    from neural_ops.relight.network import CODE_DIM, RelightConfig, RelightNet
    from neural_ops.relight.op import RelightParams, neural_relight
    from training.export_onnx import export

    cg = _perturbed(Cg2RealNet(Cg2RealConfig(channels=[8, 12, 16], context=True, norm="spade")))
    w = save_model(cg, {"kind": "cg2real"}, tmp_path / "cg.safetensors")
    path, abs_diff, _ = export(w)
    assert path == tmp_path / "cg.onnx" and abs_diff < 1e-3
    ps = relight_frame(100, 70)
    a = neural_cg2real(ps, Cg2RealParams(weights=str(w), backend="onnx", tile=64))
    _close(a, neural_cg2real(ps, Cg2RealParams(weights=str(w), backend="torch", tile=64)))

    rl = _perturbed(RelightNet(RelightConfig(channels=[8, 12, 16], condition="film", lighting_dim=CODE_DIM,
                                             context=True)))
    w = save_model(rl, {"kind": "relight"}, tmp_path / "rl.safetensors")
    export(w)
    a = neural_relight(ps, RelightParams(weights=str(w), lighting=LIGHTS, backend="onnx", tile=64))
    _close(a, neural_relight(ps, RelightParams(weights=str(w), lighting=LIGHTS, backend="torch", tile=64)))


def test_thumbnail_in_numpy_equals_torch():
    from neural_ops.nn.blocks import thumbnail as torch_thumbnail
    from neural_ops.nn.features import thumbnail

    for h, w in ((48, 64), (97, 131), (300, 70), (5, 3)):
        x = np.random.default_rng(h).random((1, 4, h, w)).astype(np.float32)
        np.testing.assert_allclose(thumbnail(x), torch_thumbnail(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_base_pass_and_noisy_image(monkeypatch):
    """With Cycles' denoiser on, Combined holds its OIDN result and Noisy Image the noisy
    colour: base_pass="Combined" gives the ensemble the same inputs as computing OIDN itself."""
    from neural_ops.denoise import learned

    noisy = synthetic_frame(64, 48)
    denoised = noisy.color * 0.8 + 0.05
    cycles = noisy.copy()
    cycles.add("Noisy Image", noisy.color, "RGB")
    cycles.add("Combined", np.concatenate([denoised, noisy.alpha], axis=2), "RGBA")
    a = learned.neural_denoise(cycles, learned.NeuralParams(base_pass="Combined", backend="onnx"))
    monkeypatch.setattr(learned, "compute_base", lambda ps, base, *args: denoised)
    b = learned.neural_denoise(noisy, learned.NeuralParams(backend="onnx"))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(OpError, match="base_pass 'Nope'"):
        learned.neural_denoise(cycles, learned.NeuralParams(base_pass="Nope"))
    with pytest.raises(OpError, match="per_aov"):
        learned.NeuralParams(base_pass="Combined", per_aov=True).check()


def test_exported_cycles_denoised_is_the_base_without_pyoidn(monkeypatch, capsys):
    """An export with Cycles' denoiser on keeps Combined noisy and adds 'Cycles Denoised':
    without pyoidn the ensemble refines that pass (one note), as if OIDN had given it; the
    same frame with Noisy Image (Combined denoised) gives the same result."""
    from neural_ops.core import oidn
    from neural_ops.denoise import learned

    noisy = synthetic_frame(64, 48)
    denoised = noisy.color * 0.8 + 0.05
    exported = noisy.copy()
    exported.add("Cycles Denoised", denoised, "RGB")
    monkeypatch.setattr(oidn, "oidn_unavailable", lambda: "the 'pyoidn' package is not installed")
    a = learned.neural_denoise(exported, learned.NeuralParams(backend="onnx"))
    assert "refines Cycles' denoised image" in capsys.readouterr().err
    rendered = noisy.copy()
    rendered.add("Noisy Image", noisy.color, "RGB")
    rendered.add("Combined", np.concatenate([denoised, noisy.alpha], axis=2), "RGBA")
    b = learned.neural_denoise(rendered, learned.NeuralParams(backend="onnx"))
    monkeypatch.setattr(learned, "compute_base", lambda ps, base, *args: denoised)
    c = learned.neural_denoise(noisy, learned.NeuralParams(backend="onnx"))
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)


def test_user_weights_without_a_graph_fall_back_to_torch_or_say_how_to_export(tmp_path):
    from neural_ops.denoise.learned import NeuralParams, neural_denoise
    from neural_ops.nn.runtime import choose_backend

    for ext in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / f"denoise_kpcn{ext}", tmp_path / f"mine{ext}")
    w = tmp_path / "mine.safetensors"
    assert choose_backend("auto", w) == "torch"
    with pytest.raises(OpError, match="export-onnx"):
        neural_denoise(synthetic_frame(64, 48), NeuralParams(weights=str(w), backend="onnx"))
    with pytest.raises(OpError, match="no such weights file"):
        choose_backend("auto", tmp_path / "none.safetensors")


NO_TORCH = textwrap.dedent(
    """
    import shutil, sys, tempfile
    from pathlib import Path
    for name in ("torch", "safetensors", "pyoidn"):
        sys.modules[name] = None  # any import of these now fails, as in a stock Blender Python
    import numpy as np
    from neural_ops import get_op, list_ops
    from neural_ops.core.errors import OpError
    from neural_ops.core.synthetic import synthetic_frame
    from neural_ops.nn.weights import WEIGHTS_DIR
    from neural_ops.novel_view.synthesis import OnnxBlend, blending_model

    for spec in list_ops():
        if spec.name == "neural":
            assert spec.available() is None, (spec.kind, spec.available())
    ps = relight_frame(64, 48)
    outs = [get_op("denoise", "neural")(ps, base_pass="Combined"),  # pyoidn is missing: Cycles' result
            get_op("cg2real", "neural")(ps),
            get_op("relight", "neural")(ps, lighting=LIGHTS)]
    net = blending_model("auto")
    assert isinstance(net, OnnxBlend), net
    slots = np.random.default_rng(0).random((1, net.cfg.k, 13, 32, 40)).astype(np.float32)
    outs.append(net.graph.run(slots=slots, shared=np.zeros((1, 11, 32, 40), np.float32))[0])
    assert all(np.isfinite(o).all() and o.size for o in outs)
    d = Path(tempfile.mkdtemp())
    for ext in (".safetensors", ".json"):
        shutil.copy(WEIGHTS_DIR / ("denoise_kpcn" + ext), d / ("mine" + ext))
    try:
        get_op("denoise", "neural")(ps, weights=str(d / "mine.safetensors"))
        raise SystemExit("user weights without a graph ran without torch")
    except OpError as e:
        assert "export-onnx" in str(e) and "\\n" not in str(e), e
    assert sys.modules["torch"] is None and sys.modules["safetensors"] is None
    print("ok")
    """
)


def test_learned_ops_run_without_torch_or_safetensors():
    import inspect

    code = f"LIGHTS = {LIGHTS!r}\n" + inspect.getsource(relight_frame) + NO_TORCH
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
