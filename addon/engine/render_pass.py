"""Neural render passes on Cycles renders (pattern A).

We wrap the Cycles engine class: ``update_render_passes`` declares ``Neural Denoised`` so it
appears on the Render Layers node, and ``render_frame_finish`` fills it once Cycles has the
whole frame (inside ``render`` the result is still empty when the frame is tiled). Built-in
compositor nodes then use the pass within the same F12 or animation render.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..blender import bridge
from ..denoise import DENOISED_PASS, denoise_settings, run_denoise
from ..relight import RELIT_PASS, last_render, relight_passes, relight_settings
from ..shim import explain, ops_module

_originals: dict[str, object] = {}
#: Temporal filters of animation renders, per (scene, view layer); reset on frame jumps.
_temporal: dict[tuple[str, str], object] = {}


def _update_render_passes(self, scene=None, renderlayer=None):
    _originals["update_render_passes"](self, scene, renderlayer)
    try:
        if scene is not None and denoise_settings(scene) is not None:
            self.register_pass(scene, renderlayer, DENOISED_PASS, 4, "RGBA", "COLOR")
        if scene is not None and relight_settings(scene) is not None:
            self.register_pass(scene, renderlayer, RELIT_PASS, 4, "RGBA", "COLOR")
    except Exception as e:  # never break Cycles' own pass list
        print(f"neural-render: could not register pass: {e}")


def _render(self, depsgraph):
    # Remember which scene this engine renders; render_frame_finish gets no depsgraph.
    self.neural_scene_name = depsgraph.scene.name
    _originals["render"](self, depsgraph)


def _render_frame_finish(self):
    _originals["render_frame_finish"](self)
    if self.is_preview:
        return
    try:
        _fill_passes(self)
    except Exception as e:
        # An exception escaping here aborts Blender's render loop: report and go on.
        msg = f"neural passes failed: {explain(e)}"
        print(f"neural-render: {msg}")
        self.report({"ERROR"}, msg)


def _fill_passes(engine):
    scene = bpy.data.scenes.get(getattr(engine, "neural_scene_name", ""), bpy.context.scene)
    settings = denoise_settings(scene)
    relight = relight_settings(scene)
    if settings is None and relight is None:
        return
    w, h = engine.resolution_x, engine.resolution_y
    result = engine.get_result()
    meta = {"frame": scene.frame_current, "camera": bridge.camera_meta(scene)}
    for layer in result.layers:
        passes = bridge.passset_from_render_layer(layer, w, h, meta)
        if relight is not None:
            last_render[scene.name] = passes  # for "Relight Last Render" (the pixels are gone after the render)
        target = layer.passes.find_by_name(DENOISED_PASS, "")
        if settings is not None and target is not None:
            engine.update_stats("", f"Neural denoise ({settings.method}) {layer.name}")
            _fill(engine, target, passes, DENOISED_PASS, _denoise, engine, (scene.name, layer.name), passes, settings)
        target = layer.passes.find_by_name(RELIT_PASS, "")
        if relight is not None and target is not None:
            engine.update_stats("", f"Neural relight ({relight.method}) {layer.name}")
            _fill(engine, target, passes, RELIT_PASS, _relight, engine, scene, passes, relight)


def _fill(engine, target, passes, name: str, run, *args) -> None:
    """Write ``run(*args)`` into the pass ``target``; when it fails, report one line and write
    the rendered image instead, so that nothing downstream turns black."""
    try:
        out = run(*args)
    except Exception as e:  # noqa: BLE001 (the other passes and the render stay valid)
        msg = f"{name} pass failed: {explain(e)}"
        engine.report({"ERROR"}, msg)
        print(f"neural-render: {msg}")
        out = passes.color
    bridge.array_to_pass(target, _with_alpha(out, passes.alpha))


def _denoise(engine, key: tuple[str, str], passes, settings):
    out = run_denoise(passes, settings)
    if getattr(settings, "temporal", False):
        if "Vector" not in passes:
            engine.report({"WARNING"}, "Neural Denoise: Temporal needs the Vector pass (View Layer > Passes)")
        else:
            tf = _temporal.setdefault(key, ops_module("denoise.temporal").TemporalFilter())
            out = tf.step(passes, out)
    return out


def _relight(engine, scene, passes, settings):
    def report(msg):
        engine.report({"WARNING"}, msg)
        print(f"neural-render: {msg}")

    return relight_passes(passes, settings, scene, report=report)


def _with_alpha(out, alpha):
    if alpha is None:
        return out
    return np.concatenate([out, alpha], axis=2)


def register():
    import cycles

    cls = cycles.CyclesRender
    if _originals:
        return
    _originals["update_render_passes"] = cls.update_render_passes
    _originals["render_frame_finish"] = cls.render_frame_finish
    _originals["render"] = cls.render
    cls.update_render_passes = _update_render_passes
    cls.render = _render
    cls.render_frame_finish = _render_frame_finish


def unregister():
    import cycles

    cls = cycles.CyclesRender
    for name, fn in _originals.items():
        setattr(cls, name, fn)
    _originals.clear()
