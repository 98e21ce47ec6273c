"""Render 1 in N along the render's own motion: a frame between rendered key frames, carried from
the keys along every frame's motion.

An auxiliary render of every frame (cheap: data passes, no light transport) gives each frame's
``Vector`` pass, albedo, normal, depth and the colour passes (Diffuse Color, Glossy Color, ...).
Frame t's pixels are followed hop by hop to each key frame with :func:`neural_ops.core.motion.walk`
through the auxiliary frames in between (camera moves, animated and deforming objects alike:
the renderer's own motion), checked both ways at every hop (occlusions) and at the key against
frame t's own guides (the same surface). There the key's passes are read (the key frames denoised: ``Combined`` whole, each light pass
apart, :func:`denoise_key`):

- ``Combined`` is carried as it is (measured on a camera move at 320x180: 43.9 dB against the
  frame rendered, where carrying the light passes demodulated by the albedo and rebuilding
  ``Combined`` from them, ``demodulate=True``, reached 37.5: a 1-spp auxiliary render's
  edges and textures are not the key's);
- light passes (``Diffuse Direct``, ``Glossy Indirect``, ...: light before the surface colour
  multiplies it) are carried as contributions (light x the key's colour) and divided by frame
  t's own colour, so light x colour is what was carried;
- colour and data passes (``Diffuse Color``, ``Normal``, ``Depth``, ``Vector``, albedo, ...) are
  frame t's own, from its auxiliary render: exact.

Weights: each key by its closeness in time (linear between the two keys) where its walk holds;
a pixel no key reaches (confidence 0, for a re-render) takes the keys' pixels where the walks
ended, or, outside them, its neighbours'. Confidence falls where the two
keys disagree about the same pixel (a moving highlight, a shadow that moved).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import PassSetError
from ..core.motion import guide_spread, guides, same_surface_within, walk, with_background_motion
from ..core.parallel import by_rows
from ..core.passset import PassSet
from ..core.sampling import bilinear
from .holes import push_pull

#: Light passes and the colour pass that multiplies each (Cycles' view-layer passes).
LIGHT_COLOR = {
    "Diffuse Direct": "Diffuse Color", "Diffuse Indirect": "Diffuse Color",
    "Glossy Direct": "Glossy Color", "Glossy Indirect": "Glossy Color",
    "Transmission Direct": "Transmission Color", "Transmission Indirect": "Transmission Color",
}
#: Added to the albedo before dividing by it.
ALBEDO_EPS = 0.02
#: Albedo difference at which a neighbour's weight in the demodulation falls to exp(-1/2).
ILLUMINATION_SIGMA = 0.05


@dataclass
class Interpolated:
    """A synthesised frame: its passes (name -> (H, W, C) float32), per-pixel confidence in
    [0, 1] (0: no key frame reached the pixel) and how many keys reached each pixel."""

    passes: dict[str, np.ndarray]
    confidence: np.ndarray
    reached: np.ndarray


def _illumination(img: np.ndarray, albedo: np.ndarray) -> np.ndarray:
    """``img`` demodulated by ``albedo``: sum(img) / sum(albedo + eps) over the 3x3 pixels whose
    albedo is close to the pixel's own (a joint-bilateral ratio, weights exp(-d^2 / 2 sigma^2) on
    the albedo difference d). On a texture finer than the pixels, a pixel's own ratio swings
    with where its few samples fell; the local one does not; across an albedo edge, the other
    side does not count."""
    sigma = ILLUMINATION_SIGMA
    a = (albedo + ALBEDO_EPS).astype(np.float32)
    h, w = a.shape[:2]
    pi, pa = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge"), np.pad(a, ((1, 1), (1, 1), (0, 0)), mode="edge")
    num = np.zeros_like(a)
    den = np.zeros_like(a)
    for dy in range(3):
        for dx in range(3):
            na, ni = pa[dy:dy + h, dx:dx + w], pi[dy:dy + h, dx:dx + w]
            wt = np.exp(-((na - a) ** 2).sum(axis=2, keepdims=True) / (2 * sigma * sigma))
            num += wt * ni
            den += wt * na
    return (num / den).astype(np.float32)


def _rest(ps: PassSet, lights: list[str]) -> np.ndarray:
    """``Combined``'s RGB minus what the light passes times their colours explain."""
    rest = ps.get("Combined")[..., :3].astype(np.float32).copy()
    for name in lights:
        rest -= ps.get(name)[..., :3] * ps.get(LIGHT_COLOR[name])[..., :3]
    return rest


