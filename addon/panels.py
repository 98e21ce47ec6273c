"""Panels: draw code only, kept thin (it cannot be tested without a GUI).

Render properties > Neural Render holds one sub-panel per op, then Export and Training Data.
Only what applies to the scene's render engine is shown: the Denoise and Relight passes are
filled after Cycles renders, so under another engine their panels keep only the file operators
(which work on any EXR); Photoreal and Novel View work with any engine.
"""

from __future__ import annotations

import bpy

from . import shim
from .shim import missing_deps

CYCLES = "CYCLES"


def draw_missing(layout):
    """What the add-on cannot do in this Blender, and the button that fixes what can be fixed."""
    missing_bundled = getattr(shim, "missing_bundled", lambda: [])()
    missing = missing_deps()
    if not (missing or missing_bundled):
        return
    box = layout.box()
    if missing_bundled:
        box.label(text="Not loaded: " + ", ".join(missing_bundled), icon="ERROR")
        box.label(text="Install the extension built for this platform and Blender version")
    if missing:
        box.label(text="Optional packages not installed:", icon="INFO")
        for _mod, pip, why in missing:
            box.label(text=f"{pip}: needed for {why}")
        box.operator("neural.install_deps", icon="IMPORT")


def _is_cycles(context) -> bool:
    return context.scene.render.engine == CYCLES


class _Sub:
    """Common to the sub-panels of Render properties > Neural Render."""

    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_parent_id = "NEURAL_PT_render"
    bl_options = {"DEFAULT_CLOSED"}


class NEURAL_PT_render(bpy.types.Panel):
    bl_label = "Neural Render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context):
        draw_missing(self.layout)


class _OpPanel(_Sub):
    """An op's sub-panel: its switch in the header, its settings (greyed while off), then the
    op's own buttons (:meth:`buttons`). ``cycles_pass``: the switch adds a pass Cycles fills, so
    under another engine only the settings for the file operators show."""

    setting = ""
    cycles_pass = ""

    def _switchable(self, context) -> bool:
        return not self.cycles_pass or _is_cycles(context)

    def draw_header(self, context):
        if self._switchable(context):
            self.layout.prop(getattr(context.scene.neural_render, self.setting), "enabled", text="")

    def draw(self, context):
        layout = self.layout
        s = getattr(context.scene.neural_render, self.setting)
        if not self._switchable(context):
            layout.label(text=f"The {self.cycles_pass} pass needs Cycles; these settings apply to EXR files",
                         icon="INFO")
        col = layout.column()
        col.active = s.enabled or not self._switchable(context)
        s.draw(col)
        self.buttons(layout, context)

    def buttons(self, layout, context) -> None:
        """The op's operators under its settings."""


class NEURAL_PT_denoise(_OpPanel, bpy.types.Panel):
    bl_label = "Denoise"
    bl_order = 0
    setting, cycles_pass = "denoise", "Neural Denoised"

    def buttons(self, layout, context):
        layout.operator("neural.denoise_file", icon="FILE_IMAGE")
        layout.operator("neural.denoise_animation", icon="RENDER_ANIMATION")


class NEURAL_PT_relight(_OpPanel, bpy.types.Panel):
    bl_label = "Relight"
    bl_order = 1
    setting, cycles_pass = "relight", "Neural Relit"

    def buttons(self, layout, context):
        row = layout.row(align=True)
        if _is_cycles(context):
            row.operator("neural.relight_last", icon="LIGHT_SUN")
        row.operator("neural.relight_file", icon="FILE_IMAGE")


class NEURAL_PT_photoreal(_OpPanel, bpy.types.Panel):
    bl_label = "Photoreal"
    bl_order = 2
    setting = "photoreal"

    def buttons(self, layout, context):
        if context.scene.render.engine.startswith("BLENDER_EEVEE"):
            layout.operator("neural.prepare_eevee", icon="OUTLINER_OB_LIGHTPROBE")


class NEURAL_PT_novel_view(_OpPanel, bpy.types.Panel):
    bl_label = "Novel View"
    bl_order = 3
    setting = "novel_view"

    def buttons(self, layout, context):
        layout.operator("neural.render_inbetween", icon="RENDER_ANIMATION")


class NEURAL_PT_export(_Sub, bpy.types.Panel):
    bl_label = "Export Passes"
    bl_order = 4

    def draw(self, context):
        layout = self.layout
        e = context.scene.neural_render.export
        col = layout.column()
        col.prop(e, "directory")
        col.prop(e, "views")
        if e.views == "FRAMES":
            row = col.row(align=True)
            row.prop(e, "frame_start")
            row.prop(e, "frame_end")
        elif e.views == "MARKED":
            col.label(text="Mark cameras in Camera properties > Neural Render", icon="INFO")
        col.prop(e, "spp")
        col.prop(e, "half")
        col.prop(e, "cycles_denoised")
        col.prop(e, "overwrite")
        layout.operator("neural.export_passes", icon="RENDER_STILL")


class NEURAL_PT_dataset(_Sub, bpy.types.Panel):
    bl_label = "Training Data"
    bl_order = 5

    def draw(self, context):
        ds = context.scene.neural_render.dataset
        col = self.layout.column()
        for prop in ("kind", "directory", "scenes", "seed", "resolution", "spp", "ref_spp"):
            col.prop(ds, prop)
        self.layout.operator("neural.make_dataset", icon="OUTLINER_OB_LIGHTPROBE")


class NEURAL_PT_camera(bpy.types.Panel):
    bl_label = "Neural Render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "data"

    @classmethod
    def poll(cls, context):
        return context.camera is not None

    def draw(self, context):
        self.layout.prop(context.camera.neural_render, "export")


#: Parents before children (Blender needs the parent registered first).
classes = (NEURAL_PT_render, NEURAL_PT_denoise, NEURAL_PT_relight, NEURAL_PT_photoreal, NEURAL_PT_novel_view,
           NEURAL_PT_export, NEURAL_PT_dataset, NEURAL_PT_camera)
SUB_PANELS = classes[1:-1]
register, unregister = bpy.utils.register_classes_factory(classes)
