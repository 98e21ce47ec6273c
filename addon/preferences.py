"""Add-on preferences: the packages the add-on uses, the optional training-extras download and the
neural-render command.

Inference never downloads anything: its packages are the extension's bundled wheels. The only
network use is the *Install Training Extras* button (PyTorch, for models you trained yourself
that have no ONNX graph), declared as the manifest's ``network`` permission and offered only when
Blender allows online access (Preferences > System > Network).
"""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .shim import BUNDLED, EXTRAS, add_deps_to_path, deps_dir, missing_bundled, missing_deps

OFFLINE = "Online access is off: allow it in Preferences > System > Network to download the training extras"


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
        broken = missing_bundled()
        box = layout.box()
        if broken:
            box.label(text="Bundled packages that did not load: " + ", ".join(broken), icon="ERROR")
            box.label(text="Install the extension built for this platform and Blender version")
        else:
            box.label(text="Bundled: " + ", ".join(BUNDLED), icon="CHECKMARK")
        missing = missing_deps()
        box = layout.box()
        if not missing:
            box.label(text="Training extras installed: " + ", ".join(EXTRAS), icon="CHECKMARK")
        else:
            box.label(text="Optional training extras (not needed by the shipped models):", icon="INFO")
            for _mod, pip, why in missing:
                box.label(text=f"{pip}: {why}")
            if not bpy.app.online_access:
                box.label(text=OFFLINE, icon="INTERNET_OFFLINE")
            box.operator("neural.install_deps", icon="IMPORT")
        box.label(text=f"Private package folder: {deps_dir()}")
        layout.prop(self, "neural_render_command")


class NEURAL_OT_install_deps(bpy.types.Operator):
    """Download the optional training extras (PyTorch) with pip into the add-on's private folder for
    this Python version. Needs online access"""

    bl_idname = "neural.install_deps"
    bl_label = "Install Training Extras"

    @classmethod
    def poll(cls, context):
        if not bpy.app.online_access:
            cls.poll_message_set(OFFLINE)
            return False
        return True

    def execute(self, context):
        import subprocess
        import sys

        if not bpy.app.online_access:  # poll covers the button; this covers scripts
            self.report({"ERROR"}, OFFLINE)
            return {"CANCELLED"}
        missing = missing_deps()
        if not missing:
            self.report({"INFO"}, "The training extras are installed")
            return {"FINISHED"}
        target = deps_dir(create=True)
        cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--only-binary=:all:",
               "--target", str(target), *[pip for _, pip, _ in missing]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
            self.report({"ERROR"}, f"Downloading the training extras failed: {tail[0]}")
            return {"CANCELLED"}
        add_deps_to_path()
        self.report({"INFO"}, f"Installed {', '.join(m for m, _, _ in missing)} into {target}; "
                              "restart Blender if an op still reports it missing")
        return {"FINISHED"}


classes = (NEURAL_AP_preferences, NEURAL_OT_install_deps)
register, unregister = bpy.utils.register_classes_factory(classes)
