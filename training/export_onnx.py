"""Export models to the ONNX graphs the learned ops run without torch (``neural-render
export-onnx``).

``neural-render export-onnx --all`` (re)writes ``KIND_NAME.onnx`` beside every shipped
``KIND_NAME.safetensors``; ``neural-render export-onnx WEIGHTS.safetensors ...`` does it for
user-trained weights (the card beside them says which op's model it is). Each graph is checked
against the torch model on random inputs before this reports it. ``neural-render ship`` calls
:func:`export` too, so a shipped model always has its graph.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neural_ops.core.errors import NeuralRenderError
from neural_ops.nn.weights import WEIGHTS_DIR, read_card


def _exporter(kind: str):
    """The op's ``export_onnx(weights, out)`` for a card's ``kind``."""
    if kind == "denoise":
        from neural_ops.denoise.learned import export_onnx
    elif kind == "cg2real":
        from neural_ops.cg2real.op import export_onnx
    elif kind == "cg2real-albedo":
        from neural_ops.cg2real.op import export_albedo_onnx as export_onnx
    elif kind == "relight":
        from neural_ops.relight.op import export_onnx
    elif kind in ("ibr", "novel_view", "novel-view"):
        from neural_ops.novel_view.network import export_onnx
    elif kind == "inbetween":
        from neural_ops.novel_view.key_blend_net import export_onnx
    else:
        raise NeuralRenderError(f"model card kind '{kind}' has no ONNX exporter")
    return export_onnx


def export(weights: Path | str, out: Path | str | None = None) -> tuple[Path, float, float]:
    """Write the ONNX graph of ``weights`` (default: beside it, ``.onnx``) and check it against
    the torch model. Returns (path, max abs difference, max relative difference)."""
    from neural_ops.nn.onnx_export import compare

    weights = Path(weights)
    card = weights.with_suffix(".json")
    if not card.exists():
        raise NeuralRenderError(f"{weights}: its model card {card.name} is missing (it says which model it is)")
    path, spec = _exporter(read_card(card).get("kind", ""))(weights, Path(out) if out else None)
    abs_diff, rel_diff = compare(spec, path)
    return path, abs_diff, rel_diff


def shipped_weights(folder: Path = WEIGHTS_DIR) -> list[Path]:
    """Every shipped weights file that has a card."""
    return [w for w in sorted(Path(folder).glob("*.safetensors")) if w.with_suffix(".json").exists()]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render export-onnx``."""
    p.add_argument("weights", nargs="*", help="weights files (.safetensors, with the .json card beside them)")
    p.add_argument("--all", action="store_true", help="every shipped model in neural_ops/weights")


def run_args(a: argparse.Namespace) -> int:
    todo = [Path(w) for w in a.weights] + (shipped_weights() if a.all else [])
    if not todo:
        raise NeuralRenderError("name weights files to export, or --all for every shipped model")
    for w in todo:
        if not w.is_file():
            raise NeuralRenderError(f"{w}: no such weights file")
        path, abs_diff, rel_diff = export(w)
        print(f"{path} ({path.stat().st_size / 1e6:.2f} MB; max difference to torch {abs_diff:.2g}, "
              f"relative {rel_diff:.2g})", flush=True)
    return 0
