"""Render 1 in N's learned blend of the carried key frames: per pixel, how much of each key, and
how much of the carried direct light, frame t gets (the features, and the model run without torch).

:func:`neural_ops.novel_view.motion.carry` follows frame t's pixels to its two key frames and
reads them there. The linear blend weighs each key by its closeness in time; where the keys
disagree (a highlight or a shadow that moved, glass, a spinning metal object) one of them is
often right and the other wrong, and only frame t's own auxiliary render can tell which: its
1-spp direct light (no bounces) is noisy but shows the shadows and highlights where they are now.
A small U-Net (:mod:`.key_blend_net`) sees both keys' carried images and direct light, its own
direct light, guides and checks, and predicts, per pixel:

- a logit per key added to the log of its linear weight: ``w_j ∝ base_j exp(d_j)``, so a key
  whose walk failed keeps weight 0 and an untrained model (zero output layer) is the linear blend;
- a gain on the blended direct light passes (``exp(g)``, ``|g| <= log 4``): a shadow that moved
  darkens, a highlight that arrived brightens, the indirect light is left as carried.

One set of weights mixes every pass and the gain scales the direct passes and ``Combined`` by the
same amount, so the synthesised passes add up as a render's do. Safe where unsure: both outputs
start at "no change", and the weights stay convex over the keys' own pixels.

Feature layout, (FEATURES, H, W) float32 (:func:`features`), images divided by frame t's albedo
+ 0.02 and by the frame's scale (the mean of the carried images), then log1p:

======  =================================================================
0:3     key 0's carried image (``Combined``)
3:6     key 0's carried direct light
6       key 0's linear weight (:meth:`~.motion.Carried.base_weights`, with fill)
7       key 0's walk held and its guides match
8       key 0's walk ended inside the frame
9       largest albedo difference to frame t's (clipped to 1)
10      normals' dot product
11      |log depth difference| (clipped to 2)
12:24   the same for key 1 (zeros when there is one key)
24:27   frame t's own direct light (the auxiliary render's ``Combined``)
27:30   frame t's albedo
30:33   frame t's normal
33      no surface (the world)
34:37   with ``key_aux``: key 0's own auxiliary render (its 1-spp direct light) carried
37:40   with ``key_aux``: the same for key 1
======  =================================================================

``key_aux`` (a model's config): beside frame t's 1-spp direct light, each key's own, read where
the walk ended: the same noise, so where they differ the light moved (a shadow, a highlight).

Output (3, H, W): the two keys' weights (summing to 1 where any key counts, else 0) and the gain.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

FEATURES = 34
PER_KEY = 12
#: Channels added by ``key_aux`` (each key's carried auxiliary ``Combined``).
KEY_AUX = 6


def n_features(key_aux: bool = False) -> int:
    """The feature channels of a model with or without ``key_aux``."""
    return FEATURES + (KEY_AUX if key_aux else 0)

#: The gain's bound: exp(+-GAIN_LOG) (a shadow can at most quarter the direct light, a highlight quadruple it).
GAIN_LOG = float(np.log(4.0))
#: A key's logit offset is clipped to +-LOGIT_MAX (e^8: one key can outweigh the other fully).
LOGIT_MAX = 8.0
#: Added to frame t's albedo before dividing by it (as :data:`.motion.ALBEDO_EPS`).
EPS = 0.02
#: The largest frame (pixels) the model runs on whole; bigger frames are run strided
#: (:meth:`KeyBlend._strided`: at 1920x1080, every 3rd pixel, 640x360).
MAX_NET_PIXELS = 640 * 360


def frame_scale(c) -> float:
    """The mean of the carried images divided by frame t's albedo (where any key counts): what the
    image features are divided by, so dark and bright shots look alike to the model."""
    a = c.guides[..., 0:3] + EPS
    vals = [st[..., 0:3] / a for st in c.stacks]
    w = sum(v.astype(np.float32) for v in c.inside)
    num = sum(float((v.mean(axis=2) * ins).sum()) for v, ins in zip(vals, c.inside))
    return max(num / max(float(w.sum()), 1.0), 1e-4)


def features(c, base: list[np.ndarray], key_aux: bool = False) -> np.ndarray:
    """(n_features(key_aux), H, W) float32 of a :class:`~neural_ops.novel_view.motion.Carried`
    frame and its linear weights ``base`` (see the module for the layout; ``key_aux`` needs the
    frame carried with ``key_aux``)."""
    g = c.guides
    h, w = g.shape[:2]
    a = g[..., 0:3] + EPS
    s = frame_scale(c)
    out = np.zeros((n_features(key_aux), h, w), np.float32)
    if key_aux and not c.carried_aux:
        raise ValueError("features(key_aux=True) needs the frame carried with key_aux=True")

    def img(x):
        return np.log1p(np.maximum(x, 0.0) / (a * s)).transpose(2, 0, 1)

    direct = c.direct()
    for j in range(len(c.use)):
        o = PER_KEY * j
        hg = c.carried_guides[j]
        out[o:o + 3] = img(c.stacks[j][..., 0:3])
        out[o + 3:o + 6] = img(direct[j])
        out[o + 6] = base[j]
        out[o + 7] = c.valid[j]
        out[o + 8] = c.inside[j]
        out[o + 9] = np.clip(np.abs(hg[..., 0:3] - g[..., 0:3]).max(axis=2), 0.0, 1.0)
        out[o + 10] = (hg[..., 3:6] * g[..., 3:6]).sum(axis=2)
        out[o + 11] = np.clip(np.abs(hg[..., 6] - g[..., 6]), 0.0, 2.0)
    out[24:27] = img(c.target.get("Combined")[..., :3])
    out[27:30] = g[..., 0:3].transpose(2, 0, 1)
    out[30:33] = g[..., 3:6].transpose(2, 0, 1)
    out[33] = g[..., 6] >= 29.0  # guides() puts log depth 30 where no surface was hit
    if key_aux:
        for j in range(len(c.use)):
            out[FEATURES + 3 * j:FEATURES + 3 * j + 3] = img(c.carried_aux[j])
    return out


class KeyBlend:
    """A learned key blend, run by ONNX Runtime (``graph``) or torch (``net``): the ``blend`` that
    :func:`neural_ops.novel_view.motion.interpolate` takes."""

    def __init__(self, graph=None, net=None, max_pixels: int | None = MAX_NET_PIXELS):
        self.graph, self.net = graph, net
        self.max_pixels = max_pixels
        meta = graph.meta.get("config", {}) if graph is not None else net.cfg.to_dict()
        self.cfg = SimpleNamespace(**meta)
        #: Whether the frame must be carried with each key's auxiliary render (``carry(key_aux=)``).
        self.key_aux = bool(meta.get("key_aux", False))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(3, H, W) float32 of features (n_features, H, W): the two weights and the gain."""
        if self.graph is not None:
            from ..nn.onnx_backend import pad_to

            h, w = x.shape[-2:]
            return self.graph.run(raw=pad_to(x[None], self.graph.multiple))[0][0, :, :h, :w]
        import torch

        with torch.inference_mode():
            return self.net(torch.from_numpy(x)[None])[0].numpy()

    def __call__(self, c, base: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray | None]:
        if len(c.use) < 2:  # one key: nothing to choose between
            return base, None
        h, w = c.guides.shape[:2]
        s = net_stride(h, w, self.max_pixels)
        if s == 1:
            y = self.predict(features(c, base, self.key_aux))
            return [y[0], y[1]], y[2] if c.lights else None
        return self._strided(c, base, s)

    def _strided(self, c, base: list[np.ndarray], s: int) -> tuple[list[np.ndarray], np.ndarray | None]:
        """The model run on every ``s``-th pixel of every ``s``-th row (a frame of the size it
        learned on, its pixels as rendered: binary checks, 1-spp noise), its choice between the
        keys (the logit difference, where both keys count there) and its gain spread back over
        the frame bilinearly and applied to the frame's own linear weights: a key whose walk
        failed at a pixel still gets 0 there."""
        from ..core.sampling import bilinear
        from .holes import push_pull

        sub = c.strided(s)
        bsub = [np.ascontiguousarray(b[::s, ::s]) for b in base]
        y = self.predict(features(sub, bsub, self.key_aux))
        both = (bsub[0] > 0) & (bsub[1] > 0)
        tiny = 1e-12
        # w0 / w1 = (b0 / b1) exp(d): d is what the model adds to the linear blend's log ratio.
        d = np.log(np.maximum(y[0], tiny) / np.maximum(y[1], tiny)) - np.log(np.maximum(bsub[0], tiny)
                                                                              / np.maximum(bsub[1], tiny))
        d = np.clip(np.where(both, d, 0.0), -2 * LOGIT_MAX, 2 * LOGIT_MAX).astype(np.float32)
        low = np.stack([d, np.log(np.maximum(y[2], tiny)).astype(np.float32)], axis=2)
        low[..., 0:1] = push_pull(low[..., 0:1], both) if both.any() else 0.0
        h, w = c.guides.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        up, _ = bilinear(low, xx / s, yy / s)
        e = np.exp(np.clip(up[..., 0], -2 * LOGIT_MAX, 2 * LOGIT_MAX))
        w0, w1 = base[0] * e, base[1]
        tot = w0 + w1
        inv = np.where(tot > 0, 1.0 / np.maximum(tot, tiny), 0.0)
        gain = np.exp(np.clip(up[..., 1], -GAIN_LOG, GAIN_LOG)).astype(np.float32) if c.lights else None
        return [(w0 * inv).astype(np.float32), (w1 * inv).astype(np.float32)], gain


def net_stride(h: int, w: int, max_pixels: int | None) -> int:
    """Every how many pixels the model runs on an (h, w) frame: 1 up to ``max_pixels`` (None: always 1)."""
    if not max_pixels or h * w <= max_pixels:
        return 1
    return int(np.ceil(np.sqrt(h * w / max_pixels)))


def load_key_blend(weights: str = "", model: str = "", backend: str = "auto") -> KeyBlend:
    """The learned key blend of a ``.safetensors`` path or a shipped ``inbetween_NAME`` (default
    ``default``), in ONNX Runtime where it can run, else torch."""
    from ..nn.runtime import choose_backend, onnx_path
    from ..nn.weights import resolve_weights

    wpath, _card, _key = resolve_weights("inbetween", model, weights, "default", "Render 1 in N blend")
    if choose_backend(backend, wpath) == "onnx":
        from ..nn.onnx_backend import load_graph

        return KeyBlend(graph=load_graph(onnx_path(wpath)))
    from .key_blend_net import load_key_blend_net

    return KeyBlend(net=load_key_blend_net(weights=weights, model=model)[0])
