"""Build and validate the Blender extension zip with Blender's own extension tool.

The zip root holds ``blender_manifest.toml`` and the add-on's modules, with ``neural_ops``
copied in as a sub-package (the add-on imports it relatively there; see :mod:`.shim`).
Runs with the ``bpy`` wheel's bundled ``blender_ext.py``; no Blender binary is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .shim import nops

ROOT = Path(__file__).resolve().parent.parent


def _bpy_scripts() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise nops.NeuralRenderError("building the extension needs the bpy module: pip install bpy==5.0.1")
    base = Path(next(iter(spec.submodule_search_locations)))
    scripts = next(base.glob("[0-9]*.[0-9]*/scripts"), None)
    if scripts is None:
        raise nops.NeuralRenderError(f"{base}: no Blender scripts folder in the bpy package")
    return scripts


def blender_ext(*args: str) -> subprocess.CompletedProcess:
    """Run Blender's extension CLI (``blender --command extension ...``) without Blender."""
    scripts = _bpy_scripts()
    tool = scripts / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    tags = scripts / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    extra = ["--valid-tags", str(tags)] if args[0] in ("build", "validate") else []
    return subprocess.run([sys.executable, str(tool), *args, *extra], capture_output=True, text=True)


def stage(dest: Path) -> Path:
    """Lay out the extension source tree in ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".deps")
    shutil.copytree(ROOT / "addon", dest, ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(ROOT / "neural_ops", dest / "neural_ops", ignore=ignore, dirs_exist_ok=True)
    shutil.copy2(ROOT / "blender_manifest.toml", dest / "blender_manifest.toml")
    return dest


def validate(path: Path) -> None:
    """Run Blender's validator on a source folder or zip; raise with its messages on failure."""
    r = blender_ext("validate", str(path))
    if r.returncode != 0:
        raise nops.NeuralRenderError(f"{path}: extension validation failed: {(r.stdout + r.stderr).strip()}")


def build(out_dir: Path) -> Path:
    """Validate and build ``<id>-<version>.zip`` into ``out_dir``; returns its path."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = stage(Path(tmp) / "neural_render")
        validate(src)
        r = blender_ext("build", "--source-dir", str(src), "--output-dir", str(out_dir))
        if r.returncode != 0:
            raise nops.NeuralRenderError(f"extension build failed: {(r.stdout + r.stderr).strip()}")
    zips = sorted(out_dir.glob("neural_render-*.zip"), key=lambda p: p.stat().st_mtime)
    if not zips:
        raise nops.NeuralRenderError(f"extension build wrote no zip into {out_dir}")
    validate(zips[-1])
    return zips[-1]
