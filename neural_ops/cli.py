"""``neural-render``: one command, one subcommand per job.

File ops (``denoise``, ``info``, ``ops``) need numpy and the op's packages only; ``export``
and ``demo`` render with the ``bpy`` module (no Blender binary needed) and import it lazily.
Errors a user can fix print as one line, ``error: ...``, with exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from .errors import NeuralRenderError, OpError


def parse_frames(text: str) -> list[int]:
    """'1-10', '3', '1,5,9-12' -> frame numbers (ascending ranges, non-negative)."""
    frames: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo or lo < 0:
                    raise ValueError
                frames.extend(range(lo, hi + 1))
            else:
                if int(part) < 0:
                    raise ValueError
                frames.append(int(part))
    except ValueError:
        raise NeuralRenderError(f"bad frame list '{text}': use e.g. 1-10 or 1,5,9-12") from None
    if not frames:
        raise NeuralRenderError("empty frame list")
    return frames


def parse_ints(text: str, option: str) -> list[int]:
    """'1,4,16' -> [1, 4, 16] (positive integers), a one-line error naming the bad value."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            v = int(part)
        except ValueError:
            raise NeuralRenderError(f"{option}: '{part}' is not a whole number (use e.g. 1,4,16)") from None
        if v < 1:
            raise NeuralRenderError(f"{option}: values must be positive, got {v}")
        out.append(v)
    if not out:
        raise NeuralRenderError(f"{option}: empty list")
    return out


def parse_params(spec, pairs: list[str]) -> dict:
    """['radius=4', 'despike=false'] -> typed kwargs for the method's params dataclass."""
    fields = {f.name: f for f in dataclasses.fields(spec.params)}
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise OpError(f"--param expects NAME=VALUE, got '{pair}'")
        k, v = pair.split("=", 1)
        if k not in fields:
            raise OpError(f"method '{spec.name}' has no parameter '{k}' (valid: {', '.join(fields) or 'none'})")
        typ = type(fields[k].default)
        try:
            if typ is bool:
                if v.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError
                out[k] = v.lower() in ("1", "true", "yes", "on")
            else:
                out[k] = typ(v)
        except ValueError:
            raise OpError(f"parameter '{k}' expects a {typ.__name__}, got '{v}'") from None
    return out


def _needs_bpy(module: str):
    """Import a module that renders; a clear error when the bpy module is not installed."""
    import importlib

    try:
        import bpy  # noqa: F401
    except ImportError:
        raise NeuralRenderError("this command renders with Blender's bpy module: pip install bpy==5.0.1 (Python 3.11)") from None
    return importlib.import_module(module)


def cmd_ops(args) -> int:
    from .ops import list_ops

    for s in list_ops(args.kind):
        reason = s.available()
        fields = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(s.params))
        status = "" if not reason else f"  [unavailable: {reason}]"
        print(f"{s.kind:8s} {s.name:10s} {s.label}{status}\n{'':20s}{s.description}\n{'':20s}params: {fields or '-'}")
        if any(f.name == "model" for f in dataclasses.fields(s.params)):
            from .nn.weights import available_models

            print(f"{'':20s}shipped models (--param model=NAME): {', '.join(available_models(s.kind)) or 'none'}")
    return 0


def cmd_novel_view(args) -> int:
    import json

    import numpy as np

    from .exr import write_exr
    from .ibr.novel import render_novel_views, target_cameras
    from .imageio import to_display, write_png
    from .passset import PassSet

    tf = Path(args.input)
    folder = tf.parent if tf.name == "transforms.json" else tf
    if not (folder / "transforms.json").is_file():
        raise NeuralRenderError(f"{args.input}: no transforms.json there (a multiview folder from 'neural-render data "
                                "multiview' or 'export --multiview')")
    targets = target_cameras(folder, camera=args.camera, transforms=args.transforms)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.method == "learned":
        _needs_torch("torch")
    frames = []
    log = lambda m: print(m, flush=True)  # noqa: E731
    for v in render_novel_views(folder, targets, method=args.method, weights=args.weights or "", k=args.k, log=log,
                                denoise=args.denoise):
        ps = PassSet(source=v.name)
        ps.add("Combined", np.concatenate([v.image, v.seen[..., None].astype(np.float32)], axis=2), "RGBA")
        write_exr(ps, out / f"{v.name}.exr", overwrite=True, sidecar=False)
        write_png(out / f"{v.name}.png", to_display(v.image))
        c = v.camera
        frames.append({"file_path": f"{v.name}.png", "exr_file_path": f"{v.name}.exr",
                       "transform_matrix": np.asarray(c.c2w).tolist(), "fl_x": c.fx, "fl_y": c.fy, "cx": c.cx,
                       "cy": c.cy, "w": c.w, "h": c.h})
        print(f"{v.name}: {100 * v.seen.mean():.1f} % of pixels seen by a source view, {v.seconds:.2f} s", flush=True)
    (out / "transforms.json").write_text(json.dumps({"frames": frames}, indent=1) + "\n")
    print(f"wrote {len(frames)} view(s) to {out}")
    return 0


