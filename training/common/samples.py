"""Dataset folders as every trainer and evaluator sees them: where a sample lives, the finished
sample indices, the dataset's manifest, and the summary of a dataset that goes on a model card.

A dataset folder (written by :mod:`training.datagen.generate`) holds ``manifest.json`` and
``samples/NNNNNN/`` folders; a sample is finished once its ``sample.json`` exists.
"""

from __future__ import annotations

import json
from pathlib import Path

from neural_ops.core.errors import NeuralRenderError


def sample_dir(root: Path | str, index: int) -> Path:
    """The folder of sample ``index`` of the dataset at ``root``."""
    return Path(root) / "samples" / f"{index:06d}"


def list_samples(root: Path) -> list[int]:
    """The indices of the finished samples, ascending; a clear error for a folder that is not a
    dataset or holds none."""
    d = Path(root) / "samples"
    if not d.is_dir():
        raise NeuralRenderError(f"{root}: not a dataset folder (no samples/; make one with 'neural-render data denoise')")
    idx = sorted(int(p.name) for p in d.iterdir() if p.name.isdigit() and (p / "sample.json").exists())
    if not idx:
        raise NeuralRenderError(f"{root}: no finished samples")
    return idx


def read_manifest(root: Path | str) -> dict:
    """The dataset's ``manifest.json`` ({} when missing or unreadable: a folder copied without it
    still trains and evaluates, its card just lacks the seed)."""
    try:
        return json.loads((Path(root) / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def data_summary(root: Path, train_idx: list[int], val_idx: list[int]) -> dict:
    """The ``data`` section of a model card: folder, dataset seed and settings, the split."""
    c = read_manifest(root).get("config", {})
    return {"folder": str(root), "dataset_seed": c.get("seed"), "resolution": c.get("resolution"),
            "ref_spp": c.get("ref_spp"), "train_samples": len(train_idx), "val_samples": len(val_idx),
            "train_indices": f"{train_idx[0]}..{train_idx[-1]}" if train_idx else "",
            "val_indices": f"{val_idx[0]}..{val_idx[-1]}" if val_idx else ""}
