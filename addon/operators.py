"""Operators: thin wrappers that read settings, call one function and report.

In the GUI, long work is split so the interface stays responsive: export renders one view
per timer tick (rendering must happen on the main thread), and file ops run in a worker
thread that never touches bpy. Esc cancels between steps. In background mode
(``bpy.app.background``) timers never fire, so the same work runs synchronously.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path

import bpy
from bpy.props import StringProperty

from . import export
from .core import add_deps_to_path, deps_dir, missing_deps, nops


def _export_config(scene) -> export.ExportConfig:
    s = scene.neural_render.export
    if s.views == "FRAMES":
        frames = list(range(s.frame_start, s.frame_end + 1))
        cams = []
    elif s.views == "MARKED":
        frames = []
        cams = [o.name for o in scene.objects if o.type == "CAMERA" and o.data.neural_render.export]
        if not cams:
            raise export.ExportError("no camera is marked for export (Camera properties > Neural Render)")
    else:
        frames, cams = [], []
    return export.ExportConfig(directory=s.directory, spp=s.spp, frames=frames, cameras=cams, half=s.half, overwrite=s.overwrite)


class NEURAL_OT_export_passes(bpy.types.Operator):
    """Render the chosen views with Cycles and write every pass the neural ops need as multilayer EXR + JSON"""

    bl_idname = "neural.export_passes"
    bl_label = "Export Neural Passes"
    bl_options = {"REGISTER"}

    _timer = None

    def execute(self, context):
        scene = context.scene
        try:
            cfg = _export_config(scene)
            if bpy.app.background:
                paths = export.export_views(scene, cfg, progress=lambda i, n, v: print(f"export {i + 1}/{n}: {v.path.name}"))
                self.report({"INFO"}, f"Exported {len(paths)} view(s) to {Path(paths[0]).parent}")
                return {"FINISHED"}
            self._views = export.plan_views(scene, cfg)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._cfg, self._i, self._scene = cfg, 0, scene
        self._ctx = export.export_settings(scene, cfg)
        self._ctx.__enter__()
        wm = context.window_manager
        wm.progress_begin(0, len(self._views))
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            return self._finish(context, f"Export cancelled after {self._i} of {len(self._views)} view(s)", cancelled=True)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        v = self._views[self._i]
        context.workspace.status_text_set(f"Exporting neural passes {self._i + 1}/{len(self._views)}: {v.path.name} (Esc to cancel)")
        try:
            export.render_view(self._scene, v, self._cfg)
        except nops.NeuralRenderError as e:
            return self._finish(context, str(e), cancelled=True)
        self._i += 1
        context.window_manager.progress_update(self._i)
        if self._i == len(self._views):
            export.write_manifest(self._cfg, self._views)
            return self._finish(context, f"Exported {self._i} view(s) to {v.path.parent}")
        return {"RUNNING_MODAL"}

    def _finish(self, context, msg, cancelled=False):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        self._ctx.__exit__(None, None, None)
        self.report({"WARNING" if cancelled else "INFO"}, msg)
        return {"CANCELLED" if cancelled else "FINISHED"}


class NEURAL_OT_denoise_file(bpy.types.Operator):
    """Denoise an exported EXR with the scene's denoiser settings; writes <name>_denoised.exr with every pass kept"""

    bl_idname = "neural.denoise_file"
    bl_label = "Denoise EXR File"

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        s = context.scene.neural_render.denoise
        src = Path(bpy.path.abspath(self.filepath))
        dst = src.with_name(f"{src.stem}_denoised.exr")
        method, params = s.method, s.to_params()
        if bpy.app.background:
            try:
                denoise_file(src, dst, method, params)
            except nops.NeuralRenderError as e:
                self.report({"ERROR"}, str(e))
                return {"CANCELLED"}
            self.report({"INFO"}, f"Wrote {dst}")
            return {"FINISHED"}
        self._result, self._dst = {}, dst
        self._cancel = threading.Event()

        def work():
            try:
                denoise_file(src, dst, method, params, cancel=self._cancel)
                self._result["ok"] = True
            except nops.NeuralRenderError as e:
                self._result["error"] = str(e)
            except Exception as e:  # show the message, keep the trace in the console
                traceback.print_exc()
                self._result["error"] = f"{type(e).__name__}: {e}"

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        context.workspace.status_text_set(f"Denoising {src.name} with {s.method}... (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and not self._cancel.is_set():
            self._cancel.set()  # the worker finishes its current step and writes nothing
            context.workspace.status_text_set("Cancelling...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER" or self._thread.is_alive():
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        if self._cancel.is_set():
            self.report({"WARNING"}, "Denoise cancelled; nothing was written")
            return {"CANCELLED"}
        if "error" in self._result:
            self.report({"ERROR"}, self._result["error"])
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {self._dst}")
        return {"FINISHED"}


def denoise_file(src: Path, dst: Path, method: str, params: dict, overwrite: bool = False, cancel=None) -> Path | None:
    """Read a pass set, denoise it, write it back with the result as an extra pass.

    Touches no bpy, so it can run in a worker thread; ``cancel`` (a threading.Event) is checked
    between steps, and a cancelled run writes nothing.
    """
    nops.exr.check_writable(dst, overwrite)
    ps = nops.read_exr(src)
    spec = nops.get_op("denoise", method)
    if cancel is not None and cancel.is_set():
        return None
    out = spec(ps, **params)
    if cancel is not None and cancel.is_set():
        return None
    ps.add(spec.pass_name, out, "RGB")
    return nops.write_exr(ps, dst, overwrite=overwrite)


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


classes = (NEURAL_OT_export_passes, NEURAL_OT_denoise_file, NEURAL_OT_install_deps)
register, unregister = bpy.utils.register_classes_factory(classes)