def _key_stack(k: int, kp: PassSet, kaux: PassSet, lights: list[str], demodulate: bool,
               cache: dict | None, spread: bool = True, key_aux: bool = False) -> np.ndarray:
    """(H, W, 12 + 3 x lights) float32 of a key frame: its guides as its own auxiliary render
    has them (7: same settings as frame t's; a 1-spp render's edges and specular-chained albedo
    differ from a full render's) and their spread (2), then what is carried: the image (3:
    ``Combined``, or with ``demodulate`` the rest demodulated) and each light pass (light x
    colour, or with ``demodulate`` the light). Kept in ``cache`` (the frames between two keys
    share it). Without ``spread``, zeros for the spread (its tests are off: not computed). With
    ``key_aux``, the auxiliary render's ``Combined`` (3) after the spread."""
    tag = (k, id(kp), id(kaux), tuple(lights), demodulate, spread, key_aux)
    if cache is not None and tag in cache:
        return cache[tag]
    g = guides(kaux)
    parts = [g, guide_spread(g) if spread else np.zeros((*g.shape[:2], 2), np.float32)]
    if key_aux:
        parts.append(kaux.get("Combined")[..., :3].astype(np.float32))
    if demodulate:
        parts.append(_illumination(_rest(kp, lights), kp.albedo))
    else:  # the whole image: a key's Combined is denoised whole, its light passes apart
        parts.append(kp.get("Combined")[..., :3].astype(np.float32))
    for n in lights:
        light = kp.get(n)[..., :3].astype(np.float32)
        parts.append(light if demodulate else light * kp.get(LIGHT_COLOR[n])[..., :3])
    stack = np.ascontiguousarray(np.concatenate(parts, axis=2), dtype=np.float32)
    if cache is not None:
        cache[tag] = stack
    return stack


