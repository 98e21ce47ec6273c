"""Temporal mode on a real camera move: Blender's Vector pass convention, CLI sequences."""

import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

from neural_ops import read_exr
from neural_ops.core.sampling import bilinear
from neural_ops.denoise.temporal import previous_coords

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def move(tmp_path_factory):
    """Three frames of the default scene, the camera moving right and up, 2 spp."""
    from addon.blender import batch, scenes

    out = tmp_path_factory.mktemp("move")
    scene = scenes.build_default_scene((64, 48))
    cam = scene.camera
    start = cam.location.copy()
    for f, k in ((1, 0.0), (3, 1.0)):
        cam.location = start
        cam.location.x += 0.3 * k
        cam.location.z += 0.2 * k
        cam.keyframe_insert("location", frame=f)
    scene.frame_end = 3
    blend = out / "move.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    batch.export_blend(blend, out / "frames", spp=2, frames=[1, 2, 3], overwrite=True)
    return sorted((out / "frames").glob("frame_*.exr"))


def _warp_error(prev, cur, vector):
    x, y = previous_coords(vector)
    warped, inside = bilinear(prev.albedo, x, y)
    return float(np.abs(warped - cur.albedo)[inside].mean())


def test_vector_pass_points_to_the_previous_frame(move):
    a, b = read_exr(move[0]), read_exr(move[1])
    vec = b.get("Vector")
    assert np.abs(vec[..., :2]).mean() > 0.3  # the camera really moved (pixels per frame)
    right = _warp_error(a, b, vec)
    wrong_sign = _warp_error(a, b, -vec)
    wrong_rows = _warp_error(a, b, vec * np.array([1, -1, 1, 1], np.float32))
    static = _warp_error(a, b, np.zeros_like(vec))
    assert right < 0.6 * min(wrong_sign, wrong_rows, static)


def test_vector_pass_zw_points_from_the_next_frame(move):
    """ZW is (current - next) position, bottom-up rows: the next frame is at (x - Z, y + W) in
    our top-down arrays (the convention multi-frame gathering walks forwards with)."""
    a, b = read_exr(move[0]), read_exr(move[1])
    vec = a.get("Vector")
    h, w = vec.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def err(sx, sy):
        warped, inside = bilinear(b.albedo, xx + sx * vec[..., 2], yy + sy * vec[..., 3])
        return float(np.abs(warped - a.albedo)[inside].mean())

    assert err(-1, 1) < 0.6 * min(err(1, -1), err(1, 1), err(-1, -1), err(0, 0))


def test_cli_denoises_a_sequence_with_temporal_blend(move, tmp_path):
    r = subprocess.run([sys.executable, "-m", "neural_ops", "denoise", *map(str, move), "-o", str(tmp_path / "out"),
                        "--method", "bilateral", "--temporal"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    outs = sorted((tmp_path / "out").glob("frame_*.exr"))
    assert [p.name for p in outs] == [p.name for p in move]
    first, last = read_exr(outs[0]), read_exr(outs[-1])
    assert "Denoised Bilateral" in last.passes
    from neural_ops import get_op

    # Frame 1 has no history: the per-frame result. Later frames blend in the previous one.
    assert np.allclose(first.get("Denoised Bilateral"), get_op("denoise", "bilateral")(read_exr(move[0])), atol=2e-3)
    assert not np.allclose(last.get("Denoised Bilateral"), get_op("denoise", "bilateral")(read_exr(move[-1])), atol=2e-3)


def test_cli_frames_window_gathers_neighbours_and_refuses_a_gap(move, tmp_path):
    from neural_ops.denoise.multiframe import Frame, Window, WindowParams

    # On the real move most of frame 2's pixels are found in frames 1 and 3.
    count = Window(move, read_exr, WindowParams(frames_window=1)).gathered(1).count
    assert count.mean() > 2.0
    r = subprocess.run([sys.executable, "-m", "neural_ops", "denoise", *map(str, move), "-o", str(tmp_path / "out"),
                        "--method", "bilateral", "--frames-window", "1", "--temporal"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "frames per pixel on average" in r.stdout
    assert len(list((tmp_path / "out").glob("frame_*.exr"))) == 3
    # k = 0 is the single-frame op.
    ps = read_exr(move[1])
    col = Window(move, read_exr, WindowParams(frames_window=0)).gathered(1).color
    np.testing.assert_array_equal(col, Frame.of(ps).color)
    r = subprocess.run([sys.executable, "-m", "neural_ops", "denoise", str(move[0]), str(move[2]), "-o",
                        str(tmp_path / "gap"), "--method", "bilateral", "--frames-window", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "frame 2 missing" in r.stderr, r.stderr


def test_denoise_animation_operator_resumes_and_cancels(move, tmp_path, registered, default_scene):
    import os
    import shutil
    import threading

    from neural_ops.denoise.sequence import SequenceJob, denoise_sequence

    frames = tmp_path / "frames"
    frames.mkdir()
    for p in move:
        shutil.copy(p, frames / p.name)
        if p.with_suffix(".json").exists():
            shutil.copy(p.with_suffix(".json"), frames / p.with_suffix(".json").name)
    s = default_scene.neural_render.denoise
    s.method, s.frames_window, s.temporal = "bilateral", 1, True
    out = tmp_path / "out"
    assert bpy.ops.neural.denoise_animation(directory=str(frames), output=str(out)) == {"FINISHED"}
    outs = sorted(out.glob("frame_*.exr"))
    assert [p.name for p in outs] == [p.name for p in move]
    assert all("Denoised Bilateral" in read_exr(p).passes for p in outs)
    # Resume: a frame lost since is recomputed, the others kept as they are.
    stamps = {p.name: os.stat(p).st_mtime_ns for p in outs}
    outs[1].unlink()
    assert bpy.ops.neural.denoise_animation(directory=str(frames), output=str(out)) == {"FINISHED"}
    assert outs[1].exists()
    assert all(os.stat(p).st_mtime_ns == stamps[p.name] for p in (outs[0], outs[2]))
    # Cancel: nothing more is written.
    ev = threading.Event()
    ev.set()
    gen = denoise_sequence(SequenceJob(list(frames.glob("*.exr")), tmp_path / "cancelled", "bilateral"), cancel=ev)
    with pytest.raises(InterruptedError):
        next(gen)
    assert not list((tmp_path / "cancelled").glob("*.exr"))
    # An empty folder: one line.
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="no EXR frames"):
        bpy.ops.neural.denoise_animation(directory=str(tmp_path / "empty"))


def test_render_hook_gathers_past_frames(move, registered):
    from addon.denoise import _past, with_past_frames

    _past.clear()
    key = ("S", "L")
    first = read_exr(move[0])
    assert with_past_frames(None, key, first, 2).color is not None  # nothing before it: itself
    np.testing.assert_array_equal(with_past_frames(None, ("S", "M"), first, 2).color, np.maximum(first.color, 0))
    second = read_exr(move[1])
    got = with_past_frames(None, key, second, 2)
    assert len(_past[key]) == 2 and not np.array_equal(got.color, np.maximum(second.color, 0))
    # A jump (frame 3 after frame 1 on another key) starts over.
    _past.clear()
    with_past_frames(None, key, first, 2)
    with_past_frames(None, key, read_exr(move[2]), 2)
    assert len(_past[key]) == 1
