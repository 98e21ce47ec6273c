"""Exporting pass sets from Blender: the Export settings, the per-camera "mark for export"
switch and the Export Neural Passes operator (rendering is headless: :mod:`.blender.export`)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import jobs, params
from .blender import export


class NEURAL_PG_export(bpy.types.PropertyGroup):
    """What "Export Neural Passes" renders and where it writes."""

    directory: StringProperty(
        name="Output Folder", description="Folder for the EXR + JSON pass sets", subtype="DIR_PATH", default="//neural_passes/"
    )
    spp: IntProperty(name="Samples", description="Cycles samples per pixel for the exported views", default=4, min=1, max=65536)
    views: EnumProperty(
        name="Views",
        description="Which views to render",
        items=(
            ("ACTIVE", "Active Camera", "The scene camera at the current frame"),
            ("FRAMES", "Frame Range", "The scene camera over the frame range"),
            ("MARKED", "Marked Cameras", "Every camera marked for export, at the current frame"),
        ),
        default="ACTIVE",
    )
    frame_start: IntProperty(name="Start", default=1, min=0)
    frame_end: IntProperty(name="End", default=1, min=0)
    half: BoolProperty(name="Half Float", description="Store colour passes as float16 (data passes stay float32)", default=True)
    overwrite: BoolProperty(name="Overwrite", description="Replace existing files", default=False)
    cycles_denoised: BoolProperty(
        name="Keep Cycles Denoised",
        description="Also store Cycles' own denoised image as the pass 'Cycles Denoised' (Combined stays the noisy "
                    "render); Denoise EXR File's default method refines it",
        default=True,
    )


class NEURAL_PG_camera(bpy.types.PropertyGroup):
    export: BoolProperty(name="Export Neural Passes", description="Render this camera in 'Marked Cameras' exports", default=False)


class NEURAL_OT_export_passes(jobs.JobOperator, bpy.types.Operator):
    """Render the chosen views with Cycles and write every pass the neural ops need as multilayer EXR + JSON"""

    bl_idname = "neural.export_passes"
    bl_label = "Export Neural Passes"
    bl_options = {"REGISTER"}

    def execute(self, context):
        scene = context.scene
        try:  # fail before the first render: no camera, nothing visible, files in the way
            cfg = params.export_config(scene.neural_render.export, scene)
            views = export.plan_views(scene, cfg)
        except export.ExportError as e:
            self.report({"ERROR"}, f"Export: {jobs.user_message(e)}")
            return {"CANCELLED"}

        def render(progress):
            progress.total = len(views)
            with export.export_settings(scene, cfg):
                for i, v in enumerate(views):
                    progress.text = f"{v.path.name}"
                    print(f"export {i + 1}/{len(views)}: {v.path.name}")
                    export.render_view(scene, v, cfg, png=export.multiview(views))
                    progress.done = i + 1
                    yield
            export.write_manifest(cfg, views)
            if export.multiview(views):
                export.write_transforms(cfg, views)
                return f"Exported {len(views)} views with transforms.json to {views[0].path.parent}"
            return f"Exported 1 view to {views[0].path.parent}"

        return self.run_job(context, jobs.Job("Export", steps=render,
                                              cancelled="Export cancelled after {done} of {total} view(s)"))


classes = (NEURAL_PG_export, NEURAL_PG_camera, NEURAL_OT_export_passes)
register, unregister = bpy.utils.register_classes_factory(classes)