def cmd_info(args) -> int:
    from .exr import read_exr

    ps = read_exr(args.input)
    h, w = ps.shape
    print(f"{args.input}: {w}x{h}, layer '{ps.layer}', {len(ps.passes)} passes")
    for name, p in ps.passes.items():
        import numpy as np

        finite = np.isfinite(p.pixels)
        bad = "" if finite.all() else f"  {int((~finite).any(axis=2).sum())} non-finite pixels"
        print(f"  {name:24s} {p.channels:5s} {'half' if p.half else 'float'}{bad}")
    for k in ("frame", "spp", "scene"):
        if k in ps.meta:
            print(f"  {k}: {ps.meta[k]}")
    return 0


def cmd_denoise(args) -> int:
    return _apply("denoise", args)


def cmd_relight(args) -> int:
    args.temporal = False
    if args.method is None:
        from .nn.weights import available_models

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
    args.temporal = False
    return _apply("cg2real", args)


def _apply(kind: str, args) -> int:
    """Run one op of ``kind`` on each input EXR and write it with the result added as a pass."""
    from .exr import check_writable, read_exr, write_exr
    from .ops import get_op

    spec = get_op(kind, args.method)
    params = spec.make_params(**parse_params(spec, args.param))
    inputs = [Path(p) for p in args.input]
    if len(inputs) > 1 or args.temporal:
        # A sequence: -o is a folder, one output per input with the same name, frames in name order.
        inputs.sort()
        outputs = [Path(args.output) / p.name for p in inputs]
        if len({o.name for o in outputs}) != len(outputs):
            raise NeuralRenderError("two inputs share a file name; their outputs would collide in the output folder")
    else:
        outputs = [Path(args.output)]
    for o in outputs:
        check_writable(o, args.overwrite)  # fail before the slow part
    temporal = None
    if args.temporal:
        from .temporal import TemporalFilter

        temporal = TemporalFilter()
    name = args.pass_name or (spec.pass_name + (" Temporal" if temporal else ""))
    # Library loading, weights and ONNX session set-up happen once per process: do them on a
    # tiny frame first, so the per-frame times printed below are the op's own.
    from .bench import synthetic_frame

    t = time.perf_counter()
    if kind == "relight":
        spec.make_params(**parse_params(spec, args.param)).target_lighting()  # a bad lighting fails here, before any work
    else:
        spec(synthetic_frame(16, 16, raster=kind == "cg2real"), params)
    print(f"{spec.label}: set up in {time.perf_counter() - t:.2f} s", flush=True)
    for k, (src, dst) in enumerate(zip(inputs, outputs), 1):
        ps = read_exr(src)
        t = time.perf_counter()
        out = spec(ps, params)
        if temporal is not None:
            if "Vector" not in ps:
                raise NeuralRenderError(f"{src}: --temporal needs the 'Vector' pass (export with Cycles' vector pass on, motion blur off)")
            out = temporal.step(ps, out)
        dt = time.perf_counter() - t
        ps.add(name, out, "RGB")
        write_exr(ps, dst, overwrite=args.overwrite)
        h, w = ps.shape
        prefix = f"[{k}/{len(inputs)}] " if len(inputs) > 1 else ""
        print(f"{prefix}{dst}: added pass '{name}' ({spec.label}, {dt:.2f} s, {dt / (w * h / 1e6):.2f} s/MP)", flush=True)
    return 0


