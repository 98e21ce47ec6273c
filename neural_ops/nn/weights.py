"""Shipped model weights: safetensors beside a JSON model card, never pickle.

A model called ``NAME`` of kind ``KIND`` is ``weights/KIND_NAME.safetensors`` plus
``weights/KIND_NAME.json``; the card holds the architecture config (to rebuild the module),
the command that trained it, the data it saw and the metrics it reached.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import OpError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def weights_paths(kind: str, name: str, folder: Path | None = None) -> tuple[Path, Path]:
    d = Path(folder) if folder else WEIGHTS_DIR
    return d / f"{kind}_{name}.safetensors", d / f"{kind}_{name}.json"


def available_models(kind: str, folder: Path | None = None) -> list[str]:
    """Names of the models of ``kind`` that have both weights and a card."""
    d = Path(folder) if folder else WEIGHTS_DIR
    names = []
    for card in sorted(d.glob(f"{kind}_*.json")):
        name = card.stem[len(kind) + 1 :]
        if card.with_suffix(".safetensors").exists():
            names.append(name)
    return names


def read_card(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise OpError(f"{path}: unreadable model card ({e})") from None


def save_model(model, card: dict, weights: Path) -> Path:
    """Write ``model``'s state dict as safetensors and ``card`` (plus its config) as JSON."""
    from safetensors.torch import save_file

    weights = Path(weights)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = weights.with_name(weights.name + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(weights)
    card = {**card, "config": model.cfg.to_dict()}
    weights.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    return weights


def load_state(weights: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise OpError("loading model weights needs the 'safetensors' package: pip install safetensors") from None
    try:
        return load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt files
        raise OpError(f"{weights}: cannot read weights ({e})") from None
