"""Add-on preferences: what is missing, the button that installs it, and the neural-render command."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .panels import draw_missing
from .shim import add_deps_to_path, deps_dir, missing_deps


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


class NEURAL_OT_install_deps(bpy.types.Operator):
    """Install the missing optional Python packages into the add-on's private folder with pip"""

    bl_idname = "neural.install_deps"
    bl_label = "Install Dependencies"

    def execute(self, context):
        import subprocess
        import sys

        missing = missing_deps()
        if not missing:
            self.report({"INFO"}, "All dependencies are installed")
            return {"FINISHED"}
        target = deps_dir()
        cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), *[pip for _, pip, _ in missing]]
        self.report({"INFO"}, "Running: " + " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
            self.report({"ERROR"}, f"pip failed: {tail[0]} (run the command above in a terminal to see more)")
            return {"CANCELLED"}
        add_deps_to_path()
        self.report({"INFO"}, f"Installed into {target}; restart Blender if an op still reports it missing")
        return {"FINISHED"}


classes = (NEURAL_AP_preferences, NEURAL_OT_install_deps)
register, unregister = bpy.utils.register_classes_factory(classes)
