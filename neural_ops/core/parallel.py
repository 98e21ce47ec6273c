"""Per-pixel numpy work split into bands of rows, run on every core.

numpy's arithmetic releases the GIL, so threads over bands of rows use both cores; and a band's
temporaries stay in cache where the whole frame's (hundreds of MB at 1920x1080 with every pass)
would not. Each band is independent: the result is the same as one call on the whole frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

#: Values (pixels x channels) a band holds: its temporaries stay in cache.
BAND_VALUES = 1 << 19


def by_rows(fn: Callable[[slice], None], height: int, values_per_row: int) -> None:
    """Call ``fn(rows)`` for bands of rows covering ``range(height)``, on every core; ``fn`` writes
    its band of preallocated outputs. ``values_per_row``: the widest array's values in one row
    (width x channels), which sets the band's height."""
    step = max(1, BAND_VALUES // max(1, values_per_row))
    bands = [slice(a, min(a + step, height)) for a in range(0, height, step)]
    workers = min(os.cpu_count() or 1, 8, len(bands))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(fn, bands):  # re-raises a band's exception
                pass
    else:
        for b in bands:
            fn(b)
