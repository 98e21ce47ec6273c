"""Neural Render: Blender add-on for neural ops on Cycles render passes.

Registers, in order, settings, preferences, compositor nodes, the Cycles render-pass hook,
operators and panels; unregisters in reverse. It registers without torch or pyoidn: the
panel lists what is missing and offers to install it.
"""

from __future__ import annotations

from . import core

core.add_deps_to_path()

from . import (  # noqa: E402
    eevee_setup,
    helper_scene,
    inbetween,
    nodes,
    novel_view,
    operators,
    panels,
    photoreal,
    preferences,
    props,
    relight,
    render_pass,
)

# photoreal and novel_view only declare their helper-scene features; helper_scene registers their engines.
_modules = (props, preferences, nodes, render_pass, helper_scene, eevee_setup, relight, inbetween, operators, panels)
_features = (photoreal, novel_view)


def register():
    for m in _modules:
        m.register()


def unregister():
    for m in reversed(_modules):
        m.unregister()
