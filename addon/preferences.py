"""Add-on preferences: what is missing and the button that installs it."""

from __future__ import annotations

import bpy

from .core import deps_dir
from .panels import draw_missing


class NEURAL_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    def draw(self, context):
        layout = self.layout
        draw_missing(layout)
        layout.label(text=f"Private package folder: {deps_dir()}")


classes = (NEURAL_AP_preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
