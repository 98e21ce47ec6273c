import json

import numpy as np
import OpenEXR
import pytest

from neural_ops import OutputExistsError, PassSetError, read_exr, write_exr
from neural_ops.core.exr import sidecar_path


def test_round_trip_is_lossless(tmp_path, passset):
    passset.header["Camera"] = "Camera"
    passset.meta["camera"] = {"lens": 35.0, "matrix_world": np.eye(4).tolist(), "resolution": [40, 32]}
    p = write_exr(passset, tmp_path / "a.exr")
    q = read_exr(p)
    assert list(q.passes) == list(passset.passes)
    for name, ps in passset.passes.items():
        qp = q.passes[name]
        assert qp.channels == ps.channels and qp.half == ps.half
        expect = ps.pixels.astype(np.float16).astype(np.float32) if ps.half else ps.pixels
        assert np.array_equal(qp.pixels, expect), name
    assert q.meta["camera"]["lens"] == 35.0 and q.header["Camera"] == "Camera"
    # Second trip is bit exact, half passes included.
    r = read_exr(write_exr(q, tmp_path / "b.exr"))
    for name in q.passes:
        assert np.array_equal(r.get(name), q.get(name))


def test_written_file_uses_blender_part_and_channel_names(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    f = OpenEXR.File(str(p), separate_channels=True)
    names = [part.name() for part in f.parts]
    assert names[0] == "ViewLayer.Combined" and "ViewLayer.Denoising Albedo" in names
    chans = f.parts[0].channels
    assert set(chans) == {f"ViewLayer.Combined.{c}" for c in "RGBA"}
    assert chans["ViewLayer.Combined.R"].pixels.dtype == np.float16
    depth = f.parts[names.index("ViewLayer.Denoising Depth")].channels["ViewLayer.Denoising Depth.Z"]
    assert depth.pixels.dtype == np.float32


def test_plain_rgb_exr_reads_as_combined(tmp_path):
    img = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32)
    path = str(tmp_path / "plain.exr")
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, {c: img[..., i].copy() for i, c in enumerate("RGB")}) as f:
        f.write(path)
    ps = read_exr(path)
    assert np.array_equal(ps.color, img) and ps.layer == ""


@pytest.mark.parametrize(
    "content, message",
    [(b"", "file is empty"), (b"not an exr at all" * 10, "not an OpenEXR file")],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    p = tmp_path / "bad.exr"
    p.write_bytes(content)
    with pytest.raises(PassSetError, match=message) as e:
        read_exr(p)
    assert "\n" not in str(e.value) and "bad.exr" in str(e.value)


def test_truncated_file(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(PassSetError, match=r"a\.exr: (unreadable EXR \()?truncated or corrupt"):
        read_exr(p)


def test_missing_file(tmp_path):
    with pytest.raises(PassSetError, match="no such file"):
        read_exr(tmp_path / "nope.exr")


def test_refuses_to_overwrite(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    before = p.read_bytes()
    with pytest.raises(OutputExistsError, match="exists"):
        write_exr(passset, p)
    assert p.read_bytes() == before
    write_exr(passset, p, overwrite=True)


def test_unwritable_folder(tmp_path, passset, monkeypatch):
    # Tests run as root in CI, where chmod does not stop writes: simulate the permission check.
    import os

    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with pytest.raises(OutputExistsError, match="not writable"):
        write_exr(passset, tmp_path / "a.exr")


def test_output_folder_under_a_file(tmp_path, passset):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        write_exr(passset, tmp_path / "file" / "sub" / "a.exr")


def test_layer_selection(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    with pytest.raises(PassSetError, match="no layer 'Composite'"):
        read_exr(p, layer="Composite")


def test_corrupt_sidecar(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    sidecar_path(p).write_text("{not json")
    with pytest.raises(PassSetError, match="unreadable sidecar JSON"):
        read_exr(p)
    assert json.loads('{"a": 1}')  # sanity of the test itself


def test_old_denoised_pass_name_reads_as_the_current_one(tmp_path, passset):
    # Files written before the rename hold "Denoised Neural"; the pass is "Neural Denoised"
    # everywhere now (the CLI, the render pass, the node), and old files read that way.
    from neural_ops import get_op

    passset.add("Denoised Neural", passset.color, "RGB")
    write_exr(passset, tmp_path / "old.exr")
    got = read_exr(tmp_path / "old.exr")
    assert "Neural Denoised" in got.passes and "Denoised Neural" not in got.passes
    assert get_op("denoise", "neural").pass_name == "Neural Denoised"


@pytest.mark.parametrize("keep", [0.999, 0.9, 0.5, 0.2, 0.01])
def test_truncated_multipart_exr_is_an_error_not_fewer_passes(tmp_path, passset, keep):
    """OpenEXR drops the parts it cannot read; we refuse the file, naming it."""
    from neural_ops.core.errors import PassSetError

    full = write_exr(passset, tmp_path / "full.exr", sidecar=False)
    data = full.read_bytes()
    cut = tmp_path / "cut.exr"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(PassSetError, match=r"cut\.exr: (truncated|corrupt|not an OpenEXR)") as e:
        read_exr(cut)
    assert "\n" not in str(e.value)


def test_unreadable_file_says_permission_denied(tmp_path, passset):
    import os

    from neural_ops.core.errors import PassSetError

    p = write_exr(passset, tmp_path / "a.exr", sidecar=False)
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            pytest.skip("running as a user who can read anything (root)")
        with pytest.raises(PassSetError, match="permission denied"):
            read_exr(p)
    finally:
        p.chmod(0o644)


def test_binary_sidecar_is_one_line_error(tmp_path, passset):
    p = write_exr(passset, tmp_path / "a.exr")
    sidecar_path(p).write_bytes(b"\xff\xfe\x00binary\x89PNG")
    with pytest.raises(PassSetError, match="a.json: unreadable sidecar JSON") as e:
        read_exr(p)
    assert "\n" not in str(e.value)


def test_a_frame_that_cannot_fit_is_refused_before_reading(tmp_path, passset, monkeypatch):
    from neural_ops.core import exr

    p = write_exr(passset, tmp_path / "a.exr", sidecar=False)
    monkeypatch.setattr(exr, "available_memory", lambda: 10_000)
    with pytest.raises(PassSetError, match=r"a\.exr: reading it needs about .* GiB of memory, .* available"):
        read_exr(p)


def test_headers_longer_than_the_first_read_are_read_in_full(tmp_path, passset, monkeypatch):
    from neural_ops.core import exr_layout

    p = write_exr(passset, tmp_path / "a.exr", sidecar=False)
    want = [q.name for q in exr_layout.check_complete(p)]
    monkeypatch.setattr(exr_layout, "HEAD_BYTES", 64)  # shorter than the first header
    assert [q.name for q in exr_layout.check_complete(p)] == want
