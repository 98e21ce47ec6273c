"""Denoising in Blender: its settings, the Neural Denoise node and the Denoise EXR File operator.

The ``Neural Denoised`` render pass is filled by the Cycles hook (:mod:`.engine.render_pass`)
with the settings of the first Neural Denoise node in the compositor, else the scene's
(:func:`denoise_settings`). Every path calls the same ``denoise`` op as the CLI.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import jobs, params, properties
from .engine import failures, nodes
from .shim import nops, ops_module

#: The render pass the hook fills, whatever the method: the learned op's own output name (as the CLI writes it).
DENOISED_PASS = nops.get_op("denoise", "neural").pass_name
GROUP = ".Neural Denoise"
#: ``view_layer.cycles`` switch of Cycles' Denoising Data (Denoising Albedo, Normal and Depth, and
#: Noisy Image when Cycles' own denoiser is on): the guides every method reads.
GUIDE_FLAGS = ("denoising_store_passes",)
#: View-layer passes of the Temporal option (motion vectors) and of Per Light Component.
TEMPORAL_PASSES = ("use_pass_vector",)
PER_AOV_PASSES = tuple(f"use_pass_{k}_{c}" for k in ("diffuse", "glossy") for c in ("direct", "indirect", "color"))


def enable_passes(settings, context=None) -> None:
    """Turn on what the denoiser reads in the scenes ``settings`` apply to: Denoising Data, and
    Vector / the light components when Temporal / Per Light Component is on; for our model
    without pyoidn, Cycles' own denoiser (its result is the model's base)."""
    motion = settings.temporal or settings.frames_window > 0
    flags = (TEMPORAL_PASSES if motion else ()) + (PER_AOV_PASSES if settings.per_aov else ())
    scenes = nodes.owner_scenes(settings, context)
    nodes.enable_layer_passes(scenes, flags, GUIDE_FLAGS)
    if settings.method == "neural" and ops_module("core.oidn").oidn_unavailable():
        # The shipped model refines OIDN's image; Blender's Python has no pyoidn, but Cycles' own
        # denoiser gives that image in the same render (the hook passes it as the model's base).
        for scene in scenes:
            cycles = getattr(scene, "cycles", None)
            if cycles is not None and not cycles.use_denoising:
                cycles.use_denoising = True


def _toggle(self, context=None):
    if self.enabled:
        enable_passes(self, context)
    nodes.refresh_render_passes()


def _option(self, context=None):
    if self.enabled:
        enable_passes(self, context)


def _method_items():
    return tuple((s.name, s.label, s.description) for s in nops.list_ops("denoise"))


# Kept at module level: Blender needs enum items to stay alive.
_METHOD_ITEMS = _method_items()


class NEURAL_PG_denoise(bpy.types.PropertyGroup):
    """Denoiser settings, used by the render pass, the compositor node and the operators."""

    enabled: BoolProperty(
        name="Neural Denoised Pass",
        description="Run the denoiser after each Cycles render and add a 'Neural Denoised' render pass "
        "(turns on the Denoising Data passes it reads)",
        default=False,
        update=_toggle,
    )
    method: EnumProperty(name="Method", description="Denoising method", items=_METHOD_ITEMS, default="neural",
                          update=_option)
    oidn_quality: EnumProperty(
        name="Quality",
        description="OIDN quality preset",
        items=(("high", "High", "Best quality"), ("balanced", "Balanced", ""), ("fast", "Fast", "")),
        default="high",
    )
    radius: IntProperty(name="Radius", description="Cross-bilateral window half-size in pixels", default=6, min=1, max=32)
    sigma_color: FloatProperty(
        name="Colour Sigma", description="Cross-bilateral colour tolerance (log space)", default=0.6, min=0.01, max=10.0
    )
    despike: BoolProperty(name="Remove Spikes", description="Remove fireflies before filtering", default=True)
    model_weights: properties.weights_file("denoiser")
    per_aov: BoolProperty(
        name="Per Light Component",
        description="Denoise diffuse light, glossy light and the rest separately and add them up "
        "(turns on the Diffuse and Glossy Direct/Indirect/Color passes; three times the time)",
        default=False,
        update=_option,
    )
    temporal: BoolProperty(
        name="Temporal",
        description="Animations: blend each frame with the previous result reprojected by the Vector pass, "
        "to cut flicker (turns on the Vector pass; needs motion blur off)",
        default=False,
        update=_option,
    )
    frames_window: IntProperty(
        name="Frames Window",
        description="Animations: also use this many neighbouring frames, reprojected by the Vector pass where "
        "albedo, normal and depth agree (renders: the past frames; Denoise Animation: past and future). "
        "0: off. Turns on the Vector pass; needs motion blur off",
        default=0, min=0, max=8,
        update=_option,
    )
    tile: properties.tile_size(1024)

    def draw(self, layout, method_text=None) -> None:
        """The method and its own settings (shared by the render panel and the node)."""
        layout.prop(self, "method", **({} if method_text is None else {"text": method_text}))
        if self.method == "oidn":
            layout.prop(self, "oidn_quality")
        elif self.method == "bilateral":
            layout.prop(self, "radius")
            layout.prop(self, "sigma_color")
            layout.prop(self, "despike")
        elif self.method == "neural":
            layout.prop(self, "model_weights")
            layout.prop(self, "tile")
            layout.prop(self, "per_aov")
        layout.prop(self, "temporal")
        layout.prop(self, "frames_window")

    def to_params(self) -> dict:
        """Only the parameters the chosen method takes (:func:`.params.denoise_params`)."""
        return params.denoise_params(self)


@nodes.menu_node
class NeuralDenoiseNode(nodes.PassNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Denoise: wire Render Layers 'Image' and 'Neural Denoised' in; settings choose the method."""

    bl_idname = "NeuralDenoiseNode"
    bl_label = "Neural Denoise"
    bl_icon = "SHADERFX"
    group, second = GROUP, "Denoised"

    settings: PointerProperty(type=NEURAL_PG_denoise)

    def added(self, context):
        self.settings.enabled = True

    def draw_buttons(self, context, layout):
        self.settings.draw(layout, method_text="")


