"""The data contract between Blender and the ops: one rendered view as named passes plus camera metadata.

Pixels are HWC float32, linear, top row first. Pass and channel names are Blender's
(``Combined`` RGBA, ``Denoising Albedo`` RGB, ``Denoising Normal`` XYZ, ``Depth`` Z, ...), so a
pass set maps one to one onto the multilayer EXR that Cycles writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PassSetError

#: Order in which channel letters are stored, as Blender does (RGBA, XYZW).
_CHANNEL_ORDER = "RGBAXYZWUV"

#: Fallbacks for the guide passes: the denoising passes are preferred (they are what OIDN and
#: Cycles' own denoiser use: first-hit albedo through glass and mirrors, normals likewise).
ALBEDO_PASSES = ("Denoising Albedo", "Diffuse Color")
NORMAL_PASSES = ("Denoising Normal", "Normal")
DEPTH_PASSES = ("Denoising Depth", "Depth")
#: Where Cycles keeps the noisy colour when its own denoiser has replaced ``Combined``.
NOISY_PASS = "Noisy Image"
#: Cycles' own denoised image kept beside a noisy ``Combined`` (an export with Cycles'
#: denoiser on, or :func:`noisy_combined` of a render made with it).
CYCLES_DENOISED = "Cycles Denoised"


def sort_channels(letters: list[str] | str) -> str:
    """Return channel letters in Blender's storage order (``'BGR'`` -> ``'RGB'``, ``'ZYX'`` -> ``'XYZ'``)."""
    def key(c: str) -> tuple[int, str]:
        i = _CHANNEL_ORDER.find(c)
        return (i if i >= 0 else len(_CHANNEL_ORDER), c)

    return "".join(sorted(letters, key=key))


@dataclass
class Pass:
    """One render pass.

    Attributes:
        pixels: (H, W, C) float32, top row first.
        channels: channel letters, one per C, e.g. ``"RGBA"``, ``"XYZ"``, ``"Z"``.
        half: stored as float16 on disk (reading widens losslessly; writing narrows back).
    """

    pixels: np.ndarray
    channels: str
    half: bool = False

    def __post_init__(self) -> None:
        px = np.asarray(self.pixels)
        if px.ndim == 2:
            px = px[:, :, None]
        if px.ndim != 3:
            raise PassSetError(f"pass pixels must be (H, W, C), got shape {px.shape}")
        if px.shape[2] != len(self.channels):
            raise PassSetError(
                f"pass has {px.shape[2]} channels but names {self.channels!r} ({len(self.channels)})"
            )
        self.pixels = np.ascontiguousarray(px, dtype=np.float32)


