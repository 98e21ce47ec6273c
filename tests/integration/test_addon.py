"""The add-on inside Blender: registration, menus, operators (the packaged extension: test_extension.py)."""

import json
from pathlib import Path

import bpy
import numpy as np
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

    def separator(self):
        pass


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
    with pytest.raises(RuntimeError, match="'Input Samples'") as e:  # the panel's name of --spp
        bpy.ops.neural.make_dataset()
    assert "--" not in str(e.value)


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


def _draw_panels(scene) -> dict:
    """What each Neural Render sub-panel shows for ``scene``: {label: FakeLayout} (header and body)."""
    from addon import panels

    ctx = type("C", (), {"scene": scene})()
    shown = {}
    for cls in panels.SUB_PANELS:
        assert cls.bl_parent_id == panels.NEURAL_PT_render.__name__
        lay = FakeLayout()
        # The panel's own class without bpy's Panel base (which cannot be made outside a draw).
        mixins = tuple(b for b in cls.__mro__[1:] if b.__module__ == panels.__name__)
        own = {k: v for k, v in vars(cls).items() if not k.startswith("__")}
        panel = type("P", mixins, {**own, "layout": lay})()
        if hasattr(cls, "draw_header"):
            cls.draw_header(panel, ctx)
        cls.draw(panel, ctx)
        shown[cls.bl_label] = lay
    return shown


def test_panel_and_node_draw(registered, default_scene):
    default_scene.neural_render.denoise.method = "bilateral"
    default_scene.neural_render.denoise.enabled = True  # its update callback refreshes the passes
    default_scene.neural_render.export.views = "FRAMES"
    shown = _draw_panels(default_scene)
    assert list(shown) == ["Denoise", "Relight", "Photoreal", "Novel View", "Export Passes", "Training Data"]
    assert {"enabled", "method", "radius", "despike"} <= set(shown["Denoise"].props)
    assert "neural.denoise_file" in shown["Denoise"].operators
    assert "neural.denoise_animation" in shown["Denoise"].operators
    assert {"spp", "frame_start"} <= set(shown["Export Passes"].props)
    assert shown["Export Passes"].operators == ["neural.export_passes"]
    assert {"kind", "scenes", "ref_spp"} <= set(shown["Training Data"].props)
    assert shown["Training Data"].operators == ["neural.make_dataset"]
    assert "neural.render_inbetween" in shown["Novel View"].operators
    assert "neural.relight_last" in shown["Relight"].operators


def test_panels_show_only_what_applies_to_the_engine(registered, default_scene):
    """Under EEVEE the Denoise and Relight passes (filled after Cycles renders) have no switch;
    their settings stay for the EXR file operators; Photoreal offers the EEVEE set-up."""
    default_scene.render.engine = "BLENDER_EEVEE"
    shown = _draw_panels(default_scene)
    for label in ("Denoise", "Relight"):
        assert "enabled" not in shown[label].props
        assert any("needs Cycles" in t for t in shown[label].labels)
    assert "neural.relight_last" not in shown["Relight"].operators
    assert "neural.relight_file" in shown["Relight"].operators
    assert "neural.prepare_eevee" in shown["Photoreal"].operators and "enabled" in shown["Photoreal"].props
    default_scene.render.engine = "CYCLES"
    shown = _draw_panels(default_scene)
    assert "enabled" in shown["Denoise"].props and "neural.prepare_eevee" not in shown["Photoreal"].operators


    tree = bpy.data.node_groups.new("T", "CompositorNodeTree")
    node = tree.nodes.new("NeuralDenoiseNode")
    node.settings.method = "oidn"
    lay = FakeLayout()
    bpy.types.Node.bl_rna_get_subclass_py("NeuralDenoiseNode").draw_buttons(node, bpy.context, lay)
    assert lay.props == ["method", "oidn_quality", "temporal", "frames_window"]
    node.settings.method = "neural"
    lay = FakeLayout()
    bpy.types.Node.bl_rna_get_subclass_py("NeuralDenoiseNode").draw_buttons(node, bpy.context, lay)
    assert lay.props == ["method", "model_weights", "tile", "per_aov", "temporal", "frames_window"]


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