def denoise_settings(scene):
    """The settings that drive the pass: the first Neural Denoise node's, else the scene's
    (when its pass is enabled), else None."""
    return nodes.active_settings(scene, NeuralDenoiseNode, "denoise")


#: Temporal filters of animation renders, per (scene, view layer); reset on frame jumps.
_temporal: dict[tuple[str, str], object] = {}


def denoise_input(passes, method: str, params: dict):
    """The pass set the denoiser ``method`` reads, and its parameters (``params`` plus what the
    frame adds), in the render hook and for exported files alike.

    With Cycles' own denoiser on, ``Combined`` is already denoised and ``Noisy Image`` holds the
    noisy render: the op gets the noisy one as its ``Combined`` (what every method expects) and
    Cycles' result as ``Cycles Denoised`` (:func:`neural_ops.core.passset.noisy_combined`, as in
    an export with Cycles' denoiser on); the learned op takes that as its ensemble's base
    (``base_pass``) instead of running OIDN again, so it needs no pyoidn inside Blender.
    """
    passset = ops_module("core.passset")
    ps = passset.noisy_combined(passes)
    fields = {f.name for f in dataclasses.fields(nops.get_op("denoise", method).params)}
    params = dict(params)
    # Per light component, each part needs its own base.
    if passset.CYCLES_DENOISED in ps and "base_pass" in fields and not params.get("per_aov"):
        params["base_pass"] = params.get("base_pass") or passset.CYCLES_DENOISED
    return ps, params


#: Past frames of animation renders for the Frames Window option, per (scene, view layer).
_past: dict[tuple[str, str], list] = {}


def with_past_frames(engine, key, ps, k: int):
    """``ps`` gathered from itself and up to ``k`` past frames of the same render (a frame that does
    not follow the last one starts over): a :class:`~neural_ops.denoise.multiframe.Gathered`, or
    None without the Vector pass."""
    mf = ops_module("denoise.multiframe")
    if "Vector" not in ps:
        failures.note(engine, "Neural Denoise: Frames Window needs the Vector pass (View Layer > Passes > Vector)")
        return None
    frame = mf.Frame.of(ps)
    number = ps.meta.get("frame")
    past = _past.get(key, [])
    if not past or number is None or past[-1][0] != number - 1 or past[-1][1].color.shape != frame.color.shape:
        past = []
    past = (past + [(number, frame)])[-(k + 1):]
    _past[key] = past
    return mf.gather([f for _n, f in past], len(past) - 1, mf.WindowParams(frames_window=k))


def fill_pass(engine, scene, layer_name: str, passes, settings):
    """The Neural Denoised pass of one rendered layer (the Cycles hook calls it)."""
    key = (scene.name, layer_name)
    ps, params = denoise_input(passes, settings.method, settings.to_params())
    op = nops.get_op("denoise", settings.method)
    gathered = None
    if getattr(settings, "frames_window", 0) > 0:
        gathered = with_past_frames(engine, key, ps, settings.frames_window)
    out = op(ps, **params) if gathered is None else gathered.denoise(ps, lambda q: op(q, **params))
    if getattr(settings, "temporal", False):
        if "Vector" not in passes:
            failures.note(engine, "Neural Denoise: Temporal needs the Vector pass (View Layer > Passes > Vector)")
        else:
            tf = _temporal.setdefault(key, ops_module("denoise.temporal").TemporalFilter())
            out = tf.step(ps, out)
    return out


nodes.pass_op(nodes.PassOp(DENOISED_PASS, denoise_settings, lambda s: f"Neural denoise ({s.method})", fill_pass))


def run_denoise(passes, settings, progress=None):
    """The same call the CLI makes: method + params from a settings PropertyGroup."""
    return nops.get_op("denoise", settings.method)(passes, progress=progress, **settings.to_params())