def cmd_export(args) -> int:
    batch = _needs_bpy("addon.batch")
    frames = parse_frames(args.frames) if args.frames else []
    paths = batch.export_blend(args.scene, args.output, spp=args.spp, frames=frames, cameras=args.camera,
                               half=not args.float32, overwrite=args.overwrite, seed=args.seed,
                               engine=args.engine)
    print(f"exported {len(paths)} view(s) to {args.output}")
    return 0


def cmd_inbetween(args) -> int:
    batch = _needs_bpy("addon.batch")
    ib = _needs_bpy("addon.inbetween")
    scene = batch.open_blend(args.scene)
    if args.frames:
        frames = parse_frames(args.frames)
        first, last = min(frames), max(frames)
    else:
        first, last = scene.frame_start, scene.frame_end
    cfg = ib.InbetweenConfig(directory=str(Path(args.output).resolve()), first=first, last=last, every=args.every,
                             spp=args.spp, method=args.method, weights=args.weights or "", denoise=not args.no_denoise,
                             geometry=args.geometry)
    s = ib.run(scene, cfg, progress=lambda done, total, msg: print(f"[{done}/{total}] {msg}", flush=True),
               log=lambda m: print(m, flush=True))
    print(f"\n| frames {first}-{last}, 1 in {args.every} | seconds |\n|---|---:|\n"
          f"| rendered ({s['rendered']} frames, {args.spp} spp) | {s['render_seconds_per_frame'] * s['rendered']:.1f} |\n"
          f"| denoised and synthesised ({s['synthesised']} frames) | "
          f"{s['denoise_seconds'] + s['synth_seconds_per_frame'] * s['synthesised']:.1f} |\n"
          f"| rendering every frame (estimate) | {s['all_rendered_seconds_estimate']:.1f} |\n"
          f"\nabout {s['speedup_estimate']:.1f}x faster; frames in {args.output}")
    return 0


def cmd_demo(args) -> int:
    demo = _needs_bpy("addon.demo")
    demo.run(Path(args.output), resolution=args.resolution, spp=args.spp, ref_spp=args.ref_spp, force=args.force)
    return 0


def cmd_data(args) -> int:
    datagen = _needs_bpy("training.datagen")
    cfg = datagen.DataConfig(
        kind=args.kind, out=args.output, scenes=args.scenes, seed=args.seed, resolution=args.resolution,
        spp=datagen.parse_spp(args.spp), ref_spp=args.ref_spp,
        shard=datagen.parse_shard(args.shard), workers=args.workers, lightings=args.lightings, views=args.views, arc=args.arc,
        from_blend=str(Path(args.from_blend).resolve()) if args.from_blend else None,
        executor=args.executor, address=args.address, target=args.target, redo_stale=args.redo_stale,
        eevee=args.eevee, redo_eevee=args.redo_eevee,
    )
    datagen.generate(cfg, progress=datagen.ConsoleProgress())  # a bar on a terminal, lines in a log
    print(f"dataset in {args.output} (see DATACARD.md)")
    return 0


def _needs_torch(module: str):
    """Import a module that trains or evaluates models; a clear error without torch."""
    import importlib

    try:
        import torch  # noqa: F401
    except ImportError:
        raise NeuralRenderError("this command needs torch: pip install torch==2.13.0") from None
    return importlib.import_module(module)


def _model_config(args):
    from .nn.denoiser import DenoiserConfig

    cfg = DenoiserConfig(head=args.head, base=args.base, channels=parse_ints(args.channels, "--channels"))
    try:
        cfg.check()
    except ValueError as e:
        raise NeuralRenderError(str(e)) from None
    return cfg


