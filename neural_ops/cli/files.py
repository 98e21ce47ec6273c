"""The file commands of ``neural-render``: ops on EXR files, listing and timing them.

``denoise``, ``cg2real``, ``relight`` (an op on each input EXR, the result added as a pass),
``novel-view`` (new cameras from a multiview folder), ``info``, ``ops`` and ``bench``. They need
numpy and the op's own packages only, never bpy. Registered through the ``neural_render.commands``
entry point ``files`` (see :mod:`neural_ops.cli`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from ..core.errors import NeuralRenderError
from .args import parse_params


def cmd_ops(args) -> int:
    from .. import list_ops

    kind = (args.kind or "").replace("-", "_") or None
    for s in list_ops(kind):
        reason = s.available()
        fields = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(s.params))
        status = "" if not reason else f"  [unavailable: {reason}]"
        print(f"{s.kind:8s} {s.name:10s} {s.label}{status}\n{'':20s}{s.description}\n{'':20s}params: {fields or '-'}")
        if any(f.name == "model" for f in dataclasses.fields(s.params)):
            from ..nn.weights import available_models

            print(f"{'':20s}shipped models (--param model=NAME): {', '.join(available_models(s.kind)) or 'none'}")
    if kind in (None, "novel_view"):
        _list_novel_view()
    return 0


#: ``neural-render novel-view --method``: not per-frame ops on one EXR (they read a folder of
#: views), so not in the op registry, but listed with it.
NOVEL_VIEW_METHODS = (
    ("auto", "Learned or ULR", "learned blending when a model is shipped or --weights given, else ULR"),
    ("learned", "Learned blending", "a network weighs the k nearest source views per pixel (ONNX Runtime or torch)"),
    ("ulr", "Unstructured lumigraph", "blends the k nearest source views by angle and distance (numpy)"),
)


def _list_novel_view() -> None:
    from ..nn.runtime import learned_unavailable
    from ..nn.weights import available_models, weights_paths

    for name, label, description in NOVEL_VIEW_METHODS:
        reason = learned_unavailable(weights_paths("ibr", "default")[0]) if name == "learned" else None
        status = "" if not reason else f"  [unavailable: {reason}]"
        print(f"novel_view {name:8s} {label}{status}\n{'':20s}{description}")
    print(f"{'':20s}options: 'neural-render novel-view --method NAME' with --k, --weights, --model, --denoise")
    # Shipped learned-blending weights keep their first name, ibr_*.safetensors.
    print(f"{'':20s}shipped models (--model NAME): {', '.join(available_models('ibr')) or 'none'}")


def cmd_novel_view(args) -> int:
    import json

    import numpy as np

    from ..core.exr import write_exr
    from ..core.imageio import to_display, write_png
    from ..core.outputs import atomic_write, check_outputs
    from ..core.passset import PassSet
    from ..novel_view.synthesis import render_novel_views, target_cameras

    tf = Path(args.input)
    folder = tf.parent if tf.name == "transforms.json" else tf
    if not (folder / "transforms.json").is_file():
        raise NeuralRenderError(f"{args.input}: no transforms.json there (a folder of views from 'neural-render "
                                "data multiview', 'export --frames' or 'inbetween')")
    targets = target_cameras(folder, camera=args.camera, transforms=args.transforms)
    out = Path(args.output)
    if out.exists() and os.path.samefile(out, folder):
        raise NeuralRenderError(f"{out}: is the folder of the source views; write the synthesised views to another folder")
    planned = [out / f"{name}{ext}" for name, _ in targets for ext in (".exr", ".png")] + [out / "transforms.json"]
    sources = _source_files(folder) + ([Path(args.transforms)] if args.transforms else [])
    check_outputs(planned, sources, args.overwrite, sidecar=False)  # before any work; never onto a source
    frames = []
    log = lambda m: print(m, flush=True)  # noqa: E731
    for v in render_novel_views(folder, targets, method=args.method, weights=args.weights or "",
                                model=args.model or "", k=args.k, log=log, denoise=args.denoise):
        ps = PassSet(source=v.name)
        ps.add("Combined", np.concatenate([v.image, v.seen[..., None].astype(np.float32)], axis=2), "RGBA")
        write_exr(ps, out / f"{v.name}.exr", overwrite=True, sidecar=False)
        write_png(out / f"{v.name}.png", to_display(v.image))
        c = v.camera
        frames.append({"file_path": f"{v.name}.png", "exr_file_path": f"{v.name}.exr",
                       "transform_matrix": np.asarray(c.c2w).tolist(), "fl_x": c.fx, "fl_y": c.fy, "cx": c.cx,
                       "cy": c.cy, "w": c.w, "h": c.h})
        print(f"{v.name}: {100 * v.seen.mean():.1f} % of pixels seen by a source view, {v.seconds:.2f} s", flush=True)
    text = json.dumps({"frames": frames}, indent=1) + "\n"
    atomic_write(out / "transforms.json", lambda tmp: Path(tmp).write_text(text))
    print(f"wrote {len(frames)} view(s) to {out}")
    return 0


def _source_files(folder: Path) -> list[Path]:
    """The files of a multi-view folder a command reads: ``transforms.json`` and each frame's
    image and EXR (what its outputs must never replace)."""
    import json

    files = [folder / "transforms.json"]
    try:
        frames = json.loads((folder / "transforms.json").read_text()).get("frames", [])
    except (OSError, ValueError, AttributeError):
        return files
    for fr in frames if isinstance(frames, list) else []:
        if isinstance(fr, dict):
            files += [folder / str(fr[k]) for k in ("file_path", "exr_file_path") if isinstance(fr.get(k), str)]
    return files


def cmd_info(args) -> int:
    import numpy as np

    from ..core import strips
    from ..core.exr import frame_layout, open_exr, read_exr

    # One pass and one strip of rows at a time: memory stays small whatever the frame's size.
    stream = open_exr(args.input)
    ps = read_exr(args.input, passes=() if stream.streamable else None, stream=stream)
    if stream.streamable:
        lay = frame_layout(stream)
        names, h, w = list(lay.passes), lay.height, lay.width
    else:
        names, (h, w) = list(ps.passes), ps.shape
    print(f"{args.input}: {w}x{h}, layer '{ps.layer}', {len(names)} passes")
    rows = max(1, strips.STRIP_CORE // max(w, 1))
    for name in names:
        bad, p = 0, None
        for y in range(0, h, rows) if stream.streamable else (0,):
            part = read_exr(args.input, sidecar=False, passes=[name], rows=(y, y + rows), stream=stream) \
                if stream.streamable else ps
            p = part.passes[name]
            bad += int((~np.isfinite(p.pixels)).any(axis=2).sum())
        print(f"  {name:24s} {p.channels:5s} {'half' if p.half else 'float'}{f'  {bad} non-finite pixels' if bad else ''}")
    for k in ("frame", "spp", "scene"):
        if k in ps.meta:
            print(f"  {k}: {ps.meta[k]}")
    return 0


def cmd_denoise(args) -> int:
    return _apply("denoise", args)


def cmd_relight(args) -> int:
    args.temporal, args.frames_window = False, 0
    if args.method is None:
        from ..nn.weights import available_models

        has_weights = any(p.startswith("weights=") for p in args.param)
        args.method = "neural" if available_models("relight") or has_weights else "analytic"
        if args.method == "analytic":
            print("no trained relighting model is shipped yet: using analytic re-shading (--method analytic); "
                  "pass --param weights=MODEL.safetensors for a model you trained", flush=True)
    for name in ("hdri", "rotation", "strength", "lights", "lighting", "source_lighting"):
        v = getattr(args, name)
        if v is not None:
            args.param.append(f"{name}={v}")
    return _apply("relight", args)


def cmd_cg2real(args) -> int:
    args.temporal, args.frames_window = False, 0
    return _apply("cg2real", args)


def _apply(kind: str, args) -> int:
    """Run one op of ``kind`` on each input EXR and write it with the result added as a pass."""
    from .. import get_op
    from ..core import strips
    from ..core.exr import add_pass, frame_layout, open_exr, read_exr
    from ..core.outputs import check_outputs
    from ..core.registry import GUIDE_PASSES
    from ..core.strips import STRIP_KEY

    spec = get_op(kind, args.method)
    params = spec.make_params(**parse_params(spec, args.param))
    inputs = [Path(p) for p in args.input]
    window = None
    if args.frames_window:
        from ..denoise.multiframe import FRAME_PASSES, Window, WindowParams, check_consecutive

        wp = WindowParams(frames_window=args.frames_window)
        wp.check()
    if len(inputs) > 1 or args.temporal or args.frames_window:
        # A sequence: -o is a folder, one output per input with the same name, frames in name order.
        inputs.sort()
        outputs = [Path(args.output) / p.name for p in inputs]
        if len({o.name for o in outputs}) != len(outputs):
            raise NeuralRenderError("two inputs share a file name; their outputs would collide in the output folder")
    else:
        outputs = [Path(args.output)]
    check_outputs(outputs, inputs, args.overwrite)  # fail before the slow part; never onto an input
    if args.frames_window:
        from ..core.exr import read_sidecar, sidecar_path

        check_consecutive(inputs, [read_sidecar(sidecar_path(p)) if sidecar_path(p).is_file() else {} for p in inputs])
        window = Window(inputs, lambda p: read_exr(p, passes=FRAME_PASSES), wp)
        print(f"multi-frame: each frame gathered with up to {wp.frames_window} frame(s) on each side", flush=True)
    temporal = None
    if args.temporal:
        from ..denoise.temporal import TemporalFilter

        temporal = TemporalFilter()
    # One name per output: with --temporal too (the render hook's Temporal setting fills the same pass).
    name = args.pass_name or spec.pass_name
    # Library loading, weights and ONNX session set-up happen once per process: do them on a
    # tiny frame first, so the per-frame times printed below are the op's own.
    from ..core.synthetic import synthetic_frame

    t = time.perf_counter()
    if kind == "relight":
        params.target_lighting()  # a bad lighting fails here, before any work
    else:
        from ..core.notes import quiet

        with quiet():
            spec(synthetic_frame(16, 16, raster=kind == "cg2real"), params)
    print(f"{spec.label}: set up in {time.perf_counter() - t:.2f} s", flush=True)
    for k, (src, dst) in enumerate(zip(inputs, outputs), 1):
        prefix = f"[{k}/{len(inputs)}] " if len(inputs) > 1 else ""
        t = time.perf_counter()
        stream = open_exr(src)
        if window is not None:
            out, ps = _multiframe(spec, params, window, k - 1, src, stream)
        else:
            out, ps = strips.run_op_on_file(spec, params, src, stream, log=lambda m, at=f"{prefix}{src}: ": print(at + m, flush=True))
        meta, layer = ps.meta, ps.layer
        del ps  # the last strip's passes: only its sidecar and layer are needed now
        if temporal is not None:
            if "Vector" not in (frame_layout(stream).passes if stream.parts else read_exr(src, stream=stream)):
                raise NeuralRenderError(f"{src}: --temporal needs the 'Vector' pass (export with Cycles' vector pass on, motion blur off)")
            # The motion and guides read strip by strip; the history is kept whole.
            rows = max(1, strips.STRIP_CORE // out.shape[1])
            strips.release_memory()
            out = temporal.step_strips(lambda rows, src=src, stream=stream: read_exr(
                src, passes=("Vector", *GUIDE_PASSES), rows=rows, stream=stream), out, rows)
        dt = time.perf_counter() - t
        meta.pop(STRIP_KEY, None)
        # The input's passes copied as stored, the new one added.
        add_pass(stream, dst, name, out, "RGB", meta=meta, layer=layer, overwrite=args.overwrite)
        h, w = out.shape[:2]
        del out  # not alive while the next frame is computed
        strips.release_memory()
        print(f"{prefix}{dst}: added pass '{name}' ({spec.label}, {dt:.2f} s, {dt / (w * h / 1e6):.2f} s/MP)", flush=True)
    return 0


def _multiframe(spec, params, window, t, src, stream):
    """Frame ``t`` of ``window``'s shot gathered with its neighbours, then the op on it (whole
    frames: the window holds 2k+1 of them)."""
    from ..core.exr import check_memory, frame_layout, read_exr
    from ..core.strips import WHOLE_FRAME_BYTES
    from ..denoise.multiframe import Window

    if stream.parts:
        lay = frame_layout(stream)
        check_memory(str(src), lay.height * lay.width * (WHOLE_FRAME_BYTES + Window.bytes_per_pixel(window.p.frames_window)),
                     f"multi-frame denoising with {window.p.frames_window} frame(s) each side")
    g = window.gathered(t)
    ps = read_exr(src, passes=spec.reads(params), stream=stream)
    print(f"{src}: {float(g.count.mean()):.2f} frames per pixel on average", flush=True)
    return g.denoise(ps, lambda q: spec(q, params)), ps


def cmd_bench(args) -> int:
    if args.files:
        from . import bench_files

        bench_files.run(args.width, args.height, whole=args.whole, only=args.only)
        return 0
    from ..denoise import bench

    bench.run(width=args.width, height=args.height, repeat=args.repeat, memory=args.memory, models=args.model)
    return 0


def register(sub) -> None:
    """Add the file commands to the ``neural-render`` sub-parsers ``sub``."""
    s = sub.add_parser("denoise", help="denoise multilayer EXRs; the result is added as a pass")
    s.add_argument("input", nargs="+", help="multilayer EXR(s) with Combined and the denoising passes; several = a sequence")
    s.add_argument("-o", "--output", required=True, help="output EXR (keeps every input pass); a folder for a sequence")
    s.add_argument("--method", default="neural", help="denoiser (see 'neural-render ops'), default neural (our trained model)")
    s.add_argument("--temporal", action="store_true",
                   help="animation: blend each frame with the previous result reprojected by the Vector pass (less flicker)")
    s.add_argument("--frames-window", type=int, default=0, metavar="K",
                   help="animation, offline: denoise each frame from frames t-K..t+K of the sequence, reprojected with "
                   "the Vector pass where albedo, normal and depth agree (up to 2K+1 times the samples; 0: off)")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter, repeatable")
    s.add_argument("--pass-name", help="name of the added pass (default depends on the method)")
    s.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    s.set_defaults(fn=cmd_denoise)

    s = sub.add_parser("cg2real", help="translate raster (EEVEE) EXRs to the Cycles look; the result is added as a pass")
    s.add_argument("input", nargs="+", help="multilayer EXR(s) from EEVEE with Combined, Diffuse Color, Glossy Color, Normal, Depth")
    s.add_argument("-o", "--output", required=True, help="output EXR (keeps every input pass); a folder for several inputs")
    s.add_argument("--method", default="neural", help="method (see 'neural-render ops cg2real'), default neural")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method parameter, repeatable (e.g. model=NAME, weights=PATH, photo_albedo=true)")
    s.add_argument("--pass-name", help="name of the added pass (default depends on the method)")
    s.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    s.set_defaults(fn=cmd_cg2real)

    s = sub.add_parser("relight", help="relight rendered EXRs under a new HDRI and lights; the result is added as a pass")
    s.add_argument("input", nargs="+", help="multilayer EXR(s) with Combined, Diffuse Color, Normal, Position, Depth (+ JSON sidecar)")
    s.add_argument("-o", "--output", required=True, help="output EXR (keeps every input pass); a folder for several inputs")
    s.add_argument("--hdri", help="target environment: an HDRI file, or a bundled studio light name (e.g. forest.exr)")
    s.add_argument("--rotation", type=float, help="HDRI rotation about Z in degrees (default 0)")
    s.add_argument("--strength", type=float, help="world strength (default 1)")
    s.add_argument("--lights", help="target lights: JSON list (inline or a file) of {type, location, target, color, power, size}")
    s.add_argument("--lighting", help="a whole lighting JSON {world, lights} (inline or a file); overrides the four above")
    s.add_argument("--source-lighting", dest="source_lighting",
                   help="the input's own lighting (same format): lets the model see where the input is shadowed")
    s.add_argument("--method", help="neural (default when a trained model is shipped or given), analytic, or gradient "
                   "(needs --param grad_a=.. grad_b=..)")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter, repeatable")
    s.add_argument("--pass-name", help="name of the added pass (default depends on the method)")
    s.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    s.set_defaults(fn=cmd_relight)

    s = sub.add_parser("novel-view", help="synthesise new camera views from a multiview folder (learned blending or ULR)")
    s.add_argument("input", help="a multiview folder's transforms.json (or the folder)")
    s.add_argument("--camera", help="one target camera, JSON text or file: {\"transform_matrix\": 4x4, optional "
                   "fl_x, fl_y, cx, cy, w, h} (intrinsics default to the source views')")
    s.add_argument("--transforms", help="a transforms.json whose frames are the target cameras")
    s.add_argument("-o", "--output", required=True, help="folder for VIEW.exr (alpha: seen by a source), VIEW.png "
                   "and transforms.json")
    s.add_argument("--method", default="auto", choices=[m[0] for m in NOVEL_VIEW_METHODS],
                   help="auto: learned blending when a model is shipped or --weights given, else ULR")
    s.add_argument("--weights", help="a learned-blending .safetensors you trained")
    s.add_argument("--model", help="a shipped learned-blending model (see 'neural-render ops novel_view'; default: default)")
    s.add_argument("--overwrite", action="store_true", help="replace views and transforms.json already in OUTPUT")
    s.add_argument("--k", type=int, default=4, help="source views blended per pixel (ULR)")
    s.add_argument("--denoise", action="store_true",
                   help="put the source views through OIDN first (views rendered without Blender's denoiser)")
    s.set_defaults(fn=cmd_novel_view)

    s = sub.add_parser("info", help="list the passes of an EXR and check them")
    s.add_argument("input")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("ops", help="list the available ops and their parameters")
    s.add_argument("kind", nargs="?", help="only this kind, e.g. denoise or novel_view")
    s.set_defaults(fn=cmd_ops)

    s = sub.add_parser("bench", help="time every denoiser against OIDN on a synthetic frame")
    s.add_argument("--width", type=int, default=1920)
    s.add_argument("--height", type=int, default=1080)
    s.add_argument("--repeat", type=int, default=1)
    s.add_argument("--memory", action="store_true", help="also measure each op's peak memory in a fresh process")
    s.add_argument("--model", action="append", default=[],
                   help="also time this shipped denoiser model (a name) or weights you trained (.safetensors), repeatable")
    s.add_argument("--files", action="store_true",
                   help="instead: peak memory and time of 'info' and every file op on an EXR of that size")
    s.add_argument("--whole", action="store_true", help="with --files: also run each op on the whole frame (no strips)")
    s.add_argument("--only", action="append", help="with --files: only the commands whose label contains this")
    s.set_defaults(fn=cmd_bench)
