"""Property-based tests (Hypothesis) of what reads user input: the EXR reader, the sidecar,
lighting and transforms parsers, and ``--param`` parsing. Whatever the bytes or values, the
outcome is a result or one of our one-line errors, never another exception."""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neural_ops import NeuralRenderError, get_op, read_exr, write_exr
from neural_ops.cli.args import parse_params
from neural_ops.core.cameras import transforms_frames
from neural_ops.core.exr import read_sidecar
from neural_ops.core.lighting import parse_lighting
from neural_ops.core.synthetic import synthetic_frame

FAST = settings(max_examples=int(os.environ.get("NR_HYPOTHESIS_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Any JSON value, nested a little.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def one_line(e: BaseException) -> None:
    assert isinstance(e, NeuralRenderError), repr(e)
    assert "\n" not in str(e).strip(), str(e)


@pytest.fixture(scope="module")
def exr_bytes(tmp_path_factory):
    p = write_exr(synthetic_frame(24, 16), tmp_path_factory.mktemp("h") / "f.exr", sidecar=False)
    return p.read_bytes()


@FAST
@given(data=st.data())
def test_exr_reader_on_damaged_files(tmp_path, exr_bytes, data):
    """Cut, overwritten or random bytes: a pass set with every pass, or one clear error."""
    kind = data.draw(st.sampled_from(["cut", "flip", "random"]))
    b = bytearray(exr_bytes)
    if kind == "cut":
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
    else:
        b = bytearray(b[:8]) + bytearray(data.draw(st.binary(max_size=512)))
    p = tmp_path / "d.exr"
    p.write_bytes(bytes(b))
    try:
        ps = read_exr(p, sidecar=False)
    except NeuralRenderError as e:
        one_line(e)
        assert "d.exr" in str(e)
        return
    if kind == "cut":
        raise AssertionError("a truncated file read without an error")
    # Flipped bytes may still decode (pixel data, or a renamed channel): a pass set, not a crash.
    assert ps.passes and all(np.asarray(p.pixels).shape[:2] == ps.shape for p in ps.passes.values())


@FAST
@given(value=JSON)
def test_sidecar_parser(tmp_path, value):
    p = tmp_path / "s.json"
    p.write_text(json.dumps(value))
    try:
        meta = read_sidecar(p)
    except NeuralRenderError as e:
        one_line(e)
        return
    assert isinstance(meta, dict)


@FAST
@given(value=JSON | st.fixed_dictionaries({"world": JSON, "lights": JSON}),
       light=st.fixed_dictionaries({"type": st.sampled_from(["POINT", "SUN", "SPOT", "AREA", "x"]),
                                    "location": JSON, "target": JSON, "power": JSON}))
def test_lighting_parser(value, light):
    for d in (value, {"lights": [light]}):
        try:
            lt = parse_lighting(d, hdri_dirs=[])
        except NeuralRenderError as e:
            one_line(e)
            continue
        for li in lt.lights:
            assert all(math.isfinite(x) for x in (*li.location, li.power))


@FAST
@given(frames=JSON, top=st.dictionaries(st.sampled_from(["w", "h", "fl_x", "camera_angle_x", "cx"]), JSON, max_size=4))
def test_transforms_parser(tmp_path, frames, top):
    (tmp_path / "transforms.json").write_text(json.dumps({**top, "frames": frames}))
    try:
        out = transforms_frames(tmp_path)
    except NeuralRenderError as e:
        one_line(e)
        return
    for cam, path in out:
        assert path.parent == tmp_path and np.isfinite(cam.c2w).all()


@FAST
@given(pairs=st.lists(st.tuples(st.sampled_from(["radius", "sigma_color", "despike", "nope", ""]),
                                 st.text(max_size=8)), max_size=4))
def test_parse_params(pairs):
    spec = get_op("denoise", "bilateral")
    try:
        p = spec.make_params(**parse_params(spec, [f"{k}={v}" for k, v in pairs]))
    except NeuralRenderError as e:
        one_line(e)
        return
    assert math.isfinite(p.sigma_color) and isinstance(p.radius, int) and isinstance(p.despike, bool)
