"""Neural Render: Blender add-on for neural ops on Cycles render passes.

Registers, in order, settings, preferences, compositor nodes, the Cycles render-pass hook,
operators and panels; unregisters in reverse. It registers without torch or pyoidn: the
panel lists what is missing and offers to install it.
"""

from __future__ import annotations

from . import core

core.add_deps_to_path()

from . import (  # noqa: E402
    inbetween,
    nodes,
    operators,
    panels,
    photoreal,
    preferences,
    props,
    relight,
    render_pass,
)

_modules = (props, preferences, nodes, render_pass, photoreal, relight, inbetween, operators, panels)


def register():
    for m in _modules:
        m.register()


def unregister():
    for m in reversed(_modules):
        m.unregister()