@dataclass
class PassSet:
    """A rendered view: named passes, camera and render metadata.

    Attributes:
        passes: pass name -> :class:`Pass`, in file order.
        layer: view layer name used as the EXR channel prefix (``"ViewLayer"``); empty for plain EXRs.
        meta: sidecar metadata: ``camera`` (matrix_world 4x4, lens, sensor, resolution, ...),
            ``frame``, ``spp``, ``scene``, ``normal_space``.
        header: string attributes of the EXR header (Blender writes camera, frame, render time).
        source: the file this was read from, used in error messages.
    """

    passes: dict[str, Pass] = field(default_factory=dict)
    layer: str = "ViewLayer"
    meta: dict[str, Any] = field(default_factory=dict)
    header: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"

    # ---- construction -------------------------------------------------------------------
    def add(self, name: str, pixels: np.ndarray, channels: str | None = None, half: bool = False) -> None:
        """Add or replace a pass. ``channels`` defaults by channel count: Z, -, RGB, RGBA."""
        px = np.asarray(pixels)
        if channels is None:
            c = 1 if px.ndim == 2 else px.shape[2]
            channels = {1: "Z", 3: "RGB", 4: "RGBA"}.get(c)
            if channels is None:
                raise PassSetError(f"{self.source}: pass '{name}': give channel names for {c} channels")
        p = Pass(px, channels, half)
        if self.passes:
            h, w = self.shape
            if p.pixels.shape[:2] != (h, w):
                raise PassSetError(
                    f"{self.source}: pass '{name}' is {p.pixels.shape[1]}x{p.pixels.shape[0]}, "
                    f"the other passes are {w}x{h}"
                )
        self.passes[name] = p

    def copy(self) -> PassSet:
        return PassSet(
            {k: Pass(v.pixels.copy(), v.channels, v.half) for k, v in self.passes.items()},
            self.layer,
            copy.deepcopy(self.meta),
            dict(self.header),
            self.source,
        )

    # ---- access ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of every pass."""
        if not self.passes:
            raise PassSetError(f"{self.source}: has no passes")
        return next(iter(self.passes.values())).pixels.shape[:2]

    def __contains__(self, name: str) -> bool:
        return name in self.passes

    def get(self, name: str) -> np.ndarray:
        """(H, W, C) float32 pixels of a pass; a clear error if the pass is missing."""
        try:
            return self.passes[name].pixels
        except KeyError:
            have = ", ".join(self.passes) or "none"
            raise PassSetError(f"{self.source}: missing pass '{name}' (has: {have})") from None

    def first(self, names: tuple[str, ...]) -> np.ndarray:
        """The first of ``names`` that is present (e.g. ``Denoising Albedo``, else ``Diffuse Color``)."""
        for i, n in enumerate(names):
            if n in self.passes:
                if i:  # a substitute: say so, once per file and pass
                    from .notes import note

                    note(f"{self.source}: no '{names[0]}' pass; using '{n}' instead")
                return self.passes[n].pixels
        have = ", ".join(self.passes) or "none"
        raise PassSetError(f"{self.source}: missing pass '{names[0]}' (or {', '.join(names[1:])}; has: {have})")

    @property
    def color(self) -> np.ndarray:
        """(H, W, 3) linear HDR colour of ``Combined``."""
        return self.get("Combined")[:, :, :3]

    @property
    def alpha(self) -> np.ndarray | None:
        """(H, W, 1) alpha of ``Combined`` or None."""
        p = self.passes.get("Combined")
        if p is None or "A" not in p.channels:
            return None
        i = p.channels.index("A")
        return p.pixels[:, :, i : i + 1]

    @property
    def albedo(self) -> np.ndarray:
        """(H, W, 3) albedo in [0, 1] (``Denoising Albedo``, else ``Diffuse Color``)."""
        return self.first(ALBEDO_PASSES)[:, :, :3]

    @property
    def normal(self) -> np.ndarray:
        """(H, W, 3) world-space shading normals in [-1, 1]."""
        return self.first(NORMAL_PASSES)[:, :, :3]

    @property
    def depth(self) -> np.ndarray:
        """(H, W, 1) camera distance in scene units (``Denoising Depth``, else ``Depth``)."""
        return self.first(DEPTH_PASSES)[:, :, :1]

    @property
    def position(self) -> np.ndarray:
        """(H, W, 3) world-space position of the first hit."""
        return self.get("Position")[:, :, :3]

    # ---- validation -------------------------------------------------------------------------
    def validate(self, required: tuple[str | tuple[str, ...], ...] = (), finite: bool = True) -> PassSet:
        """Check required passes exist (a tuple entry means "any of these") and, optionally,
        that every pixel of those passes is finite. Returns self; raises :class:`PassSetError`."""
        for req in required:
            if isinstance(req, tuple):
                self.first(req)
            else:
                self.get(req)
        h, w = self.shape
        for name, p in self.passes.items():
            want = channels_needed(name)
            if want and not any(set(c) <= set(p.channels) for c in want):
                raise PassSetError(f"{self.source}: pass '{name}' has channels {', '.join(p.channels)}; it needs "
                                   f"{' or '.join(', '.join(c) for c in want)}")
            if p.pixels.shape[:2] != (h, w):
                raise PassSetError(
                    f"{self.source}: pass '{name}' is {p.pixels.shape[1]}x{p.pixels.shape[0]}, "
                    f"the other passes are {w}x{h}"
                )
        if finite:
            names = [n for n in self.passes] if not required else _flatten_present(self, required)
            for name in names:
                bad = ~np.isfinite(self.passes[name].pixels)
                if bad.any():
                    n = int(bad.any(axis=2).sum())
                    y, x = np.argwhere(bad.any(axis=2))[0]
                    raise PassSetError(
                        f"{self.source}: pass '{name}' has {n} non-finite pixel(s) (NaN/Inf), first at x={x}, y={y}"
                    )
        return self


