"""Tiny datasets rendered with the real bpy: generation, loading, resume after SIGKILL, errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bpy
import numpy as np
import pytest

from neural_ops import PassSetError
from training.datagen import generate as datagen
from training.scenes.build import build_scene
from training.scenes.spec import scene_spec

ROOT = Path(__file__).resolve().parents[2]


def _cfg(out, scenes=2, **kw):
    return datagen.DataConfig(kind="denoise", out=str(out), scenes=scenes, resolution=32, spp=[1, 2], ref_spp=8, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    datagen.generate(_cfg(out), progress=lambda m: None)
    return out


def test_generate_writes_complete_samples_and_card(tiny):
    for i in range(2):
        d = datagen.sample_dir(tiny, i)
        assert {p.name for p in d.iterdir()} >= {"scene.json", "sample.json", "spp0001.exr", "spp0002.exr", "reference.exr"}
        assert json.loads((d / "scene.json").read_text()) == scene_spec(datagen.sample_seed(0, i))
        assert json.loads((d / "spp0002.json").read_text())["spp"] == 2
    man = json.loads((tiny / "manifest.json").read_text())
    assert man["count"] == 2 and man["seconds_per_sample"] > 0 and man["bytes_per_sample"] > 0
    assert "samples: 2 of 2" in (tiny / "DATACARD.md").read_text()


def test_inputs_are_independent_noise(tiny):
    from neural_ops import read_exr

    d = datagen.sample_dir(tiny, 0)
    a, b, r = (read_exr(d / n).color for n in ("spp0001.exr", "spp0002.exr", "reference.exr"))
    assert not np.array_equal(a, b)
    assert np.abs(b - r).mean() < np.abs(a - r).mean()  # more samples, closer to the reference


def test_denoise_loader_reads_the_rendered_samples(tiny):
    """The trainer's loader on a rendered dataset: the inputs inference builds from the same file
    (13 channels, as the shipped model reads), crops of them, the reference as target."""
    from neural_ops import read_exr
    from neural_ops.denoise.inputs import RAW_CHANNELS, raw_inputs
    from training.denoise.data import PairStore, make_batch, read_sample

    store = PairStore(tiny, [0, 1], [1, 2], "noisy", log=None)
    assert len(store) == 4 and store.raw[0].shape == (32, 32, RAW_CHANNELS) == (32, 32, 13)
    d = datagen.sample_dir(tiny, 1)
    np.testing.assert_array_equal(store.raw[3], raw_inputs(read_exr(d / "spp0002.exr")))
    np.testing.assert_array_equal(store.target[3], read_exr(d / "reference.exr").color)
    x, y = make_batch(store, np.random.default_rng(0), 3, 16)
    assert x.shape == (3, RAW_CHANNELS, 16, 16) and y.shape == (3, 3, 16, 16)
    ps, ref = read_sample(tiny, 0, 2)
    assert ps.shape == (32, 32) and ref.shape == (32, 32, 3)


def test_malformed_sample_is_reported(tmp_path, tiny):
    import shutil

    from training.denoise.data import PairStore

    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    ref = datagen.sample_dir(bad, 1) / "reference.exr"
    ref.write_bytes(ref.read_bytes()[:200])
    PairStore(bad, [0], [1], "noisy", log=None)
    with pytest.raises(PassSetError, match=r"malformed sample .*000001.*reference\.exr"):
        PairStore(bad, [0, 1], [1], "noisy", log=None)
    (datagen.sample_dir(bad, 0) / "spp0001.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000.*no such file"):
        PairStore(bad, [0], [1], "noisy", log=None)


def test_same_seed_builds_the_same_scene(tmp_path):
    spec = scene_spec(7)

    def snapshot():
        build_scene(spec, tmp_path / "tex", (32, 32))
        return sorted((o.name, tuple(round(v, 5) for v in o.matrix_world.translation)) for o in bpy.data.objects)

    assert snapshot() == snapshot()


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "ds"
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from training.datagen import generate as datagen\n"
        f"datagen.generate(datagen.DataConfig(kind='denoise', out={str(out)!r}, scenes=4, resolution=32, spp=[1], ref_spp=64), progress=print)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "samples").glob("[0-9]*")):
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = sorted(d.name for d in (out / "samples").glob("[0-9]*"))
    assert done and len(done) < 4, "the kill should land mid-run"
    for name in done:  # finished samples are whole
        assert (out / "samples" / name / "sample.json").exists()
    mtimes = {n: (out / "samples" / n / "sample.json").stat().st_mtime for n in done}
    cfg = datagen.DataConfig(kind="denoise", out=str(out), scenes=4, resolution=32, spp=[1], ref_spp=64)
    records = datagen.generate(cfg, progress=lambda m: None)
    assert len(records) == 4 - len(done)  # only the missing ones were rendered
    assert sorted(d.name for d in (out / "samples").glob("[0-9]*")) == [f"{i:06d}" for i in range(4)]
    assert not list((out / "samples").glob(".*"))  # the killed run's temporary folder is gone
    for n, t in mtimes.items():
        assert (out / "samples" / n / "sample.json").stat().st_mtime == t


def test_shards_partition_the_samples(tmp_path):
    for shard in ((0, 2), (1, 2)):
        datagen.generate(datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=3, resolution=24, spp=[1],
                                            ref_spp=2, shard=shard), progress=lambda m: None)
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["index"] for s in man["samples"]] == [0, 1, 2]


@pytest.fixture(scope="module")
def multiview(tmp_path_factory):
    out = tmp_path_factory.mktemp("mv")
    datagen.generate(datagen.DataConfig(kind="multiview", out=str(out), scenes=1, resolution=40, spp=[1], ref_spp=2, views=3),
                     progress=lambda m: None)
    return datagen.sample_dir(out, 0)


def test_multiview_transforms_project_world_points_to_their_pixels(multiview):
    from neural_ops import read_exr

    tf = json.loads((multiview / "transforms.json").read_text())
    assert {"camera_angle_x", "fl_x", "fl_y", "cx", "cy", "w", "h", "frames"} <= set(tf)
    assert len(tf["frames"]) == 3
    for fr in tf["frames"]:
        assert (multiview / fr["file_path"]).suffix == ".png" and (multiview / fr["file_path"]).exists()
        assert np.load(multiview / fr["depth_file_path"]).shape == (40, 40)
        c2w = np.array(fr["transform_matrix"])
        pos = read_exr(multiview / fr["exr_file_path"]).position
        depth = read_exr(multiview / fr["exr_file_path"]).get("Depth")[..., 0]
        hits = np.argwhere(depth < 1e9)
        for v, u in hits[:: max(1, len(hits) // 25)]:
            p = np.linalg.inv(c2w) @ np.append(pos[v, u], 1.0)  # camera space: looks down -Z, +Y up
            uu = tf["cx"] + tf["fl_x"] * p[0] / -p[2]
            vv = tf["cy"] - tf["fl_y"] * p[1] / -p[2]
            assert abs(uu - (u + 0.5)) < 0.75 and abs(vv - (v + 0.5)) < 0.75


def _small(tmp_path_factory, kind, **kw):
    """Two samples of ``kind`` at the smallest settings the datasets need."""
    out = tmp_path_factory.mktemp(kind)
    datagen.generate(datagen.DataConfig(kind=kind, out=str(out), scenes=2, resolution=32, spp=[1], ref_spp=4, **kw),
                     progress=lambda m: None)
    return out


@pytest.fixture(scope="module")
def relight(tmp_path_factory):
    return _small(tmp_path_factory, "relight", lightings=2)


@pytest.fixture(scope="module")
def cg2real(tmp_path_factory):
    return _small(tmp_path_factory, "cg2real")


def test_relight_and_cg2real_samples(relight, cg2real):
    d = datagen.sample_dir(relight, 0)
    from neural_ops import read_exr

    lit = [read_exr(d / f"lit_{k}.exr") for k in range(2)]
    assert all({"Denoising Albedo", "Normal", "Position", "Depth"} <= set(p.passes) for p in lit)
    assert np.array_equal(lit[0].get("Normal"), lit[1].get("Normal"))  # same geometry and camera
    desc = [json.loads((d / f"lighting_{k}.json").read_text()) for k in range(2)]
    assert desc[0] != desc[1] and Path(desc[1]["hdri_path"]).is_file()
    assert {"hdri", "rotation", "strength"} <= set(desc[1]["world"])
    for li in desc[1]["lights"]:
        assert {"type", "location", "color", "power"} <= set(li)

    d = datagen.sample_dir(cg2real, 0)
    ee, cy = read_exr(d / "eevee.exr"), read_exr(d / "cycles.exr")
    assert ee.meta["engine"] == "BLENDER_EEVEE" and cy.meta["engine"] == "CYCLES"
    assert {"Normal", "Depth", "Diffuse Color"} <= set(ee.passes)
    assert (d / "workbench.exr").exists()


def test_cg2real_loader(cg2real):
    import torch

    from neural_ops import read_exr
    from neural_ops.cg2real.network import RAW_CHANNELS, Cg2RealConfig, Cg2RealNet, raw_inputs
    from training.cg2real.data import PairStore, load_albedo, make_batch

    store = PairStore(cg2real, [0, 1], log=None)
    assert len(store) == 2 and store.raw[1].shape == (32, 32, RAW_CHANNELS) and store.target[1].shape == (32, 32, 3)
    np.testing.assert_array_equal(store.raw[0], raw_inputs(read_exr(datagen.sample_dir(cg2real, 0) / "eevee.exr")))
    x, y, t = make_batch(store, np.random.default_rng(0), 2, 16, permute=True)
    assert x.shape == (2, RAW_CHANNELS, 16, 16) and y.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    net = Cg2RealNet(Cg2RealConfig(channels=[8, 12, 16], context=True))
    assert net(x, net.context_of(t)).shape == (2, 3, 16, 16)
    assert [a.shape for a in load_albedo(str(cg2real))] == [(32, 32, 3)] * 2


def test_relight_loader_builds_what_inference_builds(relight):
    import json

    from neural_ops import read_exr
    from neural_ops.core.lighting import parse_lighting
    from neural_ops.relight.network import CODE_DIM, RAW_CHANNELS, RelightConfig
    from neural_ops.relight.op import network_inputs
    from training.relight.data import SampleStore, clean, make_batch, with_color
    from training.relight.train import RelightTrainConfig

    store = SampleStore(relight, [0, 1], log=None)
    raw, y, code = store.pair(store.samples[0], 0, 1, True)
    assert raw.shape == (32, 32, RAW_CHANNELS) and y.shape == (32, 32, 3) and code.shape == (CODE_DIM,)
    d = datagen.sample_dir(relight, 0)
    src_ps = read_exr(d / "lit_0.exr")
    light = [parse_lighting(json.loads((d / f"lighting_{k}.json").read_text())) for k in range(2)]
    # What the relight op feeds the network for the (OIDN-cleaned) frame under lighting 0.
    want = network_inputs(with_color(src_ps, clean(src_ps)), light[1], light[0])
    np.testing.assert_allclose(raw, want, rtol=1e-4, atol=1e-5)
    cfg = RelightTrainConfig(data=str(relight), out="", model=RelightConfig(channels=[8, 12, 16]), batch=2, crop=16,
                             exposure=1.0)
    x, y, code, thumbs = make_batch(store, np.random.default_rng(0), cfg)
    assert x.shape == (2, RAW_CHANNELS, 16, 16) and code.shape == (2, CODE_DIM) and thumbs is None


def test_multiview_loader(multiview):
    from neural_ops.novel_view.network import SHARED_CHANNELS, SLOT_CHANNELS, BlendConfig
    from training.novel_view.data import ExampleStore, make_batch
    from training.novel_view.train import NovelViewTrainConfig

    cfg = NovelViewTrainConfig(data=str(multiview.parents[1]), out="", model=BlendConfig(k=2), batch=2, crop=16,
                         depth="gbuffer", denoise=False, temporal_share=1.0)
    store = ExampleStore(multiview.parents[1], [0], cfg, train=True, log=None)
    assert [ex.key for ex in store.examples] == [(0, 0), (0, 1), (0, 2)] and store.jittered == [0, 1, 2]
    assert store.examples[1].slots.shape == (2, SLOT_CHANNELS, 40, 40) and store.examples[1].target.shape == (3, 40, 40)
    b = make_batch(store, np.random.default_rng(0), cfg)
    assert b["slots"].shape == (2 + 2 * cfg.temporal_batch, 2, SLOT_CHANNELS, 16, 16)
    assert b["shared"].shape[1] == SHARED_CHANNELS and b["target"].shape == (2 + cfg.temporal_batch, 3, 16, 16)


def _cropped(path):
    """Rewrite an EXR with its passes cut to 24x24."""
    from neural_ops import read_exr, write_exr

    ps = read_exr(path)
    for p in ps.passes.values():
        p.pixels = np.ascontiguousarray(p.pixels[:24, :24])
    write_exr(ps, path, overwrite=True)


def test_malformed_samples_of_every_kind_are_reported(request, tmp_path):
    import shutil

    from training.cg2real.data import load_pair
    from training.novel_view.data import ExampleStore
    from training.novel_view.train import NovelViewTrainConfig
    from training.relight.data import SampleStore

    root = tmp_path / "cg2real"
    shutil.copytree(request.getfixturevalue("cg2real"), root)
    _cropped(datagen.sample_dir(root, 1) / "cycles.exr")
    load_pair(datagen.sample_dir(root, 0))
    with pytest.raises(PassSetError, match=r"malformed sample .*000001: eevee\.exr is \(32, 32\), cycles\.exr is \(24, 24\)"):
        load_pair(datagen.sample_dir(root, 1))
    (datagen.sample_dir(root, 0) / "cycles.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*cycles\.exr: no such file"):
        load_pair(datagen.sample_dir(root, 0))

    root = tmp_path / "relight"
    shutil.copytree(request.getfixturevalue("relight"), root)
    (datagen.sample_dir(root, 1) / "lit_1.exr").unlink()
    (datagen.sample_dir(root, 0) / "lighting_1.json").write_text("{not json")
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*"):
        SampleStore(root, [0], log=None)
    with pytest.raises(PassSetError, match=r"malformed sample .*000001: .*lit_1\.exr: no such file"):
        SampleStore(root, [1], log=None)

    root = tmp_path / "multiview"
    shutil.copytree(request.getfixturevalue("multiview").parents[1], root)
    cfg = NovelViewTrainConfig(data=str(root), out="", denoise=False)
    exr = datagen.sample_dir(root, 0) / "r_002.exr"
    exr.write_bytes(exr.read_bytes()[:300])
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*r_002\.exr: (unreadable|corrupt|truncated)"):
        ExampleStore(root, [0], cfg, train=False, log=None)
    (datagen.sample_dir(root, 0) / "transforms.json").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000"):
        ExampleStore(root, [0], cfg, train=False, log=None)


def test_dataset_from_user_blend(tmp_path, blend):
    from neural_ops.cli import main

    args = ["data", "denoise", "--from", str(blend), "--scenes", "2", "--resolution", "24", "--spp", "1",
            "--ref-spp", "2"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    specs = [json.loads((datagen.sample_dir(tmp_path / "a", i) / "scene.json").read_text()) for i in range(2)]
    assert specs[0]["from"] == str(blend) and specs[0]["camera"] != specs[1]["camera"]
    assert main([*args, "-o", str(tmp_path / "b"), "--scenes", "1"]) == 0
    again = json.loads((datagen.sample_dir(tmp_path / "b", 0) / "scene.json").read_text())
    assert again == specs[0]  # same seed, same variation
    assert main([*args[:2], "--from", str(tmp_path / "none.blend"), *args[4:], "-o", str(tmp_path / "c")]) == 2


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real local Ray cluster (head node on loopback), stopped afterwards."""
    import socket

    ray_bin = Path(sys.executable).parent / "ray"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path_factory.mktemp("ray")
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    subprocess.run([str(ray_bin), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp}"],
                   check=True, capture_output=True, env=env, timeout=180)
    yield f"127.0.0.1:{port}"
    subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_ray_executor_on_local_cluster(tmp_path, ray_cluster):
    cfg = datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=2, resolution=24, spp=[1], ref_spp=2,
                             executor="ray", address=ray_cluster)
    records = datagen.generate(cfg, progress=lambda m: None)
    assert sorted(r["index"] for r in records) == [0, 1]
    assert json.loads((tmp_path / "manifest.json").read_text())["count"] == 2
    # The same samples as a local run: scene descriptions depend on the seed only.
    spec = json.loads((datagen.sample_dir(tmp_path, 1) / "scene.json").read_text())
    assert spec == scene_spec(datagen.sample_seed(0, 1))


