"""Time EEVEE + the CG2Real network against a 1024-spp Cycles render of the same frame.

    neural-render benchmark cg2real --resolution 1920x1080

One held-out procedural scene (dataset seed 3000, never used in training) at the given
resolution: EEVEE rendered twice (the second time is the per-frame cost once its shaders are
compiled, as for every frame of an animation after the first), the network on that frame, and
Cycles at two sample counts. EEVEE is set up with ``--eevee`` (default ``tuned``: ray tracing
and a baked light-probe volume, see :mod:`addon.blender.eevee_setup`) and, unless ``--model`` says
otherwise, translated by the shipped model trained on that set-up (``tuned`` or ``default``); the
bake is once per shot and is reported apart from the per-frame time. Cycles' time is linear in
the sample count beyond a fixed set-up cost, so a line through the two points gives the time at
``--target-spp`` without spending an hour on it; ``--full`` renders the target sample count for
real instead. Prints a table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def run(width: int, height: int, spp_fit=(16, 64), target_spp: int = 1024, eevee_samples: int = 16,
        seed: int = 3000, model: str = "", full: bool = False, eevee: str = "tuned", log=print) -> dict:
    from addon.blender.eevee_setup import prepare_eevee
    from neural_ops import get_op, read_exr

    from ..datagen.generate import render_timed, sample_seed
    from ..scenes.build import build_scene
    from ..scenes.spec import scene_spec

    spec = scene_spec(sample_seed(seed, 0))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scene = build_scene(spec, tmp / "textures", (width, height))
        scene.render.threads_mode = "AUTO"
        bake = prepare_eevee(scene, eevee).get("bake_seconds", 0.0)
        t_cold = render_timed(scene, tmp, "eevee_cold.exr", eevee_samples, 0, engine="BLENDER_EEVEE")
        t_eevee = render_timed(scene, tmp, "eevee.exr", eevee_samples, 0, engine="BLENDER_EEVEE")
        log(f"EEVEE ({eevee}) {width}x{height}, {eevee_samples} samples: {t_cold:.1f} s first (shader compile), "
            f"{t_eevee:.1f} s again; light-probe bake {bake:.1f} s once per shot")
        op = get_op("cg2real", "neural")
        params = op.make_params(**({"weights": model} if model.endswith(".safetensors") else {"model": model}))
        ps = read_exr(tmp / "eevee.exr")
        op(ps, params)  # weights loading and first-call set-up are not timed
        t = time.perf_counter()
        op(ps, params)
        t_net = time.perf_counter() - t
        log(f"network: {t_net:.2f} s")
        cyc = {}
        for spp in ([target_spp] if full else spp_fit):
            cyc[spp] = render_timed(scene, tmp, f"cycles_{spp}.exr", spp, 0)
            log(f"Cycles {spp} spp: {cyc[spp]:.1f} s")
    if full:
        t_cyc, how = cyc[target_spp], "measured"
    else:
        (s0, t0), (s1, t1) = sorted(cyc.items())
        slope = (t1 - t0) / (s1 - s0)
        t_cyc, how = t0 + slope * (target_spp - s0), f"line through {s0} and {s1} spp"
    res = {"resolution": [width, height], "eevee": eevee, "bake_s": bake, "eevee_s": t_eevee, "eevee_first_s": t_cold,
           "net_s": t_net, "cycles_s": t_cyc, "cycles_how": how, "cycles_points": cyc, "speedup": t_cyc / (t_eevee + t_net)}
    log(f"\n| {width}x{height} | seconds per frame |\n|---|---:|\n| EEVEE ({eevee_samples} samples, shaders compiled) | "
        f"{t_eevee:.2f} |\n| network | {t_net:.2f} |\n| EEVEE + network | {t_eevee + t_net:.2f} |\n"
        f"| Cycles {target_spp} spp ({how}) | {t_cyc:.1f} |\n| speed-up | {res['speedup']:.0f}x |\n"
        f"| EEVEE light-probe bake, once per shot | {bake:.1f} |")
    return res


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render benchmark cg2real``."""
    p.add_argument("--resolution", default="1920x1080", help="WxH (default 1920x1080)")
    p.add_argument("--spp-fit", default="16,64", help="two Cycles sample counts to fit the time line through")
    p.add_argument("--target-spp", type=int, default=1024)
    p.add_argument("--eevee-samples", type=int, default=16)
    p.add_argument("--model", default="",
                   help="shipped model name or .safetensors (default: the shipped model for the --eevee set-up)")
    p.add_argument("--full", action="store_true", help="render the target spp for real (slow)")
    p.add_argument("--eevee", default="tuned", choices=["tuned", "default"],
                   help="EEVEE set-up (default tuned: ray tracing + a baked light-probe volume)")



def run_args(a: argparse.Namespace) -> int:
    w, h = (int(v) for v in a.resolution.lower().split("x"))
    fit = tuple(int(v) for v in a.spp_fit.split(","))
    model = a.model or ("tuned" if a.eevee == "tuned" else "default")
    run(w, h, fit, a.target_spp, a.eevee_samples, model=model, full=a.full, eevee=a.eevee)
    return 0
