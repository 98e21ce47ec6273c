"""Neural Render: Blender add-on for neural ops on Cycles render passes.

Registers, in order, the node menu, each op's module (settings, node, operators), the scene
settings that point to them, preferences, the Cycles render-pass hook, the helper-scene engines
and panels; unregisters in reverse. It registers without torch or pyoidn: the
panel lists what is missing and offers to install it.
"""

from __future__ import annotations

from . import shim

shim.add_deps_to_path()


def _modules() -> tuple:
    """The add-on's modules in registration order. Imported here, not at the top, so that
    ``import addon`` (the CLI plugin, ``training``'s use of ``addon.blender``) does not load the UI."""
    from . import (
        cg2real,
        dataset,
        denoise,
        export,
        novel_view,
        panels,
        preferences,
        relight,
        settings,
    )
    from .engine import helper_scene, nodes, render_pass

    # Each op module registers its settings, node and operators; settings hangs the op settings
    # on scenes and cameras; helper_scene registers the engines of the features cg2real and
    # novel_view declared on import.
    return (nodes, denoise, cg2real, relight, novel_view, export, dataset, settings, preferences, render_pass,
            helper_scene, panels)


def register():
    for m in _modules():
        m.register()


def unregister():
    for m in reversed(_modules()):
        m.unregister()
