import os

import numpy as np
import pytest

from neural_ops import NeuralRenderError, read_exr, write_exr
from neural_ops.cli import main, parse_frames


@pytest.fixture
def exr(tmp_path, passset):
    return write_exr(passset, tmp_path / "in.exr")


def test_denoise_adds_pass_and_keeps_inputs(tmp_path, exr, capsys):
    out = tmp_path / "out.exr"
    assert main(["denoise", str(exr), "-o", str(out), "--method", "bilateral", "--param", "radius=3"]) == 0
    src, res = read_exr(exr), read_exr(out)
    assert list(res.passes) == [*src.passes, "Denoised Bilateral"]
    for name in src.passes:
        assert np.array_equal(res.get(name), src.get(name))
    assert "s/MP" in capsys.readouterr().out


def test_errors_are_one_line_exit_2(tmp_path, exr, capsys):
    cases = [
        ["denoise", str(tmp_path / "missing.exr"), "-o", str(tmp_path / "o.exr")],
        ["denoise", str(exr), "-o", str(exr)],  # exists
        ["denoise", str(exr), "-o", str(tmp_path / "o.exr"), "--method", "magic"],
        ["denoise", str(exr), "-o", str(tmp_path / "o.exr"), "--param", "radius=big", "--method", "bilateral"],
    ]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_overwrite_flag(tmp_path, exr):
    out = tmp_path / "o.exr"
    assert main(["denoise", str(exr), "-o", str(out), "--method", "spikes"]) == 0
    assert main(["denoise", str(exr), "-o", str(out), "--method", "spikes"]) == 2
    assert main(["denoise", str(exr), "-o", str(out), "--method", "spikes", "--overwrite"]) == 0


def test_info_and_ops(exr, capsys):
    assert main(["info", str(exr)]) == 0
    assert "Denoising Albedo" in capsys.readouterr().out
    assert main(["ops", "denoise"]) == 0
    out = capsys.readouterr().out
    assert "bilateral" in out and "novel_view" not in out
    assert main(["ops"]) == 0  # novel_view is no per-frame op, but listed with them
    out = capsys.readouterr().out
    assert all(f"novel_view {m}" in out for m in ("auto", "learned", "ulr")) and "shipped models (--model NAME)" in out


def test_parse_frames():
    assert parse_frames("1-3,7") == [1, 2, 3, 7]
    for bad in ("3-1", "a", "", "-2"):
        with pytest.raises(NeuralRenderError):
            parse_frames(bad)


def test_render_commands_without_bpy(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "bpy", None)  # as on a machine without the bpy wheel
    assert main(["export", "x.blend", "-o", "out"]) == 2
    assert "pip install bpy==5.0.1" in capsys.readouterr().err


