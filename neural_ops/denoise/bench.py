"""Speed of every denoiser against OIDN on one frame, measured in the same run.

Prints a Markdown table: seconds, seconds per megapixel and the ratio to OIDN (high). The
frame is synthetic but shaped like a Cycles render (noisy HDR colour, albedo, normal, depth,
position), so every op does its full work; image content does not change these timings.
"""

from __future__ import annotations

import time

from .. import list_ops
from ..core.notes import quiet
from ..core.synthetic import synthetic_frame


def _variants(models=()):
    """(label, spec, params overrides): every available op with its defaults, the learned
    denoiser once per inference backend, so ONNX Runtime and torch are compared in one run, and
    any other shipped ``models`` (fastest backend)."""
    for spec in list_ops("denoise"):
        if spec.available():
            print(f"skipping {spec.name}: {spec.available()}")
            continue
        if spec.name == "neural":
            from ..nn.runtime import onnx_unavailable

            if not onnx_unavailable():
                yield "neural", spec, {"backend": "onnx"}
            yield "neural (torch)", spec, {"backend": "torch"}
            for m in models:  # a shipped name, or weights you trained (.safetensors; .onnx beside it is used)
                if m.endswith(".safetensors"):
                    yield f"neural weights={m}", spec, {"weights": m}
                else:
                    yield f"neural model={m}", spec, {"model": m}
        else:
            yield spec.name, spec, {}


def peak_memory(method: str, width: int, height: int, overrides: dict | None = None) -> float:
    """Peak resident memory in GB of a fresh process that builds the frame and runs ``method``
    (``none``: only builds the frame, the floor every method shares)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from neural_ops.core.synthetic import synthetic_frame\n"
        "from neural_ops import get_op\n"
        f"ps = synthetic_frame({width}, {height})\n"
        f"m, kw = {method!r}, {dict(overrides or {})!r}\n"
        "if m != 'none': get_op('denoise', m)(ps, **kw)\n"
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a
        # big parent would report the parent's peak.
        "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return float("nan")
    return int(r.stdout.strip().splitlines()[-1]) / 1024**2  # KiB -> GiB


def run(width: int = 1920, height: int = 1080, repeat: int = 1, memory: bool = False, models=()) -> dict[str, float]:
    ps = synthetic_frame(width, height)
    mp = width * height / 1e6
    times: dict[str, float] = {}
    runs = {}
    for label, spec, kw in _variants(models):
        with quiet():
            spec(synthetic_frame(64, 64), **kw)  # warm-up: library loading, ONNX session, first-call setup
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            spec(ps, **kw)
            best = min(best, time.perf_counter() - t)
        times[label] = best
        runs[label] = (spec.name, kw)
        print(f"  {label}: {best:.2f} s", flush=True)
    anchor = times.get("oidn")
    mem = {}
    if memory:
        mem["frame only"] = peak_memory("none", width, height)
        for name in times:
            mem[name] = peak_memory(runs[name][0], width, height, runs[name][1])
            print(f"  {name}: peak {mem[name]:.2f} GiB", flush=True)
    print(f"\n{width}x{height} ({mp:.2f} MP), best of {repeat}, {_threads()}")
    head = "| method | seconds | s/MP | x OIDN |" + (" peak GiB |" if memory else "")
    print(head + "\n|---|---:|---:|---:|" + ("---:|" if memory else ""))
    for name, t in times.items():
        ratio = f"{t / anchor:.2f}" if anchor else "-"
        extra = f" {mem[name]:.2f} |" if memory else ""
        print(f"| {name} | {t:.2f} | {t / mp:.2f} | {ratio} |{extra}")
    if memory:
        print(f"| (frame only) | | | | {mem['frame only']:.2f} |")
    return times


def _threads() -> str:
    import os

    return f"{os.cpu_count()} CPU cores"
