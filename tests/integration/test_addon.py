"""The add-on inside Blender: registration, menus, operators (the packaged extension: test_extension.py)."""

import json
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
    from addon.engine import nodes

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


def test_panel_lists_missing_and_offers_install(monkeypatch):
    from addon import panels
    from addon import shim as core

    monkeypatch.setattr(core, "_importable", lambda m: m != "torch")
    monkeypatch.setattr(panels, "missing_deps", core.missing_deps)
    lay = FakeLayout()
    panels.draw_missing(lay)
    assert any("torch" in t for t in lay.labels)
    assert lay.operators == ["neural.install_deps"]


def test_denoise_file_cancel_writes_nothing(tmp_path):
    import threading

    from addon.denoise import denoise_file
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


def test_export_then_relight_file_operator(tmp_path, registered, default_scene):
    """Export Neural Passes, then Relight EXR File on what it wrote (both run as jobs: here, in
    background mode, synchronously)."""
    s = default_scene.neural_render.export
    s.directory, s.spp = str(tmp_path), 1
    assert bpy.ops.neural.export_passes() == {"FINISHED"}
    exr = tmp_path / "frame_0001.exr"
    assert exr.exists() and (tmp_path / "export.json").exists()
    r = default_scene.neural_render.relight
    r.method, r.hdri = "analytic", "forest.exr"
    assert bpy.ops.neural.relight_file(filepath=str(exr)) == {"FINISHED"}
    out = read_exr(tmp_path / "frame_0001_relit.exr")
    assert "Neural Relit" in out.passes and "Combined" in out.passes


def test_render_1_in_n_operator(tmp_path, registered, default_scene):
    scene = default_scene
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 3, 2
    out = tmp_path / "inb"
    assert bpy.ops.neural.render_inbetween(every=2, spp=1, geometry=False, directory=str(out)) == {"FINISHED"}
    assert sorted(p.name for p in out.glob("frame_*.exr")) == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    assert json.loads((out / "inbetween.json").read_text())["synthesised"] == 1
    assert scene.frame_current == 2  # the operator puts the scene back on its frame
