"""Build and validate the Blender extension zips with Blender's own extension tool.

One zip per platform, as ``blender --command extension build --split-platforms`` makes them:
the add-on's modules at the zip root, ``neural_ops`` copied in as a sub-package (the add-on
imports it relatively there; see :mod:`.shim`), and under ``wheels/`` the unmodified PyPI wheels
of what the add-on imports that Blender's own Python lacks (:data:`WHEELS`), listed under
``wheels = [...]`` in each zip's manifest. Each zip holds the wheels of every supported Python
(:data:`PYTHONS`): Blender installs the ones matching its own Python and skips the others.

Wheels are downloaded with pip at build time into ``build/wheels/<platform>/<cpXY>/`` (kept
between builds, ignored by git), never when the add-on runs. Runs with the ``bpy`` wheel's
bundled ``blender_ext.py``; no Blender binary is needed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from .shim import nops

ROOT = Path(__file__).resolve().parent.parent
#: Downloaded wheels, one folder per platform and Python tag (``build/`` is ignored by git).
WHEEL_CACHE = ROOT / "build" / "wheels"

#: What the add-on imports that a stock Blender's Python lacks (pip requirement, pinned so that
#: a build is repeatable). Only these wheels, without their declared dependencies: the ones of
#: onnxruntime (coloredlogs, flatbuffers, packaging, protobuf, sympy) serve its model tools, not
#: ``InferenceSession``, and numpy is Blender's own. Not bundled: pyoidn (its wheel alone is 88 MB
#: on Linux, and the render hook uses Cycles' own denoiser instead), torch (training only).
#: Keep in step with :data:`.shim.BUNDLED` (the import names).
WHEELS = ("onnxruntime==1.23.2", "openexr==3.5.3")

#: Blender platform -> the platform tag pip downloads for (pip also takes wheels tagged for older
#: glibc or macOS versions). linux: Blender's own glibc floor (2.28); macOS: onnxruntime's wheels
#: need macOS 13. No macos-x64: Blender 5 has no Intel-Mac builds (4.5 LTS was the last).
PLATFORMS = {
    "linux-x64": "manylinux_2_28_x86_64",
    "windows-x64": "win_amd64",
    "macos-arm64": "macosx_13_0_arm64",
}

#: Python version -> the Blenders that run it (blender_version_min in the manifest is 5.0).
PYTHONS = {"3.11": "Blender 5.0", "3.13": "Blender 5.1 and later"}

#: Largest zip we accept (the issue's budget; Blender's extensions platform allows more).
MAX_ZIP_BYTES = 100 * 1024 * 1024


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


def python_tag(python: str) -> str:
    """``"3.13"`` -> ``"cp313"``."""
    return "cp" + python.replace(".", "")


def _check_choice(values, known: dict, what: str) -> list[str]:
    values = list(known) if not values else list(dict.fromkeys(values))
    bad = [v for v in values if v not in known]
    if bad:
        raise nops.NeuralRenderError(f"unknown {what} {', '.join(bad)}: choose from {', '.join(known)}")
    return values


def _cached(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))


def fetch_wheels(platforms=None, pythons=None, cache: Path = WHEEL_CACHE) -> list[Path]:
    """The wheels of :data:`WHEELS` for each platform and Python, downloaded into ``cache`` by
    ``pip download`` unless already there; returns their paths."""
    out = []
    for platform in _check_choice(platforms, PLATFORMS, "platform"):
        for python in _check_choice(pythons, PYTHONS, "Python version"):
            folder = cache / platform / python_tag(python)
            for req in WHEELS:
                dist, _, version = req.partition("==")
                prefix = f"{dist.replace('-', '_')}-{version}-{python_tag(python)}-".lower()
                found = _cached(folder, prefix)
                if not found:
                    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                           "--only-binary=:all:", "--no-deps", "--platform", PLATFORMS[platform],
                           "--python-version", python, "--dest", str(folder), req]
                    r = subprocess.run(cmd, capture_output=True, text=True)
                    found = _cached(folder, prefix)
                    if r.returncode != 0 or not found:
                        said = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.startswith("ERROR")]
                        raise nops.NeuralRenderError(
                            f"no {req} wheel for {platform}, Python {python}: "
                            f"{said[-1] if said else 'pip download found none'} ({' '.join(cmd)})")
                out.append(found[-1])
    return out


def _manifest_with(text: str, platforms: list[str], wheels: list[str]) -> str:
    """The source manifest with ``platforms`` and ``wheels`` added as top-level keys (before the
    first table, where TOML needs them)."""
    data = tomllib.loads(text)
    if "platforms" in data or "wheels" in data:
        raise nops.NeuralRenderError("blender_manifest.toml: platforms and wheels are written by the build; "
                                     "remove them from the source manifest")
    lines = ["# Written by neural-render build-extension (addon/package.py).",
             "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]",
             "wheels = [", *[f'  "{w}",' for w in wheels], "]", ""]
    m = re.search(r"^\[", text, flags=re.M)
    at = m.start() if m else len(text)
    return text[:at] + "\n".join(lines) + "\n" + text[at:]


def stage(dest: Path, wheels=(), platforms=()) -> Path:
    """Lay out the extension source tree in ``dest``: the add-on, ``neural_ops`` inside it, the
    ``wheels`` under ``wheels/`` and the manifest listing them and the ``platforms``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".deps")
    shutil.copytree(ROOT / "addon", dest, ignore=ignore, dirs_exist_ok=True)
    shutil.copytree(ROOT / "neural_ops", dest / "neural_ops", ignore=ignore, dirs_exist_ok=True)
    rel = []
    if wheels:
        (dest / "wheels").mkdir(exist_ok=True)
        for w in wheels:
            shutil.copy2(w, dest / "wheels" / w.name)
            rel.append(f"./wheels/{w.name}")
    text = (ROOT / "blender_manifest.toml").read_text()
    if platforms:
        text = _manifest_with(text, list(platforms), rel)
    (dest / "blender_manifest.toml").write_text(text)
    return dest


