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
from training import datagen
from training.scene_build import build_scene
from training.scene_spec import scene_spec

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


def test_torch_dataset_crops_and_augments(tiny):
    from training.torch_data import INPUT_CHANNELS, DenoiseDataset

    ds = DenoiseDataset(tiny, spp=2, crop=16)
    item = ds[1]
    assert item["input"].shape == (INPUT_CHANNELS, 16, 16) and item["target"].shape == (3, 16, 16)
    whole = DenoiseDataset(tiny, spp=1, crop=None, augment=False)[0]
    assert whole["input"].shape == (INPUT_CHANNELS, 32, 32)


def test_malformed_sample_is_reported(tmp_path, tiny):
    import shutil

    from training.torch_data import DenoiseDataset

    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    ref = datagen.sample_dir(bad, 1) / "reference.exr"
    ref.write_bytes(ref.read_bytes()[:200])
    ds = DenoiseDataset(bad, spp=1, crop=16)
    ds[0]
    with pytest.raises(PassSetError, match=r"malformed sample .*000001.*reference\.exr"):
        ds[1]
    (datagen.sample_dir(bad, 0) / "spp0001.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000.*no such file"):
        ds[0]


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
        "from training import datagen\n"
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


def _dataset(request, kind, **kw):
    """A torch dataset of ``kind`` over the module's tiny rendered dataset."""
    from training import torch_data as td

    if kind == "denoise":
        return td.DenoiseDataset(request.getfixturevalue("tiny"), spp=1, **kw)
    if kind == "multiview":
        return td.MultiviewDataset(request.getfixturevalue("multiview").parents[1], **kw)
    cls = {"cg2real": td.Cg2RealDataset, "relight": td.RelightDataset}[kind]
    return cls(request.getfixturevalue(kind), **kw)


#: Per kind, the arrays of an item: (key, channels, radiance (exposure applies), cropped and flipped).
_LAYOUT = {
    "denoise": [("input", slice(0, 3), True, True), ("input", slice(3, None), False, True),
                ("target", slice(None), True, True)],
    "relight": [("source", slice(None), True, True), ("target", slice(None), True, True)]
    + [(k, slice(None), False, True) for k in ("albedo", "normal", "depth", "position")],
    "multiview": [(f"{w}_{k}", slice(None), k == "color", w == "target")
                  for w in ("target", "source") for k in ("color", "depth", "normal", "albedo")],
}
_LAYOUT["cg2real"] = _LAYOUT["denoise"]


def test_cg2real_dataset_items(cg2real):
    import torch

    from training.torch_data import Cg2RealDataset

    ds = Cg2RealDataset(cg2real, crop=16)
    assert len(ds) == 2 and ds.channels == (("color", 3), ("albedo", 3), ("normal", 3), ("depth", 1))
    item = ds[1]
    assert item["input"].shape == (10, 16, 16) and item["target"].shape == (3, 16, 16) and item["index"] == 1
    assert item["input"].dtype == item["target"].dtype == torch.float32
    wb = Cg2RealDataset(cg2real, raster="workbench", crop=None, augment=False)
    assert wb.channels == (("color", 3), ("depth", 1)) and wb[0]["input"].shape == (4, 32, 32)
    from neural_ops import read_exr

    d = datagen.sample_dir(cg2real, 0)
    plain = Cg2RealDataset(cg2real, crop=None, augment=False)[0]
    assert np.array_equal(plain["input"][:3].numpy(), read_exr(d / "eevee.exr").color.transpose(2, 0, 1))
    assert np.array_equal(plain["target"].numpy(), read_exr(d / "cycles.exr").color.transpose(2, 0, 1))


