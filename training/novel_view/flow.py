"""Optical-flow frame interpolation of rendered key frames: the renderer-unaware baseline of
Render 1 in N (what a user does today with a flow interpolator such as RIFE inside Flowframes,
whose weights cannot be had here).

Classical, after Baker et al. 2011 ("A Database and Evaluation Methodology for Optical Flow",
their interpolation algorithm), with OpenCV's DIS flow (Kroeger et al. 2016) both ways between
the two key frames' display images:

1. the flow 0 -> 1 is splatted forward to time t from both keys (frame 0's pixels by alpha times
   their flow, frame 1's by 1 - alpha times theirs); where several land on one pixel, the one
   whose two ends look most alike wins; pixels nobody lands on are filled from their neighbours;
2. each pixel of frame t then reads frame 0 at x - alpha u and frame 1 at x + (1 - alpha) u;
3. occlusions: a pixel of frame 0 that no pixel of frame 1 flows to is hidden in frame 1 (only
   frame 0 is used for it), and the other way round; elsewhere the two are blended by time.

Needs ``opencv-python-headless`` (``make env`` installs it).
"""

from __future__ import annotations

import numpy as np

from neural_ops.core.imageio import to_display
from neural_ops.core.metrics import srgb_encode
from neural_ops.core.sampling import bilinear
from neural_ops.novel_view.holes import push_pull


def _gray8(rgb: np.ndarray) -> np.ndarray:
    d = to_display(np.maximum(rgb[..., :3], 0.0)).astype(np.float32)
    return np.clip(0.299 * d[..., 0] + 0.587 * d[..., 1] + 0.114 * d[..., 2] + 0.5, 0, 255).astype(np.uint8)


def flows(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> tuple[np.ndarray, np.ndarray]:
    """DIS optical flow a -> b and b -> a of two linear RGB frames: (H, W, 2) each, pixels."""
    try:
        import cv2
    except ImportError as e:
        raise RuntimeError("the optical-flow baseline needs opencv-python-headless (make env)") from e
    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    dis = cv2.DISOpticalFlow_create(presets[preset])
    ga, gb = _gray8(a), _gray8(b)
    return dis.calc(ga, gb, None), dis.calc(gb, ga, None)


def _splat(flow: np.ndarray, scale: float, value: np.ndarray, error: np.ndarray):
    """Forward-splat ``value`` (H, W, C) of each pixel to its pixel + ``scale`` x ``flow``
    (nearest), keeping the lowest ``error`` where several land: (splatted, hit mask)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    tx = np.rint(xs + scale * flow[..., 0]).astype(np.int64)
    ty = np.rint(ys + scale * flow[..., 1]).astype(np.int64)
    ok = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    idx = (ty * w + tx)[ok]
    err = error[ok]
    val = value[ok]
    order = np.lexsort((err, idx))  # by target, then error: the first of each target wins
    idx, val = idx[order], val[order]
    first = np.ones(idx.shape, bool)
    first[1:] = idx[1:] != idx[:-1]
    out = np.zeros((h * w, value.shape[-1]), np.float32)
    hit = np.zeros(h * w, bool)
    out[idx[first]] = val[first]
    hit[idx[first]] = True
    return out.reshape(h, w, -1), hit.reshape(h, w)


def interpolate(a: np.ndarray, b: np.ndarray, alpha: float, flow_ab=None, flow_ba=None) -> np.ndarray:
    """The frame at ``alpha`` in (0, 1) between key frames ``a`` (0) and ``b`` (1), linear RGB
    (H, W, 3). ``flow_ab``/``flow_ba``: the flows (:func:`flows`), computed when not given."""
    if flow_ab is None or flow_ba is None:
        flow_ab, flow_ba = flows(a, b)
    a, b = a[..., :3].astype(np.float32), b[..., :3].astype(np.float32)
    h, w = a.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    da, db = srgb_encode(np.maximum(a, 0)), srgb_encode(np.maximum(b, 0))
    # How well each pixel's flow matches: its colour against the other frame's at its end.
    err_a = np.abs(da - bilinear(db, xs + flow_ab[..., 0], ys + flow_ab[..., 1])[0]).sum(axis=2)
    err_b = np.abs(db - bilinear(da, xs + flow_ba[..., 0], ys + flow_ba[..., 1])[0]).sum(axis=2)
    # The motion 0 -> 1 at time t (and how well it matched), splatted from both keys.
    ue_a, hit_a = _splat(flow_ab, alpha, np.concatenate([flow_ab, err_a[..., None]], axis=2), err_a)
    ue_b, hit_b = _splat(flow_ba, 1.0 - alpha, np.concatenate([-flow_ba, err_b[..., None]], axis=2), err_b)
    use_b = hit_b & (~hit_a | (ue_b[..., 2] < ue_a[..., 2]))
    u = np.where(use_b[..., None], ue_b[..., :2], ue_a[..., :2])
    u = push_pull(u, hit_a | hit_b)
    # Occlusions: pixels of a that nothing in b flows to are hidden in b, and the other way round.
    _, seen_from_b = _splat(flow_ba, 1.0, np.zeros((h, w, 1), np.float32), err_b)
    _, seen_from_a = _splat(flow_ab, 1.0, np.zeros((h, w, 1), np.float32), err_a)
    xa, ya = xs - alpha * u[..., 0], ys - alpha * u[..., 1]
    xb, yb = xs + (1 - alpha) * u[..., 0], ys + (1 - alpha) * u[..., 1]
    img_a, in_a = bilinear(a, xa, ya)
    img_b, in_b = bilinear(b, xb, yb)
    hidden_in_b = bilinear((~seen_from_b).astype(np.float32)[..., None], xa, ya)[0][..., 0] > 0.5
    hidden_in_a = bilinear((~seen_from_a).astype(np.float32)[..., None], xb, yb)[0][..., 0] > 0.5
    wa = np.full((h, w), 1.0 - alpha, np.float32)
    wb = np.full((h, w), alpha, np.float32)
    wa = np.where(hidden_in_a & ~hidden_in_b, 0.0, wa) * in_a
    wb = np.where(hidden_in_b & ~hidden_in_a, 0.0, wb) * in_b
    tot = wa + wb
    wa = np.where(tot > 0, wa / np.maximum(tot, 1e-6), 1.0 - alpha)
    wb = np.where(tot > 0, wb / np.maximum(tot, 1e-6), alpha)
    return (img_a * wa[..., None] + img_b * wb[..., None]).astype(np.float32)
