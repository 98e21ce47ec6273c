"""The optical-flow interpolation baseline of Render 1 in N (OpenCV DIS)."""

import numpy as np
import pytest

pytest.importorskip("cv2", reason="needs opencv-python-headless (make env installs it with --no-deps)")

from neural_ops.core.metrics import psnr  # noqa: E402
from training.novel_view.flow import flows, interpolate  # noqa: E402


def _texture(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    img = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w]
    return (0.3 * img + 0.35 + 0.3 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 5.0)[..., None]).astype(np.float32)


def _frame(bg, shift, disc_x):
    """``bg`` shifted right by ``shift`` pixels with a textured disc at ``disc_x``."""
    img = np.roll(bg, shift, axis=1).copy()
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    m = (xx - disc_x) ** 2 + (yy - h / 2) ** 2 < 14**2
    img[m] = (0.9 * np.stack([0.8 + 0.2 * np.sin(xx / 2.0), 0.3 + 0.0 * xx, 0.2 + 0.1 * np.cos(yy / 2.0)], -1))[m]
    return img


def test_flow_recovers_a_pan():
    bg = _texture()
    fab, fba = flows(bg, np.roll(bg, 3, axis=1))
    inner = (slice(10, -10), slice(10, -10))
    assert np.median(fab[inner][..., 0]) == pytest.approx(3.0, abs=0.2)
    assert np.median(fba[inner][..., 0]) == pytest.approx(-3.0, abs=0.2)


def test_interpolated_frame_is_closer_than_either_key():
    bg = _texture()
    a, mid, b = _frame(bg, 0, 50), _frame(bg, 2, 56), _frame(bg, 4, 62)
    out = interpolate(a, b, 0.5)
    inner = (slice(4, -4), slice(8, -8))
    assert out.shape == a.shape and np.isfinite(out).all()
    got = psnr(out[inner], mid[inner])
    assert got > psnr(a[inner], mid[inner]) + 6
    assert got > psnr(0.5 * (a + b)[inner], mid[inner]) + 4
