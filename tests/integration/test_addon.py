"""The add-on inside Blender: registration, menus, operators, and the packaged extension."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import bpy
import pytest

from neural_ops import read_exr, write_exr

ROOT = Path(__file__).resolve().parents[2]


class FakeLayout:
    """Records what a draw function puts on screen (no GUI here)."""

    def __init__(self):
        self.labels, self.operators, self.props = [], [], []
        self.active = True

    def box(self):
        return self

    def column(self, heading="", align=False):
        return self

    def row(self, align=False):
        return self

    def prop(self, data, name, text=None):
        getattr(data, name)  # a wrong property name fails here, as it would in Blender
        self.props.append(name)

    def label(self, text="", icon="NONE"):
        self.labels.append(text)

    def operator(self, idname, text="", icon="NONE"):
        self.operators.append(idname)
        return type("Props", (), {})()

    def menu(self, idname):
        self.operators.append(idname)


def test_register_adds_operators_nodes_and_menu(registered):
    assert hasattr(bpy.ops.neural, "export_passes") and hasattr(bpy.ops.neural, "denoise_file")
    assert bpy.types.Node.bl_rna_get_subclass_py("NeuralDenoiseNode") is not None
    menu = bpy.types.NODE_MT_compositor_node_add_all
    assert any(getattr(f, "__name__", "") == "_draw_add_menu" for f in menu._dyn_ui_initialize())
    lay = FakeLayout()
    ctx = type("C", (), {"space_data": type("S", (), {"tree_type": "CompositorNodeTree"})()})()
    from addon import nodes

    nodes._draw_add_menu(type("M", (), {"layout": lay})(), ctx)
    assert lay.operators == ["NODE_MT_neural_add"]
    nodes.NODE_MT_neural_add.draw(type("M", (), {"layout": lay})(), ctx)
    assert "node.add_node" in lay.operators


def test_denoise_file_operator(tmp_path, registered, default_scene):
    from tests.conftest import make_passset

    src = write_exr(make_passset(), tmp_path / "view.exr")
    default_scene.neural_render.denoise.method = "bilateral"
    assert bpy.ops.neural.denoise_file(filepath=str(src)) == {"FINISHED"}
    out = read_exr(tmp_path / "view_denoised.exr")
    assert "Denoised Bilateral" in out.passes and "Denoising Albedo" in out.passes
    # Bad input: a clear report, no traceback, nothing written.
    (tmp_path / "bad.exr").write_bytes(b"junk")
    with pytest.raises(RuntimeError, match="not an OpenEXR file"):
        bpy.ops.neural.denoise_file(filepath=str(tmp_path / "bad.exr"))
    assert not (tmp_path / "bad_denoised.exr").exists()


def test_make_dataset_operator_renders_from_the_open_scene(tmp_path, registered, default_scene):
    ds = default_scene.neural_render.dataset
    ds.directory, ds.scenes, ds.resolution, ds.spp, ds.ref_spp = str(tmp_path / "ds"), 1, 24, "1", 4
    assert bpy.ops.neural.make_dataset() == {"FINISHED"}
    sample = tmp_path / "ds" / "samples" / "000000"
    assert {"scene.json", "sample.json", "spp0001.exr", "reference.exr"} <= {p.name for p in sample.iterdir()}
    assert json.loads((sample / "scene.json").read_text())["from"].endswith("source.blend")
    assert (tmp_path / "ds" / "manifest.json").exists()
    # A bad setting comes back as one clear line from the process, not a traceback.
    ds.spp = "1,x"
    with pytest.raises(RuntimeError, match="spp"):
        bpy.ops.neural.make_dataset()


def test_export_operator_reports_missing_camera(tmp_path, registered, default_scene):
    bpy.data.objects.remove(bpy.data.objects["Camera"])
    default_scene.neural_render.export.directory = str(tmp_path)
    with pytest.raises(RuntimeError, match="has no camera"):
        bpy.ops.neural.export_passes()


EXT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    block = json.loads(os.environ["BLOCK_MODULES"])
    for m in block:
        sys.modules[m] = None  # as in a Blender whose Python lacks these packages
    import bpy, addon_utils
    zip_path, out = sys.argv[1], sys.argv[2]
    res = {}
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    mod = "bl_ext.user_default.neural_render"
    res["enabled"] = addon_utils.check(mod)[1]
    ext = sys.modules[mod]
    res["missing"] = [m for m, _, _ in ext.core.missing_deps()]
    res["neural_ops"] = ext.core.nops.__name__
    __import__(mod + ".scenes", fromlist=["x"]).build_default_scene((32, 24))
    s = bpy.context.scene.neural_render.export
    s.directory, s.spp = out, 1
    res["export"] = list(bpy.ops.neural.export_passes())
    bpy.context.scene.neural_render.denoise.method = "bilateral"
    res["denoise"] = list(bpy.ops.neural.denoise_file(filepath=os.path.join(out, "frame_0001.exr")))
    try:
        ext.core.nops.denoise(ext.core.nops.read_exr(os.path.join(out, "frame_0001.exr")) if "OpenEXR" not in block else None, "oidn")
        res["oidn"] = "ran"
    except Exception as e:
        res["oidn"] = f"{type(e).__name__}: {e}"
    bpy.ops.preferences.addon_disable(module=mod)
    res["disabled"] = not addon_utils.check(mod)[1]
    bpy.ops.extensions.package_uninstall(
        repo_directory=bpy.utils.user_resource("EXTENSIONS", path="user_default"), pkg_id="neural_render")
    res["left"] = sorted(str(p) for p in __import__("pathlib").Path(bpy.utils.user_resource("EXTENSIONS")).rglob("*neural_render*"))
    print("RESULT " + json.dumps(res))
    """
)


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    from addon import package

    return package.build(tmp_path_factory.mktemp("dist"))


