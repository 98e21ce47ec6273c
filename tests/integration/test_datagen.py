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


def test_relight_and_cg2real_samples(tmp_path):
    datagen.generate(datagen.DataConfig(kind="relight", out=str(tmp_path / "r"), scenes=1, resolution=24, spp=[1],
                                        ref_spp=2, lightings=2), progress=lambda m: None)
    d = datagen.sample_dir(tmp_path / "r", 0)
    from neural_ops import read_exr

    lit = [read_exr(d / f"lit_{k}.exr") for k in range(2)]
    assert all({"Denoising Albedo", "Normal", "Position", "Depth"} <= set(p.passes) for p in lit)
    assert np.array_equal(lit[0].get("Normal"), lit[1].get("Normal"))  # same geometry and camera
    desc = [json.loads((d / f"lighting_{k}.json").read_text()) for k in range(2)]
    assert desc[0] != desc[1] and Path(desc[1]["hdri_path"]).is_file()
    assert {"hdri", "rotation", "strength"} <= set(desc[1]["world"])
    for li in desc[1]["lights"]:
        assert {"type", "location", "color", "power"} <= set(li)

    datagen.generate(datagen.DataConfig(kind="cg2real", out=str(tmp_path / "c"), scenes=1, resolution=24, spp=[1],
                                        ref_spp=2), progress=lambda m: None)
    d = datagen.sample_dir(tmp_path / "c", 0)
    ee, cy = read_exr(d / "eevee.exr"), read_exr(d / "cycles.exr")
    assert ee.meta["engine"] == "BLENDER_EEVEE" and cy.meta["engine"] == "CYCLES"
    assert {"Normal", "Depth", "Diffuse Color"} <= set(ee.passes)
    assert (d / "workbench.exr").exists()


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