def validate(path: Path) -> None:
    """Run Blender's validator on a source folder or zip; raise with its messages on failure."""
    r = blender_ext("validate", str(path))
    if r.returncode != 0:
        raise nops.NeuralRenderError(f"{path}: extension validation failed: {(r.stdout + r.stderr).strip()}")


def missing_onnx() -> list[str]:
    """Shipped models without their ONNX graph (the add-on runs models with ONNX Runtime only)."""
    d = ROOT / "neural_ops" / "weights"
    return sorted(p.stem for p in d.glob("*.safetensors") if not p.with_suffix(".onnx").exists())


def build(out_dir: Path, platforms=None, pythons=None) -> list[Path]:
    """Validate and build one ``<id>-<version>-<platform>.zip`` per platform into ``out_dir``
    (all of :data:`PLATFORMS` and :data:`PYTHONS` by default); each zip is validated and checked
    against :data:`MAX_ZIP_BYTES`. With only some Pythons the names end in their tags
    (``-cp313``), so they do not replace the zips for every Python. Returns the zips' paths."""
    platforms = _check_choice(platforms, PLATFORMS, "platform")
    pythons = _check_choice(pythons, PYTHONS, "Python version")
    wheels = fetch_wheels(platforms, pythons)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if set(pythons) == set(PYTHONS) else "-" + "-".join(python_tag(p) for p in pythons)
    zips = []
    with tempfile.TemporaryDirectory() as tmp:
        src = stage(Path(tmp) / "neural_render", wheels, platforms)
        validate(src)
        built = Path(tmp) / "out"
        built.mkdir()
        r = blender_ext("build", "--split-platforms", "--source-dir", str(src), "--output-dir", str(built))
        if r.returncode != 0:
            raise nops.NeuralRenderError(f"extension build failed: {(r.stdout + r.stderr).strip()}")
        for z in sorted(built.glob("*.zip")):
            validate(z)
            size = z.stat().st_size
            if size > MAX_ZIP_BYTES:
                raise nops.NeuralRenderError(f"{z.name}: {size / 2**20:.1f} MB, over the "
                                             f"{MAX_ZIP_BYTES / 2**20:.0f} MB budget")
            dest = out_dir / f"{z.stem}{suffix}.zip"
            shutil.move(z, dest)
            zips.append(dest)
    if len(zips) != len(platforms):
        raise nops.NeuralRenderError(f"extension build wrote {len(zips)} zip(s) for {len(platforms)} platform(s)")
    return zips


def zip_platform(path: Path) -> str:
    """The Blender platform a built zip is for (from its manifest)."""
    return describe(path)["platforms"][0]


def describe(path: Path) -> dict:
    """A built zip's size, platforms and bundled wheels, read from the manifest inside it (the
    ``[build.generated]`` table ``--split-platforms`` writes, when there is one)."""
    with zipfile.ZipFile(path) as z:
        data = tomllib.loads(z.read("blender_manifest.toml").decode())
    gen = data.get("build", {}).get("generated", {})
    return {"bytes": Path(path).stat().st_size, "platforms": gen.get("platforms", data.get("platforms", [])),
            "wheels": [w.rsplit("/", 1)[-1] for w in gen.get("wheels", data.get("wheels", []))]}


def host_platform() -> str:
    """This machine's platform in Blender's spelling (``linux-x64``, ``macos-arm64``...)."""
    import platform

    system = {"darwin": "macos"}.get(platform.system().lower(), platform.system().lower())
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(platform.machine().lower(),
                                                                        platform.machine().lower())
    return f"{system}-{machine}"
