"""Temporal mode for animations: reproject the previous denoised frame with Cycles' Vector pass
and blend it into the current one, to cut the frame-to-frame flicker of per-frame denoising.

Blender's ``Vector`` pass holds, per pixel, the screen-space motion in pixels: XY towards the
previous frame, ZW towards the next, in Blender's bottom-up pixel rows (found by rendering a
moving camera; :func:`previous_coords` documents the sign). History is rejected where the
reprojected albedo, normal or depth disagree with the current frame (disocclusions, objects
leaving the screen) and where the colour changed far more than noise explains (moving lights);
elsewhere the output is an exponential moving average, as in SVGF-style temporal accumulation
(Schied et al. 2017), starting from a short running mean so the first frames are not dimmed
by a missing history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import PassSetError
from ..core.metrics import srgb_encode
from ..core.motion import guides
from ..core.passset import PassSet
from ..core.sampling import bilinear
from ..core.strips import release_memory


def previous_coords(vector: np.ndarray, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of the current frame was in the previous frame.

    Args:
        vector: (H, W, 2+) Blender ``Vector`` pass (top row first, as every array here), or
            the rows from ``row0`` on of a frame's.
    Returns:
        (x, y) float32 arrays (H, W) in pixel units of the top-row-first image.
    """
    h, w = vector.shape[:2]
    yy, xx = np.mgrid[row0:row0 + h, 0:w].astype(np.float32)
    # XY is (previous position - current position) in Blender's bottom-up pixel space, so the
    # row offset flips sign in our top-down arrays.
    return xx + vector[..., 0], yy - vector[..., 1]


def same_surface(g: np.ndarray, hg: np.ndarray, p) -> np.ndarray:
    """(H, W) bool: where guides ``hg`` (another frame's, reprojected) show the surface of ``g``
    (:func:`~neural_ops.core.motion.guides` layouts), by ``p``'s ``max_albedo``,
    ``min_normal_dot`` and ``max_depth``."""
    ok = np.abs(hg[..., 0:3] - g[..., 0:3]).max(axis=2) <= p.max_albedo
    ok &= (hg[..., 3:6] * g[..., 3:6]).sum(axis=2) >= p.min_normal_dot
    ok &= np.abs(hg[..., 6] - g[..., 6]) <= np.log1p(p.max_depth)
    return ok


@dataclass
class TemporalParams:
    """Settings of the temporal blend.

    Attributes:
        alpha: weight of the current frame once the history is long (0.2: ~5 frames remembered).
        max_albedo: largest albedo difference (any channel) for history to count as the same surface.
        min_normal_dot: smallest dot product of current and reprojected normals.
        max_depth: largest relative depth difference.
        max_color: largest change of log luminance (lights that move or switch reset history).
    """

    alpha: float = 0.2
    max_albedo: float = 0.1
    min_normal_dot: float = 0.9
    max_depth: float = 0.1
    max_color: float = 1.0

    def check(self) -> None:
        if not 0 < self.alpha <= 1:
            raise PassSetError(f"temporal alpha must be in (0, 1], got {self.alpha}")