def cmd_train(args) -> int:
    if not Path(args.data).is_dir():
        raise NeuralRenderError(f"{args.data}: no such dataset folder")
    if args.kind == "cg2real":
        return _train_cg2real(args)
    if args.kind == "relight":
        tr = _needs_torch("training.relight_train")
        from .nn.relight import RelightConfig

        cfg = tr.RelightTrainConfig(
            data=args.data, out=args.output or "data/runs/relight",
            model=RelightConfig(channels=parse_ints(args.channels or "24,48,64,96", "--channels"), condition=args.condition,
                                shadows=args.shadows, context=args.context),
            steps=args.steps, minutes=args.minutes, batch=args.batch or 8, crop=args.crop or 96, lr=args.lr or 1e-3,
            source_dropout=args.source_dropout, exposure=args.exposure, val_count=args.val_count or 8, seed=args.seed,
            max_samples=args.max_samples)
        tr.train(cfg, log=lambda m: print(m, flush=True))
        return 0
    if args.kind == "ibr":
        tr = _needs_torch("training.ibr_train")
        from .nn.ibr import BlendConfig

        model = BlendConfig(channels=parse_ints(args.channels or "16,32,48", "--channels"), k=args.k, split=args.split)
        try:
            model.check()
        except ValueError as e:
            raise NeuralRenderError(str(e)) from None
        cfg = tr.IbrTrainConfig(
            data=args.data, out=args.output or "data/runs/ibr", model=model, steps=args.steps, minutes=args.minutes,
            batch=args.batch or 8, crop=args.crop or 64, lr=args.lr or 1e-3, depth=args.depth,
            temporal_weight=args.temporal_weight, every=args.every, denoise=not args.noisy_views,
            val_count=args.val_count or 4, seed=args.seed,
            max_samples=args.max_samples)
        tr.train(cfg, log=lambda m: print(m, flush=True))
        return 0
    if args.kind == "cg2real-unpaired":
        if not args.photos:
            raise NeuralRenderError("train cg2real-unpaired needs --photos DIR (a folder of photographs, or 'skimage')")
        tr = _needs_torch("training.cg2real_unpaired")
        cfg = tr.UnpairedConfig(data=args.data, photos=args.photos, out=args.output or "data/runs/cg2real_albedo",
                                steps=args.steps, minutes=args.minutes, batch=args.batch or 4, crop=args.crop or 64,
                                lr=args.lr or 2e-4, inception=args.inception or "", seed=args.seed)
        tr.train(cfg, log=lambda m: print(m, flush=True))
        return 0
    tr = _needs_torch("training.denoise_train")
    args.output = args.output or "data/runs/denoise"
    args.loss = args.loss or "l1log"
    if args.loss in ("l1", "display"):
        raise NeuralRenderError(f"--loss {args.loss} is for cg2real; the denoiser takes l1log, smape, relmse, relmse_n2n or l1msssim")
    args.channels = args.channels or "16,32,48,64"
    cfg = tr.TrainConfig(
        data=args.data, out=args.output, model=_model_config(args), spp=parse_ints(args.spp, "--spp"),
        loss=args.loss, steps=args.steps, minutes=args.minutes, batch=args.batch or 16, crop=args.crop or 64,
        lr=args.lr or 2e-3, val_count=args.val_count or 12, seed=args.seed, init=args.init or "", target=args.target,
        max_samples=args.max_samples,
    )
    tr.train(cfg, log=lambda m: print(m, flush=True))
    return 0


def _train_cg2real(args) -> int:
    tr = _needs_torch("training.cg2real_train")
    from .nn.cg2real import Cg2RealConfig

    model = Cg2RealConfig(channels=parse_ints(args.channels or "24,48,64,96", "--channels"), norm=args.norm,
                          factor=not args.no_factor, context=args.context)
    try:
        model.check()
    except ValueError as e:
        raise NeuralRenderError(str(e)) from None
    cfg = tr.Cg2RealTrainConfig(
        data=args.data, out=args.output or "data/runs/cg2real", model=model, loss=args.loss or "l1msssim",
        gan=args.gan, adv_weight=args.adv_weight, fm_weight=args.fm_weight, steps=args.steps, minutes=args.minutes,
        batch=args.batch or 8, crop=args.crop or 96, lr=args.lr or 1e-3, val_count=args.val_count or 12, seed=args.seed,
        max_samples=args.max_samples, init=args.init or "", permute=args.permute)
    tr.train(cfg, log=lambda m: print(m, flush=True))
    return 0


