"""The model card skeleton every shipped model shares; each op fills in its own section.

A card is a JSON dict (``model.json`` of a run, written by :func:`training.common.loop.card`,
plus the held-out evaluation merged in when shipping) and a Markdown page rendered from it::

    # Model card: TITLE
    - architecture: ...                      (the op's)
    - trained with: `neural-render train ...`
    - training: N steps, M min on MACHINE; ...   (the op's details after the semicolon)
    - data: ... / - validation ...            (the op's further bullets)
    ... held-out evaluation tables ...       (the op's body)
    ## Notes

Each ``training.<op>.card`` module provides ``KIND`` and ``ALIASES`` (the kinds it renders),
``WEIGHTS_PREFIX`` (the shipped file prefix), ``evaluation(eval_json, label)`` (the card's
``evaluation`` field from that op's ``eval.json``) and ``section(name, card) -> CardSection``.
This shared layer imports no op: :mod:`training.ship`, above the ops, looks the modules up by kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CardSection:
    """One op's part of a model card (plain text; Markdown inline code allowed)."""

    title: str
    """After ``# Model card: ``, e.g. ``denoise `unet```."""
    architecture: str
    """The architecture bullet's text."""
    training: str
    """The training bullet's text after ``N steps, M min on MACHINE; `` (loss, batch ...)."""
    bullets: list[str] = field(default_factory=list)
    """Further bullets (without the ``- ``): data, validation, realism ..."""
    body: list[str] = field(default_factory=list)
    """Lines after the bullets: the held-out evaluation (start with ``""`` for a blank line)."""


def render_card(section: CardSection, card: dict) -> str:
    """The Markdown model card of ``card`` with ``section`` as the op's part.

    >>> s = CardSection("demo `x`", "a U-Net", "loss `l1`", ["data: 2 scenes"])
    >>> print(render_card(s, {"command": "neural-render train demo", "train": {"steps": 5, "minutes": 0.1,
    ...                                                                            "machine": "2 CPU cores"}}), end="")
    # Model card: demo `x`
    <BLANKLINE>
    - architecture: a U-Net
    - trained with: `neural-render train demo`
    - training: 5 steps, 0.1 min on 2 CPU cores; loss `l1`
    - data: 2 scenes
    """
    tr = card.get("train", {})
    lines = [
        f"# Model card: {section.title}", "",
        f"- architecture: {section.architecture}",
        f"- trained with: `{card.get('command', '')}`",
        f"- training: {tr.get('steps')} steps, {tr.get('minutes')} min on {tr.get('machine')}; {section.training}",
        *(f"- {b}" for b in section.bullets),
        *section.body,
    ]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"


def data_bullet(card: dict, what: str = "scenes", detail: str = "") -> str:
    """The card's data bullet: training and validation counts, dataset seed and resolution
    (``detail`` goes inside the parentheses, after the resolution)."""
    d = card.get("data", {})
    return (f"data: {d.get('train_samples')} training + {d.get('val_samples')} validation {what} from dataset "
            f"seed {d.get('dataset_seed')} ({d.get('resolution')} px{detail})")


def batch_text(card: dict) -> str:
    """``batch B crops of C px`` of the card's training settings."""
    tr = card.get("train", {})
    return f"batch {tr.get('batch')} crops of {tr.get('crop')} px"


def table_head(*columns: str) -> list[str]:
    """The header and alignment rows of a Markdown table of methods (numbers right-aligned)."""
    return ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]


def pick_evaluation(eval_json: Path | str, keys: tuple[str, ...], label: str) -> dict:
    """The fields ``keys`` of an ``eval.json`` (None where absent) and ``label_in_eval``: which of
    its rows is the shipped model."""
    ev = json.loads(Path(eval_json).read_text())
    return {**{k: ev.get(k) for k in keys}, "label_in_eval": label}
