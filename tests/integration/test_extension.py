"""The packaged extension, installed as a user would: into the project's Python (with the
optional packages blocked one by one), and into a stock-Blender Python (``.venv-blender``: the
``bpy`` wheel and nothing of this project, no torch, pyoidn or OpenEXR), where every operator
must either work or say in one line which package it needs."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neural_ops import read_exr

ROOT = Path(__file__).resolve().parents[2]
#: ``make blender-env``: a Python with ``bpy`` only, as inside a stock Blender.
STOCK_PYTHON = ROOT / ".venv-blender" / "bin" / "python"

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
    res["missing"] = [m for m, _, _ in ext.shim.missing_deps()]
    res["neural_ops"] = ext.shim.nops.__name__
    __import__(mod + ".blender.scenes", fromlist=["x"]).build_default_scene((32, 24))
    s = bpy.context.scene.neural_render.export
    s.directory, s.spp = out, 1
    res["export"] = list(bpy.ops.neural.export_passes())
    bpy.context.scene.neural_render.denoise.method = "bilateral"
    res["denoise"] = list(bpy.ops.neural.denoise_file(filepath=os.path.join(out, "frame_0001.exr")))
    try:
        ext.shim.nops.get_op("denoise", "oidn")(ext.shim.nops.read_exr(os.path.join(out, "frame_0001.exr")) if "OpenEXR" not in block else None)
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
    assert "blender_manifest.toml" in names and "__init__.py" in names and "neural_ops/core/exr.py" in names
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


STOCK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import bpy, addon_utils

    zip_path, out = sys.argv[1], sys.argv[2]
    res = {}

    def op(fn, **kw):
        # An operator's outcome: FINISHED, or its one-line report (Blender raises it as RuntimeError).
        try:
            return {"result": sorted(fn(**kw)), "message": ""}
        except RuntimeError as e:
            return {"result": ["ERROR"], "message": str(e).strip()}

    def mean_of(path):
        img = bpy.data.images.load(path)
        px = list(img.pixels)
        bpy.data.images.remove(img)
        return sum(v for i, v in enumerate(px) if i % 4 < 3) / max(1, len(px) * 3 // 4)

    def f12(scene, name):
        scene.render.image_settings.media_type = "IMAGE"
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = os.path.join(out, name)
        r = sorted(bpy.ops.render.render(write_still=True, scene=scene.name))
        return {"result": r, "mean": mean_of(scene.render.filepath)}

    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    mod = "bl_ext.user_default.neural_render"
    res["enabled"] = addon_utils.check(mod)[1]
    ext = sys.modules[mod]
    res["neural_ops"] = ext.shim.nops.__name__
    res["missing"] = sorted(m for m, _, _ in ext.shim.missing_deps())
    res["leaked"] = sorted(m for m in ("neural_ops", "addon", "training", "torch", "pyoidn", "OpenEXR")
                           if m in sys.modules)
    scene = __import__(mod + ".blender.scenes", fromlist=["x"]).build_default_scene((32, 24))
    scene.cycles.samples = 1
    nr = scene.neural_render

    s = nr.export
    s.directory, s.spp = out, 1
    res["export"] = op(bpy.ops.neural.export_passes)
    exr = os.path.join(out, "frame_0001.exr")
    res["exported"] = os.path.exists(exr) and os.path.exists(os.path.join(out, "frame_0001.json"))

    nr.denoise.method = "bilateral"
    res["denoise_file"] = op(bpy.ops.neural.denoise_file, filepath=exr)
    res["relight_file"] = op(bpy.ops.neural.relight_file, filepath=exr)

    # Photoreal on a Workbench F12: the op cannot read the render here; the raster passes through.
    scene.render.engine = "BLENDER_WORKBENCH"
    res["raster"] = f12(scene, "raster.png")
    nr.photoreal.enabled = True
    res["photoreal"] = f12(scene, "photoreal.png")
    nr.photoreal.enabled = False

    # Neural Novel View from a (one-view) multiview folder.
    views = os.path.join(out, "views")
    os.makedirs(views)
    __import__("shutil").copy(exr, os.path.join(views, "v.exr"))
    frame = {"file_path": "v.png", "exr_file_path": "v.exr",
             "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]}
    with open(os.path.join(views, "transforms.json"), "w") as f:
        json.dump({"w": 32, "h": 24, "fl_x": 30.0, "frames": [frame, dict(frame)]}, f)
    nr.novel_view.folder = views
    nr.novel_view.enabled = True
    res["novel_view"] = f12(scene, "novel.png")
    nr.novel_view.enabled = False

    # Relight pass: Cycles, a Neural Relight node relighting to another scene's lights.
    target = bpy.data.scenes.new("Target")
    target.world = bpy.data.worlds.new("Blue")
    target.world.color = (0.1, 0.2, 0.8)
    lamp = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT"))
    lamp.location = (2.0, -2.0, 3.0)
    lamp.data.energy = 500.0
    target.collection.objects.link(lamp)
    scene.render.engine = "CYCLES"
    tree = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    scene.compositing_node_group = tree
    scene.render.use_compositing = True
    rl = tree.nodes.new("CompositorNodeRLayers")
    node = tree.nodes.new("NeuralRelightNode")
    node.settings.target, node.settings.scene = "SCENE", target
    outn = tree.nodes.new("NodeGroupOutput")
    tree.links.new(rl.outputs["Image"], node.inputs["Image"])
    tree.links.new(rl.outputs["Neural Relit"], node.inputs["Relit"])
    tree.links.new(node.outputs["Image"], outn.inputs[0])
    res["relight_pass"] = f12(scene, "relit.png")
    res["relight_last"] = op(bpy.ops.neural.relight_last)
    img = bpy.data.images.get("Neural Relit")
    res["relit_image"] = sum(img.pixels[:]) if img is not None else 0.0
    scene.compositing_node_group = None

    scene.frame_start, scene.frame_end = 1, 3
    res["inbetween"] = op(bpy.ops.neural.render_inbetween, every=2, spp=1, geometry=False,
                          directory=os.path.join(out, "inbetween"))
    res["keys"] = sorted(os.listdir(os.path.join(out, "inbetween", "keys")))

    ds = nr.dataset
    ds.directory, ds.scenes, ds.resolution, ds.spp, ds.ref_spp = os.path.join(out, "ds"), 1, 16, "1", 2
    res["dataset"] = op(bpy.ops.neural.make_dataset)

    bpy.ops.preferences.addon_disable(module=mod)
    res["disabled"] = not addon_utils.check(mod)[1]
    print("RESULT " + json.dumps(res))
    """
)