def denoise_file(src: Path, dst: Path, method: str, params: dict, overwrite: bool = False, cancel=None,
                 progress: jobs.Progress | None = None) -> Path | None:
    """Read a pass set, denoise it, write it back with the result as an extra pass.

    Touches no bpy, so it can run in a worker thread; ``cancel`` (a threading.Event) is checked
    between steps and, for tiled ops, between tiles; a cancelled run writes nothing and returns
    None. ``progress`` receives the tiles done and in all as the op runs.
    """
    ops_module("core.outputs").check_outputs([dst], [src], overwrite)
    exr, strips = ops_module("core.exr"), ops_module("core.strips")
    stream = exr.open_exr(src)
    spec = nops.get_op("denoise", method)
    if cancel is not None and cancel.is_set():
        return None

    def on_tile(done, total):
        if progress is not None:
            progress.set(done, total)
        return cancel is not None and cancel.is_set()

    def call(passes):  # the whole frame, or one strip of a big one
        if cancel is not None and cancel.is_set():
            raise InterruptedError
        ps, prm = denoise_input(passes, method, params)
        return spec(ps, progress=on_tile, **prm)

    try:
        # Only the passes the method reads, in strips for a big frame (bounded memory).
        out, ps = strips.run_op_on_file(spec, spec.make_params(**params), src, stream, call=call)
    except InterruptedError:
        return None
    if cancel is not None and cancel.is_set():
        return None
    ps.meta.pop(strips.STRIP_KEY, None)
    # Every pass of the input as it was stored, plus the result.
    return exr.add_pass(stream, dst, spec.pass_name, out, "RGB", meta=ps.meta, layer=ps.layer, overwrite=overwrite)


class NEURAL_OT_denoise_file(jobs.JobOperator, bpy.types.Operator):
    """Denoise an exported EXR with the scene's denoiser settings; writes <name>_denoised.exr with every pass kept"""

    bl_idname = "neural.denoise_file"
    bl_label = "Denoise EXR File"

    filepath: StringProperty(subtype="FILE_PATH")
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})
    overwrite: BoolProperty(name="Overwrite", description="Replace an earlier <name>_denoised.exr", default=False)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        s = context.scene.neural_render.denoise
        try:
            src, dst = params.file_job(self.filepath, "_denoised", self.overwrite)
        except nops.NeuralRenderError as e:
            self.report({"ERROR"}, f"Denoise: {jobs.user_message(e)}")
            return {"CANCELLED"}
        overwrite = self.overwrite  # the job's thread must not touch the operator
        method, kw = s.method, s.to_params()

        def work(progress, cancel):
            progress.text = f"{src.name} with {method}"
            if denoise_file(src, dst, method, kw, overwrite=overwrite, cancel=cancel, progress=progress) is None:
                raise InterruptedError
            return f"Wrote {dst}"

        return self.run_job(context, jobs.Job("Denoise", work=work, cancelled="Denoise cancelled; nothing was written"),
                            interval=0.1)


class NEURAL_OT_denoise_animation(jobs.JobOperator, bpy.types.Operator):
    """Denoise a rendered or exported EXR sequence with the scene's denoiser settings (Frames Window: neighbouring
    frames past and future; Temporal); writes each frame under its own name into the output folder.
    Run it again to resume: finished frames are kept"""

    bl_idname = "neural.denoise_animation"
    bl_label = "Denoise Animation"

    directory: StringProperty(name="Frames", description="Folder of the sequence's EXRs", subtype="DIR_PATH")
    filter_glob: StringProperty(default="*.exr", options={"HIDDEN"})
    output: StringProperty(name="Output Folder", description="Where the denoised frames go (default: "
                           "a 'denoised' folder beside the frames)", subtype="DIR_PATH", default="")
    overwrite: BoolProperty(name="Overwrite", description="Recompute frames already denoised in the output "
                            "folder (off: keep them, resume)", default=False)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        s = context.scene.neural_render.denoise
        folder = Path(bpy.path.abspath(self.directory or "")).expanduser()
        frames = sorted(folder.glob("*.exr")) if folder.is_dir() else []
        if not frames:
            self.report({"ERROR"}, f"Denoise Animation: no EXR frames in '{folder}'")
            return {"CANCELLED"}
        out = Path(bpy.path.abspath(self.output)).expanduser() if self.output else folder.parent / f"{folder.name}_denoised"
        seq = ops_module("denoise.sequence")
        job_spec = seq.SequenceJob(frames, out, s.method, s.to_params(), frames_window=s.frames_window,
                                   temporal=s.temporal, overwrite=self.overwrite)
        method = s.method

        def work(progress, cancel):
            progress.set(0, len(frames), f"{len(frames)} frames with {method}")
            gen = seq.denoise_sequence(job_spec, cancel=cancel, transform=lambda ps, prm: denoise_input(ps, method, prm))
            while True:
                try:
                    progress.set(*next(gen))
                except StopIteration as stop:
                    return stop.value

        return self.run_job(context, jobs.Job("Denoise Animation", work=work, cancelled="Denoise Animation cancelled "
                                              "after {done} of {total} frames; run it again to resume"), interval=0.1)


classes = (NEURAL_PG_denoise, NeuralDenoiseNode, NEURAL_OT_denoise_file, NEURAL_OT_denoise_animation)
register, unregister = bpy.utils.register_classes_factory(classes)
