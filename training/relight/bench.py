"""Time relighting a frame against re-rendering it with Cycles under the new lighting.

    neural-render benchmark relight --resolution 1920x1080

One held-out procedural scene (dataset seed 5000, never used in training) at the given
resolution, rendered once under its own lighting with every pass; then, under a second
lighting: our relit frame (analytic shading + network, the same call as ``neural-render
relight``), Cycles at 16 spp + OIDN, and Cycles at 1024 spp (by default, a line through two
measured sample counts, as Cycles' time is linear in the sample count beyond a fixed set-up;
``--full`` renders it). Prints a table with the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def run(width: int, height: int, cheap_spp: int = 16, fit_spp=(16, 64), target_spp: int = 1024, seed: int = 5000,
        model: str = "", full: bool = False, log=print) -> dict:
    from addon.blender.lighting import apply_lighting, studiolight_path
    from neural_ops import get_op, read_exr
    from neural_ops.core.oidn import oidn_denoise

    from ..datagen.generate import render_timed, sample_seed
    from ..scenes.spec import lighting_variant, scene_spec

    spec = scene_spec(sample_seed(seed, 0))
    other = lighting_variant(sample_seed(sample_seed(seed, 0), 1))
    other = {"world": other["world"], "lights": other["lights"]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from ..scenes.build import build_scene

        scene = build_scene(spec, tmp / "textures", (width, height))
        scene.render.threads_mode = "AUTO"
        render_timed(scene, tmp, "source.exr", cheap_spp, 0)
        src = read_exr(tmp / "source.exr")
        src_light = {"world": spec["world"], "lights": spec["lights"]}
        (tmp / "src.json").write_text(json.dumps(src_light))
        (tmp / "dst.json").write_text(json.dumps({**other, "world": {**other["world"],
                                                                      "hdri_path": studiolight_path(other["world"]["hdri"])}}))
        op = get_op("relight", "neural")
        kw = {"lighting": str(tmp / "dst.json"), "source_lighting": str(tmp / "src.json")}
        kw.update({"weights": model} if model.endswith(".safetensors") else {"model": model})
        op(src, **kw)  # weights, HDRI preparation and first-call set-up are not timed
        t = time.perf_counter()
        op(src, **kw)
        t_ours = time.perf_counter() - t
        log(f"relight (analytic + network): {t_ours:.2f} s")
        apply_lighting(scene, other)
        t16 = render_timed(scene, tmp, "cheap.exr", cheap_spp, 1)
        t = time.perf_counter()
        oidn_denoise(read_exr(tmp / "cheap.exr"))
        t_oidn = time.perf_counter() - t
        log(f"Cycles {cheap_spp} spp: {t16:.1f} s + OIDN {t_oidn:.2f} s")
        cyc = {cheap_spp: t16} if cheap_spp in fit_spp else {}
        for spp in ([target_spp] if full else fit_spp):
            if spp not in cyc:
                cyc[spp] = render_timed(scene, tmp, f"cycles_{spp}.exr", spp, 2)
                log(f"Cycles {spp} spp: {cyc[spp]:.1f} s")
    if full:
        t_ref, how = cyc[target_spp], "measured"
    else:
        (s0, a), (s1, b) = sorted((s, cyc[s]) for s in fit_spp)
        t_ref, how = a + (b - a) / (s1 - s0) * (target_spp - s0), f"line through {s0} and {s1} spp"
    cheap = t16 + t_oidn
    res = {"resolution": [width, height], "ours_s": t_ours, "cheap_s": cheap, "ref_s": t_ref, "ref_how": how,
           "speedup_cheap": cheap / t_ours, "speedup_ref": t_ref / t_ours}
    log(f"\n| {width}x{height} | seconds per frame | ours is faster by |\n|---|---:|---:|\n"
        f"| relight (analytic + network) | {t_ours:.2f} | - |\n"
        f"| Cycles {cheap_spp} spp + OIDN | {cheap:.1f} | {res['speedup_cheap']:.1f}x |\n"
        f"| Cycles {target_spp} spp ({how}) | {t_ref:.1f} | {res['speedup_ref']:.0f}x |")
    return res


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render benchmark relight``."""
    p.add_argument("--resolution", default="1920x1080", help="WxH (default 1920x1080)")
    p.add_argument("--spp", type=int, default=16, help="the cheap re-render's samples (then OIDN)")
    p.add_argument("--target-spp", type=int, default=1024, help="the full re-render's samples (default 1024)")
    p.add_argument("--model", default="", help="shipped model name or .safetensors (default: the shipped default)")
    p.add_argument("--full", action="store_true", help="render the target spp for real (slow)")



def run_args(a: argparse.Namespace) -> int:
    w, h = (int(v) for v in a.resolution.lower().split("x"))
    run(w, h, a.spp, (a.spp, 4 * a.spp), a.target_spp, model=a.model, full=a.full)
    return 0
