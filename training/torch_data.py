"""Torch datasets over the folders written by :mod:`training.datagen`.

Each item is a random crop (with flips and an exposure change applied equally to input and
target radiance) of one sample. A malformed sample raises an error naming it instead of being
used silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSetError, read_exr

#: Input channels, in order: noisy colour (3), albedo (3), normal (3), depth (1).
INPUT_CHANNELS = 10


class DenoiseDataset(torch.utils.data.Dataset):
    """Noisy pass sets and their references.

    Args:
        root: dataset folder (with ``samples/``).
        spp: which noisy input to use (must exist in every sample).
        crop: crop size in pixels (None: whole image).
        augment: random flips, transposes and exposure (x 2^U(-2, 2)).
        indices: restrict to these sample indices (e.g. a train/validation split).
        seed: seed of the augmentation generator.
        target: ``reference`` or ``noise2noise`` (reads ``n2n_target.exr``).

    Shape of items: ``input`` (10, crop, crop), ``target`` (3, crop, crop), float32.
    """

    def __init__(self, root, spp: int = 4, crop: int | None = 64, augment: bool = True, indices=None, seed: int = 0,
                 target: str = "reference"):
        self.root = Path(root)
        dirs = sorted((self.root / "samples").glob("[0-9]*"))
        if indices is not None:
            keep = set(indices)
            dirs = [d for d in dirs if int(d.name) in keep]
        if not dirs:
            raise PassSetError(f"{self.root}: no samples (generate them with 'neural-render data')")
        self.dirs, self.spp, self.crop, self.augment = dirs, spp, crop, augment
        self.rng = np.random.default_rng(seed)
        self.target_file = "reference.exr" if target == "reference" else "n2n_target.exr"

    def __len__(self) -> int:
        return len(self.dirs)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 10) input and (H, W, 3) target of sample i, validated."""
        d = self.dirs[i]
        try:
            ps = read_exr(d / f"spp{self.spp:04d}.exr")
            ref = read_exr(d / self.target_file)
            ps.validate(("Combined", ("Denoising Albedo",), ("Denoising Normal",), ("Denoising Depth",)))
            ref.validate(("Combined",))
            if ref.shape != ps.shape:
                raise PassSetError(f"reference is {ref.shape}, input is {ps.shape}")
        except PassSetError as e:
            raise PassSetError(f"malformed sample {d}: {e}") from None
        depth = ps.depth
        depth = np.where((depth > 0) & (depth < 1e9), depth, 0.0)
        x = np.concatenate([ps.color, ps.albedo, ps.normal, np.log1p(depth)], axis=2)
        return x.astype(np.float32), ref.color.astype(np.float32)

    def __getitem__(self, i: int) -> dict:
        x, y = self.load(i)
        h, w = y.shape[:2]
        if self.crop:
            if self.crop > min(h, w):
                raise PassSetError(f"crop {self.crop} is larger than sample {self.dirs[i]} ({w}x{h})")
            oy, ox = self.rng.integers(0, h - self.crop + 1), self.rng.integers(0, w - self.crop + 1)
            x, y = x[oy : oy + self.crop, ox : ox + self.crop], y[oy : oy + self.crop, ox : ox + self.crop]
        if self.augment:
            if self.rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
                x = x.copy()
                x[..., 6] *= -1  # mirrored image: normals' x flips (approximately, in view terms)
            if self.rng.random() < 0.5:
                x, y = x[::-1], y[::-1]
            gain = np.float32(2.0 ** self.rng.uniform(-2, 2))
            x = x.copy()
            x[..., :3] *= gain
            y = y * gain
        return {
            "input": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "target": torch.from_numpy(np.ascontiguousarray(y.transpose(2, 0, 1))),
            "index": int(self.dirs[i].name),
        }
