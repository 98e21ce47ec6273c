"""Run an op on a big frame strip by strip, so memory stays bounded whatever the frame size.

An op that can run on row strips says how many rows of context (its *halo*) each side of a
strip it needs (:attr:`~neural_ops.core.registry.OpSpec.halo`). The few numbers some ops take
from the whole frame (the median depth the networks normalise by, the exposure OIDN scales its
input by) are measured once on the whole frame, one pass at a time, and handed to every strip
in ``passes.meta["strip"]`` (:func:`frame_stat`), so a strip computes what the whole frame
would. Strips start on a multiple of the op's ``align`` (the U-Nets' pooling grid).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .passset import DEPTH_PASSES, NOISY_PASS, PassSet

#: Frames with more pixels than this run in strips (ops that can); smaller ones whole.
#: ``NR_STRIP_PIXELS`` sets it (the benchmark's whole-frame runs).
STRIP_PIXELS = int(os.environ.get("NR_STRIP_PIXELS", "4000000"))
#: Pixels of one strip's own rows (its halo comes on top)...
STRIP_CORE = 2_000_000
#: ...and at least this many times its halo in rows, so the rows computed twice (the halos)
#: stay under 2/3 of the work.
HALO_FACTOR = 3
#: Peak bytes per pixel of an op run on a whole frame (the heaviest, neural relighting and
#: per-AOV denoising, hold about 100 float32 channels): what a whole-frame run is checked against.
WHOLE_FRAME_BYTES = 400
#: The key of ``PassSet.meta`` that holds a strip's place and the whole frame's numbers.
STRIP_KEY = "strip"
#: Colour passes whose exposure is measured for OIDN (Combined, or the noisy image beside it).
EXPOSURE_PASSES = ("Combined", NOISY_PASS)


def frame_stat(passes: PassSet, key: str, name: str) -> float | None:
    """A number of the whole frame (``key`` of pass ``name``) when ``passes`` is a strip of
    it, else None (the op then measures ``passes`` itself, which is the whole frame)."""
    info = passes.meta.get(STRIP_KEY)
    if not isinstance(info, dict):
        return None
    return info.get(key, {}).get(name)


def strip_rows(passes: PassSet) -> tuple[int, int] | None:
    """(first row in the whole frame, the whole frame's height) of a strip, else None."""
    info = passes.meta.get(STRIP_KEY)
    return (info["row"], info["height"]) if isinstance(info, dict) else None


def first_present(passes: PassSet, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in passes), None)


# ---- numbers of the whole frame --------------------------------------------------------
def depth_medians(depth: np.ndarray) -> tuple[float, float]:
    """(median depth over hits, median over every pixel with misses counted as 1000x that):
    the scene scale the depth features and the bilateral filter use."""
    d = np.asarray(depth, np.float32)[..., :1]
    hit = (d > 0) & (d < 1e9)
    med = float(np.median(d[hit])) if hit.any() else 1.0
    far = float(np.median(np.maximum(np.where(hit, d, 1e3 * med), 1e-3)))
    return med, far


