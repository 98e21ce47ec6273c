"""Multi-frame gathering: neighbours reprojected with the Vector pass, checked by the guides."""

import numpy as np
import pytest

from neural_ops import PassSet, PassSetError
from neural_ops.denoise.multiframe import Frame, WindowParams, gather

H, W = 20, 28


def _pan(clean, albedo, frames, noise, rng, cut_at=None):
    """A camera panning right one pixel per frame over ``clean`` (with the Vector pass Blender
    writes: XY to the previous frame, ZW to the next) and independent noise per frame; from
    ``cut_at`` on, another shot (other albedo)."""
    out = []
    for f in range(frames):
        cut = cut_at is not None and f >= cut_at
        img = clean[:, f:f + W]
        alb = ((albedo + 0.5) % 1.0 if cut else albedo)[:, f:f + W]
        ps = PassSet(source=f"frame{f + 1}")
        color = img * (1 + noise * rng.standard_normal(img.shape)).astype(np.float32)
        ps.add("Combined", np.concatenate([color, np.ones((H, W, 1), np.float32)], axis=2), "RGBA")
        ps.add("Denoising Albedo", alb, "RGB")
        n = np.zeros((H, W, 3), np.float32)
        n[..., 2] = 1
        ps.add("Denoising Normal", n, "XYZ")
        ps.add("Denoising Depth", np.full((H, W, 1), 3.0, np.float32), "Z")
        vec = np.zeros((H, W, 4), np.float32)
        vec[..., 0] = 1.0  # what is at x now was at x + 1 in the previous frame
        vec[..., 2] = 1.0  # and will be at x - 1 in the next (ZW: current - next)
        ps.add("Vector", vec, "XYZW")
        out.append(ps)
    return out


@pytest.fixture
def shot(rng):
    clean = (0.2 + rng.random((H, W + 16, 3))).astype(np.float32)
    albedo = np.repeat(np.linspace(0.1, 0.9, W + 16, dtype=np.float32)[None, :, None], H, 0).repeat(3, 2)
    return clean, albedo


def test_window_zero_is_the_frame_itself(shot, rng):
    frames = [Frame.of(ps) for ps in _pan(*shot, 5, 0.5, rng)]
    g = gather(frames, 2, WindowParams(frames_window=0))
    col, n = g.color, g.count
    np.testing.assert_array_equal(col, frames[2].color)
    assert (n == 1).all()


def test_neighbours_are_reprojected_and_cut_the_noise(shot, rng):
    clean = shot[0]
    frames = [Frame.of(ps) for ps in _pan(*shot, 5, 0.5, rng)]
    g = gather(frames, 2, WindowParams(frames_window=2))
    col, n = g.color, g.count
    truth = clean[:, 2:2 + W]
    # Inside the frame (away from the edge pixels that leave the screen) all five frames count,
    # but for the odd pixel whose noise looks like a change of light.
    inner = (slice(None), slice(3, W - 3))
    assert (n[inner] == 5).mean() > 0.95
    # The mean of five independent estimates of the same pixel: the error drops by ~sqrt(5).
    err_one = np.abs(frames[2].color - truth)[inner].mean()
    err_five = np.abs(col - truth)[inner].mean()
    assert err_five < 0.6 * err_one
    # Exact reprojection: the noise-free shot gathers to itself.
    clean_frames = [Frame.of(ps) for ps in _pan(*shot, 5, 0.0, rng)]
    g = gather(clean_frames, 2, WindowParams(frames_window=2))
    col0 = g.color
    np.testing.assert_allclose(col0, truth, rtol=1e-5)


def test_a_cut_ends_the_window(shot, rng):
    frames = [Frame.of(ps) for ps in _pan(*shot, 6, 0.5, rng, cut_at=3)]
    g = gather(frames, 2, WindowParams(frames_window=3))
    n = g.count
    # Frame 2 (index) is before the cut: frames 3.. show another shot and are never used.
    assert n.max() == 3  # itself and two earlier frames
    g = gather(frames, 3, WindowParams(frames_window=3))
    n = g.count
    assert n.max() == 3  # itself and two later frames (the last frame is 5)


def test_bad_inputs_are_one_line(shot, rng):
    ps = _pan(*shot, 2, 0.1, rng)
    del ps[0].passes["Vector"]
    with pytest.raises(PassSetError, match="frame1: multi-frame denoising needs the Vector pass"):
        Frame.of(ps[0])
    small = PassSet(source="small")
    for name, arr, ch in (("Combined", np.ones((4, 4, 4)), "RGBA"), ("Denoising Albedo", np.ones((4, 4, 3)), "RGB"),
                          ("Denoising Normal", np.ones((4, 4, 3)), "XYZ"), ("Denoising Depth", np.ones((4, 4, 1)), "Z"),
                          ("Vector", np.zeros((4, 4, 4)), "XYZW")):
        small.add(name, arr.astype(np.float32), ch)
    frames = [Frame.of(ps[1]), Frame.of(small)]
    with pytest.raises(PassSetError, match="small: frame is 4x4, frame2 is 28x20"):
        gather(frames, 0)
    with pytest.raises(PassSetError, match="frames_window must be 0 to 16"):
        gather(frames[:1], 0, WindowParams(frames_window=-1))


