"""Peak memory and time of ``info`` and of every file op on one big EXR, each in a fresh process.

``neural-render bench --files --width 7680 --height 4320`` writes a synthetic frame with the
passes an export holds (the denoising, raster and G-buffer passes, motion, a camera), then runs
each command on it as a user would and reads the process's own peak resident memory (VmHWM) at
its end. Prints a Markdown table with the time against OIDN's in the same run. ``--whole``
also runs every op on the whole frame at once (no strips), the way the commands worked before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The budget the issue sets for an 8K frame.
BUDGET_GIB = 4.0
LIGHTS = json.dumps([{"type": "SUN", "location": [4, -4, 6], "target": [0, 0, 0], "power": 3.0}])

#: (label, op kind or None for info, argv after the input: method and options)
COMMANDS = (
    ("info", None, ["info"]),
    ("denoise spikes", "denoise", ["--method", "spikes"]),
    ("denoise bilateral", "denoise", ["--method", "bilateral"]),
    ("denoise oidn", "denoise", ["--method", "oidn"]),
    ("denoise neural", "denoise", ["--method", "neural"]),
    ("denoise neural --temporal (2 frames)", "denoise", ["--method", "neural", "--temporal"]),
    ("cg2real neural", "cg2real", ["--method", "neural"]),
    ("relight analytic", "relight", ["--method", "analytic", "--lights", LIGHTS]),
    ("relight shadowed", "relight", ["--method", "shadowed", "--lights", LIGHTS]),
    ("relight neural", "relight", ["--method", "neural", "--lights", LIGHTS]),
)

_RUN = (
    "import sys\n"
    "from neural_ops.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a big
    # parent would report the parent's peak.
    "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
    "print(f'VMHWM {hwm}', flush=True)\n"
    "sys.exit(rc)\n"
)


def make_frame(path: Path, width: int, height: int) -> Path:
    """A synthetic export: Combined (noisy) with the denoising passes, the raster passes CG2Real
    reads, Position, Vector and a camera in the sidecar."""
    from ..core.exr import write_exr
    from ..core.synthetic import synthetic_frame

    ps = synthetic_frame(width, height, raster=True)
    ps.add("Vector", np.zeros((height, width, 4), np.float32), "XYZW")
    ps.meta = {"frame": 1, "spp": 4, "camera": {
        "matrix_world": [[1, 0, 0, 0], [0, 0, -1, -8], [0, 1, 0, 1], [0, 0, 0, 1]], "lens": 50.0,
        "sensor_width": 36.0, "sensor_height": 24.0, "resolution": [width, height]}}
    return write_exr(ps, path, overwrite=True)


def _second_frame(exr: Path) -> list[str]:
    """The frame and a copy of it as the next frame of an animation (the first two of a sequence)."""
    import shutil

    from ..core.exr import read_sidecar, sidecar_path, write_sidecar

    seq = [exr.with_name("seq_0001.exr"), exr.with_name("seq_0002.exr")]
    for k, f in enumerate(seq, 1):
        if not f.exists():
            shutil.copyfile(exr, f)
            write_sidecar({**read_sidecar(sidecar_path(exr)), "frame": k}, sidecar_path(f), overwrite=True)
    return [str(f) for f in seq]


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """(peak GiB, seconds, exit status, last output line) of ``neural-render ARGV`` in a fresh process."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _RUN, *argv], capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
    dt = time.perf_counter() - t
    peak = float("nan")
    for ln in r.stdout.splitlines():
        if ln.startswith("VMHWM "):
            peak = int(ln.split()[1]) / 1024**2  # KiB -> GiB
    last = (r.stderr.strip() or r.stdout.strip()).splitlines()
    return peak, dt, r.returncode, (last[-1] if last else "")


def run(width: int, height: int, whole: bool = False, only: list[str] | None = None) -> list[dict]:
    from .. import get_op

    mp = width * height / 1e6
    rows = []
    with tempfile.TemporaryDirectory(prefix="nr-bench-files-") as tmp:
        exr = Path(tmp) / "frame.exr"
        t = time.perf_counter()
        make_frame(exr, width, height)
        print(f"wrote {exr.name}: {width}x{height}, {exr.stat().st_size / 2**20:.0f} MiB, "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        for label, kind, opts in COMMANDS:
            if only and not any(o in label for o in only):
                continue
            if kind is not None:
                spec = get_op(kind, opts[1])
                if spec.available():
                    print(f"skipping {label}: {spec.available()}", flush=True)
                    continue
                argv = [kind, str(exr), "-o", str(Path(tmp) / "out.exr"), "--overwrite", *opts]
                if "--temporal" in opts:  # a second frame: the history is blended into it
                    argv[1:4] = [*_second_frame(exr), "-o", str(Path(tmp) / "seq")]
            else:
                argv = [*opts, str(exr)]
            row = {"label": label}
            for mode, env in (("strips", {}), ("whole", {"NR_STRIP_PIXELS": str(10**12)}))[: 2 if whole else 1]:
                if mode == "whole" and kind is None:
                    continue
                peak, dt, rc, last = measure(argv, env)
                row[mode] = (peak, dt, rc, last)
                print(f"  {label} ({mode}): peak {peak:.2f} GiB, {dt:.1f} s, exit {rc}"
                      + (f": {last}" if rc else ""), flush=True)
            rows.append(row)
    anchor = next((r["strips"][1] for r in rows if r["label"] == "denoise oidn" and r["strips"][2] == 0), None)
    print(f"\n{width}x{height} ({mp:.1f} MP), {os.cpu_count()} CPU cores, budget {BUDGET_GIB:.0f} GiB; "
          "each command in a fresh process, peak = its VmHWM")
    head = "| command | peak GiB | seconds | s/MP | x OIDN time | within budget |"
    sep = "|---|---:|---:|---:|---:|---|"
    if whole:
        head += " whole frame: peak GiB | seconds |"
        sep += "---:|---:|"
    print(head + "\n" + sep)
    for r in rows:
        peak, dt, rc, last = r["strips"]
        ok = "failed: " + last[:60] if rc else ("yes" if peak <= BUDGET_GIB else "**no**")
        ratio = f"{dt / anchor:.2f}" if anchor and not rc else "-"
        line = f"| {r['label']} | {peak:.2f} | {dt:.1f} | {dt / mp:.2f} | {ratio} | {ok} |"
        if whole:
            w = r.get("whole")
            line += f" {w[0]:.2f} | {w[1]:.1f} |" if w and not w[2] else (" failed |  |" if w else " - | - |")
        print(line)
    return rows
