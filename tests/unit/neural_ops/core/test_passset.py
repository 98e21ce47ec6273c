import numpy as np
import pytest

from neural_ops import PassSet, PassSetError
from neural_ops.core.passset import sort_channels


def test_sort_channels_blender_order():
    assert sort_channels("ABGR") == "RGBA"
    assert sort_channels(list("ZYX")) == "XYZ"
    assert sort_channels("WZYX") == "XYZW"


def test_guide_accessors_prefer_denoising_passes(passset):
    assert passset.albedo.shape == (32, 40, 3)
    passset.add("Diffuse Color", np.zeros((32, 40, 3)), "RGB")
    assert passset.albedo.max() > 0  # Denoising Albedo wins over Diffuse Color
    assert passset.depth.shape == (32, 40, 1)
    assert passset.alpha.shape == (32, 40, 1)


def test_missing_pass_names_file_and_pass(passset):
    with pytest.raises(PassSetError, match=r"synthetic\.exr: missing pass 'Glossy Color'"):
        passset.get("Glossy Color")


def test_shape_mismatch_is_refused(passset):
    with pytest.raises(PassSetError, match=r"pass 'Depth' is 10x10, the other passes are 40x32"):
        passset.add("Depth", np.zeros((10, 10)), "Z")


def test_channel_count_must_match_names():
    with pytest.raises(PassSetError, match="3 channels but names 'RGBA'"):
        PassSet().add("Combined", np.zeros((4, 4, 3)), "RGBA")


def test_nonfinite_pixels_reported_with_position(passset):
    passset.get("Combined")[3, 7, 1] = np.nan
    with pytest.raises(PassSetError, match=r"pass 'Combined' has 1 non-finite pixel\(s\).*x=7, y=3"):
        passset.validate(("Combined",))


def test_validate_any_of(passset):
    passset.validate((("Normal", "Denoising Normal"),))
    with pytest.raises(PassSetError, match="missing pass 'Normal'"):
        passset.validate((("Normal", "Vector"),))


def test_noisy_combined_swaps_cycles_denoised_render_back():
    """A render made with Cycles' denoiser on (Combined denoised, Noisy Image noisy) reads as
    every op expects: Combined noisy (alpha kept), Cycles' result as 'Cycles Denoised' right
    after it, no Noisy Image; the other passes are shared, not copied."""
    from neural_ops.core.passset import CYCLES_DENOISED, NOISY_PASS, noisy_combined

    rng = np.random.default_rng(0)
    ps = PassSet()
    denoised = rng.random((4, 5, 4)).astype(np.float32)
    denoised[..., 3] = 0.5
    ps.add("Combined", denoised, "RGBA", half=True)
    ps.add("Depth", rng.random((4, 5)).astype(np.float32), "Z")
    noisy = rng.random((4, 5, 4)).astype(np.float32)
    ps.add(NOISY_PASS, noisy, "RGBA", half=True)
    out = noisy_combined(ps)
    assert list(out.passes) == ["Combined", CYCLES_DENOISED, "Depth"]
    np.testing.assert_array_equal(out.color, noisy[..., :3])
    np.testing.assert_array_equal(out.alpha[..., 0], denoised[..., 3])
    np.testing.assert_array_equal(out.get(CYCLES_DENOISED), denoised[..., :3])
    assert out.passes["Combined"].half and out.passes[CYCLES_DENOISED].half
    assert out.passes["Depth"] is ps.passes["Depth"]
    assert list(ps.passes) == ["Combined", "Depth", NOISY_PASS]  # the input is untouched
    plain = PassSet()
    plain.add("Combined", denoised, "RGBA")
    assert noisy_combined(plain) is plain


@pytest.mark.parametrize("name, channels", [("Combined", "RGA"), ("Combined", "Y"), ("Diffuse Color", "RG"),
                                            ("Normal", "XY"), ("Position", "RGA")])
def test_passes_read_by_position_need_their_channels(name, channels):
    """A Combined with R, G and A only would use alpha as blue: an error naming what is there."""
    ps = PassSet(source="f.exr")
    ps.add(name, np.zeros((4, 5, len(channels)), np.float32), channels)
    with pytest.raises(PassSetError, match=f"f.exr: pass '{name}' has channels .*; it needs"):
        ps.validate()


def test_a_substituted_guide_pass_is_said(capsys):
    ps = PassSet(source="sub.exr")
    ps.add("Diffuse Color", np.ones((2, 3, 3), np.float32), "RGB")
    assert ps.albedo.shape == (2, 3, 3)
    assert "sub.exr: no 'Denoising Albedo' pass; using 'Diffuse Color' instead" in capsys.readouterr().err


def test_a_clamp_that_changes_values_says_so_once(capsys):
    from neural_ops.core.passset import clamped

    px = np.array([[[0.2, 1.0000001, 0.5]]], np.float32)
    np.testing.assert_array_equal(clamped(px, 0.0, 1.0, "f.exr", "Denoising Albedo"), np.clip(px, 0, 1))
    assert capsys.readouterr().err == ""  # float error is not worth a line
    px[0, 0, 0] = 1.7
    for _ in range(3):
        clamped(px, 0.0, 1.0, "f.exr", "Denoising Albedo")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["neural-render: f.exr: pass 'Denoising Albedo' has values outside [0.0, 1.0]; the op reads them clamped"]
    clamped(-px, 0.0, None, "f.exr", "Combined")
    assert "pass 'Combined' has values below 0.0" in capsys.readouterr().err


def test_ops_note_an_albedo_they_clamp(capsys):
    from neural_ops import get_op
    from tests.conftest import make_passset

    ps = make_passset()
    ps.get("Denoising Albedo")[:4] = 2.0
    spec = get_op("denoise", "neural")
    if spec.available():
        pytest.skip(spec.available())
    spec(ps)
    assert "pass 'Denoising Albedo' has values outside [0.0, 1.0]" in capsys.readouterr().err
