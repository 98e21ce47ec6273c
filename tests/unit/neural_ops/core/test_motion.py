"""Following a shot's motion hop by hop (core.motion.walk)."""

import numpy as np
import pytest

from neural_ops.core.motion import walk

H, W = 12, 16


def _vectors(n, dx=1.0, dy=0.5):
    """A camera panning: what is at (x, y) now was at (x + dx, y - dy) in the previous frame, in
    top-down rows (Blender's XY = previous - current with bottom-up rows), and will be at
    (x - dx, y + dy) in the next (ZW = current - next)."""
    v = np.zeros((H, W, 4), np.float32)
    v[..., 0], v[..., 1] = dx, dy
    v[..., 2], v[..., 3] = dx, dy
    return [v.copy() for _ in range(n)]


def test_a_pan_is_followed_both_ways():
    vecs = _vectors(5)
    back = list(walk(vecs, 2, -1, 2))
    assert [s for s, *_ in back] == [1, 0]
    _s, x, y, alive = back[-1]
    assert np.allclose(x[4, 4], 4 + 2) and np.allclose(y[4, 4], 4 - 1)
    assert alive[4, 4] and not alive[:, -2:].any()  # the right edge was outside the first frame
    _s, x, y, alive = list(walk(vecs, 2, 1, 2))[-1]
    assert np.allclose(x[4, 4], 4 - 2) and np.allclose(y[4, 4], 4 + 1) and not alive[:, :2].any()


def test_the_round_trip_stops_a_walk_onto_an_occluder():
    vecs = _vectors(2, 0.0, 0.0)
    vecs[0][2:6, 6:10, 2] = 3.0  # in frame 0 an object moving 3 px left covers x 6..9
    *_, alive = next(walk(vecs, 1, -1, 1))
    assert not alive[2:6, 6:10].any() and alive[7:, :].all()
    *_, alive = next(walk(vecs, 1, -1, 1, max_roundtrip=0))
    assert alive[2:6, 6:10].all()


def test_bad_step():
    with pytest.raises(ValueError, match="step must be -1 or 1"):
        next(walk(_vectors(2), 0, 2, 1))


def test_the_background_agrees_with_the_background():
    from neural_ops.core.motion import same_surface_within

    g = np.zeros((2, 2, 7), np.float32)
    g[..., 6] = 30.0  # no surface: zero albedo and normal, the far depth
    hg = g.copy()
    hg[1, 1, 3:6] = (0, 0, 1)  # a surface where the other frame saw none
    hg[1, 1, 6] = 1.0
    ok = same_surface_within(g, hg, np.zeros((2, 2, 2), np.float32), 0.1, 0.9, 0.3, 0.0)
    assert ok[0, 0] and not ok[1, 1]


def _cam_meta(yaw_deg: float) -> dict:
    """A camera at the origin looking along -Z, turned ``yaw_deg`` about the world's Y axis."""
    a = np.radians(yaw_deg)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    return {"camera": {"resolution": [W, H], "lens": 35.0, "sensor_width": 36.0, "sensor_height": 24.0,
                       "matrix_world": m.tolist()}}


def test_the_world_moves_with_a_turning_camera():
    """Cycles writes no motion where no surface was hit; the camera's turn moves the world there
    (and only there), and walking one hop back lands where the previous camera sees that direction."""
    from neural_ops import PassSet
    from neural_ops.core.cameras import Camera
    from neural_ops.core.motion import with_background_motion

    sets = []
    for f, yaw in enumerate((0.0, 2.0, 4.0)):
        ps = PassSet(source=f"frame{f}", meta=_cam_meta(yaw))
        depth = np.full((H, W, 1), 1e10, np.float32)
        depth[:4] = 5.0  # a surface in the top rows: its (zero) motion is kept as rendered
        ps.add("Depth", depth, "Z")
        ps.add("Vector", np.zeros((H, W, 4), np.float32), "XYZW")
        sets.append(ps)
    vec = with_background_motion(sets[1], sets[0], sets[2])
    assert (vec[:4] == 0).all()
    assert (np.abs(vec[4:, :, 0]) > 0.5).all()  # 2 degrees at this lens: about 0.8 px
    *_, (_, x, y, alive) = walk([None, vec], 1, -1, 1, max_roundtrip=0)
    c0, c1 = (Camera.from_sidecar(s.meta) for s in sets[:2])
    _, dirs = c1.rays()
    want = c0.project_directions(dirs) - 0.5
    np.testing.assert_allclose(x[4:], want[4:, :, 0], atol=1e-4)
    np.testing.assert_allclose(y[4:], want[4:, :, 1], atol=1e-4)
    # No neighbour, no camera: as rendered.
    assert (with_background_motion(sets[1]) == 0).all()
    # An orthographic camera (directions at infinity do not move on screen here): as rendered.
    ortho = PassSet(source="ortho", meta={"camera": {**sets[1].meta["camera"], "type": "ORTHO"}})
    ortho.add("Depth", sets[1].get("Depth"), "Z")
    ortho.add("Vector", np.zeros((H, W, 4), np.float32), "XYZW")
    assert (with_background_motion(ortho, sets[0], sets[2]) == 0).all()
