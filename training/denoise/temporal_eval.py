"""Animation denoising on rendered shots (bpy + torch): per-frame, temporal and multi-frame.

Renders held-out shots at low spp (a new sampling seed per frame, as an animation render has) and
at a high-spp reference, runs the denoisers frame by frame, with the temporal filter, and on
multi-frame input (frames t-k..t+k gathered, :mod:`neural_ops.denoise.multiframe`), and prints
relMSE, FLIP and flicker (:func:`neural_ops.denoise.temporal.flicker` against the reference's own
temporal change) per shot, with ratios to OIDN frame by frame.

Shots (``--move``, repeatable):

- ``dolly``: the bundled default scene, the camera sliding right and up;
- ``object``: the default scene from a still camera, the glossy sphere crossing in front of the
  cube (occlusion, a moving highlight);
- ``cut``: the default scene, a slow pan, then a cut to another camera half-way;
- ``window``: a closed room lit through a window (the procedural ``window`` family, a seed never
  used for training), the camera panning;
- ``fast``: the default scene, the camera orbiting fast (tens of pixels per frame);
- ``spin``: the window room, the camera panning and rolling 140 degrees over the shot (the image
  corners move tens of pixels per frame).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_ops import get_op, read_exr
from neural_ops.core.metrics import flip, relmse
from neural_ops.denoise.multiframe import Window, WindowParams
from neural_ops.denoise.temporal import TemporalFilter, flicker

MOVES = ("dolly", "object", "cut", "window", "fast", "spin")


@dataclass
class TemporalEvalConfig:
    """The shots to render and score (``neural-render eval temporal``; each field is an option): the
    arguments of :func:`run`."""

    out: str = field(default="data/eval/temporal", metadata={"flag": ("-o", "--output")})
    """Folder for the renders (reused when they exist) and the results."""
    moves: list[str] = field(default_factory=lambda: list(MOVES), metadata={"flag": "--move"})
    """Shots to render and score (repeatable or comma-separated): dolly, object, cut, window, fast, spin."""
    frames: int = 12
    """Frames per shot."""
    resolution: int = 128
    """Square resolution."""
    spp: int = 4
    """Samples per pixel of the noisy frames."""
    ref_spp: int = 512
    """Reference samples per pixel, in total: two independent references of half as many each."""
    frames_window: int = 2
    """k of the multi-frame methods: frames t-k..t+k."""
    methods: list[str] = field(default_factory=lambda: ["oidn"], metadata={"flag": "--method"})
    """Denoisers to run (each per frame, + temporal, multi-frame, multi-frame + temporal)."""

    def check(self) -> None:
        self.moves = [m.strip() for item in self.moves for m in item.split(",") if m.strip()]
        self.methods = [m.strip() for item in self.methods for m in item.split(",") if m.strip()]
        bad = [m for m in self.moves if m not in MOVES]
        if bad or not self.moves:
            raise ValueError(f"unknown --move {', '.join(bad) or '(none)'} (choose from {', '.join(MOVES)})")
        if self.frames < 3 or self.resolution < 16 or self.spp < 1 or self.ref_spp < self.spp:
            raise ValueError("need --frames >= 3, --resolution >= 16, 1 <= --spp <= --ref-spp")
        WindowParams(frames_window=self.frames_window).check()


def build_move(move: str, frames: int, resolution: int, cache: Path = Path("data/cache/textures")):
    """Build shot ``move`` in the current Blender file and return its scene (procedural textures
    are written to ``cache``, an absolute path: the saved file refers to them)."""
    from mathutils import Vector

    from addon.blender import scenes

    if move in ("window", "spin"):
        from training.scenes.build import build_scene
        from training.scenes.spec import scene_spec

        # Seeds 9000+ are never drawn by the data commands' defaults (0...) nor the held-out set.
        scene = build_scene(scene_spec(9001, "window"), Path(cache).resolve(), (resolution, resolution))
        cam = scene.camera
        # A sideways move along the camera's own X axis, turning a little about the world's up
        # axis (a pan; re-aiming at a point would roll a camera that looks steeply down).
        start, rot0 = cam.location.copy(), cam.rotation_euler.copy()
        right = rot0.to_matrix() @ Vector((1, 0, 0))  # (matrix_world is not updated yet)
        for f, s in ((1, -1.0), (frames, 1.0)):
            cam.location = start + right * (0.35 * s)
            cam.rotation_euler = rot0.copy()
            cam.rotation_euler.z += math.radians(6) * s
            if move == "spin":  # and a roll about the view axis: 140 degrees over the shot
                cam.rotation_euler.rotate_axis("Z", math.radians(70) * s)
            cam.keyframe_insert("location", frame=f)
            cam.keyframe_insert("rotation_euler", frame=f)
        cam.location, cam.rotation_euler = start, rot0
    else:
        scene = scenes.build_default_scene((resolution, resolution))
        cam = scene.camera
        start = cam.location.copy()
        if move == "dolly":
            for f, s in ((1, -0.25), (frames, 0.25)):
                cam.location = start + Vector((s * 2, 0, s * 0.5))
                cam.keyframe_insert("location", frame=f)
        elif move == "object":
            import bpy

            ob = bpy.data.objects["Sphere"]
            y0 = ob.location.copy()
            for f, x in ((1, -1.6), (frames, 1.9)):
                ob.location = Vector((x, y0.y - 0.4, y0.z))
                ob.keyframe_insert("location", frame=f)
        elif move == "cut":
            # Keys on frames half and half + 1: rendered frames see a jump (a cut).
            half = frames // 2
            rot0 = cam.rotation_euler.copy()
            for f, s in ((1, 0.0), (half, 0.15)):
                cam.location = start + Vector((s, 0, 0))
                cam.keyframe_insert("location", frame=f)
                cam.keyframe_insert("rotation_euler", frame=f)
            cam.location = start + Vector((-2.5, 1.0, 0.8))
            cam.rotation_euler = (rot0.x - 0.15, rot0.y, rot0.z - 0.6)
            for f in (half + 1, frames):
                cam.keyframe_insert("location", frame=f)
                cam.keyframe_insert("rotation_euler", frame=f)
            cam.location, cam.rotation_euler = start, rot0
        elif move == "fast":
            r = math.hypot(start.x, start.y)
            a0 = math.atan2(start.y, start.x)
            rot0 = cam.rotation_euler.copy()
            for f in range(1, frames + 1, max(1, (frames - 1) // 3)):
                a = a0 + 0.08 * (f - 1)
                cam.location = Vector((r * math.cos(a), r * math.sin(a), start.z))
                cam.rotation_euler = (rot0.x, rot0.y, rot0.z + 0.08 * (f - 1))
                cam.keyframe_insert("location", frame=f)
                cam.keyframe_insert("rotation_euler", frame=f)
            cam.location, cam.rotation_euler = start, rot0
    scene.frame_start, scene.frame_end = 1, frames
    scene.cycles.use_animated_seed = True
    return scene


#: Base sampling seeds (each still animated per frame) of the two independent half references and
#: of the ceiling render; the noisy frames keep the scene's seed, 0.
REF_SEEDS = (101, 202)
CEILING_SEED = 303


def _seeded(blend: Path, seed: int) -> Path:
    """A copy of ``blend`` whose Cycles seed is ``seed``, still animated (a new noise pattern per
    frame, independent of every other copy's)."""
    import bpy

    path = blend.with_name(f"{blend.stem}_seed{seed}.blend")
    if not path.exists():
        bpy.ops.wm.open_mainfile(filepath=str(blend.resolve()), load_ui=False)
        scene = bpy.context.scene
        scene.cycles.seed, scene.cycles.use_animated_seed = seed, True
        bpy.ops.wm.save_as_mainfile(filepath=str(path.resolve()), copy=True)
    return path


def render_move(out: Path, move: str, frames: int, resolution: int, spp: int, ref_spp: int,
                ceiling: int = 0, log=print) -> dict[str, list[Path]]:
    """Render (or reuse) a shot: ``out/noisy`` at ``spp``, two independent half references
    ``out/reference_a`` and ``out/reference_b`` at ``ref_spp / 2`` each (their product scores without
    the references' own noise) and, with ``ceiling``, ``out/noisy_x{ceiling}`` at ``ceiling * spp``
    (what gathering ``ceiling`` frames of a still shot could at best reach). Returns name -> frame paths."""
    import bpy

    from addon.blender import batch

    out.mkdir(parents=True, exist_ok=True)
    blend = out / "move.blend"
    if not blend.exists():
        build_move(move, frames, resolution, out / "textures")
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    sets = [("noisy", spp, None), ("reference_a", max(1, ref_spp // 2), REF_SEEDS[0]),
            ("reference_b", max(1, ref_spp // 2), REF_SEEDS[1])]
    if ceiling > 1:
        sets.append((f"noisy_x{ceiling}", spp * ceiling, CEILING_SEED))
    lists = {}
    for name, n, seed in sets:
        folder = out / name
        paths = [folder / f"frame_{f:04d}.exr" for f in range(1, frames + 1)]
        todo = [f for f, p in zip(range(1, frames + 1), paths) if not p.exists()]
        if todo:
            log(f"{move}: rendering {len(todo)} {name} frames at {n} spp...")
            t = time.perf_counter()
            # seed=None keeps the blend's animated seed: independent noise in every frame.
            batch.export_blend(blend if seed is None else _seeded(blend, seed), folder, spp=n, frames=todo,
                               overwrite=True)
            log(f"  {time.perf_counter() - t:.1f} s")
        lists[name] = paths
    return lists


def relmse_unbiased(x: np.ndarray, ref_a: np.ndarray, ref_b: np.ndarray, eps: float = 0.01) -> float:
    """relMSE of ``x`` against the noise-free image, estimated from two independent noisy
    references: E[(x - a)(x - b)] = E[(x - truth)^2] when a and b are unbiased and independent of x
    and of each other (the references' own noise, which a plain relMSE adds to every method alike,
    cancels). The denominator uses their mean."""
    m = 0.5 * (ref_a + ref_b)
    return float(np.mean((x - ref_a) * (x - ref_b) / (m * m + eps)))


def flicker_unbiased(seq, vectors, ref_a, ref_b) -> float:
    """RMS flicker against the noise-free temporal change: sqrt(E[(d - d_a)(d - d_b)]) with d the
    sequence's temporal differences along motion (display values) and d_a, d_b the two references'."""
    from neural_ops.denoise.temporal import temporal_differences

    d = np.stack(temporal_differences(seq, vectors))
    da = np.stack(temporal_differences(ref_a, vectors))
    db = np.stack(temporal_differences(ref_b, vectors))
    return float(np.sqrt(max(np.nanmean((d - da) * (d - db)), 0.0)))


def score(paths: dict[str, list[Path]], methods=("oidn",), frames_window: int = 2) -> tuple[dict, dict]:
    """Every method's sequence on one shot: rows of metrics and seconds per frame."""
    noisy_p = paths["noisy"]
    noisy = [read_exr(p) for p in noisy_p]
    ref_a = [read_exr(p).color for p in paths["reference_a"]]
    ref_b = [read_exr(p).color for p in paths["reference_b"]]
    ref = [0.5 * (a + b) for a, b in zip(ref_a, ref_b)]
    vectors = [ps.get("Vector") for ps in noisy]
    seqs = {"noisy": [ps.color for ps in noisy]}
    secs = {"noisy": 0.0}
    window = Window(noisy_p, read_exr, WindowParams(frames_window=frames_window))
    ceiling = next((k for k in paths if k.startswith("noisy_x")), None)
    for m in methods:
        spec = get_op("denoise", m)
        t = time.perf_counter()
        seqs[m] = [spec(ps) for ps in noisy]
        secs[m] = (time.perf_counter() - t) / len(noisy)
        tf = TemporalFilter()
        seqs[f"{m} + temporal"] = [tf.step(ps, img) for ps, img in zip(noisy, seqs[m])]
        name = f"{m} window {frames_window}"
        t = time.perf_counter()
        seqs[name] = [window.gathered(i).denoise(ps, spec) for i, ps in enumerate(noisy)]
        secs[name] = (time.perf_counter() - t) / len(noisy)
        tf = TemporalFilter()
        seqs[f"{name} + temporal"] = [tf.step(ps, img) for ps, img in zip(noisy, seqs[name])]
        if ceiling:
            seqs[f"{m} at {ceiling[len('noisy_x'):]}x spp (ceiling)"] = [spec(read_exr(p)) for p in paths[ceiling]]
    rows = {}
    for name, seq in seqs.items():
        rows[name] = {
            "relMSE": float(np.mean([relmse_unbiased(a, ra, rb) for a, ra, rb in zip(seq, ref_a, ref_b)])),
            "relMSE vs mean reference": float(np.mean([relmse(a, r) for a, r in zip(seq, ref)])),
            "FLIP": float(np.mean([flip(a, r) for a, r in zip(seq, ref)])),
            "flicker": flicker_unbiased(seq, vectors, ref_a, ref_b),
            "flicker (mean abs vs mean reference)": flicker(seq, vectors, ref),
            "temporal change": flicker(seq, vectors),
            "per frame relMSE": [relmse_unbiased(a, ra, rb) for a, ra, rb in zip(seq, ref_a, ref_b)],
        }
    return rows, secs


def run(out: Path, moves=MOVES, frames: int = 12, resolution: int = 128, spp: int = 4, ref_spp: int = 256,
        methods=("oidn",), frames_window: int = 2, log=print) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    lines = [f"Shots of {frames} frames {resolution}x{resolution}, {spp} spp, scored against two independent "
             f"{ref_spp // 2}-spp references (relMSE and flicker without the references' noise); ratios are to "
             "OIDN frame by frame on the same shot",
             "| shot | sequence | relMSE | ratio | FLIP | ratio | flicker | ratio | s/frame |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for move in moves:
        paths = render_move(out / move, move, frames, resolution, spp, ref_spp, 2 * frames_window + 1, log)
        rows, secs = score(paths, methods, frames_window)
        results[move] = rows
        base = rows.get("oidn") or rows["noisy"]
        for name, r in rows.items():
            if name == "reference":
                continue
            lines.append(f"| {move} | {name} | {r['relMSE']:.5f} | {r['relMSE'] / base['relMSE']:.2f} | {r['FLIP']:.4f} | "
                         f"{r['FLIP'] / base['FLIP']:.2f} | {r['flicker']:.4f} | {r['flicker'] / base['flicker']:.2f} | "
                         f"{secs.get(name, float('nan')):.2f} |")
        log("\n".join(lines[-len(rows) + 1:]))
    table = "\n".join(lines)
    log(table)
    (out / "temporal.md").write_text(table + "\n\nrelMSE: E[(x - a)(x - b) / (m^2 + 0.01)] over two independent references "
                                     "a, b (mean m); flicker: RMS of d_t - d_t(reference) the same way, d_t = frame t minus "
                                     "frame t-1 reprojected with the Vector pass, display values; FLIP against m; s/frame: "
                                     "the denoiser's time per frame (+ temporal adds little). 'window k': frames t-k..t+k "
                                     "gathered (multi-frame); 'ceiling': the denoiser on (2k+1)x the samples rendered.\n")
    (out / "temporal.json").write_text(json.dumps(results, indent=1) + "\n")
    return results