@dataclass
class Carried:
    """What frame ``t`` reads from its key frames, before they are blended (:func:`carry`).

    Attributes:
        t: the frame.
        use: the key frames read (one or two: the nearest before and after).
        lights: the light passes carried (:data:`LIGHT_COLOR` keys every key and the target have).
        target: frame t's auxiliary render.
        guides: (H, W, 7) frame t's guides (:func:`neural_ops.core.motion.guides`).
        stacks: per key, (H, W, 3 + 3 x lights) float32 what is carried from it, read where its
            walk ended: the image (``Combined``, or with ``demodulate`` the rest demodulated),
            then each light (its contribution light x colour, or with ``demodulate`` the light).
        carried_guides: per key, (H, W, 7) its guides read there.
        carried_aux: per key, (H, W, 3) its own auxiliary render's ``Combined`` read there (with
            ``carry(key_aux=True)``; else empty).
        valid: per key, (H, W) bool: the walk held and the guides match (the same surface).
        inside: per key, (H, W) bool: the walk ended inside the key frame.
        near: per key, its weight by closeness in time (linear between two keys).
        demodulate: how the stacks were built.
    """

    t: int
    use: list[int]
    lights: list[str]
    target: PassSet
    guides: np.ndarray
    stacks: list[np.ndarray]
    carried_guides: list[np.ndarray]
    valid: list[np.ndarray]
    inside: list[np.ndarray]
    near: list[float]
    demodulate: bool = False
    carried_aux: list[np.ndarray] = field(default_factory=list)

    def base_weights(self, fill: bool) -> list[np.ndarray]:
        """Per key, (H, W) float32 the linear blend's weight: its closeness in time where its walk
        held; with ``fill``, where no walk held, where it ended inside the key (the keys' pixels
        there are still the best guess: measured better than filling from the neighbours)."""
        weights = [np.where(ok, near, 0.0).astype(np.float32) for ok, near in zip(self.valid, self.near)]
        if fill:
            held = sum(weights) > 0
            weights = [np.where(held, wt, np.where(ins, near, 0.0)).astype(np.float32)
                       for wt, ins, near in zip(weights, self.inside, self.near)]
        return weights

    def strided(self, s: int) -> Carried:
        """Every ``s``-th pixel of every ``s``-th row (views; what a learned blend runs on at big sizes)."""
        import dataclasses

        from ..core.passset import Pass

        def sl(a):
            return a[::s, ::s]

        target = dataclasses.replace(self.target, passes={n: Pass(sl(p.pixels), p.channels, p.half)
                                                          for n, p in self.target.passes.items()})
        return dataclasses.replace(self, target=target, guides=sl(self.guides), stacks=[sl(a) for a in self.stacks],
                                   carried_guides=[sl(a) for a in self.carried_guides],
                                   valid=[sl(a) for a in self.valid], inside=[sl(a) for a in self.inside],
                                   carried_aux=[sl(a) for a in self.carried_aux])

    def direct(self) -> list[np.ndarray]:
        """Per key, (H, W, 3) float32 the carried direct light (the sum of the direct light passes'
        carried contributions; zeros without light passes or with ``demodulate``)."""
        idx = [i for i, n in enumerate(self.lights) if n in DIRECT] if not self.demodulate else []
        h, w = self.guides.shape[:2]
        return [sum((st[..., 3 + 3 * i:6 + 3 * i] for i in idx), np.zeros((h, w, 3), np.float32)) for st in self.stacks]


#: The direct light passes (a learned blend's gain scales them: light the frame's own auxiliary
#: render sees, shadows and highlights that moved).
DIRECT = ("Diffuse Direct", "Glossy Direct", "Transmission Direct")


