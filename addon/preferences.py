"""Add-on preferences: what is missing and the button that installs it."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .core import deps_dir
from .panels import draw_missing


class NEURAL_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    neural_render_command: StringProperty(
        name="neural-render Command",
        description="The neural-render command of a Python environment with the training package and the bpy "
        "module (pip install neural-render[blender,train]); used to render training datasets in a separate process. "
        "Empty: found on PATH",
        subtype="FILE_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        draw_missing(layout)
        layout.label(text=f"Private package folder: {deps_dir()}")
        layout.prop(self, "neural_render_command")


classes = (NEURAL_AP_preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
