"""Training data from the open scene: the dataset settings and the Make Training Dataset operator.

Datasets are rendered by ``neural-render data`` in a separate process (the training package is
never imported into Blender): from a saved copy of the open file, with cameras and lighting
varied by seed. Running the operator again resumes.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import jobs, params
from .shim import nops, ops_module

#: The progress lines ``neural-render data`` prints: ``[done/total] ...``.
PROGRESS_LINE = re.compile(r"^\[(\d+)/(\d+)\]")


class NEURAL_PG_dataset(bpy.types.PropertyGroup):
    """What "Make Training Dataset" renders from the open scene (cameras and lights randomised)."""

    kind: EnumProperty(
        name="Kind",
        description="Dataset kind",
        items=(
            ("denoise", "Denoise", "Noisy renders at several spp and a high-spp reference"),
            ("cg2real", "CG2Real", "EEVEE and Workbench images with the Cycles image of the same camera"),
            ("relight", "Relight", "The same camera under several lightings, with their descriptions"),
            ("multiview", "Multi-view", "Views around the scene with transforms.json (nerfstudio)"),
        ),
        default="denoise",
    )
    directory: StringProperty(name="Output Folder", description="Dataset folder (run again to resume)",
                              subtype="DIR_PATH", default="//neural_dataset/")
    scenes: IntProperty(name="Samples", description="Number of samples, each with its own camera and lighting",
                        default=20, min=1, max=100000)
    seed: IntProperty(name="Seed", description="Dataset seed: the same seed gives the same samples", default=0, min=0)
    resolution: IntProperty(name="Resolution", description="Square image size in pixels", default=128, min=16, max=4096)
    spp: StringProperty(name="Input Samples", description="Noisy sample counts, comma separated", default="1,4,16")
    ref_spp: IntProperty(name="Reference Samples", description="Samples per pixel of the target renders",
                         default=256, min=1, max=65536)


def neural_render_command(context) -> list[str]:
    """How to run ``neural-render`` in a separate process: the preference, else the command on
    PATH, else this Python with ``-m neural_ops`` (a development checkout or a pip install that
    has the training package's commands)."""
    import shutil
    import sys
    from importlib.metadata import entry_points

    prefs = context.preferences.addons.get(__package__)
    cmd = getattr(getattr(prefs, "preferences", None), "neural_render_command", "") if prefs else ""
    if cmd:
        path = params.abspath(cmd)
        if not Path(path).is_file():
            raise nops.NeuralRenderError(f"{path}: the neural-render command set in the preferences does not exist")
        return [path]
    found = shutil.which("neural-render")
    if found:
        return [found]
    # The bundled copy in an extension has no commands; an installed neural_ops lists the
    # packages that contribute commands (training contributes "data") as entry points.
    if nops.__name__ == "neural_ops":
        group = ops_module("cli").ENTRY_POINT_GROUP
        if any(ep.name == "training" for ep in entry_points(group=group)):
            return [sys.executable, "-m", nops.__name__]
    raise nops.NeuralRenderError("rendering datasets needs the neural-render command of a Python environment with "
                                 "the training package (see the README's Training data section): set it in the "
                                 "add-on preferences")


def run_command(args: list[str], progress: jobs.Progress, cancel: threading.Event) -> None:
    """Run ``neural-render`` with ``args``, following its ``[done/total]`` lines in ``progress``;
    terminate it when ``cancel`` is set (:class:`InterruptedError`); a failure raises with the
    process's last line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line.rstrip())
            m = PROGRESS_LINE.match(line)
            if m:
                progress.set(int(m.group(1)), int(m.group(2)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        if cancel.wait(0.1):
            proc.terminate()  # finished samples stay; running again resumes
            proc.wait()
            raise InterruptedError
    reader.join()
    if proc.returncode != 0:
        raise nops.NeuralRenderError(last_line("\n".join(lines)))


#: The ``neural-render data`` options :func:`.params.dataset_args` passes, by the setting's name
#: in the Training Data panel (its error lines name the option).
OPTION_SETTINGS = {"--ref-spp": "Reference Samples", "--spp": "Input Samples", "--scenes": "Samples",
                   "--seed": "Seed", "--resolution": "Resolution"}


def last_line(text: str) -> str:
    """The process's last line, in the panel's words (``bad --spp`` -> ``bad 'Input Samples'``)."""
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else "neural-render failed without a message"
    line = re.sub(r"^(?:[\w -]*: )?error: ", "", line)  # argparse's "prog: error: " prefix
    for option, name in OPTION_SETTINGS.items():
        line = re.sub(rf"(?<![\w-]){re.escape(option)}(?![\w-])", f"'{name}'", line)
    return line


class NEURAL_OT_make_dataset(jobs.JobOperator, bpy.types.Operator):
    """Render a training dataset from this scene: its geometry and materials, with cameras and lighting varied by seed (a separate neural-render process; run again to resume)"""

    bl_idname = "neural.make_dataset"
    bl_label = "Make Training Dataset"

    def execute(self, context):
        d = context.scene.neural_render.dataset
        out = Path(params.abspath(d.directory)).resolve()
        try:
            cmd = neural_render_command(context)
            out.mkdir(parents=True, exist_ok=True)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, f"Dataset: {e}")
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"Dataset: {out}: cannot create the dataset folder ({e.strerror})")
            return {"CANCELLED"}
        # The dataset is made from a saved copy: later edits to the open file do not change it.
        blend = out / "source.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(blend), copy=True)
        args = [*cmd, *params.dataset_args(d, str(blend), str(out))]
        samples = d.scenes

        def work(progress, cancel):  # in the worker: no bpy from here on
            progress.set(0, samples, "rendering samples")
            run_command(args, progress, cancel)
            return f"Dataset written to {out}"

        return self.run_job(context, jobs.Job(
            "Dataset", work=work, cancelled="Dataset cancelled after {done} sample(s); run again to resume"),
            interval=0.25)


classes = (NEURAL_PG_dataset, NEURAL_OT_make_dataset)
register, unregister = bpy.utils.register_classes_factory(classes)
