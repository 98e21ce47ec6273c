import numpy as np
import pytest
from skimage.metrics import structural_similarity

from neural_ops import OpError
from neural_ops.core.metrics import all_metrics, flip, format_table, psnr, relmse, srgb_encode, ssim


def test_identical_images(rng):
    x = rng.random((32, 32, 3)).astype(np.float32) * 2
    m = all_metrics(x, x)
    assert m["relMSE"] == 0 and m["PSNR"] == float("inf") and m["SSIM"] == pytest.approx(1.0)
    assert m["FLIP"] == pytest.approx(0.0, abs=1e-6)


def test_relmse_definition():
    ref = np.full((2, 2, 3), 1.0, np.float32)
    x = ref + 0.5
    assert relmse(x, ref) == pytest.approx(0.25 / 1.01)


def test_psnr_known_value():
    ref = np.zeros((4, 4, 3), np.float32)
    x = np.full((4, 4, 3), 0.1, np.float32)  # display value of linear 0.1
    d = srgb_encode(x)[0, 0, 0]
    assert psnr(x, ref) == pytest.approx(10 * np.log10(1 / d**2), rel=1e-5)


def test_ssim_matches_scikit_image(rng):
    ref = rng.random((40, 40, 3)).astype(np.float32)
    x = np.clip(ref + 0.1 * rng.standard_normal(ref.shape), 0, 1).astype(np.float32)
    a, b = srgb_encode(x), srgb_encode(ref)
    expect = structural_similarity(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(x, ref) == pytest.approx(expect, abs=2e-3)


def test_metrics_order_noisy_vs_clean(rng):
    ref = rng.random((32, 32, 3)).astype(np.float32)
    small = ref + 0.02 * rng.standard_normal(ref.shape).astype(np.float32)
    big = ref + 0.2 * rng.standard_normal(ref.shape).astype(np.float32)
    assert flip(np.maximum(small, 0), ref) < flip(np.maximum(big, 0), ref)
    assert psnr(small, ref) > psnr(big, ref) and ssim(small, ref) > ssim(big, ref)


def test_shape_mismatch():
    with pytest.raises(OpError, match="differ in shape"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


def test_table_has_row_per_method():
    t = format_table({"a": {"PSNR": 30.0, "SSIM": 0.9}}, {"a": {"s/MP": "1.0"}})
    assert "| a | 30.00 | 0.9000 | 1.0 |" in t


def test_png_strip_round_trip(tmp_path, rng):
    from PIL import Image

    from neural_ops.core.imageio import side_by_side, to_display, write_png

    a = to_display(rng.random((20, 30, 3)).astype(np.float32))
    strip = side_by_side([a, a], labels=["noisy", "oidn"])
    assert strip.shape == (36, 64, 3)
    p = write_png(tmp_path / "s.png", strip)
    assert np.array_equal(np.asarray(Image.open(p).convert("RGB")), strip)
