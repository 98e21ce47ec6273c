"""The add-on's ``neural-render`` commands: ``export``, ``demo``, ``inbetween``, ``build-extension``.

A plugin of the ``neural_render.commands`` entry-point group (see :mod:`neural_ops.cli`).
Importing this module does not import ``bpy``: the commands import :mod:`addon.blender` when
they run, and say in one line how to install the ``bpy`` module when it is missing, so
``neural-render --help`` and the file commands work without it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .shim import nops, ops_module


def _needs_bpy() -> None:
    """A one-line error when the bpy module is not installed (the commands below render)."""
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise nops.NeuralRenderError("this command renders with Blender's bpy module: pip install bpy==5.0.1 "
                                     "(Python 3.11)") from None


def _parse_frames(text: str) -> list[int]:
    return ops_module("cli.args").parse_frames(text)


def at_least(minimum: int):
    return ops_module("cli.args").at_least(minimum)


def cmd_export(args) -> int:
    _needs_bpy()
    from .blender import batch

    frames = _parse_frames(args.frames) if args.frames else []
    paths = batch.export_blend(args.scene, args.output, spp=args.spp, frames=frames, cameras=args.camera,
                               half=not args.float32, overwrite=args.overwrite, seed=args.seed,
                               engine=args.engine, cycles_denoised=args.cycles_denoised)
    print(f"exported {len(paths)} view(s) to {args.output}")
    return 0


def cmd_inbetween(args) -> int:
    _needs_bpy()
    from .blender import batch
    from .blender import inbetween as ib

    scene = batch.open_blend(args.scene)
    if args.frames:
        frames = _parse_frames(args.frames)
        batch.check_frames(scene, frames, args.scene)
        first, last = min(frames), max(frames)
    else:
        first, last = scene.frame_start, scene.frame_end
    # Only the options given: every other field keeps InbetweenConfig's default.
    given = {k: getattr(args, k) for k in ("every", "spp", "method", "weights", "blend", "denoise", "geometry",
                                           "rerender", "max_flip")
             if hasattr(args, k)}
    cfg = ib.InbetweenConfig(directory=str(Path(args.output).resolve()), first=first, last=last, **given)
    s = ib.run(scene, cfg, progress=lambda done, total, msg: print(f"[{done}/{total}] {msg}", flush=True),
               log=lambda m: print(m, flush=True))
    rows = [(f"rendered ({s['rendered']} frames, {cfg.spp} spp)", s["render_seconds_per_frame"] * s["rendered"])]
    if "aux_seconds_per_frame" in s:
        rows.append((f"every frame's data passes (1 spp, {s['frames']} frames)", s["aux_seconds_per_frame"] * s["frames"]))
    rows.append((f"denoised and synthesised ({s['synthesised']} frames)",
                 s["denoise_seconds"] + s["synth_seconds_per_frame"] * s["synthesised"]))
    if s.get("rerendered_fraction"):
        rows.append((f"re-rendered ({s['rerendered_fraction'] * 100:.1f} % of the synthesised pixels)",
                     s["rerender_seconds"]))
    rows += [("in all", s["seconds"]), ("rendering every frame (estimate)", s["all_rendered_seconds_estimate"])]
    print(f"\n| frames {first}-{last}, 1 in {cfg.every} | seconds |\n|---|---:|\n"
          + "".join(f"| {name} | {secs:.1f} |\n" for name, secs in rows)
          + f"\nabout {s['speedup_estimate']:.1f}x faster; frames in {args.output}")
    return 0


def cmd_demo(args) -> int:
    _needs_bpy()
    from .blender import demo

    demo.run(Path(args.output), resolution=args.resolution, spp=args.spp, ref_spp=args.ref_spp, force=args.force)
    return 0


def cmd_build_extension(args) -> int:
    from . import package

    split = lambda v: [x.strip() for item in v or () for x in item.split(",") if x.strip()]  # noqa: E731
    if missing := package.missing_onnx():
        print(f"warning: no ONNX graph beside the shipped model(s) {', '.join(missing)} "
              "(neural-render export-onnx): the add-on cannot run them", flush=True)
    for path in package.build(Path(args.output), platforms=split(args.platform), pythons=split(args.python)):
        d = package.describe(path)
        print(f"built {path} ({d['bytes'] / 2**20:.1f} MB, {', '.join(d['platforms'])}): {', '.join(d['wheels'])}")
    return 0


def register(sub) -> None:
    """Add the add-on's commands to the ``neural-render`` sub-parsers ``sub``."""
    s = sub.add_parser("export", help="render a .blend with every pass to EXR + JSON (bpy module)")
    s.add_argument("scene", help="the .blend file")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--spp", type=at_least(1), default=4, help="Cycles samples per pixel, or EEVEE render samples (default 4)")
    s.add_argument("--engine", choices=["cycles", "eevee", "workbench"], default="cycles",
                   help="render engine (eevee: raster passes for 'neural-render cg2real'; default cycles)")
    s.add_argument("--frames", help="frames, e.g. 1-10 or 1,5,9 (default: the current frame)")
    s.add_argument("--camera", action="append", default=[],
                   help="camera object name, repeatable (default: scene camera); 'marked' for cameras marked for export")
    s.add_argument("--seed", type=int, help="Cycles sampling seed")
    s.add_argument("--float32", action="store_true", help="store colour passes as float32 (default float16)")
    s.add_argument("--cycles-denoised", action="store_true",
                   help="also store Cycles' own denoised image as the pass 'Cycles Denoised' (Combined stays noisy)")
    s.add_argument("--overwrite", action="store_true", help="replace existing files")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("demo", help="render the bundled scene, run every denoiser, write PNG + metrics")
    s.add_argument("-o", "--output", default="data/demo", help="output folder (default data/demo)")
    s.add_argument("--resolution", type=at_least(16), default=256, help="square resolution (default 256)")
    s.add_argument("--spp", type=at_least(1), default=4, help="noisy samples per pixel (default 4)")
    s.add_argument("--ref-spp", type=at_least(1), default=1024, help="reference samples per pixel (default 1024)")
    s.add_argument("--force", action="store_true", help="re-render even if renders exist")
    s.set_defaults(fn=cmd_demo)

    # Defaults are InbetweenConfig's (addon.blender.inbetween, which needs bpy to import, so
    # they are not read here): an option not given is not passed.
    s = sub.add_parser("inbetween", help="render 1 frame in N of a .blend's camera animation with Cycles and "
                       "synthesise the others (bpy)", argument_default=argparse.SUPPRESS)
    s.add_argument("scene", help=".blend file")
    s.add_argument("-o", "--output", required=True, help="folder for frame_NNNN.exr/.png; rerun to resume")
    s.add_argument("--frames", default=None, help="frame range A-B (default: the scene's)")
    s.add_argument("--every", type=at_least(1), help="render one frame in this many (default 4)")
    s.add_argument("--spp", type=at_least(1), help="Cycles samples of the rendered frames (default 64)")
    s.add_argument("--method", choices=["auto", "learned", "ulr", "motion"],
                   help="auto (default): learned blending when a model is shipped or --weights given, else ULR; "
                   "motion: an auxiliary render of every frame, the key frames carried along its motion "
                   "(animated objects, every pass, a confidence map)")
    s.add_argument("--weights", help="a learned-blending .safetensors you trained (--method motion: a key blend's, "
                   "from 'neural-render train inbetween')")
    s.add_argument("--blend", choices=["auto", "learned", "linear"],
                   help="(--method motion) how the two key frames carried to a frame are mixed: auto (default): the "
                   "learned key blend when one is shipped, else linear; learned: per-pixel weights and a direct-light "
                   "gain predicted from the frame's own data render; linear: by closeness in time")
    s.add_argument("--no-denoise", dest="denoise", action="store_false",
                   help="keep the rendered frames' noise (default: through OIDN)")
    s.add_argument("--geometry", action="store_true",
                   help="render each synthesised frame's depth with Workbench and warp through it (exact visibility)")
    s.add_argument("--no-rerender", dest="rerender", action="store_false",
                   help="(--method motion) give every pixel no rendered frame saw the rendered frames' pixels where "
                   "its motion led, instead of re-rendering the tiles where such pixels gather")
    s.add_argument("--max-flip", type=float, metavar="F",
                   help="(--method motion) a quality target, each frame's mean FLIP against rendering it: re-render "
                   "the tiles expected to miss it most (from the confidence map) until the frame is expected to meet "
                   "F, e.g. 0.05; 0 renders every frame")
    s.set_defaults(fn=cmd_inbetween)

    s = sub.add_parser("build-extension", help="build the Blender extension zips, one per platform")
    s.add_argument("-o", "--output", default="dist", help="output folder (default dist)")
    s.add_argument("--platform", action="append",
                   help="linux-x64, windows-x64 or macos-arm64; repeat or comma-separate (default: all)")
    s.add_argument("--python", action="append",
                   help="3.11 (Blender 5.0) or 3.13 (Blender 5.1+); repeat or comma-separate (default: both, "
                        "in every zip; Blender installs the wheels of its own Python)")
    s.set_defaults(fn=cmd_build_extension)
