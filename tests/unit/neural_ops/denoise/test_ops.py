import numpy as np
import pytest

from neural_ops import OpError, PassSetError, get_op, list_ops
from neural_ops.denoise.bilateral import BilateralParams, cross_bilateral
from neural_ops.denoise.spikes import SpikeParams, remove_spikes, spike_mask
from tests.conftest import make_passset


def test_registry_lists_builtin_denoisers():
    names = {s.name for s in list_ops("denoise")}
    assert {"spikes", "bilateral", "oidn"} <= names


def test_unknown_method_and_parameter_are_clear():
    with pytest.raises(OpError, match=r"unknown denoise method 'nope' \(choose from: .*bilateral"):
        get_op("denoise", "nope")
    with pytest.raises(OpError, match="has no parameter sigma"):
        get_op("denoise", "bilateral").make_params(sigma=1)
    with pytest.raises(OpError, match="radius must be in 1..32"):
        get_op("denoise", "bilateral").make_params(radius=0)


def test_ops_refuse_nonfinite_input(passset):
    passset.get("Combined")[0, 0, 0] = np.inf
    with pytest.raises(PassSetError, match="pass 'Combined' has 1 non-finite"):
        get_op("denoise", "bilateral")(passset)


@pytest.mark.parametrize("name", ["Denoising Albedo", "Denoising Normal", "Denoising Depth", "Position"])
def test_ops_refuse_nonfinite_guide_passes(name):
    ps = make_passset()
    ps.get(name)[3, 2, 0] = np.nan
    for method in ("spikes", "bilateral"):
        with pytest.raises(PassSetError, match=f"pass '{name}' has 1 non-finite pixel.*x=2, y=3"):
            get_op("denoise", method)(ps)


# ---- spikes ---------------------------------------------------------------------------------
def test_isolated_spike_is_removed(rng):
    img = (0.5 + 0.05 * rng.standard_normal((20, 20, 3))).astype(np.float32)
    img[10, 10] = 500.0
    out = remove_spikes(img)
    assert out[10, 10].max() < 1.0
    mask = np.ones((20, 20), bool)
    mask[10, 10] = False
    assert np.array_equal(out[mask], img[mask])  # nothing else touched


def test_hdr_highlight_is_not_clamped(rng):
    img = (0.5 + 0.05 * rng.standard_normal((30, 30, 3))).astype(np.float32)
    img[10:16, 10:16] = 1000.0  # a lamp: bright but spatially coherent
    out = remove_spikes(img)
    assert np.array_equal(out, img)
    assert not spike_mask(img).any()


def test_spike_params_checked():
    with pytest.raises(OpError):
        get_op("denoise", "spikes").make_params(radius=0)
    assert SpikeParams().k > 0


# ---- cross-bilateral -----------------------------------------------------------------------
def _brute_force(color, guides, r, a):
    """Per-pixel loop version of d_ij = exp(-|p_i-p_j|^2/2a^2) * exp(-|g_i-g_j|^2)."""
    h, w, _ = color.shape
    out = np.zeros_like(color)
    for y in range(h):
        for x in range(w):
            acc, ws = np.zeros(3), 0.0
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    yy, xx = y + dy, x + dx
                    sp = (dy * dy + dx * dx) / (2 * a * a)
                    if not (0 <= yy < h and 0 <= xx < w) or sp > 4.5:
                        continue
                    wt = np.exp(-sp - np.sum((guides[yy, xx] - guides[y, x]) ** 2))
                    acc += wt * color[yy, xx]
                    ws += wt
            out[y, x] = acc / ws
    return out


def test_vectorised_filter_matches_per_pixel_formula(rng):
    color = rng.random((9, 11, 3)).astype(np.float32)
    guides = rng.random((9, 11, 4)).astype(np.float32)
    fast = cross_bilateral(color, guides, radius=3, sigma_spatial=2.0)
    slow = _brute_force(color, guides, 3, 2.0)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_bilateral_reduces_error_and_keeps_albedo_edge():
    ps = make_passset(h=48, w=48, noise=0.4)
    out = get_op("denoise", "bilateral")(ps)
    clean = ps.clean
    err_in = np.mean((ps.color - clean) ** 2)
    err_out = np.mean((out - clean) ** 2)
    assert err_out < 0.35 * err_in
    # The red/grey boundary at x=24 is not smeared: green of the red side stays low.
    assert out[:, 20:23, 1].mean() < 0.6 * out[:, 26:29, 1].mean()


def test_bilateral_leaves_constant_image():
    ps = make_passset(h=16, w=16, noise=1e-4)
    c = np.full((16, 16, 4), 0.7, np.float32)
    ps.add("Combined", c, "RGBA")
    np.testing.assert_allclose(get_op("denoise", "bilateral")(ps, despike=False), 0.7, rtol=1e-5)


def test_bilateral_works_with_colour_only():
    from neural_ops import PassSet

    ps = PassSet()
    ps.add("Combined", np.random.default_rng(0).random((12, 12, 4)).astype(np.float32), "RGBA")
    assert get_op("denoise", "bilateral")(ps, **vars(BilateralParams(radius=2))).shape == (12, 12, 3)


# ---- OIDN ------------------------------------------------------------------------------------
def test_oidn_denoises_with_guides():
    ps = make_passset(h=64, w=64, noise=0.5)
    out = get_op("denoise", "oidn")(ps, quality="fast")
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    assert np.mean((out - ps.clean) ** 2) < 0.3 * np.mean((ps.color - ps.clean) ** 2)


def test_oidn_bad_quality():
    with pytest.raises(OpError, match="quality must be one of"):
        get_op("denoise", "oidn").make_params(quality="ultra")


def test_oidn_with_a_memory_cap_gives_the_same_image():
    from neural_ops.core.oidn import OIDNParams, oidn_denoise
    from neural_ops.core.synthetic import synthetic_frame

    ps = synthetic_frame(640, 480)
    capped = oidn_denoise(ps, OIDNParams(max_memory_mb=64))  # small enough to force OIDN's tiling
    assert np.allclose(capped, oidn_denoise(ps), rtol=1e-5, atol=1e-6)
    with pytest.raises(OpError, match="max_memory_mb"):
        get_op("denoise", "oidn").make_params(max_memory_mb=10)
