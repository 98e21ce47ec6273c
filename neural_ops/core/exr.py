"""Read and write pass sets as Blender multilayer EXRs (one part per pass) with a JSON sidecar.

Blender 5.0 writes ``<layer>.<pass>`` parts whose channels are ``<layer>.<pass>.<letter>``;
colour passes are float16 at 16-bit depth while data passes (Depth, Position, Normal, Vector)
stay float32. We read any layout of that naming (single- or multi-part) and write Blender's.
A plain EXR with R, G, B[, A] channels reads as a pass set with one ``Combined`` pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PassSetError
from .exr_layout import check_complete, memory_needed
from .outputs import atomic_write, check_outputs, check_writable, sidecar_of
from .passset import PassSet, sort_channels

SIDECAR_FORMAT = "neural-render/passset"
SIDECAR_VERSION = 1

_HEADER_SKIP = {
    "channels", "compression", "dataWindow", "displayWindow", "lineOrder", "pixelAspectRatio",
    "screenWindowCenter", "screenWindowWidth", "type", "name", "chunkCount", "tiles", "version",
}


def available_memory() -> int | None:
    """Bytes of memory this process may still use (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def check_memory(src: str, needed: int) -> None:
    """A clear error when reading ``src`` would need more memory than is available."""
    free = available_memory()
    if free is not None and needed > free:
        raise PassSetError(f"{src}: reading it needs about {needed / 2**30:.1f} GiB of memory, "
                           f"{free / 2**30:.1f} GiB is available")


def sidecar_path(exr_path: str | os.PathLike) -> Path:
    """``frame_0001.exr`` -> ``frame_0001.json``."""
    return sidecar_of(Path(exr_path))


def _split_channel(full: str) -> tuple[str, str, str]:
    """'ViewLayer.Denoising Albedo.R' -> ('ViewLayer', 'Denoising Albedo', 'R'); 'R' -> ('', 'Combined', 'R')."""
    parts = full.split(".")
    if len(parts) == 1:
        return "", "Combined", parts[0]
    if len(parts) == 2:  # pass without layer prefix, e.g. 'Combined.R'
        return "", parts[0], parts[1]
    return parts[0], ".".join(parts[1:-1]), parts[-1]


#: Output passes renamed since files were written with them: old name -> current name. The
#: learned denoiser's pass was "Denoised Neural" on the command line and "Neural Denoised" in
#: Blender; it is "Neural Denoised" everywhere now (temporal or not), and old files read as such.
LEGACY_PASS_NAMES = {"Denoised Neural": "Neural Denoised", "Denoised Neural Temporal": "Neural Denoised"}


def legacy_pass_name(name: str) -> str:
    """The current name of a pass read from a file (old output names are renamed)."""
    return LEGACY_PASS_NAMES.get(name, name)


def read_exr(path: str | os.PathLike, sidecar: bool = True, layer: str | None = None) -> PassSet:
    """Read a multilayer EXR (and its JSON sidecar if present) into a :class:`PassSet`.

    A file can hold several layers (view layers, and ``Composite`` when Blender composited):
    ``layer`` picks one; by default the one with the most passes.

    Raises :class:`PassSetError` with the file name for missing, truncated or corrupt files.
    """
    import OpenEXR

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise PassSetError(f"{src}: no such file")
    if path.stat().st_size == 0:
        raise PassSetError(f"{src}: file is empty")
    if not os.access(path, os.R_OK):
        raise PassSetError(f"{src}: permission denied (the file is not readable by this user)")
    try:
        if not OpenEXR.isOpenExrFile(src):
            raise PassSetError(f"{src}: not an OpenEXR file")
        # The library would drop the parts of a truncated file without an error: check first;
        # and refuse a frame that cannot fit in memory before allocating any of it.
        check_memory(src, memory_needed(check_complete(path)))
        with _quiet_stderr() as errs:
            f = OpenEXR.File(src, separate_channels=True)
            parts = list(f.parts)
            chans = [(p, {k: np.asarray(v.pixels) for k, v in p.channels.items()}) for p in parts]
        # The library reports unreadable pixel data on stderr and returns parts without channels.
        if not parts or any(not c for _, c in chans):
            detail = next((ln for ln in errs() if ln.strip()), "pixel data missing")
            raise PassSetError(f"{src}: unreadable EXR (truncated or corrupt): {detail.strip()[:200]}")
    except PassSetError:
        raise
    except Exception as e:  # OpenEXR raises RuntimeError/ValueError with library text
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PassSetError(f"{src}: unreadable EXR (truncated or corrupt): {msg}") from None

    grouped: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    header: dict[str, str] = {}
    for part, channels in chans:
        for k, v in part.header.items():
            if k not in _HEADER_SKIP and isinstance(v, str) and k not in header:
                header[k] = v
        for full, px in channels.items():
            lay, pname, letter = _split_channel(full)
            grouped.setdefault((lay, pname), {})[letter] = px
    if not grouped:
        raise PassSetError(f"{src}: EXR has no channels")

    counts: dict[str, int] = {}
    for lay, _ in grouped:
        counts[lay] = counts.get(lay, 0) + 1
    if layer is None:
        layer = max(counts, key=lambda k: (counts[k], k != "Composite"))
    elif layer not in counts:
        raise PassSetError(f"{src}: no layer '{layer}' (has: {', '.join(counts)})")
    ps = PassSet(layer=layer, header=header, source=src)
    if len(counts) > 1:
        ps.meta["other_layers"] = [k for k in counts if k != layer]
    for (lay, pname), letters in grouped.items():
        if lay != ps.layer:
            continue
        order = sort_channels(list(letters))
        shapes = {letters[c].shape for c in order}
        if len(shapes) != 1:
            raise PassSetError(f"{src}: pass '{pname}' has channels of different sizes {sorted(shapes)}")
        half = all(letters[c].dtype == np.float16 for c in order)
        if any(letters[c].dtype.kind not in "f" for c in order):
            # Integer channels (e.g. object index as UINT) are kept as float, losslessly up to 2^24.
            half = False
        px = np.stack([letters[c].astype(np.float32) for c in order], axis=2)
        pname = legacy_pass_name(pname)
        try:
            ps.add(pname, px, order, half=half)
        except PassSetError as e:
            raise PassSetError(f"{src}: {e}".replace(f"{src}: {src}: ", f"{src}: ")) from None

    if sidecar:
        sp = sidecar_path(path)
        if sp.is_file():
            ps.meta.update(read_sidecar(sp))
    return ps


@contextlib.contextmanager
def _quiet_stderr():
    """Capture what C libraries print on file descriptor 2; yields a getter for the lines."""
    lines: list[str] = []
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. some embedded consoles)
        yield lambda: lines
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield lambda: lines
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a pass-set sidecar; a clear error if it is not valid JSON."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:  # ValueError: invalid JSON or not UTF-8 text
        raise PassSetError(f"{path}: unreadable sidecar JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise PassSetError(f"{path}: sidecar must be a JSON object")
    data.pop("format", None)
    data.pop("version", None)
    return data


def write_exr(ps: PassSet, path: str | os.PathLike, overwrite: bool = False, sidecar: bool = True) -> Path:
    """Write ``ps`` as a Blender-style multilayer EXR (one part per pass) and its JSON sidecar.

    Passes flagged ``half`` are written as float16, the others as float32, so a read/write
    round trip is bit exact.
    """
    import OpenEXR

    side = sidecar and bool(ps.meta)
    path = check_outputs([path], overwrite=overwrite, sidecar=side)[0]  # both before either is written
    ps.validate(finite=False)
    h, w = ps.shape
    prefix = f"{ps.layer}." if ps.layer else ""
    parts = []
    for i, (name, p) in enumerate(ps.passes.items()):
        dtype = np.float16 if p.half else np.float32
        channels = {
            f"{prefix}{name}.{c}": np.ascontiguousarray(p.pixels[:, :, k].astype(dtype))
            for k, c in enumerate(p.channels)
        }
        hdr: dict[str, Any] = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        if i == 0:
            hdr.update(ps.header)
        parts.append(OpenEXR.Part(hdr, channels, name=f"{prefix}{name}"))

    def _write(tmp: str) -> None:
        with OpenEXR.File(parts) as f:
            f.write(tmp)

    atomic_write(path, _write)
    if side:
        write_sidecar(ps.meta, sidecar_path(path), overwrite=True)
    return path


def write_sidecar(meta: dict[str, Any], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write camera/frame/spp metadata as JSON next to an EXR."""
    path = check_writable(path, overwrite)
    data = {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, **meta}
    text = json.dumps(data, indent=2, sort_keys=False, default=_json_default)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
