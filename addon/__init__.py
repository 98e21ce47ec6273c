"""Neural Render: Blender add-on for neural ops on Cycles render passes.

Registers, in order, the node menu, each op's module (settings, node, operators), the scene
settings that point to them, preferences, the Cycles render-pass hook, the helper-scene engines
and panels; unregisters in reverse.

Disabling (or uninstalling) undoes what registering did: the private package folder leaves
``sys.path``, the render handlers and the Cycles hook are removed, the passes' AOVs are removed
from the view layers, Photoreal and Novel View are turned off in every scene of the open file
(their helper scenes, Render Layers and nodes removed, the compositor reconnected) and the
node groups no node uses any more are deleted. Left in the file, inert: the settings stored on
scenes and cameras (they come back when the add-on is enabled again), Neural Denoise and Neural
Relight nodes a user added to a compositor (shown as undefined nodes until then) and the
"Neural Relit" image of Relight Last Render.
"""

from __future__ import annotations

from . import shim


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
    shim.add_deps_to_path()
    for m in _modules():
        m.register()


def unregister():
    for m in reversed(_modules()):
        m.unregister()
    remove = getattr(shim, "remove_deps_from_path", None)
    if remove is not None:
        remove()