#: Passes whose channels the ops read by position: colour (RGB, alpha optional), vectors, depth.
_COLOUR_SUFFIXES = (" Color", " Direct", " Indirect")
_COLOUR = {"Combined", NOISY_PASS, CYCLES_DENOISED, "Denoising Albedo", "Emit", "Env", "AO", "Image"}
_VECTORS = {"Normal", "Denoising Normal", "Position"}
_SCALARS = {"Depth", "Denoising Depth", "Z"}


def channels_needed(name: str) -> tuple[str, ...]:
    """The channel sets (any one of them) a pass must hold for the ops to read it; empty for
    passes the ops do not read by channel position."""
    if name in _COLOUR or name.endswith(_COLOUR_SUFFIXES):
        return ("RGB",)
    if name in _VECTORS:
        return ("XYZ", "RGB")
    if name in _SCALARS:
        return ("Z", "V", "Y", "R")
    return ()


def _flatten_present(ps: PassSet, required: tuple[str | tuple[str, ...], ...]) -> list[str]:
    out = []
    for req in required:
        for n in req if isinstance(req, tuple) else (req,):
            if n in ps.passes:
                out.append(n)
                break
    return out


def noisy_combined(passes: PassSet) -> PassSet:
    """``passes`` the way every op reads them: ``Combined`` is the noisy render and Cycles'
    denoised image, where the render has one, is the pass ``Cycles Denoised`` right after it.

    A render made with Cycles' denoiser on has the denoised image as ``Combined`` and the noisy
    one as ``Noisy Image``: the two are swapped and ``Noisy Image`` goes (the alpha of
    ``Combined`` is kept). Anything else is returned as it is. Shallow: the other passes'
    pixels are shared.
    """
    if NOISY_PASS not in passes:
        return passes
    noisy = passes.passes[NOISY_PASS]
    out: dict[str, Pass] = {}
    for name, p in passes.passes.items():
        if name == "Combined":
            px = noisy.pixels[..., :3]
            a = p.channels.find("A")
            if a >= 0:
                px = np.concatenate([px, p.pixels[..., a:a + 1]], axis=2)
            out["Combined"] = Pass(px, "RGBA" if px.shape[2] == 4 else "RGB", noisy.half)
            out[CYCLES_DENOISED] = Pass(p.pixels[..., :3], "RGB", p.half)
        elif name != NOISY_PASS:
            out[name] = p
    if "Combined" not in out:  # only the noisy image: it is the frame's colour
        out = {"Combined": noisy, **out}
    meta = passes.meta
    from .strips import STRIP_KEY

    info = meta.get(STRIP_KEY)
    if isinstance(info, dict):  # a strip: the whole frame's numbers follow the swap
        exposure = info.get("exposure", {})
        swapped = {"Combined": exposure[NOISY_PASS]} if NOISY_PASS in exposure else {}
        meta = {**meta, STRIP_KEY: {**info, "exposure": swapped}}
    return PassSet(out, passes.layer, meta, passes.header, passes.source)


#: How far outside its range a value may lie before clamping it is worth a note (float error).
CLAMP_SLACK = 1e-3


def clamped(px: np.ndarray, lo: float | None, hi: float | None, source: str, name: str) -> np.ndarray:
    """``px`` clipped to [lo, hi]; where that changes values beyond float error (a negative
    colour, an albedo above 1, a normal longer than 1), one note says so, once per file and pass."""
    low = lo is not None and px.size and float(px.min()) < lo - CLAMP_SLACK
    high = hi is not None and px.size and float(px.max()) > hi + CLAMP_SLACK
    if low or high:
        from .notes import note

        bounds = f"[{lo}, {hi}]" if lo is not None and hi is not None else (f"below {lo}" if low else f"above {hi}")
        what = f"outside {bounds}" if lo is not None and hi is not None else bounds
        note(f"{source}: pass '{name}' has values {what}; the op reads them clamped")
    return np.clip(px, lo, hi)
