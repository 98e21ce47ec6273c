"""Where the add-on finds ``neural_ops`` and the Python packages it needs.

Inside the built extension ``neural_ops`` is a sub-package (``<ext>.neural_ops``); in a
development checkout or a pip install it is the top-level package.

The packages a stock Blender's Python lacks come from one of three places:

- **bundled** (:data:`BUNDLED`): the extension's own wheels, which Blender installs with the zip
  (:mod:`.package` builds them); missing only when the zip was made for another platform or
  Python, so nothing is ever downloaded for inference;
- **training extras** (:data:`EXTRAS`): optional, downloaded on request from the preferences
  (when Blender allows online access) into a private folder tagged with the Python version
  (``site-packages-cp313``): a Blender running another Python never sees, and never counts as
  installed, packages built for a different one;
- **not available in Blender** (:data:`NOT_IN_BLENDER`): too large to bundle; the message says
  what to use instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

#: Import name -> what needs it, for the packages the extension bundles as wheels (the pinned
#: pip requirements are :data:`.package.WHEELS`).
BUNDLED = {
    "onnxruntime": "running the learned models",
    "OpenEXR": "reading and writing EXR files",
}

#: Import name -> (pip requirement, what needs it), for the optional training extras.
EXTRAS = {
    "torch": ("torch==2.13.0", "models you trained yourself that have no ONNX graph"),
}

#: Import name -> what needs it and what to do instead, for packages a Blender install cannot get.
NOT_IN_BLENDER = {
    "pyoidn": "the OIDN denoiser, which the extension does not include (its library is too large): turn on "
              "Denoise in Cycles' render settings, or choose another denoising method",
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


def python_tag() -> str:
    """This Python's tag, ``cp311`` or ``cp313``: the private package folder is named after it."""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}"


def deps_dir(create: bool = False) -> Path:
    """Private folder of the training extras for this Python version: ``site-packages-cpXY`` in
    the extension's user folder (``.deps/cpXY`` beside the add-on in a development checkout)."""
    bpy = sys.modules.get("bpy")  # inside Blender it is loaded; elsewhere do not load it just for this
    try:
        return Path(bpy.utils.extension_path_user(__package__, path=f"site-packages-{python_tag()}",
                                                  create=create))
    except Exception:  # not running as an extension (dev checkout): a folder beside the add-on
        d = Path(__file__).resolve().parent / ".deps" / python_tag()
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d


def add_deps_to_path() -> None:
    """Put this Python's private folder on ``sys.path`` (if the user installed extras there)."""
    d = deps_dir()
    if d.is_dir() and str(d) not in sys.path:
        sys.path.append(str(d))
        importlib.invalidate_caches()


def remove_deps_from_path() -> None:
    """Take the private folder off ``sys.path`` again (on disable)."""
    d = str(deps_dir())
    while d in sys.path:
        sys.path.remove(d)
    importlib.invalidate_caches()


def missing_bundled() -> list[str]:
    """Bundled packages that do not import: the zip was built for another platform or Python."""
    return [mod for mod in BUNDLED if not _importable(mod)]


def missing_deps() -> list[tuple[str, str, str]]:
    """(module, pip requirement, what needs it) for each training extra that is not installed
    for this Python (what the preferences' install button would download)."""
    return [(mod, pip, why) for mod, (pip, why) in EXTRAS.items() if not _importable(mod)]


def explain(e: BaseException) -> str:
    """One line a user can act on for a failure: our errors' own message; for a package missing
    from Blender's Python, which one, what needs it and what to do; else type and message."""
    if isinstance(e, nops.NeuralRenderError):
        return str(e)
    if isinstance(e, ImportError) and e.name:
        top = e.name.split(".")[0]
        if top in BUNDLED:
            return (f"the Python package '{top}' ({BUNDLED[top]}) did not load: it comes with the extension, so "
                    f"install the extension built for this platform and Blender version")
        if top in EXTRAS:
            return (f"needs the Python package '{top}' ({EXTRAS[top][1]}): install the training extras from the "
                    f"add-on preferences")
        if top in NOT_IN_BLENDER:
            return f"needs the Python package '{top}' for {NOT_IN_BLENDER[top]}"
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