def test_number_lists_fail_in_one_line(tmp_path, capsys):
    for argv in (["train", "denoise", "--data", str(tmp_path), "--spp", "1,x"],
                 ["train", "denoise", "--data", str(tmp_path), "--channels", "8,0,8"],
                 ["eval", "denoise", "--data", str(tmp_path), "--spp", "4,,y"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_bench_times_every_available_op_against_oidn(capsys):
    from neural_ops.denoise import bench

    times = bench.run(width=64, height=48)
    assert {"spikes", "bilateral", "oidn"} <= set(times) and all(t > 0 for t in times.values())
    out = capsys.readouterr().out
    assert "| oidn |" in out and "x OIDN" in out


def test_outputs_never_replace_inputs_or_sidecars(tmp_path, exr, capsys):
    """-o onto the input or its sidecar is refused even with --overwrite; -o x.json (the EXR and its
    sidecar on one path) and an unrelated sidecar in the way are refused; nothing changes."""
    (tmp_path / "notes.json").write_text("mine")
    fifo = tmp_path / "pipe.exr"
    os.mkfifo(fifo)
    before = {p.name: p.read_bytes() if p.is_file() else "special" for p in tmp_path.iterdir()}
    cases = [
        (["-o", str(exr), "--overwrite"], "is an input"),
        (["-o", str(tmp_path / "in.json"), "--overwrite"], "is an input"),
        (["-o", str(tmp_path / "result.json")], "cannot be named .json"),
        (["-o", str(tmp_path / "notes.exr")], "notes.json: exists"),
        (["-o", str(fifo), "--overwrite"], "not a regular file"),  # a special file (never /dev/null itself)
    ]
    for extra, want in cases:
        assert main(["denoise", str(exr), "--method", "spikes", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1, (extra, err)
    assert {p.name: p.read_bytes() if p.is_file() else "special" for p in tmp_path.iterdir()} == before


def test_novel_view_never_writes_into_its_source_folder(tmp_path, capsys):
    import json

    from neural_ops.core.synthetic import synthetic_frame

    views = tmp_path / "views"
    views.mkdir()
    ps = synthetic_frame(16, 12)
    write_exr(ps, views / "a.exr", sidecar=False)
    tf = {"w": 16, "h": 12, "fl_x": 14.0, "frames": [{"file_path": "a.png", "exr_file_path": "a.exr",
          "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]}]}
    (views / "transforms.json").write_text(json.dumps(tf))
    before = {p.name: p.read_bytes() for p in views.iterdir()}
    cam = json.dumps(tf["frames"][0])
    for out in (views, tmp_path / "views" / "."):
        assert main(["novel-view", str(views), "--camera", cam, "-o", str(out), "--overwrite"]) == 2
        assert "folder of the source views" in capsys.readouterr().err
    # A transforms.json already in the output folder is not replaced without --overwrite.
    out = tmp_path / "out"
    out.mkdir()
    (out / "transforms.json").write_text("{}")
    assert main(["novel-view", str(views), "--camera", cam, "-o", str(out)]) == 2
    assert "transforms.json: exists" in capsys.readouterr().err
    assert (out / "transforms.json").read_text() == "{}"
    # --transforms naming a file in the output folder is an input: never replaced.
    (out / "transforms.json").write_text(json.dumps(tf))
    assert main(["novel-view", str(views), "--transforms", str(out / "transforms.json"), "-o", str(out),
                 "--overwrite"]) == 2
    assert "is an input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in views.iterdir()} == before


@pytest.mark.parametrize("param, want", [("sigma_color=nan", "finite"), ("sigma_color=inf", "finite"),
                                         ("sigma_color=-inf", "finite"), ("radius=2.5", "expects an integer")])
def test_non_finite_or_mistyped_parameters_are_refused(tmp_path, exr, capsys, param, want):
    out = tmp_path / "o.exr"
    assert main(["denoise", str(exr), "-o", str(out), "--method", "bilateral", "--param", param]) == 2
    assert want in capsys.readouterr().err and not out.exists()


def test_python_callers_get_the_same_parameter_checks(passset):
    from neural_ops import OpError, get_op

    spec = get_op("denoise", "bilateral")
    for bad in ({"sigma_color": float("nan")}, {"radius": "4"}, {"radius": True}, {"despike": 1}):
        with pytest.raises(OpError, match="parameter"):
            spec(passset, **bad)


@pytest.mark.parametrize("argv, want", [
    (["data", "denoise", "--scenes", "0", "-o", "x"], "--scenes: must be at least 1"),
    (["data", "denoise", "--scenes", "2", "--workers", "0", "-o", "x"], "--workers: must be at least 1"),
    (["data", "relight", "--scenes", "2", "--lightings", "0", "-o", "x"], "--lightings: must be at least 1"),
    (["data", "multiview", "--scenes", "2", "--arc", "nan", "-o", "x"], "--arc: must be a finite number"),
    (["train", "denoise", "--data", "d", "-o", "r", "--val-count", "0"], "--val-count: must be at least 1"),
])
def test_counts_and_numbers_are_checked_where_parsed(tmp_path, capsys, argv, want):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert want in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv", [["export", "s.blend", "-o", "x", "--spp", "0"],
                                  ["inbetween", "s.blend", "-o", "x", "--every", "0"],
                                  ["demo", "--ref-spp", "-3"]])
def test_argparse_counts_refuse_zero(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "must be at least" in err and err.count("\n") == 1
