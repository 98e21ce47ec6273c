"""Panels: draw code only, kept thin (it cannot be tested without a GUI)."""

from __future__ import annotations

import bpy

from .shim import missing_deps


def draw_missing(layout):
    missing = missing_deps()
    if missing:
        box = layout.box()
        box.label(text="Missing packages:", icon="ERROR")
        for _mod, pip, why in missing:
            box.label(text=f"{pip}: needed for {why}")
        box.operator("neural.install_deps", icon="IMPORT")


def _section(layout, heading: str, settings) -> None:
    """A feature's switch, then its settings (greyed out while it is off)."""
    col = layout.column(heading=heading)
    col.prop(settings, "enabled")
    sub = col.column()
    sub.active = settings.enabled
    settings.draw(sub)


class NEURAL_PT_render(bpy.types.Panel):
    bl_label = "Neural Render"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    COMPAT_ENGINES = {"CYCLES"}

    def draw(self, context):
        layout = self.layout
        nr = context.scene.neural_render
        draw_missing(layout)
        _section(layout, "Denoise", nr.denoise)
        layout.operator("neural.denoise_file", icon="FILE_IMAGE")
        _section(layout, "Relight", nr.relight)
        row = layout.row(align=True)
        row.operator("neural.relight_last", icon="LIGHT_SUN")
        row.operator("neural.relight_file", icon="FILE_IMAGE")
        _section(layout, "Photoreal", nr.photoreal)
        layout.operator("neural.prepare_eevee", icon="OUTLINER_OB_LIGHTPROBE")
        _section(layout, "Novel View", nr.novel_view)
        e = nr.export
        col = layout.column(heading="Export")
        col.prop(e, "directory")
        col.prop(e, "views")
        if e.views == "FRAMES":
            row = col.row(align=True)
            row.prop(e, "frame_start")
            row.prop(e, "frame_end")
        col.prop(e, "spp")
        col.prop(e, "half")
        col.prop(e, "overwrite")
        layout.operator("neural.export_passes", icon="RENDER_STILL")
        layout.operator("neural.render_inbetween", icon="RENDER_ANIMATION")
        ds = nr.dataset
        col = layout.column(heading="Training Data")
        for prop in ("kind", "directory", "scenes", "seed", "resolution", "spp", "ref_spp"):
            col.prop(ds, prop)
        layout.operator("neural.make_dataset", icon="OUTLINER_OB_LIGHTPROBE")


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


classes = (NEURAL_PT_render, NEURAL_PT_camera)
register, unregister = bpy.utils.register_classes_factory(classes)
