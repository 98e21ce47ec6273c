"""Denoise a rendered animation (a sequence of exported EXRs) frame by frame, resumably.

What the add-on's *Denoise Animation* operator runs (the CLI's ``denoise FRAMES -o DIR`` does the
same with strips for big frames): each frame optionally gathered with its neighbours (multi-frame,
:mod:`.multiframe`), denoised, optionally blended with the previous result (:mod:`.temporal`),
and written to the output folder under its own name with the result added as a pass.

Resume: a frame whose output already exists with the result pass is kept, not recomputed (the
temporal history then restarts from that output), so an interrupted run picks up where it
stopped. Cancel: ``cancel`` (a :class:`threading.Event`) is checked between frames and tiles;
a cancelled frame writes nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import NeuralRenderError, PassSetError


@dataclass
class SequenceJob:
    """One animation to denoise.

    Attributes:
        inputs: the frames' EXRs (sorted by name here).
        out_dir: folder for the outputs (same file names).
        method: denoiser (``neural``, ``oidn``, ...).
        params: its parameters.
        frames_window: k of multi-frame denoising (frames t-k..t+k; 0: off).
        temporal: blend each result with the previous one (:class:`~.temporal.TemporalFilter`).
        overwrite: recompute and replace outputs that exist (else complete ones are kept: resume).
        pass_name: name of the added pass (default: the method's).
    """

    inputs: list[Path]
    out_dir: Path
    method: str = "neural"
    params: dict = field(default_factory=dict)
    frames_window: int = 0
    temporal: bool = False
    overwrite: bool = False
    pass_name: str | None = None


def _done(path: Path, name: str) -> bool:
    """Whether ``path`` is a complete output holding pass ``name``."""
    from ..core.exr import frame_layout, open_exr

    if not path.is_file():
        return False
    try:
        stream = open_exr(path)
        from ..core.exr import read_exr

        return name in (frame_layout(stream).passes if stream.parts else read_exr(path, stream=stream).passes)
    except (PassSetError, OSError):
        return False


def _drop_own_sidecar(src: Path, dst: Path, kept: bool) -> None:
    """A frame to redo whose EXR is gone but whose sidecar is left from an earlier run (the same
    metadata as its input's): that sidecar is ours, and goes; anything else is left to the
    overwrite check."""
    from ..core.exr import read_sidecar, sidecar_path

    side, mine = sidecar_path(dst), sidecar_path(src)
    if kept or dst.exists() or not side.is_file() or not mine.is_file():
        return
    try:
        if read_sidecar(side) == read_sidecar(mine):
            side.unlink()
    except (PassSetError, OSError):
        pass


def denoise_sequence(job: SequenceJob, cancel=None, transform=None) -> Generator[tuple[int, int, str], None, str]:
    """Yield ``(frames done, frames, text)`` after each frame; return a summary line.

    ``transform(passes, params) -> (passes, params)``: how the caller prepares a frame for the
    op (the add-on's Cycles-denoised handling); default none."""
    from .. import get_op
    from ..core.exr import add_pass, open_exr, read_exr, read_sidecar, sidecar_path
    from ..core.outputs import check_outputs
    from .multiframe import FRAME_PASSES, Window, WindowParams, check_consecutive
    from .temporal import TemporalFilter

    inputs = sorted(Path(p) for p in job.inputs)
    if not inputs:
        raise NeuralRenderError("no frames to denoise")
    spec = get_op("denoise", job.method)
    spec.make_params(**job.params)  # bad parameters fail before any work
    name = job.pass_name or spec.pass_name
    outputs = [Path(job.out_dir) / p.name for p in inputs]
    if len({o.name for o in outputs}) != len(outputs):
        raise NeuralRenderError("two frames share a file name; their outputs would collide in the output folder")
    keep = [False if job.overwrite else _done(o, name) for o in outputs]
    for src, o, k in zip(inputs, outputs, keep):
        _drop_own_sidecar(src, o, k)
    todo = [o for o, k in zip(outputs, keep) if not k]
    check_outputs(todo, inputs, job.overwrite)
    Path(job.out_dir).mkdir(parents=True, exist_ok=True)
    window = None
    if job.frames_window:
        wp = WindowParams(frames_window=job.frames_window)
        check_consecutive(inputs, [read_sidecar(sidecar_path(p)) if sidecar_path(p).is_file() else {} for p in inputs])
        window = Window(inputs, lambda p: read_exr(p, passes=FRAME_PASSES), wp)
    tf = TemporalFilter() if job.temporal else None
    n, computed = len(inputs), 0
    for t, (src, dst) in enumerate(zip(inputs, outputs)):
        if cancel is not None and cancel.is_set():
            raise InterruptedError
        if keep[t]:
            if tf is not None:
                tf.reset()
            yield t + 1, n, f"{dst.name} kept (done before)"
            continue
        ps = read_exr(src)
        prm = dict(job.params)
        op_ps = ps
        if transform is not None:
            op_ps, prm = transform(ps, prm)
        gathered = window.gathered(t) if window is not None else None
        if cancel is not None and cancel.is_set():
            raise InterruptedError

        def on_tile(done, total):
            return cancel is not None and cancel.is_set()

        kw = {"progress": on_tile} if spec.progress_aware else {}

        def run(q, kw=kw, prm=prm):
            return spec(q, **kw, **prm)

        out = run(op_ps) if gathered is None else gathered.denoise(op_ps, run)
        if tf is not None:
            if tf.history is None and t > 0 and keep[t - 1]:
                # Resumed after a kept frame: its result is the history.
                prev = read_exr(outputs[t - 1])
                tf.step(prev, prev.get(name)[..., :3])
            out = tf.step(ps, out) if "Vector" in ps else out
        if cancel is not None and cancel.is_set():
            raise InterruptedError
        add_pass(open_exr(src), dst, name, np.asarray(out, np.float32), "RGB", meta=ps.meta, layer=ps.layer,
                 overwrite=job.overwrite)
        computed += 1
        yield t + 1, n, f"{dst.name} denoised"
    return f"Denoised {computed} frame(s) into {job.out_dir}" + (f" ({n - computed} kept from before)" if computed < n else "")