def test_denoise_file_default_method_without_pyoidn(tmp_path, registered, default_scene, monkeypatch, capfd):
    """As in a stock Blender (no pyoidn): Export Neural Passes keeps Cycles' denoised image, and
    Denoise EXR File's default method refines it; the output keeps the input's passes as they were."""
    from neural_ops.core import oidn

    monkeypatch.setattr(oidn, "oidn_unavailable", lambda: "the 'pyoidn' package is not installed")
    scene = default_scene
    s = scene.neural_render.export
    s.directory, s.spp = str(tmp_path), 1
    assert s.cycles_denoised  # on by default
    assert bpy.ops.neural.export_passes() == {"FINISHED"}
    assert scene.neural_render.denoise.method == "neural"
    exr = tmp_path / "frame_0001.exr"
    assert bpy.ops.neural.denoise_file(filepath=str(exr)) == {"FINISHED"}
    src, out = read_exr(exr), read_exr(tmp_path / "frame_0001_denoised.exr")
    assert list(out.passes) == [*src.passes, "Neural Denoised"]
    np.testing.assert_array_equal(out.get("Combined"), src.get("Combined"))
    got = out.get("Neural Denoised")
    # The model refined Cycles' image, or (a 1-spp frame whose mean it moved too far) its energy
    # check took it back towards that image, and said so.
    moved = np.abs(got - src.get("Cycles Denoised")).mean() > 0
    assert np.isfinite(got).all() and (moved or "mean brightness" in capfd.readouterr().err)


def test_render_1_in_n_operator(tmp_path, registered, default_scene):
    scene = default_scene
    scene.frame_start, scene.frame_end, scene.frame_current = 1, 3, 2
    out = tmp_path / "inb"
    # Nothing moves: one line, nothing rendered.
    with pytest.raises(RuntimeError, match="nothing moves over frames 1-3"):
        bpy.ops.neural.render_inbetween(every=2, spp=1, directory=str(out))
    assert not out.exists() or not list(out.rglob("*.exr"))
    cam = scene.camera
    for f, dx in ((1, 0.0), (3, 0.2)):
        cam.location.x += dx
        cam.keyframe_insert("location", frame=f)
    scene.frame_set(2)
    assert bpy.ops.neural.render_inbetween(every=2, spp=1, geometry=False, directory=str(out)) == {"FINISHED"}
    assert sorted(p.name for p in out.glob("frame_*.exr")) == ["frame_0001.exr", "frame_0002.exr", "frame_0003.exr"]
    assert json.loads((out / "inbetween.json").read_text())["synthesised"] == 1
    assert scene.frame_current == 2  # the operator puts the scene back on its frame
    # Following the motion: an auxiliary render of every frame, every pass and a confidence.
    out = tmp_path / "inb_motion"
    assert bpy.ops.neural.render_inbetween(every=2, spp=1, method="motion", directory=str(out)) == {"FINISHED"}
    assert len(list((out / "aux").glob("frame_*.exr"))) == 3
    assert {"Confidence", "Diffuse Direct", "Vector"} <= set(read_exr(out / "frame_0002.exr").passes)
    assert scene.frame_current == 2
    # A quality target of 0: every frame rendered, nothing synthesised, no auxiliary render.
    out = tmp_path / "inb_all"
    assert scene.render.use_persistent_data is False
    assert bpy.ops.neural.render_inbetween(every=2, spp=1, method="motion", use_quality=True, max_flip=0.0,
                                           directory=str(out)) == {"FINISHED"}
    summary = json.loads((out / "inbetween.json").read_text())
    assert summary["rendered"] == 3 and summary["synthesised"] == 0 and not (out / "aux").exists()
    assert scene.render.use_persistent_data is False  # the run's own setting, put back


@pytest.mark.parametrize("op", ["denoise_file", "relight_file"])
@pytest.mark.parametrize("path, want", [("", "no file chosen"), ("{tmp}", "is a folder"), ("{tmp}/none.exr", "no such file")])
def test_file_operators_say_what_is_wrong_with_the_path(tmp_path, registered, default_scene, op, path, want):
    with pytest.raises(RuntimeError, match=want) as e:
        getattr(bpy.ops.neural, op)(filepath=path.format(tmp=tmp_path))
    assert "Traceback" not in str(e.value) and len(str(e.value).strip().splitlines()) == 1


