import itertools

import numpy as np
import pytest

from training.scenes.quilting import min_cut_path, quilt


def test_min_cut_is_optimal_on_small_grid(rng):
    err = rng.random((5, 4))
    path = min_cut_path(err)
    assert all(abs(int(a) - int(b)) <= 1 for a, b in zip(path[:-1], path[1:]))
    best = min(
        sum(err[y, x] for y, x in enumerate(p))
        for p in itertools.product(range(4), repeat=5)
        if all(abs(a - b) <= 1 for a, b in zip(p[:-1], p[1:]))
    )
    assert sum(err[y, x] for y, x in enumerate(path)) == pytest.approx(best)


def _stripes(n=64):
    x = np.arange(n)
    img = ((x[None, :] // 4) % 2).astype(np.float32)
    return np.repeat(np.broadcast_to(img, (n, n))[..., None], 3, axis=2)


def test_quilt_shape_and_determinism(rng):
    ex = rng.random((48, 48, 3)).astype(np.float32)
    a = quilt(ex, (70, 90), block=16, seed=3)
    assert a.shape == (70, 90, 3) and a.dtype == np.float32
    assert np.array_equal(a, quilt(ex, (70, 90), block=16, seed=3))
    assert not np.array_equal(a, quilt(ex, (70, 90), block=16, seed=4))


def test_quilt_continues_structure_better_than_random_tiling():
    # Stripes of period 8: quilting should line blocks up so columns stay pure stripes.
    ex = _stripes()
    out = quilt(ex, (64, 96), block=16, overlap=4, seed=0, candidates=2000)
    col_var = out[..., 0].var(axis=0).mean()  # 0 when every column is one colour
    rng = np.random.default_rng(0)
    rand = np.zeros_like(out)
    for y, x in itertools.product(range(0, 64, 16), range(0, 96, 16)):
        oy, ox = rng.integers(0, 48, 2)
        rand[y : y + 16, x : x + 16] = ex[oy : oy + 16, ox : ox + 16]
    # A random tiling breaks the stripes at every block boundary; quilting keeps them.
    horiz_rand = np.abs(np.diff(rand[..., 0], axis=1)).mean()
    horiz_q = np.abs(np.diff(out[..., 0], axis=1)).mean()
    assert col_var < 0.05
    assert horiz_q <= horiz_rand + 1e-6


def test_quilt_rejects_bad_sizes(rng):
    with pytest.raises(ValueError, match="does not fit"):
        quilt(rng.random((8, 8, 3)), (16, 16), block=16)
    with pytest.raises(ValueError, match="overlap"):
        quilt(rng.random((32, 32, 3)), (16, 16), block=8, overlap=8)