def carry(t: int, keys: dict[int, PassSet], aux: dict[int, PassSet], max_roundtrip: float = 1.0,
          max_albedo: float = 0.1, min_normal_dot: float = 0.8, max_depth: float = 0.3,
          guide_noise: float = 0.0, demodulate: bool = False, cache: dict | None = None,
          key_aux: bool = False) -> Carried:
    """Frame ``t``'s pixels followed to the key frames around it, and what is read there (the
    arguments are :func:`interpolate`'s; ``key_aux``: each key's own auxiliary ``Combined`` too,
    :attr:`Carried.carried_aux`, where the key has an auxiliary render with one)."""
    before = [k for k in keys if k < t]
    after = [k for k in keys if k > t]
    use = ([max(before)] if before else []) + ([min(after)] if after else [])
    if not use:
        raise PassSetError(f"frame {t}: no key frame before or after it")
    frames = range(min(use + [t]), max(use + [t]) + 1)
    missing = [f for f in frames if f not in aux and f not in keys]
    if t not in aux:
        missing = [t]
    if missing:
        raise PassSetError(f"frame {t}: auxiliary render of frame {missing[0]} missing (needed to follow the "
                           "motion to the key frames)")
    target = aux[t]
    motion = {f: aux.get(f, keys.get(f)) for f in frames}
    for f, ps in list(motion.items()) + [(k, keys[k]) for k in use]:
        if "Vector" not in ps:
            raise PassSetError(f"{ps.source or f'frame {f}'}: no Vector pass (enable Vector in the view layer's "
                               "passes; motion blur must be off)")
        if ps.shape != target.shape:
            raise PassSetError(f"{ps.source or f'frame {f}'}: {ps.shape[1]}x{ps.shape[0]}, frame {t} is "
                               f"{target.shape[1]}x{target.shape[0]}: frames of one shot must have one size")
    if cache is not None:  # what belongs to other intervals goes (frames of long shots are big)
        for tag in [tag for tag in cache if (tag[1] not in frames if tag[0] == "vector" else tag[0] not in use)]:
            del cache[tag]
    vectors: dict = cache if cache is not None else {}

    def vector(f: int) -> np.ndarray:
        # The world's motion where no surface was hit (Cycles writes none; a turning camera moves it),
        # once per frame of the interval.
        tag = ("vector", f, id(motion[f]), id(motion.get(f - 1)), id(motion.get(f + 1)))
        if tag not in vectors:
            vectors[tag] = with_background_motion(motion[f], motion.get(f - 1), motion.get(f + 1))
        return vectors[tag]

    g_t = guides(target)
    # The guides' spread widens the tests only with guide_noise (off by default: not computed).
    spread_t = guide_spread(g_t) if guide_noise else None
    first = keys[use[0]]
    lights = [n for n in LIGHT_COLOR if n in first and LIGHT_COLOR[n] in first
              and all(n in keys[k] for k in use) and LIGHT_COLOR[n] in target]
    span = (max(use) - min(use)) or 1
    out = Carried(t, use, lights, target, g_t, [], [], [], [], [], demodulate)
    for k in use:
        step = -1 if k < t else 1
        *_, (_s, x, y, alive) = walk(vector, t, step, abs(k - t), max_roundtrip)
        # Everything read from the key, sampled at once (one bilinear gather of all channels).
        kaux = aux.get(k, keys[k])
        with_aux = key_aux and "Combined" in kaux
        stack = _key_stack(k, keys[k], kaux, lights, demodulate, cache, spread=bool(guide_noise), key_aux=with_aux)
        got, inside = bilinear(stack, x, y)
        hg, hs = got[..., 0:7], got[..., 7:9]
        if key_aux:
            out.carried_aux.append(got[..., 9:12] if with_aux else np.zeros((*x.shape, 3), np.float32))
        spread = spread_t + hs if guide_noise else np.zeros((1, 1, 2), np.float32)
        out.valid.append(alive & inside & same_surface_within(g_t, hg, spread, max_albedo, min_normal_dot,
                                                              max_depth, guide_noise))
        out.stacks.append(got[..., 12:] if with_aux else got[..., 9:])
        out.carried_guides.append(hg)
        out.inside.append(inside)
        out.near.append(1.0 - abs(k - t) / span if len(use) == 2 else 1.0)
    return out


