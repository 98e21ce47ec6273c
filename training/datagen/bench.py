"""Dataset throughput: samples per hour per core and disk per sample, for each kind and size.

Run: ``neural-render benchmark data`` (e.g. ``--kinds denoise --resolutions 128``). Prints a Markdown table;
each cell is measured on freshly rendered samples in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from . import generate as datagen


def run(kinds=datagen.KINDS, resolutions=(128, 256), samples: int = 2, spp=(1, 4, 16), ref_spp: int = 256,
        lightings: int = 4, views: int = 8) -> list[dict]:
    cores = os.cpu_count() or 1
    rows = []
    for kind in kinds:
        for res in resolutions:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = datagen.DataConfig(kind=kind, out=tmp, scenes=samples, resolution=res, spp=list(spp),
                                         ref_spp=ref_spp, lightings=lightings, views=views, seed=1000)
                t = time.perf_counter()
                datagen.generate(cfg, progress=lambda m: None)
                dt = time.perf_counter() - t
                man = datagen.write_manifest(cfg)
            row = {"kind": kind, "resolution": res, "s_per_sample": dt / samples,
                   "samples_per_hour_per_core": 3600 * samples / dt / cores, "mb_per_sample": man["bytes_per_sample"] / 1e6}
            rows.append(row)
            print(f"  {kind} {res}: {row['s_per_sample']:.1f} s/sample", flush=True)
    print(f"\n{samples} samples per cell, spp {list(spp)}, reference/target {ref_spp} spp, "
          f"relight K={lightings}, multiview V={views}, {cores} cores")
    print("| kind | resolution | s/sample | samples/hour/core | MB/sample |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['kind']} | {r['resolution']}² | {r['s_per_sample']:.1f} | {r['samples_per_hour_per_core']:.1f} | {r['mb_per_sample']:.2f} |")
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render benchmark data``."""
    p.add_argument("--kinds", default=",".join(datagen.KINDS), help="dataset kinds, comma separated (default: all)")
    p.add_argument("--resolutions", default="128,256", help="square image sizes, comma separated (default 128,256)")
    p.add_argument("--samples", type=int, default=2, help="samples rendered per cell (default 2)")
    p.add_argument("--ref-spp", type=int, default=256, help="reference samples per pixel (default 256)")


def run_args(a: argparse.Namespace) -> int:
    run(kinds=a.kinds.split(","), resolutions=[int(r) for r in a.resolutions.split(",")], samples=a.samples, ref_spp=a.ref_spp)
    return 0
