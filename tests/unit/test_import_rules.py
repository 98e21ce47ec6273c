"""The import rules of ARCHITECTURE.md, read from the source (no imports run): which package may
import which, and that each op's folder stands alone. ``make lint`` runs this file too.

Rules:
- ``neural_ops`` imports nothing from ``addon`` or ``training``;
- ``addon`` never imports ``training`` and reaches ``neural_ops`` only through ``addon/shim.py``;
- ``training`` imports only ``addon.blender`` from the add-on;
- per-op folders never import each other, and the shared layers (``neural_ops.core``,
  ``neural_ops.nn``, ``training.common``) import no op;
- no ``importlib`` / ``__import__`` string names another of our packages (it would hide an edge).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("neural_ops", "addon", "training")
OPS = ("denoise", "cg2real", "relight", "novel_view")
#: Layers every op may use, which must not use an op themselves.
SHARED = {"neural_ops": ("core", "nn"), "training": ("common",), "addon": ("engine", "blender")}
#: Prefix of a module reached through the add-on's shim (``ops_module("core.exr")``).
SHIM = "shim:"
#: What a dynamic import of a computed name is reported as (only the add-on's shim may do that).
COMPUTED = "<computed>"
#: The only places that may import a computed module name: the shim that finds neural_ops.
COMPUTED_OK = ("addon/shim.py",)
#: Where training may import bpy at module level (scene building and dataset generation); other
#: training modules that render import it inside the function that renders.
TRAINING_BPY = ("training/scenes/", "training/datagen/")
#: A dotted name inside one of our packages, e.g. "training.denoise.train".
MODULE_STRING = re.compile(r"(neural_ops|addon|training)(\.[A-Za-z_]\w*)+")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, mod: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the source of module ``mod``, relative ones
    resolved; a ``from X import Y`` also yields ``X.Y`` (Y may be a sub-module); string module
    names in dynamic imports are included, ``ops_module("x")`` (the add-on's shim) as
    ``neural_ops.x``, and a dynamic import of a computed name as ``<computed>``."""
    tree = ast.parse(source)
    package = mod.split(".") if is_package else mod.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call):
            # A module name passed as a string: to importlib itself, or to any helper that
            # imports it for the caller (``_needs_torch("training.x")``).
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if name == "ops_module":
                        out.append((node.lineno, SHIM + f"neural_ops.{arg.value}"))
                    elif name in ("import_module", "__import__") or MODULE_STRING.fullmatch(arg.value):
                        out.append((node.lineno, arg.value))
                elif name in ("import_module", "__import__"):
                    out.append((node.lineno, COMPUTED))
    return out


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _op_of(module: str, package: str) -> str | None:
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return None
    return parts[1] if parts[1] in OPS else None


def violations(path: Path, source: str | None = None) -> list[str]:
    """Every broken rule in one file (``source``: its text, default read from ``path``, a path
    inside the repository), as 'file:line: imports X (why)'."""
    mod = _module_name(path)
    pkg = mod.split(".")[0]
    own_op = _op_of(mod, pkg)
    layer = mod.split(".")[1] if "." in mod else ""
    rel = path.relative_to(ROOT)
    source = path.read_text() if source is None else source
    bad = []
    top_level = {n.lineno for n in ast.parse(source).body if isinstance(n, ast.Import | ast.ImportFrom)}
    for line, target in _imports(source, mod, path.name == "__init__.py"):
        via_shim = target.startswith(SHIM)
        target = target.removeprefix(SHIM)
        top = target.split(".")[0]
        where = f"{rel}:{line}: imports {target}"
        if target == COMPUTED and rel.as_posix() not in COMPUTED_OK:
            bad.append(f"{where} (a computed module name hides an import edge)")
        if top in ("bpy", "mathutils"):
            if pkg == "neural_ops":
                bad.append(f"{where} (neural_ops never imports bpy)")
            if pkg == "training" and line in top_level and not rel.as_posix().startswith(TRAINING_BPY):
                bad.append(f"{where} (training imports bpy at module level only in scenes/ and datagen/)")
        if pkg == "neural_ops" and top in ("addon", "training"):
            bad.append(f"{where} (neural_ops never imports the packages above it)")
        if pkg == "addon":
            if top == "training":
                bad.append(f"{where} (the add-on never imports training; dataset jobs run as a process)")
            if top == "neural_ops" and not via_shim and rel.as_posix() != "addon/shim.py":
                bad.append(f"{where} (the add-on reaches neural_ops only through addon/shim.py)")
        if pkg == "training" and top == "addon" and not (target == "addon" or target.startswith("addon.blender")):
            bad.append(f"{where} (training uses only addon.blender)")
        other = _op_of(target, top) if top == pkg else None
        if other and own_op and other != own_op:
            bad.append(f"{where} (op folders are independent: {own_op} must not use {other})")
        if other and layer in SHARED.get(pkg, ()):
            bad.append(f"{where} (the shared layer {pkg}.{layer} must not use an op)")
        if pkg == "addon" and mod.count(".") == 1 and layer in OPS and top == "neural_ops":
            other_op = _op_of(target, "neural_ops")
            if other_op and other_op != layer:
                bad.append(f"{where} (add-on op modules are independent: {layer} must not use {other_op})")
        if pkg == "addon" and mod.count(".") == 1 and layer in OPS and top == "addon":
            other_mod = target.split(".")[1] if target.count(".") >= 1 else ""
            if other_mod in OPS and other_mod != layer:
                bad.append(f"{where} (add-on op modules are independent: {layer} must not use {other_mod})")
    return bad


@pytest.mark.parametrize("package", PACKAGES)
def test_import_rules(package):
    bad = [v for f in _files(package) for v in violations(f)]
    assert not bad, "\n".join(bad)


def test_rules_catch_a_violation():
    # The checker itself, on sources it is handed (nothing written into the packages): an op
    # folder reaching into another op, an importlib string naming training, a computed module
    # name, an add-on module importing neural_ops directly or reaching another op's module
    # through the shim, and neural_ops importing bpy are all reported.
    relight = ROOT / "neural_ops" / "relight" / "probe.py"
    addon = ROOT / "addon" / "denoise.py"
    v = violations(relight, "from ..denoise import learned\nimport importlib\nimportlib.import_module('training.x')\n"
                            "importlib.import_module(name)\n\ndef f():\n    import bpy\n")
    v += violations(addon, "from neural_ops.core import exr\nfrom .shim import ops_module\nops_module('relight.op')\n")
    assert any("relight must not use denoise" in x for x in v)
    assert any("training.x" in x for x in v)
    assert any("computed module name" in x for x in v)
    assert any("never imports bpy" in x for x in v)
    assert any("only through addon/shim.py" in x for x in v)
    assert any("neural_ops.relight.op" in x and "denoise must not use relight" in x for x in v)
