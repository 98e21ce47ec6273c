"""Where outputs may go, and how they are written so nothing is lost.

Rules every command follows:

- an output is never one of the command's inputs, their sidecars or their ``transforms.json``
  (``--overwrite`` does not change that);
- nothing existing is replaced without ``overwrite``, sidecars included, and only regular files
  are ever replaced (never a folder, a device or a pipe);
- an EXR and its sidecar never share a path;
- a file is written under a temporary name in its folder and renamed when complete; the
  temporary is removed on any exception, on SIGTERM (:func:`exit_on_sigterm`), and, if a
  SIGKILL left it behind, by the next write into the same folder once it is stale;
- outputs get the user's umask (a temporary file alone would be 0600).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import OutputExistsError

#: Suffix of our temporary files: ``.NAME.XXXXXXXX.exr.nr-tmp`` beside the output.
TMP_SUFFIX = ".nr-tmp"
#: What Export Neural Passes renders into before renaming (Blender's writer names the file).
PARTIAL_SUFFIX = ".partial.exr"
#: A temporary this old (seconds) belongs to no running write: the next write sweeps it.
STALE_SECONDS = 15 * 60

_umask_lock = threading.Lock()
#: Folders swept in this process (a leftover is older than any write this process started).
_swept: set[str] = set()


def sidecar_of(path: Path) -> Path:
    return path.with_suffix(".json")


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (hard and symbolic links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """``path`` as a Path, or a clear error: it exists and ``overwrite`` is off, it exists and is
    not a regular file, or its folder cannot be made or written."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise OutputExistsError(f"{path}: exists and is not a regular file; it is never replaced")
        if not overwrite:
            raise OutputExistsError(f"{path}: exists (pass --overwrite to replace it)")
    # Nothing is created here (a refused command leaves no folder): the nearest existing
    # ancestor must be a folder this user can write; the write makes the rest.
    folder = Path(os.path.abspath(path.parent if str(path.parent) else "."))
    while not folder.exists() and not folder.is_symlink() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputExistsError(f"{folder}: not a folder, so '{path}' cannot be written")
    if not os.access(folder, os.W_OK):
        raise OutputExistsError(f"{folder}: output folder is not writable")
    return path


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents) at write time, or a clear error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputExistsError(f"{folder}: cannot create output folder: {e.strerror}") from None


def protected_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """What a command must never write: its inputs, their sidecars and the ``transforms.json``
    beside them."""
    out = []
    for i in map(Path, inputs):
        out += [i, sidecar_of(i), i.parent / "transforms.json"]
    return out


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike] = (),
                  overwrite: bool = False, sidecar: bool = True) -> list[Path]:
    """Check every output (and, with ``sidecar``, its ``.json``) before any work starts: not an
    input or an input's sidecar or ``transforms.json`` (even with ``overwrite``), not shared by
    two outputs, not an EXR whose sidecar is itself, and writable (:func:`check_writable`)."""
    protected = protected_paths(inputs)
    planned: list[Path] = []
    result = []
    for o in map(Path, outputs):
        targets = [o, sidecar_of(o)] if sidecar else [o]
        for t in targets:  # first: the worst mistake gets its own message
            for p in protected:
                if _same(t, p):
                    raise OutputExistsError(f"{t}: is an input of this command ({p.name}); choose another output "
                                            "(inputs are never replaced, even with --overwrite)")
        if sidecar and _same(o, sidecar_of(o)):
            raise OutputExistsError(f"{o}: an output EXR cannot be named .json (its JSON sidecar would replace it)")
        for t in targets:
            for p in planned:
                if _same(t, p):
                    raise OutputExistsError(f"{t}: two outputs of this command would share this path")
            check_writable(t, overwrite)
            planned.append(t)
        result.append(o)
    return result


def _umask() -> int:
    with _umask_lock:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def sweep_stale(folder: Path, now: float | None = None) -> list[Path]:
    """Remove our temporaries in ``folder`` that no running write can own (older than
    :data:`STALE_SECONDS`, owned by this user): what a SIGKILL left. Returns what went."""
    now = time.time() if now is None else now
    _swept.add(os.path.abspath(folder))
    gone = []
    try:
        entries = [*folder.glob(f".*{TMP_SUFFIX}"), *folder.glob(f".*{PARTIAL_SUFFIX}")]
    except OSError:
        return gone
    for f in entries:
        try:
            st = f.lstat()
            if f.is_file() and st.st_uid == os.getuid() and now - st.st_mtime > STALE_SECONDS:
                f.unlink()
                gone.append(f)
        except OSError:
            pass
    return gone


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` through a temporary file in its folder (``write(tmp)``), then rename: never
    a half file. The temporary goes on any exception (SIGTERM included, see
    :func:`exit_on_sigterm`); the result gets the user's umask."""
    make_folder(path.parent)
    if os.path.abspath(path.parent) not in _swept:  # once per folder and process: not a listing per file
        sweep_stale(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _on_sigterm(signum, frame):
    # An exception in the main thread: every atomic_write in progress removes its temporary.
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, schedulers, container stops) exit like Ctrl-C does: through
    Python's exception handling, so no temporary file stays. Main thread only; a no-op elsewhere."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