def cmd_eval(args) -> int:
    if args.kind == "relight":
        if not args.data:
            raise NeuralRenderError("eval relight needs --data DIR (a held-out relight dataset)")
        ev = _needs_torch("training.relight_eval")
        cfg = ev.RelightEvalConfig(data=args.data, out=args.output or "data/eval/relight", models=args.model,
                                   spp=parse_ints(args.spp, "--spp")[0] if args.spp != "1,4,16" else 16,
                                   max_samples=args.max_samples)
        ev.evaluate(cfg, log=lambda m: print(m, flush=True))
        return 0
    if args.kind == "ibr":
        if not args.data:
            raise NeuralRenderError("eval ibr needs --data DIR (a held-out multiview dataset)")
        ev = _needs_torch("training.ibr_eval")
        from .nn.weights import available_models

        models = {}
        for item in args.model:
            label, sep, ref = item.partition("=")
            if not sep or not label or not ref:
                raise NeuralRenderError(f"--model {item!r}: expected LABEL=NAME|PATH")
            models[label] = ref
        if not args.model:
            models = {("ours" if name == "default" else name): name for name in available_models("ibr")}
        ev.evaluate(args.data, models, args.output or "data/eval/ibr", log=lambda m: print(m, flush=True),
                    max_samples=args.max_samples, every=args.every, denoise=not args.noisy_views)
        return 0
    if args.kind == "cg2real":
        if not args.data:
            raise NeuralRenderError("eval cg2real needs --data DIR (a held-out cg2real dataset)")
        ev = _needs_torch("training.cg2real_eval")
        cfg = ev.Cg2RealEvalConfig(data=args.data, out=args.output or "data/eval/cg2real", models=args.model,
                                   max_samples=args.max_samples)
        ev.evaluate(cfg, log=lambda m: print(m, flush=True))
        return 0
    if args.kind == "temporal":
        _needs_torch("torch")
        te = _needs_bpy("training.temporal_eval")
        te.run(Path(args.output or "data/eval/temporal"), frames=args.frames, resolution=args.resolution,
               ref_spp=args.ref_spp, log=lambda m: print(m, flush=True))
        return 0
    if not args.data:
        raise NeuralRenderError("eval denoise needs --data DIR (a held-out dataset)")
    args.output = args.output or "data/eval/denoise"
    ev = _needs_torch("training.denoise_eval")
    cfg = ev.EvalConfig(data=args.data, out=args.output, spp=parse_ints(args.spp, "--spp"),
                        models=args.model, max_samples=args.max_samples)
    ev.evaluate(cfg, log=lambda m: print(m, flush=True))
    return 0


def cmd_bench(args) -> int:
    from . import bench

    bench.run(width=args.width, height=args.height, repeat=args.repeat, memory=args.memory, models=args.model)
    return 0


