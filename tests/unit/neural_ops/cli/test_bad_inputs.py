"""The bad-input corpus of the file commands: every case exits with status 2, prints one line
that names the bad file (or option) and the problem, no traceback, and creates or changes no
file. Cases are generated from one small valid frame (``corpus`` fixture); the ``.blend``
commands have their own corpus in ``tests/integration/test_bad_inputs_blend.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from neural_ops import write_exr
from neural_ops.cli import main
from neural_ops.core.synthetic import synthetic_frame

W, H = 40, 32


def _write_raw(path: Path, channels: dict[str, np.ndarray]) -> None:
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, channels) as f:
        f.write(str(path))


def _frame():
    ps = synthetic_frame(W, H, raster=True)
    ps.meta = {"frame": 1, "spp": 4, "camera": {"matrix_world": np.eye(4).tolist(), "lens": 35.0,
                                                 "sensor_width": 36.0, "sensor_fit": "AUTO",
                                                 "resolution": [W, H], "type": "PERSP"}}
    return ps


#: Bad input files: name -> how to make it from the valid frame in folder ``d``.
def _bad_files(d: Path) -> dict[str, Path | str]:
    good = write_exr(_frame(), d / "good.exr")
    data = good.read_bytes()
    files: dict[str, Path | str] = {"missing": str(d / "missing.exr")}

    def put(name, content: bytes, sidecar: bytes | None = None):
        p = d / f"{name}.exr"
        p.write_bytes(content)
        if sidecar is not None:
            p.with_suffix(".json").write_bytes(sidecar)
        files[name] = p

    put("empty", b"")
    put("text", b"this is not an image\n")
    put("random", os.urandom(4096))
    put("png", b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    put("header_only", data[:300])
    put("cut_half", data[: len(data) // 2])
    put("cut_end", data[:-16])
    (d / "folder.exr").mkdir()
    files["folder"] = d / "folder.exr"
    put("binary_sidecar", data, b"\xff\xfe\x00\x89PNG")
    put("sidecar_list", data, b"[1, 2, 3]")
    put("sidecar_broken", data, b'{"frame": 1,')
    for name, pass_name in (("nan_combined", "Combined"), ("inf_albedo", "Denoising Albedo"), ("nan_normal", "Normal")):
        ps = _frame()
        px = ps.get(pass_name).copy()
        px[3, 5, 0] = np.nan if name.startswith("nan") else np.inf
        ps.add(pass_name, px, ps.passes[pass_name].channels)
        files[name] = write_exr(ps, d / f"{name}.exr")
    y = np.ones((H, W), np.float32)
    _write_raw(d / "single_channel.exr", {"Y": y})
    files["single_channel"] = d / "single_channel.exr"
    _write_raw(d / "rga.exr", {"R": y, "G": y, "A": y})
    files["rga"] = d / "rga.exr"
    ps = _frame()
    del ps.passes["Combined"]
    files["no_combined"] = write_exr(ps, d / "no_combined.exr")
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    return d, _bad_files(d)


#: Commands run on each bad file (the output goes to a fresh name in the same folder).
COMMANDS = {
    "denoise spikes": ["denoise", "{f}", "-o", "{o}", "--method", "spikes"],
    "denoise bilateral": ["denoise", "{f}", "-o", "{o}", "--method", "bilateral"],
    "denoise neural": ["denoise", "{f}", "-o", "{o}"],
    "denoise temporal": ["denoise", "{f}", "-o", "{od}", "--method", "spikes", "--temporal"],
    "cg2real": ["cg2real", "{f}", "-o", "{o}"],
    "relight": ["relight", "{f}", "-o", "{o}", "--method", "analytic", "--lights", "{lights}"],
    "info": ["info", "{f}"],
}
FILE_CASES = ["missing", "empty", "text", "random", "png", "header_only", "cut_half", "cut_end", "folder",
              "binary_sidecar", "sidecar_list", "sidecar_broken", "nan_combined", "inf_albedo", "nan_normal",
              "single_channel", "rga", "no_combined"]
#: What ``info`` reports instead of refusing (it is the tool that shows such frames).
INFO_REPORTS = {"nan_combined", "inf_albedo", "nan_normal", "single_channel", "rga", "no_combined"}
#: Problems a command does not read (cg2real reads no Denoising Albedo; only relight reads Normal
#: ... the raster passes come from the frame either way).
NOT_READ = {("cg2real", "inf_albedo"), ("denoise spikes", "nan_normal"), ("denoise bilateral", "nan_normal"),
            ("denoise neural", "nan_normal"), ("denoise temporal", "nan_normal"), ("denoise spikes", "inf_albedo"),
            ("denoise temporal", "inf_albedo")}

LIGHTS = json.dumps([{"type": "POINT", "location": [0, 0, 3], "target": [0, 0, 0], "color": [1, 1, 1], "power": 50}])


def _snapshot(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        out[str(p.relative_to(d))] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else \
            ("dir" if p.is_dir() else "special")
    return out


def _run_refused(argv: list[str], d: Path, capsys, names: tuple[str, ...]) -> str:
    before = _snapshot(d)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("neural-render: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert any(n in lines[0] for n in names), (names, lines[0])
    assert _snapshot(d) == before, "a refused command changed files"
    return lines[0]


FILE_PAIRS = [(c, k) for c in COMMANDS for k in FILE_CASES
              if not (c == "info" and k in INFO_REPORTS) and (c, k) not in NOT_READ]


@pytest.mark.parametrize("command, case", FILE_PAIRS)
def test_bad_file(corpus, capsys, command, case):
    d, files = corpus
    f = files[case]
    argv = [a.format(f=f, o=d / f"out_{case}.exr", od=d / f"out_{case}", lights=LIGHTS) for a in COMMANDS[command]]
    _run_refused(argv, d, capsys, (Path(f).name, Path(f).with_suffix(".json").name))


#: Bad options and outputs on the valid frame: (argv after the command, words the line must hold).
OPTION_CASES = {
    "param nan": (["--method", "bilateral", "--param", "sigma_color=nan"], ("sigma_color",)),
    "param inf": (["--method", "bilateral", "--param", "sigma_spatial=inf"], ("sigma_spatial",)),
    "param unknown": (["--method", "bilateral", "--param", "strength=2"], ("strength",)),
    "param no value": (["--method", "bilateral", "--param", "radius"], ("NAME=VALUE",)),
    "param type": (["--method", "bilateral", "--param", "radius=big"], ("radius",)),
    "param bool": (["--method", "bilateral", "--param", "despike=maybe"], ("despike",)),
    "tile too small": (["--param", "tile=8"], ("tile",)),
    "unknown method": (["--method", "magic"], ("magic",)),
    "unknown weights": (["--param", "weights=none.safetensors"], ("none.safetensors",)),
    "pickle weights": (["--param", "weights={d}/model.pt"], ("model.pt",)),
    "output is input": (["-o", "{d}/good.exr", "--overwrite"], ("good.exr",)),
    "output is input sidecar": (["-o", "{d}/good.json", "--overwrite"], ("good.json",)),
    "output is json": (["-o", "{d}/result.json"], ("result.json",)),
    "output exists": (["-o", "{d}/taken.exr"], ("taken.exr",)),
    "output sidecar exists": (["-o", "{d}/notes.exr"], ("notes.json",)),
    "output special file": (["-o", "{d}/pipe.exr", "--overwrite"], ("pipe.exr",)),  # a FIFO, not /dev/null itself
    "output folder": (["-o", "{d}/folder.exr", "--overwrite"], ("folder.exr",)),
    "output under a file": (["-o", "{d}/taken.exr/x.exr"], ("taken.exr",)),
    "temporal without vector": (["--method", "spikes", "--temporal", "-o", "{d}/seq"], ("Vector",)),
    "two inputs one name": (["{d}/sub/good.exr", "--method", "spikes", "-o", "{d}/seq"], ("share a file name",)),
}
DENOISE_PARAMS = {"param nan", "param inf", "param unknown", "param no value", "param type", "param bool",
                  "unknown method", "tile too small", "temporal without vector", "two inputs one name"}


@pytest.fixture(scope="module")
def option_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("options")
    write_exr(_frame(), d / "good.exr")
    (d / "taken.exr").write_bytes(b"an earlier result")
    (d / "notes.json").write_text("my notes")
    (d / "folder.exr").mkdir()
    (d / "model.pt").write_bytes(b"\x80\x04pickled")
    os.mkfifo(d / "pipe.exr")
    (d / "sub").mkdir()
    write_exr(_frame(), d / "sub" / "good.exr")
    return d


OPTION_PAIRS = [(c, k) for c in ("denoise", "cg2real", "relight") for k in OPTION_CASES
                if c == "denoise" or k not in DENOISE_PARAMS]


@pytest.mark.parametrize("command, case", OPTION_PAIRS)
def test_bad_option(option_dir, capsys, command, case):
    d = option_dir
    extra, words = OPTION_CASES[case]
    extra = [a.format(d=d) for a in extra]
    argv = [command, str(d / "good.exr")]
    if "-o" not in extra:
        argv += ["-o", str(d / f"out_{command}.exr")]
    if command == "relight":
        argv += ["--lights", LIGHTS]
        if "--method" not in extra:
            argv += ["--method", "analytic"] if "weights" not in case else []
    _run_refused(argv + extra, d, capsys, words)


RELIGHT_CASES = {
    "no lighting": ([], ("no target lighting",)),
    "lights object": (["--lights", '{"light": {}}'], ("list of lights",)),
    "lighting unknown keys": (["--lighting", '{"sun": 1}'], ("no 'world' or 'lights'",)),
    "hdri missing": (["--hdri", "nowhere.exr"], ("nowhere.exr",)),
    "hdri leaves folder": (["--lighting", '{"world": {"hdri": "../x.exr"}}'], ("leaves its folder",)),
    "lights file missing": (["--lights", "{d}/none.json"], ("none.json",)),
    "lights binary": (["--lights", "{d}/binary.json"], ("binary.json",)),
    "negative strength": (["--hdri", "forest.exr", "--strength", "-1"], ("strength",)),
    "nan rotation": (["--hdri", "forest.exr", "--rotation", "nan"], ("rotation",)),
    "light nan power": (["--lights", '[{"type": "POINT", "location": [0,0,1], "target": [0,0,0], "power": NaN}]'],
                        ("power",)),
    "too many lights": (["--lights", json.dumps([{"type": "SUN", "location": [0, 0, 1], "target": [0, 0, 0],
                                                   "power": 1}] * 300)], ("at most",)),
}


@pytest.mark.parametrize("case", list(RELIGHT_CASES))
def test_bad_relight_lighting(option_dir, capsys, case):
    d = option_dir
    (d / "binary.json").write_bytes(b"\xff\xfe\x00\x89")
    extra, words = RELIGHT_CASES[case]
    argv = ["relight", str(d / "good.exr"), "-o", str(d / "relit.exr"), "--method", "analytic"]
    _run_refused(argv + [a.replace("{d}", str(d)) for a in extra], d, capsys, words)


NOVEL_VIEW_CASES = {
    "no transforms": ("empty", ["--camera", "{cam}"], ("transforms.json",)),
    "binary transforms": ("binary", ["--camera", "{cam}"], ("transforms.json",)),
    "frames not a list": ("frames_dict", ["--camera", "{cam}"], ("transforms.json",)),
    "exr outside folder": ("escape", ["--camera", "{cam}"], ("transforms.json",)),
    "no target": ("ok", [], ("--camera",)),
    "camera bad json": ("ok", ["--camera", "{{nope"], ("--camera",)),
    "camera nan pose": ("ok", ["--camera", '{{"transform_matrix": [[NaN,0,0,0],[0,1,0,0],[0,0,1,5],[0,0,0,1]]}}'],
                        ("non-finite",)),
    "camera zero pose": ("ok", ["--camera", '{{"transform_matrix": [[0,0,0,0],[0,0,0,0],[0,0,0,0],[0,0,0,1]]}}'],
                         ("no orientation",)),
    "camera huge": ("ok", ["--camera", '{{"transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,5],[0,0,0,1]], '
                                        '"w": 100000, "h": 100000}}'], ("megapixels",)),
    "output is source": ("ok", ["--camera", "{cam}", "-o", "{src}", "--overwrite"], ("source views",)),
    "transforms output exists": ("ok", ["--camera", "{cam}", "-o", "{d}/taken"], ("transforms.json",)),
}


@pytest.mark.parametrize("case", list(NOVEL_VIEW_CASES))
def test_bad_novel_view(tmp_path, capsys, case):
    folder, extra, words = NOVEL_VIEW_CASES[case]
    d = tmp_path
    pose = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]
    frame = {"file_path": "v.png", "exr_file_path": "v.exr", "transform_matrix": pose}
    src = d / folder
    src.mkdir()
    if folder != "empty":
        write_exr(_frame(), src / "v.exr", sidecar=False)
        tf = {"w": W, "h": H, "fl_x": 30.0, "frames": [frame, dict(frame)]}
        if folder == "binary":
            (src / "transforms.json").write_bytes(b"\xff\xfe\x00")
        else:
            if folder == "frames_dict":
                tf["frames"] = {"a": frame}
            if folder == "escape":
                tf["frames"] = [dict(frame, exr_file_path="../v.exr")] * 2
            (src / "transforms.json").write_text(json.dumps(tf))
    (d / "taken").mkdir()
    (d / "taken" / "transforms.json").write_text("{}")
    cam = json.dumps({"transform_matrix": pose})
    extra = [a.format(cam=cam, src=src, d=d) for a in extra]
    argv = ["novel-view", str(src), *extra]
    if "-o" not in extra:
        argv += ["-o", str(d / "views_out")]
    _run_refused(argv, d, capsys, words)


def test_the_corpus_is_large():
    assert len(FILE_PAIRS) + len(OPTION_PAIRS) + len(RELIGHT_CASES) + len(NOVEL_VIEW_CASES) >= 150