def test_relight_dataset_items(relight):
    import torch

    from training.torch_data import LIGHTING_DIM, RelightDataset, collate

    ds = RelightDataset(relight, crop=16)
    assert ds.lightings == 2 and len(ds) == 4  # 2 samples x ordered pairs (0, 1), (1, 0)
    assert [(ds[i]["index"], ds[i]["k"], ds[i]["j"]) for i in range(4)] == [(0, 0, 1), (0, 1, 0), (1, 0, 1), (1, 1, 0)]
    item = ds[1]
    for key, c in {"albedo": 3, "normal": 3, "depth": 1, "position": 3, "source": 3, "target": 3}.items():
        assert item[key].shape == (c, 16, 16) and item[key].dtype == torch.float32, key
    d = datagen.sample_dir(relight, 0)
    assert item["lighting"] == json.loads((d / "lighting_0.json").read_text())
    assert item["source_lighting"] == json.loads((d / "lighting_1.json").read_text())
    assert item["lighting_vec"].shape == (LIGHTING_DIM,) and not torch.equal(item["lighting_vec"], item["source_lighting_vec"])
    plain = RelightDataset(relight, crop=None, augment=False)
    a, b = plain[0], plain[1]  # the same sample lit 0 -> 1 and 1 -> 0: same G-buffer, swapped images
    assert torch.equal(a["normal"], b["normal"]) and torch.equal(a["source"], b["target"])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)))
    assert batch["target"].shape == (3, 3, 16, 16) and batch["lighting_vec"].shape == (3, LIGHTING_DIM)
    assert isinstance(batch["lighting"], list) and len(batch["lighting"]) == 3


def test_multiview_dataset_items(multiview):
    import torch

    from training.torch_data import MultiviewDataset

    tf = json.loads((multiview / "transforms.json").read_text())
    ds = MultiviewDataset(multiview.parents[1], crop=16)
    assert len(ds) == 3  # one sample, each of its 3 views the target once
    item = ds[1]
    assert item["view"] == 1 and item["index"] == 0
    for key, c in {"color": 3, "depth": 1, "normal": 3, "albedo": 3}.items():
        assert item[f"target_{key}"].shape == (c, 16, 16) and item[f"source_{key}"].shape == (2, c, 40, 40), key
        assert item[f"target_{key}"].dtype == torch.float32
    poses = np.array([f["transform_matrix"] for f in tf["frames"]], np.float32)
    assert np.array_equal(item["target_pose"].numpy(), poses[1]) and np.array_equal(item["source_pose"].numpy(), poses[[0, 2]])
    oy, ox = item["aug"]["origin"].tolist()
    assert item["target_intrinsics"].tolist() == pytest.approx([tf["fl_x"], tf["fl_y"], tf["cx"] - ox, tf["cy"] - oy, 16, 16])
    assert item["source_intrinsics"].tolist() == [pytest.approx([tf[k] for k in ("fl_x", "fl_y", "cx", "cy", "w", "h")])] * 2
    depth = np.load(multiview / tf["frames"][1]["depth_file_path"])
    plain = MultiviewDataset(multiview.parents[1], crop=None, augment=False)[1]
    assert np.allclose(plain["target_depth"][0].numpy(), depth)  # the same depth as the .npy


@pytest.mark.parametrize("kind", ["denoise", "cg2real", "relight", "multiview"])
def test_augmented_item_is_the_cropped_flipped_exposed_plain_item(request, kind):
    """Crop and flips move every array alike; exposure scales radiance only (never albedo, normal,
    depth); normals are world-space, so a flip moves them but leaves their values alone."""
    import torch

    ds = _dataset(request, kind, crop=16, seed=3)
    plain = _dataset(request, kind, crop=None, augment=False)
    flipped, gains = set(), []
    for t in range(8):
        i = t % len(ds)
        item, ref = ds[i], plain[i]
        oy, ox = item["aug"]["origin"].tolist()
        fx, fy = item["aug"]["flip"].tolist()
        gain = float(item["aug"]["gain"])
        flipped.add((fx, fy))
        gains.append(gain)
        for key, ch, radiance, moved in _LAYOUT[kind]:
            want = ref[key][..., ch, :, :]
            if moved:
                want = want[..., oy : oy + 16, ox : ox + 16]
                want = want.flip(-1) if fx else want
                want = want.flip(-2) if fy else want
            want = want * gain if radiance else want
            torch.testing.assert_close(item[key][..., ch, :, :], want, rtol=1e-6, atol=0, msg=f"{kind} {key} {ch}")
    assert max(abs(np.log2(gains))) > 0.5  # the exposure did change
    if kind != "multiview":  # multiview does not flip (the poses would be wrong)
        assert {f[0] for f in flipped} == {True, False} and {f[1] for f in flipped} == {True, False}
    else:
        assert flipped == {(False, False)}