def test_noise2noise_targets(tmp_path):
    from training.denoise.data import PairStore

    cfg = datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=1, resolution=24, spp=[1], ref_spp=1,
                             target="noise2noise")
    datagen.generate(cfg, progress=lambda m: None)
    d = datagen.sample_dir(tmp_path, 0)
    assert (d / "n2n_target.exr").exists() and not (d / "reference.exr").exists()
    store = PairStore(tmp_path, [0], [1], "noisy", target="noise2noise", log=None)
    assert not np.array_equal(store.raw[0][..., :3], store.target[0])  # independent noise


def _done_sample(out, index=0):
    """A finished sample record without rendering: enough for the manifest and for skipping."""
    d = datagen.sample_dir(out, index)
    d.mkdir(parents=True)
    (d / "sample.json").write_text(json.dumps({"index": index, "seed": 1, "seconds": 1.0}))


def test_generate_removes_only_stale_temp_folders(tmp_path):
    host = datagen._host()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now
    _done_sample(tmp_path)  # nothing to render: generate only cleans up and writes the manifest
    samples = tmp_path / "samples"
    old = time.time() - datagen.STALE_TMP_SECONDS - 60
    tmps = {
        "live": samples / f".000001.tmp-{host}-{os.getpid()}",
        "dead": samples / f".000002.tmp-{host}-{dead.pid}",
        "foreign": samples / ".000003.tmp-other-host-1",
        "foreign_old": samples / ".000004.tmp-other-host-1",
        "legacy_old": samples / ".000005.tmp-1",  # old naming, host unknown
    }
    for d in tmps.values():
        d.mkdir()
        (d / "spp0001.exr").write_bytes(b"partial")
    for name in ("foreign_old", "legacy_old"):
        for p in (tmps[name] / "spp0001.exr", tmps[name]):
            os.utime(p, (old, old))
    datagen.generate(datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=1), progress=lambda m: None)
    assert {k for k, d in tmps.items() if d.exists()} == {"live", "foreign"}
    assert datagen.tmp_name(12) == f".000012.tmp-{host}-{os.getpid()}"


