"""The main job on the bundled scene: render noisy and reference views, run every denoiser,
write the EXRs, a side-by-side PNG and a metrics table.

Idempotent: renders that exist are reused (``force`` re-renders), the comparison is redone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import bpy

from ..shim import nops, ops_module
from . import batch, scenes


def run(out: Path, resolution: int = 256, spp: int = 4, ref_spp: int = 1024, force: bool = False) -> dict:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    blend = out / "scene.blend"
    if force or not blend.exists():
        scenes.build_default_scene((resolution, resolution))
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        print(f"built the default scene: {blend}")
    noisy = out / "noisy" / "frame_0001.exr"
    ref = out / "reference" / "frame_0001.exr"
    for path, n, seed in ((noisy, spp, 1), (ref, ref_spp, 2)):
        if force or not path.exists():
            t = time.perf_counter()
            print(f"rendering {path.parent.name} at {n} spp...", flush=True)
            batch.export_blend(blend, path.parent, spp=n, overwrite=True, seed=seed)
            print(f"  {time.perf_counter() - t:.1f} s")
    return compare(noisy, ref, out)


def compare(noisy_path: Path, ref_path: Path, out: Path) -> dict:
    """Run every available denoiser on ``noisy_path``; metrics against ``ref_path``."""
    imageio = ops_module("core.imageio")
    metrics = ops_module("core.metrics")
    ps = nops.read_exr(noisy_path)
    ref = nops.read_exr(ref_path).color
    h, w = ps.shape
    warm = ops_module("core.synthetic").synthetic_frame(32, 32)
    results = {"noisy": ps.color}
    timing = {"noisy": "-"}
    for spec in nops.list_ops("denoise"):
        if spec.available():
            print(f"skipping {spec.name}: {spec.available()}")
            continue
        with ops_module("core.notes").quiet():
            spec(warm)  # library loading and first-call setup are not part of the timing
        t = time.perf_counter()
        img = spec(ps)
        dt = time.perf_counter() - t
        results[spec.name] = img
        timing[spec.name] = f"{dt / (w * h / 1e6):.2f}"
        ps.add(spec.pass_name, img, "RGB")
    nops.write_exr(ps, out / "denoised.exr", overwrite=True)
    rows = {name: metrics.all_metrics(img, ref) for name, img in results.items()}
    table = metrics.format_table(rows, {k: {"s/MP": v} for k, v in timing.items()})
    names = [*results, "reference"]
    strip = imageio.side_by_side([imageio.to_display(x) for x in [*results.values(), ref]], labels=names)
    imageio.write_png(out / "comparison.png", strip)
    header = (f"Default scene {w}x{h}, {ps.meta.get('spp', '?')} spp input vs "
              f"{nops.read_exr(ref_path).meta.get('spp', '?')} spp reference. "
              f"PNG columns: {' | '.join(results)} | reference")
    (out / "metrics.md").write_text(header + "\n\n" + table + "\n")
    (out / "metrics.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(header)
    print(table)
    print(f"wrote {out / 'comparison.png'}, {out / 'denoised.exr'}, {out / 'metrics.md'}")
    return rows
