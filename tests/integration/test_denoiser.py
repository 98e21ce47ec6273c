"""The learned denoiser on real renders: shipped weights, training and resume, evaluation."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neural_ops import get_op, read_exr
from neural_ops.core.metrics import psnr, relmse
from training.datagen import generate as datagen

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "neural_ops", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)


@pytest.fixture(scope="module")
def small_render(tmp_path_factory):
    """The bundled scene at 96x96: 4 spp with every pass, and a 256 spp reference."""
    import bpy

    from addon.blender import batch, scenes

    out = tmp_path_factory.mktemp("render")
    scenes.build_default_scene((96, 96))
    blend = out / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    batch.export_blend(blend, out / "noisy", spp=4, overwrite=True, seed=1)
    batch.export_blend(blend, out / "ref", spp=256, overwrite=True, seed=2)
    return read_exr(out / "noisy" / "frame_0001.exr"), read_exr(out / "ref" / "frame_0001.exr").color


def test_shipped_weights_beat_the_noisy_input(small_render):
    ps, ref = small_render
    out = get_op("denoise", "neural")(ps)
    assert out.shape == (*ps.shape, 3) and np.isfinite(out).all()
    assert relmse(out, ref) < 0.5 * relmse(ps.color, ref)
    assert psnr(out, ref) > psnr(ps.color, ref) + 5.0


def test_light_components_add_up_and_per_aov_denoising_works(small_render):
    from neural_ops.denoise.learned import light_components

    ps, ref = small_render
    comp = light_components(ps)
    assert np.abs(sum(comp.values()) - ps.color).max() < 1e-5
    assert comp["glossy"].mean() > 0.01 and comp["diffuse"].mean() > 0.01  # both really present
    out = get_op("denoise", "neural")(ps, per_aov=True)
    assert np.isfinite(out).all() and relmse(out, ref) < 0.5 * relmse(ps.color, ref)
    bare = ps.copy()
    del bare.passes["Glossy Color"]
    with pytest.raises(Exception, match="needs the pass"):
        get_op("denoise", "neural")(bare, per_aov=True)


def test_cli_uses_the_learned_model_by_default(small_render, tmp_path):
    from neural_ops import write_exr

    ps, _ = small_render
    src = write_exr(ps, tmp_path / "in.exr")
    r = _cli("denoise", src, "-o", tmp_path / "out.exr")
    assert r.returncode == 0, r.stderr
    res = read_exr(tmp_path / "out.exr")
    assert set(ps.passes) < set(res.passes)  # every input pass kept
    assert np.allclose(res.get("Neural Denoised"), get_op("denoise", "neural")(ps), rtol=1e-3, atol=1e-3)  # written as float16


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    cfg = datagen.DataConfig(kind="denoise", out=str(out), scenes=3, resolution=32, spp=[1, 4], ref_spp=16)
    datagen.generate(cfg, progress=lambda m: None)
    return out


def test_train_resumes_exports_a_card_and_evaluates(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    args = ["train", "denoise", "--data", tiny_dataset, "-o", run, "--val-count", "1", "--batch", "2",
            "--crop", "32", "--spp", "1,4", "--channels", "8,8,8"]
    r = _cli(*args, "--steps", "3")
    assert r.returncode == 0, r.stderr
    assert (run / "checkpoint.pt").exists() and (run / "model.safetensors").exists()
    r = _cli(*args, "--steps", "5")
    assert r.returncode == 0, r.stderr
    assert "resumed at step 3" in r.stdout
    card = json.loads((run / "model.json").read_text())
    assert card["train"]["steps"] == 5 and card["data"]["train_samples"] == 2
    assert card["config"]["channels"] == [8, 8, 8] and "train denoise" in card["command"]
    assert len((run / "log.jsonl").read_text().splitlines()) >= 1

    # Fine-tuning starts from given weights; a different architecture is refused clearly.
    r = _cli(*args[:-2], "--channels", "8,8,16", "--init", run / "model.safetensors", "--steps", "1", "-o", tmp_path / "ft")
    assert r.returncode == 2 and "differs from this run" in r.stderr

    r = _cli("eval", "denoise", "--data", tiny_dataset, "--spp", "4", "--model", f"tiny={run / 'model.safetensors'}",
             "-o", tmp_path / "eval")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert set(res["spp"]["4"]["mean"]) == {"noisy", "bilateral", "oidn", "tiny"}
    assert (tmp_path / "eval" / "grid_spp0004.png").exists()
    assert "Per scene, 4 spp" in (tmp_path / "eval" / "eval.md").read_text()
    assert len(res["spp"]["4"]["per_sample"]["tiny"]["energy"]) == res["samples"]


def test_train_refuses_a_folder_without_samples(tmp_path):
    r = _cli("train", "denoise", "--data", tmp_path, "-o", tmp_path / "run")
    assert r.returncode == 2 and "not a dataset folder" in r.stderr


def test_data_parallel_training_on_two_cpu_processes(tiny_dataset, tmp_path):
    """torchrun with two processes (gloo): one run folder, process 0 writes it, the card says 2."""
    run = tmp_path / "ddp"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "neural_ops", "train", "denoise", "--data", str(tiny_dataset), "-o", str(run),
                        "--val-count", "1", "--batch", "2", "--crop", "32", "--spp", "1,4", "--channels", "8,8,8",
                        "--head", "convex", "--base", "oidn", "--half-res", "--steps", "4", "--val-every", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es) on cpu (gloo" in r.stdout and r.stdout.count("exported") == 1
    card = json.loads((run / "model.json").read_text())
    assert card["train"]["processes"] == 2 and card["train"]["steps"] == 4 and card["config"]["head"] == "convex"


def test_pipeline_trains_the_convex_model_and_resumes(tiny_dataset, tmp_path):
    import shutil

    out = tmp_path / "pipe"
    shutil.copytree(tiny_dataset, out / "data")
    args = ["pipeline", "denoise", "-o", out, "--scenes", "20", "--skip-render", "--hours", "0.0005",
            "--channels", "8,8,8", "--spp", "1,4", "--held-out", tiny_dataset]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((out / "run" / "model.json").read_text())
    assert card["config"]["head"] == "convex" and card["config"]["half_res"] and card["train"]["loss"] == "l1log"
    res = json.loads((out / "eval" / "eval.json").read_text())
    assert {"convex", "shipped", "oidn"} <= set(res["spp"]["4"]["mean"])
    r = _cli(*args)  # again: resumes, the time budget already spent
    assert r.returncode == 0 and "resumed at step" in r.stdout, r.stderr[-2000:]