def test_a_gap_or_a_repeat_in_the_sequence_is_one_line():
    from neural_ops.denoise.multiframe import check_consecutive

    check_consecutive(["a/frame_0001.exr", "a/frame_0002.exr", "a/frame_0003.exr"], [{}, {}, {}])
    check_consecutive(["x.exr", "y.exr"], [{"frame": 7}, {"frame": 8}])  # the sidecar's number wins
    check_consecutive(["shot.exr", "other.exr"], [{}, {}])  # numbers unknown: nothing to check
    with pytest.raises(PassSetError, match=r"frame_0004.exr: frame 4 follows .*frame 2\): frame 3 missing"):
        check_consecutive(["frame_0001.exr", "frame_0002.exr", "frame_0004.exr"], [{}, {}, {}])
    with pytest.raises(PassSetError, match="frames 3-5 missing"):
        check_consecutive(["f2.exr", "f6.exr"], [{}, {}])
    with pytest.raises(PassSetError, match="out of order or repeated"):
        check_consecutive(["f2.exr", "f2b.exr"], [{"frame": 2}, {"frame": 2}])


def test_with_color_replaces_only_the_colour(shot, rng):
    from neural_ops.denoise.multiframe import with_color

    ps = _pan(*shot, 1, 0.5, rng)[0]
    new = np.full((H, W, 3), 0.25, np.float32)
    out = with_color(ps, new)
    np.testing.assert_array_equal(out.color, new)
    np.testing.assert_array_equal(out.get("Combined")[..., 3], ps.get("Combined")[..., 3])
    assert out.get("Vector") is ps.get("Vector") and ps.color.mean() != 0.25  # the input is untouched


def test_a_change_of_light_is_not_gathered(shot, rng):
    seq = _pan(*shot, 3, 0.05, rng)
    seq[0].passes["Combined"].pixels[..., :3] *= 3.0  # a light switched on: same surfaces, brighter
    frames = [Frame.of(ps) for ps in seq]
    g = gather(frames, 1, WindowParams(frames_window=1))
    n = g.count
    inner = (slice(None), slice(3, W - 3))
    assert (n[inner] == 2).mean() > 0.95  # itself and the next frame, never the bright one


def test_an_occluder_is_caught_by_the_round_trip_where_depth_and_guides_agree(shot, rng):
    # A square the same albedo, normal and depth as the background moves left 3 pixels a frame
    # over the panning background: reprojecting a background pixel that the square covered in
    # the previous frame lands on the square, whose own motion leads elsewhere.
    seq = _pan(*shot, 3, 0.05, rng)
    rows, x0 = slice(6, 14), 10
    for f, ps in enumerate(seq):
        xs = slice(x0 - 3 * f, x0 - 3 * f + 6)
        ps.passes["Combined"].pixels[rows, xs, :3] = 5.0  # bright, but within 2 of its neighbours' colour test
        vec = ps.passes["Vector"].pixels
        vec[rows, xs, 0] = 3.0  # it was 3 pixels to the right, will be 3 to the left
        vec[rows, xs, 2] = 3.0
    frames = [Frame.of(ps) for ps in seq]
    lax = WindowParams(frames_window=1, max_color=10.0)
    g = gather(frames, 1, lax)
    n = g.count
    # Background in frame 1 (the square is at 7..12 there), under it in frame 0 (at 10..15) once
    # reprojected (x + 1): columns 13 and 14.
    covered_before = (rows, slice(13, 15))
    assert (n[covered_before] <= 2).all()
    no_rt = WindowParams(frames_window=1, max_color=10.0, max_roundtrip=0.0, unique=False)
    g = gather(frames, 1, no_rt)
    _col, n0 = g.color, g.count
    assert n0[covered_before].mean() > n[covered_before].mean()  # without it, the occluder is gathered
    # The square itself moves consistently: gathered from both neighbours.
    assert (n[rows, x0 - 3 + 1:x0 - 3 + 5] == 3).all()


