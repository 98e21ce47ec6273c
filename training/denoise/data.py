"""The denoiser's dataset loader: the one the trainer, the evaluator and the tests read a
``neural-render data denoise`` folder with.

A sample folder ``samples/NNNNNN/`` holds noisy renders ``sppNNNN.exr`` (every denoising pass),
the target ``reference.exr`` (or ``n2n_target.exr``, an independent noisy render, for
Noise2Noise datasets) and ``sample.json``. Inputs are built by
:func:`neural_ops.denoise.inputs.raw_inputs`, the function inference uses, with the same base
image (:func:`neural_ops.denoise.learned.compute_base`): training and inference see the same
numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from neural_ops import PassSet, PassSetError, read_exr
from neural_ops.core.errors import NeuralRenderError
from neural_ops.denoise.inputs import RAW_CHANNELS, raw_inputs

from ..common.augment import random_crop
from ..common.samples import sample_dir

#: Input channels of the network (the raw layout of :mod:`neural_ops.denoise.inputs`).
INPUT_CHANNELS = RAW_CHANNELS
#: The passes a noisy input needs (alternatives in tuples).
INPUT_PASSES = ("Combined", ("Denoising Albedo",), ("Denoising Normal",), ("Denoising Depth",))


def target_file(target: str) -> str:
    """File name of a sample's training target: ``reference`` (high-spp render), ``noise2noise``
    (``n2n_target.exr``) or ``sppN`` (the sample's own N-spp render)."""
    if target == "reference":
        return "reference.exr"
    if target == "noise2noise":
        return "n2n_target.exr"
    if target.startswith("spp") and target[3:].isdigit():
        return f"spp{int(target[3:]):04d}.exr"
    raise NeuralRenderError(f"unknown target '{target}' (reference, noise2noise or sppN, e.g. spp16)")


def read_sample(root: Path | str, index: int, spp: int, target: str = "reference") -> tuple[PassSet, np.ndarray]:
    """(the noisy ``spp`` pass set, the target colour (H, W, 3)) of one sample, as the evaluator
    compares them; a clear error when the dataset was rendered without that spp."""
    d = sample_dir(root, index)
    path = d / f"spp{spp:04d}.exr"
    if not path.exists():
        raise NeuralRenderError(f"{path}: missing (render the dataset with --spp including {spp})")
    return read_exr(path), read_exr(d / target_file(target)).color


class PairStore:
    """Every (sample, spp) pair of a dataset in memory as raw inputs and targets.

    ``raw[i]`` is (H, W, 13) (see :mod:`neural_ops.denoise.inputs`), ``target[i]`` (H, W, 3),
    ``keys[i]`` its (sample index, spp). The base channels hold OIDN's output for ensemble
    models (``base="oidn"``); it is computed once here.
    """

    def __init__(self, root: Path, indices: list[int], spp: list[int], base: str, target: str = "reference",
                 log=print):
        self.raw, self.target, self.keys = [], [], []
        tname = target_file(target)
        from neural_ops.denoise.learned import compute_base
        t0 = time.perf_counter()
        for k, i in enumerate(indices):
            d = sample_dir(root, i)
            try:
                ref = read_exr(d / tname).validate(("Combined",)).color
                for s in spp:
                    ps = read_exr(d / f"spp{s:04d}.exr")
                    ps.validate(INPUT_PASSES)
                    if ps.shape != ref.shape[:2]:
                        raise PassSetError(f"input is {ps.shape}, target is {ref.shape[:2]}")
                    self.raw.append(raw_inputs(ps, compute_base(ps, base)))
                    self.target.append(np.ascontiguousarray(ref, dtype=np.float32))
                    self.keys.append((i, s))
            except PassSetError as e:
                raise PassSetError(f"malformed sample {d}: {e}") from None
            if log and (k + 1) % 50 == 0:
                log(f"  loaded {k + 1}/{len(indices)} samples ({time.perf_counter() - t0:.0f} s)")

    def __len__(self) -> int:
        return len(self.raw)


def make_batch(store: PairStore, rng: np.random.Generator, batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random crops: inputs (batch, 13, crop, crop) and targets (batch, 3, crop, crop).

    Each crop is flipped and transposed at random and gets an exposure change (x 2^U(-2, 2) on
    the colour, the base and the target: the same scene, brighter or darker; albedo, normal and
    depth are not radiance and stay)."""
    xs, ys = [], []
    for _ in range(batch):
        j = int(rng.integers(len(store)))
        x, y = random_crop(store.raw[j], store.target[j], rng, crop, vflip=True, transpose=True)
        g = np.float32(2.0 ** rng.uniform(-2, 2))
        x = np.array(x, dtype=np.float32)
        x[..., 0:3] *= g
        x[..., 10:13] *= g
        xs.append(x.transpose(2, 0, 1))
        ys.append((np.asarray(y) * g).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(np.ascontiguousarray(np.stack(ys)))