def oidn_exposure(row_sums: np.ndarray, width: int) -> float:
    """OIDN's auto-exposure from per-row luminance sums in column bins: the frame split into
    bins of at most 16 x 16 pixels, the geometric mean of the bins' mean luminance (over bins
    brighter than 1e-8) mapped to 0.18. ``row_sums`` is (H, bins across) of luminance sums."""
    h, nw = row_sums.shape
    nh = -(-h // 16)
    edges_h = (np.arange(nh + 1) * h) // nh
    edges_w = (np.arange(nw + 1) * width) // nw
    sums = np.add.reduceat(row_sums, edges_h[:-1], axis=0)
    counts = np.diff(edges_h)[:, None] * np.diff(edges_w)[None, :]
    lum = sums / counts
    bright = lum > 1e-8
    if not bright.any():
        return 1.0
    return float(0.18 / np.exp2(np.log2(lum[bright]).mean()))


def luminance_row_sums(color: np.ndarray, width: int) -> np.ndarray:
    """(rows, bins across) sums of the luminance of ``color`` (rows, W, >=3), clamped at 0,
    in OIDN's column bins."""
    nw = -(-width // 16)
    edges_w = (np.arange(nw + 1) * width) // nw
    c = np.maximum(color[..., :3], 0.0)
    lum = 0.212671 * c[..., 0] + 0.715160 * c[..., 1] + 0.072169 * c[..., 2]
    return np.add.reduceat(lum.astype(np.float64), edges_w[:-1], axis=1)


def frame_numbers(read: Callable[..., PassSet], names: list[str], height: int, width: int,
                  rows: int) -> dict[str, Any]:
    """The whole frame's numbers, read one pass (depth) or one strip (colour) at a time.
    ``read(passes=..., rows=...)`` reads part of the frame."""
    stats: dict[str, dict[str, float]] = {"depth_median": {}, "depth_far_median": {}, "exposure": {}}
    for name in DEPTH_PASSES:
        if name in names:
            d = read(passes=[name]).get(name)
            stats["depth_median"][name], stats["depth_far_median"][name] = depth_medians(d)
            del d
    for name in EXPOSURE_PASSES:
        if name in names:
            sums = np.concatenate([luminance_row_sums(read(passes=[name], rows=(y, y + rows)).get(name), width)
                                   for y in range(0, height, rows)])
            stats["exposure"][name] = oidn_exposure(sums, width)
    return stats


# ---- the strips ----------------------------------------------------------------------------
def run_in_strips(op: Callable[[PassSet], np.ndarray], read: Callable[..., PassSet], names: list[str],
                  height: int, width: int, halo: int, align: int = 1, core_rows: int | None = None,
                  log: Callable[[str], None] | None = None,
                  prepare: Callable[[Callable[..., PassSet]], dict] | None = None) -> np.ndarray:
    """``op`` run on row strips of a frame read by ``read(passes=None, rows=(y0, y1))``: each
    strip with ``halo`` rows more each side (where the frame has them), its start on a
    multiple of ``align``; the strips' own rows put together, (H, W, 3) float32. ``prepare(read)``
    measures what else the op needs from the whole frame."""
    rows = core_rows or max(align, (max(STRIP_CORE // max(width, 1), HALO_FACTOR * halo) // align) * align)
    stats = frame_numbers(read, names, height, width, rows)
    if prepare is not None:
        stats.update(prepare(read))
    out = np.empty((height, width, 3), np.float32)
    n = -(-height // rows)
    t = time.perf_counter()
    for k, y0 in enumerate(range(0, height, rows)):
        y1 = min(height, y0 + rows)
        a = max(0, y0 - halo) // align * align
        b = min(height, y1 + halo)
        ps = read(rows=(a, b))
        ps.meta[STRIP_KEY] = {"row": a, "height": height, **stats}
        out[y0:y1] = op(ps)[y0 - a:y1 - a]
        del ps
        release_memory()
        if log:
            log(f"strip {k + 1}/{n} (rows {y0}-{y1 - 1}), {time.perf_counter() - t:.1f} s")
    return out


_trim = None


def release_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; a no-op
    elsewhere): the buffers a strip's libraries (ONNX Runtime, OIDN) freed would otherwise stay
    in the process's memory, on top of what the next strip or frame allocates."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


def whole_depth_median(passes: PassSet, names: tuple[str, ...] = DEPTH_PASSES) -> float | None:
    """The whole frame's median depth (of the first of ``names`` present) for a strip, else None."""
    name = first_present(passes, names)
    return None if name is None else frame_stat(passes, "depth_median", name)


def refuse_in_strips(passes: PassSet, what: str) -> None:
    """A clear error when ``passes`` is a strip and ``what`` needs the whole frame at once."""
    if strip_rows(passes) is not None:
        from .errors import OpError

        raise OpError(f"{passes.source}: {what} looks at the whole frame at once, and frames over "
                      f"{STRIP_PIXELS / 1e6:.0f} MP run in strips; choose a model without a context branch")


def run_op_on_file(spec, params, src, stream, log: Callable[[str], None] | None = None,
                   call: Callable[[PassSet], np.ndarray] | None = None) -> tuple[np.ndarray, PassSet]:
    """The op ``spec`` run on the EXR ``src`` (opened as ``stream``), reading only the passes it
    needs: the whole frame at once, or, for a frame over :data:`STRIP_PIXELS` and an op that
    can, in row strips. ``call(passes)`` runs the op (default ``spec(passes, params)``).
    Returns (the result, the pass set it ran on: the last strip, with the file's sidecar)."""
    from .exr import frame_layout, read_exr

    call = call or (lambda ps: spec(ps, params))
    reads = spec.reads(params)
    halo = spec.halo(params)
    lay = frame_layout(stream) if stream.parts else None
    if stream.streamable and halo is not None and lay.height * lay.width > STRIP_PIXELS:
        check_required(spec.requires, lay.passes, src)
        names = [n for n in reads if n in lay.passes]
        last = {}

        def op(ps):
            last["ps"] = ps
            return call(ps)

        def read(passes=names, rows=None):
            return read_exr(src, passes=passes, rows=rows, stream=stream)

        prepare = None if spec.prepare is None else (lambda read: spec.prepare(read, params))
        out = run_in_strips(op, read, names, lay.height, lay.width, halo, spec.align, log=log, prepare=prepare)
        return out, last["ps"]
    if lay is not None:  # a whole frame: refused before anything is read when it cannot fit
        from .exr import check_memory

        check_memory(str(src), lay.height * lay.width * WHOLE_FRAME_BYTES, f"{spec.label} on the whole frame")
    ps = read_exr(src, passes=None if lay is None else reads, stream=stream)
    return call(ps), ps


def check_required(requires, names, src) -> None:
    """A clear error when a file (its pass ``names``) lacks a pass an op requires, before any
    strip is read (a tuple entry of ``requires`` means any of these)."""
    from .errors import PassSetError

    have = ", ".join(names) or "none"
    for req in requires:
        alts = req if isinstance(req, tuple) else (req,)
        if not any(n in names for n in alts):
            more = f" (or {', '.join(alts[1:])}; has: {have})" if len(alts) > 1 else f" (has: {have})"
            raise PassSetError(f"{src}: missing pass '{alts[0]}'{more}")
