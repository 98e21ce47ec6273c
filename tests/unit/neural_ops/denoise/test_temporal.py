"""Temporal mode: reprojection with a Vector pass, history rejection, flicker measure."""

import numpy as np
import pytest

from neural_ops import PassSet, PassSetError
from neural_ops.core.sampling import bilinear
from neural_ops.denoise.temporal import TemporalFilter, TemporalParams, flicker, previous_coords


def _frame(texture, albedo, shift, frame, rng=None, noise=0.0):
    """A view of ``texture`` panned right by ``shift`` pixels, with the Vector pass Blender
    would write (motion to the previous frame, bottom-up rows) and noisy colour."""
    h, w = 24, 32
    img = texture[:, shift : shift + w]
    alb = albedo[:, shift : shift + w]
    ps = PassSet(source=f"frame{frame}")
    color = img * (1 + noise * rng.standard_normal(img.shape)).astype(np.float32) if noise else img
    ps.add("Combined", np.concatenate([color, np.ones((h, w, 1))], axis=2), "RGBA")
    ps.add("Denoising Albedo", alb, "RGB")
    n = np.zeros((h, w, 3), np.float32)
    n[..., 2] = 1
    ps.add("Denoising Normal", n, "XYZ")
    ps.add("Denoising Depth", np.full((h, w, 1), 3.0, np.float32), "Z")
    vec = np.zeros((h, w, 4), np.float32)
    vec[..., 0] = 1.0 if frame > 1 else 0.0  # what is at x now was at x + 1 in the previous frame
    ps.add("Vector", vec, "XYZW")
    ps.meta["frame"] = frame
    return ps, img


@pytest.fixture
def scene(rng):
    tex = (0.2 + rng.random((24, 64, 3))).astype(np.float32)
    return tex, np.full_like(tex, 0.5)


def test_reprojection_follows_the_vector_pass(scene):
    tex, alb = scene
    prev, _ = _frame(tex, alb, 0, 1)
    cur, _ = _frame(tex, alb, 1, 2)
    x, y = previous_coords(cur.get("Vector"))
    warped, inside = bilinear(prev.color, x, y)
    # Panning by one pixel: the current pixel x was at x + 1 in the previous frame.
    assert np.allclose(warped[:, :-1], cur.color[:, :-1]) and not inside[:, -1].any()


def test_vertical_motion_uses_bottom_up_rows():
    vec = np.zeros((5, 5, 4), np.float32)
    vec[..., 1] = 1.0  # one pixel "up" in Blender's bottom-up rows
    x, y = previous_coords(vec)
    assert np.allclose(y[3], 2.0) and np.allclose(x[:, 1], 1.0)


def test_filter_reduces_flicker_on_a_static_surface(scene):
    tex, alb = scene
    rng = np.random.default_rng(0)
    frames = [_frame(tex, alb, k, k + 1, rng, noise=0.2) for k in range(8)]
    truth = [img for _, img in frames]
    vectors = [ps.get("Vector") for ps, _ in frames]
    per_frame = [ps.color for ps, _ in frames]
    tf = TemporalFilter()
    blended = [tf.step(ps, ps.color) for ps, _ in frames]
    assert flicker(blended, vectors, truth) < 0.6 * flicker(per_frame, vectors, truth)
    err = lambda seq: np.mean([np.abs(a - t).mean() for a, t in zip(seq[3:], truth[3:])])  # noqa: E731
    assert err(blended) < err(per_frame)
    assert np.allclose(blended[0], per_frame[0])  # no history yet: the frame itself


def test_history_is_rejected_where_the_surface_changes(scene):
    tex, alb = scene
    tf = TemporalFilter(TemporalParams(alpha=0.2))
    a, _ = _frame(tex, alb, 0, 1)
    tf.step(a, a.color)
    alb2 = alb.copy()
    alb2[:, :40] = 0.9  # a different material appears on the left
    b, _ = _frame(tex * 3, alb2, 1, 2)
    out = tf.step(b, b.color)
    assert np.allclose(out[:, :20], b.color[:, :20])  # disoccluded: current frame only


def test_a_frame_jump_resets_the_history(scene):
    tex, alb = scene
    tf = TemporalFilter()
    a, _ = _frame(tex, alb, 0, 1)
    tf.step(a, a.color)
    c, _ = _frame(tex * 2, alb, 1, 5)
    assert np.array_equal(tf.step(c, c.color), c.color)


def test_bad_alpha_is_refused():
    with pytest.raises(PassSetError, match="alpha"):
        TemporalFilter(TemporalParams(alpha=0))


def test_flicker_is_zero_for_the_reference_itself(scene):
    tex, alb = scene
    frames = [_frame(tex, alb, k, k + 1) for k in range(3)]
    seq = [img for _, img in frames]
    assert flicker(seq, [ps.get("Vector") for ps, _ in frames], seq) == 0.0


@pytest.mark.parametrize("spill", [False, True])
def test_strips_blend_as_the_whole_frame_does(scene, monkeypatch, spill):
    """A big frame's history is blended strip by strip (bounded memory), and kept in a mapped
    temporary file between frames: the same result."""
    import neural_ops.denoise.temporal as temporal

    if spill:
        monkeypatch.setattr(temporal, "SPILL_PIXELS", 0)
    tex, alb = scene
    rng = np.random.default_rng(1)
    frames = [_frame(tex, alb, k, k + 1, rng, noise=0.2)[0] for k in range(4)]
    frames[2].get("Vector")[..., 1] = 1.5  # some vertical motion, across strip borders
    whole, split = TemporalFilter(), TemporalFilter()
    for ps in frames:
        a = whole.step(ps, ps.color)

        def read(rows, ps=ps):
            part = ps.copy()
            for p in part.passes.values():
                p.pixels = p.pixels[rows[0]:rows[1]]
            return part

        b = split.step_strips(read, ps.color.copy(), rows=5)
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    assert split.count.max() > 1  # the history was used
    assert bool(split._maps) == spill  # mapped from the temporary file
