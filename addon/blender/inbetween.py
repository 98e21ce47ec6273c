"""Render 1 in N: along the scene camera's animation, render every N-th frame with Cycles and
synthesise the frames between from them (image-based rendering through each rendered frame's
depth: :mod:`neural_ops.novel_view`).

Plain functions on bpy data, shared by the "Render 1 in N" operator (:mod:`addon.novel_view`,
one frame per timer tick) and the headless ``neural-render inbetween`` command. Key frames go
to ``OUT/keys/`` (every pass, as ``export`` writes them) and are reused when the command runs
again, so an interrupted job resumes; the output sequence ``OUT/frame_NNNN.exr`` (+ PNG) has
every frame, rendered or synthesised, with alpha 0 where no rendered frame saw the pixel.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from ..shim import nops, ops_module
from . import bridge, export


@dataclass
class InbetweenConfig:
    """What to render and synthesise.

    Attributes:
        directory: output folder.
        first, last: frame range (inclusive).
        every: render one frame in this many (the last frame is always rendered).
        spp: Cycles samples per pixel of the rendered frames.
        method: ``auto`` (learned blending when a model is shipped or ``weights`` given, else
            ULR), ``learned``, ``ulr`` (image-based: warps through the key frames' depth, camera
            moves only) or ``motion`` (every frame also gets a cheap auxiliary render, and the
            key frames' passes are carried along its ``Vector`` pass: animated objects too, every
            pass, a confidence map; :mod:`neural_ops.novel_view.motion`).
        weights: a learned-blending ``.safetensors`` (``motion``: a learned key blend's).
        blend: (``motion``) how the two keys carried to a frame are mixed: ``auto`` (the learned
            key blend when one is shipped or ``weights`` given, else linear), ``learned``
            (:mod:`neural_ops.novel_view.key_blend`: per-pixel weights and a direct-light gain
            from the frame's own auxiliary render) or ``linear`` (by closeness in time).
        sources: rendered frames on each side a synthesised frame is blended from.
        denoise: run OIDN on the rendered frames first (when pyoidn is installed).
        geometry: render each synthesised frame's depth with Workbench and warp through it
            (renderer-aware: exact visibility, a fraction of a second per frame).
        rerender: (``motion``) re-render with Cycles, at ``spp``, the tiles where pixels no key
            frame reached gather (a disocclusion, something appearing); the scattered rest take
            the keys' pixels where the walks ended.
        max_flip: (``motion``) a quality target, each synthesised frame's mean FLIP against
            rendering it: the tiles expected to miss it most (from the confidence map,
            :func:`neural_ops.novel_view.motion.expected_flip`) are re-rendered until the frame's
            expected mean meets it (:func:`neural_ops.novel_view.motion.rerender_target`: measured
            over a shot, its mean FLIP meets it; single frames may miss it by ~10 %); 0 renders
            every frame.
        seed: Cycles sampling seed (None: the scene's).
    """

    directory: str
    first: int
    last: int
    every: int = 4
    spp: int = 64
    method: str = "auto"
    weights: str = ""
    blend: str = "auto"
    sources: int = 2
    denoise: bool = True
    geometry: bool = False
    rerender: bool = True
    max_flip: float | None = None
    seed: int | None = 0
    keys: list[int] = field(default_factory=list)

    def check(self) -> None:
        if self.method not in ("auto", "learned", "ulr", "motion"):
            raise export.ExportError(f"unknown method '{self.method}' (choose from auto, learned, ulr, motion)")
        if self.blend not in ("auto", "learned", "linear"):
            raise export.ExportError(f"unknown blend '{self.blend}' (choose from auto, learned, linear)")
        if self.blend == "learned" and self.method != "motion":
            raise export.ExportError("the learned blend is the key blend of the motion method: choose method motion (or blend auto)")
        if self.every < 1:
            raise export.ExportError(f"--every must be >= 1, got {self.every}")
        if self.last < self.first:
            raise export.ExportError(f"frame range {self.first}-{self.last} is empty")
        if self.max_flip is not None and self.method != "motion":
            raise export.ExportError("--max-flip needs --method motion (the confidence map it predicts from)")
        if self.max_flip is not None and not self.rerender:
            raise export.ExportError("--max-flip re-renders where the target is missed: it cannot go with --no-rerender")
        if self.max_flip is not None and not 0 <= self.max_flip <= 1:
            raise export.ExportError(f"--max-flip must be between 0 and 1, got {self.max_flip}")
        if self.sources < 1:
            raise export.ExportError(f"sources must be >= 1, got {self.sources}")
        frames = self.last - self.first + 1
        if self.every > 1 and self.every >= frames:
            raise export.ExportError(f"--every {self.every} spans the whole range {self.first}-{self.last} "
                                     f"({frames} frames): render 1 in at most {max(frames - 1, 1)}, or every frame")


def check_motion(scene, first: int, last: int) -> None:
    """One clear line when nothing moves over ``first``..``last`` (no camera or object animation:
    every frame would be the same picture, so render one frame instead of interpolating)."""
    obs = [o for o in scene.objects if o.type not in ("LIGHT", "EMPTY", "SPEAKER", "LIGHT_PROBE")]
    if scene.camera is not None and scene.camera not in obs:
        obs.append(scene.camera)
    current = scene.frame_current
    try:
        seen = []
        for f in sorted({first, (first + last) // 2, last}):
            scene.frame_set(f)
            seen.append([tuple(round(v, 6) for row in o.matrix_world for v in row) for o in obs])
    finally:
        scene.frame_set(current)
    if all(s == seen[0] for s in seen[1:]):
        raise export.ExportError(f"scene '{scene.name}': nothing moves over frames {first}-{last} (no camera or "
                                 "object animation): render one frame instead of 1 in N")


def run(scene, cfg: InbetweenConfig, progress=None, log=print) -> dict:
    """Render the key frames (resuming), synthesise the others, write the whole sequence.

    ``progress(done, total, message)`` after each frame; returning True cancels
    (:class:`InterruptedError`; rendered key frames are kept). Without ``progress`` each
    rendered frame is logged. Returns a summary with timings (:func:`steps` does the work).
    """
    gen = steps(scene, cfg, log=log)
    while True:
        try:
            done, total, msg = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is None:
            if msg.startswith("rendered"):
                log(msg)
        elif progress(done, total, msg):
            gen.close()
            raise InterruptedError("cancelled")


def steps(scene, cfg: InbetweenConfig, log=print) -> Generator[tuple[int, int, str], None, dict]:
    """:func:`run` one frame at a time: a generator that renders or synthesises one frame per
    ``next`` and yields ``(frames done, frames in all, what it did)``; its return value is the
    summary. The "Render 1 in N" operator advances it on a timer (renders must run on the main
    thread); closing it between frames cancels, with the render settings restored.
    """
    render = scene.render
    saved = render.use_persistent_data
    # The scene stays synced from one render to the next (key frames, auxiliary renders, region
    # re-renders: see export.export_settings), restored when the run ends or is cancelled.
    render.use_persistent_data = True
    try:
        return (yield from _steps(scene, cfg, log))
    finally:
        render.use_persistent_data = saved


def _steps(scene, cfg: InbetweenConfig, log=print) -> Generator[tuple[int, int, str], None, dict]:
    Camera = ops_module("core.cameras").Camera
    read_exr = ops_module("core.exr").read_exr
    blending_model = ops_module("novel_view.synthesis").blending_model
    key_frames = ops_module("novel_view.synthesis").key_frames
    nearest_keys = ops_module("novel_view.synthesis").nearest_keys
    synthesise = ops_module("novel_view.synthesis").synthesise
    view_from_passes = ops_module("novel_view.views").view_from_passes

    cfg.check()
    check_motion(scene, cfg.first, cfg.last)
    out = Path(bpy.path.abspath(cfg.directory))
    keys_dir = out / "keys"
    keys = key_frames(cfg.first, cfg.last, cfg.every)
    if cfg.max_flip == 0:  # no error allowed: nothing is synthesised
        keys = list(range(cfg.first, cfg.last + 1))
        log("--max-flip 0: rendering every frame")
    total = cfg.last - cfg.first + 1
    if cfg.method == "motion" and len(keys) < total:  # its auxiliary renders are steps too
        total += sum(not (out / "aux" / f"frame_{f:04d}.exr").exists() for f in range(cfg.first, cfg.last + 1))
    todo = [k for k in keys if not (keys_dir / f"frame_{k:04d}.exr").exists()]
    times_path = keys_dir / "times.json"
    times = _read_times(times_path)
    done = 0
    if todo:
        ecfg = export.ExportConfig(directory=str(keys_dir), spp=cfg.spp, frames=todo, half=False, overwrite=True,
                                   seed=cfg.seed)
        views = []
        for v in _timed_renders(scene, ecfg, times, times_path):
            views.append(v)
            done += 1
            yield done, total, f"rendered frame {v.frame} ({times[str(v.frame)]:.1f} s)"
        export.write_manifest(ecfg, views)
    render_secs = [times[str(k)] for k in keys if str(k) in times]  # this run's and earlier runs'
    if cfg.method == "motion":
        summary = yield from _motion(scene, cfg, out, keys, render_secs, done, total, log)
        return summary

    # Every key frame through OIDN once (colour and light components), kept in memory for all
    # the frames it helps synthesise.
    oidn_unavailable = ops_module("core.oidn").oidn_unavailable

    denoise = cfg.denoise and oidn_unavailable() is None
    if cfg.denoise and not denoise:
        log(f"not denoising the rendered frames: {oidn_unavailable()}")
    t = time.perf_counter()
    key_views = {}
    for k in keys:
        ps = read_exr(keys_dir / f"frame_{k:04d}.exr")
        key_views[k] = view_from_passes(ps, denoise=denoise)
        _write_frame(out, k, key_views[k].color, np.ones(ps.shape, bool), ps.meta.get("camera"))
    denoise_secs = time.perf_counter() - t

    net = blending_model(cfg.method, cfg.weights, log=log)
    synth_secs = []
    for f in range(cfg.first, cfg.last + 1):
        if f in key_views:
            continue
        scene.frame_set(f)
        meta = bridge.camera_meta(scene)
        near = [key_views[k] for k in nearest_keys(f, keys, cfg.sources)]
        t = time.perf_counter()
        depth = frame_depth(scene, f, out / "geometry") if cfg.geometry else None
        view = synthesise(near, f"frame_{f:04d}", Camera.from_sidecar(meta), net, target_depth=depth)
        synth_secs.append(time.perf_counter() - t)
        _write_frame(out, f, view.image, view.seen, meta)
        done += 1
        yield done, total, f"synthesised frame {f}"
    per_render = float(np.mean(render_secs)) if render_secs else 0.0
    summary = {
        "frames": total, "rendered": len(keys), "synthesised": total - len(keys), "every": cfg.every,
        "spp": cfg.spp, "render_seconds_per_frame": per_render, "denoise_seconds": denoise_secs,
        "synth_seconds_per_frame": float(np.mean(synth_secs)) if synth_secs else 0.0,
    }
    spent = per_render * len(keys) + denoise_secs + sum(synth_secs)
    summary["seconds"] = spent
    summary["all_rendered_seconds_estimate"] = per_render * total
    summary["speedup_estimate"] = summary["all_rendered_seconds_estimate"] / spent if spent > 0 else 0.0
    (out / "inbetween.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _timed_renders(scene, ecfg: export.ExportConfig, times: dict, times_path: Path):
    """Render ``ecfg``'s views one by one, yielding each; each one's seconds go into ``times``
    (frame -> seconds), written to ``times_path`` after every frame (a resumed run keeps them)."""
    views = export.plan_views(scene, ecfg)
    with export.export_settings(scene, ecfg):
        for v in views:
            t = time.perf_counter()
            export.render_view(scene, v, ecfg)
            times[str(v.frame)] = time.perf_counter() - t
            times_path.write_text(json.dumps(times, indent=1) + "\n")
            yield v


def _motion(scene, cfg: InbetweenConfig, out: Path, keys: list[int], render_secs: list[float], done: int,
            total: int, log) -> Generator[tuple[int, int, str], None, dict]:
    """The ``motion`` method after the key frames: an auxiliary render of every frame (resumed
    like the keys), then each frame between two keys carried from them along the motion."""
    motion = ops_module("novel_view.motion")
    read_exr = ops_module("core.exr").read_exr
    aux_dir = out / "aux"
    frames = list(range(cfg.first, cfg.last + 1))
    todo = [f for f in frames if not (aux_dir / f"frame_{f:04d}.exr").exists()] if len(keys) < len(frames) else []
    times_path = aux_dir / "times.json"
    times = _read_times(times_path)
    if todo:
        acfg = export.ExportConfig(directory=str(aux_dir), spp=1, frames=todo, half=False, overwrite=True,
                                   seed=cfg.seed, aux=True)
        for v in _timed_renders(scene, acfg, times, times_path):
            done += 1
            yield done, total, f"auxiliary render of frame {v.frame} ({times[str(v.frame)]:.1f} s)"
    # (Nothing synthesised, --max-flip 0: no auxiliary render is part of this run.)
    aux_secs = [times[str(f)] for f in frames if str(f) in times] if len(keys) < len(frames) else []
    key_set = set(keys)
    t0 = time.perf_counter()
    # Each key frame denoised once, into the output sequence; the frames between two keys read
    # them back from there (a long shot's keys are not all held in memory).
    for k in keys:
        ps = motion.denoise_key(read_exr(out / "keys" / f"frame_{k:04d}.exr"))
        _write_passes(out, k, {n: p.pixels for n, p in ps.passes.items()}, np.ones(ps.shape, np.float32), ps.meta,
                      (ps,))
    denoise_secs = time.perf_counter() - t0
    blend = key_blend(cfg, log)
    loaded: dict[int, object] = {}
    prepared: dict = {}  # what interpolate reads from the two keys, prepared once per interval

    def key(k):
        if k not in loaded:
            loaded[k] = read_exr(out / f"frame_{k:04d}.exr")
        return loaded[k]

    synth_secs, rerender_secs, rerendered = [], [], []
    aux: dict[int, object] = {}
    holes = ops_module("novel_view.holes")
    # Region re-renders all inside one set of render settings: entering and leaving them per
    # region made Cycles sync the scene again each time (measured: 2.4 s against 1.1 s a region).
    rcfg = export.ExportConfig(directory=str(out / "regions"), spp=cfg.spp, frames=[cfg.first], half=False,
                               overwrite=True, seed=cfg.seed)
    with export.export_settings(scene, rcfg) if cfg.rerender else contextlib.nullcontext():
        for f in frames:
            if f in key_set:
                continue
            lo, hi = max(k for k in keys if k < f), min(k for k in keys if k > f)
            for k in [k for k in loaded if k not in (lo, hi)]:
                del loaded[k]
            t = time.perf_counter()
            # Each auxiliary frame read once: the frames between two keys share them.
            aux = {g: aux[g] if g in aux else read_exr(aux_dir / f"frame_{g:04d}.exr") for g in range(lo, hi + 1)}
            res = motion.interpolate(f, {lo: key(lo), hi: key(hi)}, aux, fill=True, cache=prepared, blend=blend)
            synth_secs.append(time.perf_counter() - t)
            unreached = res.reached == 0
            expected = motion.expected_flip(res.confidence) if cfg.max_flip is not None else None
            target = motion.rerender_target(cfg.max_flip) if cfg.max_flip is not None else None
            boxes = holes.rerender_boxes(unreached, error=expected, max_error=target,
                                         rendered_error=motion.EXPECTED_FLIP[-1][1]) if cfg.rerender else []
            area = 0
            for box in boxes:
                region, secs = _region(scene, cfg, out, f, box, unreached.shape, rcfg)
                rerender_secs.append(secs)
                _paste(res, region, box)
                area += (box[2] - box[0]) * (box[3] - box[1])
            rerendered.append(area / unreached.size)
            _write_passes(out, f, res.passes, res.confidence, aux[f].meta, (aux[f], key(lo)))
            done += 1
            yield done, total, (f"synthesised frame {f} ({float(unreached.mean()) * 100:.1f} % of pixels unreached, "
                                f"{rerendered[-1] * 100:.1f} % re-rendered)")

    per_render = float(np.mean(render_secs)) if render_secs else 0.0
    summary = {
        "frames": len(frames), "rendered": len(keys), "synthesised": len(frames) - len(keys), "every": cfg.every,
        "spp": cfg.spp, "method": "motion", "blend": "learned" if blend is not None else "linear",
        "render_seconds_per_frame": per_render,
        "aux_seconds_per_frame": float(np.mean(aux_secs)) if aux_secs else 0.0, "denoise_seconds": denoise_secs,
        "synth_seconds_per_frame": float(np.mean(synth_secs)) if synth_secs else 0.0,
        "rerendered_fraction": float(np.mean(rerendered)) if rerendered else 0.0,
        "rerender_seconds": float(sum(rerender_secs)),
    }
    spent = (per_render * len(keys) + summary["aux_seconds_per_frame"] * len(frames) + denoise_secs + sum(synth_secs)
             + sum(rerender_secs))
    summary["seconds"] = spent
    summary["all_rendered_seconds_estimate"] = per_render * len(frames)
    summary["speedup_estimate"] = summary["all_rendered_seconds_estimate"] / spent if spent > 0 else 0.0
    (out / "inbetween.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def key_blend(cfg: InbetweenConfig, log=print):
    """The learned key blend ``cfg`` asks for (:func:`neural_ops.novel_view.key_blend.load_key_blend`),
    or None for the linear one. ``auto`` without a shipped model, or with one that cannot run
    here (no ONNX Runtime and no torch), is linear, and says why in one line."""
    if cfg.blend == "linear":
        return None
    available_models = ops_module("nn.weights").available_models
    if cfg.blend == "auto" and not cfg.weights and not available_models("inbetween"):
        return None
    try:
        return ops_module("novel_view.key_blend").load_key_blend(weights=cfg.weights)
    except nops.NeuralRenderError as e:
        if cfg.blend == "learned" or cfg.weights:
            raise
        log(f"blending the key frames linearly: {e}")
        return None


#: Pixels rendered around a re-rendered box (not pasted): the denoiser's context at its edges.
#: A region render's pixels equal the full frame's (same seed); denoised from a crop with this
#: margin, a box came within 47-50 dB of the full frame denoised (43-47 dB with none, 53-58 with
#: 8; measured on the objects shot, 64 spp), far above a synthesised pixel's error, and a 32-pixel
#: tile costs 1.27x its area to render instead of 2.25x.
REGION_MARGIN = 2


def _region(scene, cfg: InbetweenConfig, out: Path, f: int, box, shape, rcfg: export.ExportConfig
            ) -> tuple[object, float]:
    """Frame ``f`` rendered with Cycles in ``box`` (x0, y0, x1, y1; top row first) and a margin
    around it (a region render, kept in ``OUT/regions/`` and reused), cropped to the box + margin
    and denoised: (pass set of the crop, seconds spent rendering). Called inside
    ``export.export_settings(scene, rcfg)``."""
    import dataclasses

    read_exr = ops_module("core.exr").read_exr
    motion = ops_module("novel_view.motion")
    h, w = shape
    m = REGION_MARGIN
    x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(w, box[2] + m), min(h, box[3] + m)
    folder = out / "regions"
    path = folder / f"frame_{f:04d}_{x0}_{y0}_{x1}_{y1}.exr"
    secs = 0.0
    if not path.exists():
        ecfg = dataclasses.replace(rcfg, frames=[f])
        view = dataclasses.replace(export.plan_views(scene, ecfg)[0], path=path)
        r = scene.render
        saved = [(a, getattr(r, a)) for a in ("use_border", "use_crop_to_border", "border_min_x", "border_max_x",
                                              "border_min_y", "border_max_y")]
        try:
            r.use_border, r.use_crop_to_border = True, False
            # Blender's border is in fractions of the frame, rows bottom-up.
            r.border_min_x, r.border_max_x = x0 / w, x1 / w
            r.border_min_y, r.border_max_y = 1 - y1 / h, 1 - y0 / h
            t = time.perf_counter()
            export.render_view(scene, view, ecfg)
            secs = time.perf_counter() - t
        finally:
            for a, v in saved:
                setattr(r, a, v)
    ps = read_exr(path)
    crop = nops.PassSet(source=f"{path} [{x0}:{x1}, {y0}:{y1}]", meta=ps.meta, layer=ps.layer)
    for name, p in ps.passes.items():
        crop.add(name, p.pixels[y0:y1, x0:x1], p.channels, p.half)
    return (motion.denoise_key(crop), (x0, y0)), secs


def _paste(res, region, box) -> None:
    """A region render's passes into the synthesised frame ``res`` inside ``box`` (confidence 1)."""
    ps, (ox, oy) = region
    x0, y0, x1, y1 = box
    for name, px in res.passes.items():
        if name not in ps:
            continue
        src = ps.get(name)[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        c = min(px.shape[2], src.shape[2]) if px.ndim == 3 and src.ndim == 3 else None
        if c is None:
            continue
        px[y0:y1, x0:x1, :c] = src[..., :c]
    if res.passes["Combined"].shape[2] == 4:
        res.passes["Combined"][y0:y1, x0:x1, 3] = 1.0
    res.confidence[y0:y1, x0:x1] = 1.0


def _write_passes(out: Path, f: int, passes: dict, confidence, meta: dict, like) -> None:
    """Frame ``f`` with every pass (channel names as in the pass sets ``like``), its ``Confidence``
    (1: rendered) and a PNG of ``Combined``."""
    write_exr = ops_module("core.exr").write_exr
    to_display = ops_module("core.imageio").to_display
    write_png = ops_module("core.imageio").write_png

    ps = nops.PassSet(source=f"frame {f}", meta={k: v for k, v in meta.items() if k != "aux"} | {"frame": f})
    for name, px in passes.items():
        px = np.asarray(px, np.float32)
        channels = next((p.passes[name].channels for p in like if name in p.passes), None)
        ps.add(name, px, channels)
    ps.add("Confidence", np.asarray(confidence, np.float32)[..., None], "Z")
    write_exr(ps, out / f"frame_{f:04d}.exr", overwrite=True)
    write_png(out / f"frame_{f:04d}.png", to_display(ps.get("Combined")[..., :3]))


def frame_depth(scene, frame: int, folder: Path) -> np.ndarray:
    """The planar depth of ``frame`` from a Workbench render (a fraction of a second: the
    renderer-aware mode's exact visibility), kept in ``folder`` and reused when it runs again."""
    clean_depth = ops_module("core.cameras").clean_depth
    read_exr = ops_module("core.exr").read_exr

    path = folder / f"frame_{frame:04d}.exr"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        ecfg = export.ExportConfig(directory=str(folder), spp=1, frames=[frame], half=False, overwrite=True,
                                   engine="BLENDER_WORKBENCH")
        with export.export_settings(scene, ecfg):
            for v in export.plan_views(scene, ecfg):
                export.render_view(scene, v, ecfg)
    return clean_depth(read_exr(path).get("Depth"))


def _read_times(path: Path) -> dict[str, float]:
    """Seconds each key frame took to render (kept across resumed runs)."""
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_frame(out: Path, f: int, rgb, seen, camera_meta) -> None:
    write_exr = ops_module("core.exr").write_exr
    to_display = ops_module("core.imageio").to_display
    write_png = ops_module("core.imageio").write_png

    ps = nops.PassSet(source=f"frame {f}", meta={"frame": f, "camera": camera_meta} if camera_meta else {"frame": f})
    ps.add("Combined", np.concatenate([rgb[..., :3], seen[..., None].astype(np.float32)], axis=2).astype(np.float32),
           "RGBA")
    write_exr(ps, out / f"frame_{f:04d}.exr", overwrite=True)
    write_png(out / f"frame_{f:04d}.png", to_display(rgb[..., :3]))
