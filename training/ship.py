"""Ship a trained model: copy its weights into ``neural_ops/weights`` with a model card.

``neural-render ship RUN_DIR --kind denoise --name unet --eval EVAL_DIR/eval.json``
copies ``RUN_DIR/model.safetensors``, merges the held-out evaluation (mean metrics per spp and
seconds per megapixel, for this model and the baselines of the same run) into the JSON card,
writes a human-readable ``KIND_NAME.md`` beside it, and the model's ONNX graph ``KIND_NAME.onnx``
(what the learned ops run without torch, :mod:`training.export_onnx`).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from neural_ops.core.errors import NeuralRenderError
from neural_ops.nn.weights import WEIGHTS_DIR

from .cg2real import card as cg2real_card
from .common import runs
from .common.card import render_card
from .denoise import card as denoise_card
from .novel_view import card as novel_view_card
from .novel_view import inbetween_card
from .relight import card as relight_card

#: kind (or alias, e.g. ``ibr``) -> the op's card section module.
CARDS = {k: m for m in (denoise_card, cg2real_card, relight_card, novel_view_card, inbetween_card) for k in (m.KIND, *m.ALIASES)}


def card_module(kind: str):
    """The card section module of ``kind`` (an op name or an alias such as ``ibr``)."""
    if kind not in CARDS:
        raise NeuralRenderError(f"unknown kind '{kind}' (choose from {', '.join(CARDS)})")
    return CARDS[kind]


def render_kind(kind: str, name: str, card: dict) -> str:
    """The Markdown model card of a ``kind`` model called ``name`` (its op's section in the skeleton)."""
    return render_card(card_module(kind).section(name, card), card)


def ship(run: Path, kind: str = "denoise", name: str = "", eval_json: Path | str | list | None = None,
         label: str = "ours", notes: str = "", dest: Path = WEIGHTS_DIR, onnx: bool = True) -> Path:
    """Copy a finished run's model into ``dest`` as ``PREFIX_NAME.safetensors`` with its JSON
    card (the held-out evaluation ``eval_json`` merged in, where the model's row is ``label``),
    the Markdown card ``PREFIX_NAME.md`` and the ONNX graph ``PREFIX_NAME.onnx``; PREFIX is the
    op's weights prefix (``ibr`` for novel views). ``onnx``: write the graph (off only for tests
    with stand-in weights). Returns the weights' path."""
    if not name:
        raise NeuralRenderError("ship needs a model name (--name)")
    op = card_module(kind)
    run = Path(run)
    card = runs.read_card(run)
    if eval_json:
        card["evaluation"] = op.evaluation(eval_json, label)
    if notes:
        card["notes"] = notes
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"{op.WEIGHTS_PREFIX}_{name}"
    w = dest / f"{stem}.safetensors"
    shutil.copyfile(run / runs.MODEL, w)
    (dest / f"{stem}.json").write_text(json.dumps(card, indent=1) + "\n")
    (dest / f"{stem}.md").write_text(render_kind(kind, name, card))
    if onnx:
        from .export_onnx import export

        export(w)
    return w


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``neural-render ship``."""
    p.add_argument("run", help="training run folder (with model.safetensors and model.json)")
    p.add_argument("--kind", default="denoise")
    p.add_argument("--name", required=True)
    p.add_argument("--eval", help="eval.json of a held-out evaluation that included this model (ibr: several, "
                   "comma separated)")
    p.add_argument("--label", default="ours", help="the model's label in that evaluation")
    p.add_argument("--notes", default="", help="a paragraph for the model card")


def run_args(a: argparse.Namespace) -> int:
    print(ship(Path(a.run), a.kind, a.name, Path(a.eval) if a.eval else None, a.label, a.notes))
    return 0
