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
