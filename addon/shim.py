"""Where the add-on finds ``neural_ops`` and its optional dependencies.

Inside the built extension ``neural_ops`` is a sub-package (``<ext>.neural_ops``); in a
development checkout or a pip install it is the top-level package. Optional packages the user
installed from the preferences live in a private folder that is put on ``sys.path`` here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

#: Python packages an op may need, with the pip name and what needs it.
OPTIONAL_DEPS = {
    "pyoidn": ("pyoidn", "the OIDN denoiser"),
    "OpenEXR": ("openexr", "reading and writing EXR files outside renders"),
    "torch": ("torch==2.13.0", "the learned ops"),
}


def _load_neural_ops():
    try:
        return importlib.import_module(f"{__package__}.neural_ops")
    except ImportError:
        return importlib.import_module("neural_ops")


nops = _load_neural_ops()


def ops_module(name: str):
    """A sub-module of ``neural_ops`` by its path inside the package (``"core.imageio"``),
    wherever the package lives (bundled in the extension or installed)."""
    return importlib.import_module(f"{nops.__name__}.{name}")


def deps_dir() -> Path:
    """Private folder for packages installed from the preferences (extension user folder)."""
    bpy = sys.modules.get("bpy")  # inside Blender it is loaded; elsewhere do not load it just for this
    try:
        return Path(bpy.utils.extension_path_user(__package__, path="site-packages", create=True))
    except Exception:  # not running as an extension (dev checkout): a folder beside the add-on
        return Path(__file__).resolve().parent / ".deps"


def add_deps_to_path() -> None:
    d = str(deps_dir())
    if d not in sys.path:
        sys.path.append(d)
        importlib.invalidate_caches()


def missing_deps() -> list[tuple[str, str, str]]:
    """(module, pip name, what needs it) for each optional dependency that cannot be imported."""
    return [(mod, pip, why) for mod, (pip, why) in OPTIONAL_DEPS.items() if not _importable(mod)]


def explain(e: BaseException) -> str:
    """One line a user can act on for a failure: our errors' own message; for a package missing
    from Blender's Python, which one, what needs it and how to install it; else type and message."""
    if isinstance(e, nops.NeuralRenderError):
        return str(e)
    if isinstance(e, ImportError) and e.name:
        top = e.name.split(".")[0]
        if top in OPTIONAL_DEPS:
            pip, why = OPTIONAL_DEPS[top]
            return (f"needs the Python package '{top}' ({why}), which this Blender's Python lacks: "
                    f"install it from the add-on preferences (pip install {pip})")
        return f"needs the Python package '{top}', which this Blender's Python lacks"
    return f"{type(e).__name__}: {e}"


def _importable(mod: str) -> bool:
    # find_spec does not import (importing torch would take seconds inside a panel's draw).
    if mod in sys.modules:
        return sys.modules[mod] is not None
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False
