"""Holes of a synthesised frame: filled from neighbours, or boxes to re-render."""

import numpy as np

from neural_ops.novel_view.holes import push_pull, rerender_boxes


def test_push_pull_fills_holes_from_their_surroundings_and_keeps_the_rest(rng):
    img = np.repeat(np.linspace(0, 1, 40, dtype=np.float32)[None, :, None], 30, 0).repeat(3, 2)
    valid = rng.random((30, 40)) > 0.1
    valid[10:14, 20:24] = False  # a 4x4 hole
    out = push_pull(np.where(valid[..., None], img, 99.0), valid)
    np.testing.assert_array_equal(out[valid], img[valid])
    assert np.abs(out - img)[~valid].max() < 0.12  # a smooth ramp: the fill is close
    assert np.array_equal(push_pull(img, np.ones((30, 40), bool)), img)
    assert np.isfinite(push_pull(img, np.zeros((30, 40), bool))).all()


def test_scattered_bad_pixels_are_not_rerendered_but_a_gathered_patch_is(rng):
    bad = rng.random((100, 130)) < 0.005  # edge-like scatter: filled, not re-rendered
    bad[40:60, 64:90] = True  # a disocclusion across two tile columns
    boxes = rerender_boxes(bad, tile=32, min_fraction=0.05)
    assert boxes == [(64, 32, 96, 64)]
    bad[90:100, 128:130] = True  # in the image's last, partial tile (2 x 4 pixels of it): clipped
    boxes = rerender_boxes(bad, tile=32, min_fraction=0.05)
    assert boxes[0] == (64, 32, 96, 64) and len(boxes) == 2
    assert boxes[1][0] == 128 and boxes[1][2:] == (130, 100) and boxes[1][1] in (64, 96)
    assert rerender_boxes(np.zeros((10, 10), bool)) == []


def test_a_quality_target_rerenders_the_fewest_tiles_that_meet_it():
    """``--max-flip``: the frame's mean expected error (from the confidence map) is brought down
    to the target by re-rendering the worst tiles first, even where every pixel was reached;
    lower confidence, higher expected error; a target of 0 re-renders everything."""
    from neural_ops.novel_view.motion import expected_flip

    conf = np.ones((64, 96), np.float32)
    conf[0:32, 32:64] = 0.6  # two keys that disagree over one tile (a moving shadow)
    conf[32:64, 0:32] = 0.9  # a little over another
    err = expected_flip(conf)
    floor = float(expected_flip(np.ones(1))[0])
    assert np.all(np.diff(expected_flip(np.linspace(0, 1, 11))) <= 0) and err.max() > 0.05 > err.min()
    none = np.zeros(conf.shape, bool)
    mean = float(err.mean())
    assert rerender_boxes(none) == []
    assert rerender_boxes(none, error=err, max_error=mean + 1e-6) == []  # already met
    assert rerender_boxes(none, error=err, max_error=mean - 0.001, rendered_error=floor) == [(32, 0, 64, 32)]
    # both tiles, touching at a corner: two boxes (their bounding box would re-render two more tiles)
    assert rerender_boxes(none, error=err, max_error=floor + 0.001, rendered_error=floor) == [(32, 0, 64, 32),
                                                                                              (0, 32, 32, 64)]
    assert rerender_boxes(none, error=err, max_error=0.0, rendered_error=floor) == [(0, 0, 96, 64)]  # all: one box


def test_rerendered_boxes_cover_the_marked_tiles_exactly():
    """An L-shaped patch of bad tiles becomes rectangles covering just those tiles (runs of a
    row, merged with the rows below spanning the same columns), clipped to the frame."""
    bad = np.zeros((70, 100), bool)
    bad[0:64, 0:32] = True  # a column of two tiles
    bad[32:64, 32:96] = True  # and a run of two more beside the lower one
    bad[64:70, 0:100] = True  # the last, partial row of tiles, whole
    boxes = rerender_boxes(bad, tile=32, min_fraction=0.5)
    covered = np.zeros_like(bad)
    for x0, y0, x1, y1 in boxes:
        assert not covered[y0:y1, x0:x1].any()  # no pixel twice
        covered[y0:y1, x0:x1] = True
    tiles = np.zeros_like(bad)
    tiles[0:64, 0:32] = tiles[32:64, 32:96] = tiles[64:70, :] = True
    assert np.array_equal(covered, tiles)
    assert boxes == [(0, 0, 32, 32), (0, 32, 96, 64), (0, 64, 100, 70)]


def test_a_quality_target_is_aimed_at_through_the_measured_spill_of_a_rerender():
    from neural_ops.novel_view.motion import FLIP_AFTER_RERENDER, rerender_target

    assert 0 < FLIP_AFTER_RERENDER <= 1
    assert rerender_target(0.05) >= 0.05 and rerender_target(0.0) == 0.0  # 0 still re-renders everything