def _stock_env(tmp_path) -> dict:
    """The environment of a user's Blender: no PYTHONPATH, no project virtualenv on PATH."""
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "res"))
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not (Path(p) / "neural-render").exists())
    return env


@pytest.mark.skipif(not STOCK_PYTHON.exists(), reason="no stock-Blender Python: run 'make blender-env' "
                    "(a .venv-blender with only bpy==5.0.1)")
def test_every_operator_in_a_stock_blender_python(tmp_path, extension_zip):
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.run([str(STOCK_PYTHON), "-c", STOCK_SCRIPT, str(extension_zip), str(out)], cwd=tmp_path,
                       env=_stock_env(tmp_path), capture_output=True, text=True, timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(line[7:])
    log = p.stdout + p.stderr
    assert "Traceback" not in log, log[-4000:]

    assert res["enabled"] and res["disabled"]
    assert res["neural_ops"] == "bl_ext.user_default.neural_render.neural_ops"
    assert res["leaked"] == []  # nothing of the checkout, and no package a stock Blender lacks
    assert res["missing"] == ["OpenEXR", "pyoidn", "torch"]

    def needs(outcome, package):
        # Said in one line, naming the package: the user knows what to install.
        assert outcome["result"] == ["ERROR"], outcome
        msg = outcome["message"]
        assert f"'{package}'" in msg and "\n" not in msg, msg

    # Works: Blender renders and writes the EXR itself.
    assert res["export"]["result"] == ["FINISHED"] and res["exported"]
    # Reading EXR files needs OpenEXR.
    needs(res["denoise_file"], "OpenEXR")
    needs(res["relight_file"], "OpenEXR")
    # Render 1 in N renders its key frames, then needs OpenEXR to read them back.
    needs(res["inbetween"], "OpenEXR")
    assert res["keys"] == ["export.json", "frame_0001.exr", "frame_0001.json", "frame_0003.exr",
                           "frame_0003.json", "times.json"]
    # F12 features: the render finishes, the source passes through (never black), one line says why.
    assert res["raster"]["result"] == ["FINISHED"] and res["raster"]["mean"] > 0.05
    for name, label in (("photoreal", "Neural Photoreal"), ("novel_view", "Neural Novel View")):
        assert res[name]["result"] == ["FINISHED"]
        assert res[name]["mean"] == pytest.approx(res["raster"]["mean"], abs=0.02), name
        said = [ln for ln in p.stdout.splitlines() if ln.startswith(f"neural-render: {label} failed:")]
        assert said and "'OpenEXR'" in said[0], said
    # Relighting to another scene's lights runs on numpy alone (the network falls back, and says so).
    assert res["relight_pass"]["result"] == ["FINISHED"] and res["relight_pass"]["mean"] > 0.01
    assert res["relight_last"]["result"] == ["FINISHED"] and res["relit_image"] > 0
    assert "Neural relight unavailable" in log and "'torch'" in log
    # Datasets run neural-render in another process: not installed here, said in one line.
    assert res["dataset"]["result"] == ["ERROR"] and "neural-render command" in res["dataset"]["message"]
    assert "\n" not in res["dataset"]["message"]