#: Frames with more pixels than this keep their history in a temporary file (mapped).
SPILL_PIXELS = 8_000_000


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class TemporalFilter:
    """Feed frames in order with :meth:`step`; it keeps the history between calls.

    A frame that is not the next one in sequence (a jump, a different size) resets it.
    """

    def __init__(self, params: TemporalParams | None = None):
        self.p = params or TemporalParams()
        self.p.check()
        self.reset()

    def reset(self) -> None:
        self.history = self.guides = self.count = self.frame = None
        self._maps = {}

    def step(self, passes: PassSet, denoised: np.ndarray) -> np.ndarray:
        """Blend this frame's denoised image (H, W, 3) with the reprojected history.

        ``passes`` needs ``Vector`` for reprojection (without it the frame is returned as is)
        and the guide passes (albedo, normal, depth) for rejection.
        """
        cur = np.asarray(denoised, np.float32)[..., :3]
        g = guides(passes)
        frame = passes.meta.get("frame")
        if self._restarts(cur.shape, "Vector" in passes, frame):
            return self._keep(cur, g, np.ones(cur.shape[:2], np.float32), frame)
        out, n = self._blend(cur, g, passes.get("Vector"), 0)
        return self._keep(out, g, n, frame)

    def step_strips(self, read, denoised: np.ndarray, rows: int) -> np.ndarray:
        """:meth:`step` on a big frame in bounded memory: ``read(rows=(y0, y1))`` reads a strip's
        ``Vector`` and guide passes; the history is sampled whole, the rest strip by strip.
        ``denoised`` (H, W, 3) float32 is blended in place and returned."""
        h = denoised.shape[0]
        first = read(rows=(0, min(h, rows)))
        frame = first.meta.get("frame")
        restart = self._restarts(denoised.shape, "Vector" in first, frame)
        # A big frame keeps its guides and history lengths as float16: half the memory, and
        # far finer than the rejection thresholds.
        dtype = np.float16 if denoised.shape[0] * denoised.shape[1] > SPILL_PIXELS else np.float32
        surfaces = np.empty((*denoised.shape[:2], 7), dtype)
        count = np.ones(denoised.shape[:2], dtype)
        for y0 in range(0, h, rows):
            ps = first if y0 == 0 else read(rows=(y0, min(h, y0 + rows)))
            y1 = y0 + ps.shape[0]
            g = surfaces[y0:y1] = guides(ps)
            if not restart:
                denoised[y0:y1], count[y0:y1] = self._blend(denoised[y0:y1], g, ps.get("Vector"), y0)
            del ps, g
            first = None
            self._forget_pages()
            release_memory()
        return self._keep(denoised, surfaces, count, frame)

    def _restarts(self, shape, has_vector: bool, frame) -> bool:
        """Whether this frame starts a new history (the first, another size, no motion, a jump)."""
        return (self.history is None or self.history.shape != tuple(shape) or not has_vector
                or (frame is not None and self.frame is not None and frame != self.frame + 1))

    def _blend(self, cur: np.ndarray, g: np.ndarray, vector: np.ndarray, row0: int):
        """(blended image, history length) of rows ``row0`` on of the frame (``cur``, its guides
        ``g`` and motion ``vector``), the history sampled where each pixel was."""
        x, y = previous_coords(vector, row0)
        hist, inside = bilinear(self.history, x, y)
        hg, _ = bilinear(self.guides, x, y)
        hn, _ = bilinear(self.count[..., None], x, y)
        p = self.p
        ok = inside & same_surface(g, hg, p)
        lum = np.log1p(np.maximum(cur, 0).mean(axis=2))
        hlum = np.log1p(np.maximum(hist, 0).mean(axis=2))
        ok &= np.abs(lum - hlum) <= p.max_color
        n = np.where(ok, hn[..., 0] + 1.0, 1.0)
        a = np.maximum(p.alpha, 1.0 / n)[..., None]
        out = a * cur + (1 - a) * np.where(ok[..., None], hist, cur)
        return out.astype(np.float32), n.astype(np.float32)

    def _keep(self, out, g, n, frame):
        self.history, self.guides, self.count, self.frame = out, g, n, frame
        self._maps = {}
        if out.shape[0] * out.shape[1] > SPILL_PIXELS:
            self._spill()
        return out

    def _spill(self) -> None:
        """Keep a big frame's history in a temporary file, mapped: between frames (while the
        next one is denoised) it takes no memory; :meth:`step_strips` reads it back as it goes
        and lets go of the pages it read after each strip (:meth:`_forget_pages`)."""
        import mmap
        import tempfile
        import weakref
        from pathlib import Path

        if getattr(self, "_spill_dir", None) is None:
            self._spill_dir = tempfile.mkdtemp(prefix="nr-temporal-")
            weakref.finalize(self, _remove_tree, self._spill_dir)
        self._maps = {}
        for name in ("history", "guides", "count"):
            path = Path(self._spill_dir) / f"{name}.bin"
            arr = np.ascontiguousarray(getattr(self, name))
            setattr(self, name, None)  # drop the mapping of the file before it is replaced
            tmp = path.with_suffix(".tmp")
            arr.tofile(tmp)
            shape, dtype = arr.shape, arr.dtype
            del arr
            tmp.replace(path)
            with open(path, "rb") as f:
                m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[name] = m
            setattr(self, name, np.frombuffer(m, dtype).reshape(shape))

    def _forget_pages(self) -> None:
        """Drop the pages of the mapped history read so far (they are read again if needed)."""
        import mmap

        for m in getattr(self, "_maps", {}).values():
            if hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
                m.madvise(mmap.MADV_DONTNEED)


def temporal_differences(seq: list[np.ndarray], vectors: list[np.ndarray]) -> list[np.ndarray]:
    """Per frame t >= 1: display image of frame t minus that of frame t-1 reprojected to t,
    (H, W, 3), NaN outside the previous frame."""
    out = []
    for t in range(1, len(seq)):
        x, y = previous_coords(vectors[t])
        prev, inside = bilinear(srgb_encode(seq[t - 1]), x, y)
        diff = srgb_encode(seq[t]) - prev
        diff[~inside] = np.nan
        out.append(diff)
    return out


def flicker(seq: list[np.ndarray], vectors: list[np.ndarray], reference: list[np.ndarray] | None = None) -> float:
    """Mean absolute temporal difference along motion (display values in [0, 1]).

    With ``reference``: the mean absolute difference between the sequence's temporal
    differences and the reference's, i.e. change over time that the true image does not have
    (flicker), with real changes (moving highlights, lights) cancelled out.
    """
    d = temporal_differences(seq, vectors)
    if reference is not None:
        r = temporal_differences(reference, vectors)
        d = [a - b for a, b in zip(d, r)]
    return float(np.nanmean(np.abs(np.stack(d))))