def interpolate(t: int, keys: dict[int, PassSet], aux: dict[int, PassSet], max_roundtrip: float = 1.0,
                max_albedo: float = 0.1, min_normal_dot: float = 0.8, max_depth: float = 0.3,
                guide_noise: float = 0.0, disagree: float = 0.25, fill: bool = False,
                demodulate: bool = False, cache: dict | None = None, blend=None) -> Interpolated:
    """Frame ``t`` from the key frames around it.

    Args:
        t: the frame to synthesise.
        keys: frame number -> the key frame's passes (rendered in full).
        aux: frame number -> auxiliary render (``Vector``, albedo, normal, depth, colour passes)
            of every frame from the first key used to the last, ``t`` included.
        max_roundtrip, max_albedo, min_normal_dot, max_depth, guide_noise: the checks a walk
            must pass (:func:`neural_ops.core.motion.walk` and
            :func:`~neural_ops.core.motion.same_surface_within`). Strict by default: measured on
            a moving sphere at 48x40, widening the guide tests by their spread (as multi-frame
            denoising does) reaches 98.5 % of the pixels instead of 83 % but the pixels it adds,
            edges read across two surfaces, cost 4.6 dB; a pixel left out is re-rendered.
        disagree: relative difference of the two keys' demodulated colour at which confidence
            reaches 0 (half of it at half that difference).
        fill: fill the pixels no key reached: from the keys' pixels where the walks ended
            (unchecked), else (outside every key) from their neighbours (:func:`~.holes.push_pull`
            of each carried pass); their confidence stays 0. Else they are 0 with alpha 0.
        demodulate: carry the light passes demodulated (light, not light x colour) and the rest
            of the image divided by the albedo, and rebuild ``Combined`` from them with frame t's
            colours (exact textures where the auxiliary render resolves them; measured worse at
            1 spp, see the module).
        cache: a dict kept between calls (the frames between two keys): what is read from each
            key is prepared once. Keyed by frame and the pass sets' identity: do not change them.
        blend: a learned blend (:class:`neural_ops.novel_view.key_blend.KeyBlend`): called with
            the :class:`Carried` frame and the linear weights, it returns each key's weight and a
            gain (H, W) on the direct light (None: the linear blend by closeness in time). The
            same weights mix every pass, so the passes still add up.
    """
    c = carry(t, keys, aux, max_roundtrip, max_albedo, min_normal_dot, max_depth, guide_noise, demodulate, cache,
              key_aux=bool(getattr(blend, "key_aux", False)))
    if blend is not None and demodulate:
        raise ValueError("a learned blend mixes the carried contributions: it does not go with demodulate")
    target, lights, stacks, valid, a_t = c.target, c.lights, c.stacks, c.valid, c.guides[..., 0:3]
    weights = c.base_weights(fill)
    gain = None
    if blend is not None:
        weights, gain = blend(c, weights)
    wsum = sum(weights)
    reached = sum(v.astype(np.float32) for v in valid)
    norm = np.where(wsum > 0, 1.0 / np.maximum(wsum, 1e-12), 0.0)[..., None]
    seen = reached > 0
    carried_px = wsum > 0
    h, w = c.guides.shape[:2]
    depth = stacks[0].shape[2]
    # Every per-pixel step runs on bands of rows on every core (the same arithmetic, band by band).
    mixed = np.empty((h, w, depth), np.float32)

    def mix(rows: slice) -> None:
        mixed[rows] = sum(st[rows] * wt[rows, :, None] for st, wt in zip(stacks, weights)) * norm[rows]

    by_rows(mix, h, w * depth)
    if fill:
        push_pull(mixed, carried_px, inplace=True)
    cols = [target.get(LIGHT_COLOR[n]) for n in lights]
    out: dict[str, np.ndarray] = {n: np.empty((h, w, 3), np.float32) for n in lights}
    combined_out = np.empty((h, w, 4), np.float32)
    conf = np.empty((h, w), np.float32)
    direct = [i for i, n in enumerate(lights) if n in DIRECT]
    alpha = np.where(seen | fill, 1.0, 0.0).astype(np.float32)

    def finish(rows: slice) -> None:
        mx, at = mixed[rows], a_t[rows]
        if gain is not None:  # the direct light scaled, and Combined with it (the passes still add up)
            g = gain[rows, :, None].astype(np.float32)
            for i in direct:
                sl = mx[..., 3 + 3 * i:6 + 3 * i]
                mx[..., 0:3] += (g - 1.0) * sl
                sl *= g
        combined = mx[..., 0:3] * (at + ALBEDO_EPS) if demodulate else mx[..., 0:3]
        for i, n in enumerate(lights):
            col = cols[i][rows, :, :3]
            if demodulate:
                out[n][rows] = mx[..., 3 + 3 * i:6 + 3 * i]
                combined = combined + out[n][rows] * col
            else:
                contrib = mx[..., 3 + 3 * i:6 + 3 * i]
                out[n][rows] = np.where(col > 1e-3, contrib / np.maximum(col, 1e-3), 0.0)
        # The keys' demodulated images, to see where they disagree.
        cf = np.where(reached[rows] > 0, 1.0, 0.0).astype(np.float32)
        if len(c.use) == 2:
            both = valid[0][rows] & valid[1][rows]
            if demodulate:
                demod = [st[rows, :, 0:3] + sum(st[rows, :, 3 + 3 * i:6 + 3 * i] * cols[i][rows, :, :3]
                                                for i in range(len(lights))) / (at + ALBEDO_EPS) for st in stacks]
            else:
                demod = [st[rows, :, 0:3] / (at + ALBEDO_EPS) for st in stacks]
            diff = (np.abs(demod[0] - demod[1]).mean(axis=2)
                    / (0.5 * np.abs(demod[0] + demod[1]).mean(axis=2) + 1e-3))
            cf = np.where(both, np.clip(1.0 - diff / disagree, 0.0, 1.0), cf * 0.5)
        conf[rows] = cf
        combined_out[rows, :, 0:3] = np.maximum(combined, 0.0)
        combined_out[rows, :, 3] = alpha[rows]

    by_rows(finish, h, w * depth)
    out["Combined"] = combined_out
    # Frame t's own colour and data passes, exact from its auxiliary render.
    for name, px in target.passes.items():
        if name not in out and name not in LIGHT_COLOR and name != "Combined":
            out[name] = px.pixels.astype(np.float32)
    return Interpolated(out, conf, reached)


