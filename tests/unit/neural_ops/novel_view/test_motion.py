"""Render 1 in N along the render's motion: a moving object carried from the key frames."""

import numpy as np
import pytest

from neural_ops import PassSet, PassSetError
from neural_ops.novel_view.motion import interpolate

H, W = 16, 40
RED, GREY = np.array([0.8, 0.1, 0.1], np.float32), np.array([0.5, 0.5, 0.5], np.float32)


def _frame(f: int, full: bool) -> PassSet:
    """A still camera over a lit wall (light varies with x) and a 6x6 red square moving right
    3 pixels a frame in front of it (depth 5 against 10), lit at 2.0 with a small highlight
    (a glossy pass) that stays on the square."""
    x0 = 4 + 3 * f
    xs, rows = slice(x0, x0 + 6), slice(5, 11)
    light = np.repeat(np.linspace(0.5, 1.5, W, dtype=np.float32)[None, :, None], H, 0).repeat(3, 2)
    color = np.broadcast_to(GREY, (H, W, 3)).copy()
    depth = np.full((H, W, 1), 10.0, np.float32)
    vec = np.zeros((H, W, 4), np.float32)
    gloss = np.zeros((H, W, 3), np.float32)
    gcol = np.full((H, W, 3), 0.2, np.float32)
    light[rows, xs] = 2.0
    color[rows, xs] = RED
    depth[rows, xs] = 5.0
    gloss[rows, x0 + 2] = 3.0
    vec[rows, xs, 0] = -3.0  # it was 3 pixels to the left (XY: previous - current)
    vec[rows, xs, 2] = -3.0  # and will be 3 to the right (ZW: current - next)
    ps = PassSet(source=f"frame{f}", meta={"frame": f})
    normal = np.zeros((H, W, 3), np.float32)
    normal[..., 2] = 1
    ps.add("Denoising Albedo", color, "RGB")
    ps.add("Denoising Normal", normal, "XYZ")
    ps.add("Depth", depth, "Z")
    ps.add("Vector", vec, "XYZW")
    ps.add("Diffuse Color", color, "RGB")
    ps.add("Glossy Color", gcol, "RGB")
    if full:
        ps.add("Diffuse Direct", light, "RGB")
        ps.add("Glossy Direct", gloss, "RGB")
        beauty = light * color + gloss * gcol + 0.05  # + 0.05: emission, not in any light pass
        ps.add("Combined", np.concatenate([beauty, np.ones((H, W, 1), np.float32)], axis=2), "RGBA")
    return ps


def test_a_moving_object_is_carried_to_where_it_is_and_the_passes_add_up():
    keys = {0: _frame(0, True), 4: _frame(4, True)}
    aux = {f: _frame(f, False) for f in range(5)}
    truth = _frame(2, True)
    got = interpolate(2, keys, aux)
    beauty = got.passes["Combined"][..., :3]
    # The square is where frame 2 has it (x 10..15), with its highlight, and the wall it
    # uncovered on the left (x 4..9: behind it in key 0, seen in key 4) is right too.
    np.testing.assert_allclose(beauty, truth.get("Combined")[..., :3], atol=1e-4)
    np.testing.assert_allclose(got.passes["Diffuse Direct"], truth.get("Diffuse Direct"), atol=1e-5)
    # The passes add up as in a render: light x colour + the rest.
    explained = (got.passes["Diffuse Direct"] * got.passes["Diffuse Color"]
                 + got.passes["Glossy Direct"] * got.passes["Glossy Color"])
    assert np.allclose(beauty - explained, 0.05, atol=1e-4)
    # Data passes are frame 2's own.
    np.testing.assert_array_equal(got.passes["Vector"], truth.get("Vector"))
    assert (got.reached[5:11, 4:10] == 1).all()  # only key 4 saw that wall
    assert (got.reached[5:11, 10:16] == 2).all() and (got.confidence[5:11, 10:16] > 0.9).all()
    assert (got.passes["Combined"][..., 3] == 1).all()


def test_a_pixel_no_key_reaches_is_a_hole():
    keys = {0: _frame(0, True), 4: _frame(4, True)}
    aux = {f: _frame(f, False) for f in range(5)}
    # Frame 2 shows a new object (a different depth and albedo) no key frame has.
    alb = aux[2].passes["Denoising Albedo"].pixels
    alb[0:3, 30:36] = [0.1, 0.9, 0.1]
    aux[2].passes["Depth"].pixels[0:3, 30:36] = 2.0
    got = interpolate(2, keys, aux)
    assert (got.reached[0:3, 30:36] == 0).all() and (got.confidence[0:3, 30:36] == 0).all()
    assert (got.passes["Combined"][0:3, 30:36, 3] == 0).all()
    # Filled instead from the keys' pixels where the walks ended (the wall: the object is in no
    # key), its light passes such that light x frame 2's colour is the contribution carried.
    filled = interpolate(2, keys, aux, fill=True)
    assert (filled.passes["Combined"][..., 3] == 1).all() and (filled.confidence[0:3, 30:36] == 0).all()
    wall = keys[0].get("Combined")[0:3, 30:36, :3]
    np.testing.assert_allclose(filled.passes["Combined"][0:3, 30:36, :3], wall, rtol=1e-5)
    np.testing.assert_allclose(filled.passes["Diffuse Direct"][1, 33] * [0.1, 0.9, 0.1],
                               keys[0].get("Diffuse Direct")[1, 33] * GREY, rtol=1e-5)
    # The old way (demodulated, rebuilt with frame 2's colours): the wall's light on the new colour.
    demod = interpolate(2, keys, aux, fill=True, demodulate=True)
    rest = 0.05 / (0.5 + 0.02) * (np.array([0.1, 0.9, 0.1]) + 0.02)
    np.testing.assert_allclose(demod.passes["Combined"][1, 33, :3],
                               demod.passes["Diffuse Direct"][1, 33] * [0.1, 0.9, 0.1] + rest, rtol=1e-4)


def test_missing_input_is_one_line():
    keys = {0: _frame(0, True), 4: _frame(4, True)}
    aux = {f: _frame(f, False) for f in (0, 1, 2, 4)}
    with pytest.raises(PassSetError, match="auxiliary render of frame 3 missing"):
        interpolate(2, keys, aux)
    aux[3] = _frame(3, False)
    del aux[3].passes["Vector"]
    with pytest.raises(PassSetError, match="frame3: no Vector pass"):
        interpolate(2, keys, aux)
    with pytest.raises(PassSetError, match="no key frame"):
        interpolate(2, {}, aux)


def test_a_key_frame_is_denoised_pass_by_pass(rng):
    from neural_ops.core.oidn import oidn_unavailable
    from neural_ops.novel_view.motion import denoise_key

    if oidn_unavailable():
        pytest.skip(oidn_unavailable())
    ps = _frame(1, True)
    clean = ps.get("Diffuse Direct").copy()
    noisy = clean * rng.exponential(1.0, clean.shape).astype(np.float32)
    ps.passes["Diffuse Direct"].pixels[...] = noisy
    out = denoise_key(ps)
    assert out is not ps and np.array_equal(ps.get("Diffuse Direct"), noisy)  # the input is untouched
    err = lambda x: float(np.abs(x - clean).mean())  # noqa: E731
    assert err(out.get("Diffuse Direct")) < 0.5 * err(noisy)
    assert out.get("Vector") is ps.get("Vector")
