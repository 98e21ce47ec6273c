"""Outputs never touch inputs, nothing is replaced unasked, and interrupted writes leave nothing."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from neural_ops import write_exr
from neural_ops.core.errors import OutputExistsError
from neural_ops.core.outputs import (
    PARTIAL_SUFFIX,
    STALE_SECONDS,
    TMP_SUFFIX,
    atomic_write,
    check_outputs,
    check_writable,
    sweep_stale,
)


def test_outputs_never_name_an_input_its_sidecar_or_transforms(tmp_path):
    src = tmp_path / "in.exr"
    src.write_bytes(b"x")
    for out in (src, tmp_path / "in.json", tmp_path / "transforms.json", tmp_path / "." / "in.exr"):
        with pytest.raises(OutputExistsError, match="never replaced, even with --overwrite"):
            check_outputs([out], [src], overwrite=True, sidecar=False)
    # An output whose sidecar would be the input's sidecar (in.exr -> in.json).
    with pytest.raises(OutputExistsError, match="is an input"):
        check_outputs([tmp_path / "in.png"], [src], overwrite=True)
    link = tmp_path / "link.exr"
    link.symlink_to(src)
    with pytest.raises(OutputExistsError, match="is an input"):
        check_outputs([link], [src], overwrite=True, sidecar=False)


def test_exr_and_sidecar_never_share_a_path_and_outputs_never_collide(tmp_path):
    with pytest.raises(OutputExistsError, match="cannot be named .json"):
        check_outputs([tmp_path / "result.json"])
    with pytest.raises(OutputExistsError, match="share this path"):
        check_outputs([tmp_path / "a.exr", tmp_path / "a.exr"])


def test_sidecars_are_not_replaced_unasked(tmp_path, passset):
    notes = tmp_path / "notes.json"
    notes.write_text("mine")
    with pytest.raises(OutputExistsError, match="notes.json: exists"):
        check_outputs([tmp_path / "notes.exr"])
    with pytest.raises(OutputExistsError, match="notes.json: exists"):
        write_exr(passset, tmp_path / "notes.exr")
    assert notes.read_text() == "mine" and not (tmp_path / "notes.exr").exists()
    write_exr(passset, tmp_path / "notes.exr", overwrite=True)
    assert notes.read_text() != "mine"


def test_only_regular_files_are_replaced(tmp_path):
    (tmp_path / "dir.exr").mkdir()
    os.mkfifo(tmp_path / "pipe.exr")  # a special file, as /dev/null is (never touched here)
    for p in (tmp_path / "dir.exr", tmp_path / "pipe.exr"):
        with pytest.raises(OutputExistsError, match="not a regular file"):
            check_writable(p, overwrite=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputExistsError, match="cannot create output folder|not a folder"):
        check_writable(tmp_path / "file" / "x.exr")


def test_outputs_get_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", lambda t: open(t, "w").write("x"))
        os.umask(0o077)
        atomic_write(tmp_path / "b.txt", lambda t: open(t, "w").write("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600


def test_failed_write_leaves_nothing_and_stale_temporaries_are_swept(tmp_path):
    def boom(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a.exr", boom)
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / f".a.abc123.exr{TMP_SUFFIX}"  # what a SIGKILL left
    young = tmp_path / f".b.def456.exr{TMP_SUFFIX}"  # a write running now
    mine = tmp_path / ".keep.tmp"  # not ours
    render = tmp_path / f".frame_0001{PARTIAL_SUFFIX}"  # a killed export's render
    for f in (old, young, mine, render):
        f.write_text("x")
    past = time.time() - STALE_SECONDS - 60
    for f in (old, mine, render):
        os.utime(f, (past, past))
    assert sorted(sweep_stale(tmp_path)) == sorted([old, render])
    assert young.exists() and mine.exists()


def test_sigterm_during_a_write_leaves_no_temporary(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from neural_ops.core.outputs import atomic_write, exit_on_sigterm
        exit_on_sigterm()
        def slow(tmp):
            open(tmp, "w").write("half")
            print("writing", flush=True)
            time.sleep(30)
        atomic_write(Path({str(tmp_path / "out.exr")!r}), slow)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(TMP_SUFFIX)]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
