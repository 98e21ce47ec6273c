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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PassSetError
from .exr_layout import memory_needed
from .exr_stream import ExrStream, NewPart, write_with_parts
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


def check_memory(src: str, needed: int, what: str = "reading it") -> None:
    """A clear error when ``what`` (reading ``src``, by default) would need more memory than is
    available."""
    free = available_memory()
    if free is not None and needed > free:
        raise PassSetError(f"{src}: {what} needs about {needed / 2**30:.1f} GiB of memory, "
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


def read_exr(path: str | os.PathLike, sidecar: bool = True, layer: str | None = None,
             passes: Iterable[str] | None = None, rows: tuple[int, int] | None = None,
             stream: ExrStream | None = None) -> PassSet:
    """Read a multilayer EXR (and its JSON sidecar if present) into a :class:`PassSet`.

    A file can hold several layers (view layers, and ``Composite`` when Blender composited):
    ``layer`` picks one; by default the one with the most passes. ``passes`` reads only those
    of them the file has, and ``rows=(y0, y1)`` only those rows: an op on a big frame reads
    what it needs, strip by strip (:mod:`.exr_stream`; other layouts are read whole).

    Raises :class:`PassSetError` with the file name for missing, truncated or corrupt files,
    and before allocating anything when the pixels asked for cannot fit in memory. ``stream``:
    the file already opened by :func:`open_exr` (a strip reader reads one file many times).
    """
    path = Path(path)
    src = str(path)
    stream = stream or open_exr(path)
    if not stream.streamable:
        ps = _read_whole(path, stream, layer)
        ps = _subset(ps, passes, rows)
    else:
        lay = frame_layout(stream, layer)
        ps = PassSet(layer=lay.layer, header=_string_attrs(stream), source=src)
        if lay.other_layers:
            ps.meta["other_layers"] = lay.other_layers
        want = None if passes is None else set(passes)
        chosen = {pname: letters for pname, letters in lay.passes.items() if want is None or pname in want}
        y0, y1 = (0, lay.height) if rows is None else (max(0, rows[0]), min(lay.height, rows[1]))
        n = sum(len(letters) for letters in chosen.values())
        check_memory(src, n * lay.width * max(0, y1 - y0) * 8)
        data = stream.read_rows([full for letters in chosen.values() for full in letters.values()], y0, y1)
        for pname, letters in chosen.items():
            _add(ps, src, pname, {c: data[full] for c, full in letters.items()})
    if sidecar:
        sp = sidecar_path(path)
        if sp.is_file():
            ps.meta.update(read_sidecar(sp))
    return ps


@dataclass
class FrameLayout:
    """What a file holds, from its headers alone."""

    layer: str
    passes: dict[str, dict[str, str]]
    """The layer's passes (current names): channel letter -> full channel name."""
    other_layers: list[str]
    height: int
    width: int


def frame_layout(stream: ExrStream, layer: str | None = None) -> FrameLayout:
    """The passes of a file's layer (by default the one with the most passes), from its headers."""
    if not stream.parts:
        raise PassSetError(f"{stream.src}: cannot list the passes of this EXR layout ({stream.reason})")
    grouped = _group(stream.channel_names())
    layer, counts = _pick_layer(stream.src, grouped, layer)
    passes: dict[str, dict[str, str]] = {}
    for (lay, pname), letters in grouped.items():
        if lay == layer:
            passes.setdefault(legacy_pass_name(pname), {}).update(letters)
    first = stream.parts[0]
    return FrameLayout(layer, passes, [k for k in counts if k != layer], first.height, first.width)


def open_exr(path: str | os.PathLike) -> ExrStream:
    """The checked structure of an EXR: a clear error for a missing, unreadable, truncated or
    corrupt file."""
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
        # The library would drop the parts of a truncated file without an error: check first.
        return ExrStream(path)
    except PassSetError:
        raise
    except Exception as e:  # OpenEXR raises RuntimeError/ValueError with library text
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PassSetError(f"{src}: unreadable EXR (truncated or corrupt): {msg}") from None


def _read_whole(path: Path, stream: ExrStream, layer: str | None) -> PassSet:
    """Every pass of a layout :mod:`.exr_stream` does not read, through the library."""
    import OpenEXR

    src = str(path)
    # Refuse a frame that cannot fit in memory before allocating any of it.
    check_memory(src, memory_needed([p.layout for p in stream.parts]))
    try:
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
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PassSetError(f"{src}: unreadable EXR (truncated or corrupt): {msg}") from None
    header: dict[str, str] = {}
    pixels: dict[str, np.ndarray] = {}
    for part, channels in chans:
        for k, v in part.header.items():
            if k not in _HEADER_SKIP and isinstance(v, str) and k not in header:
                header[k] = v
        pixels.update(channels)
    grouped = _group(list(pixels))
    layer, counts = _pick_layer(src, grouped, layer)
    ps = PassSet(layer=layer, header=header, source=src)
    if len(counts) > 1:
        ps.meta["other_layers"] = [k for k in counts if k != layer]
    for (lay, pname), letters in grouped.items():
        if lay == layer:
            _add(ps, src, pname, {c: pixels[full] for c, full in letters.items()})
    return ps


def _group(names: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    """Channel names by (layer, pass): letter -> full name."""
    grouped: dict[tuple[str, str], dict[str, str]] = {}
    for full in names:
        lay, pname, letter = _split_channel(full)
        grouped.setdefault((lay, pname), {})[letter] = full
    return grouped


def _pick_layer(src: str, grouped: dict, layer: str | None) -> tuple[str, dict[str, int]]:
    if not grouped:
        raise PassSetError(f"{src}: EXR has no channels")
    counts: dict[str, int] = {}
    for lay, _ in grouped:
        counts[lay] = counts.get(lay, 0) + 1
    if layer is None:
        layer = max(counts, key=lambda k: (counts[k], k != "Composite"))
    elif layer not in counts:
        raise PassSetError(f"{src}: no layer '{layer}' (has: {', '.join(counts)})")
    return layer, counts


def _add(ps: PassSet, src: str, pname: str, letters: dict[str, np.ndarray]) -> None:
    """Add one pass read from ``src`` (its channels by letter, in their stored types)."""
    order = sort_channels(list(letters))
    shapes = {letters[c].shape for c in order}
    if len(shapes) != 1:
        raise PassSetError(f"{src}: pass '{pname}' has channels of different sizes {sorted(shapes)}")
    # Integer channels (e.g. object index as UINT) are kept as float, losslessly up to 2^24.
    half = all(letters[c].dtype == np.float16 for c in order)
    px = np.empty((*shapes.pop(), len(order)), np.float32)
    for i, c in enumerate(order):
        px[:, :, i] = letters[c]
    try:
        ps.add(legacy_pass_name(pname), px, order, half=half)
    except PassSetError as e:
        raise PassSetError(f"{src}: {e}".replace(f"{src}: {src}: ", f"{src}: ")) from None


def _subset(ps: PassSet, passes: Iterable[str] | None, rows: tuple[int, int] | None) -> PassSet:
    if passes is not None:
        want = set(passes)
        ps.passes = {k: v for k, v in ps.passes.items() if k in want}
    if rows is not None:
        for p in ps.passes.values():
            p.pixels = np.ascontiguousarray(p.pixels[rows[0]:rows[1]])
    return ps


def _string_attrs(stream: ExrStream) -> dict[str, str]:
    """The text attributes of a file's headers (Blender's camera, frame, render time), as the
    library reports them: the first part's value where several parts have one."""
    header: dict[str, str] = {}
    for p in stream.parts:
        for k, (typ, raw) in p.layout.attrs.items():
            if typ == "string" and k not in _HEADER_SKIP and k not in header:
                header[k] = raw.decode("utf-8", "replace")
    return header


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


def add_pass(stream: ExrStream, dst: str | os.PathLike, name: str, pixels: np.ndarray, channels: str = "RGB",
             meta: dict[str, Any] | None = None, layer: str | None = None, overwrite: bool = False,
             half: bool = False) -> Path:
    """Write ``dst``: the file of ``stream`` with the pass ``name`` added to its layer (a pass of
    that name replaced), and ``meta`` as its sidecar. The input's other parts are copied as
    they are stored, so memory holds the new pass and one chunk, whatever the file's size (a
    layout :mod:`.exr_stream` does not read is read and written whole)."""
    if not stream.streamable:
        whole = read_exr(stream.path, sidecar=False, layer=layer, stream=stream)
        whole.add(name, pixels, channels, half=half)
        whole.meta = dict(meta or {})
        return write_exr(whole, dst, overwrite=overwrite)
    lay = frame_layout(stream, layer)
    px = np.asarray(pixels, np.float32)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.shape != (lay.height, lay.width, len(channels)):
        raise PassSetError(f"{stream.src}: pass '{name}' is {px.shape[1]}x{px.shape[0]}x{px.shape[2]}, "
                           f"the file is {lay.width}x{lay.height}")
    side = bool(meta)
    path = check_outputs([dst], overwrite=overwrite, sidecar=side)[0]  # both before either is written
    prefix = f"{lay.layer}." if lay.layer else ""
    new = NewPart(f"{prefix}{name}", [f"{prefix}{name}.{c}" for c in channels], px, half)
    drop = set(lay.passes.get(name, {}).values())
    atomic_write(path, lambda tmp: write_with_parts(stream, tmp, [new], drop))
    if side:
        write_sidecar(meta, sidecar_path(path), overwrite=True)
    return path