def _cropped(path):
    """Rewrite an EXR with its passes cut to 24x24."""
    from neural_ops import read_exr, write_exr

    ps = read_exr(path)
    for p in ps.passes.values():
        p.pixels = np.ascontiguousarray(p.pixels[:24, :24])
    write_exr(ps, path, overwrite=True)


def test_malformed_samples_of_every_kind_are_reported(request, tmp_path):
    import shutil

    from training.torch_data import Cg2RealDataset, MultiviewDataset, RelightDataset

    root = tmp_path / "cg2real"
    shutil.copytree(request.getfixturevalue("cg2real"), root)
    ds = Cg2RealDataset(root, crop=16)
    _cropped(datagen.sample_dir(root, 1) / "cycles.exr")
    ds[0]
    with pytest.raises(PassSetError, match=r"malformed sample .*000001: image sizes differ: eevee\.exr 32x32, cycles\.exr 24x24"):
        ds[1]
    (datagen.sample_dir(root, 0) / "cycles.exr").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*cycles\.exr: no such file"):
        ds[0]

    root = tmp_path / "relight"
    shutil.copytree(request.getfixturevalue("relight"), root)
    ds = RelightDataset(root, crop=16)
    (datagen.sample_dir(root, 1) / "lit_1.exr").unlink()
    (datagen.sample_dir(root, 0) / "lighting_1.json").write_text("{not json")
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*lighting_1\.json: unreadable JSON"):
        ds[0]
    with pytest.raises(PassSetError, match=r"malformed sample .*000001: .*lit_1\.exr: no such file"):
        ds[2]

    root = tmp_path / "multiview"
    shutil.copytree(request.getfixturevalue("multiview").parents[1], root)
    ds = MultiviewDataset(root)
    exr = datagen.sample_dir(root, 0) / "r_002.exr"
    exr.write_bytes(exr.read_bytes()[:300])
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*r_002\.exr: unreadable EXR"):
        ds[0]  # target view 0; the broken file is one of its sources
    (datagen.sample_dir(root, 0) / "transforms.json").unlink()
    with pytest.raises(PassSetError, match=r"malformed sample .*000000: .*transforms\.json: no such file"):
        MultiviewDataset(root)


@pytest.mark.parametrize("kind", ["denoise", "relight"])
def test_loader_workers_draw_different_augmentations(request, kind):
    """Every worker gets its own generator: the same index in two workers is augmented differently;
    without workers, and with a seeded loader, the draws are reproducible."""
    import torch

    def draws(ds, workers, generator=None):
        loader = torch.utils.data.DataLoader(ds, batch_size=1, sampler=[0] * 4, num_workers=workers,
                                             generator=generator)
        return [(b["aug"]["origin"].tolist(), b["aug"]["gain"].item(), b["target"]) for b in loader]

    ds = _dataset(request, kind, crop=16, seed=5)
    a = draws(ds, 2, torch.Generator().manual_seed(0))
    # batches 0 and 2 come from worker 0, 1 and 3 from worker 1: their first draws must differ
    assert a[0][:2] != a[1][:2] and not torch.equal(a[0][2], a[1][2])
    assert len({(str(o), g) for o, g, _ in a}) == 4
    b = draws(_dataset(request, kind, crop=16, seed=5), 2, torch.Generator().manual_seed(0))
    assert [x[:2] for x in a] == [x[:2] for x in b]  # a seeded loader replays its augmentations
    solo = [draws(_dataset(request, kind, crop=16, seed=5), 0) for _ in range(2)]
    assert [x[:2] for x in solo[0]] == [x[:2] for x in solo[1]]  # no workers: a function of `seed`
    assert len({(str(o), g) for o, g, _ in solo[0]}) == 4  # ... and a stream, not one draw per index


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
    from training.torch_data import DenoiseDataset

    cfg = datagen.DataConfig(kind="denoise", out=str(tmp_path), scenes=1, resolution=24, spp=[1], ref_spp=1,
                             target="noise2noise")
    datagen.generate(cfg, progress=lambda m: None)
    d = datagen.sample_dir(tmp_path, 0)
    assert (d / "n2n_target.exr").exists() and not (d / "reference.exr").exists()
    item = DenoiseDataset(tmp_path, spp=1, crop=None, augment=False, target="noise2noise")[0]
    assert not np.array_equal(item["input"][:3].numpy(), item["target"].numpy())  # independent noise


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
    from training.scene_spec import scene_spec

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