def cmd_build_extension(args) -> int:
    from addon import package

    path = package.build(Path(args.output))
    print(f"built {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neural-render",
        description="Neural rendering ops on Blender render passes (multilayer EXR + JSON sidecar).",
        epilog="Run 'neural-render demo' to render the bundled scene and compare every denoiser.",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("denoise", help="denoise multilayer EXRs; the result is added as a pass")
    s.add_argument("input", nargs="+", help="multilayer EXR(s) with Combined and the denoising passes; several = a sequence")
    s.add_argument("-o", "--output", required=True, help="output EXR (keeps every input pass); a folder for a sequence")
    s.add_argument("--method", default="neural", help="denoiser (see 'neural-render ops'), default neural (our trained model)")
    s.add_argument("--temporal", action="store_true",
                   help="animation: blend each frame with the previous result reprojected by the Vector pass (less flicker)")
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
    s.add_argument("--pass-name", help="name of the added pass (default 'Neural Photoreal')")
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
    s.add_argument("--pass-name", help="name of the added pass (default 'Neural Relit')")
    s.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    s.set_defaults(fn=cmd_relight)

    s = sub.add_parser("export", help="render a .blend with every pass to EXR + JSON (bpy module)")
    s.add_argument("scene", help="the .blend file")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--spp", type=int, default=4, help="Cycles samples per pixel, or EEVEE render samples (default 4)")
    s.add_argument("--engine", choices=["cycles", "eevee", "workbench"], default="cycles",
                   help="render engine (eevee: raster passes for 'neural-render cg2real'; default cycles)")
    s.add_argument("--frames", help="frames, e.g. 1-10 or 1,5,9 (default: the current frame)")
    s.add_argument("--camera", action="append", default=[], help="camera object name, repeatable (default: scene camera); 'marked' for cameras marked for export")
    s.add_argument("--seed", type=int, help="Cycles sampling seed")
    s.add_argument("--float32", action="store_true", help="store colour passes as float32 (default float16)")
    s.add_argument("--overwrite", action="store_true", help="replace existing files")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("demo", help="render the bundled scene, run every denoiser, write PNG + metrics")
    s.add_argument("-o", "--output", default="data/demo", help="output folder (default data/demo)")
    s.add_argument("--resolution", type=int, default=256, help="square resolution (default 256)")
    s.add_argument("--spp", type=int, default=4, help="noisy samples per pixel (default 4)")
    s.add_argument("--ref-spp", type=int, default=1024, help="reference samples per pixel (default 1024)")
    s.add_argument("--force", action="store_true", help="re-render even if renders exist")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("data", help="render a paired training dataset from procedural scenes (bpy)")
    s.add_argument("kind", choices=["denoise", "cg2real", "relight", "multiview"], help="dataset kind")
    s.add_argument("-o", "--output", required=True, help="dataset folder (rerun to resume)")
    s.add_argument("--scenes", type=int, required=True, help="number of samples, one scene each")
    s.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    s.add_argument("--resolution", type=int, default=128, help="square image size (default 128)")
    s.add_argument("--spp", default="1,4,16", help="noisy sample counts, comma separated (default 1,4,16)")
    s.add_argument("--ref-spp", type=int, default=256, help="reference samples per pixel (default 256)")
    s.add_argument("--shard", default="0/1", help="render only shard i of n, as i/n (default 0/1)")
    s.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument("--lightings", type=int, default=4, help="relight: lightings per scene (default 4)")
    s.add_argument("--views", type=int, default=8, help="multiview: views per scene (default 8)")
    s.add_argument("--arc", type=float, default=360.0,
                   help="multiview: degrees the views span; 360 (default) a jittered ring, less an ordered camera "
                        "move whose neighbouring views overlap (for learned blending)")
    s.add_argument("--target", choices=["reference", "noise2noise"], default="reference",
                   help="denoise: high-spp reference, or an independent noisy target at --ref-spp (Noise2Noise)")
    s.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local worker processes (default) or tasks on a Ray cluster")
    s.add_argument("--address", help="Ray cluster address host:port (with --executor ray)")
    s.add_argument("--redo-stale", action="store_true",
                   help="re-render samples whose procedural scene the generator now builds differently (after a fix)")
    s.add_argument("--eevee", choices=["tuned", "default"], default="tuned",
                   help="cg2real: EEVEE set-up of the raster images: ray tracing + a baked light-probe volume "
                        "(tuned, as for a final frame) or Blender's defaults")
    s.add_argument("--redo-eevee", action="store_true",
                   help="cg2real: first re-render the EEVEE image of samples made with another --eevee set-up")
    s.add_argument("--from", dest="from_blend", metavar="SCENE.blend",
                   help="vary cameras and lights over this scene instead of procedural scenes")
    s.set_defaults(fn=cmd_data)

    s = sub.add_parser("train", help="train a learned op on a dataset folder (torch)")
    s.add_argument("kind", choices=["denoise", "cg2real", "cg2real-unpaired", "relight", "ibr"],
                   help="which op to train (cg2real-unpaired: the albedo stage, CycleGAN against --photos; "
                        "ibr: learned blending on a multiview dataset)")
    s.add_argument("--data", required=True, help="dataset folder from 'neural-render data KIND'")
    s.add_argument("-o", "--output", help="run folder; rerun to resume (default data/runs/KIND)")
    s.add_argument("--head", default="direct", choices=["direct", "kernel", "bilateral"],
                   help="direct prediction, per-pixel kernels at 3 scales, or per-pixel cross-bilateral parameters (Kalantari 2015)")
    s.add_argument("--base", default="noisy", choices=["noisy", "oidn", "despiked"],
                   help="image the model refines: the noisy colour, OIDN's output (ensemble) or the spike-removed colour")
    s.add_argument("--channels", help="U-Net channels per level, finest first (default denoise 16,32,48,64; cg2real 24,48,64,96)")
    s.add_argument("--loss", choices=["l1log", "smape", "relmse", "relmse_n2n", "l1msssim", "l1", "display"],
                   help="training loss (denoise default l1log; relmse_n2n: for noisy Noise2Noise targets; cg2real: "
                        "l1msssim (default), l1, or display: MSE of the display image + tonemapped L1)")
    s.add_argument("--norm", default="none", choices=["none", "batch", "spade"],
                   help="cg2real: normalisation (spade: modulated by the G-buffer at every level)")
    s.add_argument("--gan", default="none", choices=["none", "patch", "multiscale"],
                   help="cg2real: adversarial term, a PatchGAN (spectral norm, hinge) at one or two scales (+ feature matching)")
    s.add_argument("--adv-weight", type=float, default=0.02, help="cg2real: weight of the adversarial term")
    s.add_argument("--fm-weight", type=float, default=1.0, help="cg2real: weight of feature matching (multiscale)")
    s.add_argument("--condition", default="buffers", choices=["buffers", "film"],
                   help="relight: lighting conditioning, the analytic buffers only or also FiLM from a lighting code")
    s.add_argument("--shadows", action="store_true",
                   help="relight: feed the network analytic buffers with screen-space shadows and ambient occlusion")
    s.add_argument("--exposure", type=float, default=0.0,
                   help="relight: random intensity changes of the target and source lighting, +- this many stops")
    s.add_argument("--source-dropout", type=float, default=0.3, help="relight: share of pairs trained without the original frame")
    s.add_argument("--photos", help="cg2real-unpaired: folder of photographs (PNG/JPG), or 'skimage' for scikit-image's bundled ones")
    s.add_argument("--inception", help="cg2real-unpaired: local Inception TorchScript file for FID-infinity (else not reported)")
    s.add_argument("--no-factor", action="store_true", help="cg2real: predict the colour directly (no shading x albedo split)")
    s.add_argument("--permute", action="store_true",
                   help="cg2real: augment by permuting the colour channels (a symmetry of both renderers)")
    s.add_argument("--context", action="store_true",
                   help="cg2real, relight: add the whole-frame global-context branch (per-frame gain and biases)")
    s.add_argument("--k", type=int, default=4, help="ibr: source views blended per pixel")
    s.add_argument("--split", action="store_true",
                   help="ibr: blend the view-independent part, predict the glossy part for the target (EffectsNet)")
    s.add_argument("--depth", default="mixed", choices=["gbuffer", "splat", "mixed"],
                   help="ibr: target geometry when training: its own G-buffer (renderer-aware), splatted from "
                        "the sources, or both")
    s.add_argument("--temporal-weight", type=float, default=0.5,
                   help="ibr: weight of the two-frame temporal consistency term (0: off)")
    s.add_argument("--every", type=int, default=0,
                   help="ibr: train for render 1 in N (sources: the nearest rendered views on each side of the "
                        "target, as inbetween uses them); 0: all the other views")
    s.add_argument("--noisy-views", action="store_true",
                   help="ibr: use the rendered views as they are (default: through OIDN, as inbetween's key frames)")
    s.add_argument("--spp", default="1,4,16", help="noisy inputs to train on (default 1,4,16)")
    s.add_argument("--steps", type=int, default=4000)
    s.add_argument("--minutes", type=float, default=0.0, help="stop after this much training time (0: no limit)")
    s.add_argument("--batch", type=int, help="crops per step (default denoise 16, cg2real 8)")
    s.add_argument("--crop", type=int, help="crop side (default denoise 64, cg2real 96)")
    s.add_argument("--lr", type=float, help="peak learning rate (default denoise 2e-3, cg2real 1e-3)")
    s.add_argument("--val-count", type=int, help="samples held out for validation (default 12; relight 8)")
    s.add_argument("--max-samples", type=int, default=0, help="train on at most this many samples (0: all)")
    s.add_argument("--target", default="reference",
                   help="reference, noise2noise (n2n_target.exr) or sppN: a sample's own independent N-spp render")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--init", help="start from these weights (shipped model name or .safetensors): fine-tune")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("eval", help="evaluate learned ops against the baselines on held-out data")
    s.add_argument("kind", choices=["denoise", "temporal", "cg2real", "relight", "ibr"],
                   help="denoise / cg2real: metrics on held-out samples; temporal: flicker on a rendered camera move (bpy)")
    s.add_argument("--data", help="held-out dataset folder (a seed never used in training)")
    s.add_argument("-o", "--output", help="folder for the tables and grids (default data/eval/KIND)")
    s.add_argument("--frames", type=int, default=12, help="temporal: frames of the camera move")
    s.add_argument("--resolution", type=int, default=128, help="temporal: square resolution")
    s.add_argument("--ref-spp", type=int, default=256, help="temporal: reference samples per pixel")
    s.add_argument("--spp", default="1,4,16", help="input sample counts (default 1,4,16)")
    s.add_argument("--model", action="append", default=[], metavar="LABEL=NAME|PATH",
                   help="learned model to include, repeatable (default: the shipped one as 'ours')")
    s.add_argument("--max-samples", type=int, default=0)
    s.add_argument("--every", type=int, default=0,
                   help="ibr: render 1 in N along each camera move: targets between every N-th view (0: all views)")
    s.add_argument("--noisy-views", action="store_true",
                   help="ibr: views and references as rendered (default: through OIDN, as inbetween's key frames)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("inbetween", help="render 1 frame in N of a .blend's camera animation with Cycles and "
                       "synthesise the others (bpy)")
    s.add_argument("scene", help=".blend file")
    s.add_argument("--every", type=int, default=4, help="render one frame in this many (default 4)")
    s.add_argument("--frames", help="frame range A-B (default: the scene's)")
    s.add_argument("--spp", type=int, default=64, help="Cycles samples of the rendered frames")
    s.add_argument("-o", "--output", required=True, help="folder for frame_NNNN.exr/.png; rerun to resume")
    s.add_argument("--method", default="auto", choices=["auto", "learned", "ulr"])
    s.add_argument("--weights", help="a learned-blending .safetensors you trained")
    s.add_argument("--no-denoise", action="store_true", help="keep the rendered frames' noise (no OIDN)")
    s.add_argument("--geometry", action="store_true",
                   help="render each synthesised frame's depth with Workbench and warp through it (exact visibility)")
    s.set_defaults(fn=cmd_inbetween)

    s = sub.add_parser("novel-view", help="synthesise new camera views from a multiview folder (learned blending or ULR)")
    s.add_argument("input", help="a multiview folder's transforms.json (or the folder)")
    s.add_argument("--camera", help="one target camera, JSON text or file: {\"transform_matrix\": 4x4, optional "
                   "fl_x, fl_y, cx, cy, w, h} (intrinsics default to the source views')")
    s.add_argument("--transforms", help="a transforms.json whose frames are the target cameras")
    s.add_argument("-o", "--output", required=True, help="folder for VIEW.exr (alpha: seen by a source), VIEW.png "
                   "and transforms.json")
    s.add_argument("--method", default="auto", choices=["auto", "learned", "ulr"],
                   help="auto: learned blending when a model is shipped or --weights given, else ULR")
    s.add_argument("--weights", help="a learned-blending .safetensors you trained")
    s.add_argument("--k", type=int, default=4, help="source views blended per pixel (ULR)")
    s.add_argument("--denoise", action="store_true",
                   help="put the source views through OIDN first (views rendered without Blender's denoiser)")
    s.set_defaults(fn=cmd_novel_view)

    s = sub.add_parser("info", help="list the passes of an EXR and check them")
    s.add_argument("input")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("ops", help="list the available ops and their parameters")
    s.add_argument("kind", nargs="?", help="only this kind, e.g. denoise")
    s.set_defaults(fn=cmd_ops)

    s = sub.add_parser("bench", help="time every denoiser against OIDN on a synthetic frame")
    s.add_argument("--width", type=int, default=1920)
    s.add_argument("--height", type=int, default=1080)
    s.add_argument("--repeat", type=int, default=1)
    s.add_argument("--memory", action="store_true", help="also measure each op's peak memory in a fresh process")
    s.add_argument("--model", action="append", default=[], help="also time this shipped denoiser model, repeatable")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("build-extension", help="build the Blender extension zip")
    s.add_argument("-o", "--output", default="dist", help="output folder (default dist)")
    s.set_defaults(fn=cmd_build_extension)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except NeuralRenderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
