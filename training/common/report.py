"""What every evaluator writes to its output folder: ``eval.json`` (every number), ``eval.md``
(the tables a person reads) and a PNG grid of images (one row per sample, one column per method).

The four evaluators (``training.<op>.eval``) compute their own rows; the files, their layout and
the closing log line are made here, once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neural_ops.core.imageio import side_by_side, to_display, write_png

EVAL_JSON = "eval.json"
EVAL_MD = "eval.md"


def eval_markdown(title: str, intro: str, tables: list[tuple[str | None, str]]) -> str:
    """``# title``, the ``intro`` paragraph, then each ``(heading, table)``: a ``## heading``
    section, or the table alone when heading is None.

    >>> eval_markdown("Demo evaluation", "Two scenes.", [(None, "| a |")])
    '# Demo evaluation\\n\\nTwo scenes.\\n\\n| a |\\n'
    """
    md = [f"# {title}\n\n{intro}\n"]
    for heading, table in tables:
        md.append(f"\n## {heading}\n\n{table}\n" if heading else f"\n{table}\n")
    return "".join(md)


def write_eval(out: Path | str, results: dict, title: str, intro: str, tables: list[tuple[str | None, str]]) -> Path:
    """Write ``out/eval.json`` (``results``) and ``out/eval.md`` (see :func:`eval_markdown`);
    returns the folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / EVAL_JSON).write_text(json.dumps(results, indent=1) + "\n")
    (out / EVAL_MD).write_text(eval_markdown(title, intro, tables))
    return out


def zoom(img: np.ndarray, size: int) -> np.ndarray:
    """The centre quarter of an image (H, W, C), enlarged 2x by pixel repetition and cut to
    ``size`` x ``size`` (a zoomed crop)."""
    h, w = img.shape[:2]
    c = img[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]
    return np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)[:size, :size]


def write_grid(path: Path | str, rows: list[list[np.ndarray]], labels: list[str], zoomed: bool = False) -> Path:
    """A PNG with one strip per row of linear HDR images (each (H, W, 3), tonemapped for display),
    ``labels`` over the first strip's columns, 4 px between strips; ``zoomed``: each strip is
    followed by the same columns as zoomed centre crops (:func:`zoom`)."""
    strips = []
    for k, row in enumerate(rows):
        disp = [to_display(x) for x in row]
        strips.append(side_by_side(disp, labels=labels if k == 0 else None))
        if zoomed:
            strips.append(side_by_side([zoom(x, x.shape[0]) for x in disp]))
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in strips]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.concatenate(strips, axis=0))
    return path
