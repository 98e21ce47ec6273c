"""Neural render passes on Cycles renders (pattern A).

Each active op's pass (``Neural Denoised``, ``Neural Relit``) is declared as a colour AOV of the
view layers (:func:`.nodes.sync_pass_aovs`), so Cycles registers it itself and logs no "Unknown
pass" error; the Render Layers node shows it. We wrap the Cycles engine class:
``render_frame_finish`` fills the passes once Cycles has the whole frame (inside ``render`` the
result is still empty when the frame is tiled), and ``update_render_passes`` registers a pass
whose AOV is missing. Built-in compositor nodes then use the pass within the same F12 or
animation render. A failing op writes the rendered image into its pass and reports one line.
"""

from __future__ import annotations

import bpy
import numpy as np
from bpy.app.handlers import persistent

from ..blender import bridge
from . import failures, nodes

_originals: dict[str, object] = {}


def _update_render_passes(self, scene=None, renderlayer=None):
    _originals["update_render_passes"](self, scene, renderlayer)
    try:
        if scene is None:
            return
        aovs = {a.name for a in renderlayer.aovs} if renderlayer is not None else set()
        for name, op in nodes.PASS_OPS.items():
            # A pass declared as an AOV (nodes.sync_pass_aovs) Cycles registers itself; registering
            # it here too would mark the AOV as conflicting and bring back "Unknown pass".
            if name not in aovs and op.settings(scene) is not None:
                self.register_pass(scene, renderlayer, name, 4, "RGBA", "COLOR")
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
    except Exception as e:  # noqa: BLE001 (an exception escaping here aborts Blender's render loop)
        failures.report(self, "Neural passes", e)


def _fill_passes(engine):
    scene = bpy.data.scenes.get(getattr(engine, "neural_scene_name", ""), bpy.context.scene)
    active = [(op, s) for op in nodes.PASS_OPS.values() if (s := op.settings(scene)) is not None]
    if not active:
        return
    w, h = engine.resolution_x, engine.resolution_y
    result = engine.get_result()
    meta = {"frame": scene.frame_current, "camera": bridge.camera_meta(scene)}
    for layer in result.layers:
        jobs = []  # (target pass, label, function): each filled, or given the image, on its own
        for op, settings in active:
            target = layer.passes.find_by_name(op.name, "")
            if target is not None:
                jobs.append((target, op.label(settings),
                             lambda ps, op=op, s=settings, name=layer.name: op.fill(engine, scene, name, ps, s)))
        if not jobs and not any(op.seen for op, _s in active):
            continue
        try:
            passes = bridge.passset_from_render_layer(layer, w, h, meta)
        except Exception as e:  # noqa: BLE001 (unreadable passes: each target gets the image)
            failures.report(engine, f"Neural passes of layer '{layer.name}'", e)
            for target, _label, _run in jobs:
                _pass_through(layer, target, w, h)
            continue
        for op, _s in active:
            if op.seen is not None:
                op.seen(scene, passes)
        for target, label, run in jobs:
            engine.update_stats("", f"{label} {layer.name}")
            _fill(engine, target, passes, label, run)


def _fill(engine, target, passes, label: str, run) -> None:
    """Write ``run(passes)`` into the pass ``target``; when it fails, report one line and write
    the rendered image instead, so that nothing downstream turns black."""
    try:
        out = run(passes)
    except Exception as e:  # noqa: BLE001 (the other passes and the render stay valid)
        failures.report(engine, label, e)
        out = passes.color
    bridge.array_to_pass(target, _with_alpha(out, passes.alpha))


def _pass_through(layer, target, w: int, h: int) -> None:
    combined = layer.passes.find_by_name("Combined", "")
    if combined is not None:
        bridge.array_to_pass(target, bridge.pass_to_array(combined, w, h))


def _with_alpha(out, alpha):
    if alpha is None:
        return out
    return np.concatenate([out, alpha], axis=2)


@persistent
def _sync_before_render(scene, *args):
    """Before each render: declare the active ops' passes as AOVs (files saved before this
    version, or a node added in a way that did not refresh them)."""
    try:
        nodes.sync_pass_aovs(scene)
    except Exception as e:  # noqa: BLE001 (never stop a render for this)
        print(f"neural-render: could not declare the neural passes: {e}")


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
    if _sync_before_render not in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.append(_sync_before_render)


def unregister():
    import cycles

    if _sync_before_render in bpy.app.handlers.render_pre:
        bpy.app.handlers.render_pre.remove(_sync_before_render)
    cls = cycles.CyclesRender
    for name, fn in _originals.items():
        setattr(cls, name, fn)
    _originals.clear()
    try:
        nodes.remove_pass_aovs()
    except AttributeError:  # bpy.data not available (Blender quitting)
        pass