def test_manifest_is_replaced_atomically(tmp_path, monkeypatch):
    _done_sample(tmp_path)
    cfg = datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=2)
    datagen.write_manifest(cfg)
    before = {n: (tmp_path / n).read_text() for n in ("manifest.json", "DATACARD.md")}
    assert json.loads(before["manifest.json"])["count"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DATACARD.md", "manifest.json", "samples"]

    _done_sample(tmp_path, 1)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(datagen.os, "replace", crash)  # a writer dying before its rename
    with pytest.raises(OSError, match="disk full"):
        datagen.write_manifest(cfg)
    assert {n: (tmp_path / n).read_text() for n in before} == before  # the old files, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DATACARD.md", "manifest.json", "samples"]


def _stream(tty: bool):
    """A text stream that says whether it is a terminal (imports kept local: this file's top is shared)."""
    import io

    class Stream(io.StringIO):
        def isatty(self):
            return tty

    return Stream()


def test_progress_bar_on_a_terminal_lines_in_a_log(tmp_path, monkeypatch):
    import re

    def fake_worker(args):
        cfg, index = args
        if index == 1:
            return {"index": index, "error": "RuntimeError: boom"}
        return {"index": index, "seconds": 0.5}

    monkeypatch.setattr(datagen, "_worker", fake_worker)

    def run(out, progress):
        with pytest.raises(datagen.NeuralRenderError, match="1 sample"):
            datagen.generate(datagen.DataConfig(kind="denoise", out=str(out), scenes=3), progress=progress)

    tty = _stream(True)
    run(tmp_path / "a", datagen.ConsoleProgress(tty))
    text = tty.getvalue()
    assert text.startswith("denoise: 3 samples in shard 0/1, 0 done, 3 to render\n")
    assert text.count("\r") >= 4 and text.endswith("\n")  # bar redrawn in place, line ended
    assert "sample 000001 failed: RuntimeError: boom\n" in text
    final = text.rstrip("\n").rsplit("\r\x1b[K", 1)[1]
    assert re.fullmatch(r"\[#+\] 3/3 \| [\d.]+/(s|min|h) \| ETA 0:00", final)
    assert "[1/3]" not in text

    log = _stream(False)
    run(tmp_path / "b", datagen.ConsoleProgress(log))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4
    assert lines[1].startswith("[1/3] sample 000000 0.5 s | elapsed") and "ETA" in lines[1]
    assert "sample 000001 failed: RuntimeError: boom" in lines[2]

    calls = []  # a plain callable still gets one line per sample
    run(tmp_path / "c", calls.append)
    assert len(calls) == 4 and calls[3].startswith("[3/3] sample 000002")


def test_worker_processes_render_the_same_samples(tmp_path):
    def cfg(out, workers):
        return datagen.DataConfig(kind="denoise", out=str(out), scenes=2, resolution=32, spp=[1], ref_spp=4,
                                  workers=workers)

    records = datagen.generate(cfg(tmp_path / "pool", 2), progress=lambda m: None)
    assert sorted(r["index"] for r in records) == [0, 1]
    datagen.generate(cfg(tmp_path / "one", 1), progress=lambda m: None)
    for i in range(2):
        d = datagen.sample_dir(tmp_path / "pool", i)
        assert {p.name for p in d.iterdir()} >= {"scene.json", "sample.json", "spp0001.exr", "reference.exr"}
        spec = json.loads((d / "scene.json").read_text())
        assert spec == json.loads((datagen.sample_dir(tmp_path / "one", i) / "scene.json").read_text())
        assert spec == scene_spec(datagen.sample_seed(0, i))
    assert not list((tmp_path / "pool" / "samples").glob(".*"))
    assert json.loads((tmp_path / "pool" / "manifest.json").read_text())["count"] == 2


def test_cli_bad_spp_is_a_one_line_error(tmp_path, capsys):
    from neural_ops.cli import main

    assert main(["data", "denoise", "-o", str(tmp_path), "--scenes", "1", "--spp", "1,x"]) == 2
    err = capsys.readouterr().err
    assert err == "error: bad --spp '1,x': 'x' is not a positive integer (use e.g. 1,4,16)\n"
    assert main(["data", "denoise", "-o", str(tmp_path), "--scenes", "1", "--spp", "4,0"]) == 2
    assert "'0' is not a positive integer" in capsys.readouterr().err
    assert datagen.parse_spp(" 1, 4,16") == [1, 4, 16]
    assert not (tmp_path / "samples").exists()


def test_redo_stale_rerenders_samples_the_generator_now_builds_differently(tmp_path):
    from training.scenes.spec import scene_spec

    out = tmp_path / "ds"
    datagen.generate(_cfg(out, scenes=2), progress=lambda m: None)
    assert datagen.stale_samples(out) == []
    p = datagen.sample_dir(out, 1) / "scene.json"
    spec = json.loads(p.read_text())
    spec["camera"]["location"] = [0.0, 0.0, 0.5]  # as an older generator might have placed it
    p.write_text(json.dumps(spec))
    assert datagen.stale_samples(out) == [1]
    before = (datagen.sample_dir(out, 0) / "sample.json").stat().st_mtime_ns
    msgs = []
    datagen.generate(_cfg(out, scenes=2, redo_stale=True), progress=msgs.append)
    assert any("re-rendering sample 000001" in m for m in msgs)
    assert json.loads(p.read_text()) == scene_spec(spec["seed"]) and datagen.stale_samples(out) == []
    assert (datagen.sample_dir(out, 0) / "sample.json").stat().st_mtime_ns == before  # the good one is kept


def test_scene_families_render(tmp_path):
    """A closed room lit through its window and a textured (bump-mapped) scene render with light
    in them; the family is recorded in each scene.json."""
    from neural_ops import read_exr

    out = tmp_path / "fam"
    datagen.generate(datagen.DataConfig(kind="denoise", out=str(out), scenes=2, resolution=32, spp=[1], ref_spp=16,
                                        families=["window,textured"]), progress=lambda *a: None)
    for i, fam in enumerate(("window", "textured")):
        d = datagen.sample_dir(out, i)
        spec = json.loads((d / "scene.json").read_text())
        assert spec["family"] == fam and spec == scene_spec(datagen.sample_seed(0, i), fam)
        ref = read_exr(d / "reference.exr").color
        assert np.isfinite(ref).all() and ref.mean() > 1e-3, fam
    assert not datagen.stale_samples(out)
