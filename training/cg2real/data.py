"""CG2Real's dataset loader: the one the trainers (paired and unpaired), the evaluator and the
tests read a ``neural-render data cg2real`` folder with.

A sample folder ``samples/NNNNNN/`` holds the EEVEE frame with its passes (``eevee.exr``), the
Cycles frame of the same camera (``cycles.exr``) and ``sample.json`` (with each render's
seconds). Inputs are built by :func:`neural_ops.cg2real.network.raw_inputs`, the function
inference uses; the paired target is the Cycles frame through OIDN (albedo + normal), what a
Cycles user ships. The unpaired stage reads the rendered reflectance (``Diffuse Color``) and a
folder of photographs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSetError, read_exr
from neural_ops.cg2real.network import RAW_CHANNELS, raw_inputs
from neural_ops.core.errors import NeuralRenderError
from neural_ops.nn.blocks import thumbnail

from ..common.augment import random_crop
from ..common.samples import list_samples, sample_dir

#: Input channels of the generator (the raw layout of :mod:`neural_ops.cg2real.network`).
INPUT_CHANNELS = RAW_CHANNELS


def render_seconds(d: Path, name: str) -> float:
    """Seconds the render ``name`` (e.g. ``cycles.exr``) of sample folder ``d`` took, from its
    ``sample.json`` (0 when not recorded)."""
    try:
        return float(json.loads((Path(d) / "sample.json").read_text())["render_seconds"][name])
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError):
        return 0.0


def load_pair(d: Path, denoise_target: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
    """(raw EEVEE input (H, W, 13), Cycles target (H, W, 3), seconds the Cycles render took)."""
    from neural_ops.core.oidn import oidn_denoise, oidn_unavailable

    try:
        raw = raw_inputs(read_exr(d / "eevee.exr"))
        cy = read_exr(d / "cycles.exr").validate(("Combined",))
        if cy.shape != raw.shape[:2]:
            raise PassSetError(f"eevee.exr is {raw.shape[:2]}, cycles.exr is {cy.shape}")
        target = cy.color
        if denoise_target and not oidn_unavailable() and "Denoising Albedo" in cy:
            target = oidn_denoise(cy)
    except PassSetError as e:
        raise PassSetError(f"malformed sample {d}: {e}") from None
    return raw, np.ascontiguousarray(target, dtype=np.float32), render_seconds(d, "cycles.exr")


class PairStore:
    """Every sample of a cg2real dataset in memory (raw inputs and OIDN-cleaned Cycles targets,
    and each frame's thumbnail for the global-context branch)."""

    def __init__(self, root: Path, indices: list[int], log=print):
        self.raw, self.target, self.thumb, self.keys = [], [], [], []
        t0 = time.perf_counter()
        for k, i in enumerate(indices):
            raw, tgt, _ = load_pair(sample_dir(root, i))
            self.raw.append(raw)
            self.target.append(tgt)
            self.thumb.append(thumbnail(torch.from_numpy(raw.transpose(2, 0, 1).copy())[None])[0].numpy())
            self.keys.append(i)
            if log and (k + 1) % 50 == 0:
                log(f"  loaded {k + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def __len__(self) -> int:
        return len(self.raw)


def make_batch(store: PairStore, rng: np.random.Generator, batch: int, crop: int, permute: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops, flips and transposes, and an exposure change of +-1 stop applied to the
    raster colour and the target alike (light is linear; reflectances and geometry are not scaled).
    Also the whole frames' thumbnails (same exposure change): the crops' global context.

    ``permute``: one random permutation of R, G, B per crop, applied to the raster colour, both
    reflectances, the thumbnail's and the target. Both renderers shade each colour channel
    independently (Cycles is not spectral), so a scene whose every colour (materials, world,
    lights) has its channels swapped renders to the swapped images, up to sampling decisions that
    look at luminance and change only the noise: a symmetry that turns each pair into six.
    """
    xs, ys, ts = [], [], []
    for _ in range(batch):
        j = int(rng.integers(len(store)))
        x, y = random_crop(store.raw[j], store.target[j], rng, crop, transpose=True)
        g = np.float32(2.0 ** rng.uniform(-1, 1))
        x = np.array(x, dtype=np.float32)
        y = np.asarray(y) * g
        x[..., 0:3] *= g
        t = store.thumb[j].copy()
        t[0:3] *= g
        if permute:
            p = rng.permutation(3)
            for k in (0, 3, 6):
                x[..., k:k + 3] = x[..., k + p]
                t[k:k + 3] = t[k + p]
            y = y[..., p]
        xs.append(x.transpose(2, 0, 1))
        ys.append(y.transpose(2, 0, 1))
        ts.append(t)
    return (torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(np.ascontiguousarray(np.stack(ys))),
            torch.from_numpy(np.stack(ts)))


# -- the unpaired stage ----------------------------------------------------------------------

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear, float32."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


#: Photographs and texture exemplars that ship inside scikit-image (``--photos skimage``).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "brick", "grass", "gravel")


def load_photos(folder: str, min_side: int) -> list[np.ndarray]:
    """Every readable photograph in ``folder`` (or scikit-image's bundled ones for ``skimage``)
    as linear (H, W, 3) float32 in [0, 1]."""
    from skimage import io

    if folder == "skimage":
        import skimage.data

        imgs = []
        for name in SKIMAGE_PHOTOS:
            img = np.asarray(getattr(skimage.data, name)())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            imgs.append(srgb_decode(img[..., :3].astype(np.float32) / 255.0))
        return imgs
    d = Path(folder)
    if not d.is_dir():
        raise NeuralRenderError(f"{folder}: no such photo folder")
    out, bad = [], []
    for p in sorted(d.iterdir()):
        if p.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        try:
            img = np.asarray(io.imread(p))
        except Exception:  # any decoder error: skip the file and say so
            bad.append(p.name)
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3].astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
        if min(img.shape[:2]) >= min_side:
            out.append(srgb_decode(img))
    if bad:
        print(f"skipped unreadable photos: {', '.join(bad)}", file=sys.stderr)
    if not out:
        raise NeuralRenderError(f"{folder}: no photographs of at least {min_side}x{min_side} pixels (PNG/JPG/TIFF)")
    return out


def load_albedo(data: str) -> list[np.ndarray]:
    """Rendered reflectance (``Diffuse Color`` of each sample's ``eevee.exr``)."""
    out = []
    for i in list_samples(Path(data)):
        ps = read_exr(sample_dir(data, i) / "eevee.exr").validate(("Diffuse Color",))
        out.append(np.clip(ps.get("Diffuse Color")[..., :3], 0, 1).astype(np.float32))
    return out


def crops(images: list[np.ndarray], rng: np.random.Generator, n: int, size: int, min_cover: float = 0.0) -> torch.Tensor:
    """n random crops (with flips), (n, 3, size, size); albedo crops mostly empty (black
    background) are redrawn up to a few times when ``min_cover`` > 0."""
    out = []
    for _ in range(n):
        for _try in range(8):
            img = images[int(rng.integers(len(images)))]
            h, w = img.shape[:2]
            oy, ox = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            c = img[oy : oy + size, ox : ox + size]
            if min_cover <= 0 or (c.max(axis=2) > 0.02).mean() >= min_cover:
                break
        if rng.random() < 0.5:
            c = c[:, ::-1]
        out.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    return torch.from_numpy(np.stack(out))
