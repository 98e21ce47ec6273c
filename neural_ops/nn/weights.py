"""Shipped model weights: safetensors beside a JSON model card, never pickle.

A model called ``NAME`` of kind ``KIND`` is ``weights/KIND_NAME.safetensors`` plus
``weights/KIND_NAME.json``; the card holds the architecture config (to rebuild the module),
the command that trained it, the data it saw and the metrics it reached. ``KIND_NAME.onnx``
beside them is the same model as an ONNX graph (:mod:`.onnx_backend`). Cards are read with
json alone; safetensors (and torch) are imported only to load weights into a torch module.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from ..core.errors import OpError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Loaded models by weights path or shipped name: each is read once per process.
_cache: dict[str, tuple] = {}
_lock = threading.Lock()


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
    except (OSError, ValueError) as e:  # ValueError: invalid JSON or not UTF-8 text
        raise OpError(f"{path}: unreadable model card ({str(e)[:200]})") from None


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


def resolve_weights(kind: str, model: str = "", weights: str = "", default: str = "default", noun: str = ""
                    ) -> tuple[Path, Path, str]:
    """(weights path, card path, cache key) of a shipped model name or a weights path; reads
    nothing (the ONNX path needs no safetensors)."""
    noun = noun or kind
    if weights:
        w = Path(weights)
        if w.suffix not in (".safetensors", ".onnx"):
            raise OpError(f"{w}: weights must be a .safetensors file (pickled checkpoints such as .pt are never "
                          "loaded; 'neural-render ship RUN' writes one)")
        return w, w.with_suffix(".json"), str(w.resolve())
    name = model or default
    w, c = weights_paths(kind, name)
    if not w.exists():
        raise OpError(f"no shipped {noun} model '{name}' (available: {', '.join(available_models(kind)) or 'none'})")
    return w, c, f"shipped:{kind}:{name}"


def load_model(kind: str, build, model: str = "", weights: str = "", default: str = "default", noun: str = ""):
    """(module in eval mode, model card) for a shipped model name or a weights path; cached.

    ``build(card) -> nn.Module`` rebuilds the architecture from the card's ``config``; ``noun``
    names the kind in messages (default: the kind).
    """
    wpath, cpath, key = resolve_weights(kind, model, weights, default, noun)
    with _lock:
        if key in _cache:
            return _cache[key]
        if not wpath.exists():
            raise OpError(f"{wpath}: no such weights file")
        if not cpath.exists():
            raise OpError(f"{wpath}: its model card {cpath.name} is missing (it holds the architecture)")
        card = read_card(cpath)
        try:
            net = build(card)
            net.load_state_dict(load_state(wpath))
        except (ValueError, RuntimeError, TypeError, KeyError) as e:
            raise OpError(f"{wpath}: weights do not match the model card: {str(e).splitlines()[0]}") from None
        net.eval()
        net.weights_digest = hashlib.sha1(wpath.read_bytes()).hexdigest()
        _cache[key] = (net, card)
        return net, card