def test_export_of_several_frames_is_a_novel_view_folder(tmp_path, registered, default_scene):
    """Export Neural Passes over a frame range writes transforms.json (nerfstudio) beside its
    EXRs, and Neural Novel View takes the folder as it is."""
    from addon import novel_view
    from neural_ops.core.cameras import Camera

    scene = default_scene
    cam = scene.camera
    cam.keyframe_insert("location", frame=1)
    cam.location.x += 0.4
    cam.keyframe_insert("location", frame=2)
    s = scene.neural_render.export
    s.directory, s.spp, s.views, s.frame_start, s.frame_end = str(tmp_path), 1, "FRAMES", 1, 2
    assert bpy.ops.neural.export_passes() == {"FINISHED"}
    tf = json.loads((tmp_path / "transforms.json").read_text())
    assert [f["exr_file_path"] for f in tf["frames"]] == ["frame_0001.exr", "frame_0002.exr"]
    assert all((tmp_path / f["file_path"]).is_file() for f in tf["frames"])  # the PNGs nerfstudio opens
    for f in tf["frames"]:
        sidecar = json.loads((tmp_path / f["exr_file_path"]).with_suffix(".json").read_text())
        got, want = Camera.from_transforms(f, tf), Camera.from_sidecar(sidecar)
        assert np.allclose(got.c2w, want.c2w) and np.isclose(got.fx, want.fx)
    assert not np.allclose(tf["frames"][0]["transform_matrix"], tf["frames"][1]["transform_matrix"])
    views = novel_view.load_views(novel_view.views_folder(str(tmp_path)), False)
    assert len(views) == 2 and views[0].depth.shape == (40, 48)
    # One view is not a multiview set: no transforms.json.
    s.directory, s.views = str(tmp_path / "one"), "ACTIVE"
    assert bpy.ops.neural.export_passes() == {"FINISHED"}
    assert not (tmp_path / "one" / "transforms.json").exists()


def test_enabling_an_op_turns_on_the_passes_it_reads(registered, default_scene):
    scene = default_scene
    vl = scene.view_layers[0]
    vl.cycles.denoising_store_passes = vl.use_pass_vector = vl.use_pass_z = False
    d = scene.neural_render.denoise
    d.enabled = True
    assert vl.cycles.denoising_store_passes and not vl.use_pass_vector
    d.temporal = True
    assert vl.use_pass_vector
    d.per_aov = True
    assert vl.use_pass_glossy_indirect and vl.use_pass_diffuse_color
    # The node does the same for its own settings, in the scenes whose compositor holds it.
    d.enabled = False
    vl.cycles.denoising_store_passes = False
    tree = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    scene.compositing_node_group = tree
    tree.nodes.new("NeuralDenoiseNode")
    assert vl.cycles.denoising_store_passes
    vl.use_pass_normal = vl.use_pass_glossy_color = False
    with bpy.context.temp_override(scene=scene):
        tree.nodes.new("NeuralPhotorealNode")
    assert vl.use_pass_normal and vl.use_pass_glossy_color
    vl.use_pass_z = False
    scene.neural_render.novel_view.enabled = True  # its render geometry is the Depth pass
    assert vl.use_pass_z


def test_unregister_leaves_nothing_behind(default_scene):
    """Disabling removes the private package folder from sys.path, the handlers, the passes'
    AOVs, the helper scenes and their nodes, and the node groups no node uses."""
    import sys

    import addon
    from addon import shim

    handlers_before = (list(bpy.app.handlers.render_pre), list(bpy.app.handlers.render_post))
    addon.register()
    try:
        scene = default_scene
        shim.deps_dir(create=True)
        shim.add_deps_to_path()  # as if the user had installed the training extras
        assert str(shim.deps_dir()) in sys.path
        scene.neural_render.denoise.enabled = True
        scene.neural_render.photoreal.enabled = True
        scene.neural_render.novel_view.enabled = True
        assert len(bpy.data.scenes) == 3 and [a.name for a in scene.view_layers[0].aovs] == ["Neural Denoised"]
        assert {".Neural Photoreal", ".Neural Novel View"} <= set(bpy.data.node_groups.keys())
    finally:
        addon.unregister()
    assert str(shim.deps_dir()) not in sys.path
    assert (list(bpy.app.handlers.render_pre), list(bpy.app.handlers.render_post)) == handlers_before
    assert list(bpy.data.scenes) == [scene] and len(scene.view_layers[0].aovs) == 0
    assert not [g.name for g in bpy.data.node_groups if g.name.startswith(".Neural")]
    tree = scene.compositing_node_group
    assert all(n.bl_idname in ("CompositorNodeRLayers", "NodeGroupOutput") for n in tree.nodes)
    assert any(lk.to_node.bl_idname == "NodeGroupOutput" for lk in tree.links)  # the render still reaches the output
