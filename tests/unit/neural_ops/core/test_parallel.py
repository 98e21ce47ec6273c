"""Bands of rows on every core give what one call on the whole frame gives."""

import numpy as np
import pytest

from neural_ops.core import parallel


@pytest.mark.parametrize("band_values", [7, 1 << 19])
def test_bands_cover_every_row_once(monkeypatch, band_values):
    monkeypatch.setattr(parallel, "BAND_VALUES", band_values)
    img = np.random.default_rng(0).random((37, 5, 3)).astype(np.float32)
    out = np.zeros_like(img)
    calls = []

    def band(rows):
        calls.append(rows)
        out[rows] += np.sqrt(img[rows]) * 2

    parallel.by_rows(band, img.shape[0], img.shape[1] * img.shape[2])
    np.testing.assert_array_equal(out, np.sqrt(img) * 2)
    assert sum(r.stop - r.start for r in calls) == 37


def test_a_bands_error_is_raised():
    def band(rows):
        raise ValueError("bad band")

    with pytest.raises(ValueError, match="bad band"):
        parallel.by_rows(band, 10, 1)