#: Confidence -> mean per-pixel FLIP of the synthesised frames against every frame rendered,
#: measured by ``neural-render eval inbetween`` (objects shot, 320x180, N = 4 and 8; the bins'
#: means placed at their centres): what ``inbetween --max-flip`` predicts a tile's error from.
EXPECTED_FLIP = ((0.0, 0.23), (0.5, 0.15), (0.625, 0.075), (0.825, 0.045), (0.95, 0.021), (1.0, 0.01))

#: Measured mean FLIP of a frame after its worst tiles were re-rendered, per FLIP expected from
#: the confidence of what is left (0.82-0.85 on the objects and thin shots, N = 4, targets
#: 0.05-0.065): a re-rendered tile also lowers its neighbours' FLIP, whose filters see across
#: it. ``inbetween --max-flip F`` aims the expected mean at F divided by this.
FLIP_AFTER_RERENDER = 0.85


def rerender_target(max_flip: float) -> float:
    """The mean expected FLIP (:func:`expected_flip`) a frame's re-renders aim at so that its
    measured FLIP meets ``max_flip``."""
    return max_flip / FLIP_AFTER_RERENDER


def expected_flip(confidence: np.ndarray) -> np.ndarray:
    """(H, W) float32: the FLIP error a synthesised pixel of this confidence is expected to have
    (:data:`EXPECTED_FLIP`, linear between its points)."""
    xs, ys = zip(*EXPECTED_FLIP)
    return np.interp(np.asarray(confidence, np.float32), xs, ys).astype(np.float32)


def denoise_key(ps: PassSet) -> PassSet:
    """A key frame's passes as a finished render has them: ``Combined`` through OIDN, and each
    light pass through OIDN as light x its colour pass (what OIDN is made for: an image with
    the albedo guide), divided back by the colour where it is not black. Without pyoidn, the
    passes as rendered, with a note. Returns a copy; ``ps`` is untouched."""
    import dataclasses

    from ..core.notes import note
    from ..core.oidn import oidn_denoise, oidn_unavailable
    from ..core.passset import Pass

    out = dataclasses.replace(ps, passes=dict(ps.passes), meta=dict(ps.meta))
    missing = oidn_unavailable()
    if missing:
        note(f"{ps.source}: key frame used as rendered, not denoised ({missing})")
        return out
    comb = ps.passes["Combined"]
    px = comb.pixels.astype(np.float32, copy=True)
    px[..., :3] = oidn_denoise(ps)
    out.passes["Combined"] = Pass(px, comb.channels, False)
    for name, col in LIGHT_COLOR.items():
        if name not in ps or col not in ps:
            continue
        c = ps.get(col)[..., :3].astype(np.float32)
        light = ps.get(name)[..., :3].astype(np.float32)
        den = oidn_denoise(ps, color=light * c)
        old = ps.passes[name]
        px = old.pixels.astype(np.float32, copy=True)
        px[..., :3] = np.where(c > 1e-3, den / np.maximum(c, 1e-3), light)
        out.passes[name] = Pass(px, old.channels, False)
    return out
