"""The bad-input corpus of the .blend commands (export, inbetween, data --from): exit 2, one line
naming the file or option and the problem, no traceback, nothing created or changed. The file
commands' corpus is tests/unit/neural_ops/cli/test_bad_inputs.py."""

import hashlib
from pathlib import Path

import bpy
import pytest

from neural_ops.cli import main


@pytest.fixture(scope="module")
def blends(tmp_path_factory):
    from addon.blender import scenes

    d = tmp_path_factory.mktemp("blends")
    scenes.build_default_scene((32, 24))
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 5
    bpy.ops.wm.save_as_mainfile(filepath=str(d / "good.blend"))
    data = (d / "good.blend").read_bytes()
    (d / "cut.blend").write_bytes(data[: len(data) // 2])
    (d / "text.blend").write_text("not a blend file\n")
    (d / "empty.blend").write_bytes(b"")
    (d / "folder.blend").mkdir()
    bpy.data.objects.remove(bpy.data.objects["Camera"])
    bpy.ops.wm.save_as_mainfile(filepath=str(d / "nocam.blend"))
    (d / "afile").write_text("x")
    return d


CASES = {
    "export missing": (["export", "{d}/none.blend", "-o", "{d}/out"], "none.blend"),
    "export cut": (["export", "{d}/cut.blend", "-o", "{d}/out"], "cut.blend"),
    "export text": (["export", "{d}/text.blend", "-o", "{d}/out"], "text.blend"),
    "export empty": (["export", "{d}/empty.blend", "-o", "{d}/out"], "empty.blend"),
    "export folder": (["export", "{d}/folder.blend", "-o", "{d}/out"], "folder.blend"),
    "export no camera": (["export", "{d}/nocam.blend", "-o", "{d}/out"], "no camera"),
    "export unknown camera": (["export", "{d}/good.blend", "-o", "{d}/out", "--camera", "Nope"], "Nope"),
    "export no marked camera": (["export", "{d}/good.blend", "-o", "{d}/out", "--camera", "marked"], "marked"),
    "export output is a file": (["export", "{d}/good.blend", "-o", "{d}/afile"], "afile"),
    "export spp 0": (["export", "{d}/good.blend", "-o", "{d}/out", "--spp", "0"], "--spp"),
    "export bad frames": (["export", "{d}/good.blend", "-o", "{d}/out", "--frames", "5-1"], "frame list"),
    "inbetween outside range": (["inbetween", "{d}/good.blend", "-o", "{d}/out", "--frames", "100-200"], "frame range"),
    "inbetween cut": (["inbetween", "{d}/cut.blend", "-o", "{d}/out"], "cut.blend"),
    "inbetween every 0": (["inbetween", "{d}/good.blend", "-o", "{d}/out", "--every", "0"], "--every"),
    "data from missing": (["data", "denoise", "--scenes", "1", "--from", "{d}/none.blend", "-o", "{d}/out"], "none.blend"),
    "data output is a file": (["data", "denoise", "--scenes", "1", "-o", "{d}/afile"], "afile"),
}


def _snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(d.rglob("*"))}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_blend_input(blends, capsys, case):
    argv, word = CASES[case]
    before = _snapshot(blends)
    try:
        code = main([a.format(d=blends) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err[-2000:])
    assert word in lines[0], lines[0]
    assert _snapshot(blends) == before
