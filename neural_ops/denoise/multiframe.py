"""Multi-frame (offline) denoising input: frame t's noisy colour and guides averaged with frames
t-k .. t+k reprojected onto it.

An offline renderer has every frame of the shot, past and future, with exact motion (Cycles'
``Vector`` pass: XY towards the previous frame, ZW from the next, see
:func:`~neural_ops.denoise.temporal.previous_coords`). Where a neighbour shows the same surface,
its noisy colour is another independent estimate of the same pixel, so static and slowly moving
content gets up to (2k+1) x the samples before any denoiser runs. A neighbour pixel counts where

- its own motion leads back to where we came from (forward-backward consistency: an occluded or
  disoccluded pixel lands on the occluder, whose motion leads elsewhere);
- albedo, normal and depth agree with frame t's, within tolerances widened by the guides' own
  local spread (at low spp an edge pixel's guides are a different mix of a few samples in every
  frame);
- its neighbourhood is as bright as frame t's, within what noise explains (moving highlights,
  lights switched on).

The albedo and normal are averaged over the same frames (the denoiser then sees guides as clean
as the colour). Neighbours are reached hop by hop (t -> t-1 -> t-2 with each frame's own
motion); a neighbour that agrees almost nowhere (a cut, a flash) ends the walk in that
direction; near an end of the shot the other side gives the missing frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..core.errors import PassSetError
from ..core.metrics import LUMA
from ..core.motion import guide_spread, guides, same_surface_within, walk
from ..core.passset import NOISY_PASS, PassSet, noisy_combined
from ..core.registry import GUIDE_PASSES
from ..core.sampling import bilinear, box_filter


@dataclass
class WindowParams:
    """How neighbouring frames are gathered.

    Attributes:
        frames_window: k, the frames used on each side of frame t (0: frame t alone).
        max_albedo: largest albedo difference (any channel) for a neighbour pixel to count, plus
            ``guide_noise`` times the two pixels' local albedo spread.
        min_normal_dot: smallest dot product of the two normals, less ``guide_noise`` times their
            local normal spread.
        max_depth: largest relative depth difference (loose: a moving object's or camera's depth
            changes between frames; occlusions are the round trip's to catch).
        max_color: largest difference of local brightness (log luminance averaged over 5x5
            pixels) between frame t and a neighbour beyond what their noise explains: the same
            surface lit differently (a moving highlight, a light switched on) is not gathered.
        min_agree: a neighbour frame agreeing on less than this fraction of frame t's pixels is
            taken for a cut: it and the frames beyond it are not used.
        nearest: take each neighbour's pixel nearest to the reprojected position (its noise stays
            independent per pixel, as the denoiser expects; measured better than interpolating,
            which smears noise into blobs), else interpolate bilinearly.
        max_roundtrip: largest distance in pixels between a pixel and where the neighbour's own
            motion (the other way) takes its reprojected position back (forward-backward
            consistency: an occluded or disoccluded pixel lands on the occluder, whose motion leads
            elsewhere); 0 turns the test off.
        guide_noise: how far the guides' own noise widens the albedo and normal tolerances: at 4
            spp an edge or texture boundary pixel's guides are a mix of a few samples and differ
            between frames even where the pixel shows the same thing (measured: without it most
            edge pixels and the whole of a textured floor's cell borders gather nothing).
        slide: near an end of the shot, take the frames missing on one side from the other
            (2k + 1 frames everywhere). Off by default: measured, the far frames it adds hurt
            more than their samples help on moving objects and fast moves.
        unique: a neighbour pixel is gathered into at most one pixel of frame t (the nearest):
            where motion stretches the image several pixels round to the same source, and
            sharing it would correlate their noise, which a denoiser takes for detail.
        rest_window: with Cycles' diffuse passes the diffuse part of the colour (view-independent)
            is gathered from k frames each side and the rest (glossy, transmission, emission:
            it moves with the view) from at most this many.
    """

    frames_window: int = 2
    max_albedo: float = 0.1
    min_normal_dot: float = 0.9
    max_depth: float = 0.3
    max_color: float = 0.1
    min_agree: float = 0.2
    nearest: bool = True
    max_roundtrip: float = 1.0
    guide_noise: float = 4.0
    slide: bool = False
    unique: bool = True
    rest_window: int = 1

    def check(self) -> None:
        if not 0 <= self.frames_window <= 16:
            raise PassSetError(f"frames_window must be 0 to 16, got {self.frames_window}")
        if not (0 <= self.min_agree <= 1 and 0 <= self.max_albedo and -1 <= self.min_normal_dot <= 1
                and 0 <= self.max_depth and 0 < self.max_color and 0 <= self.max_roundtrip
                and 0 <= self.guide_noise):
            raise PassSetError("frames window thresholds out of range")


#: Cycles' diffuse light passes: (direct + indirect) x colour is the diffuse part of the image.
DIFFUSE_PASSES = ("Diffuse Direct", "Diffuse Indirect", "Diffuse Color")

#: The passes :meth:`Frame.of` reads (a reader may ask for just these).
FRAME_PASSES = ("Combined", NOISY_PASS, "Vector", *GUIDE_PASSES, *DIFFUSE_PASSES)


@dataclass
class Frame:
    """What gathering needs of one rendered frame: noisy colour (H, W, 3), guides (H, W, 7:
    albedo, normal, log depth) and motion (H, W, 4), top row first; with ``diffuse``, the
    diffuse part of the colour (Cycles' diffuse direct + indirect times diffuse colour), gathered
    apart from the rest (:attr:`WindowParams.rest_window`)."""

    color: np.ndarray
    guides: np.ndarray
    vector: np.ndarray
    source: str = ""
    diffuse: np.ndarray | None = None
    brightness: np.ndarray | None = None
    spread: np.ndarray | None = None
    rest_brightness: np.ndarray | None = None

    def __post_init__(self):
        if self.brightness is None:
            self.brightness = local_brightness(self.color if self.diffuse is None else self.diffuse)
        if self.spread is None:
            self.spread = guide_spread(self.guides)
        if self.diffuse is not None and self.rest_brightness is None:
            self.rest_brightness = local_brightness(self.color - self.diffuse)

    @property
    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(colour, local brightness) of what is gathered: the whole colour, or its diffuse part
        and the rest (they sum to the colour)."""
        if self.diffuse is None:
            return [(self.color, self.brightness)]
        return [(self.diffuse, self.brightness), (self.color - self.diffuse, self.rest_brightness)]

    @classmethod
    def of(cls, passes: PassSet) -> Frame:
        if "Vector" not in passes:
            raise PassSetError(f"{passes.source}: multi-frame denoising needs the Vector pass "
                               "(enable Vector in the view layer's passes; motion blur must be off)")
        noisy = noisy_combined(passes)
        color = np.maximum(noisy.color, 0.0).astype(np.float32)
        diffuse = None
        if all(n in passes for n in DIFFUSE_PASSES):
            dd, di, dc = (passes.get(n)[..., :3] for n in DIFFUSE_PASSES)
            diffuse = np.minimum(np.maximum((dd + di) * dc, 0.0), color).astype(np.float32)
        return cls(color, guides(passes), passes.get("Vector").astype(np.float32), passes.source, diffuse)


def local_brightness(color: np.ndarray, size: int = 5) -> np.ndarray:
    """(H, W, 2) float32: log luminance averaged over ``size`` x ``size`` pixels (edges
    replicated), and the variance of that mean (the pixels' variance / size^2): what a pixel's
    neighbourhood looks like, and how far noise alone moves it."""
    lum = np.log1p(np.maximum(color, 0.0) @ LUMA).astype(np.float32)
    mean = box_filter(lum, size // 2)
    var = np.maximum(box_filter(lum * lum, size // 2) - mean * mean, 0.0) / (size * size)
    return np.stack([mean, var], axis=2).astype(np.float32)


class Gathered(NamedTuple):
    """Frame t gathered with its neighbours: colour (H, W, 3), frames used per pixel (H, W, >= 1),
    albedo + normal (H, W, 6) averaged over the same frames (at low spp the guides are noisy
    too, at edges and on textures: averaged, they match the averaged colour) and, when the
    frames have Cycles' diffuse passes, the colour's two parts gathered apart (diffuse, rest;
    they sum to ``color``), for :meth:`denoise` to denoise apart."""

    color: np.ndarray
    count: np.ndarray
    guides: np.ndarray
    parts: tuple[np.ndarray, ...] = ()

    def apply(self, passes: PassSet, part: int | None = None) -> PassSet:
        """``passes`` with the gathered colour (or one of its ``parts``), albedo and normal in
        place of frame t's own."""
        from ..core.passset import ALBEDO_PASSES, NORMAL_PASSES, Pass

        ps = with_color(passes, self.color if part is None else self.parts[part])
        new = dict(ps.passes)
        for names, g in ((ALBEDO_PASSES, self.guides[..., 0:3]), (NORMAL_PASSES, self.guides[..., 3:6])):
            name = next((n for n in names if n in new), None)
            if name is None:
                continue
            if names is NORMAL_PASSES:
                length = np.linalg.norm(g, axis=2, keepdims=True)
                g = np.where(length > 1e-6, g / np.maximum(length, 1e-6), g)
            old = new[name]
            px = old.pixels.astype(np.float32, copy=True)
            px[..., 0:3] = g
            new[name] = Pass(px, old.channels, old.half)
        return dataclasses.replace(ps, passes=new)

    def denoise(self, passes: PassSet, fn) -> np.ndarray:
        """``fn(PassSet) -> image`` on the gathered frame: on each part apart, the results summed
        (the diffuse part, gathered from 2k + 1 frames, and the rest, from fewer, have different
        noise; measured on rendered shots, denoising them apart is never worse than OIDN frame by
        frame on any frame, together it was up to 1.3x on single frames), or on the whole colour."""
        if not self.parts:
            return np.asarray(fn(self.apply(passes)), np.float32)
        return sum(np.asarray(fn(self.apply(passes, i)), np.float32) for i in range(len(self.parts)))


def _first_claim(xs, ys, x, y, ok, w) -> np.ndarray:
    """(H, W) bool: of the pixels of ``ok`` whose nearest source pixel (xs, ys) is the same,
    only the one closest to it. Where motion stretches the image, several pixels round to one
    source pixel; gathering it into all of them would make their noise correlated, which a
    denoiser takes for detail."""
    keep = np.zeros(ok.shape, bool)
    iy, ix = np.nonzero(ok)
    if not len(iy):
        return keep
    src = ys[iy, ix].astype(np.int64) * w + xs[iy, ix].astype(np.int64)
    dist = np.hypot(x[iy, ix] - xs[iy, ix], y[iy, ix] - ys[iy, ix])
    order = np.lexsort((dist, src))
    first = np.ones(len(order), bool)
    first[1:] = src[order][1:] != src[order][:-1]
    sel = order[first]
    keep[iy[sel], ix[sel]] = True
    return keep


def gather(frames: list[Frame], t: int, params: WindowParams | None = None) -> Gathered:
    """Frame ``t``'s noisy colour (and guides) averaged with its reprojected neighbours.

    Args:
        frames: consecutive frames of one shot, in order.
        t: the index in ``frames`` of the frame to build.
    """
    p = params or WindowParams()
    p.check()
    cur = frames[t]
    h, w = cur.color.shape[:2]
    for f in frames:
        if f.color.shape[:2] != (h, w):
            raise PassSetError(f"{f.source}: frame is {f.color.shape[1]}x{f.color.shape[0]}, "
                               f"{cur.source} is {w}x{h}: frames of one shot must have one size")
    layers = [c for c, _ in cur.layers] if all(f.diffuse is not None for f in frames) else [cur.color]
    split = len(layers) == 2
    totals = [c.astype(np.float64) for c in layers]
    counts = [np.ones((h, w), np.float64) for _ in layers]
    gsum = cur.guides[..., 0:6].astype(np.float64)
    # k frames each side; near an end of the shot (fewer than k frames on one side in ``frames``)
    # the other side gives the missing ones, so every frame gets 2k + 1 where the shot has them.
    k = p.frames_window
    reach = {-1: k + max(0, k - (len(frames) - 1 - t)), 1: k + max(0, k - t)} if p.slide else {-1: k, 1: k}
    cur_layers = cur.layers if split else [(cur.color, cur.brightness)]
    for step in (-1, 1):
        hops = min(reach[step], t if step < 0 else len(frames) - 1 - t)
        for hop, (s, x, y, alive) in enumerate(walk(lambda i: frames[i].vector, t, step, hops, p.max_roundtrip), 1):
            nb = frames[s]
            xs, ys = (np.round(x), np.round(y)) if p.nearest else (x, y)
            hg, _ = bilinear(nb.guides, xs, ys)
            hs, _ = bilinear(nb.spread, xs, ys)
            same = alive & same_surface_within(cur.guides, hg, cur.spread + hs, p.max_albedo, p.min_normal_dot,
                                               p.max_depth, p.guide_noise)
            if p.nearest and p.unique:
                same &= _first_claim(xs, ys, x, y, same, w)
            nb_layers = nb.layers if split else [(nb.color, nb.brightness)]
            for i, ((_, cb), (nc, nbr)) in enumerate(zip(cur_layers, nb_layers)):
                if i == 1 and hop > p.rest_window:
                    continue
                hc, _ = bilinear(nc, xs, ys)
                hb, _ = bilinear(nbr, x, y)
                # Lit the same: local brightness within max_color, or within what noise explains
                # (3 sigma; the noise of frame t stands for both: a neighbour's own variance grows
                # with the very highlight that should be kept out).
                tol = np.maximum(p.max_color, 3.0 * np.sqrt(2.0 * cb[..., 1]))
                ok = same & (np.abs(hb[..., 0] - cb[..., 0]) <= tol)
                if i == 0:
                    if ok.mean() < p.min_agree:
                        break  # a cut or a change of everything: nothing beyond it belongs to this shot
                    gsum += np.where(ok[..., None], hg[..., 0:6], 0.0)
                totals[i] += np.where(ok[..., None], hc, 0.0)
                counts[i] += ok
            else:
                continue
            break
    parts = tuple(np.maximum(tot / n[..., None], 0.0).astype(np.float32) for tot, n in zip(totals, counts))
    return Gathered(sum(parts).astype(np.float32), counts[0].astype(np.float32),
                    (gsum / counts[0][..., None]).astype(np.float32), parts if split else ())


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

    def gathered(self, t: int) -> Gathered:
        """Frame ``t`` gathered with its neighbours (:func:`gather`)."""
        k, n = self.p.frames_window, len(self.paths)
        # Sliding at the ends: the window stops at the shot's ends and keeps 2k + 1 frames.
        lo = max(0, min(t - k, n - 1 - 2 * k)) if self.p.slide else max(0, t - k)
        hi = min(n - 1, lo + 2 * k if self.p.slide else t + k)
        for i in [i for i in self._frames if i < lo]:
            del self._frames[i]
        frames = [self.frame(i) for i in range(lo, hi + 1)]
        return gather(frames, t - lo, self.p)

    @staticmethod
    def bytes_per_pixel(k: int) -> int:
        """Memory the window holds per pixel of a frame (float32 colour, diffuse, guides, motion,
        brightness, spread)."""
        return (2 * k + 1) * 23 * 4 + 64
