"""Big frames in bounded memory: ops run in row strips give what they give on the whole frame,
the EXR chunk reader reads what the library reads, and a file command's output keeps every
input pass exactly as stored."""

from __future__ import annotations

import numpy as np
import OpenEXR
import pytest

from neural_ops import PassSet, get_op
from neural_ops.cli import main
from neural_ops.core import strips
from neural_ops.core.errors import PassSetError
from neural_ops.core.exr import add_pass, open_exr, read_exr, write_exr
from neural_ops.core.exr_stream import ExrStream, compress, decompress
from neural_ops.core.oidn import oidn_unavailable
from neural_ops.core.strips import run_op_on_file as run_on_file
from neural_ops.nn.weights import available_models
from neural_ops.relight.shading import equirect_directions
from tests.conftest import make_passset

H, W = 416, 40


def _frame(h: int = H, w: int = W) -> PassSet:
    """A frame with the denoising and the raster passes, depth that changes down the frame (so
    the whole frame's median matters), a corner of sky, and a camera."""
    ps = make_passset(h, w, seed=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = (2.0 + 6.0 * yy / h + 0.5 * np.sin(xx / 5))[..., None]
    sky = (yy < h // 8) & (xx < w // 2)
    ps.add("Denoising Depth", np.where(sky[..., None], 0.0, depth), "Z")
    ps.add("Depth", np.where(sky[..., None], 1e10, depth), "Z")
    n = np.stack([np.sin(xx / 7), np.cos(yy / 11), np.ones_like(xx)], 2)
    ps.add("Normal", n / np.linalg.norm(n, axis=2, keepdims=True), "XYZ")
    ps.add("Diffuse Color", ps.get("Denoising Albedo"), "RGB", half=True)
    ps.add("Glossy Color", np.full((h, w, 3), 0.05, np.float32), "RGB", half=True)
    ps.add("Position", np.stack([xx / 50, yy / 50, depth[..., 0]], 2), "XYZ")
    m = np.eye(4)
    m[:3, 3] = [0, -8, 1]
    ps.meta["camera"] = {"matrix_world": [[1, 0, 0, 0], [0, 0, -1, -8], [0, 1, 0, 1], [0, 0, 0, 1]], "lens": 50.0,
                         "sensor_width": 36.0, "sensor_height": 24.0, "resolution": [w, h]}
    return ps


@pytest.fixture
def sky(tmp_path):
    d = equirect_directions(32, 64)
    env = (1.0 + 0.5 * d[..., :1] + 0.3 * d[..., 2:3] * np.array([1.0, 0.5, 0.2])).astype(np.float32)
    ps = PassSet(layer="", source="sky.exr")
    ps.add("Combined", env, "RGB")
    return write_exr(ps, tmp_path / "sky.exr", sidecar=False)


LIGHTS = '[{"type": "POINT", "location": [1, -2, 3], "target": [0, 0, 0], "power": 200}, {"type": "SUN", "location": [0, 0, 5], "target": [1, 1, 0], "power": 2}]'
CASES = [("denoise", "spikes", {}), ("denoise", "bilateral", {}), ("denoise", "oidn", {}), ("denoise", "neural", {}),
         ("denoise", "neural", {"model": "kpcn"}), ("cg2real", "neural", {}), ("relight", "analytic", {"hdri": "SKY"}),
         ("relight", "shadowed", {"hdri": "SKY", "lights": LIGHTS}),
         ("relight", "neural", {"hdri": "SKY", "lights": LIGHTS, "source_lighting": '{"lights": []}'})]


@pytest.mark.parametrize(("kind", "method", "params"), CASES, ids=[f"{k}-{m}-{len(p)}" for k, m, p in CASES])
def test_strips_give_the_whole_frame_result(tmp_path, monkeypatch, sky, kind, method, params):
    spec = get_op(kind, method)
    if spec.available():
        pytest.skip(spec.available())
    if params.get("model") and params["model"] not in available_models(kind):
        pytest.skip(f"no shipped {kind} model '{params['model']}'")
    params = {k: str(sky) if v == "SKY" else v for k, v in params.items()}
    # Screen-space shadows trace every n-th pixel of frames over 512 x 512: a frame with n = 2.
    h, w = (1040, 260) if method == "shadowed" else (H, W)
    src = write_exr(_frame(h, w), tmp_path / "f.exr")
    p = spec.make_params(**params)
    stream = open_exr(src)
    whole, ps = run_on_file(spec, p, src, stream)
    assert strips.STRIP_KEY not in ps.meta
    monkeypatch.setattr(strips, "STRIP_PIXELS", 0)
    monkeypatch.setattr(strips, "STRIP_CORE", 48 * w)
    monkeypatch.setattr(strips, "HALO_FACTOR", 0)
    logged = []
    split, ps = run_on_file(spec, p, src, stream, log=logged.append)
    assert strips.STRIP_KEY in ps.meta and len(logged) > 3, logged
    assert np.isfinite(split).all()
    np.testing.assert_allclose(split, whole, rtol=2e-4, atol=2e-5 * max(1.0, float(np.abs(whole).max())))


def test_frame_numbers_are_the_ops_own():
    """The numbers a strip gets from the whole frame are the ones an op measures on it."""
    ps = _frame()
    med, far = strips.depth_medians(ps.get("Denoising Depth"))
    d = ps.get("Denoising Depth")
    hit = d > 0
    assert med == pytest.approx(float(np.median(d[hit])))
    assert far == pytest.approx(float(np.median(np.where(hit, d, 1e3 * med))))
    if oidn_unavailable():
        return
    import pyoidn

    from neural_ops.core.oidn import _denoise_bounded

    c = np.ascontiguousarray(np.maximum(ps.color, 0), np.float32)
    s = strips.oidn_exposure(strips.luminance_row_sums(c, W), W)
    np.testing.assert_allclose(_denoise_bounded(c, None, None, "high", 0, s),
                               pyoidn.denoise(c, None, None, hdr=True, quality="high"), atol=1e-4)


# ---- the chunk reader and writer ---------------------------------------------------------------
@pytest.mark.parametrize("compression", [OpenEXR.NO_COMPRESSION, OpenEXR.ZIPS_COMPRESSION, OpenEXR.ZIP_COMPRESSION])
def test_chunk_reader_reads_what_the_library_reads(tmp_path, compression):
    r = np.random.default_rng(0)
    chans = {"R": r.normal(size=(37, 29)).astype(np.float32), "G": r.normal(size=(37, 29)).astype(np.float16),
             "B": np.zeros((37, 29), np.float16), "id": r.integers(0, 9, (37, 29)).astype(np.uint32)}
    path = tmp_path / "c.exr"
    with OpenEXR.File({"compression": compression, "type": OpenEXR.scanlineimage}, dict(chans)) as f:
        f.write(str(path))
    s = ExrStream(path)
    assert s.streamable, s.reason
    got = s.read_rows(["R", "G", "B", "id"], 5, 33)
    for k, v in chans.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v[5:33]), k
    assert np.array_equal(s.read_rows(["G"])["G"], chans["G"])


def test_zip_round_trip_and_raw_fallback():
    r = np.random.default_rng(1)
    for raw in (r.integers(0, 256, 1001, dtype=np.uint8), np.zeros(640, np.uint8), np.arange(7, dtype=np.uint8)):
        packed = compress(3, raw)
        assert np.array_equal(decompress(3, packed, raw.size), raw)
    noise = r.integers(0, 256, 64, dtype=np.uint8)
    assert compress(3, noise) == noise.tobytes()  # incompressible: stored raw, as OpenEXR does
    with pytest.raises(PassSetError, match="corrupt EXR chunk"):
        decompress(3, b"\x78\x9c garbage", 100, "x.exr")


def test_other_compressions_are_read_whole(tmp_path):
    img = np.random.default_rng(2).random((20, 12, 3)).astype(np.float32)
    path = tmp_path / "p.exr"
    with OpenEXR.File({"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage}, {"RGB": img}) as f:
        f.write(str(path))
    s = open_exr(path)
    assert not s.streamable and "compression" in s.reason
    ps = read_exr(path, rows=(3, 9), passes=["Combined"])
    np.testing.assert_array_equal(ps.get("Combined"), img[3:9])


def test_add_pass_copies_every_input_pass_as_stored(tmp_path):
    ps = _frame(64, 24)
    src = write_exr(ps, tmp_path / "in.exr")
    new = np.random.default_rng(3).random((64, 24, 3)).astype(np.float32)
    out = add_pass(open_exr(src), tmp_path / "out.exr", "Neural Denoised", new, meta=ps.meta)
    got = read_exr(out)
    assert list(got.passes) == [*ps.passes, "Neural Denoised"]
    for name, p in ps.passes.items():
        assert got.passes[name].half == p.half
        np.testing.assert_array_equal(got.get(name), read_exr(src).get(name))
    np.testing.assert_array_equal(got.get("Neural Denoised"), new)
    assert got.meta["camera"] == ps.meta["camera"]
    # Adding a pass of the same name replaces it; the file stays readable by OpenEXR itself.
    again = add_pass(open_exr(out), tmp_path / "again.exr", "Neural Denoised", new * 2)
    np.testing.assert_array_equal(read_exr(again).get("Neural Denoised"), new * 2)
    with OpenEXR.File(str(again), separate_channels=True) as f:
        names = [c for part in f.parts for c in part.channels]
    assert names.count("ViewLayer.Neural Denoised.R") == 1


def test_cli_output_of_a_big_frame_keeps_every_layer(tmp_path, monkeypatch):
    """In strips, the output is the input's parts copied plus the new pass (other layers too)."""
    monkeypatch.setattr(strips, "STRIP_PIXELS", 0)
    monkeypatch.setattr(strips, "STRIP_CORE", 16 * 24)
    ps = _frame(64, 24)
    hdr = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    parts = [OpenEXR.Part(dict(hdr), {f"ViewLayer.{n}.{c}": np.ascontiguousarray(p.pixels[..., k])
                                      for k, c in enumerate(p.channels)}, name=f"ViewLayer.{n}")
             for n, p in ps.passes.items()]
    parts.append(OpenEXR.Part(dict(hdr), {"Extra.Combined.R": np.ones((64, 24), np.float16)}, name="Extra.Combined"))
    src = tmp_path / "in.exr"
    with OpenEXR.File(parts) as f:
        f.write(str(src))
    out = tmp_path / "out.exr"
    assert main(["denoise", str(src), "-o", str(out), "--method", "spikes"]) == 0
    with OpenEXR.File(str(out), separate_channels=True) as f:
        names = {c for part in f.parts for c in part.channels}
    assert "Extra.Combined.R" in names and "ViewLayer.Despiked.R" in names
    whole = tmp_path / "whole.exr"
    monkeypatch.setattr(strips, "STRIP_PIXELS", 10**9)
    assert main(["denoise", str(src), "-o", str(whole), "--method", "spikes"]) == 0
    np.testing.assert_array_equal(read_exr(out).get("Despiked"), read_exr(whole).get("Despiked"))


def test_a_strip_that_cannot_fit_is_refused_before_reading(tmp_path, monkeypatch):
    src = write_exr(_frame(64, 24), tmp_path / "in.exr")
    monkeypatch.setattr("neural_ops.core.exr.available_memory", lambda: 1000)
    with pytest.raises(PassSetError, match="needs about .* GiB of memory"):
        read_exr(src, passes=["Combined"], rows=(0, 16))


def test_a_whole_frame_op_that_cannot_fit_is_refused_before_reading(tmp_path, monkeypatch):
    src = write_exr(_frame(64, 24), tmp_path / "in.exr")
    monkeypatch.setattr("neural_ops.core.exr.available_memory", lambda: 64 * 24 * 100)
    read = []
    monkeypatch.setattr("neural_ops.core.exr.ExrStream.read_rows", lambda *a, **k: read.append(1))
    with pytest.raises(PassSetError, match="Gradient illumination .* on the whole frame needs about"):
        run_on_file(get_op("relight", "gradient"), get_op("relight", "gradient").make_params(), src, open_exr(src))
    assert not read