def test_noisy_edge_guides_widen_the_tolerance(shot, rng):
    seq = _pan(*shot, 3, 0.05, rng)
    # An edge at 4 spp: the albedo of the pixels along column 12 is a different mix of the two
    # sides in every frame (and the columns beside it differ too: a sharp step).
    for f, ps in enumerate(seq):
        alb = ps.passes["Denoising Albedo"].pixels
        alb[:, :12 - f] = 0.2
        alb[:, 12 - f + 1:] = 0.8
        alb[:, 12 - f] = rng.uniform(0.3, 0.7, (H, 1))
    frames = [Frame.of(ps) for ps in seq]
    edge = (slice(None), 11)
    strict = gather(frames, 1, WindowParams(frames_window=1, guide_noise=0.0)).count
    tolerant = gather(frames, 1, WindowParams(frames_window=1)).count
    assert (strict[edge] < 3).mean() > 0.5 and (tolerant[edge] == 3).mean() > 0.9
    # Away from the edge, a real change of albedo is still refused.
    seq[0].passes["Denoising Albedo"].pixels[:, 20:] = 0.2
    n = gather([Frame.of(ps) for ps in seq], 1, WindowParams(frames_window=1)).count
    assert (n[:, 22:W - 2] == 2).all()


def test_gathered_guides_replace_the_frames_own(shot, rng):
    seq = _pan(*shot, 3, 0.3, rng)
    for ps in seq:
        alb = ps.passes["Denoising Albedo"].pixels
        alb += rng.normal(0, 0.02, alb.shape).astype(np.float32)  # noisy guides
    frames = [Frame.of(ps) for ps in seq]
    g = gather(frames, 1, WindowParams(frames_window=1))
    out = g.apply(seq[1])
    np.testing.assert_array_equal(out.color, g.color)
    np.testing.assert_allclose(out.albedo, g.guides[..., 0:3], atol=1e-6)
    inner = (slice(None), slice(3, W - 3))
    truth = shot[1][:, 1:1 + W]
    assert np.abs(out.albedo - truth)[inner].mean() < 0.8 * np.abs(seq[1].albedo - truth)[inner].mean()
    np.testing.assert_allclose(np.linalg.norm(out.normal, axis=2), 1.0, rtol=1e-5)
    assert out.get("Vector") is seq[1].get("Vector")


def test_the_ends_of_a_shot_take_their_missing_frames_from_the_other_side(shot, rng):
    from neural_ops.denoise.multiframe import Window

    seq = _pan(*shot, 6, 0.3, rng)
    inner = (slice(None), slice(6, W - 6))
    frames = [Frame.of(ps) for ps in seq]
    n_first = gather(frames[:5], 0, WindowParams(frames_window=2, slide=True)).count
    assert (n_first[inner] == 5).mean() > 0.9  # frames 0..4, not 0..2
    # A window over the files holds 2k + 1 frames, sliding no further than the shot's ends.
    reads = []
    win = Window(range(6), lambda i: reads.append(i) or seq[i], WindowParams(frames_window=2, slide=True))
    for t in range(6):
        g = win.gathered(t)
        assert (g.count[inner] == 5).mean() > 0.9, t
        assert len(win._frames) <= 5
    assert reads == list(range(6))  # each frame read once


def test_diffuse_and_the_rest_are_gathered_and_denoised_apart(shot, rng):
    seq = _pan(*shot, 5, 0.3, rng)
    for ps in seq:
        c = ps.get("Combined")[..., :3]
        # Diffuse light x colour is 70 % of the image; the rest (a "glossy" part) 30 %.
        ps.add("Diffuse Direct", (0.5 * c).astype(np.float32), "RGB")
        ps.add("Diffuse Indirect", (0.2 * c).astype(np.float32), "RGB")
        ps.add("Diffuse Color", np.ones_like(c), "RGB")
    frames = [Frame.of(ps) for ps in seq]
    assert frames[2].diffuse is not None
    np.testing.assert_allclose(frames[2].diffuse, 0.7 * frames[2].color, rtol=1e-5, atol=1e-6)
    g = gather(frames, 2, WindowParams(frames_window=2, rest_window=1))
    assert len(g.parts) == 2
    np.testing.assert_allclose(g.parts[0] + g.parts[1], g.color, rtol=1e-5, atol=1e-6)
    # The rest comes from at most one frame each side: its noise drops less than the diffuse's.
    inner = (slice(None), slice(4, W - 4))
    truth = shot[0][:, 2:2 + W]
    err_d = np.abs(g.parts[0] - 0.7 * truth)[inner].mean() / 0.7
    err_r = np.abs(g.parts[1] - 0.3 * truth)[inner].mean() / 0.3
    assert err_d < 0.85 * err_r
    # denoise(): the function runs on each part, the results are summed.
    seen = []
    out = g.denoise(seq[2], lambda q: seen.append(q.color.copy()) or q.color)
    assert len(seen) == 2 and np.allclose(out, g.color, atol=1e-6)
    np.testing.assert_allclose(seen[0], g.parts[0])
    # Without the diffuse passes: one colour, one call.
    plain = gather([Frame.of(ps) for ps in _pan(*shot, 5, 0.3, rng)], 2)
    calls = []
    plain.denoise(seq[2], lambda q: calls.append(1) or q.color)
    assert plain.parts == () and calls == [1]