def _run_extension(tmp_path, zip_path, block=()):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "res"), BLOCK_MODULES=json.dumps(list(block)))
    env.pop("PYTHONPATH", None)
    out = tmp_path / "out"
    out.mkdir()
    # Run outside the checkout so the extension cannot import the repo's packages by accident.
    p = subprocess.run([sys.executable, "-c", EXT_SCRIPT, str(zip_path), str(out)], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, p.stdout[-3000:] + p.stderr[-3000:]
    return json.loads(line[7:]), out


def test_extension_validates_and_has_layout(extension_zip):
    import zipfile

    from addon import package

    package.validate(extension_zip)  # raises with Blender's messages on failure
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "neural_ops/exr.py" in names
    assert not any("__pycache__" in n for n in names)


def test_extension_install_enable_use_remove(tmp_path, extension_zip):
    res, out = _run_extension(tmp_path, extension_zip)
    assert res["enabled"] and res["disabled"]
    assert res["neural_ops"] == "bl_ext.user_default.neural_render.neural_ops"  # the bundled copy
    assert res["export"] == ["FINISHED"] and res["denoise"] == ["FINISHED"]
    assert (out / "frame_0001.json").exists()
    assert "Denoised Bilateral" in read_exr(out / "frame_0001_denoised.exr").passes
    assert res["oidn"] == "ran"
    assert res["left"] == []


def test_extension_without_optional_packages(tmp_path, extension_zip):
    res, out = _run_extension(tmp_path, extension_zip, block=("torch", "pyoidn"))
    assert res["enabled"], "the add-on must register without torch and pyoidn"
    assert set(res["missing"]) == {"torch", "pyoidn"}
    assert res["export"] == ["FINISHED"] and res["denoise"] == ["FINISHED"]  # numpy ops still work
    assert "not available" in res["oidn"] and "pip install pyoidn" in res["oidn"]
    assert res["left"] == []


def test_panel_lists_missing_and_offers_install(monkeypatch):
    from addon import core, panels

    monkeypatch.setattr(core, "_importable", lambda m: m != "torch")
    monkeypatch.setattr(panels, "missing_deps", core.missing_deps)
    lay = FakeLayout()
    panels.draw_missing(lay)
    assert any("torch" in t for t in lay.labels)
    assert lay.operators == ["neural.install_deps"]


def test_denoise_file_cancel_writes_nothing(tmp_path):
    import threading

    from addon.operators import denoise_file
    from tests.conftest import make_passset

    src = write_exr(make_passset(), tmp_path / "v.exr")
    ev = threading.Event()
    ev.set()
    assert denoise_file(src, tmp_path / "o.exr", "bilateral", {}, cancel=ev) is None
    assert not (tmp_path / "o.exr").exists()
    assert denoise_file(src, tmp_path / "o.exr", "spikes", {}).exists()


def test_panel_and_node_draw(registered, default_scene):
    from addon import panels

    default_scene.neural_render.denoise.method = "bilateral"
    default_scene.neural_render.denoise.enabled = True  # its update callback refreshes the passes
    default_scene.neural_render.export.views = "FRAMES"
    lay = FakeLayout()
    ctx = type("C", (), {"scene": default_scene})()
    panels.NEURAL_PT_render.draw(type("P", (), {"layout": lay})(), ctx)
    assert {"enabled", "method", "radius", "despike", "spp", "frame_start"} <= set(lay.props)
    assert {"neural.export_passes", "neural.denoise_file", "neural.make_dataset"} <= set(lay.operators)
    assert {"kind", "scenes", "ref_spp"} <= set(lay.props)
    tree = bpy.data.node_groups.new("T", "CompositorNodeTree")
    node = tree.nodes.new("NeuralDenoiseNode")
    node.settings.method = "oidn"
    lay = FakeLayout()
    bpy.types.Node.bl_rna_get_subclass_py("NeuralDenoiseNode").draw_buttons(node, bpy.context, lay)
    assert lay.props == ["method", "oidn_quality", "temporal"]
    node.settings.method = "neural"
    lay = FakeLayout()
    bpy.types.Node.bl_rna_get_subclass_py("NeuralDenoiseNode").draw_buttons(node, bpy.context, lay)
    assert lay.props == ["method", "model_weights", "tile", "per_aov", "temporal"]
