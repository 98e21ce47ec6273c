"""Multi-frame (offline) denoising input: frame t's noisy colour averaged with frames t-k .. t+k
reprojected onto it.

An offline renderer has every frame of the shot, past and future, with exact motion (Cycles'
``Vector`` pass: XY towards the previous frame, ZW from the next, see
:func:`~neural_ops.denoise.temporal.previous_coords`). Where a neighbour shows the same surface
(albedo, normal and depth agree with frame t), its noisy colour is another independent estimate
of the same pixel, so static and slowly moving content gets up to (2k+1) x the samples before any
denoiser runs. Neighbours are reached hop by hop (t -> t-1 -> t-2 with each frame's own motion),
and a neighbour that agrees almost nowhere (a cut, a flash) ends the walk in that direction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..core.errors import PassSetError
from ..core.metrics import LUMA
from ..core.passset import NOISY_PASS, PassSet, noisy_combined
from ..core.registry import GUIDE_PASSES
from ..core.sampling import bilinear, box_filter
from .temporal import _guides, same_surface


@dataclass
class WindowParams:
    """How neighbouring frames are gathered.

    Attributes:
        frames_window: k, the frames used on each side of frame t (0: frame t alone).
        max_albedo: largest albedo difference (any channel) for a neighbour pixel to count.
        min_normal_dot: smallest dot product of the two normals.
        max_depth: largest relative depth difference.
        max_color: largest difference of local brightness (log luminance averaged over 5x5
            pixels) between frame t and a neighbour beyond what their noise explains: the same
            surface lit differently (a moving highlight, a light switched on) is not gathered.
        min_agree: a neighbour frame agreeing on less than this fraction of frame t's pixels is
            taken for a cut: it and the frames beyond it are not used.
        nearest: take each neighbour's pixel nearest to the reprojected position (its noise stays
            independent per pixel, as the denoiser expects; measured better than interpolating,
            which smears noise into blobs), else interpolate bilinearly.
    """

    frames_window: int = 2
    max_albedo: float = 0.1
    min_normal_dot: float = 0.9
    max_depth: float = 0.05
    max_color: float = 0.1
    min_agree: float = 0.2
    nearest: bool = True

    def check(self) -> None:
        if not 0 <= self.frames_window <= 16:
            raise PassSetError(f"frames_window must be 0 to 16, got {self.frames_window}")
        if not (0 <= self.min_agree <= 1 and 0 <= self.max_albedo and -1 <= self.min_normal_dot <= 1
                and 0 <= self.max_depth and 0 < self.max_color):
            raise PassSetError("frames window thresholds out of range")


#: The passes :meth:`Frame.of` reads (a reader may ask for just these).
FRAME_PASSES = ("Combined", NOISY_PASS, "Vector", *GUIDE_PASSES)


@dataclass
class Frame:
    """What gathering needs of one rendered frame: noisy colour (H, W, 3), guides (H, W, 7:
    albedo, normal, log depth) and motion (H, W, 4), top row first."""

    color: np.ndarray
    guides: np.ndarray
    vector: np.ndarray
    source: str = ""
    brightness: np.ndarray | None = None

    def __post_init__(self):
        if self.brightness is None:
            self.brightness = local_brightness(self.color)

    @classmethod
    def of(cls, passes: PassSet) -> Frame:
        if "Vector" not in passes:
            raise PassSetError(f"{passes.source}: multi-frame denoising needs the Vector pass "
                               "(enable Vector in the view layer's passes; motion blur must be off)")
        noisy = noisy_combined(passes)
        return cls(np.maximum(noisy.color, 0.0).astype(np.float32), _guides(passes),
                   passes.get("Vector").astype(np.float32), passes.source)


def local_brightness(color: np.ndarray, size: int = 5) -> np.ndarray:
    """(H, W, 2) float32: log luminance averaged over ``size`` x ``size`` pixels (edges
    replicated), and the variance of that mean (the pixels' variance / size^2): what a pixel's
    neighbourhood looks like, and how far noise alone moves it."""
    lum = np.log1p(np.maximum(color, 0.0) @ LUMA).astype(np.float32)
    mean = box_filter(lum, size // 2)
    var = np.maximum(box_filter(lum * lum, size // 2) - mean * mean, 0.0) / (size * size)
    return np.stack([mean, var], axis=2).astype(np.float32)


def gather(frames: list[Frame], t: int, params: WindowParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``t``'s noisy colour averaged with its reprojected neighbours.

    Args:
        frames: consecutive frames of one shot, in order.
        t: the index in ``frames`` of the frame to build.
    Returns:
        (colour (H, W, 3) float32, frames used per pixel (H, W) float32, >= 1).
    """
    p = params or WindowParams()
    p.check()
    cur = frames[t]
    h, w = cur.color.shape[:2]
    for f in frames:
        if f.color.shape[:2] != (h, w):
            raise PassSetError(f"{f.source}: frame is {f.color.shape[1]}x{f.color.shape[0]}, "
                               f"{cur.source} is {w}x{h}: frames of one shot must have one size")
    total = cur.color.astype(np.float64)
    count = np.ones((h, w), np.float64)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Blender's Vector pass, in its bottom-up pixel rows: XY = previous position - current,
    # ZW = current position - next (both found by warping rendered frames' albedo; the row
    # offset flips sign in our top-down arrays).
    for step, ch, sign in ((-1, 0, 1.0), (1, 2, -1.0)):
        x, y, alive = xx.copy(), yy.copy(), np.ones((h, w), bool)
        s = t
        for _ in range(p.frames_window):
            if not 0 <= s + step < len(frames):
                break
            v, _ = bilinear(frames[s].vector[..., ch:ch + 2], x, y)
            x, y = x + sign * v[..., 0], y - sign * v[..., 1]
            s += step
            xs, ys = (np.round(x), np.round(y)) if p.nearest else (x, y)
            hc, inside = bilinear(frames[s].color, xs, ys)
            hg, _ = bilinear(frames[s].guides, xs, ys)
            hb, _ = bilinear(frames[s].brightness, x, y)
            alive &= inside
            # Lit the same: local brightness within max_color, or within what noise explains (3
            # sigma; the noise of frame t stands for both: a neighbour's own variance grows with
            # the very highlight that should be kept out).
            tol = np.maximum(p.max_color, 3.0 * np.sqrt(2.0 * cur.brightness[..., 1]))
            ok = alive & same_surface(cur.guides, hg, p) & (np.abs(hb[..., 0] - cur.brightness[..., 0]) <= tol)
            if ok.mean() < p.min_agree:
                break  # a cut or a change of everything: nothing beyond it belongs to this shot
            total += np.where(ok[..., None], hc, 0.0)
            count += ok
    return (total / count[..., None]).astype(np.float32), count.astype(np.float32)


def with_color(passes: PassSet, color: np.ndarray) -> PassSet:
    """``passes`` (as :func:`noisy_combined` reads them) with the RGB of ``Combined`` replaced
    by ``color`` (its alpha kept). Shallow: the other passes are shared."""
    from ..core.passset import Pass

    ps = noisy_combined(passes)
    old = ps.passes["Combined"]
    px = color[..., :3].astype(np.float32)
    if old.pixels.shape[2] == 4:
        px = np.concatenate([px, old.pixels[..., 3:4]], axis=2)
    return dataclasses.replace(ps, passes={n: (Pass(px, old.channels, old.half) if n == "Combined" else p)
                                           for n, p in ps.passes.items()})


def _number(path, meta: dict) -> int | None:
    """A frame's number: its sidecar's ``frame``, else the last digits of the file name."""
    import re
    from pathlib import Path

    f = meta.get("frame")
    if isinstance(f, int) and not isinstance(f, bool):
        return f
    m = re.search(r"(\d+)\D*$", Path(path).stem)
    return int(m.group(1)) if m else None


def check_consecutive(paths, metas) -> None:
    """One clear line when a sequence has a gap or a repeated frame (when every frame's number
    is known: sidecar ``frame`` or the digits ending the file name)."""
    nums = [_number(p, m) for p, m in zip(paths, metas)]
    if None in nums:
        return
    for (a, na), (b, nb) in zip(zip(paths, nums), zip(paths[1:], nums[1:])):
        if nb != na + 1:
            what = f"frame{'s' if nb - na > 2 else ''} {na + 1}{f'-{nb - 1}' if nb - na > 2 else ''} missing" \
                if nb > na + 1 else "frames out of order or repeated"
            raise PassSetError(f"{b}: frame {nb} follows {a} (frame {na}): {what}; multi-frame denoising "
                               "needs the shot's consecutive frames")


class Window:
    """Frames of one shot read on demand for :func:`gather`, at most 2k+1 kept in memory.

    Args:
        paths: the shot's EXRs, in order.
        read: ``read(path) -> PassSet`` (the passes :meth:`Frame.of` needs, at least).
        params: the window.
    """

    def __init__(self, paths, read, params: WindowParams | None = None):
        self.paths, self.read = list(paths), read
        self.p = params or WindowParams()
        self.p.check()
        self._frames: dict[int, Frame] = {}

    def frame(self, i: int) -> Frame:
        if i not in self._frames:
            self._frames[i] = Frame.of(self.read(self.paths[i]))
        return self._frames[i]

    def gathered(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``'s gathered colour and per-pixel frame count (:func:`gather`)."""
        k = self.p.frames_window
        for i in [i for i in self._frames if i < t - k]:
            del self._frames[i]
        lo, hi = max(0, t - k), min(len(self.paths) - 1, t + k)
        frames = [self.frame(i) for i in range(lo, hi + 1)]
        return gather(frames, t - lo, self.p)

    @staticmethod
    def bytes_per_pixel(k: int) -> int:
        """Memory the window holds per pixel of a frame (float32 colour, guides, motion)."""
        return (2 * k + 1) * 14 * 4 + 64
