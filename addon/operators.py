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
        except Exception as e:  # never leave the export settings applied or the timer running
            traceback.print_exc()
            return self._finish(context, f"Export failed at {v.path.name}: {type(e).__name__}: {e}", cancelled=True)
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
        self._result, self._dst, self._src, self._method = {}, dst, src, s.method
        self._cancel = threading.Event()
        self._progress = [0, 0]

        def work():
            try:
                denoise_file(src, dst, method, params, cancel=self._cancel, progress=self._progress)
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
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._thread.is_alive():
            done, total = self._progress
            if total and not self._cancel.is_set():
                context.workspace.status_text_set(
                    f"Denoising {self._src.name} with {self._method}: tile {done}/{total} (Esc to cancel)")
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


def denoise_file(src: Path, dst: Path, method: str, params: dict, overwrite: bool = False, cancel=None,
                 progress: list | None = None) -> Path | None:
    """Read a pass set, denoise it, write it back with the result as an extra pass.

    Touches no bpy, so it can run in a worker thread; ``cancel`` (a threading.Event) is checked
    between steps and, for tiled ops, between tiles; a cancelled run writes nothing.
    ``progress`` (a two-item list) receives [tiles done, tiles total] as the op runs.
    """
    nops.exr.check_writable(dst, overwrite)
    ps = nops.read_exr(src)
    spec = nops.get_op("denoise", method)
    if cancel is not None and cancel.is_set():
        return None
    def on_tile(done, total):
        if progress is not None:
            progress[:] = [done, total]
        return cancel is not None and cancel.is_set()

    try:
        out = spec(ps, progress=on_tile, **params)
    except InterruptedError:
        return None
    if cancel is not None and cancel.is_set():
        return None
    ps.add(spec.pass_name, out, "RGB")
    return nops.write_exr(ps, dst, overwrite=overwrite)


def neural_render_command(context) -> list[str]:
    """How to run ``neural-render`` in a separate process: the preference, else the command on
    PATH, else this Python with ``-m neural_ops`` (a development checkout or a pip install)."""
    import importlib.util
    import shutil
    import sys

    prefs = context.preferences.addons.get(__package__)
    cmd = getattr(getattr(prefs, "preferences", None), "neural_render_command", "") if prefs else ""
    if cmd:
        path = bpy.path.abspath(cmd)
        if not Path(path).is_file():
            raise nops.NeuralRenderError(f"{path}: the neural-render command set in the preferences does not exist")
        return [path]
    found = shutil.which("neural-render")
    if found:
        return [found]
    if importlib.util.find_spec("training") is not None and importlib.util.find_spec("neural_ops") is not None:
        return [sys.executable, "-m", "neural_ops"]
    raise nops.NeuralRenderError("rendering datasets needs the neural-render command (pip install neural-render[blender,train] "
                                 "in a Python 3.11 environment), set in the add-on preferences")


class NEURAL_OT_make_dataset(bpy.types.Operator):
    """Render a training dataset from this scene: its geometry and materials, with cameras and lighting varied by seed (a separate neural-render process; run again to resume)"""

    bl_idname = "neural.make_dataset"
    bl_label = "Make Training Dataset"

    def execute(self, context):
        import re
        import subprocess

        scene = context.scene
        d = scene.neural_render.dataset
        out = Path(bpy.path.abspath(d.directory)).resolve()
        try:
            cmd = neural_render_command(context)
            out.mkdir(parents=True, exist_ok=True)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"{out}: cannot create the dataset folder ({e.strerror})")
            return {"CANCELLED"}
        # The dataset is made from a saved copy: later edits to the open file do not change it.
        blend = out / "source.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
        args = [*cmd, "data", d.kind, "--from", str(blend), "--scenes", str(d.scenes), "--seed", str(d.seed),
                "--resolution", str(d.resolution), "--spp", d.spp, "--ref-spp", str(d.ref_spp), "-o", str(out)]
        if bpy.app.background:
            proc = subprocess.run(args, capture_output=True, text=True)
            if proc.returncode != 0:
                self.report({"ERROR"}, _last_line(proc.stderr or proc.stdout))
                return {"CANCELLED"}
            self.report({"INFO"}, f"Dataset written to {out}")
            return {"FINISHED"}
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._progress, self._lines, self._out = [0, d.scenes], [], out
        pattern = re.compile(r"^\[(\d+)/(\d+)\]")

        def read():
            for line in self._proc.stdout:
                self._lines.append(line.rstrip())
                m = pattern.match(line)
                if m:
                    self._progress[:] = [int(m.group(1)), int(m.group(2))]

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        wm = context.window_manager
        if event.type == "ESC":
            self._proc.terminate()  # finished samples stay; running the operator again resumes
            self._end(context)
            self.report({"WARNING"}, f"Dataset cancelled after {self._progress[0]} sample(s); run again to resume")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        done, total = self._progress
        wm.progress_update(int(100 * done / max(1, total)))
        context.workspace.status_text_set(f"Training dataset: {done}/{total} samples (Esc to cancel)")
        if self._proc.poll() is None:
            return {"PASS_THROUGH"}
        self._end(context)
        if self._proc.returncode != 0:
            self.report({"ERROR"}, _last_line("\n".join(self._lines)))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Dataset written to {self._out}")
        return {"FINISHED"}

    def _end(self, context):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)


def _last_line(text: str) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "neural-render failed without a message"


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


classes = (NEURAL_OT_export_passes, NEURAL_OT_denoise_file, NEURAL_OT_make_dataset, NEURAL_OT_install_deps)
register, unregister = bpy.utils.register_classes_factory(classes)
