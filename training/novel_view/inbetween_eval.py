"""Render 1 in N on held-out animated shots, against rendering every frame (bpy).

    neural-render eval inbetween --shot objects,window,thin --every 2,4,8

Each shot (built here, never used for training) has a camera move *and* animated objects. Every
frame is rendered with Cycles at ``--spp`` and put through OIDN: that sequence is what a user
would otherwise deliver, the reference (same spp, same denoiser), and what rendering every frame
costs. Its frames at 1, 1 + N, ... are the key frames of Render 1 in N (the same renders, so each
route pays for them once). Routes, per N:

- ``motion``: ours (:mod:`neural_ops.novel_view.motion`): an auxiliary render of every frame,
  the keys carried along the renderer's motion, with and without re-rendering the tiles no key
  reached;
- ``ulr``, ``learned``: the key frames warped through their depth (camera moves only) and
  blended by unstructured-lumigraph weights or the shipped blending network;
- ``flow``: optical-flow interpolation of the key frames (:mod:`.flow`, OpenCV DIS), what a
  renderer-unaware tool does.

Per shot and N: PSNR and FLIP of the synthesised frames and flicker of the whole sequence
(temporal change along the renderer's motion that the reference does not have), all against the
every-frame sequence; the time split (key renders, auxiliary renders, synthesis, re-renders) and
the speed-up over rendering every frame, measured and as it would be if a frame took 10 s.

Shots (``--shot``):

- ``objects``: the bundled default scene, the camera orbiting, the glossy sphere crossing in
  front of the cube (occlusion, a moving highlight), the torus spinning;
- ``window``: a closed room lit through a window (procedural ``window`` family, seed 9002), the
  camera panning, one object sliding and another turning;
- ``thin``: the default scene behind a fence of thin rods sliding sideways while the camera
  dollies (thin structures, disocclusions everywhere behind them).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHOTS = ("objects", "window", "thin")
METHODS = ("motion", "ulr", "learned", "flow", "lowspp")


def low_spp(spp: int) -> int:
    """The samples of the ``lowspp`` route: a quarter of the keys' (rendering every frame at it
    costs about what render 1 in 4 does)."""
    return max(1, spp // 4)


@dataclass
class InbetweenEvalConfig:
    """The shots to render and score (``neural-render eval inbetween``)."""

    out: str = field(default="data/eval/inbetween", metadata={"flag": ("-o", "--output")})
    """Folder for the renders (reused when they exist) and the results."""
    shots: list[str] = field(default_factory=lambda: list(SHOTS), metadata={"flag": "--shot"})
    """Shots (repeatable or comma-separated): objects, window, thin."""
    every: list[int] = field(default_factory=lambda: [2, 4, 8], metadata={"flag": "--every"})
    """N of render 1 in N (repeatable or comma-separated)."""
    frames: int = 17
    """Frames per shot."""
    resolution: str = "320x180"
    """WxH."""
    spp: int = 64
    """Cycles samples per pixel of every rendered frame."""
    methods: list[str] = field(default_factory=lambda: ["motion", "ulr", "learned", "flow", "lowspp"],
                               metadata={"flag": "--method"})
    """Routes to score: motion, ulr, learned, flow, lowspp (every frame rendered at a quarter of
    the samples, through OIDN: the other way a user makes a shot cheaper)."""
    max_flip: list[float] = field(default_factory=lambda: [0.05], metadata={
        "flag": "--max-flip", "metavar": "F,F,...",
        "parse": lambda text: [float(v) for v in text.split(",") if v.strip()]})
    """Quality targets the motion route is also run with (re-rendering tiles expected above them)."""
    blend_weights: str = ""
    """A key blend's .safetensors for the motion routes (default: the shipped one, if any; from
    'neural-render train inbetween')."""
    frame_seconds: float = 10.0
    """A frame's render time the speed-up is also stated at (the time split's fixed costs against it)."""

    def check(self) -> None:
        self.shots = [s.strip() for item in self.shots for s in str(item).split(",") if s.strip()]
        self.methods = [s.strip() for item in self.methods for s in str(item).split(",") if s.strip()]
        self.every = [int(s) for item in self.every for s in str(item).split(",") if str(s).strip()]
        self.max_flip = [float(s) for item in self.max_flip for s in str(item).split(",") if str(s).strip()]
        bad = [s for s in self.shots if s not in SHOTS]
        if bad or not self.shots:
            raise ValueError(f"unknown --shot {', '.join(bad) or '(none)'} (choose from {', '.join(SHOTS)})")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown --method {', '.join(bad)} (choose from {', '.join(METHODS)})")
        if any(n < 2 or n >= self.frames for n in self.every):
            raise ValueError(f"--every must be between 2 and --frames - 1 ({self.frames - 1})")
        w, _, h = self.resolution.lower().partition("x")
        if not (w.isdigit() and h.isdigit()) or int(w) < 16 or int(h) < 16:
            raise ValueError(f"--resolution {self.resolution}: expected WxH, at least 16x16")

    @property
    def size(self) -> tuple[int, int]:
        w, _, h = self.resolution.lower().partition("x")
        return int(w), int(h)


def build_shot(shot: str, frames: int, size: tuple[int, int], cache: Path):
    """Build shot ``shot`` in the current Blender file and return its scene."""
    import bpy
    from mathutils import Vector

    from addon.blender import scenes

    from .bench import animate_objects, animate_orbit

    if shot.startswith("train:"):  # a training shot (.inbetween_data), never one of SHOTS
        from .inbetween_data import build_random_shot

        return build_random_shot(int(shot.split(":")[1]), frames, size, cache)
    if shot == "window":
        from training.scenes.build import build_scene
        from training.scenes.spec import scene_spec

        scene = build_scene(scene_spec(9002, "window"), Path(cache).resolve(), size)
        cam = scene.camera
        start, rot0 = cam.location.copy(), cam.rotation_euler.copy()
        right = rot0.to_matrix() @ Vector((1, 0, 0))
        for f, s in ((1, -1.0), (frames, 1.0)):
            cam.location = start + right * (0.3 * s)
            cam.rotation_euler = rot0.copy()
            cam.rotation_euler.z += math.radians(5) * s
            cam.keyframe_insert("location", frame=f)
            cam.keyframe_insert("rotation_euler", frame=f)
        cam.location, cam.rotation_euler = start, rot0
        slide, turn = bpy.data.objects["obj1"], bpy.data.objects["obj4"]
        p0, r0 = slide.location.copy(), turn.rotation_euler.copy()
        for f, s in ((1, -1.0), (frames, 1.0)):
            slide.location = p0 + Vector((0.0, 0.45 * s, 0.0))
            slide.keyframe_insert("location", frame=f)
            turn.rotation_euler = (r0.x, r0.y, r0.z + math.radians(35) * s)
            turn.keyframe_insert("rotation_euler", frame=f)
        slide.location, turn.rotation_euler = p0, r0
    else:
        scene = scenes.build_default_scene(size)
        if shot == "objects":
            animate_orbit(scene, frames, 12.0)
            animate_objects(scene, frames)
            torus = bpy.data.objects["Torus"] if "Torus" in bpy.data.objects else None
            if torus is not None:
                r0 = torus.rotation_euler.copy()
                for f, a in ((1, 0.0), (frames, 80.0)):
                    torus.rotation_euler = (r0.x + math.radians(a * 0.5), r0.y, r0.z + math.radians(a))
                    torus.keyframe_insert("rotation_euler", frame=f)
        else:  # thin
            mat = bpy.data.materials.new("Rod")
            mat.use_nodes = True
            bsdf = mat.node_tree.nodes.get("Principled BSDF")
            bsdf.inputs["Base Color"].default_value = (0.75, 0.72, 0.65, 1.0)
            bsdf.inputs["Metallic"].default_value = 0.8
            bsdf.inputs["Roughness"].default_value = 0.25
            rods = []
            for i in range(9):
                bpy.ops.mesh.primitive_cylinder_add(radius=0.025, depth=1.6, vertices=12,
                                                    location=(-2.0 + 0.45 * i, -1.7, 0.8))
                ob = bpy.context.active_object
                ob.name = f"Rod{i}"
                ob.data.materials.append(mat)
                rods.append(ob)
            for ob in rods:
                p0 = ob.location.copy()
                for f, s in ((1, -1.0), (frames, 1.0)):
                    ob.location = p0 + Vector((0.35 * s, 0.0, 0.0))
                    ob.keyframe_insert("location", frame=f)
                ob.location = p0
            cam = scene.camera
            start = cam.location.copy()
            for f, s in ((1, -1.0), (frames, 1.0)):
                cam.location = start + Vector((-0.3 * s, 0.0, 0.1 * s))
                cam.keyframe_insert("location", frame=f)
            cam.location = start
    scene.frame_start, scene.frame_end = 1, frames
    return scene


def render_shot(out: Path, shot: str, frames: int, size: tuple[int, int], spp: int, log=print,
                low: bool = False) -> Path:
    """Build (or reuse) the shot's ``.blend`` and render every frame at ``spp`` into ``out/full`` and
    its auxiliary renders into ``out/aux``; with ``low``, every frame at :func:`low_spp` into
    ``out/low`` too (another seed: not the first samples of the reference's). Each resumed;
    seconds per frame in ``times.json``."""
    import bpy

    from addon.blender import batch, export, inbetween

    out.mkdir(parents=True, exist_ok=True)
    blend = out / "shot.blend"
    if not blend.exists():
        build_shot(shot, frames, size, out / "textures")
        bpy.ops.wm.save_as_mainfile(filepath=str(blend.resolve()))
    scene = batch.open_blend(blend)
    # What inbetween renders: the same seed in every frame, 1 spp data passes for aux.
    renders = [("full", "full", spp, 0, False), ("aux", "auxiliary", 1, 0, True)]
    if low:
        renders.append(("low", "low-spp", low_spp(spp), 1, False))
    for folder, what, samples, seed, aux in renders:
        d = out / folder
        todo = [f for f in range(1, frames + 1) if not (d / f"frame_{f:04d}.exr").exists()]
        if not todo:
            continue
        log(f"{shot}: rendering {len(todo)} {what} frames...")
        times = inbetween._read_times(d / "times.json")
        ecfg = export.ExportConfig(directory=str(d), spp=samples, frames=todo, half=False, overwrite=True,
                                   seed=seed, aux=aux)
        for _ in inbetween._timed_renders(scene, ecfg, times, d / "times.json"):
            pass
    return blend


def score_shot(out: Path, blend: Path, cfg: InbetweenEvalConfig, log=print) -> dict:
    """Every route at every N on one rendered shot: {N: {route: row}}."""
    from addon.blender import batch, inbetween
    from neural_ops import read_exr
    from neural_ops.core.metrics import flip, psnr
    from neural_ops.core.motion import with_background_motion
    from neural_ops.denoise.temporal import flicker
    from neural_ops.novel_view.motion import denoise_key
    from neural_ops.novel_view.synthesis import key_frames

    from . import flow

    n = cfg.frames
    full_times = inbetween._read_times(out / "full" / "times.json")
    aux_times = inbetween._read_times(out / "aux" / "times.json")
    t = time.perf_counter()
    full = [read_exr(out / "full" / f"frame_{f:04d}.exr") for f in range(1, n + 1)]
    refs = [np.maximum(denoise_key(ps).color, 0.0) for ps in full]
    oidn_s = (time.perf_counter() - t) / n
    # Motion for the flicker measure, the world's included (Cycles writes none where no surface is hit).
    vectors = [with_background_motion(ps, full[i - 1] if i > 0 else None, full[i + 1] if i + 1 < n else None)
               for i, ps in enumerate(full)]
    render_s = [full_times[str(f)] for f in range(1, n + 1)]
    aux_s = [aux_times[str(f)] for f in range(1, n + 1)]
    all_s = sum(render_s) + oidn_s * n
    results = {"every frame": {"seconds": all_s, "render_seconds_per_frame": float(np.mean(render_s)),
                               "oidn_seconds_per_frame": oidn_s}}
    scene = batch.open_blend(blend)
    low_seq, low_oidn = [], []
    for every in cfg.every:
        keys = key_frames(1, n, every)
        synth = [f for f in range(1, n + 1) if f not in keys]
        key_s = sum(render_s[k - 1] for k in keys)
        rows = {}

        def row(seq, spent, parts, synth_s, synth=synth, keys=keys, every=every):
            r = {"PSNR": float(np.mean([psnr(seq[f - 1], refs[f - 1]) for f in synth])),
                 "FLIP": float(np.mean([flip(seq[f - 1], refs[f - 1]) for f in synth])),
                 "flicker": flicker(seq, vectors, refs), "seconds": spent, "speed-up": all_s / spent,
                 "s/synthesised frame": synth_s} | parts
            # As if a frame took frame_seconds: renders (keys, re-renders) scale, the rest does not.
            scale = cfg.frame_seconds / float(np.mean(render_s))
            fixed = spent - parts["key renders"] - parts.get("re-renders", 0.0)
            at = (parts["key renders"] + parts.get("re-renders", 0.0)) * scale + fixed
            r["speed-up at T"] = (cfg.frame_seconds + oidn_s) * n / at
            # A long shot (the 17 frames' first and last keys no longer count): per N frames, one
            # key render, its denoising, N auxiliary renders and N - 1 synthesised frames.
            t_key = cfg.frame_seconds
            per_synth = (parts["synthesis"] + parts.get("re-renders", 0.0) * scale) / max(len(synth), 1)
            per_key = parts["denoise"] / len(keys)
            per_n = t_key + per_key + every * parts.get("aux renders", 0.0) / n + (every - 1) * per_synth
            r["long shot at T"] = every * (t_key + oidn_s) / per_n
            return r

        for name, label, method, rerender, max_flip, blend in _routes(cfg):
            if method == "lowspp":  # the same frames for every N: denoised once
                low_times = inbetween._read_times(out / "low" / "times.json")
                if not low_seq:
                    t = time.perf_counter()
                    low_seq.extend(np.maximum(denoise_key(read_exr(out / "low" / f"frame_{f:04d}.exr")).color, 0.0)
                                   for f in range(1, n + 1))
                    low_oidn.append(time.perf_counter() - t)
                renders = sum(low_times[str(f)] for f in range(1, n + 1))
                r = row(low_seq, renders + low_oidn[0],
                        {"key renders": renders, "denoise": low_oidn[0], "synthesis": 0.0}, 0.0)
                r["long shot at T"] = r["speed-up at T"]  # no keys: a long shot is the same per frame
                rows[label] = r
                log(f"  N={every} {name} done")
                continue
            if method == "flow":
                seq = [refs[f - 1] for f in range(1, n + 1)]
                t = time.perf_counter()
                for lo, hi in zip(keys, keys[1:]):
                    fab, fba = flow.flows(refs[lo - 1], refs[hi - 1])
                    for f in range(lo + 1, hi):
                        seq[f - 1] = flow.interpolate(refs[lo - 1], refs[hi - 1], (f - lo) / (hi - lo), fab, fba)
                synth_s = (time.perf_counter() - t) / max(len(synth), 1)
                denoise_s = oidn_s * len(keys)
                spent = key_s + denoise_s + synth_s * len(synth)
                rows[label] = row(seq, spent, {"key renders": key_s, "denoise": denoise_s,
                                               "synthesis": synth_s * len(synth)}, synth_s)
                log(f"  N={every} {name} done")
                continue
            run_dir = out / f"N{every}" / name
            if run_dir.exists():
                shutil.rmtree(run_dir)
            (run_dir / "keys").mkdir(parents=True)
            for k in keys:  # the key frames are the every-frame renders (same seed and spp)
                for ext in ("exr", "json"):
                    shutil.copy(out / "full" / f"frame_{k:04d}.{ext}", run_dir / "keys" / f"frame_{k:04d}.{ext}")
            (run_dir / "keys" / "times.json").write_text(json.dumps({str(k): full_times[str(k)] for k in keys}))
            if method == "motion":
                shutil.copytree(out / "aux", run_dir / "aux")
            icfg = inbetween.InbetweenConfig(directory=str(run_dir), first=1, last=n, every=every, spp=cfg.spp,
                                             method=method, rerender=rerender, max_flip=max_flip, blend=blend,
                                             weights=cfg.blend_weights if method == "motion" else "")
            s = inbetween.run(scene, icfg, log=lambda m: None)
            written = [read_exr(run_dir / f"frame_{f:04d}.exr") for f in range(1, n + 1)]
            seq = [refs[f - 1] if f in keys else np.maximum(written[f - 1].color, 0.0) for f in range(1, n + 1)]
            parts = {"key renders": key_s, "denoise": s["denoise_seconds"],
                     "synthesis": s["synth_seconds_per_frame"] * len(synth)}
            if method == "motion":
                parts["aux renders"] = sum(aux_s)
                parts["re-renders"] = s.get("rerender_seconds", 0.0)
            r = row(seq, sum(parts.values()), parts, s["synth_seconds_per_frame"])
            if method == "motion":
                r["re-rendered %"] = 100 * s.get("rerendered_fraction", 0.0)
            if name == "motion_norerender":  # how the error goes with the confidence map
                r["by confidence"] = _by_confidence([written[f - 1].get("Confidence")[..., 0] for f in synth],
                                                    [seq[f - 1] for f in synth], [refs[f - 1] for f in synth])
            rows[label] = r
            log(f"  N={every} {name} done")
        results[f"N={every}"] = rows
    return results


def _routes(cfg: InbetweenEvalConfig):
    """(folder name, table label, inbetween method, re-render, max FLIP, blend) of every route scored."""
    for method in cfg.methods:
        if method == "motion":
            yield "motion", "ours: motion, re-rendering unreached tiles", "motion", True, None, "auto"
            yield "motion_norerender", "ours: motion, no re-render", "motion", False, None, "auto"
            if _learned_blend(cfg):  # else the routes above blend linearly already
                yield "motion_linear", "ours: motion, linear blend, no re-render", "motion", False, None, "linear"
            for target in cfg.max_flip:
                yield f"motion_flip{target:g}", f"ours: motion, --max-flip {target:g}", "motion", True, target, "auto"
        elif method == "flow":
            yield "flow", "flow (DIS) of the key frames", "flow", True, None, "auto"
        elif method == "lowspp":
            yield "lowspp", f"every frame at {low_spp(cfg.spp)} spp", "lowspp", True, None, "auto"
        else:
            label = {"ulr": "ULR (depth warp)", "learned": "learned blending (depth warp)"}[method]
            yield method, label, method, True, None, "auto"


def _learned_blend(cfg: InbetweenEvalConfig):
    """The key blend the motion routes use (None: linear, no model shipped or given)."""
    from neural_ops.nn.weights import available_models
    from neural_ops.novel_view.key_blend import load_key_blend

    return load_key_blend(weights=cfg.blend_weights) if cfg.blend_weights or available_models("inbetween") else None


#: Confidence bins of :func:`_by_confidence` (upper ends; 0 alone: pixels no key frame reached).
CONFIDENCE_BINS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)


def _by_confidence(confidence: list, synthesised: list, refs: list) -> dict[str, list[float]]:
    """Mean per-pixel FLIP of the synthesised frames in each confidence bin, and the bin's share
    of the pixels: {"<= 0.25": [share, FLIP], ...} (what ``--max-flip`` predicts from)."""
    from neural_ops.core.metrics import flip_map

    conf = np.concatenate([c.ravel() for c in confidence])
    err = np.concatenate([flip_map(x, r).ravel() for x, r in zip(synthesised, refs)])
    out, lo = {}, -1.0
    for hi in CONFIDENCE_BINS:
        m = (conf > lo) & (conf <= hi)
        out[f"<= {hi:g}"] = [float(m.mean()), float(err[m].mean()) if m.any() else float("nan")]
        lo = hi
    return out


def table(shot: str, res: dict, cfg: InbetweenEvalConfig) -> str:
    e = res["every frame"]
    lines = [f"### {shot} ({cfg.resolution}, {cfg.frames} frames, {cfg.spp} spp; every frame: "
             f"{e['render_seconds_per_frame']:.2f} s render + {e['oidn_seconds_per_frame']:.2f} s OIDN per frame, "
             f"{e['seconds']:.1f} s in all)", "",
             f"| N | route | PSNR | FLIP | flicker | key renders | aux renders | synthesis | re-renders (%) | "
             f"seconds | speed-up | at {cfg.frame_seconds:g} s/frame | long shot at {cfg.frame_seconds:g} s/frame |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, rows in res.items():
        if not key.startswith("N="):
            continue
        for name, r in rows.items():
            rr = (f"{r['re-renders']:.1f} ({r.get('re-rendered %', 0):.1f})" if "re-renders" in r else "-")
            db = "as rendered" if np.isinf(r["PSNR"]) else f"{r['PSNR']:.2f}"  # every synthesised pixel re-rendered
            lines.append(f"| {key[2:]} | {name} | {db} | {r['FLIP']:.4f} | {r['flicker']:.4f} | "
                         f"{r['key renders']:.1f} | {r.get('aux renders', 0):.1f} | {r['synthesis']:.1f} | {rr} | "
                         f"{r['seconds']:.1f} | {r['speed-up']:.2f}x | {r['speed-up at T']:.2f}x | "
                         f"{r['long shot at T']:.2f}x |")
    return "\n".join(lines)


def synthesis_seconds(shot_dir: Path, scale: int = 6, every: int = 4, blend=None) -> dict[str, float]:
    """Seconds :func:`neural_ops.novel_view.motion.interpolate` (with ``blend``) takes per frame when a shot's
    frames are blown up ``scale`` times (320x180 x 6 = 1920x1080: every pass, motion scaled):
    the first frame of a key interval (the two keys prepared) and the next ones (prepared keys
    reused), with the time to denoise a key frame."""
    import dataclasses

    from neural_ops import read_exr
    from neural_ops.core.notes import quiet
    from neural_ops.core.passset import Pass
    from neural_ops.novel_view import motion

    def big(ps):
        out = dataclasses.replace(ps, passes={}, meta={k: v for k, v in ps.meta.items() if k != "camera"})
        for name, p in ps.passes.items():
            px = np.repeat(np.repeat(p.pixels, scale, 0), scale, 1)
            if name == "Vector":
                px = px * scale
            out.passes[name] = Pass(np.ascontiguousarray(px), p.channels, p.half)
        return out

    frames = range(1, every + 2)
    aux = {f: big(read_exr(shot_dir / "aux" / f"frame_{f:04d}.exr")) for f in frames}
    with quiet():
        t = time.perf_counter()
        keys = {k: motion.denoise_key(big(read_exr(shot_dir / "full" / f"frame_{k:04d}.exr"))) for k in (1, every + 1)}
        denoise = (time.perf_counter() - t) / 2
        cache: dict = {}
        secs = []
        for f in range(2, every + 1):
            t = time.perf_counter()
            motion.interpolate(f, keys, aux, fill=True, cache=cache, blend=blend)
            secs.append(time.perf_counter() - t)
    h, w = aux[1].shape
    return {"width": w, "height": h, "first frame of an interval": secs[0],
            "later frames": float(np.mean(secs[1:])) if len(secs) > 1 else secs[0], "denoise a key": denoise}


def run(cfg: InbetweenEvalConfig, log=print) -> dict:
    from neural_ops.core.notes import quiet

    cfg.check()
    out = Path(cfg.out)
    results = {}
    for shot in cfg.shots:
        d = out / f"{shot}_{cfg.resolution}_{cfg.frames}f_{cfg.spp}spp"
        blend = render_shot(d, shot, cfg.frames, cfg.size, cfg.spp, log=log, low="lowspp" in cfg.methods)
        with quiet():  # the clamped-albedo notes of every key frame of every run say nothing new
            results[shot] = score_shot(d, blend, cfg, log=log)
        log("")
        log(table(shot, results[shot], cfg))
        log("")
    first = out / f"{cfg.shots[0]}_{cfg.resolution}_{cfg.frames}f_{cfg.spp}spp"
    syn = synthesis_seconds(first, scale=max(1, round(1920 / cfg.size[0])), blend=_learned_blend(cfg))
    results["synthesis"] = syn
    line = (f"synthesis at {syn['width']}x{syn['height']} ({cfg.shots[0]}, frames blown up): "
            f"{syn['first frame of an interval']:.2f} s for the first frame of a key interval, "
            f"{syn['later frames']:.2f} s for the next ones; denoising a key frame {syn['denoise a key']:.2f} s")
    log(line)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    md = "\n\n".join(table(s, r, cfg) for s, r in results.items() if s != "synthesis") + "\n\n" + line
    (out / "results.md").write_text(md + "\n")
    log(f"wrote {out / 'results.md'}")
    return results
